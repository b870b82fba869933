use crate::{
    constants::{BOND_VAULT_SEED, STAKE_VAULT_SEED},
    errors::SibylError,
    events::ConfigInitialized,
    state::{Config, ConfigParams},
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct Initialize<'info> {
    /// Becomes the protocol authority; pays for the config and vaults.
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(
        init,
        payer = authority,
        space = 8 + Config::INIT_SPACE,
        seeds = [Config::SEED],
        bump,
    )]
    pub config: Box<Account<'info, Config>>,
    #[account(mint::token_program = token_program)]
    pub payment_mint: Box<InterfaceAccount<'info, Mint>>,
    /// Receives protocol fees.
    #[account(
        constraint = treasury.mint == payment_mint.key() @ SibylError::WrongMint,
    )]
    pub treasury: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = authority,
        seeds = [STAKE_VAULT_SEED],
        bump,
        token::mint = payment_mint,
        token::authority = config,
        token::token_program = token_program,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = authority,
        seeds = [BOND_VAULT_SEED],
        bump,
        token::mint = payment_mint,
        token::authority = config,
        token::token_program = token_program,
    )]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
    params.validate()?;
    crate::token_ops::check_payment_mint(&ctx.accounts.payment_mint)?;
    let accounts = &mut *ctx.accounts;
    accounts.config.set_inner(Config {
        authority: accounts.authority.key(),
        payment_mint: accounts.payment_mint.key(),
        treasury: accounts.treasury.key(),
        stake_vault: accounts.stake_vault.key(),
        bond_vault: accounts.bond_vault.key(),
        params,
        total_active_stake: 0,
        paused: false,
        pending_authority: Pubkey::default(),
        pending_params: params,
        pending_params_slot: 0,
        bump: ctx.bumps.config,
        stake_vault_bump: ctx.bumps.stake_vault,
        bond_vault_bump: ctx.bumps.bond_vault,
    });
    let event = ConfigInitialized {
        authority: accounts.authority.key(),
        payment_mint: accounts.payment_mint.key(),
        treasury: accounts.treasury.key(),
        params,
    };
    emit_cpi!(event);
    Ok(())
}

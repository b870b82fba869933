use crate::{
    constants::{BOND_VAULT_SEED, NATIVE_LOADER_ID, STAKE_VAULT_SEED},
    errors::SibylError,
    events::ConfigInitialized,
    state::{Config, ConfigParams},
};
use anchor_lang::{prelude::*, solana_program::bpf_loader_upgradeable};
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
    /// CHECK: the program's ProgramData account under the upgradeable
    /// loader (its address is derived here, and only the loader can create
    /// an account there); see `check_upgrade_authority`.
    #[account(seeds = [crate::ID.as_ref()], bump, seeds::program = bpf_loader_upgradeable::ID)]
    pub program_data: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Only the program's upgrade authority may initialize it, so nobody can
/// front-run a fresh deployment and become the protocol authority. Every
/// program deployed by the upgradeable loader has a ProgramData account; a
/// program with no upgrade authority left must be initialized before it
/// was made immutable, and other loaders are not supported. A builtin (the
/// localnet and the tests run the program natively) has none, and is
/// initialized by whoever comes first, as on any chain its operator
/// controls.
fn check_upgrade_authority(
    program: &AccountInfo,
    program_data: &AccountInfo,
    authority: &Pubkey,
) -> Result<()> {
    let builtin = program.owner == &NATIVE_LOADER_ID;
    if builtin && program_data.owner == &system_program::ID && program_data.data_is_empty() {
        return Ok(());
    }
    require_keys_eq!(
        *program_data.owner,
        bpf_loader_upgradeable::ID,
        SibylError::NotUpgradeAuthority
    );
    let state = ProgramData::try_deserialize(&mut &program_data.try_borrow_data()?[..])?;
    require!(
        state.upgrade_authority_address == Some(*authority),
        SibylError::NotUpgradeAuthority
    );
    Ok(())
}

pub fn handler(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
    check_upgrade_authority(
        &ctx.accounts.program,
        &ctx.accounts.program_data,
        ctx.accounts.authority.key,
    )?;
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

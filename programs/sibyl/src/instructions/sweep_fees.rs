use crate::{
    constants::FEE_VAULT_SEED,
    errors::SibylError,
    events::FeesSwept,
    state::{Config, Model},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct SweepFees<'info> {
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    pub model: Box<Account<'info, Model>>,
    #[account(
        mut,
        seeds = [FEE_VAULT_SEED, model.key().as_ref()],
        bump = model.fee_vault_bump,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.treasury @ SibylError::WrongTreasury)]
    pub treasury: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Anyone may move a model's collected protocol fees to the treasury: the
/// destination is fixed by the config, so there is nothing to gain but the
/// sweep itself. Settlements pay into per-model vaults (never into the
/// treasury directly) so that requests on different models share no
/// writable account.
pub fn handler(ctx: Context<SweepFees>) -> Result<()> {
    let accounts = &ctx.accounts;
    let amount = accounts.fee_vault.amount;
    if amount > 0 {
        TokenCtx {
            mint: &accounts.mint,
            token_program: &accounts.token_program,
        }
        .transfer_from_vault(
            &accounts.fee_vault,
            &*accounts.treasury,
            &accounts.config,
            amount,
        )?;
    }
    let event = FeesSwept {
        model: accounts.model.key(),
        treasury: accounts.treasury.key(),
        amount,
    };
    emit_cpi!(event);
    Ok(())
}

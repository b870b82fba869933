use crate::{
    errors::SibylError,
    events::StakeAdded,
    state::{Config, Operator},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct AddStake<'info> {
    pub authority: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [Operator::SEED, authority.key().as_ref()],
        bump = operator.bump,
        has_one = authority @ SibylError::WrongOperator,
    )]
    pub operator: Box<Account<'info, Operator>>,
    #[account(
        mut,
        constraint = authority_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = authority_token.owner == authority.key() @ SibylError::WrongTokenOwner,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.stake_vault)]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn handler(ctx: Context<AddStake>, amount: u64) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    accounts.config.require_not_paused()?;
    require!(amount > 0, SibylError::ZeroAmount);
    accounts.operator.add_stake(Clock::get()?.slot, amount)?;
    accounts.config.add_active_stake(amount)?;
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_wallet(
        &accounts.authority_token,
        &accounts.stake_vault,
        &accounts.authority,
        amount,
    )?;
    let event = StakeAdded {
        operator: accounts.operator.key(),
        amount,
        stake: accounts.operator.stake,
    };
    emit_cpi!(event);
    Ok(())
}

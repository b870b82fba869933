use crate::{
    errors::SibylError,
    events::StakeWithdrawn,
    state::{Config, Operator},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct WithdrawStake<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
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

pub fn handler(ctx: Context<WithdrawStake>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let operator = &mut accounts.operator;
    let amount = operator.pending_unstake;
    require!(amount > 0, SibylError::NothingToWithdraw);
    require!(
        Clock::get()?.slot >= operator.unstake_unlock_slot,
        SibylError::UnbondingNotEnded
    );
    require!(operator.open_commitments == 0, SibylError::OpenCommitments);
    require!(operator.open_votes == 0, SibylError::OpenVotes);
    operator.pending_unstake = 0;
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_vault(
        &accounts.stake_vault,
        &*accounts.authority_token,
        &accounts.config,
        amount,
    )?;
    let event = StakeWithdrawn {
        operator: operator.key(),
        amount,
    };
    emit_cpi!(event);
    Ok(())
}

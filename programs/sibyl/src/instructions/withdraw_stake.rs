use crate::{
    errors::SibylError,
    events::StakeWithdrawn,
    state::{Config, Operator},
    token_ops::{accepts_payout, TokenCtx},
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct WithdrawStake<'info> {
    /// The operator's node key or its payout wallet.
    pub signer: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [Operator::SEED, operator.authority.as_ref()],
        bump = operator.bump,
        constraint = operator.is_managed_by(signer.key) @ SibylError::NotOperatorKey,
    )]
    pub operator: Box<Account<'info, Operator>>,
    /// CHECK: the operator's recorded payout account, checked below: the
    /// stake goes nowhere else.
    #[account(mut, address = operator.payout_token @ SibylError::WrongPayoutAccount)]
    pub payout_token: UncheckedAccount<'info>,
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
    operator.require_settled()?;
    // A payout account that stopped taking payments is named anew with
    // `set_operator_payout`; the stake waits for it.
    require!(
        accepts_payout(
            &accounts.payout_token,
            &operator.payout_authority,
            &accounts.config.payment_mint,
            accounts.token_program.key,
        ),
        SibylError::PayoutAccountRefuses
    );
    operator.pending_unstake = 0;
    TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    }
    .transfer_from_vault(
        &accounts.stake_vault,
        &accounts.payout_token,
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

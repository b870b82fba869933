use crate::{
    errors::SibylError,
    events::UnstakeRequested,
    math,
    state::{Config, Operator},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct RequestUnstake<'info> {
    /// The operator's payout wallet (the node key, unless the operator
    /// named another): a stolen node key cannot restart the unbonding
    /// period over and over to hold the stake back.
    pub payout_authority: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [Operator::SEED, operator.authority.as_ref()],
        bump = operator.bump,
        has_one = payout_authority @ SibylError::NotPayoutAuthority,
    )]
    pub operator: Box<Account<'info, Operator>>,
}

/// Moves stake out of the active set at once; it stays slashable until
/// withdrawn, and a new request restarts the unbonding period.
pub fn handler(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    require!(amount > 0, SibylError::ZeroAmount);
    let operator = &mut accounts.operator;
    require!(amount <= operator.stake, SibylError::InsufficientStake);
    operator.stake = math::sub(operator.stake, amount)?;
    operator.pending_unstake = math::add(operator.pending_unstake, amount)?;
    operator.unstake_unlock_slot =
        math::add(Clock::get()?.slot, accounts.config.params.unbonding_slots)?;
    accounts.config.remove_active_stake(amount)?;
    let event = UnstakeRequested {
        operator: operator.key(),
        amount,
        unlock_slot: operator.unstake_unlock_slot,
    };
    emit_cpi!(event);
    Ok(())
}

use crate::{
    errors::SibylError,
    events::OperatorPayoutChanged,
    state::{Config, Operator},
    token_ops::payout_owner,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct SetOperatorPayout<'info> {
    /// The operator's current payout wallet; a stolen node key cannot move
    /// the operator's pay.
    pub payout_authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [Operator::SEED, operator.authority.as_ref()],
        bump = operator.bump,
        has_one = payout_authority @ SibylError::NotPayoutAuthority,
    )]
    pub operator: Box<Account<'info, Operator>>,
    /// The payout wallet from now on (the current one again, to change only
    /// the account); it signs to consent.
    pub new_payout_authority: Signer<'info>,
    /// The account to be paid into from now on.
    #[account(
        constraint = payout_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = payout_token.owner == new_payout_authority.key() @ SibylError::WrongTokenOwner,
    )]
    pub payout_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Names where the operator is paid from now on. Only between settlements:
/// a settlement in flight names the recorded account, and a payout account
/// changed under it would make it fail; with none open, nothing waits on
/// the old account.
pub fn handler(ctx: Context<SetOperatorPayout>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    accounts.operator.require_settled()?;
    let payout_authority = payout_owner(
        &accounts.payout_token,
        &accounts.config.payment_mint,
        accounts.token_program.key,
    )?;
    let operator = &mut accounts.operator;
    operator.payout_token = accounts.payout_token.key();
    operator.payout_authority = payout_authority;
    let event = OperatorPayoutChanged {
        operator: operator.key(),
        payout_authority,
        payout_token: operator.payout_token,
    };
    emit_cpi!(event);
    Ok(())
}

use crate::{
    constants::{ESCROW_SEED, FEE_VAULT_SEED},
    errors::SibylError,
    events::ArbitrationExpired,
    settlement::{close_dispute_if_done, Escrow, Payouts},
    state::{Config, Dispute, DisputeOutcome, InferenceRequest, Model, Operator, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct ExpireArbitration<'info> {
    /// Anyone may crank an unarbitrated dispute past its deadline.
    pub cranker: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = requester,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        constraint = request.status == RequestStatus::Challenged @ SibylError::RequestNotChallenged,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        mut,
        seeds = [ESCROW_SEED, request.key().as_ref()],
        bump = request.escrow_bump,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [Dispute::SEED, request.model.as_ref(), request.sequence.to_le_bytes().as_ref()],
        bump = dispute.bump,
        has_one = request @ SibylError::WrongDispute,
        has_one = operator @ SibylError::WrongOperator,
    )]
    pub dispute: Box<Account<'info, Dispute>>,
    #[account(mut)]
    pub operator: Box<Account<'info, Operator>>,
    /// CHECK: the requester's wallet, receives the rent of the request and escrow.
    #[account(mut, address = request.requester @ SibylError::WrongParty)]
    pub requester: UncheckedAccount<'info>,
    /// CHECK: the challenger's wallet, receives the dispute's rent.
    #[account(mut, address = dispute.challenger @ SibylError::WrongParty)]
    pub challenger: UncheckedAccount<'info>,
    // The recorded payout accounts, checked when paid (see `Payouts`).
    // `dup`: the requester may also be the challenger, so they may coincide.
    /// CHECK: the request's recorded refund account.
    #[account(mut, dup, address = request.refund_token @ SibylError::WrongPayoutAccount)]
    pub requester_token: UncheckedAccount<'info>,
    /// CHECK: the challenger's recorded bond account.
    #[account(mut, dup, address = dispute.challenger_token @ SibylError::WrongPayoutAccount)]
    pub challenger_token: UncheckedAccount<'info>,
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// The model's protocol-fee vault: takes a payout whose recorded account
    /// can no longer.
    #[account(mut, seeds = [FEE_VAULT_SEED, model.key().as_ref()], bump = model.fee_vault_bump)]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = config.bond_vault)]
    pub bond_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Nobody decided: the requester gets the fee back, the challenger its bond,
/// and nobody is slashed.
pub fn handler(ctx: Context<ExpireArbitration>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    require!(
        accounts.dispute.outcome == DisputeOutcome::Inconclusive,
        SibylError::DisputeNotInconclusive
    );
    require!(
        Clock::get()?.slot > accounts.dispute.arbitration_deadline_slot,
        SibylError::ArbitrationDeadlineNotReached
    );
    let tokens = TokenCtx {
        mint: &accounts.mint,
        token_program: &accounts.token_program,
    };
    let payouts = Payouts::new(accounts.request.key(), &accounts.fee_vault);
    let challenger_token = payouts.to(&accounts.challenger_token, accounts.dispute.challenger);
    let requester_token = payouts.to(&accounts.requester_token, accounts.request.requester);
    tokens.transfer_from_vault(
        &accounts.bond_vault,
        &challenger_token,
        &accounts.config,
        accounts.dispute.bond,
    )?;
    let refunded = Escrow {
        request: &accounts.request,
        escrow: &accounts.escrow,
        tokens,
        rent_receiver: accounts.requester.to_account_info(),
    }
    .refund(&requester_token)?;
    accounts.operator.close_commitment()?;
    accounts.dispute.outcome = DisputeOutcome::Refunded;
    close_dispute_if_done(&accounts.dispute, accounts.challenger.to_account_info())?;
    let event = ArbitrationExpired {
        request: accounts.request.key(),
        dispute: accounts.dispute.key(),
        refunded,
    };
    emit_cpi!(event);
    for event in payouts.redirected() {
        emit_cpi!(event);
    }
    Ok(())
}

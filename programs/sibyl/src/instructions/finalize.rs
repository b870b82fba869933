use crate::{
    callback,
    constants::{ESCROW_SEED, FEE_VAULT_SEED},
    errors::SibylError,
    events::RequestFinalized,
    settlement::{Escrow, Payouts},
    state::{Config, InferenceRequest, Model, Operator, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct Finalize<'info> {
    /// Anyone may crank a matured result.
    pub cranker: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        constraint = request.status == RequestStatus::Committed @ SibylError::RequestNotCommitted,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        mut,
        seeds = [ESCROW_SEED, request.key().as_ref()],
        bump = request.escrow_bump,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = request.operator @ SibylError::WrongOperator)]
    pub operator: Box<Account<'info, Operator>>,
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// CHECK: the requester's wallet, receives the escrow's rent.
    #[account(mut, address = request.requester @ SibylError::WrongParty)]
    pub requester: UncheckedAccount<'info>,
    // The recorded payout accounts, checked when paid (see `Payouts`).
    // `dup`: a publisher may also be the operator, so they may coincide.
    /// CHECK: the operator's recorded payout account.
    #[account(mut, dup, address = operator.payout_token @ SibylError::WrongPayoutAccount)]
    pub operator_token: UncheckedAccount<'info>,
    /// CHECK: the model's recorded royalty account.
    #[account(mut, dup, address = model.payout_token @ SibylError::WrongPayoutAccount)]
    pub publisher_token: UncheckedAccount<'info>,
    /// The model's protocol-fee vault.
    #[account(mut, seeds = [FEE_VAULT_SEED, model.key().as_ref()], bump = model.fee_vault_bump)]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Once the challenge window has passed unchallenged, the result is final:
/// the fee is split between operator, publisher and the model's fee vault
/// (the protocol's share, swept to the treasury by `sweep_fees`) and the escrow
/// closes. The request account stays for consumers to read; a consumer named
/// at request time is called with the result (remaining accounts: its
/// program, Sibyl's callback authority, the accounts it named).
pub fn handler<'info>(ctx: Context<'info, Finalize<'info>>) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let slot = Clock::get()?.slot;
    // A demanded input stops the challenge clock until it is written.
    require!(
        !accounts.request.awaiting_input(),
        SibylError::InputAwaitingUpload
    );
    require!(
        slot > accounts.request.challenge_deadline_slot,
        SibylError::ChallengeWindowOpen
    );
    require!(
        accounts.request.open_games == 0,
        SibylError::RefereeGamesOpen
    );
    let payouts = Payouts::new(accounts.request.key(), &accounts.fee_vault);
    let operator_token = payouts.to(&accounts.operator_token, accounts.operator.payout_authority);
    let publisher_token = payouts.to(&accounts.publisher_token, accounts.model.publisher);
    let split = Escrow {
        request: &accounts.request,
        escrow: &accounts.escrow,
        tokens: TokenCtx {
            mint: &accounts.mint,
            token_program: &accounts.token_program,
        },
        rent_receiver: accounts.requester.to_account_info(),
    }
    .pay_fee(&operator_token, &publisher_token, &accounts.fee_vault)?;
    let operator = &mut accounts.operator;
    operator.close_commitment()?;
    operator.requests_served = operator.requests_served.saturating_add(1);
    accounts.request.status = RequestStatus::Finalized;
    let event = RequestFinalized {
        request: accounts.request.key(),
        payee: operator.payout_authority,
        output_hash: accounts.request.output_hash,
        payee_amount: split.payee,
        royalty: split.royalty,
        protocol_fee: split.protocol_fee,
        overturned: false,
    };
    emit_cpi!(event);
    for event in payouts.redirected() {
        emit_cpi!(event);
    }
    let request = &ctx.accounts.request;
    let callback = callback::deliver(
        request,
        ctx.remaining_accounts,
        callback::grace_end(request.challenge_deadline_slot),
        slot,
    )?;
    if let Some(event) = callback {
        emit_cpi!(event);
    }
    Ok(())
}

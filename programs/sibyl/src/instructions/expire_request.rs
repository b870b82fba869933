use crate::{
    constants::{ESCROW_SEED, FEE_VAULT_SEED},
    errors::SibylError,
    events::RequestExpired,
    settlement::{Escrow, Payouts},
    state::{Config, InferenceRequest, Model, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct ExpireRequest<'info> {
    /// Anyone may crank an expired request.
    pub cranker: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = requester,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    #[account(
        mut,
        seeds = [ESCROW_SEED, request.key().as_ref()],
        bump = request.escrow_bump,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the requester's wallet, receives the rent of both closed accounts.
    #[account(mut, address = request.requester @ SibylError::WrongParty)]
    pub requester: UncheckedAccount<'info>,
    /// CHECK: the request's recorded refund account, checked when paid (see
    /// `Payouts`).
    #[account(mut, address = request.refund_token @ SibylError::WrongPayoutAccount)]
    pub requester_token: UncheckedAccount<'info>,
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
    /// The model's protocol-fee vault: takes the refund if the refund
    /// account can no longer.
    #[account(mut, seeds = [FEE_VAULT_SEED, model.key().as_ref()], bump = model.fee_vault_bump)]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Refunds a request nobody committed to before its deadline.
pub fn handler(ctx: Context<ExpireRequest>) -> Result<()> {
    let accounts = &*ctx.accounts;
    require!(
        accounts.request.status == RequestStatus::Pending,
        SibylError::RequestNotPending
    );
    require!(
        Clock::get()?.slot > accounts.request.deadline_slot,
        SibylError::RequestDeadlineNotReached
    );
    // The requester may still write a demanded input (which gives an
    // operator a whole timeout again); `void_request` ends it if not.
    require!(
        !accounts.request.awaiting_demanded_input(),
        SibylError::InputAwaitingUpload
    );
    let payouts = Payouts::new(accounts.request.key(), &accounts.fee_vault);
    let requester_token = payouts.to(&accounts.requester_token, accounts.request.requester);
    let refunded = Escrow {
        request: &accounts.request,
        escrow: &accounts.escrow,
        tokens: TokenCtx {
            mint: &accounts.mint,
            token_program: &accounts.token_program,
        },
        rent_receiver: accounts.requester.to_account_info(),
    }
    .refund(&requester_token)?;
    let event = RequestExpired {
        request: accounts.request.key(),
        refunded,
    };
    emit_cpi!(event);
    for event in payouts.redirected() {
        emit_cpi!(event);
    }
    Ok(())
}

use crate::{
    constants::ESCROW_SEED,
    errors::SibylError,
    events::RequestCancelled,
    settlement::Escrow,
    state::{Config, InferenceRequest, RequestStatus},
    token_ops::TokenCtx,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
pub struct CancelRequest<'info> {
    #[account(mut)]
    pub requester: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = requester,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        has_one = requester @ SibylError::NotRequester,
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
        constraint = requester_token.mint == config.payment_mint @ SibylError::WrongMint,
        constraint = requester_token.owner == requester.key() @ SibylError::WrongTokenOwner,
    )]
    pub requester_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.payment_mint @ SibylError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// The requester withdraws a request no operator has committed to yet.
pub fn handler(ctx: Context<CancelRequest>) -> Result<()> {
    let accounts = &*ctx.accounts;
    require!(
        accounts.request.status == RequestStatus::Pending,
        SibylError::RequestNotPending
    );
    let refunded = Escrow {
        request: &accounts.request,
        escrow: &accounts.escrow,
        tokens: TokenCtx {
            mint: &accounts.mint,
            token_program: &accounts.token_program,
        },
        rent_receiver: accounts.requester.to_account_info(),
    }
    .refund(&*accounts.requester_token)?;
    let event = RequestCancelled {
        request: accounts.request.key(),
        refunded,
    };
    emit_cpi!(event);
    Ok(())
}

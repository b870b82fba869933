use crate::{errors::SibylError, events::RequestClosed, state::InferenceRequest};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct CloseRequest<'info> {
    #[account(mut)]
    pub requester: Signer<'info>,
    #[account(
        mut,
        close = requester,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        has_one = requester @ SibylError::NotRequester,
        constraint = request.has_final_output() @ SibylError::RequestNotSettled,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
}

/// The requester reclaims the rent of a settled request once it (or its
/// consumer) has read the result.
pub fn handler(ctx: Context<CloseRequest>) -> Result<()> {
    let event = RequestClosed {
        request: ctx.accounts.request.key(),
    };
    emit_cpi!(event);
    Ok(())
}

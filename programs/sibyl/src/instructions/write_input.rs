use crate::{
    errors::SibylError,
    events::InputWritten,
    hashing,
    state::{Config, InferenceRequest, RequestStatus},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct WriteInput<'info> {
    pub requester: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
        has_one = requester @ SibylError::NotRequester,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
}

/// Appends one chunk of a large input. Chunks must arrive in order, so a
/// replayed or reordered chunk is refused instead of corrupting the input.
pub fn handler(ctx: Context<WriteInput>, offset: u32, data: Vec<u8>) -> Result<()> {
    ctx.accounts.config.require_not_paused()?;
    let request = &mut ctx.accounts.request;
    require!(
        request.status == RequestStatus::Pending,
        SibylError::RequestNotPending
    );
    require!(!request.input_complete(), SibylError::InputAlreadyComplete);
    require!(
        offset as usize == request.input.len(),
        SibylError::InputOffsetMismatch
    );
    let end = (offset as usize)
        .checked_add(data.len())
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    require!(end <= request.input_len as usize, SibylError::InputOverflow);
    request.input.extend_from_slice(&data);
    let input_hash = if request.input_complete() {
        request.input_hash = hashing::input_hash(&request.input);
        Some(request.input_hash)
    } else {
        None
    };
    let event = InputWritten {
        request: request.key(),
        written: end as u32,
        input_len: request.input_len,
        input_hash,
    };
    emit_cpi!(event);
    Ok(())
}

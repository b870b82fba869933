use crate::{
    errors::SibylError,
    events::InputDemanded,
    math,
    state::{Config, InferenceRequest, Operator, RequestStatus},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
pub struct DemandInput<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        seeds = [Operator::SEED, authority.key().as_ref()],
        bump = operator.bump,
        has_one = authority @ SibylError::WrongOperator,
    )]
    pub operator: Box<Account<'info, Operator>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
}

/// A staked operator demands a referenced input on chain: because it cannot
/// fetch the declared bytes, or because it holds them and will challenge
/// (a challenge needs the input on chain). Anyone holding the bytes then
/// has the upload window (`InferenceRequest::upload_window_slots`) to write
/// them into an input buffer (`write_input_buffer`), or anyone may void the
/// request (`void_request`). Meanwhile the clocks stop. Only staked
/// operators may demand, and only once per request, because a demand costs
/// time and rent.
pub fn handler(ctx: Context<DemandInput>, sequence: u64) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let config = &accounts.config;
    let request = &mut accounts.request;
    require!(
        request.is_instance(sequence),
        SibylError::RequestInstanceMismatch
    );
    require!(request.is_by_reference(), SibylError::InputNotByReference);
    require!(!request.input_demanded(), SibylError::InputAlreadyDemanded);
    let slot = Clock::get()?.slot;
    let open = match request.status {
        RequestStatus::Pending => slot <= request.deadline_slot,
        RequestStatus::Committed => slot <= request.challenge_deadline_slot,
        _ => false,
    };
    require!(open, SibylError::InputDemandClosed);
    require!(
        accounts
            .operator
            .is_eligible(config.params.min_operator_stake),
        SibylError::OperatorNotEligible
    );
    // An operator that committed claimed to have the input; its demand
    // would only buy it a void in place of a slash.
    require!(
        request.operator != accounts.operator.key(),
        SibylError::CommitterCannotDemand
    );
    request.input_demanded_by = accounts.operator.key();
    let window = InferenceRequest::upload_window_slots(
        config.params.request_timeout_slots,
        request.input_len,
    );
    request.input_upload_deadline_slot = math::add(slot, window)?;
    let event = InputDemanded {
        request: request.key(),
        operator: request.input_demanded_by,
        upload_deadline_slot: request.input_upload_deadline_slot,
    };
    emit_cpi!(event);
    Ok(())
}

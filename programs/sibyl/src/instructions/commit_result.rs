use crate::{
    errors::SibylError,
    events::ResultCommitted,
    hashing, math,
    state::{Config, InferenceRequest, Model, Operator, RequestStatus},
};
use anchor_lang::prelude::*;

#[event_cpi]
#[derive(Accounts)]
#[instruction(sequence: u64)]
pub struct CommitResult<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
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
    #[account(address = request.model @ SibylError::WrongModel)]
    pub model: Box<Account<'info, Model>>,
}

/// An operator commits its result (each output's view, canonically
/// encoded) and the SHA-256 of its whole output (and, for a referee model,
/// its trace root); the program computes the output hash itself so hash
/// and bytes always agree.
pub fn handler(
    ctx: Context<CommitResult>,
    sequence: u64,
    output: Vec<u8>,
    whole_output_sha256: [u8; 32],
    trace_root: Option<[u8; 32]>,
) -> Result<()> {
    let accounts = &mut *ctx.accounts;
    let config = &accounts.config;
    config.require_not_paused()?;
    let request = &mut accounts.request;
    // The output was computed for one instance's input: a request closed
    // and made again at this address (with another input) must not get it.
    require!(
        request.is_instance(sequence),
        SibylError::RequestInstanceMismatch
    );
    require!(
        request.status == RequestStatus::Pending,
        SibylError::RequestNotPending
    );
    if request.awaiting_input() {
        return Err(if request.is_by_reference() {
            error!(SibylError::InputAwaitingUpload)
        } else {
            error!(SibylError::InputIncomplete)
        });
    }
    let slot = Clock::get()?.slot;
    require!(
        slot <= request.deadline_slot,
        SibylError::RequestDeadlinePassed
    );
    require!(
        accounts
            .operator
            .is_eligible(config.params.min_operator_stake),
        SibylError::OperatorNotEligible
    );
    // A referee model's commitment carries the trace a game bisects.
    match (accounts.model.referee.is_some(), trace_root) {
        (true, Some(root)) => {
            accounts.model.check_referee_input(&request.input)?;
            request.trace_root = root;
        }
        (true, None) => return err!(SibylError::RefereeTraceRootMissing),
        (false, Some(_)) => return err!(SibylError::RefereeTraceRootUnexpected),
        (false, None) => {}
    }

    accounts
        .model
        .check_output(&output, request.max_output_bytes)?;
    accounts
        .model
        .check_whole_output_hash(&output, &whole_output_sha256)?;

    request.output_hash = hashing::output_hash(&request.model_hash, &request.input_hash, &output);
    request.output = output;
    request.whole_output_sha256 = whole_output_sha256;
    request.operator = accounts.operator.key();
    request.committed_slot = slot;
    request.challenge_deadline_slot = math::add(slot, request.challenge_window_slots)?;
    request.status = RequestStatus::Committed;
    accounts.operator.open_commitment()?;
    let event = ResultCommitted {
        request: request.key(),
        operator: request.operator,
        output_hash: request.output_hash,
        whole_output_sha256,
        challenge_deadline_slot: request.challenge_deadline_slot,
    };
    emit_cpi!(event);
    Ok(())
}

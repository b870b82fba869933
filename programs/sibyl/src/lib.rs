//! Sibyl: a verifiable AI-inference oracle for Solana.
//!
//! Requesters pay SPL tokens for one inference on a registered ONNX model; a
//! staked operator commits the output; the output becomes final after a
//! challenge window, and disputes are settled by stake-weighted re-execution
//! votes. The design of record is the protocol document (`shared/design/protocol.md`);
//! what it leaves open is decided in `docs/decisions.md`. Every handler lives
//! in `instructions/`, one per file.
#![allow(unexpected_cfgs)]

use anchor_lang::prelude::*;

pub mod constants;
pub mod errors;
pub mod events;
pub mod hashing;
pub mod instructions;
pub mod math;
pub mod settlement;
pub mod state;
pub mod token_ops;

use instructions::*;
use state::{ConfigParams, DisputeOutcome, VoteSide};

declare_id!("B3N5RexUTsYsqhDSww2V1bQkYYcDsGiTBMihGSPCF3Xx");

#[program]
pub mod sibyl {
    use super::*;

    pub fn initialize(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
        initialize::handler(ctx, params)
    }

    pub fn update_config(ctx: Context<UpdateConfig>, args: UpdateConfigArgs) -> Result<()> {
        update_config::handler(ctx, args)
    }

    pub fn pause(ctx: Context<SetPaused>) -> Result<()> {
        set_paused::handler(ctx, true)
    }

    pub fn unpause(ctx: Context<SetPaused>) -> Result<()> {
        set_paused::handler(ctx, false)
    }

    pub fn register_model(ctx: Context<RegisterModel>, args: RegisterModelArgs) -> Result<()> {
        register_model::handler(ctx, args)
    }

    pub fn update_model(ctx: Context<UpdateModel>, args: UpdateModelArgs) -> Result<()> {
        update_model::handler(ctx, args)
    }

    pub fn retire_model(ctx: Context<RetireModel>) -> Result<()> {
        retire_model::handler(ctx)
    }

    pub fn register_operator(ctx: Context<RegisterOperator>, stake: u64) -> Result<()> {
        register_operator::handler(ctx, stake)
    }

    pub fn add_stake(ctx: Context<AddStake>, amount: u64) -> Result<()> {
        add_stake::handler(ctx, amount)
    }

    pub fn request_unstake(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
        request_unstake::handler(ctx, amount)
    }

    pub fn withdraw_stake(ctx: Context<WithdrawStake>) -> Result<()> {
        withdraw_stake::handler(ctx)
    }

    pub fn request_inference(
        ctx: Context<RequestInference>,
        args: RequestInferenceArgs,
    ) -> Result<()> {
        request_inference::handler(ctx, args)
    }

    pub fn write_input(ctx: Context<WriteInput>, offset: u32, data: Vec<u8>) -> Result<()> {
        write_input::handler(ctx, offset, data)
    }

    pub fn cancel_request(ctx: Context<CancelRequest>) -> Result<()> {
        cancel_request::handler(ctx)
    }

    pub fn expire_request(ctx: Context<ExpireRequest>) -> Result<()> {
        expire_request::handler(ctx)
    }

    pub fn commit_result(ctx: Context<CommitResult>, output: Vec<u8>) -> Result<()> {
        commit_result::handler(ctx, output)
    }

    pub fn challenge(ctx: Context<Challenge>, output: Vec<u8>) -> Result<()> {
        challenge::handler(ctx, output)
    }

    pub fn cast_vote(ctx: Context<CastVote>, side: VoteSide, output_hash: [u8; 32]) -> Result<()> {
        cast_vote::handler(ctx, side, output_hash)
    }

    pub fn resolve_dispute(ctx: Context<ResolveDispute>) -> Result<()> {
        resolve_dispute::handler(ctx)
    }

    pub fn arbitrate(ctx: Context<Arbitrate>, outcome: DisputeOutcome) -> Result<()> {
        arbitrate::handler(ctx, outcome)
    }

    pub fn expire_arbitration(ctx: Context<ExpireArbitration>) -> Result<()> {
        expire_arbitration::handler(ctx)
    }

    pub fn finalize(ctx: Context<Finalize>) -> Result<()> {
        finalize::handler(ctx)
    }

    pub fn claim_vote(ctx: Context<ClaimVote>) -> Result<()> {
        claim_vote::handler(ctx)
    }

    pub fn close_request(ctx: Context<CloseRequest>) -> Result<()> {
        close_request::handler(ctx)
    }
}

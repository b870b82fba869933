//! Sibyl: a verifiable AI-inference oracle for Solana.
//!
//! Requesters pay SPL tokens for one inference on a registered ONNX model; a
//! staked operator commits the output; the output becomes final after a
//! challenge window, and disputes are settled by stake-weighted re-execution
//! votes. The design of record is the protocol document (`docs/protocol.md`);
//! what it leaves open is decided in `docs/decisions.md`. Every handler lives
//! in `instructions/`, one per file.
#![allow(unexpected_cfgs)]

use anchor_lang::prelude::*;

pub mod callback;
pub mod errors;
pub mod events;
pub mod hashing;
pub mod instructions;
pub mod math;
pub mod settlement;
pub mod state;
pub mod token_ops;

// What consumers and clients share with the program lives in the SDK.
pub use sibyl_sdk::{constants, encoding};

use instructions::*;
use state::{ConfigParams, DisputeOutcome, Move, VoteSide};

// The SDK declares the same id for consumers; a test checks they agree.
declare_id!("B3N5RexUTsYsqhDSww2V1bQkYYcDsGiTBMihGSPCF3Xx");

#[program]
pub mod sibyl {
    use super::*;

    /// Creates the config and the stake and bond vaults; the signer becomes the authority.
    pub fn initialize(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
        initialize::handler(ctx, params)
    }

    /// Authority: schedules new parameters (they apply after the unbonding
    /// period), proposes a new authority, or changes the treasury.
    pub fn update_config(ctx: Context<UpdateConfig>, args: UpdateConfigArgs) -> Result<()> {
        update_config::handler(ctx, args)
    }

    /// Anyone: applies scheduled parameters once their timelock has passed.
    pub fn apply_config(ctx: Context<ApplyConfig>) -> Result<()> {
        apply_config::handler(ctx)
    }

    /// The proposed authority: takes over governance.
    pub fn accept_authority(ctx: Context<AcceptAuthority>) -> Result<()> {
        accept_authority::handler(ctx)
    }

    /// Authority: refuses new requests, commits and registrations until `unpause`.
    pub fn pause(ctx: Context<SetPaused>) -> Result<()> {
        set_paused::handler(ctx, true)
    }

    /// Authority: lifts a pause.
    pub fn unpause(ctx: Context<SetPaused>) -> Result<()> {
        set_paused::handler(ctx, false)
    }

    /// Registers an ONNX model by its SHA-256, with its price, specs and comparison rule.
    pub fn register_model(ctx: Context<RegisterModel>, args: RegisterModelArgs) -> Result<()> {
        register_model::handler(ctx, args)
    }

    /// Publisher: changes a model's URI, price, royalty or window override.
    pub fn update_model(ctx: Context<UpdateModel>, args: UpdateModelArgs) -> Result<()> {
        update_model::handler(ctx, args)
    }

    /// Publisher: stops new requests for a model; open ones run to the end.
    pub fn retire_model(ctx: Context<RetireModel>) -> Result<()> {
        retire_model::handler(ctx)
    }

    /// Registers the signer as an operator with at least the minimum stake.
    pub fn register_operator(ctx: Context<RegisterOperator>, stake: u64) -> Result<()> {
        register_operator::handler(ctx, stake)
    }

    /// Operator: adds stake.
    pub fn add_stake(ctx: Context<AddStake>, amount: u64) -> Result<()> {
        add_stake::handler(ctx, amount)
    }

    /// Operator (node key or payout wallet): starts unbonding part of its
    /// stake (still slashable until withdrawn).
    pub fn request_unstake(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
        request_unstake::handler(ctx, amount)
    }

    /// Anyone: moves a model's collected protocol fees to the treasury.
    pub fn sweep_fees(ctx: Context<SweepFees>) -> Result<()> {
        sweep_fees::handler(ctx)
    }

    /// Operator (node key or payout wallet): withdraws unbonded stake into
    /// its payout account once it has no open commitments or votes.
    pub fn withdraw_stake(ctx: Context<WithdrawStake>) -> Result<()> {
        withdraw_stake::handler(ctx)
    }

    /// Operator's payout wallet: names another account (and wallet) to be
    /// paid into, while no settlement of the operator is open.
    pub fn set_operator_payout(ctx: Context<SetOperatorPayout>) -> Result<()> {
        set_operator_payout::handler(ctx)
    }

    /// Operator (node key): names the base URL its node serves whole
    /// outputs from (`GET <url>/outputs/<sha256>`), or none.
    pub fn set_output_url(ctx: Context<SetOutputUrl>, output_url: String) -> Result<()> {
        set_output_url::handler(ctx, output_url)
    }

    /// Requester: pays the fee into a new escrow and records the input (or its first chunk).
    pub fn request_inference(
        ctx: Context<RequestInference>,
        args: RequestInferenceArgs,
    ) -> Result<()> {
        request_inference::handler(ctx, args)
    }

    /// Requester: appends the next chunk of a large input the request carries.
    pub fn write_input(ctx: Context<WriteInput>, offset: u32, data: Vec<u8>) -> Result<()> {
        write_input::handler(ctx, offset, data)
    }

    /// Anyone holding the bytes: appends the next chunk of a demanded
    /// referenced input of the `sequence`-th request of the model to its own
    /// input buffer; the first buffer completed with the declared bytes
    /// becomes the request's input.
    pub fn write_input_buffer(
        ctx: Context<WriteInputBuffer>,
        sequence: u64,
        offset: u32,
        data: Vec<u8>,
    ) -> Result<()> {
        write_input_buffer::handler(ctx, sequence, offset, data)
    }

    /// Anyone (its writer while the request is open): closes an input
    /// buffer that is not the input of an open request; the rent goes back
    /// to its writer.
    pub fn close_input_buffer(
        ctx: Context<CloseInputBuffer>,
        model: Pubkey,
        sequence: u64,
    ) -> Result<()> {
        close_input_buffer::handler(ctx, model, sequence)
    }

    /// Staked operator: demands on chain the referenced input of the
    /// `sequence`-th request of the model, which it could not fetch.
    pub fn demand_input(ctx: Context<DemandInput>, sequence: u64) -> Result<()> {
        demand_input::handler(ctx, sequence)
    }

    /// Anyone: voids a request whose demanded input was not written in
    /// time; the requester is refunded, nobody is paid or slashed.
    pub fn void_request(ctx: Context<VoidRequest>) -> Result<()> {
        void_request::handler(ctx)
    }

    /// Requester: withdraws a request nobody has committed to; full refund.
    pub fn cancel_request(ctx: Context<CancelRequest>) -> Result<()> {
        cancel_request::handler(ctx)
    }

    /// Anyone: refunds a request nobody committed to before its deadline.
    pub fn expire_request(ctx: Context<ExpireRequest>) -> Result<()> {
        expire_request::handler(ctx)
    }

    /// Operator: commits the canonical encoding of its output for the
    /// `sequence`-th request of the model; the challenge window starts.
    pub fn commit_result(
        ctx: Context<CommitResult>,
        sequence: u64,
        output: Vec<u8>,
        whole_output_sha256: [u8; 32],
        trace_root: Option<[u8; 32]>,
    ) -> Result<()> {
        commit_result::handler(ctx, sequence, output, whole_output_sha256, trace_root)
    }

    /// Anyone: disputes the result committed to the `sequence`-th request of
    /// the model inside its window, with a bond and its own output.
    pub fn challenge(
        ctx: Context<Challenge>,
        sequence: u64,
        output: Vec<u8>,
        whole_output_sha256: [u8; 32],
    ) -> Result<()> {
        challenge::handler(ctx, sequence, output, whole_output_sha256)
    }

    /// Eligible operator: commits to a verdict in a dispute (a hash of its
    /// side and a secret salt), weighted by its stake bonded before it opened.
    pub fn cast_vote(ctx: Context<CastVote>, commitment: [u8; 32]) -> Result<()> {
        cast_vote::handler(ctx, commitment)
    }

    /// Anyone with the side and salt: reveals a committed vote after the
    /// vote window, before the reveal deadline; its weight then counts.
    pub fn reveal_vote(
        ctx: Context<RevealVote>,
        side: VoteSide,
        salt: [u8; 32],
        output_hash: [u8; 32],
    ) -> Result<()> {
        reveal_vote::handler(ctx, side, salt, output_hash)
    }

    /// Anyone: settles a dispute by its votes, or marks it inconclusive.
    pub fn resolve_dispute<'info>(ctx: Context<'info, ResolveDispute<'info>>) -> Result<()> {
        resolve_dispute::handler(ctx)
    }

    /// Authority: decides an inconclusive dispute before its arbitration deadline
    /// (operator upheld, challenger upheld, or commitment rejected).
    pub fn arbitrate<'info>(
        ctx: Context<'info, Arbitrate<'info>>,
        outcome: DisputeOutcome,
    ) -> Result<()> {
        arbitrate::handler(ctx, outcome)
    }

    /// Anyone: refunds the requester and the challenger of an unarbitrated dispute.
    pub fn expire_arbitration(ctx: Context<ExpireArbitration>) -> Result<()> {
        expire_arbitration::handler(ctx)
    }

    /// Anyone: pays out a result whose challenge window passed unchallenged.
    pub fn finalize<'info>(ctx: Context<'info, Finalize<'info>>) -> Result<()> {
        finalize::handler(ctx)
    }

    /// Anyone: closes a vote record after settlement, paying its reward into
    /// the voter's payout account or taking its penalty.
    pub fn claim_vote(ctx: Context<ClaimVote>) -> Result<()> {
        claim_vote::handler(ctx)
    }

    /// Requester: reclaims the rent of a request whose result is final.
    pub fn close_request(ctx: Context<CloseRequest>) -> Result<()> {
        close_request::handler(ctx)
    }

    /// Anyone: disputes a referee model's commitment inside its window with
    /// a bond, its own trace root and the root over its outputs.
    pub fn open_referee_game(
        ctx: Context<OpenRefereeGame>,
        sequence: u64,
        trace_root: [u8; 32],
        output_root: [u8; 32],
    ) -> Result<()> {
        open_referee_game::handler(ctx, sequence, trace_root, output_root)
    }

    /// The operator's node key or the challenger: one move of the round.
    pub fn play_referee_move(ctx: Context<PlayRefereeMove>, play: Move) -> Result<()> {
        play_referee_move::handler(ctx, play)
    }

    /// Anyone: proves the record of the node a referee game found.
    pub fn prove_referee_record(
        ctx: Context<ProveRefereeRecord>,
        record: Vec<u8>,
        proof: Vec<[u8; 32]>,
    ) -> Result<()> {
        prove_referee_record::handler(ctx, record, proof)
    }

    /// Anyone: proves the next operand of a referee game's step; the last
    /// one decides the game.
    pub fn prove_referee_operand(
        ctx: Context<ProveRefereeOperand>,
        value: i64,
        element_proof: Vec<[u8; 32]>,
        item_proof: Vec<[u8; 32]>,
    ) -> Result<()> {
        prove_referee_operand::handler(ctx, value, element_proof, item_proof)
    }

    /// Anyone: decides a referee game whose round's deadline passed.
    pub fn claim_referee_timeout(ctx: Context<ClaimRefereeTimeout>) -> Result<()> {
        claim_referee_timeout::handler(ctx)
    }

    /// Anyone: settles and closes a decided referee game.
    pub fn settle_referee_game<'info>(ctx: Context<'info, SettleRefereeGame<'info>>) -> Result<()> {
        settle_referee_game::handler(ctx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdk_names_this_program() {
        assert_eq!(super::ID, sibyl_sdk::ID);
    }
}

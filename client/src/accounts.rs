//! The accounts of every instruction, from the keys a caller knows.
use crate::pda;
use anchor_lang::{
    prelude::{AccountMeta, Pubkey},
    system_program,
};
use sibyl::{
    accounts as acc,
    state::{Dispute, InferenceRequest, Model, Operator},
};
use solana_instruction::Instruction;

/// The payment mint and the token program that owns it (SPL Token or Token-2022).
#[derive(Clone, Copy, Debug)]
pub struct Tokens {
    pub mint: Pubkey,
    pub token_program: Pubkey,
}

impl Tokens {
    /// The associated token account of `wallet` for the payment mint.
    pub fn account_of(&self, wallet: &Pubkey) -> Pubkey {
        anchor_spl::associated_token::get_associated_token_address_with_program_id(
            wallet,
            &self.mint,
            &self.token_program,
        )
    }

    /// Creates `wallet`'s associated token account for the payment mint,
    /// paid by `payer`, unless it exists (idempotent).
    pub fn create_account(&self, payer: &Pubkey, wallet: &Pubkey) -> Instruction {
        anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(
            payer,
            wallet,
            &self.mint,
            &self.token_program,
        )
    }
}

/// What settling a request needs to know about it, read from its account.
#[derive(Clone, Copy, Debug)]
pub struct RequestParties {
    pub request: Pubkey,
    pub requester: Pubkey,
    pub model: Pubkey,
    /// The committing operator's account.
    pub operator: Pubkey,
    /// The dispute over this request instance (whether or not it exists).
    pub dispute: Pubkey,
    /// The requester's token account recorded for refunds.
    pub refund_token: Pubkey,
}

impl RequestParties {
    /// The parties of a request account's data.
    pub fn of(request: Pubkey, state: &InferenceRequest) -> Self {
        Self {
            request,
            requester: state.requester,
            model: state.model,
            operator: state.operator,
            dispute: pda::dispute_of(state),
            refund_token: state.refund_token,
        }
    }
}

/// Where a settlement's fee goes: the payout accounts the operator and the
/// publisher recorded at registration (the protocol's share goes to the
/// model's fee vault, [`pda::fee_vault`]).
#[derive(Clone, Copy, Debug)]
pub struct Payees {
    pub operator_token: Pubkey,
    pub publisher_token: Pubkey,
}

impl Payees {
    /// The payout accounts recorded on the operator's and the model's accounts.
    pub fn recorded(operator: &Operator, model: &Model) -> Self {
        Self {
            operator_token: operator.payout_token,
            publisher_token: model.payout_token,
        }
    }
}

pub fn initialize(authority: Pubkey, tokens: Tokens, treasury: Pubkey) -> acc::Initialize {
    acc::Initialize {
        authority,
        config: pda::config(),
        payment_mint: tokens.mint,
        treasury,
        stake_vault: pda::stake_vault(),
        bond_vault: pda::bond_vault(),
        program_data: pda::program_data(),
        token_program: tokens.token_program,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn update_config(authority: Pubkey, new_treasury: Option<Pubkey>) -> acc::UpdateConfig {
    acc::UpdateConfig {
        authority,
        config: pda::config(),
        new_treasury,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `pause` and `unpause`.
pub fn set_paused(authority: Pubkey) -> acc::SetPaused {
    acc::SetPaused {
        authority,
        config: pda::config(),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `publisher_token` is where the model's royalties will be paid.
pub fn register_model(
    publisher: Pubkey,
    publisher_token: Pubkey,
    model_hash: &[u8; 32],
    tokens: Tokens,
) -> acc::RegisterModel {
    let model = pda::model(model_hash);
    acc::RegisterModel {
        publisher,
        config: pda::config(),
        model,
        fee_vault: pda::fee_vault(&model),
        publisher_token,
        payment_mint: tokens.mint,
        token_program: tokens.token_program,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn update_model(publisher: Pubkey, model: Pubkey) -> acc::UpdateModel {
    acc::UpdateModel {
        publisher,
        model,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn retire_model(publisher: Pubkey, model: Pubkey) -> acc::RetireModel {
    acc::RetireModel {
        publisher,
        model,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `register_operator`: `authority` (the node key) stakes
/// from `authority_token`; settlements pay into `payout_token`, owned by
/// `payout_authority` (the node key again, or another wallet that signs).
pub fn register_operator(
    authority: Pubkey,
    authority_token: Pubkey,
    payout_authority: Pubkey,
    payout_token: Pubkey,
    tokens: Tokens,
) -> acc::RegisterOperator {
    acc::RegisterOperator {
        authority,
        config: pda::config(),
        operator: pda::operator(&authority),
        authority_token,
        payout_authority,
        payout_token,
        stake_vault: pda::stake_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `add_stake`.
pub fn stake(authority: Pubkey, authority_token: Pubkey, tokens: Tokens) -> acc::AddStake {
    acc::AddStake {
        authority,
        config: pda::config(),
        operator: pda::operator(&authority),
        authority_token,
        stake_vault: pda::stake_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `request_unstake` for the operator of node key
/// `operator_authority`, signed by its payout wallet.
pub fn request_unstake(
    payout_authority: Pubkey,
    operator_authority: Pubkey,
) -> acc::RequestUnstake {
    acc::RequestUnstake {
        payout_authority,
        config: pda::config(),
        operator: pda::operator(&operator_authority),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `withdraw_stake`, signed by the operator's node key or
/// its payout wallet; the stake goes to the recorded `payout_token`.
pub fn withdraw_stake(
    signer: Pubkey,
    operator_authority: Pubkey,
    payout_token: Pubkey,
    tokens: Tokens,
) -> acc::WithdrawStake {
    acc::WithdrawStake {
        signer,
        config: pda::config(),
        operator: pda::operator(&operator_authority),
        payout_token,
        stake_vault: pda::stake_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `set_output_url`, signed by the operator's node key.
pub fn set_output_url(authority: Pubkey) -> acc::SetOutputUrl {
    acc::SetOutputUrl {
        authority,
        operator: pda::operator(&authority),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts of `set_operator_payout`, signed by the operator's current
/// payout wallet and the new one (`payout_token`'s owner).
pub fn set_operator_payout(
    payout_authority: Pubkey,
    new_payout_authority: Pubkey,
    operator_authority: Pubkey,
    payout_token: Pubkey,
    tokens: Tokens,
) -> acc::SetOperatorPayout {
    acc::SetOperatorPayout {
        payout_authority,
        config: pda::config(),
        operator: pda::operator(&operator_authority),
        new_payout_authority,
        payout_token,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn request_inference(
    requester: Pubkey,
    requester_token: Pubkey,
    model: Pubkey,
    nonce: u64,
    tokens: Tokens,
) -> acc::RequestInference {
    let request = pda::request(&requester, nonce);
    acc::RequestInference {
        requester,
        config: pda::config(),
        model,
        request,
        escrow: pda::escrow(&request),
        requester_token,
        mint: tokens.mint,
        token_program: tokens.token_program,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn write_input(requester: Pubkey, request: Pubkey) -> acc::WriteInput {
    acc::WriteInput {
        requester,
        config: pda::config(),
        request,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `writer` writes a chunk of the demanded input of `request`, the
/// `sequence`-th request of `model`, into its own buffer.
pub fn write_input_buffer(
    writer: Pubkey,
    request: Pubkey,
    model: Pubkey,
    sequence: u64,
) -> acc::WriteInputBuffer {
    acc::WriteInputBuffer {
        writer,
        config: pda::config(),
        request,
        buffer: pda::input_buffer(&request, &model, sequence, &writer),
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// Closes `writer`'s input buffer for the `sequence`-th request of `model`
/// at `request` (its rent back to the writer).
pub fn close_input_buffer(
    closer: Pubkey,
    request: Pubkey,
    model: Pubkey,
    sequence: u64,
    writer: Pubkey,
) -> acc::CloseInputBuffer {
    acc::CloseInputBuffer {
        closer,
        request,
        buffer: pda::input_buffer(&request, &model, sequence, &writer),
        writer,
    }
}

/// `authority`'s operator demands the referenced input of `request` on chain.
pub fn demand_input(authority: Pubkey, request: Pubkey) -> acc::DemandInput {
    acc::DemandInput {
        authority,
        config: pda::config(),
        operator: pda::operator(&authority),
        request,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// Voids a request whose demanded input was not written in time (the
/// committing operator's account goes along when one committed).
pub fn void_request(cranker: Pubkey, parties: RequestParties, tokens: Tokens) -> acc::VoidRequest {
    acc::VoidRequest {
        cranker,
        config: pda::config(),
        request: parties.request,
        escrow: pda::escrow(&parties.request),
        operator: (parties.operator != Pubkey::default()).then_some(parties.operator),
        requester: parties.requester,
        requester_token: parties.refund_token,
        model: parties.model,
        fee_vault: pda::fee_vault(&parties.model),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn cancel_request(
    requester: Pubkey,
    requester_token: Pubkey,
    request: Pubkey,
    tokens: Tokens,
) -> acc::CancelRequest {
    acc::CancelRequest {
        requester,
        config: pda::config(),
        request,
        escrow: pda::escrow(&request),
        requester_token,
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn expire_request(
    cranker: Pubkey,
    parties: RequestParties,
    tokens: Tokens,
) -> acc::ExpireRequest {
    acc::ExpireRequest {
        cranker,
        config: pda::config(),
        request: parties.request,
        escrow: pda::escrow(&parties.request),
        requester: parties.requester,
        requester_token: parties.refund_token,
        model: parties.model,
        fee_vault: pda::fee_vault(&parties.model),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `authority`'s operator commits a result to `request` (of `model`).
pub fn commit_result(authority: Pubkey, request: Pubkey, model: Pubkey) -> acc::CommitResult {
    acc::CommitResult {
        authority,
        config: pda::config(),
        operator: pda::operator(&authority),
        request,
        model,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn finalize(
    cranker: Pubkey,
    parties: RequestParties,
    payees: Payees,
    tokens: Tokens,
) -> acc::Finalize {
    acc::Finalize {
        cranker,
        config: pda::config(),
        request: parties.request,
        escrow: pda::escrow(&parties.request),
        operator: parties.operator,
        model: parties.model,
        requester: parties.requester,
        operator_token: payees.operator_token,
        publisher_token: payees.publisher_token,
        fee_vault: pda::fee_vault(&parties.model),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn close_request(requester: Pubkey, request: Pubkey) -> acc::CloseRequest {
    acc::CloseRequest {
        requester,
        request,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn challenge(
    challenger: Pubkey,
    challenger_token: Pubkey,
    parties: RequestParties,
    tokens: Tokens,
) -> acc::Challenge {
    acc::Challenge {
        challenger,
        config: pda::config(),
        request: parties.request,
        operator: parties.operator,
        model: parties.model,
        challenger_operator: pda::operator(&challenger),
        dispute: parties.dispute,
        challenger_token,
        bond_vault: pda::bond_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `challenger` opens a referee game on a committed request, its bond
/// from `challenger_token`.
pub fn open_referee_game(
    challenger: Pubkey,
    challenger_token: Pubkey,
    parties: RequestParties,
    sequence: u64,
    tokens: Tokens,
) -> acc::OpenRefereeGame {
    acc::OpenRefereeGame {
        challenger,
        config: pda::config(),
        request: parties.request,
        operator: parties.operator,
        model: parties.model,
        game: pda::referee_game(&parties.model, sequence, &challenger),
        challenger_token,
        bond_vault: pda::bond_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `mover` (the operator's node key or the challenger) moves in `game`.
pub fn play_referee_move(mover: Pubkey, game: Pubkey) -> acc::PlayRefereeMove {
    acc::PlayRefereeMove {
        mover,
        game,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `prover` proves the record of the node `game` found.
pub fn prove_referee_record(
    prover: Pubkey,
    game: Pubkey,
    model: Pubkey,
) -> acc::ProveRefereeRecord {
    acc::ProveRefereeRecord {
        prover,
        game,
        model,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `prover` proves the next operand of `game`'s step.
pub fn prove_referee_operand(
    prover: Pubkey,
    game: Pubkey,
    model: Pubkey,
    request: Pubkey,
) -> acc::ProveRefereeOperand {
    acc::ProveRefereeOperand {
        prover,
        game,
        model,
        request,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `cranker` decides `game` on its passed deadline.
pub fn claim_referee_timeout(cranker: Pubkey, game: Pubkey) -> acc::ClaimRefereeTimeout {
    acc::ClaimRefereeTimeout {
        cranker,
        game,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `cranker` settles a decided `game` (`parties` of its request as it was
/// when the game opened; the request may be gone since).
pub fn settle_referee_game(
    cranker: Pubkey,
    game: Pubkey,
    game_state: &sibyl::state::RefereeGame,
    parties: RequestParties,
    payees: Payees,
    tokens: Tokens,
) -> acc::SettleRefereeGame {
    acc::SettleRefereeGame {
        cranker,
        config: pda::config(),
        game,
        request: game_state.request,
        escrow: pda::escrow(&game_state.request),
        operator: game_state.operator,
        model: game_state.model,
        requester: parties.requester,
        challenger: game_state.challenger,
        operator_token: payees.operator_token,
        challenger_token: game_state.challenger_token,
        requester_token: parties.refund_token,
        fee_vault: pda::fee_vault(&game_state.model),
        stake_vault: pda::stake_vault(),
        bond_vault: pda::bond_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `revealer` reveals `operator`'s committed vote in `dispute`.
pub fn reveal_vote(revealer: Pubkey, dispute: Pubkey, operator: Pubkey) -> acc::RevealVote {
    acc::RevealVote {
        revealer,
        dispute,
        vote: pda::vote(&dispute, &operator),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// `authority`'s operator commits a vote in `dispute`.
pub fn cast_vote(authority: Pubkey, dispute: Pubkey) -> acc::CastVote {
    let operator = pda::operator(&authority);
    acc::CastVote {
        authority,
        config: pda::config(),
        operator,
        dispute,
        vote: pda::vote(&dispute, &operator),
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The accounts every dispute settlement may touch (`resolve_dispute` and
/// `arbitrate` wrap them).
/// `challenger_token` is the dispute's recorded one; the requester's
/// recorded refund account is refunded if the commitment is rejected.
pub fn settle_dispute(
    parties: RequestParties,
    challenger: Pubkey,
    challenger_token: Pubkey,
    payees: Payees,
    tokens: Tokens,
) -> acc::SettleDispute {
    acc::SettleDispute {
        config: pda::config(),
        request: parties.request,
        escrow: pda::escrow(&parties.request),
        dispute: parties.dispute,
        operator: parties.operator,
        model: parties.model,
        requester: parties.requester,
        challenger,
        operator_token: payees.operator_token,
        challenger_token,
        requester_token: parties.refund_token,
        publisher_token: payees.publisher_token,
        fee_vault: pda::fee_vault(&parties.model),
        stake_vault: pda::stake_vault(),
        bond_vault: pda::bond_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
    }
}

/// `sweep_fees`: a model's collected protocol fees to the treasury.
pub fn sweep_fees(model: Pubkey, treasury: Pubkey, tokens: Tokens) -> acc::SweepFees {
    acc::SweepFees {
        config: pda::config(),
        model,
        fee_vault: pda::fee_vault(&model),
        treasury,
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn resolve_dispute(cranker: Pubkey, settle: acc::SettleDispute) -> acc::ResolveDispute {
    acc::ResolveDispute {
        cranker,
        settle,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

pub fn arbitrate(authority: Pubkey, settle: acc::SettleDispute) -> acc::Arbitrate {
    acc::Arbitrate {
        authority,
        settle,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn expire_arbitration(
    cranker: Pubkey,
    parties: RequestParties,
    challenger: Pubkey,
    challenger_token: Pubkey,
    tokens: Tokens,
) -> acc::ExpireArbitration {
    acc::ExpireArbitration {
        cranker,
        config: pda::config(),
        request: parties.request,
        escrow: pda::escrow(&parties.request),
        dispute: parties.dispute,
        operator: parties.operator,
        requester: parties.requester,
        challenger,
        requester_token: parties.refund_token,
        challenger_token,
        model: parties.model,
        fee_vault: pda::fee_vault(&parties.model),
        bond_vault: pda::bond_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// What claiming a settled vote needs to know: its dispute's and its
/// operator's accounts.
#[derive(Clone, Copy, Debug)]
pub struct VoteParties {
    pub dispute: Pubkey,
    /// The dispute's model (`Dispute.model`).
    pub model: Pubkey,
    /// The dispute's challenger wallet (`Dispute.challenger`).
    pub challenger: Pubkey,
    /// The voting operator's account.
    pub operator: Pubkey,
    /// That operator's authority (`Operator.authority`).
    pub voter: Pubkey,
    /// That operator's payout account (`Operator.payout_token`).
    pub voter_token: Pubkey,
}

impl VoteParties {
    /// The parties of `operator`'s (the account at `operator_key`) vote in
    /// the dispute at `dispute_key`.
    pub fn of(
        dispute_key: Pubkey,
        dispute: &Dispute,
        operator_key: Pubkey,
        operator: &Operator,
    ) -> Self {
        Self {
            dispute: dispute_key,
            model: dispute.model,
            challenger: dispute.challenger,
            operator: operator_key,
            voter: operator.authority,
            voter_token: operator.payout_token,
        }
    }
}

/// Anyone (`claimer`) claims a settled vote.
pub fn claim_vote(claimer: Pubkey, vote: VoteParties, tokens: Tokens) -> acc::ClaimVote {
    acc::ClaimVote {
        claimer,
        config: pda::config(),
        operator: vote.operator,
        voter: vote.voter,
        dispute: vote.dispute,
        vote: pda::vote(&vote.dispute, &vote.operator),
        challenger: vote.challenger,
        voter_token: vote.voter_token,
        model: vote.model,
        fee_vault: pda::fee_vault(&vote.model),
        stake_vault: pda::stake_vault(),
        bond_vault: pda::bond_vault(),
        mint: tokens.mint,
        token_program: tokens.token_program,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    }
}

/// The remaining accounts `finalize`, `resolve_dispute` and `arbitrate` take
/// for a request that named a consumer callback: the consumer program,
/// Sibyl's callback authority, then the accounts the consumer named (writable
/// as named). Empty when the request named none.
pub fn callback_accounts(state: &InferenceRequest) -> Vec<AccountMeta> {
    if !state.has_callback() {
        return Vec::new();
    }
    let mut metas = vec![
        AccountMeta::new_readonly(state.callback_program, false),
        AccountMeta::new_readonly(sibyl::callback::callback_authority(), false),
    ];
    metas.extend(state.callback_metas());
    metas
}

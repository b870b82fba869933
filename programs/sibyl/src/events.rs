//! One event per state change, emitted through `emit_cpi!` so that it is
//! recorded as inner-instruction data (never truncated with the logs, and
//! observable when the program runs natively in tests). Each carries the ids a
//! client needs to follow the story.
use crate::state::{
    ConfigParams, DisputeOutcome, GameOutcome, GamePhase, GameSubject, Party, VoteSide,
};
use anchor_lang::prelude::*;

/// The protocol was initialized.
#[event]
pub struct ConfigInitialized {
    pub authority: Pubkey,
    pub payment_mint: Pubkey,
    pub treasury: Pubkey,
    pub params: ConfigParams,
}

/// `update_config` ran: the treasury (which changes at once), the current
/// parameters, and what waits: the parameters scheduled and from which slot
/// they may apply (zero: none), and the proposed authority (default: none).
#[event]
pub struct ConfigUpdated {
    pub authority: Pubkey,
    pub treasury: Pubkey,
    pub params: ConfigParams,
    pub pending_params: ConfigParams,
    pub pending_params_slot: u64,
    pub pending_authority: Pubkey,
}

/// Scheduled parameters became current after their timelock.
#[event]
pub struct ConfigParamsApplied {
    pub params: ConfigParams,
}

/// The pending authority accepted: it now governs the protocol.
#[event]
pub struct AuthorityAccepted {
    pub previous: Pubkey,
    pub authority: Pubkey,
}

/// The protocol was paused or unpaused.
#[event]
pub struct PauseChanged {
    pub paused: bool,
}

/// A model was registered.
#[event]
pub struct ModelRegistered {
    pub model: Pubkey,
    pub publisher: Pubkey,
    pub model_hash: [u8; 32],
    pub price: u64,
}

/// A model's price, royalty, URI or window changed.
#[event]
pub struct ModelUpdated {
    pub model: Pubkey,
    pub price: u64,
    pub royalty_bps: u16,
    pub challenge_window_override_slots: Option<u64>,
}

/// A model stopped taking requests.
#[event]
pub struct ModelRetired {
    pub model: Pubkey,
}

/// An operator registered with its first stake.
#[event]
pub struct OperatorRegistered {
    pub operator: Pubkey,
    pub authority: Pubkey,
    pub payout_authority: Pubkey,
    pub payout_token: Pubkey,
    pub stake: u64,
}

/// An operator's payout wallet named another account (and wallet) to be
/// paid into.
#[event]
pub struct OperatorPayoutChanged {
    pub operator: Pubkey,
    pub payout_authority: Pubkey,
    pub payout_token: Pubkey,
}

/// An operator named where its node serves whole outputs (empty: nowhere).
#[event]
pub struct OperatorOutputUrlSet {
    pub operator: Pubkey,
    pub output_url: String,
}

/// An operator added stake.
#[event]
pub struct StakeAdded {
    pub operator: Pubkey,
    pub amount: u64,
    pub stake: u64,
}

/// An operator started unbonding stake.
#[event]
pub struct UnstakeRequested {
    pub operator: Pubkey,
    pub amount: u64,
    pub unlock_slot: u64,
}

/// A model's collected protocol fees moved to the treasury.
#[event]
pub struct FeesSwept {
    pub model: Pubkey,
    pub treasury: Pubkey,
    pub amount: u64,
}

/// An operator withdrew unbonded stake.
#[event]
pub struct StakeWithdrawn {
    pub operator: Pubkey,
    pub amount: u64,
}

/// A request was paid for and recorded.
#[event]
pub struct InferenceRequested {
    pub request: Pubkey,
    pub requester: Pubkey,
    pub model: Pubkey,
    pub fee: u64,
    pub input_len: u32,
    pub deadline_slot: u64,
}

/// A chunk of a request's input was uploaded.
#[event]
pub struct InputWritten {
    pub request: Pubkey,
    pub written: u32,
    pub input_len: u32,
    /// Set once the last chunk arrives: the request can now be served.
    pub input_hash: Option<[u8; 32]>,
}

/// A staked operator could not fetch a referenced input with the declared
/// hash and demanded it on chain; the challenge clock stops until it is
/// written.
#[event]
pub struct InputDemanded {
    pub request: Pubkey,
    /// The demanding operator account.
    pub operator: Pubkey,
    /// Last slot in which the requester may finish writing it.
    pub upload_deadline_slot: u64,
}

/// A demanded input was not written in time: the fee went back to the
/// requester, any commitment was dropped, nobody was paid or slashed.
#[event]
pub struct RequestVoided {
    pub request: Pubkey,
    pub refunded: u64,
    /// The operator whose commitment was dropped, if one had committed.
    pub operator: Option<Pubkey>,
}

/// The requester cancelled a pending request and was refunded.
#[event]
pub struct RequestCancelled {
    pub request: Pubkey,
    pub refunded: u64,
}

/// A pending request passed its deadline and was refunded.
#[event]
pub struct RequestExpired {
    pub request: Pubkey,
    pub refunded: u64,
}

/// An operator committed a result; its challenge window runs.
#[event]
pub struct ResultCommitted {
    pub request: Pubkey,
    pub operator: Pubkey,
    pub output_hash: [u8; 32],
    /// SHA-256 of the whole output, which the operator's node serves.
    pub whole_output_sha256: [u8; 32],
    pub challenge_deadline_slot: u64,
}

/// A committed result was disputed.
#[event]
pub struct ResultChallenged {
    pub request: Pubkey,
    pub dispute: Pubkey,
    pub challenger: Pubkey,
    pub bond: u64,
    pub challenger_output_hash: [u8; 32],
    pub challenger_whole_output_sha256: [u8; 32],
    /// Votes are committed until this slot...
    pub vote_deadline_slot: u64,
    /// ...and revealed until this one.
    pub reveal_deadline_slot: u64,
    /// The dispute's terms, so that its story can be told from the events
    /// alone once the account is closed.
    pub eligible_stake: u64,
    pub quorum_bps: u16,
    pub threshold_bps: u16,
}

/// A verifier committed a vote in a dispute (its side stays secret until
/// revealed).
#[event]
pub struct VoteCast {
    pub dispute: Pubkey,
    pub operator: Pubkey,
    pub weight: u64,
}

/// A verifier revealed the side it committed to.
#[event]
pub struct VoteRevealed {
    pub dispute: Pubkey,
    pub operator: Pubkey,
    pub side: VoteSide,
    pub weight: u64,
}

/// A dispute was settled by its votes, or found inconclusive.
#[event]
pub struct DisputeResolved {
    pub request: Pubkey,
    pub dispute: Pubkey,
    pub outcome: DisputeOutcome,
    pub stake_for_operator: u64,
    pub stake_for_challenger: u64,
    pub stake_for_neither: u64,
    /// Set when the vote was inconclusive: the last slot for arbitration.
    pub arbitration_deadline_slot: Option<u64>,
}

/// A dispute rejected the committed output without confirming the
/// challenger's: the requester was refunded and the request closed.
#[event]
pub struct WrongCommitmentRefunded {
    pub request: Pubkey,
    pub dispute: Pubkey,
    pub refunded: u64,
}

/// The authority decided an inconclusive dispute.
#[event]
pub struct DisputeArbitrated {
    pub request: Pubkey,
    pub dispute: Pubkey,
    pub outcome: DisputeOutcome,
}

/// Nobody arbitrated in time: requester and challenger were refunded.
#[event]
pub struct ArbitrationExpired {
    pub request: Pubkey,
    pub dispute: Pubkey,
    pub refunded: u64,
}

/// The operator was slashed after losing a dispute.
#[event]
pub struct OperatorSlashed {
    pub operator: Pubkey,
    pub dispute: Pubkey,
    pub amount: u64,
}

/// A result became final and its fee was paid out.
#[event]
pub struct RequestFinalized {
    pub request: Pubkey,
    /// Who was paid: the committing operator's payout wallet, or the upheld challenger.
    pub payee: Pubkey,
    pub output_hash: [u8; 32],
    pub payee_amount: u64,
    pub royalty: u64,
    pub protocol_fee: u64,
    pub overturned: bool,
}

/// The consumer named at request time was called with the final result, or
/// (after the grace period, with its accounts left out) skipped.
#[event]
pub struct CallbackInvoked {
    pub request: Pubkey,
    pub program: Pubkey,
    pub skipped: bool,
}

/// A settled vote was claimed: its record closed, its reward paid, or its
/// penalty taken (a vote never revealed, or on the losing side).
#[event]
pub struct VoteClaimed {
    pub dispute: Pubkey,
    pub operator: Pubkey,
    pub reward: u64,
    pub penalty: u64,
}

/// The requester closed a settled request and took its rent back.
#[event]
pub struct RequestClosed {
    pub request: Pubkey,
}

/// A party's recorded payout account could no longer take a payment (closed,
/// frozen, handed to another owner or requiring memos), so what this
/// settlement owed it went to the model's fee vault instead.
#[event]
pub struct PayoutRedirected {
    pub request: Pubkey,
    /// The wallet that was owed the payment.
    pub party: Pubkey,
    /// The payout account recorded for it.
    pub account: Pubkey,
}

/// A challenger opened a referee game on a commitment, with its bond.
#[event]
pub struct RefereeGameOpened {
    pub request: Pubkey,
    pub game: Pubkey,
    pub challenger: Pubkey,
    pub bond: u64,
    pub trace_root: [u8; 32],
    pub output_root: [u8; 32],
    pub subject: GameSubject,
    pub phase: GamePhase,
    pub deadline_slot: u64,
}

/// A party moved in a referee game; when its move ended the round, the
/// game's new phase and position.
#[event]
pub struct RefereeMovePlayed {
    pub game: Pubkey,
    pub party: Party,
    pub phase: GamePhase,
    pub level: u8,
    pub index: u64,
    pub deadline_slot: u64,
}

/// A record or operand was proven in a referee game.
#[event]
pub struct RefereeStepProven {
    pub game: Pubkey,
    pub phase: GamePhase,
    pub operands: u8,
}

/// A referee game was decided: by the step, by padding, or by a deadline.
#[event]
pub struct RefereeGameDecided {
    pub game: Pubkey,
    pub outcome: GameOutcome,
    pub timed_out: bool,
}

/// A decided referee game was settled: what the operator lost, where the
/// bond went, and whether the commitment was rejected (the requester
/// refunded) or the game was moot (another game had rejected it first).
#[event]
pub struct RefereeGameSettled {
    pub request: Pubkey,
    pub game: Pubkey,
    pub outcome: GameOutcome,
    pub slashed: u64,
    /// The challenger's share of the slash (half, where it was right).
    pub reward: u64,
    pub bond_returned: bool,
    pub commitment_rejected: bool,
    pub refunded: u64,
    pub moot: bool,
}

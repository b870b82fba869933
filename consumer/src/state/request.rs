use crate::{
    constants::{MAX_CALLBACK_ACCOUNTS, REQUEST_SEED},
    state::ComparisonRule,
};
use anchor_lang::prelude::*;

/// Where a request stands. Cancelled, expired and refunded requests are closed,
/// so those states live only in their events.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum RequestStatus {
    /// Waiting for an operator's commit (and, while uploading, for its input).
    Pending,
    /// A result is committed and its challenge window runs.
    Committed,
    /// The result is disputed and verifiers are voting.
    Challenged,
    /// The committed result stood: final, readable by consumers.
    Finalized,
    /// The challenger was upheld: the challenger's output replaced the
    /// operator's and is final, readable by consumers.
    Overturned,
}

/// One paid inference, PDA `["request", requester, nonce_le]`. Fixed-size
/// fields come first so that clients can filter on them at fixed offsets
/// (see `docs/decisions.md`); the input and output bytes come last.
#[account]
#[derive(InitSpace, Debug)]
pub struct InferenceRequest {
    /// Who paid, gets refunds and the rent back.
    pub requester: Pubkey,
    /// The model account.
    pub model: Pubkey,
    /// The model's SHA-256, copied for consumers and hashing.
    pub model_hash: [u8; 32],
    /// Requester-chosen nonce that makes the PDA unique.
    pub nonce: u64,
    /// Current state.
    pub status: RequestStatus,
    /// Fee held in escrow, in payment-token base units.
    pub fee: u64,
    /// Protocol fee at request time, so later config changes do not reprice it.
    pub protocol_fee_bps: u16,
    /// Publisher royalty at request time.
    pub royalty_bps: u16,
    /// Challenge window at request time.
    pub challenge_window_slots: u64,
    /// Slot the request was made.
    pub created_slot: u64,
    /// This request's number among its model's requests (1-based). A request
    /// address can be used again once its account is closed; the model and
    /// this number name one request instance forever, so its dispute and
    /// votes can never be taken over by a later request at the same address.
    pub sequence: u64,
    /// Last slot in which a result may be committed.
    pub deadline_slot: u64,
    /// Declared input length in bytes.
    pub input_len: u32,
    /// SHA-256 of the input once it is complete; zero while uploading.
    pub input_hash: [u8; 32],
    /// Largest output this request accepts (the model's bound at request time).
    pub max_output_bytes: u32,
    /// Operator account that committed the result (default until then).
    pub operator: Pubkey,
    /// Slot of the commit.
    pub committed_slot: u64,
    /// Last slot in which the result may be challenged.
    pub challenge_deadline_slot: u64,
    /// Output hash of the accepted output (see the protocol's hash definition).
    pub output_hash: [u8; 32],
    /// Consumer program called with the final result (default: none); see
    /// `callback.rs`.
    pub callback_program: Pubkey,
    /// Accounts the consumer named for its callback.
    pub callback_accounts: [Pubkey; MAX_CALLBACK_ACCOUNTS],
    /// How many of `callback_accounts` are used.
    pub callback_account_count: u8,
    /// Bit `i` set: `callback_accounts[i]` is passed writable.
    pub callback_writable: u8,
    /// Bump of this PDA.
    pub bump: u8,
    /// Bump of the escrow token account PDA.
    pub escrow_bump: u8,
    /// The requester's token account every refund of this request goes to,
    /// fixed when it was made (the account it paid from).
    pub refund_token: Pubkey,
    /// The model's comparison rule: what verifiers checked of the output,
    /// and so all a consumer may rely on (see `ComparisonRule::check_for`).
    pub comparison: ComparisonRule,
    /// Input bytes uploaded so far (complete when `input.len() == input_len`).
    #[max_len(0)]
    pub input: Vec<u8>,
    /// Canonical encoding of the accepted output.
    #[max_len(0)]
    pub output: Vec<u8>,
}

impl InferenceRequest {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = REQUEST_SEED;

    /// Account size for a request with this input length and output bound.
    pub fn space(input_len: u32, max_output_bytes: u32) -> usize {
        8 + Self::INIT_SPACE + input_len as usize + max_output_bytes as usize
    }

    /// Whether this account is the `sequence`-th request of its model:
    /// what an operator or challenger computed for one request instance
    /// must never land on another made at the same address.
    pub fn is_instance(&self, sequence: u64) -> bool {
        self.sequence == sequence
    }

    /// Whether the whole input has been uploaded.
    pub fn input_complete(&self) -> bool {
        self.input.len() == self.input_len as usize
    }

    /// Whether a consumer may act on this request's output.
    pub fn has_final_output(&self) -> bool {
        matches!(
            self.status,
            RequestStatus::Finalized | RequestStatus::Overturned
        )
    }
}

use crate::{
    constants::{
        INPUT_CHUNK_BYTES, MAX_CALLBACK_ACCOUNTS, MAX_INPUT_URI_LEN, MAX_MODEL_TENSORS,
        REQUEST_SEED, UPLOAD_SLOTS_PER_CHUNK,
    },
    state::{ComparisonRule, OutputView},
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
    /// The operator account that demanded a referenced input on chain
    /// (default: no demand). One demand per request, which bounds the delay.
    pub input_demanded_by: Pubkey,
    /// Last slot in which a demanded input may be completed on chain; after
    /// it, anyone may void the request. Back to 0 once the input is
    /// complete, so that a client watching heads alone sees it.
    pub input_upload_deadline_slot: u64,
    /// The input buffer holding a referenced input on chain, once one
    /// writer completed it with the declared bytes (default: none).
    pub input_buffer: Pubkey,
    /// SHA-256 of the whole canonical output whose result was accepted (the
    /// committer's, or the challenger's once upheld): where the output has
    /// views, the name it is served by off chain. It is its author's claim:
    /// verifiers judge the result, never this hash (float bits differ
    /// across CPUs); a client that fetches the whole output checks it
    /// against this hash and its projection against `output`.
    pub whole_output_sha256: [u8; 32],
    /// For a referee model, the committing operator's trace root: the tree
    /// over every node's output in topological order
    /// (`sibyl_sdk::referee::Graph::trace`); zero otherwise.
    pub trace_root: [u8; 32],
    /// Referee games open on the commitment: it becomes final only once
    /// every one is settled.
    pub open_games: u32,
    /// The model's comparison rule: what verifiers checked of the output,
    /// and so all a consumer may rely on (see `ComparisonRule::check_for`).
    pub comparison: ComparisonRule,
    /// The model's output views: what of each output `output` holds (empty:
    /// every output whole). See [`OutputView`].
    #[max_len(MAX_MODEL_TENSORS)]
    pub output_views: Vec<OutputView>,
    /// Where nodes fetch an input named by reference (https, or `file://`
    /// inside a node's base directory); empty when the input is on chain.
    /// The bytes must hash to `input_hash`.
    #[max_len(0)]
    pub input_uri: String,
    /// Input bytes carried on chain so far (complete when
    /// `input.len() == input_len`); empty for an input by reference, which
    /// goes into an input buffer account when a node demands it.
    #[max_len(0)]
    pub input: Vec<u8>,
    /// The accepted result: the canonical encoding of each output's view,
    /// in graph order (the whole output when every view is whole).
    #[max_len(0)]
    pub output: Vec<u8>,
}

impl InferenceRequest {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = REQUEST_SEED;

    /// Account size for a request whose URI (empty for an input on chain)
    /// and input bytes written so far take these lengths. The account grows
    /// with each `write_input` chunk, so it is created with only the bytes
    /// `request_inference` carries (an account a program creates may not
    /// exceed 10 KiB) and holds the whole output bound from the start (a
    /// commit never reallocates).
    pub fn space(uri_len: usize, input_written: usize, max_output_bytes: u32) -> usize {
        8 + Self::INIT_SPACE + uri_len + input_written + max_output_bytes as usize
    }

    /// Whether this account is the `sequence`-th request of its model:
    /// what an operator or challenger computed for one request instance
    /// must never land on another made at the same address.
    pub fn is_instance(&self, sequence: u64) -> bool {
        self.sequence == sequence
    }

    /// Whether the whole input is on chain: carried in this account, or
    /// in the input buffer a writer completed.
    pub fn input_complete(&self) -> bool {
        if self.is_by_reference() {
            self.input_buffer != Pubkey::default()
        } else {
            self.input.len() == self.input_len as usize
        }
    }

    /// Whether the input is named by hash and URI rather than carried.
    pub fn is_by_reference(&self) -> bool {
        !self.input_uri.is_empty()
    }

    /// Whether `uri` may name a referenced input: 1 to `MAX_INPUT_URI_LEN`
    /// bytes of printable ASCII without spaces, `https://` (nodes fetch it
    /// over the network), `file://` (a node reads it inside its base
    /// directory, for local use) or `http://` (which nodes fetch only where
    /// their operator allows it, as on a localnet). Nodes apply their own
    /// limits when they fetch; this only keeps garbage out of the account.
    pub fn is_valid_input_uri(uri: &str) -> bool {
        is_printable_uri(uri, &["https://", "http://", "file://"], MAX_INPUT_URI_LEN)
    }

    /// Whether a node has demanded the referenced input on chain.
    pub fn input_demanded(&self) -> bool {
        self.input_demanded_by != Pubkey::default()
    }

    /// Whether nodes are waiting for input bytes to be written on chain: an
    /// input carried in the account still uploading, or a demanded
    /// referenced input not yet complete in a buffer. Nothing is committed,
    /// challenged or finalized meanwhile (the challenge clock stops).
    pub fn awaiting_input(&self) -> bool {
        (!self.is_by_reference() && !self.input_complete()) || self.awaiting_demanded_input()
    }

    /// Whether a node demanded the referenced input and nobody has completed
    /// it on chain yet: the request neither expires nor moves on; it is
    /// written, or voided once `input_upload_deadline_slot` passes.
    pub fn awaiting_demanded_input(&self) -> bool {
        self.is_by_reference() && self.input_demanded() && !self.input_complete()
    }

    /// Whether a demanded input's upload window passed unmet at `slot`: the
    /// request may be voided.
    pub fn is_voidable(&self, slot: u64) -> bool {
        self.awaiting_demanded_input() && slot > self.input_upload_deadline_slot
    }

    /// The slots a demanded input of `input_len` bytes gets to be written:
    /// the commit timeout, plus `UPLOAD_SLOTS_PER_CHUNK` for each chunk of
    /// `INPUT_CHUNK_BYTES` (chunks land in order, one confirmed before the
    /// next is sent).
    pub fn upload_window_slots(request_timeout_slots: u64, input_len: u32) -> u64 {
        let chunks = u64::from(input_len.div_ceil(INPUT_CHUNK_BYTES));
        request_timeout_slots.saturating_add(chunks.saturating_mul(UPLOAD_SLOTS_PER_CHUNK))
    }

    /// Whether a consumer may act on this request's output.
    pub fn has_final_output(&self) -> bool {
        matches!(
            self.status,
            RequestStatus::Finalized | RequestStatus::Overturned
        )
    }
}

/// Whether `uri` is 1 to `max_len` bytes of printable ASCII without spaces,
/// starting with one of `schemes` and naming something after it: the rule
/// every URI the program stores is held to (a node applies its own limits
/// when it fetches; this only keeps garbage out of accounts).
pub fn is_printable_uri(uri: &str, schemes: &[&str], max_len: usize) -> bool {
    (1..=max_len).contains(&uri.len())
        && uri.bytes().all(|b| b.is_ascii_graphic())
        && schemes
            .iter()
            .any(|scheme| uri.len() > scheme.len() && uri.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed part of a request account (the web app's
    /// `REQUEST_FIXED_BYTES` mirrors it to show the rent before signing).
    #[test]
    fn a_request_account_holds_its_fixed_part_its_uri_its_input_and_its_output_bound() {
        assert_eq!(8 + InferenceRequest::INIT_SPACE, 8 + 702);
        assert_eq!(
            InferenceRequest::space(30, 100, 64),
            8 + 702 + 30 + 100 + 64
        );
    }

    #[test]
    fn an_input_uri_is_https_http_or_file_and_printable() {
        for uri in [
            "https://a/b",
            "http://127.0.0.1:8899/x.bin",
            "file://inputs/x.bin",
        ] {
            assert!(InferenceRequest::is_valid_input_uri(uri), "{uri}");
        }
        let long = format!("https://{}", "a".repeat(MAX_INPUT_URI_LEN));
        for uri in [
            "",
            "https://",
            "ftp://a/b",
            "https://a b",
            "https://a/\u{e9}",
            long.as_str(),
        ] {
            assert!(!InferenceRequest::is_valid_input_uri(uri), "{uri}");
        }
    }
}

//! What the library's unit tests share.
use anchor_lang::prelude::Pubkey;
use sibyl::state::{ComparisonRule, DType, InferenceRequest, Model, RequestStatus, TensorSpec};

/// A float32 spec of this name and shape.
pub fn float_spec(name: &str, shape: &[i64]) -> TensorSpec {
    TensorSpec {
        name: name.to_string(),
        dtype: DType::Float32,
        shape: shape.to_vec(),
    }
}

/// A model account with these specs (one input, one output), hash and
/// profile: 64-byte bounds, the exact rule, nothing else set.
pub fn model(input: TensorSpec, output: TensorSpec, hash: [u8; 32], profile: [u8; 32]) -> Model {
    Model {
        publisher: Default::default(),
        model_hash: hash,
        profile_id: profile,
        price: 1,
        royalty_bps: 0,
        max_input_bytes: 64,
        max_output_bytes: 64,
        comparison: ComparisonRule::Exact,
        challenge_window_override_slots: None,
        retired: false,
        request_count: 0,
        registered_slot: 0,
        bump: 0,
        fee_vault_bump: 0,
        payout_token: Default::default(),
        inputs: vec![input],
        outputs: vec![output],
        output_views: vec![],
        uri: String::new(),
        referee: None,
    }
}

/// A request in `status` for a model of hash `[1; 32]`: a 2-byte input,
/// a 64-byte output bound, the exact rule, nothing committed.
pub fn request(status: RequestStatus) -> InferenceRequest {
    InferenceRequest {
        requester: Pubkey::new_unique(),
        model: Pubkey::new_unique(),
        model_hash: [1; 32],
        nonce: 7,
        status,
        fee: 10,
        protocol_fee_bps: 250,
        royalty_bps: 1_000,
        challenge_window_slots: 25,
        created_slot: 3,
        sequence: 1,
        deadline_slot: 153,
        input_len: 2,
        input_hash: [2; 32],
        max_output_bytes: 64,
        operator: Pubkey::default(),
        committed_slot: 0,
        challenge_deadline_slot: 0,
        output_hash: [0; 32],
        callback_program: Pubkey::default(),
        callback_accounts: Default::default(),
        callback_account_count: 0,
        callback_writable: 0,
        bump: 255,
        escrow_bump: 254,
        refund_token: Pubkey::new_unique(),
        input_demanded_by: Pubkey::default(),
        input_upload_deadline_slot: 0,
        input_buffer: Pubkey::default(),
        trace_root: [0; 32],
        open_games: 0,
        whole_output_sha256: [0; 32],
        comparison: ComparisonRule::Exact,
        output_views: vec![],
        input_uri: String::new(),
        input: vec![1, 2],
        output: Vec::new(),
    }
}

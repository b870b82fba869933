//! What the library's unit tests share.
use sibyl::state::{ComparisonRule, DType, Model, TensorSpec};

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
        uri: String::new(),
    }
}

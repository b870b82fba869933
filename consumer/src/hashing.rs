//! The protocol's hashes, computed on-chain so that a stored hash always
//! matches the stored bytes.
use crate::constants::OUTPUT_HASH_DOMAIN;

/// SHA-256 of a request's input bytes.
pub fn input_hash(input: &[u8]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[input]).to_bytes()
}

/// SHA-256 of a whole canonical output: the name a node serves it by
/// (`GET /outputs/<hex>`) and a client checks it against.
pub fn whole_output_sha256(whole_output: &[u8]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[whole_output]).to_bytes()
}

/// The output hash: SHA-256 over the domain tag, the model hash, the input
/// hash and the canonical output encoding.
pub fn output_hash(model_hash: &[u8; 32], input_hash: &[u8; 32], output: &[u8]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[OUTPUT_HASH_DOMAIN, model_hash, input_hash, output]).to_bytes()
}

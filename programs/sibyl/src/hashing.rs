//! The protocol's hashes, computed on-chain so that a stored hash always
//! matches the stored bytes.
pub use sibyl_sdk::hashing::{input_hash, output_hash, whole_output_sha256};

use crate::{constants::VOTE_COMMITMENT_DOMAIN, state::VoteSide};
use anchor_lang::prelude::Pubkey;

/// A vote commitment: SHA-256 over the domain tag, the dispute, the voting
/// operator account, the side and a secret salt. Binding the dispute and
/// the voter means a commitment copied from another voter can never be
/// revealed by the copier, even once the original is revealed.
pub fn vote_commitment(
    dispute: &Pubkey,
    operator: &Pubkey,
    side: VoteSide,
    salt: &[u8; 32],
) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[
        VOTE_COMMITMENT_DOMAIN,
        dispute.as_ref(),
        operator.as_ref(),
        &[side as u8],
        salt,
    ])
    .to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vote_commitment_binds_dispute_voter_side_and_salt() {
        let (dispute, voter) = (
            Pubkey::new_from_array([1; 32]),
            Pubkey::new_from_array([2; 32]),
        );
        let other = Pubkey::new_from_array([3; 32]);
        let base = vote_commitment(&dispute, &voter, VoteSide::Neither, &[4; 32]);
        assert_ne!(
            base,
            vote_commitment(&other, &voter, VoteSide::Neither, &[4; 32])
        );
        assert_ne!(
            base,
            vote_commitment(&dispute, &other, VoteSide::Neither, &[4; 32])
        );
        assert_ne!(
            base,
            vote_commitment(&dispute, &voter, VoteSide::Operator, &[4; 32])
        );
        assert_ne!(
            base,
            vote_commitment(&dispute, &voter, VoteSide::Neither, &[5; 32])
        );
    }

    #[test]
    fn output_hash_binds_model_input_and_output() {
        let base = output_hash(&[1; 32], &[2; 32], b"out");
        assert_ne!(base, output_hash(&[9; 32], &[2; 32], b"out"));
        assert_ne!(base, output_hash(&[1; 32], &[9; 32], b"out"));
        assert_ne!(base, output_hash(&[1; 32], &[2; 32], b"ouT"));
        assert_eq!(base, output_hash(&[1; 32], &[2; 32], b"out"));
    }

    #[test]
    fn input_hash_is_plain_sha256() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(input_hash(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}

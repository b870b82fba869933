use super::VoteSide;
use crate::constants::VOTE_SEED;
use anchor_lang::prelude::*;

/// One verifier's vote in one dispute, PDA `["vote", dispute, operator]`.
/// The PDA makes a second vote by the same operator impossible.
#[account]
#[derive(InitSpace, Debug)]
pub struct Vote {
    /// The dispute voted in.
    pub dispute: Pubkey,
    /// The voting operator account.
    pub operator: Pubkey,
    /// The side backed.
    pub side: VoteSide,
    /// The operator's active stake when it voted; zero means not cast yet.
    pub weight: u64,
    /// Output hash the verifier obtained on re-execution (informational).
    pub output_hash: [u8; 32],
    /// Slot of the vote.
    pub cast_slot: u64,
    /// Bump of this PDA.
    pub bump: u8,
}

impl Vote {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = VOTE_SEED;
}

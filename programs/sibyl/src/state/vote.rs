use super::{Dispute, VoteSide};
use crate::constants::VOTE_SEED;
use anchor_lang::prelude::*;

/// One verifier's vote in one dispute, PDA `["vote", dispute, operator]`.
/// The PDA makes a second vote by the same operator impossible. A vote is
/// committed as a hash while the vote window runs and revealed after it, so
/// nobody can copy a verdict before casting their own.
#[account]
#[derive(InitSpace, Debug)]
pub struct Vote {
    /// The dispute voted in.
    pub dispute: Pubkey,
    /// The voting operator account.
    pub operator: Pubkey,
    /// `hashing::vote_commitment` of the side and a secret salt.
    pub commitment: [u8; 32],
    /// Whether the vote was revealed (only then do `side` and
    /// `output_hash` mean anything, and does its weight count).
    pub revealed: bool,
    /// The side backed, once revealed.
    pub side: VoteSide,
    /// The stake the operator had bonded before the dispute opened; zero
    /// means not cast yet.
    pub weight: u64,
    /// Output hash the verifier obtained on re-execution (informational).
    pub output_hash: [u8; 32],
    /// Slot of the commitment.
    pub cast_slot: u64,
    /// Bump of this PDA.
    pub bump: u8,
}

impl Vote {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = VOTE_SEED;

    /// Whether this vote costs its operator a penalty once `dispute` is
    /// settled: it was never revealed, or it backed a side the decided
    /// outcome went against. A dispute refunded without a decision
    /// penalizes only the unrevealed.
    pub fn is_penalized(&self, dispute: &Dispute) -> bool {
        if !self.revealed {
            return true;
        }
        dispute.is_decided() && !dispute.vote_won(self.side)
    }
}

use crate::{constants::OPERATOR_SEED, errors::SibylError, math};
use anchor_lang::prelude::*;

/// A staked oracle operator, PDA `["operator", authority]`. Its `stake` is the
/// active stake (counted in `Config::total_active_stake`); stake being unbonded
/// sits in `pending_unstake` and can still be slashed.
#[account]
#[derive(InitSpace, Debug)]
pub struct Operator {
    /// The wallet that runs the node and owns the stake.
    pub authority: Pubkey,
    /// Active stake.
    pub stake: u64,
    /// Stake waiting out the unbonding period.
    pub pending_unstake: u64,
    /// Slot from which the pending unstake can be withdrawn.
    pub unstake_unlock_slot: u64,
    /// Committed results not yet settled.
    pub open_commitments: u32,
    /// Votes cast in disputes whose vote record has not been claimed.
    pub open_votes: u32,
    /// Results of this operator that were paid.
    pub requests_served: u64,
    /// Disputes over this operator's results that it won.
    pub disputes_won: u32,
    /// Disputes over this operator's results that it lost.
    pub disputes_lost: u32,
    /// Slot of registration.
    pub registered_slot: u64,
    /// Bump of this PDA.
    pub bump: u8,
}

impl Operator {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = OPERATOR_SEED;

    /// Whether this operator may commit and vote.
    pub fn is_eligible(&self, min_operator_stake: u64) -> bool {
        self.stake >= min_operator_stake
    }

    /// Records a new open commitment.
    pub fn open_commitment(&mut self) -> Result<()> {
        self.open_commitments = self
            .open_commitments
            .checked_add(1)
            .ok_or_else(|| error!(SibylError::MathOverflow))?;
        Ok(())
    }

    /// Records that one commitment was settled.
    pub fn close_commitment(&mut self) -> Result<()> {
        self.open_commitments = self
            .open_commitments
            .checked_sub(1)
            .ok_or_else(|| error!(SibylError::MathOverflow))?;
        Ok(())
    }

    /// Takes `slash_bps` of all stake (active first, then pending unstake).
    /// Returns `(total slashed, of which active)`.
    pub fn slash(&mut self, slash_bps: u16) -> Result<(u64, u64)> {
        let slashable = math::add(self.stake, self.pending_unstake)?;
        let slashed = math::bps_of(slashable, slash_bps)?;
        let from_active = slashed.min(self.stake);
        self.stake = math::sub(self.stake, from_active)?;
        self.pending_unstake = math::sub(self.pending_unstake, slashed - from_active)?;
        Ok((slashed, from_active))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(stake: u64, pending: u64) -> Operator {
        Operator {
            authority: Pubkey::default(),
            stake,
            pending_unstake: pending,
            unstake_unlock_slot: 0,
            open_commitments: 0,
            open_votes: 0,
            requests_served: 0,
            disputes_won: 0,
            disputes_lost: 0,
            registered_slot: 0,
            bump: 0,
        }
    }

    #[test]
    fn slash_takes_active_stake_first_then_pending() {
        let mut op = operator(100, 900);
        assert_eq!(op.slash(5_000).unwrap(), (500, 100));
        assert_eq!((op.stake, op.pending_unstake), (0, 500));
    }

    #[test]
    fn slash_of_active_only_leaves_pending() {
        let mut op = operator(1_000, 10);
        assert_eq!(op.slash(1_000).unwrap(), (101, 101));
        assert_eq!((op.stake, op.pending_unstake), (899, 10));
    }
}

use crate::{
    constants::{MAX_URI_LEN, OPERATOR_SEED},
    errors::SibylError,
    math,
};
use anchor_lang::prelude::*;

/// Stake added at one slot, remembered so that a vote in a dispute opened
/// before it is not weighed with it.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct StakeIncrease {
    pub slot: u64,
    /// Zero: an unused entry.
    pub amount: u64,
}

/// How many recent stake increases an operator remembers; older ones fold
/// into the next (see [`Operator::record_stake_increase`]).
pub const STAKE_INCREASES: usize = 4;

/// A staked oracle operator, PDA `["operator", authority]`. Its `stake` is the
/// active stake (counted in `Config::total_active_stake`); stake being unbonded
/// sits in `pending_unstake` and can still be slashed.
#[account]
#[derive(InitSpace, Debug)]
pub struct Operator {
    /// The node's hot key: commits results, votes and adds stake.
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
    /// Votes this operator has cast in others' disputes.
    pub votes_cast: u64,
    /// Slot of registration.
    pub registered_slot: u64,
    /// The latest stake increases (registration included), so that a vote
    /// weighs only stake bonded before its dispute opened.
    pub stake_increases: [StakeIncrease; STAKE_INCREASES],
    /// The token account settlements pay the operator into (fees, forfeited
    /// bonds, vote rewards) and withdrawn stake goes to.
    pub payout_token: Pubkey,
    /// The owner of `payout_token`: the wallet the operator is paid to, and
    /// the only one that may unbond the stake or change where the operator
    /// is paid. It may be another wallet than `authority` (it signed to
    /// consent), so that a stolen node key cannot withdraw the stake or the
    /// pay (it can still lose the stake to slashing; see docs/security.md).
    pub payout_authority: Pubkey,
    /// Bump of this PDA.
    pub bump: u8,
    /// Base URL the operator's node serves whole outputs from, `GET
    /// <url>/outputs/<sha256 hex>` (empty: none). Outputs are named by
    /// their hash, so a client may fetch one from any operator and checks
    /// it.
    #[max_len(MAX_URI_LEN)]
    pub output_url: String,
}

impl Operator {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = OPERATOR_SEED;

    /// Whether `url` may be an output URL: empty (none), or 1 to
    /// [`MAX_URI_LEN`] bytes of printable ASCII without spaces, starting
    /// `https://` or `http://` (for localnets).
    pub fn is_valid_output_url(url: &str) -> bool {
        url.is_empty() || super::is_printable_uri(url, &["https://", "http://"], MAX_URI_LEN)
    }

    /// Whether `signer` may withdraw this operator's unbonded stake (into
    /// its payout account, whoever signs): the node key or the payout wallet.
    pub fn is_managed_by(&self, signer: &Pubkey) -> bool {
        *signer == self.authority || *signer == self.payout_authority
    }

    /// Whether this operator has nothing a settlement still waits on.
    pub fn require_settled(&self) -> Result<()> {
        require!(self.open_commitments == 0, SibylError::OpenCommitments);
        require!(self.open_votes == 0, SibylError::OpenVotes);
        Ok(())
    }

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

    /// Adds `amount` of active stake at `slot` and remembers the increase.
    pub fn add_stake(&mut self, slot: u64, amount: u64) -> Result<()> {
        self.stake = math::add(self.stake, amount)?;
        self.record_stake_increase(slot, amount)
    }

    /// Remembers an increase. When every entry is taken, the oldest folds
    /// into the next oldest, which keeps its later slot: the older stake then
    /// counts as added later, which can only lower a vote's weight, never
    /// raise it.
    fn record_stake_increase(&mut self, slot: u64, amount: u64) -> Result<()> {
        let entries = &mut self.stake_increases;
        if let Some(entry) = entries
            .iter_mut()
            .find(|entry| entry.amount > 0 && entry.slot == slot)
        {
            entry.amount = math::add(entry.amount, amount)?;
            return Ok(());
        }
        if let Some(entry) = entries.iter_mut().find(|entry| entry.amount == 0) {
            *entry = StakeIncrease { slot, amount };
            return Ok(());
        }
        entries.sort_unstable_by_key(|entry| entry.slot);
        let [oldest, next, ..] = entries;
        // Saturating: a fold past u64 only lowers a weight further.
        next.amount = next.amount.saturating_add(oldest.amount);
        *oldest = StakeIncrease { slot, amount };
        Ok(())
    }

    /// The active stake this operator held before `slot` and still holds:
    /// its vote weight in a dispute opened at `slot`. Stake added at or
    /// after `slot` (flash stake) does not count; stake since unbonded or
    /// slashed does not either.
    pub fn stake_bonded_before(&self, slot: u64) -> u64 {
        let added_since = self
            .stake_increases
            .iter()
            .filter(|entry| entry.slot >= slot)
            .fold(0u64, |sum, entry| sum.saturating_add(entry.amount));
        self.stake.saturating_sub(added_since)
    }

    /// Takes `slash_bps` of all stake (active first, then pending unstake).
    /// Returns `(total slashed, of which active)`.
    pub fn slash(&mut self, slash_bps: u16) -> Result<(u64, u64)> {
        let slashable = math::add(self.stake, self.pending_unstake)?;
        self.take_stake(math::bps_of(slashable, slash_bps)?)
    }

    /// Takes up to `amount` of all stake (active first, then pending
    /// unstake). Returns `(total taken, of which active)`.
    pub fn take_stake(&mut self, amount: u64) -> Result<(u64, u64)> {
        let taken = amount.min(math::add(self.stake, self.pending_unstake)?);
        let from_active = taken.min(self.stake);
        self.stake = math::sub(self.stake, from_active)?;
        self.pending_unstake = math::sub(self.pending_unstake, taken - from_active)?;
        Ok((taken, from_active))
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
            votes_cast: 0,
            registered_slot: 0,
            stake_increases: Default::default(),
            payout_token: Pubkey::default(),
            payout_authority: Pubkey::default(),
            bump: 0,
            output_url: String::new(),
        }
    }

    #[test]
    fn an_output_url_is_none_or_http_and_printable() {
        for url in ["", "https://node.example/sibyl", "http://127.0.0.1:9464"] {
            assert!(Operator::is_valid_output_url(url), "{url}");
        }
        let long = format!("https://{}", "a".repeat(MAX_URI_LEN));
        for url in [
            "https://",
            "file://x",
            "ftp://a",
            "https://a b",
            long.as_str(),
        ] {
            assert!(!Operator::is_valid_output_url(url), "{url}");
        }
    }

    #[test]
    fn stake_added_at_or_after_a_slot_does_not_count_before_it() {
        let mut op = operator(0, 0);
        op.add_stake(10, 100).unwrap();
        op.add_stake(20, 50).unwrap();
        assert_eq!(op.stake_bonded_before(10), 0);
        assert_eq!(op.stake_bonded_before(11), 100);
        assert_eq!(op.stake_bonded_before(20), 100);
        assert_eq!(op.stake_bonded_before(21), 150);
        // Unbonding lowers the weight; it never goes below zero.
        op.stake = 40;
        assert_eq!(op.stake_bonded_before(15), 0);
        assert_eq!(op.stake_bonded_before(21), 40);
    }

    #[test]
    fn folded_increases_never_raise_a_weight() {
        let mut op = operator(0, 0);
        for slot in 1..=10u64 {
            op.add_stake(slot * 10, 1).unwrap();
        }
        assert_eq!(op.stake, 10);
        for slot in 0..=110u64 {
            let exact = (1..=10u64).filter(|s| s * 10 < slot).count() as u64;
            assert!(op.stake_bonded_before(slot) <= exact, "slot {slot}");
        }
        assert_eq!(op.stake_bonded_before(101), 10);
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

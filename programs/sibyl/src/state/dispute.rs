use crate::{constants::DISPUTE_SEED, errors::SibylError, math};
use anchor_lang::prelude::*;

/// The state of a dispute.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum DisputeOutcome {
    /// Verifiers are voting.
    Open,
    /// The committed output stood; the challenger lost its bond.
    OperatorUpheld,
    /// The challenger's output replaced the operator's; the operator was slashed.
    ChallengerUpheld,
    /// No quorum or no side reached the threshold; awaiting arbitration.
    Inconclusive,
    /// Arbitration did not come in time: the requester was refunded, the bond returned.
    Refunded,
}

/// Which side a vote backs.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum VoteSide {
    /// The committed output is correct under the model's comparison rule.
    Operator,
    /// The challenger's output is correct.
    Challenger,
}

/// A challenge to a committed result, PDA `["dispute", model, sequence]`:
/// bound to one request instance (see [`crate::state::InferenceRequest::sequence`]).
#[account]
#[derive(InitSpace, Debug)]
pub struct Dispute {
    /// The disputed request.
    pub request: Pubkey,
    /// The request's model.
    pub model: Pubkey,
    /// The request's [`crate::state::InferenceRequest::sequence`].
    pub request_sequence: u64,
    /// The operator account whose result is disputed.
    pub operator: Pubkey,
    /// Who challenged, posted the bond and paid this account's rent.
    pub challenger: Pubkey,
    /// Bond held in the bond vault.
    pub bond: u64,
    /// Slot the dispute opened.
    pub opened_slot: u64,
    /// Last slot in which votes are accepted.
    pub vote_deadline_slot: u64,
    /// Active stake that may vote (total active stake less the operator's) at opening.
    pub eligible_stake: u64,
    /// Quorum at opening, bps of eligible stake.
    pub quorum_bps: u16,
    /// Threshold at opening, bps of stake voted.
    pub threshold_bps: u16,
    /// Voter share of the forfeit at opening.
    pub voter_reward_bps: u16,
    /// Share of the operator's stake slashed if the challenger is upheld, at opening.
    pub slash_bps: u16,
    /// Stake voted for the operator.
    pub stake_for_operator: u64,
    /// Stake voted for the challenger.
    pub stake_for_challenger: u64,
    /// Votes cast.
    pub vote_count: u32,
    /// Vote records not yet claimed; the dispute closes when this reaches zero
    /// after settlement.
    pub unclaimed_votes: u32,
    /// Current state.
    pub outcome: DisputeOutcome,
    /// Last slot for arbitration (set when the vote is inconclusive).
    pub arbitration_deadline_slot: u64,
    /// Tokens in the bond vault owed to winning voters.
    pub reward_pool: u64,
    /// Winning stake whose voters have not yet claimed their share.
    pub reward_stake_unclaimed: u64,
    /// Output hash of the challenger's output.
    pub challenger_output_hash: [u8; 32],
    /// Bump of this PDA.
    pub bump: u8,
    /// The challenger's output (canonical encoding).
    #[max_len(0)]
    pub challenger_output: Vec<u8>,
}

impl Dispute {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = DISPUTE_SEED;

    /// Account size for a challenger output of at most `max_output_bytes`.
    pub fn space(max_output_bytes: u32) -> usize {
        8 + Self::INIT_SPACE + max_output_bytes as usize
    }

    /// The winner if the votes already decide it, whatever the stake that has
    /// not voted yet would do; or, once the window has closed, the outcome of
    /// the votes cast (possibly `Inconclusive`).
    pub fn tally(&self, vote_window_closed: bool) -> Result<Option<DisputeOutcome>> {
        let cast = math::add(self.stake_for_operator, self.stake_for_challenger)?;
        let quorum = math::reaches_bps(cast, self.eligible_stake, self.quorum_bps);
        let not_yet_voted = self.eligible_stake.saturating_sub(cast);
        let most_possible = math::add(cast, not_yet_voted)?;
        // A side has won for certain when it holds the threshold even if every
        // remaining eligible stake voted against it.
        let certain =
            |side: u64| quorum && math::reaches_bps(side, most_possible, self.threshold_bps);
        if certain(self.stake_for_operator) && self.stake_for_operator > 0 {
            return Ok(Some(DisputeOutcome::OperatorUpheld));
        }
        if certain(self.stake_for_challenger) && self.stake_for_challenger > 0 {
            return Ok(Some(DisputeOutcome::ChallengerUpheld));
        }
        if !vote_window_closed {
            return Ok(None);
        }
        let wins =
            |side: u64| quorum && side > 0 && math::reaches_bps(side, cast, self.threshold_bps);
        Ok(Some(if wins(self.stake_for_operator) {
            DisputeOutcome::OperatorUpheld
        } else if wins(self.stake_for_challenger) {
            DisputeOutcome::ChallengerUpheld
        } else {
            DisputeOutcome::Inconclusive
        }))
    }

    /// Stake that voted for `side`.
    pub fn stake_for(&self, side: VoteSide) -> u64 {
        match side {
            VoteSide::Operator => self.stake_for_operator,
            VoteSide::Challenger => self.stake_for_challenger,
        }
    }

    /// The side that won, if the dispute was decided for one.
    pub fn winning_side(&self) -> Option<VoteSide> {
        match self.outcome {
            DisputeOutcome::OperatorUpheld => Some(VoteSide::Operator),
            DisputeOutcome::ChallengerUpheld => Some(VoteSide::Challenger),
            _ => None,
        }
    }

    /// Whether the dispute has reached a final outcome.
    pub fn is_settled(&self) -> bool {
        matches!(
            self.outcome,
            DisputeOutcome::OperatorUpheld
                | DisputeOutcome::ChallengerUpheld
                | DisputeOutcome::Refunded
        )
    }

    /// Of `forfeit`, the part reserved for the voters of the winning side (zero
    /// if nobody voted for it). Records it as the reward pool.
    pub fn reserve_voter_rewards(&mut self, forfeit: u64, winner: VoteSide) -> Result<u64> {
        let winning_stake = self.stake_for(winner);
        let pool = if winning_stake == 0 {
            0
        } else {
            math::bps_of(forfeit, self.voter_reward_bps)?
        };
        self.reward_pool = pool;
        self.reward_stake_unclaimed = winning_stake;
        Ok(pool)
    }

    /// Pays out one winning vote's share of the pool; the last claimant gets
    /// the remainder, so the pool is paid to the base unit.
    pub fn take_reward_share(&mut self, weight: u64) -> Result<u64> {
        require!(
            weight <= self.reward_stake_unclaimed,
            SibylError::MathOverflow
        );
        let share = math::pro_rata(self.reward_pool, weight, self.reward_stake_unclaimed)?;
        self.reward_pool = math::sub(self.reward_pool, share)?;
        self.reward_stake_unclaimed = math::sub(self.reward_stake_unclaimed, weight)?;
        Ok(share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispute(eligible: u64, for_op: u64, for_ch: u64) -> Dispute {
        Dispute {
            request: Pubkey::default(),
            model: Pubkey::default(),
            request_sequence: 0,
            operator: Pubkey::default(),
            challenger: Pubkey::default(),
            bond: 0,
            opened_slot: 0,
            vote_deadline_slot: 0,
            eligible_stake: eligible,
            quorum_bps: 5_000,
            threshold_bps: 6_667,
            voter_reward_bps: 5_000,
            slash_bps: 1_000,
            stake_for_operator: for_op,
            stake_for_challenger: for_ch,
            vote_count: 0,
            unclaimed_votes: 0,
            outcome: DisputeOutcome::Open,
            arbitration_deadline_slot: 0,
            reward_pool: 0,
            reward_stake_unclaimed: 0,
            challenger_output_hash: [0; 32],
            bump: 0,
            challenger_output: vec![],
        }
    }

    #[test]
    fn early_decision_only_when_remaining_stake_cannot_flip_it() {
        // 60 of 100 voted for the operator: 40 more against would make 60/100 < 66.67%.
        assert_eq!(dispute(100, 60, 0).tally(false).unwrap(), None);
        // 70 of 100: even 30 against leaves 70%.
        assert_eq!(
            dispute(100, 70, 0).tally(false).unwrap(),
            Some(DisputeOutcome::OperatorUpheld)
        );
        assert_eq!(
            dispute(100, 0, 67).tally(false).unwrap(),
            Some(DisputeOutcome::ChallengerUpheld)
        );
    }

    #[test]
    fn after_the_window_quorum_and_threshold_decide() {
        assert_eq!(
            dispute(100, 40, 10).tally(true).unwrap(),
            Some(DisputeOutcome::OperatorUpheld)
        );
        // Below quorum (40% voted).
        assert_eq!(
            dispute(100, 40, 0).tally(true).unwrap(),
            Some(DisputeOutcome::Inconclusive)
        );
        // Quorum but split below threshold.
        assert_eq!(
            dispute(100, 30, 30).tally(true).unwrap(),
            Some(DisputeOutcome::Inconclusive)
        );
        // No eligible stake at all: nobody can decide.
        assert_eq!(
            dispute(0, 0, 0).tally(true).unwrap(),
            Some(DisputeOutcome::Inconclusive)
        );
    }

    #[test]
    fn reward_shares_sum_to_the_pool() {
        let mut d = dispute(100, 3, 0);
        d.outcome = DisputeOutcome::OperatorUpheld;
        assert_eq!(
            d.reserve_voter_rewards(1_001, VoteSide::Operator).unwrap(),
            500
        );
        let shares: Vec<u64> = [1, 1, 1]
            .iter()
            .map(|&w| d.take_reward_share(w).unwrap())
            .collect();
        assert_eq!(shares.iter().sum::<u64>(), 500);
        assert_eq!(d.reward_pool, 0);
    }
}

use crate::{constants::DISPUTE_SEED, errors::SibylError, math, state::Operator};
use anchor_lang::prelude::*;

/// The state of a dispute.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum DisputeOutcome {
    /// Verifiers are committing votes, then revealing them.
    Open,
    /// The committed output stood; the challenger lost its bond.
    OperatorUpheld,
    /// The challenger's output replaced the operator's; the operator was slashed.
    ChallengerUpheld,
    /// No quorum or no side reached the threshold; awaiting arbitration.
    Inconclusive,
    /// Arbitration did not come in time: the requester was refunded, the bond returned.
    Refunded,
    /// The committed output was wrong, and so was the challenger's (a decoy,
    /// or an honest challenger whose output the verifiers could not confirm):
    /// the operator was slashed, the requester refunded, the bond returned.
    CommitmentRejected,
}

/// Which verdict a vote gives. `Challenger` and `Neither` both say the
/// committed output is wrong: together they decide against the operator,
/// whatever output the challenger posted, so a decoy challenge with another
/// wrong output cannot shield a wrong commitment.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum VoteSide {
    /// The committed output is correct under the model's comparison rule.
    Operator,
    /// The committed output is wrong and the challenger's is correct.
    Challenger,
    /// The committed output is wrong, and so is the challenger's.
    Neither,
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
    /// Last slot in which votes are committed; they are revealed after it.
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
    /// Stake voted for the challenger's output.
    pub stake_for_challenger: u64,
    /// Stake voted that neither output is correct.
    pub stake_for_neither: u64,
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
    /// SHA-256 of the challenger's whole output (its claim, as the
    /// operator's is), which the request takes if the challenger is upheld.
    pub challenger_whole_output_sha256: [u8; 32],
    /// The challenger's token account its bond and winnings go back to (the
    /// one the bond came from).
    pub challenger_token: Pubkey,
    /// Last slot in which committed votes may be revealed.
    pub reveal_deadline_slot: u64,
    /// Weight of the votes committed; a vote's weight counts for its side
    /// only once revealed (`stake_for_*`).
    pub stake_committed: u64,
    /// Slot the votes left the dispute inconclusive (0 until then).
    pub inconclusive_slot: u64,
    /// Bump of this PDA.
    pub bump: u8,
    /// The challenger's result (canonical encoding).
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

    /// Whether the operator account `operator_key`, or the wallet
    /// `authority`, is a party to this dispute: the committing operator or
    /// the challenger.
    pub fn is_party(&self, operator_key: &Pubkey, authority: &Pubkey) -> bool {
        *operator_key == self.operator || *authority == self.challenger
    }

    /// The weight `operator` (the account at `operator_key`, signed for by
    /// `authority`) may vote with in this dispute, or why it may not: a
    /// party (the committing operator or the challenger) never votes, an
    /// operator registered once the dispute was known cannot, and only
    /// stake bonded before the dispute opened weighs (stake added once the
    /// dispute is known cannot decide it). The node asks the same question
    /// before it re-executes.
    pub fn voting_weight(
        &self,
        operator_key: &Pubkey,
        operator: &Operator,
        authority: &Pubkey,
    ) -> Result<u64> {
        require!(
            !self.is_party(operator_key, authority),
            SibylError::PartyCannotVote
        );
        require!(
            operator.registered_slot < self.opened_slot,
            SibylError::VoterRegisteredTooLate
        );
        let weight = operator.stake_bonded_before(self.opened_slot);
        require!(weight > 0, SibylError::NoVotingWeight);
        Ok(weight)
    }

    /// Stake that voted the committed output wrong (for the challenger's
    /// output, or for neither).
    pub fn stake_against_operator(&self) -> Result<u64> {
        math::add(self.stake_for_challenger, self.stake_for_neither)
    }

    /// The outcome if the revealed votes already decide it, whatever the
    /// committed votes not yet revealed would say; or, once the reveal
    /// window has closed (or every commitment is revealed), the outcome of
    /// the revealed votes (possibly `Inconclusive`). `resolve_dispute` only
    /// ever asks for the final tally (`true`), so that a slower honest voter
    /// can still reveal; the early answer is kept for the bound it proves
    /// (the unit tests: an early outcome never differs from the final one).
    ///
    /// Two questions, each by the threshold: is the committed output right
    /// (votes for the operator against all others)? If not, is the
    /// challenger's output right (its votes against those for neither)?
    pub fn tally(&self, reveal_window_closed: bool) -> Result<Option<DisputeOutcome>> {
        let against = self.stake_against_operator()?;
        let cast = math::add(self.stake_for_operator, against)?;
        let quorum = math::reaches_bps(cast, self.eligible_stake, self.quorum_bps);
        let not_yet_voted = self.stake_committed.saturating_sub(cast);
        let threshold = self.threshold_bps;
        // Early: a verdict holds the threshold even if every remaining
        // eligible stake voted the other way.
        let most_possible = math::add(cast, not_yet_voted)?;
        if quorum
            && self.stake_for_operator > 0
            && math::reaches_bps(self.stake_for_operator, most_possible, threshold)
        {
            return Ok(Some(DisputeOutcome::OperatorUpheld));
        }
        if quorum && against > 0 && math::reaches_bps(against, most_possible, threshold) {
            let against_possible = math::add(against, not_yet_voted)?;
            if math::reaches_bps(self.stake_for_challenger, against_possible, threshold) {
                return Ok(Some(DisputeOutcome::ChallengerUpheld));
            }
            let challenger_possible = math::add(self.stake_for_challenger, not_yet_voted)?;
            if !math::reaches_bps(challenger_possible, against_possible, threshold) {
                return Ok(Some(DisputeOutcome::CommitmentRejected));
            }
        }
        if !reveal_window_closed {
            return Ok(None);
        }
        let wins = |stake: u64| quorum && stake > 0 && math::reaches_bps(stake, cast, threshold);
        Ok(Some(if wins(self.stake_for_operator) {
            DisputeOutcome::OperatorUpheld
        } else if wins(against) {
            if math::reaches_bps(self.stake_for_challenger, against, threshold) {
                DisputeOutcome::ChallengerUpheld
            } else {
                DisputeOutcome::CommitmentRejected
            }
        } else {
            DisputeOutcome::Inconclusive
        }))
    }

    /// Records a vote's weight for its verdict.
    pub fn count_vote(&mut self, side: VoteSide, weight: u64) -> Result<()> {
        let tally = match side {
            VoteSide::Operator => &mut self.stake_for_operator,
            VoteSide::Challenger => &mut self.stake_for_challenger,
            VoteSide::Neither => &mut self.stake_for_neither,
        };
        *tally = math::add(*tally, weight)?;
        Ok(())
    }

    /// Whether a vote for `side` backed the decided outcome (and shares the
    /// voters' reward): the operator's side when it was upheld, the
    /// challenger's when its output won, and every vote against the
    /// commitment when it was rejected.
    pub fn vote_won(&self, side: VoteSide) -> bool {
        match self.outcome {
            DisputeOutcome::OperatorUpheld => side == VoteSide::Operator,
            DisputeOutcome::ChallengerUpheld => side == VoteSide::Challenger,
            DisputeOutcome::CommitmentRejected => side != VoteSide::Operator,
            _ => false,
        }
    }

    /// The stake of the votes that won under the decided outcome.
    pub fn winning_stake(&self) -> Result<u64> {
        Ok(match self.outcome {
            DisputeOutcome::OperatorUpheld => self.stake_for_operator,
            DisputeOutcome::ChallengerUpheld => self.stake_for_challenger,
            DisputeOutcome::CommitmentRejected => self.stake_against_operator()?,
            _ => 0,
        })
    }

    /// The last slot in which an arbitration must deliver the consumer's
    /// callback: the grace period after the dispute became inconclusive, or
    /// half its arbitration window if that is shorter, so that the
    /// authority can always decide before the deadline.
    pub fn arbitration_grace_end(&self) -> u64 {
        let window = self
            .arbitration_deadline_slot
            .saturating_sub(self.inconclusive_slot);
        crate::callback::grace_end(self.inconclusive_slot)
            .min(self.inconclusive_slot.saturating_add(window / 2))
    }

    /// Whether every committed vote has been revealed.
    pub fn all_revealed(&self) -> Result<bool> {
        Ok(
            math::add(self.stake_for_operator, self.stake_against_operator()?)?
                >= self.stake_committed,
        )
    }

    /// Whether the dispute was decided for one side (by votes or arbitration).
    pub fn is_decided(&self) -> bool {
        matches!(
            self.outcome,
            DisputeOutcome::OperatorUpheld
                | DisputeOutcome::ChallengerUpheld
                | DisputeOutcome::CommitmentRejected
        )
    }

    /// Whether the dispute has reached a final outcome.
    pub fn is_settled(&self) -> bool {
        matches!(
            self.outcome,
            DisputeOutcome::OperatorUpheld
                | DisputeOutcome::ChallengerUpheld
                | DisputeOutcome::CommitmentRejected
                | DisputeOutcome::Refunded
        )
    }

    /// Of `forfeit`, the part reserved for the winning voters under the
    /// decided `outcome` (zero if nobody voted for it). Records the outcome
    /// and the pool.
    pub fn reserve_voter_rewards(&mut self, forfeit: u64, outcome: DisputeOutcome) -> Result<u64> {
        self.outcome = outcome;
        let winning_stake = self.winning_stake()?;
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
            stake_for_neither: 0,
            vote_count: 0,
            unclaimed_votes: 0,
            outcome: DisputeOutcome::Open,
            arbitration_deadline_slot: 0,
            reward_pool: 0,
            reward_stake_unclaimed: 0,
            challenger_output_hash: [0; 32],
            challenger_whole_output_sha256: [0; 32],
            challenger_token: Pubkey::default(),
            reveal_deadline_slot: 0,
            // Every eligible operator committed: what is not revealed may still be.
            stake_committed: eligible,
            inconclusive_slot: 0,
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
            d.reserve_voter_rewards(1_001, DisputeOutcome::OperatorUpheld)
                .unwrap(),
            500
        );
        let shares: Vec<u64> = [1, 1, 1]
            .iter()
            .map(|&w| d.take_reward_share(w).unwrap())
            .collect();
        assert_eq!(shares.iter().sum::<u64>(), 500);
        assert_eq!(d.reward_pool, 0);
    }

    fn with_neither(mut dispute: Dispute, neither: u64) -> Dispute {
        dispute.stake_for_neither = neither;
        dispute
    }

    #[test]
    fn votes_for_neither_count_against_the_commitment() {
        // A decoy's output convinces nobody: the honest verifiers vote
        // "neither" and the commitment is rejected, early, once certain.
        assert_eq!(
            with_neither(dispute(100, 0, 0), 70).tally(false).unwrap(),
            Some(DisputeOutcome::CommitmentRejected)
        );
        // 30 colluding for the operator cannot save it.
        assert_eq!(
            with_neither(dispute(100, 30, 0), 70).tally(false).unwrap(),
            Some(DisputeOutcome::CommitmentRejected)
        );
        // Against for certain, but 30 unvoted could still make the
        // challenger's output win: wait.
        assert_eq!(
            with_neither(dispute(100, 0, 40), 30).tally(false).unwrap(),
            None
        );
        // After the window, the challenger's output needs the threshold of
        // the votes against.
        assert_eq!(
            with_neither(dispute(100, 0, 40), 30).tally(true).unwrap(),
            Some(DisputeOutcome::CommitmentRejected)
        );
        assert_eq!(
            with_neither(dispute(100, 0, 50), 20).tally(true).unwrap(),
            Some(DisputeOutcome::ChallengerUpheld)
        );
    }

    #[test]
    fn a_rejected_commitment_rewards_every_vote_against_it() {
        let mut d = with_neither(dispute(100, 10, 20), 40);
        assert_eq!(
            d.reserve_voter_rewards(1_000, DisputeOutcome::CommitmentRejected)
                .unwrap(),
            500
        );
        assert!(d.vote_won(VoteSide::Challenger) && d.vote_won(VoteSide::Neither));
        assert!(!d.vote_won(VoteSide::Operator));
        assert_eq!(d.reward_stake_unclaimed, 60);
    }
}

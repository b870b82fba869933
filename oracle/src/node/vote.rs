//! vote: on every open dispute this node may vote in, re-executes the
//! request and votes for the output that agrees with its own under the
//! model's rule: the committed one, the challenger's, or neither (the
//! commitment is wrong either way); once a dispute is settled, claims its
//! vote (reward, and the stake lock released).
use super::{inference::Lane, token_account, NodeError, Service, Shared};
use crate::{
    compare::outputs_agree,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    hashing,
    state::{Dispute, DisputeOutcome, InferenceRequest, Model, Vote as VoteRecord, VoteSide},
};
use sibyl_client::{accounts, instruction, pda};
use std::{collections::HashSet, sync::Arc};
use tracing::Instrument;

pub struct Vote {
    shared: Arc<Shared>,
    /// Settled disputes whose vote this node has claimed or never cast:
    /// nothing more to do, so they are not read again every scan.
    settled: HashSet<Pubkey>,
}

impl Vote {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            settled: HashSet::new(),
        }
    }
}

impl Service for Vote {
    const NAME: &'static str = "vote";

    async fn tick(&mut self) -> Result<(), NodeError> {
        let slot = self.shared.chain.slot().await?;
        let Some(operator) = self.shared.operator_account().await? else {
            return Ok(());
        };
        let mut disputes = self
            .shared
            .chain
            .program_accounts::<Dispute>("dispute", Vec::new())
            .await?;
        // The earliest vote deadline first (one re-execution at a time).
        disputes.sort_by_key(|(_, dispute)| dispute.vote_deadline_slot);
        for (dispute_key, dispute) in disputes {
            let span =
                tracing::info_span!("vote", request = %dispute.request, dispute = %dispute_key);
            let result = if dispute.is_settled() {
                if self.settled.contains(&dispute_key) {
                    continue;
                }
                let claimed = claim(&self.shared, dispute_key, &dispute)
                    .instrument(span)
                    .await;
                if claimed.is_ok() {
                    self.settled.insert(dispute_key);
                }
                claimed
            } else if dispute.outcome == DisputeOutcome::Open
                && slot <= dispute.vote_deadline_slot
                && dispute.operator != self.shared.operator
                && dispute.challenger != self.shared.wallet
                && operator.registered_slot < dispute.opened_slot
                && operator.stake_bonded_before(dispute.opened_slot) > 0
            {
                match self.shared.journal.get(Kind::Vote, &dispute_key)? {
                    None => {
                        vote(&self.shared, dispute_key, &dispute)
                            .instrument(span)
                            .await
                    }
                    // Journaled but never confirmed (a kill, an RPC error):
                    // send the same vote again; the program refuses a second.
                    Some(
                        prepared @ Entry {
                            stage: Stage::Prepared,
                            ..
                        },
                    ) => {
                        send_vote(&self.shared, dispute_key, &prepared)
                            .instrument(span)
                            .await
                    }
                    Some(_) => Ok(()),
                }
            } else {
                Ok(())
            };
            if let Err(err) = result {
                self.shared.metrics.error("vote");
                tracing::warn!(dispute = %dispute_key, %err, "vote step failed");
            }
        }
        Ok(())
    }
}

async fn vote(shared: &Shared, dispute_key: Pubkey, dispute: &Dispute) -> Result<(), NodeError> {
    let state: InferenceRequest = shared
        .chain
        .fetch_required(&dispute.request, "inference request")
        .await?;
    let model: Model = shared.chain.fetch_required(&state.model, "model").await?;
    let ours = shared
        .runner
        .run(Lane::Verify, &model, state.input.clone())
        .await?;
    let agree = |theirs: &[u8]| outputs_agree(&model.comparison, theirs, &ours);
    // Any committed output this node cannot reproduce under the rule is
    // wrong, whatever the challenger posted: a decoy's output does not
    // shield it.
    let side = if agree(&state.output) {
        VoteSide::Operator
    } else if agree(&dispute.challenger_output) {
        VoteSide::Challenger
    } else {
        tracing::warn!("neither output agrees with ours: voting that both are wrong");
        VoteSide::Neither
    };
    let output_hash = hashing::output_hash(&state.model_hash, &state.input_hash, &ours);
    let prepared = journaled_vote(side, output_hash);
    shared.journal.put(Kind::Vote, &dispute_key, &prepared)?;
    send_vote(shared, dispute_key, &prepared).await
}

/// A vote as the journal keeps it: `output` is the output hash this node
/// obtained, then one byte for the verdict (`VoteSide` in declaration
/// order); `agrees` says whether it agrees with the committed output.
fn journaled_vote(side: VoteSide, output_hash: [u8; 32]) -> Entry {
    let mut output = output_hash.to_vec();
    output.push(side as u8);
    Entry {
        output,
        agrees: Some(side == VoteSide::Operator),
        faulty: false,
        stage: Stage::Prepared,
    }
}

/// The verdict and output hash of a journaled vote.
fn vote_of(entry: &Entry) -> Option<(VoteSide, [u8; 32])> {
    let (&verdict, hash) = entry.output.split_last()?;
    let side = match verdict {
        0 => VoteSide::Operator,
        1 => VoteSide::Challenger,
        2 => VoteSide::Neither,
        _ => return None,
    };
    Some((side, hash.try_into().ok()?))
}

/// Sends a journaled vote and marks it done once it landed, or once the
/// program says it is no longer needed.
async fn send_vote(
    shared: &Shared,
    dispute_key: Pubkey,
    prepared: &Entry,
) -> Result<(), NodeError> {
    let (side, output_hash) = vote_of(prepared).ok_or_else(|| {
        NodeError::Internal(format!("journaled vote on {dispute_key} is unreadable"))
    })?;
    let cast = instruction(
        accounts::cast_vote(shared.wallet, dispute_key),
        sibyl::instruction::CastVote { side, output_hash },
    );
    match shared.chain.send("cast_vote", &[cast], &[]).await {
        Ok(signature) => {
            shared
                .journal
                .mark_done(Kind::Vote, &dispute_key, Some(signature.to_string()))?;
            shared.metrics.votes_cast.inc();
            tracing::info!(?side, %signature, "voted");
            Ok(())
        }
        Err(err)
            if err.is_program_error("AlreadyVoted")
                || err.is_program_error("DisputeNotOpen")
                || err.is_program_error("VoteWindowClosed") =>
        {
            shared.journal.mark_done(Kind::Vote, &dispute_key, None)?;
            tracing::info!("vote no longer needed: {err}");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// Claims this node's vote on a settled dispute, if it has one.
async fn claim(shared: &Shared, dispute_key: Pubkey, dispute: &Dispute) -> Result<(), NodeError> {
    let vote_key = pda::vote(&dispute_key, &shared.operator);
    if shared
        .chain
        .fetch::<VoteRecord>(&vote_key, "vote")
        .await?
        .is_none()
    {
        return Ok(());
    }
    let claim = instruction(
        accounts::claim_vote(
            shared.wallet,
            token_account(&shared.wallet, &shared.tokens),
            dispute_key,
            dispute.challenger,
            shared.tokens,
        ),
        sibyl::instruction::ClaimVote {},
    );
    let signature = shared.chain.send("claim_vote", &[claim], &[]).await?;
    tracing::info!(%signature, "vote claimed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journaled_vote_reads_back_as_cast() {
        for side in [VoteSide::Operator, VoteSide::Challenger, VoteSide::Neither] {
            let entry = journaled_vote(side, [7; 32]);
            assert_eq!(vote_of(&entry), Some((side, [7; 32])));
        }
        let unreadable = Entry {
            output: vec![1, 2],
            ..journaled_vote(VoteSide::Neither, [0; 32])
        };
        assert_eq!(vote_of(&unreadable), None);
    }
}

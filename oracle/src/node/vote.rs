//! vote: on every open dispute this node may vote in, re-executes the
//! request and votes for the side whose output agrees with its own under
//! the model's rule (and abstains if neither does); once a dispute is
//! settled, claims its vote (reward, and the stake lock released).
use super::{token_account, NodeError, Service, Shared};
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
        let disputes = self
            .shared
            .chain
            .program_accounts::<Dispute>("dispute", Vec::new())
            .await?;
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
    let ours = shared.runner.run(&model, state.input.clone()).await?;
    let agree = |theirs: &[u8]| outputs_agree(&model.comparison, theirs, &ours);
    let side = if agree(&state.output) {
        VoteSide::Operator
    } else if agree(&dispute.challenger_output) {
        VoteSide::Challenger
    } else {
        tracing::warn!("neither side's output agrees with ours: abstaining");
        let abstained = Entry {
            output: Vec::new(),
            agrees: None,
            faulty: false,
            stage: Stage::Done { signature: None },
        };
        shared.journal.put(Kind::Vote, &dispute_key, &abstained)?;
        return Ok(());
    };
    let output_hash = hashing::output_hash(&state.model_hash, &state.input_hash, &ours);
    let prepared = Entry {
        output: output_hash.to_vec(),
        agrees: Some(side == VoteSide::Operator),
        faulty: false,
        stage: Stage::Prepared,
    };
    shared.journal.put(Kind::Vote, &dispute_key, &prepared)?;
    send_vote(shared, dispute_key, &prepared).await
}

/// Sends a journaled vote and marks it done once it landed, or once the
/// program says it is no longer needed.
async fn send_vote(
    shared: &Shared,
    dispute_key: Pubkey,
    prepared: &Entry,
) -> Result<(), NodeError> {
    let side = match prepared.agrees {
        Some(true) => VoteSide::Operator,
        Some(false) => VoteSide::Challenger,
        None => return Ok(()),
    };
    let output_hash: [u8; 32] = prepared.output.as_slice().try_into().map_err(|_| {
        NodeError::Internal(format!(
            "journaled vote on {dispute_key} has no output hash"
        ))
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

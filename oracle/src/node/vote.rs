//! vote: on every open dispute this node may vote in, re-executes the
//! request and commits to the verdict that agrees with its own output under
//! the request's rule: the committed output, the challenger's, or neither (the
//! commitment is wrong either way); once the vote window has closed, reveals
//! it (its salt is derived from the node's key, so a restarted node can
//! still reveal); once a dispute is settled, claims its vote (reward, and
//! the stake lock released).
use super::{
    schedule::Retries,
    step::{JournaledStep, Outcome},
    NodeError, Service, Shared,
};
use crate::{
    chain::writable_of,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::error::ErrorCode;
use anchor_lang::{prelude::Pubkey, ToAccountMetas};
use futures_util::{stream, StreamExt};
use sha2::{Digest, Sha256};
use sibyl::{
    errors::SibylError,
    hashing,
    state::{
        Dispute, DisputeOutcome, InferenceRequest, Model, Operator, Vote as VoteRecord, VoteSide,
    },
};
use sibyl_client::{
    accounts::{self, VoteParties},
    instruction, pda,
};
use solana_signer::Signer;
use std::{collections::HashSet, sync::Arc};
use tracing::Instrument;

pub struct Vote {
    shared: Arc<Shared>,
    /// Settled disputes whose vote this node has claimed or never cast:
    /// nothing more to do, so they are not read again every scan.
    settled: HashSet<Pubkey>,
    /// Disputes whose vote this node has revealed (or cannot reveal).
    revealed: HashSet<Pubkey>,
    /// Disputes whose vote failed to be made, tried again after a backoff.
    retry: Retries,
}

impl Vote {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            settled: HashSet::new(),
            revealed: HashSet::new(),
            retry: Retries::default(),
        }
    }
}

/// Steps of one kind sent at once: a reveal or a claim is one transaction,
/// and a commitment's re-execution waits for a verification permit anyway.
const CONCURRENT_STEPS: usize = 8;

/// What this node has to do in a dispute now.
enum Step {
    Reveal,
    Commit,
    Claim,
}

impl Service for Vote {
    const NAME: &'static str = "vote";
    const MIN_WOKEN_GAP: std::time::Duration = super::SCAN_GAP;

    async fn tick(&mut self) -> Result<(), NodeError> {
        let shared = &*self.shared;
        let slot = shared.chain.slot().await?;
        let Some(operator) = shared.operator_account().await? else {
            return Ok(());
        };
        let (disputes, models) = tokio::try_join!(
            async {
                Ok::<_, NodeError>(
                    shared
                        .chain
                        .program_accounts::<Dispute>("dispute", Vec::new())
                        .await?,
                )
            },
            shared.watched_models(),
        )?;
        // Only the models this node runs are re-executed to vote.
        let runs: HashSet<Pubkey> = models.into_iter().map(|(key, _)| key).collect();
        let mut steps: Vec<(Step, Pubkey, Dispute)> = Vec::new();
        for (dispute_key, dispute) in disputes {
            let is_party = dispute.is_party(&shared.operator, &shared.wallet);
            let step = if dispute.is_settled() {
                (!self.settled.contains(&dispute_key)).then_some(Step::Claim)
            } else if dispute.outcome != DisputeOutcome::Open || is_party {
                None
            } else if slot <= dispute.vote_deadline_slot {
                (runs.contains(&dispute.model)
                    && !self.retry.waiting(&dispute_key)
                    && dispute
                        .voting_weight(&shared.operator, &operator, &shared.wallet)
                        .is_ok())
                .then_some(Step::Commit)
            } else {
                (slot <= dispute.reveal_deadline_slot && !self.revealed.contains(&dispute_key))
                    .then_some(Step::Reveal)
            };
            if let Some(step) = step {
                steps.push((step, dispute_key, dispute));
            }
        }
        // Reveals first and all at once: a reveal must not wait behind
        // re-executions or claims until its window closes. Then commitments,
        // earliest vote deadline first, then claims.
        steps.sort_by_key(|(step, _, dispute)| {
            let order = match step {
                Step::Reveal => 0,
                Step::Commit => 1,
                Step::Claim => 2,
            };
            (order, dispute.vote_deadline_slot)
        });
        // Claims are not urgent (the crank claims too): a few per scan, so
        // that a backlog never delays the next scan's reveals.
        let mut claims = 0;
        steps.retain(|(step, _, _)| {
            claims += matches!(step, Step::Claim) as usize;
            !matches!(step, Step::Claim) || claims <= CONCURRENT_STEPS
        });
        let operator = &operator;
        let results: Vec<(Step, Pubkey, Result<(), NodeError>)> = stream::iter(steps)
            .map(|(step, dispute_key, dispute)| async move {
                let span =
                    tracing::info_span!("vote", request = %dispute.request, dispute = %dispute_key);
                let result = match step {
                    Step::Reveal => reveal(shared, dispute_key).instrument(span).await,
                    Step::Commit => commit(shared, dispute_key, &dispute).instrument(span).await,
                    Step::Claim => {
                        claim(shared, operator, dispute_key, &dispute)
                            .instrument(span)
                            .await
                    }
                };
                (step, dispute_key, result)
            })
            .buffered(CONCURRENT_STEPS)
            .collect()
            .await;
        for (step, dispute_key, result) in results {
            match (step, result) {
                (Step::Reveal, Ok(())) => {
                    self.revealed.insert(dispute_key);
                }
                (Step::Claim, Ok(())) => {
                    self.settled.insert(dispute_key);
                }
                (Step::Commit, Ok(())) => self.retry.succeeded(&dispute_key),
                (Step::Commit, Err(err)) => {
                    shared.metrics.error("vote");
                    let wait = self.retry.failed(dispute_key);
                    tracing::warn!(dispute = %dispute_key, %err, retry_in_s = wait.as_secs(), "vote not made");
                }
                (_, Err(err)) => {
                    shared.metrics.error("vote");
                    tracing::warn!(dispute = %dispute_key, %err, "vote step failed");
                }
            }
        }
        Ok(())
    }
}

/// Commits this node's vote, once: re-executes and sends the verdict while
/// it is journaled, or sends the journaled one again (a kill, an RPC error).
async fn commit(shared: &Shared, dispute_key: Pubkey, dispute: &Dispute) -> Result<(), NodeError> {
    let metas = accounts::cast_vote(shared.wallet, dispute_key).to_account_metas(None);
    let step = JournaledStep {
        kind: Kind::Vote,
        key: dispute_key,
        action: "cast_vote",
        already_done: &[
            SibylError::AlreadyVoted,
            SibylError::DisputeNotOpen,
            SibylError::VoteWindowClosed,
        ],
        writes: writable_of(&metas),
    };
    let prepare = async {
        let (side, output_hash) = verdict(shared, dispute).await?;
        Ok(journaled_vote(side, output_hash))
    };
    let build = |entry: &Entry| {
        let (side, _) = vote_of(entry).ok_or_else(|| {
            NodeError::Internal(format!("journaled vote on {dispute_key} is unreadable"))
        })?;
        let commitment = hashing::vote_commitment(
            &dispute_key,
            &shared.operator,
            side,
            &salt(shared, &dispute_key),
        );
        Ok(vec![instruction(
            metas.clone(),
            sibyl::instruction::CastVote { commitment },
        )])
    };
    // The vote record or the dispute's state says whether the refusal is
    // true: a vote wrongly taken as made would leave a dispute short of it.
    let confirm = || async {
        let voted = shared
            .chain
            .fetch::<VoteRecord>(&pda::vote(&dispute_key, &shared.operator), "vote")
            .await?
            .is_some();
        let now: Option<Dispute> = shared.chain.fetch(&dispute_key, "dispute").await?;
        let slot = shared.chain.slot().await?;
        Ok(voted
            || now.is_none_or(|now| {
                now.outcome != DisputeOutcome::Open || slot > now.vote_deadline_slot
            }))
    };
    match step.take(shared, prepare, build, confirm).await? {
        Outcome::Sent { sent, .. } => {
            shared.metrics.votes_cast.inc();
            tracing::info!(signature = %sent.signature, "vote committed");
        }
        Outcome::NotNeeded(err) => tracing::info!("vote no longer needed: {err}"),
        Outcome::WasDone => {}
    }
    Ok(())
}

/// Re-executes the disputed request and judges both outputs against ours.
async fn verdict(shared: &Shared, dispute: &Dispute) -> Result<(VoteSide, [u8; 32]), NodeError> {
    let state: InferenceRequest = shared
        .chain
        .fetch_required(&dispute.request, "inference request")
        .await?;
    let model: Model = shared.chain.fetch_required(&state.model, "model").await?;
    // A dispute opens only once a referenced input is on chain.
    let input = shared.inputs.input_of(&state, &shared.chain).await?;
    let verdict = shared.verifier.verify(&model, &state, input).await?;
    let side = verdict.vote_side(&dispute.challenger_output);
    if side == VoteSide::Neither {
        tracing::warn!("neither output agrees with ours: voting that both are wrong");
    }
    // Informational: the hash of our result (no output at all for an
    // input that fits no output).
    let output_hash = verdict.our_result().map_or([0; 32], |ours| {
        hashing::output_hash(&state.model_hash, &state.input_hash, &ours)
    });
    Ok((side, output_hash))
}

/// The secret salt of this node's vote in `dispute_key`: derived from the
/// node's key (an ed25519 signature is deterministic), so it survives a
/// lost journal, and nobody else can compute it before the reveal.
fn salt(shared: &Shared, dispute_key: &Pubkey) -> [u8; 32] {
    let signature = shared
        .chain
        .signer()
        .sign_message(&[b"sibyl-vote-salt-v1".as_slice(), dispute_key.as_ref()].concat());
    Sha256::digest(signature.as_ref()).into()
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
        whole_output_sha256: [0; 32],
        trace_root: None,
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

/// Reveals this node's committed vote, if it has one not yet revealed. The
/// side is whichever of the three the commitment opens to with this node's
/// salt, so a lost journal needs no re-execution (the journal still gives
/// the output hash, which is informational).
async fn reveal(shared: &Shared, dispute_key: Pubkey) -> Result<(), NodeError> {
    let vote_key = pda::vote(&dispute_key, &shared.operator);
    let Some(record) = shared.chain.fetch::<VoteRecord>(&vote_key, "vote").await? else {
        return Ok(());
    };
    if record.revealed {
        return Ok(());
    }
    let salt = salt(shared, &dispute_key);
    let side = [VoteSide::Operator, VoteSide::Challenger, VoteSide::Neither]
        .into_iter()
        .find(|&side| {
            hashing::vote_commitment(&dispute_key, &shared.operator, side, &salt)
                == record.commitment
        })
        .ok_or_else(|| {
            NodeError::Internal(format!(
                "the vote committed in {dispute_key} does not open with this node's salt"
            ))
        })?;
    let output_hash = shared
        .journal
        .get(Kind::Vote, &dispute_key)
        .await?
        .as_ref()
        .and_then(vote_of)
        .map_or([0; 32], |(_, hash)| hash);
    let reveal = instruction(
        accounts::reveal_vote(shared.wallet, dispute_key, shared.operator),
        sibyl::instruction::RevealVote {
            side,
            salt,
            output_hash,
        },
    );
    match shared.chain.send("reveal_vote", &[reveal], &[]).await {
        Ok(signature) => {
            tracing::info!(?side, %signature, "vote revealed");
            Ok(())
        }
        Err(err)
            if err.refused_with_any(&[
                SibylError::AlreadyRevealed,
                SibylError::DisputeNotOpen,
                SibylError::RevealWindowClosed,
            ]) =>
        {
            tracing::info!("reveal no longer needed: {err}");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// Claims this node's vote on a settled dispute, if it has one.
async fn claim(
    shared: &Shared,
    operator: &Operator,
    dispute_key: Pubkey,
    dispute: &Dispute,
) -> Result<(), NodeError> {
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
            VoteParties::of(dispute_key, dispute, shared.operator, operator),
            shared.tokens,
        ),
        sibyl::instruction::ClaimVote {},
    );
    match shared.chain.send("claim_vote", &[claim], &[]).await {
        Ok(signature) => {
            tracing::info!(%signature, "vote claimed");
            Ok(())
        }
        // A crank claimed it first (anyone may): the reward went to our
        // payout account all the same.
        Err(err) if err.refused_with(ErrorCode::AccountNotInitialized) => Ok(()),
        Err(err) => Err(err.into()),
    }
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

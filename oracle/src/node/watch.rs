//! watch: re-executes other operators' commitments for the models this node
//! runs while their challenge window is open, and challenges those that
//! fail the request's comparison rule, with this node's output as the
//! correction.
use super::{
    instance_key,
    schedule::{earliest_deadline_first, Retries, Unverified},
    step::{JournaledStep, Outcome},
    NodeError, Service, Shared,
};
use crate::journal::{Entry, Kind, Stage};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    errors::SibylError,
    state::{InferenceRequest, Model, RequestStatus},
};
use sibyl_client::{
    accounts::{self, RequestParties},
    instruction,
};
use std::sync::Arc;
use tracing::Instrument;

pub struct Watch {
    shared: Arc<Shared>,
    unverified: Unverified,
    /// Commitments whose check failed, tried again after a backoff.
    retry: Retries,
}

impl Watch {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            unverified: Unverified::default(),
            retry: Retries::default(),
        }
    }
}

impl Service for Watch {
    const NAME: &'static str = "watch";
    const MIN_WOKEN_GAP: std::time::Duration = super::SCAN_GAP;

    async fn tick(&mut self) -> Result<(), NodeError> {
        let slot = self.shared.chain.slot().await?;
        // Every open commitment of another operator this node has no
        // verdict on yet, across its models, earliest window end first.
        let mut due = Vec::new();
        for (model_key, model) in self.shared.watched_models().await? {
            let model = Arc::new(model);
            let committed = self
                .shared
                .requests(RequestStatus::Committed, Some(&model_key))
                .await?;
            for (request, state) in committed {
                if state.operator == self.shared.operator || slot > state.challenge_deadline_slot {
                    continue;
                }
                self.unverified
                    .awaiting(request, state.challenge_deadline_slot);
                match self.progress(&instance_key(&state)).await? {
                    Progress::Done => {
                        self.unverified.verified(&request);
                        continue;
                    }
                    // The model cannot run here: it stays unverified.
                    Progress::CannotJudge => continue,
                    Progress::Due if self.retry.waiting(&request) => continue,
                    Progress::Due => {}
                }
                due.push((
                    state.challenge_deadline_slot,
                    (request, state, model.clone()),
                ));
            }
        }
        let missed = self.unverified.missed_by(slot);
        self.shared
            .metrics
            .unverified_commitments
            .inc_by(missed as u64);
        let (due, hopeless) = earliest_deadline_first(due, slot);
        for (request, _, _) in hopeless {
            if self.unverified.first_drop(request) {
                self.shared.metrics.verifications_dropped.inc();
            }
        }
        for (request, state, model) in due {
            let span = tracing::info_span!("watch", %request, operator = %state.operator);
            match check(&self.shared, request, &state, &model)
                .instrument(span)
                .await
            {
                Ok(()) => {
                    self.unverified.verified(&request);
                    self.retry.succeeded(&request);
                }
                Err(err) => {
                    self.shared.metrics.error("watch");
                    let wait = self.retry.failed(request);
                    tracing::warn!(%request, %err, retry_in_s = wait.as_secs(), "could not check the commitment");
                }
            }
        }
        Ok(())
    }
}

/// Where this node stands with one commitment.
enum Progress {
    /// It agrees with it, or its challenge has landed.
    Done,
    /// The model could not run its input here.
    CannotJudge,
    /// To re-execute, or to challenge.
    Due,
}

impl Watch {
    /// Keyed by the request instance ([`instance_key`]).
    async fn progress(&self, instance: &Pubkey) -> Result<Progress, NodeError> {
        let [challenge, verdict] = self
            .shared
            .journal
            .get_each([Kind::Challenge, Kind::Verdict], instance)
            .await?;
        if let Some(Entry {
            stage: Stage::Done { .. },
            ..
        }) = challenge
        {
            return Ok(Progress::Done);
        }
        Ok(match verdict {
            Some(Entry {
                agrees: Some(true), ..
            }) => Progress::Done,
            Some(Entry { agrees: None, .. }) => Progress::CannotJudge,
            _ => Progress::Due,
        })
    }
}

/// Re-executes one commitment (once: the verdict is journaled) and
/// challenges it if it does not agree with ours.
async fn check(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    model: &Model,
) -> Result<(), NodeError> {
    let instance = instance_key(state);
    let verdict = match shared.journal.get(Kind::Verdict, &instance).await? {
        Some(verdict) => verdict,
        None => {
            // What a challenge would post: ours, or a placeholder when no
            // output is right for the input or ours does not fit the
            // registered specs.
            let judged = match shared.verifier.verify(model, state).await {
                Ok(verdict) => verdict
                    .correction(model, state)
                    .map(|correction| (verdict.committed_agrees, correction)),
                Err(err) => Err(err),
            };
            let (agrees, correction) = match judged {
                Ok(judged) => judged,
                // Another try may go otherwise (the model is being fetched,
                // the run met its time limit on a busy machine): no verdict
                // recorded, the scan tries again after a backoff.
                Err(err) if !err.is_final() => return Err(err.into()),
                // The model can never run this input here, or its runs
                // cannot be judged on this machine: record that we have no
                // verdict instead of retrying; never challenge. (An input
                // that does not fit the model is judged: see `Verdict`.)
                Err(err) => {
                    let unknown = Entry {
                        output: Vec::new(),
                        agrees: None,
                        faulty: false,
                        stage: Stage::Done { signature: None },
                    };
                    shared
                        .journal
                        .put(Kind::Verdict, &instance, &unknown)
                        .await?;
                    return Err(err.into());
                }
            };
            let verdict = Entry {
                output: correction,
                agrees: Some(agrees),
                faulty: false,
                stage: Stage::Done { signature: None },
            };
            shared
                .journal
                .put(Kind::Verdict, &instance, &verdict)
                .await?;
            tracing::info!(agrees, rule = ?state.comparison, "re-executed");
            verdict
        }
    };
    if verdict.agrees != Some(false) {
        return Ok(());
    }
    let step = JournaledStep {
        kind: Kind::Challenge,
        key: instance,
        action: "challenge",
        // Challenged by someone else first, or settled.
        already_done: &[
            SibylError::RequestNotCommitted,
            SibylError::ChallengeWindowClosed,
        ],
    };
    let prepare = async { Ok(verdict) };
    let build = |entry: &Entry| {
        Ok(vec![instruction(
            accounts::challenge(
                shared.wallet,
                shared.tokens.account_of(&shared.wallet),
                RequestParties::of(request, state),
                shared.tokens,
            ),
            sibyl::instruction::Challenge {
                sequence: state.sequence,
                output: entry.output.clone(),
            },
        )])
    };
    // A challenge wrongly taken as made would let a wrong result become
    // final: the request itself must show it is no longer open to one.
    let confirm = || async {
        let now: Option<InferenceRequest> =
            shared.chain.fetch(&request, "inference request").await?;
        let slot = shared.chain.slot().await?;
        Ok(now.is_none_or(|now| {
            now.sequence != state.sequence
                || now.status != RequestStatus::Committed
                || slot > now.challenge_deadline_slot
        }))
    };
    match step.take(shared, prepare, build, confirm).await? {
        Outcome::Sent(sent) => {
            shared.metrics.challenged.inc();
            tracing::warn!(signature = %sent.signature, "challenged a wrong result");
        }
        Outcome::NotNeeded(_) => tracing::info!("already challenged or settled"),
        Outcome::WasDone => {}
    }
    Ok(())
}

//! watch: re-executes other operators' commitments for the models this node
//! runs while their challenge window is open, and challenges those that
//! fail the request's comparison rule, with this node's output as the
//! correction.
use super::{
    availability, instance_key,
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
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Referenced inputs fetched at once, at most.
const CONCURRENT_FETCHES: usize = 8;

pub struct Watch {
    shared: Arc<Shared>,
    unverified: Unverified,
    /// Commitments whose check failed, tried again after a backoff.
    retry: Retries,
    /// Referenced inputs being fetched, off the checks: a URI that stalls
    /// must not hold up the commitments behind it (a requester could name
    /// one to starve the watch of time). Keyed by request instance.
    fetching: JoinSet<(Pubkey, Pubkey, Result<Vec<u8>, NodeError>)>,
    in_flight: HashSet<Pubkey>,
    fetched: HashMap<Pubkey, Vec<u8>>,
}

impl Watch {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            unverified: Unverified::default(),
            retry: Retries::default(),
            fetching: JoinSet::new(),
            in_flight: HashSet::new(),
            fetched: HashMap::new(),
        }
    }

    /// Takes in the fetches that ended: the bytes wait for their check; a
    /// failure (the input demanded where this node may) is tried again
    /// after a backoff.
    fn collect_fetches(&mut self) {
        while let Some(joined) = self.fetching.try_join_next() {
            let Ok((request, instance, result)) = joined else {
                continue;
            };
            self.in_flight.remove(&instance);
            match result {
                Ok(input) => {
                    self.fetched.insert(instance, input);
                }
                Err(err) => {
                    let wait = self.retry.failed(request);
                    tracing::warn!(%request, %err, retry_in_s = wait.as_secs(), "could not get the input to check the commitment");
                }
            }
        }
    }

    /// The input to check `state` with: on chain, or fetched already. A
    /// referenced input not fetched yet starts fetching (`None`: checked at
    /// a later scan).
    fn input_for(&mut self, request: Pubkey, state: &InferenceRequest) -> Option<Vec<u8>> {
        if !state.is_by_reference() || state.input_complete() {
            return Some(state.input.clone());
        }
        let instance = instance_key(state);
        if let Some(input) = self.fetched.remove(&instance) {
            return Some(input);
        }
        if self.in_flight.len() < CONCURRENT_FETCHES && self.in_flight.insert(instance) {
            let (shared, state) = (self.shared.clone(), state.clone());
            let span = tracing::info_span!("fetch input", %request);
            self.fetching.spawn(
                async move {
                    let result = availability::input_or_demand(&shared, request, &state).await;
                    (request, instance, result)
                }
                .instrument(span),
            );
        }
        None
    }
}

impl Service for Watch {
    const NAME: &'static str = "watch";
    const MIN_WOKEN_GAP: std::time::Duration = super::SCAN_GAP;

    async fn tick(&mut self) -> Result<(), NodeError> {
        self.collect_fetches();
        let slot = self.shared.chain.slot().await?;
        // Every open commitment of another operator this node has no
        // verdict on yet, across its models, earliest window end first.
        let mut due = Vec::new();
        let mut live = HashSet::new();
        for (model_key, model) in self.shared.watched_models().await? {
            let model = Arc::new(model);
            let committed = self
                .shared
                .requests(RequestStatus::Committed, Some(&model_key))
                .await?;
            for (request, state) in committed {
                live.insert(instance_key(&state));
                // A demanded input stops the clock: judged once it is written.
                if state.operator == self.shared.operator
                    || slot > state.challenge_deadline_slot
                    || state.awaiting_input()
                {
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
                    Progress::Due | Progress::Challenge if self.retry.waiting(&request) => continue,
                    Progress::Challenge => {
                        // Judged already: the input is not needed again.
                        due.push((
                            state.challenge_deadline_slot,
                            (request, state, model.clone(), Vec::new()),
                        ));
                        continue;
                    }
                    Progress::Due => {}
                }
                let Some(input) = self.input_for(request, &state) else {
                    continue;
                };
                due.push((
                    state.challenge_deadline_slot,
                    (request, state, model.clone(), input),
                ));
            }
        }
        // Fetched inputs of commitments no longer open are dropped.
        self.fetched.retain(|instance, _| live.contains(instance));
        let missed = self.unverified.missed_by(slot);
        self.shared
            .metrics
            .unverified_commitments
            .inc_by(missed as u64);
        let (due, hopeless) = earliest_deadline_first(due, slot);
        for (request, _, _, _) in hopeless {
            if self.unverified.first_drop(request) {
                self.shared.metrics.verifications_dropped.inc();
            }
        }
        for (request, state, model, input) in due {
            let span = tracing::info_span!("watch", %request, operator = %state.operator);
            match check(&self.shared, request, &state, &model, input)
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
    /// Judged wrong; the challenge is still to land.
    Challenge,
    /// To re-execute.
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
            Some(Entry {
                agrees: Some(false),
                ..
            }) => Progress::Challenge,
            None => Progress::Due,
        })
    }
}

/// Re-executes one commitment on `input` (once: the verdict is journaled)
/// and challenges it if it does not agree with ours.
async fn check(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    model: &Model,
    input: Vec<u8>,
) -> Result<(), NodeError> {
    let instance = instance_key(state);
    let verdict = match shared.journal.get(Kind::Verdict, &instance).await? {
        Some(verdict) => verdict,
        None => {
            // What a challenge would post: ours, or a placeholder when no
            // output is right for the input or ours does not fit the
            // registered specs.
            let judged = match shared.verifier.verify(model, state, input).await {
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

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
use crate::{
    chain::writable_of,
    faulty,
    inference::InferenceError,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::{prelude::Pubkey, ToAccountMetas};
use sibyl::{
    errors::SibylError,
    state::{InferenceRequest, Model, RefereeGame, RequestStatus},
};
use sibyl_client::{
    accounts::{self, RequestParties},
    instruction, pda,
};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Fetches of referenced inputs run at once, at most.
const CONCURRENT_FETCHES: usize = 8;
/// Uploads of referenced inputs (hundreds of transactions each) run at once,
/// at most.
const CONCURRENT_UPLOADS: usize = 2;

/// Work on a referenced input, off the checks: a URI that stalls, or an
/// upload of hundreds of chunks, must not hold up the commitments behind
/// it (a requester could name such a URI to starve the watch of time).
enum InputJob {
    /// Fetch it to check the commitment.
    Fetch,
    /// Put it on chain (it is demanded, or this node will challenge).
    Upload(Option<Vec<u8>>),
    /// Demand it: the window runs out before this node could judge it.
    Demand,
}

/// How an input job ended: its request, its instance, and the bytes a fetch
/// brought.
type JobEnd = (Pubkey, Pubkey, Result<Option<Vec<u8>>, NodeError>);

pub struct Watch {
    shared: Arc<Shared>,
    unverified: Unverified,
    /// Commitments whose check failed, tried again after a backoff.
    retry: Retries,
    /// Running input jobs, at most one per request instance.
    jobs: InputJobs,
    /// Fetched inputs waiting for their check, by request instance.
    fetched: HashMap<Pubkey, Vec<u8>>,
    /// Instances this node demanded or put on chain (each done once, but
    /// for a failure, tried again after a backoff).
    handled: HashSet<Pubkey>,
    /// Instances whose input came on chain since a failed fetch: their
    /// backoff was lifted once.
    landed: HashSet<Pubkey>,
}

impl Watch {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            unverified: Unverified::default(),
            retry: Retries::default(),
            jobs: InputJobs::default(),
            fetched: HashMap::new(),
            handled: HashSet::new(),
            landed: HashSet::new(),
        }
    }

    /// Takes in the jobs that ended: fetched bytes wait for their check; a
    /// failure is tried again after a backoff.
    fn collect_jobs(&mut self) {
        while let Some(ended) = self.jobs.try_next() {
            match ended {
                Ended::Stale => {}
                Ended::Panicked(instance) => {
                    self.handled.remove(&instance);
                }
                Ended::Done((_, instance, Ok(Some(input)))) => {
                    self.fetched.insert(instance, input);
                }
                Ended::Done((_, _, Ok(None))) => {}
                Ended::Done((request, instance, Err(err))) => {
                    self.handled.remove(&instance);
                    let wait = self.retry.failed(request);
                    tracing::warn!(%request, %err, retry_in_s = wait.as_secs(), "could not get or place the input of a commitment");
                }
            }
        }
    }

    /// Starts `job` on `state`'s input unless one runs for it already, or
    /// too many of its kind do (a demand, one quick transaction, always
    /// starts). Whether it started.
    fn start(&mut self, request: Pubkey, state: &InferenceRequest, job: InputJob) -> bool {
        let instance = instance_key(state);
        let upload = matches!(job, InputJob::Upload(_));
        let full = match job {
            InputJob::Fetch => self.jobs.count(false) >= CONCURRENT_FETCHES,
            InputJob::Upload(_) => self.jobs.count(true) >= CONCURRENT_UPLOADS,
            InputJob::Demand => false,
        };
        if self.jobs.is_running(&instance) || full {
            return false;
        }
        let (shared, state) = (self.shared.clone(), state.clone());
        let span = tracing::info_span!("input", %request);
        self.jobs.spawn(
            instance,
            upload,
            async move {
                let result = match job {
                    InputJob::Fetch => availability::input_or_demand(&shared, request, &state)
                        .await
                        .map(Some),
                    InputJob::Upload(held) => {
                        availability::put_on_chain(&shared, request, &state, held)
                            .await
                            .map(|()| None)
                    }
                    InputJob::Demand => availability::demand(&shared, request, &state)
                        .await
                        .map(|()| None),
                };
                (request, instance, result)
            }
            .instrument(span),
        );
        true
    }
}

/// The running input jobs: each one's task, its instance, and whether it
/// is an upload (uploads have their own limit).
#[derive(Default)]
struct InputJobs {
    set: JoinSet<JobEnd>,
    running: HashMap<Pubkey, RunningJob>,
    instances: HashMap<tokio::task::Id, Pubkey>,
}

struct RunningJob {
    handle: tokio::task::AbortHandle,
    upload: bool,
}

/// How a job came out of [`InputJobs::try_next`].
enum Ended {
    /// It ran to its end.
    Done(JobEnd),
    /// It panicked: its instance is free for another try.
    Panicked(Pubkey),
    /// It was aborted, or a newer job for its instance replaced it.
    Stale,
}

impl InputJobs {
    fn is_running(&self, instance: &Pubkey) -> bool {
        self.running.contains_key(instance)
    }

    /// Running uploads (`true`) or other jobs.
    fn count(&self, uploads: bool) -> usize {
        self.running
            .values()
            .filter(|job| job.upload == uploads)
            .count()
    }

    fn spawn(
        &mut self,
        instance: Pubkey,
        upload: bool,
        job: impl std::future::Future<Output = JobEnd> + Send + 'static,
    ) {
        let handle = self.set.spawn(job);
        self.instances.insert(handle.id(), instance);
        self.running.insert(instance, RunningJob { handle, upload });
    }

    /// Aborts the job running for `instance`, if any; whether one ran.
    fn abort(&mut self, instance: &Pubkey) -> bool {
        match self.running.remove(instance) {
            Some(job) => {
                job.handle.abort();
                true
            }
            None => false,
        }
    }

    /// The next job that ended, if one did.
    fn try_next(&mut self) -> Option<Ended> {
        let joined = self.set.try_join_next_with_id()?;
        let (id, outcome) = match joined {
            Ok((id, end)) => (id, Ok(end)),
            Err(err) => {
                if err.is_panic() {
                    tracing::error!(%err, "an input job failed");
                }
                (err.id(), Err(err.is_panic()))
            }
        };
        let instance = self.instances.remove(&id);
        // A newer job for the instance (a demand that overtook this fetch)
        // keeps its place.
        let replaced = instance.is_some_and(|instance| {
            self.running
                .get(&instance)
                .is_some_and(|job| job.handle.id() != id)
        });
        if !replaced {
            if let Some(instance) = &instance {
                self.running.remove(instance);
            }
        }
        Some(match (outcome, instance) {
            (Ok(end), _) if !replaced => Ended::Done(end),
            (Err(true), Some(instance)) => Ended::Panicked(instance),
            _ => Ended::Stale,
        })
    }
}

/// How close to the end of its challenge window a referenced input this
/// node has not judged yet is demanded: half the window, and at least 3
/// slots, so that the demand lands in time however slow its URI is.
fn demand_margin(state: &InferenceRequest) -> u64 {
    (state.challenge_window_slots / 2).max(3)
}

impl Service for Watch {
    const NAME: &'static str = "watch";
    const MIN_WOKEN_GAP: std::time::Duration = super::SCAN_GAP;

    async fn tick(&mut self) -> Result<(), NodeError> {
        self.collect_jobs();
        let slot = self.shared.chain.slot().await?;
        // Every open commitment of another operator this node has no
        // verdict on yet, across its models, earliest window end first.
        let mut due = Vec::new();
        // Referenced inputs to fetch, earliest window end first.
        let mut to_fetch = Vec::new();
        let mut live = HashSet::new();
        for (model_key, model) in self.shared.watched_models().await? {
            let model = Arc::new(model);
            let committed = self
                .shared
                .requests(RequestStatus::Committed, Some(&model_key))
                .await?;
            for (request, state) in committed {
                let instance = instance_key(&state);
                live.insert(instance);
                let ours = state.operator == self.shared.operator;
                let progress = if ours {
                    None
                } else {
                    Some(self.progress(&instance).await?)
                };
                // A demanded input stops the clock: judged once it is on
                // chain. This node writes it there when it must: on its own
                // commitment (a demand may come from an operator hoping for
                // a void; it served the input, so it can fetch it again),
                // and on one it found wrong (a challenge needs it there).
                // Not merely because it holds the bytes: one free demand
                // must not make every watcher write a whole buffer.
                if state.awaiting_demanded_input() {
                    let must_write = ours || matches!(progress, Some(Progress::Challenge));
                    if must_write
                        && !self.retry.waiting(&request)
                        && !self.handled.contains(&instance)
                    {
                        let held = self.fetched.remove(&instance);
                        if self.start(request, &state, InputJob::Upload(held)) {
                            self.handled.insert(instance);
                        }
                    }
                    // Bytes it fetched before the demand: judged now (the
                    // clock is stopped), so that a lie is written and
                    // challenged rather than voided.
                    if matches!(progress, Some(Progress::Due)) && !self.retry.waiting(&request) {
                        if let Some(input) = self.fetched.get(&instance) {
                            // No deadline runs: after every timed check.
                            due.push((
                                u64::MAX,
                                (request, state.clone(), model.clone(), input.clone()),
                            ));
                        }
                    }
                    continue;
                }
                let Some(progress) = progress else {
                    continue;
                };
                if state.awaiting_input() || slot > state.challenge_deadline_slot {
                    continue;
                }
                self.unverified
                    .awaiting(request, state.challenge_deadline_slot);
                let off_chain = state.is_by_reference() && !state.input_complete();
                // A referenced input now on chain: a failed fetch of its URI
                // no longer holds the check back (once).
                if state.is_by_reference() && !off_chain && self.landed.insert(instance) {
                    self.retry.succeeded(&request);
                }
                // Not judged with half the window gone: demanded, whatever
                // the backoff, so that no URI that stalls (and no queue of
                // them) outlasts the window.
                let undecided = matches!(progress, Progress::Due | Progress::Challenge);
                if off_chain
                    && undecided
                    && !state.input_demanded()
                    && state.challenge_deadline_slot.saturating_sub(slot) <= demand_margin(&state)
                    && !self.handled.contains(&instance)
                {
                    // A fetch still running is overtaken: the bytes come on
                    // chain, or the request is voided.
                    if self.jobs.abort(&instance) {
                        // What aborted fetches left, once past any live
                        // fetch's time limit.
                        self.shared.inputs.remove_stale_partials();
                    }
                    if self.start(request, &state, InputJob::Demand) {
                        self.handled.insert(instance);
                    }
                    continue;
                }
                match progress {
                    Progress::Done => {
                        self.unverified.verified(&request);
                        continue;
                    }
                    // The model cannot run here: it stays unverified.
                    Progress::CannotJudge => continue,
                    Progress::Due | Progress::Challenge if self.retry.waiting(&request) => continue,
                    // Judged wrong: a challenge needs the input on chain.
                    Progress::Challenge if off_chain => {
                        if !self.handled.contains(&instance) {
                            let held = self.fetched.remove(&instance);
                            if self.start(request, &state, InputJob::Upload(held)) {
                                self.handled.insert(instance);
                            }
                        }
                        continue;
                    }
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
                // A referenced input comes from its buffer on chain, or
                // from its URI, off the checks either way.
                let input = if state.is_by_reference() {
                    match self.fetched.get(&instance) {
                        Some(input) => input.clone(),
                        None => {
                            to_fetch.push((state.challenge_deadline_slot, request, state));
                            continue;
                        }
                    }
                } else {
                    state.input.clone()
                };
                due.push((
                    state.challenge_deadline_slot,
                    (request, state, model.clone(), input),
                ));
            }
        }
        to_fetch.sort_by_key(|(deadline, _, _)| *deadline);
        for (_, request, state) in to_fetch {
            self.start(request, &state, InputJob::Fetch);
        }
        // Inputs of commitments no longer open are dropped.
        self.fetched.retain(|instance, _| live.contains(instance));
        self.handled.retain(|instance| live.contains(instance));
        self.landed.retain(|instance| live.contains(instance));
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
            let instance = instance_key(&state);
            match check(&self.shared, request, &state, &model, input)
                .instrument(span)
                .await
            {
                Ok(input_needed) => {
                    if !input_needed {
                        self.fetched.remove(&instance);
                    }
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
/// and challenges it if it does not agree with ours. `true` when the
/// commitment is wrong and its referenced input must go on chain first.
async fn check(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    model: &Model,
    input: Vec<u8>,
) -> Result<bool, NodeError> {
    let instance = instance_key(state);
    let verdict = match shared.journal.get(Kind::Verdict, &instance).await? {
        Some(verdict) => verdict,
        None if model.referee.is_some() => {
            let verdict = judge_by_referee(shared, request, state, model, input).await?;
            shared
                .journal
                .put(Kind::Verdict, &instance, &verdict)
                .await?;
            tracing::info!(agrees = ?verdict.agrees, "re-executed with the referee's interpreter");
            verdict
        }
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
                        whole_output_sha256: [0; 32],
                        trace_root: None,
                    };
                    shared
                        .journal
                        .put(Kind::Verdict, &instance, &unknown)
                        .await?;
                    return Err(err.into());
                }
            };
            // The whole output a challenge would name is kept before the
            // verdict is journaled, so the node can always serve it.
            if let (false, Some(whole)) = (agrees, &correction.whole) {
                if !sibyl::state::OutputView::all_whole(&state.output_views) {
                    shared.outputs.put(whole).await?;
                }
            }
            let verdict = Entry {
                output: correction.result,
                agrees: Some(agrees),
                faulty: false,
                stage: Stage::Done { signature: None },
                whole_output_sha256: correction.whole_output_sha256,
                trace_root: None,
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
        return Ok(false);
    }
    // A referenced input goes on chain first (the next scan starts that),
    // so that every voter has it.
    if state.is_by_reference() && !state.input_complete() {
        return Ok(true);
    }
    if model.referee.is_some() {
        return open_game(shared, request, state, verdict)
            .await
            .map(|()| false);
    }
    let metas = accounts::challenge(
        shared.wallet,
        shared.tokens.account_of(&shared.wallet),
        RequestParties::of(request, state),
        shared.tokens,
    )
    .to_account_metas(None);
    let step = JournaledStep {
        kind: Kind::Challenge,
        key: instance,
        action: "challenge",
        // Challenged by someone else first, or settled.
        already_done: &[
            SibylError::RequestNotCommitted,
            SibylError::ChallengeWindowClosed,
        ],
        writes: writable_of(&metas),
    };
    let prepare = async { Ok(verdict) };
    let build = |entry: &Entry| {
        Ok(vec![instruction(
            metas.clone(),
            sibyl::instruction::Challenge {
                sequence: state.sequence,
                output: entry.output.clone(),
                whole_output_sha256: entry.whole_output_sha256,
            },
        )])
    };
    // A challenge wrongly taken as made would let a wrong result become
    // final: the request itself must show it is no longer open to one.
    let confirm = || no_longer_disputable(shared, request, state);
    match step.take(shared, prepare, build, confirm).await? {
        Outcome::Sent { sent, .. } => {
            shared.metrics.challenged.inc();
            tracing::warn!(signature = %sent.signature, "challenged a wrong result");
        }
        Outcome::NotNeeded(_) => tracing::info!("already challenged or settled"),
        Outcome::WasDone => {}
    }
    Ok(false)
}

/// A referee model's commitment judged by the referee's interpreter (the
/// arithmetic a game decides by): the verdict to journal. A model whose
/// registered roots are not its file's, or an input the interpreter cannot
/// run, is recorded as not judged.
async fn judge_by_referee(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    model: &Model,
    input: Vec<u8>,
) -> Result<Entry, NodeError> {
    let judged = async {
        let referee = shared.runner.referee(model).await?;
        let lie = faulty::referee_lie(&request, shared.faulty_rate, &referee, &input);
        shared
            .runner
            .referee_party(model, referee, input, lie)
            .await
    }
    .await;
    let party = match judged {
        Ok(party) => party,
        Err(err @ InferenceError::Referee { .. }) => {
            tracing::warn!(%err, "the referee cannot judge this commitment");
            return Ok(Entry {
                output: Vec::new(),
                agrees: None,
                faulty: false,
                stage: Stage::Done { signature: None },
                whole_output_sha256: [0; 32],
                trace_root: None,
            });
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Entry {
        agrees: Some(party.result == state.output),
        faulty: false,
        stage: Stage::Done { signature: None },
        whole_output_sha256: sibyl::hashing::whole_output_sha256(&party.result),
        trace_root: Some(party.trace_root()),
        output: party.result,
    })
}

/// Opens this node's referee game on a commitment it judged wrong, with its
/// trace root and the root over its outputs, once (journaled like a
/// challenge). The game is then played by the referee service.
async fn open_game(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
    verdict: Entry,
) -> Result<(), NodeError> {
    let instance = instance_key(state);
    let game = pda::referee_game(&state.model, state.sequence, &shared.wallet);
    if shared
        .chain
        .fetch::<RefereeGame>(&game, "referee game")
        .await?
        .is_some()
    {
        // Opened before a crash: the journal only missed it.
        if !matches!(
            shared.journal.get(Kind::Challenge, &instance).await?,
            Some(Entry {
                stage: Stage::Done { .. },
                ..
            })
        ) {
            shared
                .journal
                .put(Kind::Challenge, &instance, &verdict)
                .await?;
        }
        return Ok(());
    }
    let metas = accounts::open_referee_game(
        shared.wallet,
        shared.tokens.account_of(&shared.wallet),
        RequestParties::of(request, state),
        state.sequence,
        shared.tokens,
    )
    .to_account_metas(None);
    let step = JournaledStep {
        kind: Kind::Challenge,
        key: instance,
        action: "open_referee_game",
        already_done: &[
            SibylError::RequestNotCommitted,
            SibylError::ChallengeWindowClosed,
        ],
        writes: writable_of(&metas),
    };
    let prepare = async { Ok(verdict) };
    let build = |entry: &Entry| {
        let trace_root = entry.trace_root.ok_or_else(|| {
            NodeError::Internal("a referee verdict without its trace root".into())
        })?;
        let output_root = sibyl_sdk::referee::commit::output_root(&entry.output)
            .ok_or_else(|| NodeError::Internal("our result is not an integer encoding".into()))?;
        Ok(vec![instruction(
            metas.clone(),
            sibyl::instruction::OpenRefereeGame {
                sequence: state.sequence,
                trace_root,
                output_root,
            },
        )])
    };
    // A game wrongly taken as opened would let a wrong result become
    // final: the request itself must show it is no longer open to one.
    let confirm = || no_longer_disputable(shared, request, state);
    match step.take(shared, prepare, build, confirm).await? {
        Outcome::Sent { sent, .. } => {
            shared.metrics.challenged.inc();
            tracing::warn!(signature = %sent.signature, %game, "opened a referee game on a wrong result");
        }
        Outcome::NotNeeded(_) => tracing::info!("already settled, or the window closed"),
        Outcome::WasDone => {}
    }
    Ok(())
}

/// Whether the chain shows `state`'s commitment closed to disputes: the
/// request gone, another instance, no longer committed, or its window over.
async fn no_longer_disputable(
    shared: &Shared,
    request: Pubkey,
    state: &InferenceRequest,
) -> Result<bool, NodeError> {
    let now: Option<InferenceRequest> = shared.chain.fetch(&request, "inference request").await?;
    let slot = shared.chain.slot().await?;
    Ok(now.is_none_or(|now| {
        now.sequence != state.sequence
            || now.status != RequestStatus::Committed
            || slot > now.challenge_deadline_slot
    }))
}

//! serve: finds pending requests for the models this node serves, runs the
//! model and commits the output. The output is journaled while it is sent,
//! so a restart commits the same bytes instead of running again, and the
//! program never takes a second commitment to a request.
use super::{
    availability, instance_key,
    step::{Journaled, JournaledStep, Outcome},
    NodeError, Service, Shared,
};
use crate::{
    chain::{writable_of, Sent},
    faulty,
    inference::Lane,
    journal::{Entry, Kind, Stage},
    metrics,
    referenced::InputError,
};
use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, ToAccountMetas};
use sibyl::{
    errors::SibylError,
    state::{project, InferenceRequest, Model, OutputView, RequestStatus},
};
use sibyl_client::{accounts, instruction};
use solana_rpc_client_types::response::{Response as RpcResponse, RpcKeyedAccount};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

/// A pending request as its PubSub notification delivered it.
#[derive(Debug)]
pub struct Notified {
    request: Pubkey,
    state: InferenceRequest,
    /// The slot the notification was sent at.
    slot: u64,
    /// When it arrived.
    at: Instant,
}

impl Notified {
    /// The pending request in a `programSubscribe` update, if it holds one.
    pub fn of(update: &RpcResponse<RpcKeyedAccount>) -> Option<Notified> {
        let data = update.value.account.data.decode()?;
        let state = InferenceRequest::try_deserialize(&mut data.as_slice()).ok()?;
        if state.status != RequestStatus::Pending {
            return None;
        }
        Some(Notified {
            request: update.value.pubkey.parse().ok()?,
            state,
            slot: update.context.slot,
            at: Instant::now(),
        })
    }
}

pub struct Serve {
    shared: Arc<Shared>,
    /// New pending requests from the node's subscription: served at once,
    /// without waiting for a scan.
    notified: Option<mpsc::Receiver<Notified>>,
    /// The served models as of the last scan.
    models: HashMap<Pubkey, Model>,
    /// Scans run at most this often (and always when nothing else wakes
    /// the service); in between, notifications alone launch work.
    scan_interval: Duration,
    last_scan: Option<Instant>,
    in_flight: Arc<std::sync::Mutex<HashSet<Pubkey>>>,
    /// Request instances ([`instance_key`]) that cannot be served: the
    /// model refused their input or ran past its time limit on it, or its
    /// output does not fit the registered specs (until a restart).
    unservable: Arc<std::sync::Mutex<HashSet<Pubkey>>>,
    tasks: JoinSet<()>,
    /// Requests found while [`MAX_SERVING`] are being served, launched as
    /// those finish (a backlog costs a queued request's state, not a task).
    waiting: VecDeque<Waiting>,
    waiting_requests: HashSet<Pubkey>,
    /// The slot the last scan read, raised by the notifications since: a
    /// waiting request is checked against it (scans pause while a backlog
    /// waits, notifications keep coming), so one that expired while it
    /// waited is not run.
    last_slot: u64,
    wake: Arc<tokio::sync::Notify>,
}

/// A request to serve once a serving task is free.
struct Waiting {
    request: Pubkey,
    state: InferenceRequest,
    model: Model,
    seen: Instant,
}

/// The most requests served at once; the inference permits bound how many
/// of them run a model, this bounds the tasks (and memory) a backlog makes.
const MAX_SERVING: usize = 512;

impl Serve {
    /// `wake` wakes the service: each serving task that ends rings it, so
    /// a waiting request takes the freed place at once.
    pub fn new(
        shared: Arc<Shared>,
        notified: Option<mpsc::Receiver<Notified>>,
        scan_interval: Duration,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            wake,
            shared,
            notified,
            models: HashMap::new(),
            scan_interval,
            last_scan: None,
            in_flight: Default::default(),
            unservable: Default::default(),
            tasks: JoinSet::new(),
            waiting: VecDeque::new(),
            waiting_requests: HashSet::new(),
            last_slot: 0,
        }
    }

    /// `seen`: when the node learned of the request (its notification
    /// arrived, or the scan that found it began).
    fn launch(&mut self, request: Pubkey, state: InferenceRequest, model: Model, seen: Instant) {
        let instance = instance_key(&state);
        if self
            .unservable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&instance)
        {
            return;
        }
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if in_flight.contains(&request) {
                return;
            }
            if in_flight.len() >= MAX_SERVING {
                drop(in_flight);
                if self.waiting_requests.insert(request) {
                    self.waiting.push_back(Waiting {
                        request,
                        state,
                        model,
                        seen,
                    });
                }
                return;
            }
            in_flight.insert(request);
            self.shared
                .metrics
                .serve_in_flight
                .set(metrics::gauge(in_flight.len()));
        }
        self.shared.metrics.requests_seen.inc();
        let (shared, in_flight, unservable, wake) = (
            self.shared.clone(),
            self.in_flight.clone(),
            self.unservable.clone(),
            self.wake.clone(),
        );
        let span = tracing::info_span!("serve", %request, model = %state.model);
        self.tasks.spawn(
            async move {
                match serve_one(&shared, request, state, &model, seen).await {
                    Ok(()) => {}
                    // The model cannot run this input, ran past its time
                    // limit on it, or made an output its registered specs
                    // refuse: say so once, not every scan; the request will
                    // expire and be refunded.
                    Err(err) if never_servable(&err) => {
                        shared.metrics.error("serve");
                        tracing::warn!(%err, "cannot serve this request; skipping it");
                        unservable
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(instance);
                    }
                    // The model cannot be fetched or loaded (the runner logs
                    // it, and its backoff decides when it is tried again), or
                    // the run failed for a reason another try may not meet.
                    Err(err @ NodeError::Inference(_)) => {
                        tracing::debug!(%err, "not served now; retrying next scan");
                    }
                    // The referenced input cannot be had (and was demanded
                    // where this node may): nothing is judged; once its bytes
                    // are on chain, a scan serves it.
                    Err(err @ NodeError::Input(InputError::Unavailable { .. })) => {
                        tracing::debug!(%err, "not served: the input is unavailable");
                    }
                    Err(err) => {
                        shared.metrics.error("serve");
                        tracing::warn!(%err, "not committed; retrying next scan");
                    }
                }
                {
                    let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
                    in_flight.remove(&request);
                    shared
                        .metrics
                        .serve_in_flight
                        .set(metrics::gauge(in_flight.len()));
                }
                wake.notify_one();
            }
            .instrument(span),
        );
    }
}

impl Service for Serve {
    const NAME: &'static str = "serve";

    async fn tick(&mut self) -> Result<(), NodeError> {
        // The next commitment's blockhash and fee, read ahead of it.
        self.shared.chain.keep_warm();
        while self.tasks.try_join_next().is_some() {}
        self.launch_waiting().await?;
        self.serve_notified().await?;
        // While a backlog waits, a scan would find nothing new to do but
        // cost a listing of every pending request: with a backlog of M, M
        // listings of M heads. New requests still arrive by notification.
        if !self.waiting.is_empty()
            || self
                .last_scan
                .is_some_and(|last| last.elapsed() < self.scan_interval)
        {
            return Ok(());
        }
        self.scan().await
    }

    async fn drain(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Serve {
    /// Launches the pending requests notifications delivered, for models
    /// the last scan found served (a scan catches the rest).
    async fn serve_notified(&mut self) -> Result<(), NodeError> {
        let Some(notified) = self.notified.as_mut() else {
            return Ok(());
        };
        let mut hints = Vec::new();
        while let Ok(hint) = notified.try_recv() {
            hints.push(hint);
        }
        for hint in hints {
            self.serve_hint(hint).await?;
        }
        Ok(())
    }

    /// Launches the pending request one notification delivered, if its
    /// model was served at the last scan.
    async fn serve_hint(&mut self, hint: Notified) -> Result<(), NodeError> {
        self.last_slot = self.last_slot.max(hint.slot);
        let Some(model) = self.models.get(&hint.state.model) else {
            return Ok(());
        };
        if self.is_taken(&hint.request) {
            return Ok(());
        }
        if self.should_serve(&hint.state, self.last_slot).await? {
            let model = model.clone();
            self.launch(hint.request, hint.state, model, hint.at);
        }
        Ok(())
    }

    /// Launches waiting requests while serving tasks are free, each checked
    /// again as the scan checked it (it may have expired, or been committed
    /// by this node, while it waited) at the last slot seen.
    async fn launch_waiting(&mut self) -> Result<(), NodeError> {
        while self.serving() < MAX_SERVING {
            let Some(next) = self.waiting.pop_front() else {
                return Ok(());
            };
            self.waiting_requests.remove(&next.request);
            if self.should_serve(&next.state, self.last_slot).await? {
                self.launch(next.request, next.state, next.model, next.seen);
            }
        }
        Ok(())
    }

    fn serving(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Being served, or waiting to be.
    fn is_taken(&self, request: &Pubkey) -> bool {
        self.waiting_requests.contains(request)
            || self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(request)
    }

    /// Its input still being written, expired, or already committed by this
    /// node: skip.
    async fn should_serve(&self, state: &InferenceRequest, slot: u64) -> Result<bool, NodeError> {
        if state.awaiting_input() || slot > state.deadline_slot {
            return Ok(false);
        }
        let done = matches!(
            self.shared
                .journal
                .get(Kind::Commit, &instance_key(state))
                .await?,
            Some(Entry {
                stage: Stage::Done { .. },
                ..
            })
        );
        Ok(!done)
    }

    /// Every pending request for the served models, from RPC reads. A
    /// request notified while they are read is served at once, not after
    /// them.
    async fn scan(&mut self) -> Result<(), NodeError> {
        let seen = Instant::now();
        let shared = self.shared.clone();
        let reads = async move {
            let (slot, models) = tokio::try_join!(
                async { Ok::<_, NodeError>(shared.chain.slot().await?) },
                shared.served_models(),
            )?;
            let pending = pending_of(&shared, &models).await?;
            Ok::<_, NodeError>((slot, models, pending))
        };
        tokio::pin!(reads);
        // Hints for a model the last scan did not find served wait for
        // this one's list, as many as the hint queue holds (anyone can make
        // requests; beyond, the next scan finds them, as when the queue is
        // full).
        let mut unknown_model = Vec::new();
        let (slot, models, pending) = loop {
            tokio::select! {
                read = &mut reads => break read?,
                Some(hint) = next_hint(&mut self.notified) => {
                    if self.models.contains_key(&hint.state.model) {
                        self.serve_hint(hint).await?;
                    } else if unknown_model.len() < super::PENDING_QUEUE {
                        unknown_model.push(hint);
                    }
                }
            }
        };
        let served: HashMap<&Pubkey, &Model> =
            models.iter().map(|(key, model)| (key, model)).collect();
        for (request, state) in pending {
            let Some(&model) = served.get(&state.model) else {
                continue;
            };
            // Being served or waiting to be: no journal lookup (a backlog
            // of open requests would cost one per request at every scan).
            if self.is_taken(&request) {
                continue;
            }
            if self.should_serve(&state, slot).await? {
                self.launch(request, state, model.clone(), seen);
            }
        }
        self.models = models.into_iter().collect();
        self.last_scan = Some(seen);
        // The scan's own slot, not the most ever seen: one wrong slot in a
        // notification lasts until the next scan, not for good.
        self.last_slot = slot;
        for hint in unknown_model {
            self.serve_hint(hint).await?;
        }
        Ok(())
    }
}

/// Up to this many served models, a scan lists each one's pending requests
/// (one call per model, filtered by the RPC node); past it, one listing of
/// every pending request's head, filtered here, costs less than a call per
/// model (measured in `docs/performance.md`, section 10).
const PER_MODEL_LISTINGS_UP_TO: usize = 8;

/// The next notified request; never, without a subscription.
async fn next_hint(notified: &mut Option<mpsc::Receiver<Notified>>) -> Option<Notified> {
    match notified {
        Some(notified) => notified.recv().await,
        None => std::future::pending().await,
    }
}

/// The pending requests of `models`.
async fn pending_of(
    shared: &Shared,
    models: &[(Pubkey, Model)],
) -> Result<Vec<(Pubkey, InferenceRequest)>, NodeError> {
    if models.len() > PER_MODEL_LISTINGS_UP_TO {
        let keys: HashSet<Pubkey> = models.iter().map(|(key, _)| *key).collect();
        return Ok(shared.requests_of(RequestStatus::Pending, &keys).await?);
    }
    // One read per served model, all in flight at once.
    let pending = futures_util::future::try_join_all(
        models
            .iter()
            .map(|(model_key, _)| shared.requests(RequestStatus::Pending, Some(model_key))),
    )
    .await?;
    Ok(pending.into_iter().flatten().collect())
}

async fn serve_one(
    shared: &Shared,
    request: Pubkey,
    state: InferenceRequest,
    model: &Model,
    seen: Instant,
) -> Result<(), NodeError> {
    let started = Instant::now();
    // How long the model ran, when this process ran it (not on a resume),
    // and when the entry to journal was ready.
    let mut inference = None;
    let mut prepared_at = None;
    // Whether the output was made wrong (faulty mode), its result's and
    // its whole output's bytes, when this process ran the model.
    let mut ran_with = None;
    // Derived once: they name what the step writes, and the instruction.
    let metas = accounts::commit_result(shared.wallet, request, state.model).to_account_metas(None);
    let step = JournaledStep {
        kind: Kind::Commit,
        key: instance_key(&state),
        action: "commit_result",
        // Someone committed first (us before a crash, or another operator);
        // or the request at this address is another instance now, and this
        // output, made for the one before, never lands on it.
        already_done: &[
            SibylError::RequestNotPending,
            SibylError::RequestInstanceMismatch,
            // Too late to commit: nothing is left to do for it.
            SibylError::RequestDeadlinePassed,
        ],
        writes: writable_of(&metas),
    };
    let prepare = async {
        let input = availability::input_or_demand(shared, request, &state).await?;
        let (honest, ran) = shared
            .runner
            .run_timed(Lane::Serve, model, input.clone())
            .await?;
        inference = Some(ran);
        let (whole, wrong, trace_root) = if model.referee.is_some() {
            // A referee model's commitment is its interpreter's run, which a
            // game judges by: its output, and the root over its trace.
            let referee = shared.runner.referee(model).await?;
            let lie = faulty::referee_lie(&request, shared.faulty_rate, &referee, &input);
            let party = shared
                .runner
                .referee_party(model, referee, input, lie)
                .await?;
            if lie.is_none() && party.result != honest {
                tracing::warn!("ONNX Runtime's output is not the referee's: committing the referee's, which a game judges by");
            }
            (
                party.result.clone(),
                lie.is_some(),
                Some(party.trace_root()),
            )
        } else {
            let (whole, wrong) = faulty::output_to_commit(&request, shared.faulty_rate, honest);
            (whole, wrong, None)
        };
        let misfit = |reason: String| NodeError::OutputMisfit { reason };
        let result = project(&model.output_views, &whole).map_err(|err| misfit(err.to_string()))?;
        model
            .check_output(&result, state.max_output_bytes)
            .map_err(|err| misfit(err.to_string()))?;
        // Where part of it stays off chain, kept before the commitment that
        // names it is journaled (elsewhere the result is the whole output).
        let whole_output_sha256 = if OutputView::all_whole(&model.output_views) {
            sibyl::hashing::whole_output_sha256(&whole)
        } else {
            shared.outputs.put(&whole).await?
        };
        // Logged once the step ends: a log line on the path costs a write
        // and wakes whoever reads the log.
        ran_with = Some((wrong, result.len(), whole.len()));
        prepared_at = Some(Instant::now());
        Ok(Entry {
            output: result,
            agrees: None,
            faulty: wrong,
            stage: Stage::Prepared,
            whole_output_sha256,
            trace_root,
        })
    };
    let build = |entry: &Entry| {
        Ok(vec![instruction(
            metas.clone(),
            sibyl::instruction::CommitResult {
                sequence: state.sequence,
                output: entry.output.clone(),
                whole_output_sha256: entry.whole_output_sha256,
                trace_root: entry.trace_root,
            },
        )])
    };
    // A commitment wrongly taken as made costs this node a fee, not a
    // wrong result: the refusal is trusted.
    let trusted = || async { Ok(true) };
    let taken = step.take(shared, prepare, build, trusted).await;
    if let Some((wrong, bytes, whole_bytes)) = ran_with {
        tracing::info!(faulty = wrong, bytes, whole_bytes, "inference done");
    }
    match taken? {
        Outcome::Sent { sent, journaled } => {
            shared.metrics.committed.inc();
            match (inference, prepared_at, journaled) {
                (Some(inference), Some(prepared_at), Some(journaled)) => {
                    let phases = Phases {
                        seen,
                        started,
                        inference,
                        prepared_at,
                        journaled,
                        sent,
                    };
                    shared
                        .metrics
                        .serve_overhead_seconds
                        .observe(phases.overhead().as_secs_f64());
                    phases.log();
                }
                _ => tracing::info!(signature = %sent.signature, "committed"),
            }
        }
        Outcome::NotNeeded(err) if err.refused_with(SibylError::RequestNotPending) => {
            let now = shared
                .chain
                .fetch::<InferenceRequest>(&request, "inference request")
                .await?;
            let ours = now.is_some_and(|now| now.operator == shared.operator);
            tracing::info!(ours, "already committed");
        }
        Outcome::NotNeeded(_) => {
            tracing::info!("the request was made again; this output is not for it")
        }
        Outcome::WasDone => {}
    }
    Ok(())
}

/// When one commitment's steps ended, from the moment the node learned of
/// its request to `sendTransaction` returning: the node's own share of the
/// latency is all of it but the model's run.
struct Phases {
    seen: Instant,
    /// The serving task began (after the journal lookup and the queue).
    started: Instant,
    /// The model's run alone.
    inference: Duration,
    /// The entry to journal was ready (input read, model run, output encoded).
    prepared_at: Instant,
    /// Its transaction's budget was settled; its entry's write, beside
    /// the send.
    journaled: Journaled,
    sent: Sent,
}

impl Phases {
    fn seen_to_sent(&self) -> Duration {
        self.sent.sent_at.saturating_duration_since(self.seen)
    }

    /// Learning of the request to handing its commitment to the RPC node,
    /// less the model's run: the node's own time. What follows (the RPC
    /// node's answer to `sendTransaction`) is the RPC node's.
    fn overhead(&self) -> Duration {
        self.sent
            .signed_at
            .saturating_duration_since(self.seen)
            .saturating_sub(self.inference)
    }

    /// The `committed` line, with each phase's share (the bench reads them).
    fn log(&self) {
        let since = |later: Instant, earlier: Instant| {
            metrics::micros(later.saturating_duration_since(earlier))
        };
        tracing::info!(
            signature = %self.sent.signature,
            seen_to_sent_us = metrics::micros(self.seen_to_sent()),
            inference_us = metrics::micros(self.inference),
            overhead_us = metrics::micros(self.overhead()),
            queued_us = since(self.started, self.seen),
            prepare_us = metrics::micros(
                self.prepared_at
                    .saturating_duration_since(self.started)
                    .saturating_sub(self.inference)
            ),
            ready_us = since(self.journaled.ready_at, self.prepared_at),
            journal_us = metrics::micros(self.journaled.journal),
            limit_us = metrics::micros(self.journaled.unit_limit),
            fee_us = metrics::micros(self.journaled.fee),
            sign_us = since(self.sent.signed_at, self.journaled.ready_at),
            send_us = since(self.sent.sent_at, self.sent.signed_at),
            "committed"
        );
    }
}

/// Whether serving `err`'s request again would fail the same way.
fn never_servable(err: &NodeError) -> bool {
    match err {
        NodeError::OutputMisfit { .. } => true,
        NodeError::Inference(err) => err.is_about_input() || err.is_timeout(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::AccountSerialize;
    use solana_account_decoder_client_types::{UiAccount, UiAccountData, UiAccountEncoding};
    use solana_rpc_client_types::response::RpcResponseContext;

    fn request(status: RequestStatus) -> InferenceRequest {
        crate::test_support::request(status)
    }

    fn update(address: Pubkey, data: Vec<u8>, slot: u64) -> RpcResponse<RpcKeyedAccount> {
        use base64::Engine;
        RpcResponse {
            context: RpcResponseContext::new(slot),
            value: RpcKeyedAccount {
                pubkey: address.to_string(),
                account: UiAccount {
                    lamports: 1,
                    data: UiAccountData::Binary(
                        base64::engine::general_purpose::STANDARD.encode(data),
                        UiAccountEncoding::Base64,
                    ),
                    owner: sibyl::ID.to_string(),
                    executable: false,
                    rent_epoch: 0,
                    space: None,
                },
            },
        }
    }

    fn serialized(state: &InferenceRequest) -> Vec<u8> {
        let mut data = Vec::new();
        state.try_serialize(&mut data).unwrap();
        data
    }

    #[test]
    fn a_notification_of_a_pending_request_is_served_from_its_data() {
        let address = Pubkey::new_unique();
        let state = request(RequestStatus::Pending);
        let notified = Notified::of(&update(address, serialized(&state), 42)).unwrap();
        assert_eq!(notified.request, address);
        assert_eq!(notified.slot, 42);
        assert_eq!(notified.state.model, state.model);
        assert_eq!(notified.state.input, state.input);
    }

    #[test]
    fn other_notifications_are_left_to_the_scans() {
        let address = Pubkey::new_unique();
        let committed = request(RequestStatus::Committed);
        assert!(Notified::of(&update(address, serialized(&committed), 1)).is_none());
        assert!(Notified::of(&update(address, vec![0; 40], 1)).is_none());
        let pending = serialized(&request(RequestStatus::Pending));
        let mut bad_address = update(address, pending, 1);
        bad_address.value.pubkey = "not an address".to_string();
        assert!(Notified::of(&bad_address).is_none());
    }
}

//! The node: one process, its services switched on by `node.roles`. Each
//! service is a long-running task that scans the chain every poll interval
//! and whenever the program subscription reports a change (whichever comes
//! first), and stops on the shutdown signal after finishing what it started.
mod availability;
mod crank;
pub mod index;
mod referee;
mod schedule;
mod serve;
mod status;
mod step;
mod vote;
mod watch;

use crate::{
    chain::{ChainClient, ChainError},
    config::{redact_url, Config, ModelAllowlist, Role},
    engine::{Engine, EngineError, EngineSettings},
    faulty, hex,
    inference::{InferenceError, Runner},
    journal::{Journal, JournalError},
    keys::{read_keypair, KeyError},
    metrics::Metrics,
    outputs::{self, OutputStore},
    referenced::{InputError, InputFetcher},
    store::ModelStore,
    verifier::{Verifier, VerifyError},
};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{Model, Operator};
use sibyl_client::{accounts::Tokens, pda};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::{
    sync::{mpsc, watch as signal, Notify},
    task::JoinSet,
};

/// What stops a service step; each names the request, model or operator.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Outputs(#[from] crate::outputs::OutputStoreError),
    #[error("operator {operator} is not registered: run `sibyl operator register --stake <TOKENS>` with this keypair first")]
    NotRegistered { operator: Pubkey },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The model's output for a request does not fit the specs or the
    /// output bound its publisher registered, so the program would refuse
    /// it: never retried (the request expires and is refunded; a watcher
    /// challenges any other commitment of it).
    #[error("the model's output does not fit its registered output specs or bound: {reason}")]
    OutputMisfit { reason: String },
    #[error("{0}")]
    Internal(String),
}

/// What every service shares: the chain, the runner, the journal, metrics
/// and who this node is.
pub struct Shared {
    pub chain: Arc<ChainClient>,
    pub runner: Arc<Runner>,
    /// Re-executes others' commitments (watch, vote) on the runner.
    pub verifier: Verifier,
    /// Fetches the inputs requests name by reference.
    pub inputs: InputFetcher,
    pub journal: Arc<Journal>,
    pub metrics: Arc<Metrics>,
    /// The whole outputs this node committed or challenged with, served
    /// by hash beside its metrics.
    pub outputs: OutputStore,
    /// The operator's authority wallet (signs and pays).
    pub wallet: Pubkey,
    /// The operator account (PDA of the wallet).
    pub operator: Pubkey,
    /// The payment mint and its token program.
    pub tokens: Tokens,
    /// The models this node runs (`node.models`).
    pub allowlist: ModelAllowlist,
    /// The models it serves (`node.serve_models`, within those).
    pub serve_allowlist: ModelAllowlist,
    /// `--faulty` rate (0: honest; always 0 without `test-faults`).
    pub faulty_rate: f64,
    /// The open requests read so far, which every scan reads through
    /// ([`Shared::requests`]).
    pub request_index: index::RequestIndex,
}

impl Shared {
    /// The active (not retired) models this node serves.
    pub async fn served_models(&self) -> Result<Vec<(Pubkey, Model)>, NodeError> {
        let profile_id = self.runner.profile_id();
        let mut models = self.watched_models().await?;
        models.retain(|(_, model)| !model.retired && self.serve_allowlist.runs(model, &profile_id));
        Ok(models)
    }

    /// The models whose commitments this node re-executes and votes on: the
    /// served ones, and those retired since, whose open commitments still
    /// run their challenge windows. Only these are ever run.
    pub async fn watched_models(&self) -> Result<Vec<(Pubkey, Model)>, NodeError> {
        let profile_id = self.runner.profile_id();
        let models = self
            .chain
            .program_accounts::<Model>("model", Vec::new())
            .await?;
        Ok(models
            .into_iter()
            .filter(|(_, model)| self.allowlist.runs(model, &profile_id))
            .collect())
    }

    /// The requests in `status` (of `model`, or of all), through the index:
    /// only new or changed requests are read whole.
    pub async fn requests(
        &self,
        status: sibyl::state::RequestStatus,
        model: Option<&Pubkey>,
    ) -> Result<Vec<(Pubkey, sibyl::state::InferenceRequest)>, ChainError> {
        self.request_index
            .requests(&self.chain, status, model)
            .await
    }

    /// The requests in `status` of any of `models` (see
    /// [`index::RequestIndex::requests_of`]).
    pub async fn requests_of(
        &self,
        status: sibyl::state::RequestStatus,
        models: &std::collections::HashSet<Pubkey>,
    ) -> Result<Vec<(Pubkey, sibyl::state::InferenceRequest)>, ChainError> {
        self.request_index
            .requests_of(&self.chain, status, models)
            .await
    }

    /// This node's operator account, if registered.
    pub async fn operator_account(&self) -> Result<Option<Operator>, NodeError> {
        Ok(self.chain.fetch(&self.operator, "operator").await?)
    }
}

/// Publishes `output_url` as the operator's output URL when it is set and
/// the account names another: clients then fetch whole outputs from this
/// node.
async fn publish_output_url(
    shared: &Shared,
    account: &Operator,
    output_url: &str,
) -> Result<(), NodeError> {
    if output_url.is_empty() || account.output_url == output_url {
        return Ok(());
    }
    crate::actions::operator::set_output_url(&shared.chain, output_url).await?;
    tracing::info!(output_url, "published where this node serves whole outputs");
    Ok(())
}

/// The journal key of this node's work on one request instance. A
/// request's address can be used again once its account is closed, so the
/// key is the address that names the instance: its dispute PDA, derived from
/// the model and the request's sequence number.
pub fn instance_key(state: &sibyl::state::InferenceRequest) -> Pubkey {
    sibyl_client::pda::dispute_of(state)
}

/// One of the node's services: a step that scans and acts.
pub trait Service: Send + 'static {
    /// The role's name, for logs and metrics.
    const NAME: &'static str;
    /// The least time between the starts of two scans a notification
    /// woke: a burst of account changes (anyone can make one cheaply)
    /// costs one scan per gap, not one per change. Zero for a service
    /// whose woken tick is cheap (serve's drains its queue of hints).
    const MIN_WOKEN_GAP: Duration = Duration::ZERO;
    /// One scan of the chain and the actions it calls for.
    fn tick(&mut self) -> impl Future<Output = Result<(), NodeError>> + Send;
    /// Waits for work the service started to finish (on shutdown).
    fn drain(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A running node.
pub struct Node {
    shared: Arc<Shared>,
    roles: Vec<Role>,
    poll_interval: Duration,
    shutdown_timeout: Duration,
    journal_retention: Duration,
    metrics_listen: Option<std::net::SocketAddr>,
}

impl Node {
    /// Loads the runtime, opens the journal and checks the operator
    /// account; nothing runs until [`Node::run`].
    pub async fn start(config: &Config) -> Result<Node, NodeError> {
        let engine = Arc::new(Engine::new(&EngineSettings {
            library_path: config.runtime.library.clone(),
        })?);
        let metrics = Metrics::new();
        let store = ModelStore::with_limits(
            config.node.model_cache.clone(),
            config.node.model_base_dir.clone(),
            config.fetch.limits(),
        );
        let stale = store.remove_stale_partials();
        if stale > 0 {
            tracing::info!(
                stale,
                "deleted partial model downloads left by an earlier run"
            );
        }
        let inputs = InputFetcher::new(
            config.node.model_cache.join("inputs"),
            config.node.model_base_dir.clone(),
            config.fetch.limits(),
        );
        inputs.remove_stale_partials();
        let runner = Arc::new(Runner::new(
            engine.clone(),
            store,
            config.node.runner_settings(),
            metrics.clone(),
        ));
        let journal = Arc::new(Journal::open(&config.node.journal)?);
        let signer = Arc::new(read_keypair(&config.identity.keypair)?);
        let wallet = solana_signer::Signer::pubkey(&*signer);
        let chain = Arc::new(ChainClient::with_endpoints(
            &config.endpoints()?,
            signer,
            config.send.settings(),
        ));
        let tokens = chain.payment_tokens().await?;
        let operator = pda::operator(&wallet);
        let shared = Arc::new(Shared {
            chain,
            verifier: Verifier::new(runner.clone()),
            inputs,
            outputs: OutputStore::new(config.node.output_dir.clone()),
            runner,
            journal,
            metrics,
            wallet,
            operator,
            tokens,
            allowlist: config.node.allowlist(),
            serve_allowlist: config.node.serve_allowlist(),
            faulty_rate: config.faulty_rate(),
            request_index: index::RequestIndex::default(),
        });
        let needs_operator = config.node.roles.iter().any(|role| *role != Role::Crank);
        let account = shared.operator_account().await?;
        if needs_operator && account.is_none() {
            return Err(NodeError::NotRegistered { operator });
        }
        if let Some(account) = account {
            // Serving does not wait on it: clients try every operator's URL.
            if let Err(err) = publish_output_url(&shared, &account, &config.node.output_url).await {
                tracing::warn!(%err, "could not publish node.output_url; serving whole outputs anyway");
            }
        }
        tracing::info!(
            %wallet,
            %operator,
            profile_id = %hex::encode(&engine.profile_id()),
            roles = ?config.node.roles,
            "node ready"
        );
        if faulty::COMPILED_IN {
            tracing::warn!(
                "this sibyl was built with the `test-faults` feature (demos and tests only): \
                 build the one you run with `cargo build --release -p sibyl-oracle`"
            );
        }
        if config.faulty_rate() > 0.0 {
            tracing::warn!(
                rate = config.faulty_rate(),
                "FAULTY MODE: this node commits deliberately WRONG outputs (demos and tests only)"
            );
        }
        Ok(Node {
            shared,
            roles: config.node.roles.clone(),
            poll_interval: Duration::from_millis(config.node.poll_interval_ms),
            shutdown_timeout: Duration::from_millis(config.node.shutdown_timeout_ms),
            journal_retention: Duration::from_secs(
                config.node.journal_retention_hours.saturating_mul(3600),
            ),
            metrics_listen: config.metrics.listen,
        })
    }

    /// What the services share (for tests and the CLI).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs every configured service until `shutdown` turns true, then
    /// lets them finish what they started.
    pub async fn run(self, shutdown: signal::Receiver<bool>) -> Result<(), NodeError> {
        let mut tasks = JoinSet::new();
        if let Some(addr) = self.metrics_listen {
            let metrics = self.shared.metrics.clone();
            let shutdown = shutdown.clone();
            let outputs = outputs::router(self.shared.outputs.clone());
            tasks.spawn(async move {
                if let Err(err) = metrics.serve(addr, outputs, shutdown).await {
                    tracing::error!(%addr, %err, "metrics endpoint failed");
                }
            });
        }
        // One wake-up per service: a notification that arrives while the
        // service is scanning is kept for its next wait, not lost.
        let wakes: Vec<Arc<Notify>> = self.roles.iter().map(|_| Arc::default()).collect();
        // New pending requests, straight from their notifications, for serve.
        let (pending_sender, pending) = mpsc::channel(PENDING_QUEUE);
        tasks.spawn(subscription(
            self.shared.metrics.clone(),
            self.shared.chain.ws_urls().to_vec(),
            wakes.clone(),
            self.roles.contains(&Role::Serve).then_some(pending_sender),
            shutdown.clone(),
        ));
        // Always on: the metrics and readiness every operator needs.
        tasks.spawn(run_service(
            status::Status::new(self.shared.clone(), self.journal_retention),
            Arc::default(),
            self.poll_interval.max(Duration::from_secs(1)),
            shutdown.clone(),
        ));
        // A node that serves defends its referee games; one that watches
        // plays those it opened.
        if self.roles.contains(&Role::Serve) || self.roles.contains(&Role::Watch) {
            tasks.spawn(run_service(
                referee::Referee::new(self.shared.clone()),
                Arc::default(),
                self.poll_interval,
                shutdown.clone(),
            ));
        }
        let mut pending = Some(pending);
        for (role, wake) in self.roles.iter().zip(wakes) {
            let (shared, shutdown, poll) =
                (self.shared.clone(), shutdown.clone(), self.poll_interval);
            match role {
                Role::Serve => {
                    let serve = serve::Serve::new(shared, pending.take(), poll, wake.clone());
                    tasks.spawn(run_service(serve, wake, poll, shutdown))
                }
                Role::Watch => {
                    tasks.spawn(run_service(watch::Watch::new(shared), wake, poll, shutdown))
                }
                Role::Vote => {
                    tasks.spawn(run_service(vote::Vote::new(shared), wake, poll, shutdown))
                }
                Role::Crank => {
                    tasks.spawn(run_service(crank::Crank::new(shared), wake, poll, shutdown))
                }
            };
        }
        // Until shutdown, then for at most the shutdown timeout: work still
        // running then is cut off, and what it journaled resumes on restart.
        let mut stopping = shutdown.clone();
        let deadline = async {
            stopped(&mut stopping).await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Err(err)) if err.is_panic() => {
                        tracing::error!(%err, "a node task panicked")
                    }
                    Some(_) => {}
                    None => break,
                },
                () = &mut deadline => {
                    tracing::warn!(
                        tasks = tasks.len(),
                        timeout_ms = crate::metrics::millis(self.shutdown_timeout),
                        "shutdown timeout passed: stopping what still runs; its journaled steps resume on restart"
                    );
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        tracing::info!("node stopped");
        Ok(())
    }
}

/// New pending requests waiting for serve, straight from notifications;
/// beyond this many, hints are dropped and scans find the requests.
pub const PENDING_QUEUE: usize = 1024;

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut signal::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn run_service<S: Service>(
    mut service: S,
    wake: Arc<Notify>,
    poll_interval: Duration,
    mut shutdown: signal::Receiver<bool>,
) {
    tracing::info!(service = S::NAME, "started");
    while !*shutdown.borrow() {
        let started = tokio::time::Instant::now();
        if let Err(err) = service.tick().await {
            tracing::warn!(service = S::NAME, %err, "step failed; retrying next scan");
        }
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = tokio::time::sleep(poll_interval) => {}
            _ = wake.notified() => {
                tokio::select! {
                    _ = stopped(&mut shutdown) => break,
                    _ = tokio::time::sleep_until(started + S::MIN_WOKEN_GAP) => {}
                }
            }
        }
    }
    service.drain().await;
    tracing::info!(service = S::NAME, "stopped");
}

/// The scan gap of the services that re-read every open request or dispute
/// when woken (watch, vote, crank): a slot is 400 ms, and the shortest
/// window is five slots.
const SCAN_GAP: Duration = Duration::from_millis(250);

/// How long connecting to a PubSub endpoint, or subscribing there, may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The error of a PubSub endpoint that did not answer `what` in time.
fn silent(what: &str) -> solana_pubsub_client::nonblocking::pubsub_client::PubsubClientError {
    solana_pubsub_client::nonblocking::pubsub_client::PubsubClientError::ConnectionClosed(format!(
        "no answer to {what} within {SUBSCRIBE_TIMEOUT:?}"
    ))
}

/// Wakes the services whenever a Sibyl account changes; reconnects with
/// backoff if the PubSub connection drops. Polling covers the gaps.
async fn subscription(
    metrics: Arc<Metrics>,
    ws_urls: Vec<String>,
    wakes: Vec<Arc<Notify>>,
    pending: Option<mpsc::Sender<serve::Notified>>,
    mut shutdown: signal::Receiver<bool>,
) {
    use anchor_lang::Discriminator;
    use futures_util::StreamExt;
    use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
    use solana_rpc_client_types::filter::{Memcmp, RpcFilterType};
    // Only the accounts whose changes call for work: requests (serve,
    // watch, crank) and disputes (vote, crank; a reveal changes its
    // dispute's tally too). Votes, operators, models and the config
    // change without waking anyone; the scans read them.
    let only = |discriminator: &[u8]| solana_rpc_client_types::config::RpcProgramAccountsConfig {
        filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
            0,
            discriminator,
        ))]),
        account_config: solana_rpc_client_types::config::RpcAccountInfoConfig {
            encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
            // The commitment the node reads at: a real cluster's default
            // (finalized) arrives seconds late.
            commitment: Some(solana_commitment_config::CommitmentConfig::confirmed()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (requests, disputes) = (
        only(sibyl::state::InferenceRequest::DISCRIMINATOR),
        only(sibyl::state::Dispute::DISCRIMINATOR),
    );
    // Every way the subscription fails or ends waits out the same backoff
    // before the next attempt: an endpoint that refuses `programSubscribe`
    // (many providers do) or drops it at once is never hammered.
    let mut backoff = Duration::from_millis(200);
    // A failed or dropped subscription moves on to the next endpoint's
    // PubSub URL (with one endpoint, the same one again).
    let mut endpoints = ws_urls.iter().cycle();
    while !*shutdown.borrow() {
        let Some(ws_url) = endpoints.next() else {
            return;
        };
        // An endpoint that takes the connection and then says nothing must
        // not hold the subscription: the next attempt moves on.
        let connected = tokio::time::timeout(SUBSCRIBE_TIMEOUT, PubsubClient::new(ws_url))
            .await
            .unwrap_or_else(|_| Err(silent("connecting")));
        match connected {
            Err(err) => {
                tracing::debug!(ws_url = %redact_url(ws_url), %err, "PubSub unavailable; polling only");
            }
            Ok(client) => match tokio::time::timeout(
                SUBSCRIBE_TIMEOUT,
                futures_util::future::try_join(
                    client.program_subscribe(&sibyl::ID, Some(requests.clone())),
                    client.program_subscribe(&sibyl::ID, Some(disputes.clone())),
                ),
            )
            .await
            .unwrap_or_else(|_| Err(silent("programSubscribe")))
            {
                Err(err) => {
                    tracing::debug!(ws_url = %redact_url(ws_url), %err, "programSubscribe refused; polling only");
                }
                Ok((
                    (request_updates, unsubscribe_requests),
                    (dispute_updates, unsubscribe_disputes),
                )) => {
                    let subscribed_at = tokio::time::Instant::now();
                    metrics.subscription(true);
                    // Either subscription ending ends both (`None`).
                    let ended = || futures_util::stream::iter([None]);
                    let mut updates = futures_util::stream::select(
                        request_updates.map(Some).chain(ended()),
                        dispute_updates.map(Some).chain(ended()),
                    );
                    loop {
                        tokio::select! {
                            _ = stopped(&mut shutdown) => {
                                metrics.subscription(false);
                                drop(updates);
                                unsubscribe_requests().await;
                                unsubscribe_disputes().await;
                                return;
                            }
                            update = updates.next() => match update.flatten() {
                                Some(update) => {
                                    if let Some(pending) = &pending {
                                        if let Some(notified) = serve::Notified::of(&update) {
                                            // A full queue drops the hint: the next
                                            // scan finds the request all the same.
                                            let _ = pending.try_send(notified);
                                        }
                                    }
                                    wakes.iter().for_each(|wake| wake.notify_one());
                                }
                                None => break,
                            },
                        }
                    }
                    metrics.subscription(false);
                    // Only a subscription that held a while earns a quick
                    // reconnect: one dropped at once backs off like a refusal.
                    if subscribed_at.elapsed() >= Duration::from_secs(10) {
                        backoff = Duration::from_millis(200);
                    }
                    tracing::warn!(ws_url = %redact_url(ws_url), "program subscription dropped; reconnecting");
                }
            },
        }
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);

    impl Service for Counting {
        const NAME: &'static str = "counting";
        const MIN_WOKEN_GAP: Duration = SCAN_GAP;

        async fn tick(&mut self) -> Result<(), NodeError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    /// A notification every 10 ms for a second (a cheap stream of account
    /// changes anyone can cause) costs a scan per gap, not one per change.
    #[tokio::test]
    async fn a_burst_of_notifications_costs_one_scan_per_gap() {
        let ticks = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let (stop, shutdown) = signal::channel(false);
        let service = tokio::spawn(run_service(
            Counting(ticks.clone()),
            wake.clone(),
            Duration::from_secs(60),
            shutdown,
        ));
        let burst = Duration::from_secs(1);
        let started = std::time::Instant::now();
        while started.elapsed() < burst {
            wake.notify_one();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        service.await.unwrap();
        let scans = ticks.load(Ordering::Relaxed);
        let most = 2 + (burst.as_millis() / SCAN_GAP.as_millis()) as usize;
        assert!(
            (2..=most).contains(&scans),
            "{scans} scans for 100 notifications"
        );
    }
}

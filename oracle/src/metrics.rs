//! Prometheus metrics (what the node saw and did, what it holds, how far
//! behind it is) and the health endpoints an orchestrator probes:
//! `/healthz` (the process serves) and `/readyz` (RPC reachable,
//! subscription live, slots advancing).
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// The content type of the OpenMetrics text exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A node is not ready once its last successful RPC read is older than this.
pub const RPC_STALE_AFTER: Duration = Duration::from_secs(15);
/// A node is not ready once the slot it reads has not advanced for this long.
pub const SLOT_STALE_AFTER: Duration = Duration::from_secs(30);

/// What readiness is judged from, updated by the node's tasks.
pub struct Health {
    started: Instant,
    /// Milliseconds after `started` of the last successful RPC read (0: none).
    rpc_ok_ms: AtomicU64,
    subscription_live: AtomicBool,
    slot: AtomicU64,
    /// Milliseconds after `started` when `slot` last advanced (0: never).
    slot_advanced_ms: AtomicU64,
}

impl Health {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            rpc_ok_ms: AtomicU64::new(0),
            subscription_live: AtomicBool::new(false),
            slot: AtomicU64::new(0),
            slot_advanced_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// An RPC read that succeeded, at `slot`.
    pub fn rpc_ok(&self, slot: u64) {
        let now = self.now_ms();
        self.rpc_ok_ms.store(now, Ordering::Relaxed);
        if self.slot.fetch_max(slot, Ordering::Relaxed) < slot {
            self.slot_advanced_ms.store(now, Ordering::Relaxed);
        }
    }

    /// Whether the program subscription is connected.
    pub fn subscription(&self, live: bool) {
        self.subscription_live.store(live, Ordering::Relaxed);
    }

    fn age(&self, at_ms: &AtomicU64) -> Option<Duration> {
        match at_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(self.now_ms().saturating_sub(at))),
        }
    }

    /// How long since the slot last advanced (`None`: no slot read yet).
    pub fn slot_age(&self) -> Option<Duration> {
        self.age(&self.slot_advanced_ms)
    }

    /// Ready, or what is wrong (one reason a line).
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        match self.age(&self.rpc_ok_ms) {
            None => problems.push("rpc: no successful read yet".to_string()),
            Some(age) if age > RPC_STALE_AFTER => {
                problems.push(format!("rpc: no successful read for {} s", age.as_secs()))
            }
            Some(_) => {}
        }
        if !self.subscription_live.load(Ordering::Relaxed) {
            problems.push("subscription: the program subscription is not connected".to_string());
        }
        match self.slot_age() {
            Some(age) if age > SLOT_STALE_AFTER => problems.push(format!(
                "slot: stuck at {} for {} s",
                self.slot.load(Ordering::Relaxed),
                age.as_secs()
            )),
            _ => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    /// Pending requests discovered for served models.
    pub requests_seen: Counter,
    /// Results this node committed.
    pub committed: Counter,
    /// Challenges this node opened.
    pub challenged: Counter,
    /// Votes this node cast.
    pub votes_cast: Counter,
    /// Referenced inputs this node could not get with the declared bytes.
    pub inputs_unavailable: Counter,
    /// Referenced inputs this node demanded on chain.
    pub inputs_demanded: Counter,
    /// Settlements this node cranked, by instruction.
    pub cranked: Family<Vec<(String, String)>, Counter>,
    /// Disputes over this operator's commitments won and lost (from its account).
    pub disputes_won: Gauge,
    pub disputes_lost: Gauge,
    /// Seconds one inference took.
    pub inference_seconds: Histogram,
    /// Seconds from the scan that found a request to its commit being
    /// sent, less the inference: the node's own overhead.
    pub serve_overhead_seconds: Histogram,
    /// Failed steps, by service.
    pub errors: Family<Vec<(String, String)>, Counter>,
    /// Others' commitments whose challenge window closed before this node
    /// had a verdict on them (verification fell behind).
    pub unverified_commitments: Counter,
    /// Verifications dropped because their deadline could no longer be met.
    pub verifications_dropped: Counter,
    /// The node wallet's SOL, in lamports (it pays every fee).
    pub sol_balance_lamports: Gauge,
    /// The node wallet's payment tokens, in base units.
    pub token_balance: Gauge,
    /// The operator's stake, in base units.
    pub stake: Gauge,
    /// The latest slot read.
    pub slot: Gauge,
    /// Seconds since the slot read last advanced.
    pub slot_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Seconds one status read from the RPC endpoint took.
    pub rpc_latency_seconds: Histogram,
    /// Status reads from the RPC endpoint that failed.
    pub rpc_errors: Counter,
    /// 1 while the program subscription is connected.
    pub subscription_connected: Gauge,
    /// Which RPC endpoint is in use: 0 for `cluster.rpc_url`, then each of
    /// `cluster.fallback_rpc_urls` in order.
    pub rpc_endpoint: Gauge,
    /// Journal steps prepared and not yet done, by kind.
    pub journal_unfinished: Family<Vec<(String, String)>, Gauge>,
    /// Requests being served now.
    pub serve_in_flight: Gauge,
    /// What readiness is judged from.
    pub health: Health,
}

impl Metrics {
    /// A fresh set of metrics, registered under the `sibyl_` prefix.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("sibyl");
        let metrics = Metrics {
            requests_seen: Counter::default(),
            committed: Counter::default(),
            challenged: Counter::default(),
            votes_cast: Counter::default(),
            inputs_unavailable: Counter::default(),
            inputs_demanded: Counter::default(),
            cranked: Family::default(),
            disputes_won: Gauge::default(),
            disputes_lost: Gauge::default(),
            inference_seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
            serve_overhead_seconds: Histogram::new([
                0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
            ]),
            errors: Family::default(),
            unverified_commitments: Counter::default(),
            verifications_dropped: Counter::default(),
            sol_balance_lamports: Gauge::default(),
            token_balance: Gauge::default(),
            stake: Gauge::default(),
            slot: Gauge::default(),
            slot_age_seconds: Gauge::default(),
            rpc_latency_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            rpc_errors: Counter::default(),
            subscription_connected: Gauge::default(),
            rpc_endpoint: Gauge::default(),
            journal_unfinished: Family::default(),
            serve_in_flight: Gauge::default(),
            health: Health::new(),
            registry: Registry::default(),
        };
        registry.register(
            "requests_seen",
            "Pending requests seen for served models",
            metrics.requests_seen.clone(),
        );
        registry.register("committed", "Results committed", metrics.committed.clone());
        registry.register(
            "challenged",
            "Challenges opened",
            metrics.challenged.clone(),
        );
        registry.register(
            "votes_cast",
            "Dispute votes cast",
            metrics.votes_cast.clone(),
        );
        registry.register(
            "inputs_unavailable",
            "Referenced inputs this node could not get with the declared bytes",
            metrics.inputs_unavailable.clone(),
        );
        registry.register(
            "inputs_demanded",
            "Referenced inputs this node demanded on chain",
            metrics.inputs_demanded.clone(),
        );
        registry.register("cranked", "Settlements cranked", metrics.cranked.clone());
        registry.register(
            "disputes_won",
            "Disputes over this operator's results it won",
            metrics.disputes_won.clone(),
        );
        registry.register(
            "disputes_lost",
            "Disputes over this operator's results it lost",
            metrics.disputes_lost.clone(),
        );
        registry.register(
            "inference_seconds",
            "Inference latency",
            metrics.inference_seconds.clone(),
        );
        registry.register(
            "serve_overhead_seconds",
            "From the scan that found a request to its commit being sent, less inference",
            metrics.serve_overhead_seconds.clone(),
        );
        registry.register("errors", "Failed steps", metrics.errors.clone());
        registry.register(
            "unverified_commitments",
            "Others' commitments whose challenge window closed before this node had a verdict",
            metrics.unverified_commitments.clone(),
        );
        registry.register(
            "verifications_dropped",
            "Verifications dropped because their deadline could no longer be met",
            metrics.verifications_dropped.clone(),
        );
        registry.register(
            "sol_balance_lamports",
            "The node wallet's SOL, which pays every fee",
            metrics.sol_balance_lamports.clone(),
        );
        registry.register(
            "token_balance",
            "The node wallet's payment tokens, in base units",
            metrics.token_balance.clone(),
        );
        registry.register(
            "stake",
            "The operator's stake, in base units",
            metrics.stake.clone(),
        );
        registry.register("slot", "The latest slot read", metrics.slot.clone());
        registry.register(
            "slot_age_seconds",
            "Seconds since the slot read last advanced",
            metrics.slot_age_seconds.clone(),
        );
        registry.register(
            "rpc_latency_seconds",
            "Latency of the node's status reads from the RPC endpoint",
            metrics.rpc_latency_seconds.clone(),
        );
        registry.register(
            "rpc_errors",
            "Status reads from the RPC endpoint that failed",
            metrics.rpc_errors.clone(),
        );
        registry.register(
            "subscription_connected",
            "1 while the program subscription is connected",
            metrics.subscription_connected.clone(),
        );
        registry.register(
            "rpc_endpoint",
            "The RPC endpoint in use: 0 for cluster.rpc_url, then each fallback in order",
            metrics.rpc_endpoint.clone(),
        );
        registry.register(
            "journal_unfinished",
            "Journal steps prepared and not yet done",
            metrics.journal_unfinished.clone(),
        );
        registry.register(
            "serve_in_flight",
            "Requests being served now",
            metrics.serve_in_flight.clone(),
        );
        Arc::new(Metrics {
            registry,
            ..metrics
        })
    }

    /// Counts one failure of `service`.
    pub fn error(&self, service: &str) {
        self.errors
            .get_or_create(&vec![("service".to_string(), service.to_string())])
            .inc();
    }

    /// Counts one cranked `instruction`.
    pub fn crank(&self, instruction: &str) {
        self.cranked
            .get_or_create(&vec![("instruction".to_string(), instruction.to_string())])
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; the encoder's only other error
        // is a metric name clash, which the tests of this module rule out.
        if let Err(error) = encode(&mut text, &self.registry) {
            tracing::error!(%error, "encoding metrics");
        }
        text
    }

    /// The subscription connected or dropped.
    pub fn subscription(&self, live: bool) {
        self.health.subscription(live);
        self.subscription_connected.set(i64::from(live));
    }

    /// Serves `GET /metrics`, `/healthz`, `/readyz` and the routes of
    /// `more` on `addr` until `shutdown` turns true.
    pub async fn serve(
        self: Arc<Self>,
        addr: SocketAddr,
        more: axum::Router,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        use axum::{
            http::{header, StatusCode},
            routing::get,
        };
        let metrics = self.clone();
        let ready = self.clone();
        let app = axum::Router::new()
            .route(
                "/metrics",
                get(move || {
                    let metrics = metrics.clone();
                    async move {
                        if let Some(age) = metrics.health.slot_age() {
                            metrics.slot_age_seconds.set(age.as_secs_f64());
                        }
                        (
                            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
                            metrics.render(),
                        )
                    }
                }),
            )
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/readyz",
                get(move || {
                    let ready = ready.clone();
                    async move {
                        match ready.health.readiness() {
                            Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                            Err(problems) => (
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("not ready\n{}\n", problems.join("\n")),
                            ),
                        }
                    }
                }),
            )
            .merge(more);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(
            "metrics on http://{0}/metrics, health on http://{0}/healthz and /readyz",
            listener.local_addr()?
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    }
}

/// A duration as whole microseconds, for a log field (`*_us`), saturating.
pub fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A duration as whole milliseconds, for a log field (`*_ms`), saturating.
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A count or amount as a gauge's value (gauges are `i64`), saturating.
pub fn gauge(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_wrong() {
        let health = Health::new();
        let problems = health.readiness().unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with("rpc:")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.starts_with("subscription:")));
        health.rpc_ok(10);
        health.subscription(true);
        health.readiness().unwrap();
        assert!(health.slot_age().unwrap() < Duration::from_secs(1));
        health.subscription(false);
        assert_eq!(health.readiness().unwrap_err().len(), 1);
    }

    #[test]
    fn renders_every_metric_with_the_prefix() {
        let metrics = Metrics::new();
        metrics.committed.inc();
        metrics.inference_seconds.observe(0.002);
        metrics.error("serve");
        let text = metrics.render();
        for name in [
            "sibyl_requests_seen_total",
            "sibyl_committed_total 1",
            "sibyl_inference_seconds_bucket",
            "sibyl_errors_total{service=\"serve\"} 1",
            "sibyl_disputes_won",
            "sibyl_sol_balance_lamports",
            "sibyl_stake",
            "sibyl_slot_age_seconds",
            "sibyl_subscription_connected",
            "sibyl_rpc_endpoint 0",
            "sibyl_rpc_latency_seconds_bucket",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}

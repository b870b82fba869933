//! Prometheus metrics: what the node saw and did, and how long inference took.
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::{net::SocketAddr, sync::Arc};
use tokio::sync::watch;

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
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// Serves `GET /metrics` on `addr` until `shutdown` turns true.
    pub async fn serve(
        self: Arc<Self>,
        addr: SocketAddr,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = self.clone();
                async move { metrics.render() }
            }),
        );
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}

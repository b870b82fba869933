//! status: what an operator watches and an orchestrator probes. Every scan
//! it reads the slot (its latency, errors and progress feed `/readyz`), and
//! every few seconds the wallet's SOL and tokens, the operator's stake and
//! the journal's unfinished steps, as metrics; every hour it deletes the
//! journal's steps done longer ago than `node.journal_retention_hours`.
use super::{NodeError, Service, Shared};
use crate::metrics::gauge;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// How often balances, stake and the journal are read.
const BALANCES_EVERY: Duration = Duration::from_secs(5);
/// How often old journal steps are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Status {
    shared: Arc<Shared>,
    journal_retention: Duration,
    balances_read: Option<Instant>,
    pruned: Option<Instant>,
}

impl Status {
    pub fn new(shared: Arc<Shared>, journal_retention: Duration) -> Self {
        Self {
            shared,
            journal_retention,
            balances_read: None,
            pruned: None,
        }
    }
}

impl Service for Status {
    const NAME: &'static str = "status";

    async fn tick(&mut self) -> Result<(), NodeError> {
        let (chain, metrics) = (&self.shared.chain, &self.shared.metrics);
        // With several RPC endpoints: leave one that lags.
        chain.check_endpoints().await;
        metrics.rpc_endpoint.set(gauge(chain.endpoint_in_use()));
        let started = Instant::now();
        let slot = match chain.slot().await {
            Ok(slot) => slot,
            Err(err) => {
                metrics.rpc_errors.inc();
                return Err(err.into());
            }
        };
        metrics
            .rpc_latency_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.health.rpc_ok(slot);
        metrics.slot.set(i64::try_from(slot).unwrap_or(i64::MAX));
        if self
            .pruned
            .is_none_or(|pruned| pruned.elapsed() >= PRUNE_EVERY)
        {
            self.pruned = Some(Instant::now());
            let removed = self.shared.journal.prune(self.journal_retention).await?;
            if removed > 0 {
                tracing::info!(removed, "old journal steps deleted");
            }
            let outputs = self.shared.outputs.clone();
            let retention = self.journal_retention;
            let removed = tokio::task::spawn_blocking(move || outputs.remove_older_than(retention))
                .await
                .unwrap_or(0);
            if removed > 0 {
                tracing::info!(removed, "old whole outputs deleted");
            }
        }
        if self
            .balances_read
            .is_some_and(|read| read.elapsed() < BALANCES_EVERY)
        {
            return Ok(());
        }
        self.balances_read = Some(Instant::now());
        let shared = &self.shared;
        let token_account = shared.tokens.account_of(&shared.wallet);
        let (sol, tokens, operator) = tokio::try_join!(
            chain.balance(&shared.wallet),
            chain.token_balance(&token_account),
            chain.fetch::<sibyl::state::Operator>(&shared.operator, "operator"),
        )?;
        metrics.sol_balance_lamports.set(gauge(sol));
        metrics.token_balance.set(gauge(tokens.unwrap_or(0)));
        metrics
            .stake
            .set(gauge(operator.map_or(0, |operator| operator.stake)));
        for (kind, unfinished) in shared.journal.unfinished_counts().await? {
            metrics
                .journal_unfinished
                .get_or_create(&vec![("kind".to_string(), kind.name().to_string())])
                .set(gauge(unfinished));
        }
        Ok(())
    }
}

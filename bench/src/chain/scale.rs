//! Section 10 of the report: how one node's cost grows with the work. Two
//! sweeps, each point on a fresh localnet: the models a node serves (10, 100,
//! 1000, with 1000 open requests) and the open requests it is handed (100,
//! 1000, 10 000, over 10 models). The models are copies of one fixture
//! (`digits`), each a distinct file and account; the requests a backlog paid
//! before the node starts, spread evenly over its models. Measured from the
//! node's start to every request committed: the node process's memory, CPU
//! time and the JSON-RPC calls the localnet answered (every caller's; the
//! node is the only one then), and when each request was committed.
use super::{cpu_seconds, peak_rss_kib, ModelOnChain, Network, NodeProcess};
use crate::stats::Summary;
use anyhow::{Context, Result};
use sibyl_oracle::config::Role;
use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

/// The sweeps: (models served, open requests).
pub const POINTS: [(usize, usize); 5] = [
    (10, 1_000),
    (100, 1_000),
    (1_000, 1_000),
    (10, 100),
    (10, 10_000),
];

pub struct ScalePoint {
    pub models: usize,
    pub requests: usize,
    /// From the node's start to the last commitment.
    pub to_committed: Duration,
    /// From the node's start to each commitment: median and p99.
    pub waits: Summary,
    pub peak_rss_mib: f64,
    pub cpu_per_request: Duration,
    /// JSON-RPC calls per request committed, and the three most called methods.
    pub rpc_per_request: f64,
    pub top_methods: Vec<(String, u64)>,
}

pub async fn measure(
    network: &Network,
    engine: &sibyl_oracle::engine::Engine,
    sibyl: &Path,
    fixture: &crate::fixtures::Fixture,
    models: usize,
    requests: usize,
) -> Result<ScalePoint> {
    // Inside the repository: the node fetches models from its base directory only.
    let dir = tempfile::tempdir_in(crate::repo_root().join("target"))?;
    let copies = network
        .register_copies(engine, fixture, models, dir.path())
        .await?;
    let served: Vec<&ModelOnChain> = copies.iter().collect();
    let submitted = network.backlog_on(&served, requests).await?;
    let config = network.node_config(0, &[Role::Serve], &served, 0.0)?;
    let calls_before = network.localnet.rpc_calls.snapshot();
    let started = Instant::now();
    let node = NodeProcess::start(sibyl, &config)?;
    let cpu_before = cpu_seconds(node.pid())?;
    let committed = network
        .wait_committed(&submitted, Duration::from_secs(600))
        .await?;
    let cpu = cpu_seconds(node.pid())? - cpu_before;
    let peak_rss_mib = peak_rss_kib(node.pid())? as f64 / 1024.0;
    let calls_after = network.localnet.rpc_calls.snapshot();
    node.stop();
    let mut calls: BTreeMap<&str, u64> = BTreeMap::new();
    for (method, after) in &calls_after {
        let before = calls_before.get(method).copied().unwrap_or_default();
        if *after > before {
            calls.insert(method, after - before);
        }
    }
    let total: u64 = calls.values().sum();
    let mut top: Vec<(String, u64)> = calls
        .iter()
        .map(|(method, count)| (method.to_string(), *count))
        .collect();
    top.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    top.truncate(3);
    let waits: Vec<Duration> = committed.iter().map(|at| *at - started).collect();
    Ok(ScalePoint {
        models,
        requests,
        to_committed: waits.iter().max().copied().unwrap_or_default(),
        waits: Summary::of(&waits).context("no requests")?,
        peak_rss_mib,
        cpu_per_request: Duration::from_secs_f64(cpu.max(0.0) / requests as f64),
        rpc_per_request: total as f64 / requests as f64,
        top_methods: top,
    })
}

pub fn table(points: &[ScalePoint]) -> String {
    let mut out = String::from(
        "| models served | open requests | node start → all committed | committed / s | node start → commitment: median / p99 | peak RSS of the node | node CPU per request | JSON-RPC calls per request | most called |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for point in points {
        let top = point
            .top_methods
            .iter()
            .map(|(method, count)| format!("{method} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| {} | {} | {:.2} s | {:.0} | {:.2} s / {:.2} s | {:.0} MiB | {:.0} µs | {:.2} | {top} |\n",
            point.models,
            point.requests,
            point.to_committed.as_secs_f64(),
            point.requests as f64 / point.to_committed.as_secs_f64().max(1e-9),
            point.waits.median.as_secs_f64(),
            point.waits.p99.as_secs_f64(),
            point.peak_rss_mib,
            point.cpu_per_request.as_secs_f64() * 1e6,
            point.rpc_per_request,
        ));
    }
    out
}

/// How each figure grows across each sweep, in words: the factor from the
/// sweep's first point to its last, against the factor of what the sweep
/// varies. A total (CPU, RPC calls, memory, time) that grows by no more
/// than that factor grows linearly or better; by up to a fifth more, the
/// label says so (run-to-run noise on this machine is of that order).
pub fn growth(points: &[ScalePoint]) -> String {
    let sweep = |varying: &str, pick: &dyn Fn(&ScalePoint) -> Option<usize>| -> Option<String> {
        let mut chosen: Vec<(usize, &ScalePoint)> = points
            .iter()
            .filter_map(|point| Some((pick(point)?, point)))
            .collect();
        chosen.sort_by_key(|(size, _)| *size);
        let ((first_size, first), (last_size, last)) = (chosen.first()?, chosen.last()?);
        let work = *last_size as f64 / (*first_size).max(1) as f64;
        let factor = |of: &dyn Fn(&ScalePoint) -> f64| of(last) / of(first).max(1e-12);
        let total = |name: &str, of: &dyn Fn(&ScalePoint) -> f64| {
            let grew = factor(of);
            let shape = if grew <= 1.5 {
                "flat"
            } else if grew <= work {
                "linear or better"
            } else if grew <= work * 1.2 {
                "linear within a fifth"
            } else {
                "faster than linear"
            };
            format!("{name} ×{grew:.2} ({shape})")
        };
        let requests = |point: &ScalePoint| point.requests as f64;
        Some(format!(
            "- **{varying} ×{work:.0}** ({first_size} → {last_size}): {}; {}; {}; {}.",
            total("node CPU in all", &|point| point
                .cpu_per_request
                .as_secs_f64()
                * requests(point)),
            total("RPC calls in all", &|point| point.rpc_per_request
                * requests(point)),
            total("peak memory", &|point| point.peak_rss_mib),
            total("time to commit every request", &|point| point
                .to_committed
                .as_secs_f64()),
        ))
    };
    [
        sweep("models served", &|point| {
            (point.requests == 1_000).then_some(point.models)
        }),
        sweep("open requests", &|point| {
            (point.models == 10).then_some(point.requests)
        }),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n")
}

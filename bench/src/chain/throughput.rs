//! Section 3 of the report: throughput: a backlog of paid requests spread over the four fixture
//! models, then 1, 2 or 4 `sibyl node run` processes (operator i serves
//! the models whose index is i modulo the node count; node 0 also cranks)
//! take them from pending to committed and, after the challenge window,
//! to finalized. CPU time per process over the run shows where the time
//! goes on this machine.
use super::{cpu_seconds, profile, Network, NodeProcess};
use anyhow::Result;
use sibyl::state::RequestStatus;
use sibyl_oracle::config::Role;
use std::{
    path::Path,
    time::{Duration, Instant},
};

pub struct Throughput {
    pub nodes: usize,
    pub requests: usize,
    /// From the nodes' start to the last commitment.
    pub to_committed: Duration,
    /// From the first commitment to the last.
    pub committing: Duration,
    /// From the first finalization to the last.
    pub finalizing: Duration,
    /// From the nodes' start to the last finalization.
    pub to_finalized: Duration,
    pub window: Duration,
    /// CPU seconds from the nodes' start to the last commitment: this
    /// process (the localnet and the benchmark's polling) and each node
    /// (its start-up included).
    pub localnet_cpu: f64,
    pub nodes_cpu: Vec<f64>,
    /// CPU samples of the localnet's process by crate (`perf`), when it
    /// could run.
    pub localnet_profile: Option<Vec<(String, f64)>>,
}

impl Throughput {
    /// Requests over the time from the nodes' start to the last commitment.
    pub fn committed_per_second(&self) -> f64 {
        self.requests as f64 / self.to_committed.as_secs_f64().max(1e-9)
    }

    /// CPU seconds per wall second from the nodes' start to the last commitment.
    pub fn cores_busy(&self) -> f64 {
        (self.localnet_cpu + self.nodes_cpu.iter().sum::<f64>()) / self.to_committed.as_secs_f64()
    }

    pub fn finalized_per_second(&self) -> f64 {
        self.requests as f64 / self.finalizing.as_secs_f64().max(1e-9)
    }
}

pub async fn measure(
    network: &Network,
    sibyl: &Path,
    nodes: usize,
    requests: usize,
    window_slots: u64,
) -> Result<Throughput> {
    let submitted = network.backlog(requests).await?;

    let configs = (0..nodes)
        .map(|node| {
            let models: Vec<_> = network
                .models
                .iter()
                .enumerate()
                .filter(|(index, _)| index % nodes == node)
                .map(|(_, model)| model)
                .collect();
            let roles: &[Role] = if node == 0 {
                &[Role::Serve, Role::Crank]
            } else {
                &[Role::Serve]
            };
            network.node_config(node, roles, &models, 0.0)
        })
        .collect::<Result<Vec<_>>>()?;
    let profile_data = network.dir.path().join("localnet.perf");
    let profiler = profile::start(&[std::process::id()], &profile_data);
    let cpu_before = cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let mut processes = Vec::new();
    for config in &configs {
        processes.push(NodeProcess::start(sibyl, config)?);
    }
    let committed = network
        .wait_committed(&submitted, Duration::from_secs(600))
        .await?;
    let localnet_cpu = cpu_seconds(std::process::id())? - cpu_before;
    let nodes_cpu = processes
        .iter()
        .map(|process| cpu_seconds(process.pid()))
        .collect::<Result<Vec<_>>>()?;
    let finalized = network
        .wait_all(
            &submitted,
            &[RequestStatus::Finalized],
            Duration::from_secs(600),
        )
        .await?;
    let localnet_profile = profiler.map(profile::Profiler::finish).transpose()?;
    for process in processes {
        process.stop();
    }
    let last = |times: &[Instant]| *times.iter().max().expect("requests");
    let first = |times: &[Instant]| *times.iter().min().expect("requests");
    Ok(Throughput {
        nodes,
        requests: submitted.len(),
        to_committed: last(&committed) - started,
        committing: last(&committed) - first(&committed),
        finalizing: last(&finalized) - first(&finalized),
        to_finalized: last(&finalized) - started,
        window: network.slot * window_slots as u32,
        localnet_cpu,
        nodes_cpu,
        localnet_profile,
    })
}

pub fn table(rows: &[Throughput]) -> String {
    let window = rows.first().map_or(0.0, |row| row.window.as_secs_f64());
    let mut out = format!(
        "| node processes | requests | start → all committed | committed / s | first → last commit | first → last finalized | finalized / s | start → all finalized (window {window:.1} s) | CPU s to all committed: localnet + bench | nodes (each) | cores busy to all committed |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for row in rows {
        let nodes_cpu: f64 = row.nodes_cpu.iter().sum();
        out.push_str(&format!(
            "| {} | {} | {:.2} s | {:.0} | {:.2} s | {:.2} s | {:.0} | {:.2} s | {:.2} | {:.2} ({}) | {:.2} |\n",
            row.nodes,
            row.requests,
            row.to_committed.as_secs_f64(),
            row.committed_per_second(),
            row.committing.as_secs_f64(),
            row.finalizing.as_secs_f64(),
            row.finalized_per_second(),
            row.to_finalized.as_secs_f64(),
            row.localnet_cpu,
            nodes_cpu,
            row.nodes_cpu
                .iter()
                .map(|cpu| format!("{cpu:.2}"))
                .collect::<Vec<_>>()
                .join(" + "),
            row.cores_busy(),
        ));
    }
    out.push_str("\nWhere the localnet process spent its CPU over each whole run, to the last finalization (`perf record -e cpu-clock`, samples by crate or library):\n\n");
    for row in rows {
        out.push_str(&format!(
            "- {} node process(es): {}\n",
            row.nodes,
            row.localnet_profile
                .as_deref()
                .map_or("not profiled (perf unavailable)".to_string(), |shares| {
                    profile::summary(shares, 8)
                }),
        ));
    }
    out
}

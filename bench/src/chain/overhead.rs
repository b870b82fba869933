//! Section 2 of the report: the node's own overhead per request: from the scan that found the
//! request (woken by the PubSub notification of its account) to the commit
//! transaction handed to the RPC node, less the inference, as the node
//! measures and logs it (`overhead_us` on each `committed` line, with each
//! phase's share; also the `sibyl_serve_overhead_seconds` histogram), the
//! node process's CPU time per request, and where its CPU goes (`perf`).
//! Requests go one at a time so that none waits behind another.
use super::{cpu_seconds, profile, Network, NodeProcess};
use crate::stats::Summary;
use anyhow::{Context, Result};
use sibyl::state::RequestStatus;
use sibyl_oracle::config::Role;
use std::{
    path::Path,
    time::{Duration, Instant},
};

pub struct Overhead {
    pub overhead: Summary,
    pub seen_to_sent: Summary,
    /// Each phase of `seen_to_sent` (the `committed` line's fields), in order.
    pub phases: Vec<(&'static str, &'static str, Summary)>,
    /// The node process's CPU time (user + system) per request.
    pub cpu_per_request: Duration,
    /// Where the node process's CPU went, by crate or library.
    pub profile: Option<Vec<(String, f64)>>,
    /// Wall time from `request_inference` confirmed to the commitment in the bank.
    pub confirmed_to_committed: Summary,
    /// The overhead of each model's first request (its session opened, its
    /// transaction's shape simulated): warm-ups, not in the figures above.
    pub cold: Vec<Duration>,
    pub slot: Duration,
}

/// What the two legs that left the node's hot path (issue 19) cost at the
/// least on this machine, each alone, with the localnet running but no
/// node: a durable append on the disk the journal is on, the node's journal
/// (log append, sync and the database, through its writer thread), and one
/// RPC round trip to the localnet (the priority-fee query).
pub struct Floors {
    pub sync: Summary,
    pub journal_put: Summary,
    pub rpc: Summary,
}

/// Samples of each floor.
const FLOOR_SAMPLES: usize = 1_000;

pub async fn floors(network: &Network) -> Result<Floors> {
    use sibyl_oracle::journal::{Entry, Journal, Kind, Stage};
    use std::io::Write;
    let dir = tempfile::tempdir_in(network.dir.path())?;
    let mut log = std::fs::File::create(dir.path().join("append.test"))?;
    let record = [7u8; 200];
    let mut sync = Vec::with_capacity(FLOOR_SAMPLES);
    for _ in 0..FLOOR_SAMPLES {
        let started = Instant::now();
        log.write_all(&record)?;
        log.sync_data()?;
        sync.push(started.elapsed());
    }
    let journal = Journal::open(&dir.path().join("journal.redb"))?;
    let entry = Entry {
        output: vec![7; 40],
        agrees: None,
        faulty: false,
        stage: Stage::Prepared,
        whole_output_sha256: [7; 32],
        trace_root: None,
    };
    let mut journal_put = Vec::with_capacity(FLOOR_SAMPLES);
    for index in 0..FLOOR_SAMPLES {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&index.to_le_bytes());
        let key = anchor_lang::prelude::Pubkey::new_from_array(key);
        let started = Instant::now();
        journal.put(Kind::Commit, &key, &entry).await?;
        journal_put.push(started.elapsed());
    }
    drop(journal);
    let client = network.client(&network.operators[0]);
    // A commitment writes one account, its request (new, like this one).
    let request = [anchor_lang::prelude::Pubkey::new_unique()];
    let mut rpc = Vec::with_capacity(FLOOR_SAMPLES);
    for _ in 0..FLOOR_SAMPLES {
        let started = Instant::now();
        client
            .rpc()
            .get_recent_prioritization_fees(&request)
            .await?;
        rpc.push(started.elapsed());
    }
    Ok(Floors {
        sync: Summary::of(&sync).context("no samples")?,
        journal_put: Summary::of(&journal_put).context("no samples")?,
        rpc: Summary::of(&rpc).context("no samples")?,
    })
}

/// A table row: `what`, then `summary`'s median, p99 (ms) and samples.
fn summary_row(what: &str, summary: &Summary) -> String {
    format!(
        "| {what} | {} | {} | {} |\n",
        crate::stats::millis(summary.median),
        crate::stats::millis(summary.p99),
        summary.samples
    )
}

pub fn floors_table(floors: &Floors) -> String {
    let mut out = String::from(
        "| alone, no node running | median ms | p99 ms | samples |\n|---|---:|---:|---:|\n",
    );
    out.push_str(&summary_row(
        "append 200 bytes + `fdatasync`, on the journal's disk",
        &floors.sync,
    ));
    out.push_str(&summary_row(
        "the node's journal: one put (writer thread, log append + `fdatasync`, database)",
        &floors.journal_put,
    ));
    out.push_str(&summary_row(
        "one RPC round trip to the localnet (`getRecentPrioritizationFees` for one account, as a commitment's)",
        &floors.rpc,
    ));
    out
}

pub async fn measure(network: &Network, sibyl: &Path, requests: usize) -> Result<Overhead> {
    let models: Vec<_> = network.models.iter().collect();
    let config = network.node_config(0, &[Role::Serve], &models, 0.0)?;
    let mut node = NodeProcess::start(sibyl, &config)?;
    let data = network.dir.path().join("node-overhead.perf");
    let mut measured = None;
    let mut external = Vec::new();
    // One warm-up request per model first, outside the CPU time and the
    // profile too.
    let warmups = models.len();
    for index in 0..warmups + requests {
        if index == warmups {
            measured = Some((
                profile::start(&[node.pid()], &data),
                cpu_seconds(node.pid())?,
            ));
        }
        let model = models[index % models.len()];
        let request = network.request(0, model).await?;
        let confirmed = Instant::now();
        let at = network
            .wait_all(
                &[request],
                &[RequestStatus::Committed],
                Duration::from_secs(60),
            )
            .await?;
        if index >= warmups {
            external.push(at[0] - confirmed);
        }
    }
    // The last commit's log line may still be on its way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (profiler, cpu_before) = measured.context("no requests")?;
    let cpu = cpu_seconds(node.pid())? - cpu_before;
    let profile = profiler.map(profile::Profiler::finish).transpose()?;
    node.drain();
    let log = node.stop();
    // Committed in the order requested (one at a time).
    let all = |name: &str| -> Vec<Duration> {
        log.iter()
            .filter(|line| line.contains("committed"))
            .filter_map(|line| micros_field(line, name))
            .map(Duration::from_micros)
            .collect()
    };
    let mut overhead = all("overhead_us");
    anyhow::ensure!(
        overhead.len() == warmups + requests,
        "the node logged {} commitments with timings for {} requests",
        overhead.len(),
        warmups + requests
    );
    let field = |name: &str| all(name).split_off(warmups);
    let cold = overhead.drain(..warmups).collect();
    let seen_to_sent = field("seen_to_sent_us");
    let phases = PHASES
        .iter()
        .map(|&(name, what)| Ok((name, what, Summary::of(&field(name)).context("no samples")?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Overhead {
        phases,
        cpu_per_request: Duration::from_secs_f64(cpu.max(0.0) / requests as f64),
        profile,
        overhead: Summary::of(&overhead).context("no samples")?,
        seen_to_sent: Summary::of(&seen_to_sent).context("no samples")?,
        confirmed_to_committed: Summary::of(&external).context("no samples")?,
        cold,
        slot: network.slot,
    })
}

/// The phases of one commitment, as the node's `committed` line names them.
const PHASES: [(&str, &str); 9] = [
    (
        "queued_us",
        "queued: the notification handed to the serving task (journal lookup)",
    ),
    (
        "prepare_us",
        "prepare: input, session, output encoding and hashes (less the model's run)",
    ),
    (
        "ready_us",
        "ready: the budget settled, once prepared",
    ),
    (
        "limit_us",
        "  of which the unit limit (known for the shape: no RPC call)",
    ),
    (
        "fee_us",
        "the priority fee, from the start of prepare, beside it (0: a read for commitments under 5 s old was at hand)",
    ),
    ("sign_us", "sign: blockhash (cached) and signature"),
    (
        "send_us",
        "`sendTransaction` round trip (the RPC node's preflight and, on this localnet, execution)",
    ),
    (
        "journal_us",
        "the journal write (log append + `fdatasync`, group commit), beside `sendTransaction`",
    ),
    ("inference_us", "the model's run (not overhead)"),
];

/// `name=123` in a log line.
fn micros_field(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub fn table(result: &Overhead) -> String {
    let mut out =
        String::from("| per request | median ms | p99 ms | requests |\n|---|---:|---:|---:|\n");
    out.push_str(&summary_row(
        "**node overhead** (found → commit handed to the RPC node, less inference)",
        &result.overhead,
    ));
    for (_, what, summary) in &result.phases {
        out.push_str(&summary_row(what, summary));
    }
    out.push_str(&summary_row(
        "found → `sendTransaction` returned",
        &result.seen_to_sent,
    ));
    out.push_str(&summary_row(
        &format!(
            "`request_inference` confirmed → commitment in the bank (wall clock, {} ms slots)",
            result.slot.as_millis()
        ),
        &result.confirmed_to_committed,
    ));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_field_of_a_log_line() {
        let line = "INFO serve{request=x}: sibyl_oracle::node::serve: committed signature=abc seen_to_sent_us=1834 inference_us=25 overhead_us=1809";
        assert_eq!(super::micros_field(line, "overhead_us"), Some(1809));
        assert_eq!(super::micros_field(line, "seen_to_sent_us"), Some(1834));
        assert_eq!(super::micros_field(line, "missing_us"), None);
    }
}

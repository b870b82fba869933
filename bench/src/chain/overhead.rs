//! Section 2 of the report: the node's own overhead per request: from the scan that found the
//! request (woken by the PubSub notification of its account) to the commit
//! transaction handed to the RPC node, less the inference, as the node
//! measures and logs it (`overhead_us` on each `committed` line; also the
//! `sibyl_serve_overhead_seconds` histogram). Requests go one at a time so
//! that none waits behind another.
use super::{Network, NodeProcess};
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
    pub inference: Summary,
    pub seen_to_sent: Summary,
    /// Wall time from `request_inference` confirmed to the commitment in the bank.
    pub confirmed_to_committed: Summary,
    pub slot: Duration,
}

pub async fn measure(network: &Network, sibyl: &Path, requests: usize) -> Result<Overhead> {
    let models: Vec<_> = network.models.iter().collect();
    let config = network.node_config(0, &[Role::Serve], &models, 0.0)?;
    let mut node = NodeProcess::start(sibyl, &config)?;
    let mut external = Vec::new();
    for index in 0..requests {
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
        external.push(at[0] - confirmed);
    }
    // The last commit's log line may still be on its way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    node.drain();
    let log = node.stop();
    std::fs::write("/tmp/node-log.txt", log.join("\n")).ok();
    let field = |name: &str| -> Vec<Duration> {
        log.iter()
            .filter(|line| line.contains("committed"))
            .filter_map(|line| micros_field(line, name))
            .map(Duration::from_micros)
            .collect()
    };
    let (overhead, inference, seen_to_sent) = (
        field("overhead_us"),
        field("inference_us"),
        field("seen_to_sent_us"),
    );
    anyhow::ensure!(
        overhead.len() == requests,
        "the node logged {} commitments with timings for {requests} requests",
        overhead.len()
    );
    Ok(Overhead {
        overhead: Summary::of(&overhead).context("no samples")?,
        inference: Summary::of(&inference).context("no samples")?,
        seen_to_sent: Summary::of(&seen_to_sent).context("no samples")?,
        confirmed_to_committed: Summary::of(&external).context("no samples")?,
        slot: network.slot,
    })
}

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
    let row = |what: &str, summary: &Summary| {
        format!(
            "| {what} | {} | {} | {} |\n",
            crate::stats::millis(summary.median),
            crate::stats::millis(summary.p99),
            summary.samples
        )
    };
    let mut out =
        String::from("| per request | median ms | p99 ms | requests |\n|---|---:|---:|---:|\n");
    out.push_str(&row(
        "**node overhead** (found → commit sent, less inference)",
        &result.overhead,
    ));
    out.push_str(&row("inference (the model's run)", &result.inference));
    out.push_str(&row("found → commit sent", &result.seen_to_sent));
    out.push_str(&row(
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

//! Section 9 of the report: watching and voting under load. A backlog of
//! paid requests over the four fixture models; then one serving node that
//! commits a wrong output to one request in ten (faulty mode: a hash of the
//! request's address chooses, so the bench knows which), one watching and
//! cranking node, and two voting nodes. Every commitment is in flight at
//! once; the question is whether the watcher challenges every wrong one
//! before its window closes, and how close it comes, read from the ledger
//! (each request's commit slot and window, each dispute's opening slot).
use super::{cpu_seconds, Network, NodeProcess};
use crate::stats::Summary;
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use sibyl::state::{Dispute, DisputeOutcome, RequestStatus};
use sibyl_oracle::{config::Role, faulty};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// One request in ten gets a wrong commitment.
pub const WRONG_RATE: f64 = 0.1;

/// A dispute as it was seen while open.
struct Seen {
    committed_slot: u64,
    challenge_deadline_slot: u64,
    opened_slot: u64,
    /// The most votes it was seen with.
    votes: u32,
    /// Its outcome when last seen.
    outcome: DisputeOutcome,
}

pub struct UnderLoad {
    pub requests: usize,
    pub wrong: usize,
    pub window_slots: u64,
    pub slot: Duration,
    /// Wrong commitments challenged within their window.
    pub challenged_in_window: usize,
    /// Slots from a wrong commitment to its challenge.
    pub commit_to_challenge_slots: Vec<u64>,
    /// Slots left in the window when each challenge opened.
    pub slack_slots: Vec<u64>,
    /// The most votes each dispute was seen with (two voters).
    pub votes: Vec<u32>,
    /// Wrong commitments that ended final as committed (the promise broken).
    pub wrong_final: usize,
    /// Wrong commitments overturned; right ones finalized.
    pub overturned: usize,
    pub finalized: usize,
    /// Disputes last seen decided for the challenger (a dispute may be
    /// closed before the poll sees its outcome).
    pub disputes_upheld: usize,
    /// From the nodes' start to every request final.
    pub to_final: Duration,
    /// CPU seconds of each node over the run: server, watcher, voters.
    pub cpu: Vec<(&'static str, f64)>,
    /// The largest number of commitments open at once (committed, not yet
    /// final), sampled every 2 ms.
    pub most_in_flight: usize,
}

pub async fn measure(
    network: &Network,
    sibyl: &Path,
    requests: usize,
    window_slots: u64,
) -> Result<UnderLoad> {
    let submitted = network.backlog(requests).await?;
    let models: Vec<_> = network.models.iter().collect();
    let configs = [
        (
            "server",
            network.node_config(0, &[Role::Serve], &models, WRONG_RATE)?,
        ),
        (
            "watcher",
            network.node_config(1, &[Role::Watch, Role::Crank], &models, 0.0)?,
        ),
        (
            "voter",
            network.node_config(2, &[Role::Vote], &models, 0.0)?,
        ),
        (
            "voter",
            network.node_config(3, &[Role::Vote], &models, 0.0)?,
        ),
    ];
    let started = Instant::now();
    let mut processes = Vec::new();
    // The verifiers first, so that none starts behind the commitments.
    for (role, config) in configs.iter().rev() {
        processes.push((*role, NodeProcess::start(sibyl, config)?));
    }
    processes.reverse();
    let deadline = started + Duration::from_secs(900);
    let mut most_in_flight = 0;
    // Disputes are closed once settled: each is read while it is open.
    let mut disputes: std::collections::HashMap<Pubkey, Seen> = Default::default();
    loop {
        let states: Vec<_> = submitted
            .iter()
            .map(|request| network.request_state(request))
            .collect();
        let open = states
            .iter()
            .flatten()
            .filter(|state| {
                matches!(
                    state.status,
                    RequestStatus::Committed | RequestStatus::Challenged
                )
            })
            .count();
        most_in_flight = most_in_flight.max(open);
        for (request, state) in submitted.iter().zip(&states) {
            let Some(state) = state.as_ref().filter(|state| {
                state.status == RequestStatus::Challenged || disputes.contains_key(request)
            }) else {
                continue;
            };
            let Some(dispute) =
                network.account_state::<Dispute>(&sibyl_sdk::pda::dispute_of(state))
            else {
                continue;
            };
            let seen = disputes.entry(*request).or_insert(Seen {
                committed_slot: state.committed_slot,
                challenge_deadline_slot: state.challenge_deadline_slot,
                opened_slot: dispute.opened_slot,
                votes: 0,
                outcome: dispute.outcome,
            });
            seen.votes = seen.votes.max(dispute.vote_count);
            seen.outcome = dispute.outcome;
        }
        if states
            .iter()
            .flatten()
            .all(|state| state.has_final_output())
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "requests still open after 900 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let to_final = started.elapsed();
    let cpu = processes
        .iter()
        .map(|(role, process)| Ok((*role, cpu_seconds(process.pid())?)))
        .collect::<Result<Vec<_>>>()?;
    for (_, process) in processes {
        process.stop();
    }

    let mut result = UnderLoad {
        requests,
        wrong: 0,
        window_slots,
        slot: network.slot,
        challenged_in_window: 0,
        commit_to_challenge_slots: Vec::new(),
        slack_slots: Vec::new(),
        votes: Vec::new(),
        wrong_final: 0,
        overturned: 0,
        finalized: 0,
        disputes_upheld: 0,
        to_final,
        cpu,
        most_in_flight,
    };
    for request in &submitted {
        let state = network
            .request_state(request)
            .context("a request account is gone")?;
        let wrong = faulty::is_chosen(request, WRONG_RATE);
        match state.status {
            RequestStatus::Overturned => result.overturned += 1,
            RequestStatus::Finalized if wrong => result.wrong_final += 1,
            RequestStatus::Finalized => result.finalized += 1,
            _ => {}
        }
        if !wrong {
            continue;
        }
        result.wrong += 1;
        let Some(seen) = disputes.get(request) else {
            continue;
        };
        if seen.opened_slot <= seen.challenge_deadline_slot {
            result.challenged_in_window += 1;
        }
        result
            .commit_to_challenge_slots
            .push(seen.opened_slot.saturating_sub(seen.committed_slot));
        result.slack_slots.push(
            seen.challenge_deadline_slot
                .saturating_sub(seen.opened_slot),
        );
        result.votes.push(seen.votes);
        if seen.outcome == DisputeOutcome::ChallengerUpheld {
            result.disputes_upheld += 1;
        }
    }
    Ok(result)
}

/// The section's table.
pub fn table(result: &UnderLoad) -> String {
    let slots = |values: &[u64]| -> String {
        let durations: Vec<Duration> = values.iter().map(|&v| Duration::from_secs(v)).collect();
        match Summary::of(&durations) {
            Some(summary) => format!(
                "median {}, p99 {}, worst {}",
                summary.median.as_secs(),
                summary.p99.as_secs(),
                values.iter().max().copied().unwrap_or_default()
            ),
            None => "none".to_string(),
        }
    };
    let least_slack = result.slack_slots.iter().min().copied().unwrap_or_default();
    let mut slack = result.slack_slots.clone();
    slack.sort_unstable();
    let median_slack = slack.get(slack.len() / 2).copied().unwrap_or_default();
    let cpu = result
        .cpu
        .iter()
        .map(|(role, seconds)| format!("{role} {seconds:.2} s"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut votes = result.votes.clone();
    votes.sort_unstable();
    format!(
        "| | |\n|---|---|\n\
         | requests (backlog, four models) | {} |\n\
         | most commitments open at once (committed, window running or disputed) | {} |\n\
         | wrong commitments (one in ten, chosen by the request's address) | {} |\n\
         | **challenged within their window** | **{} of {}** |\n\
         | slots from a wrong commitment to its challenge | {} |\n\
         | slots left in the window at the challenge (window {} slots of {} ms) | median {}, least {least_slack} |\n\
         | votes per dispute (two voters) | {} to {} |\n\
         | disputes the challenger won | {} |\n\
         | wrong results final as committed | **{}** |\n\
         | overturned / right results finalized | {} / {} |\n\
         | nodes' start → every request final | {:.1} s |\n\
         | CPU over the run, per node process | {cpu} |\n",
        result.requests,
        result.most_in_flight,
        result.wrong,
        result.challenged_in_window,
        result.wrong,
        slots(&result.commit_to_challenge_slots),
        result.window_slots,
        result.slot.as_millis(),
        median_slack,
        votes.first().copied().unwrap_or_default(),
        votes.last().copied().unwrap_or_default(),
        result.disputes_upheld,
        result.wrong_final,
        result.overturned,
        result.finalized,
        result.to_final.as_secs_f64(),
    )
}

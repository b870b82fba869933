//! A node killed while it commits: after journaling and before sending, it
//! resumes from its journal on restart; after sending and before its entry
//! was synced, the restart finds nothing to resume and nothing to do. Each
//! commits exactly once.
use crate::cluster::Cluster;
use crate::process::NodeProcess;
use sibyl::state::RequestStatus;
use sibyl_oracle::journal::Kind;
use sibyl_oracle::{
    config::{Config, Role},
    faulty,
};
use std::{path::PathBuf, time::Duration};

/// A cluster and a serving node's configuration file; the node, started
/// with `fault` set, was asked for one request and killed where it halted
/// (its log saying `halted`).
async fn killed_at(
    fault: &str,
    halted: &str,
) -> (Cluster, Config, PathBuf, anchor_lang::prelude::Pubkey) {
    let cluster = Cluster::start(1).await;
    let config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let config_path = cluster.dir.path().join("node-0.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let mut first = NodeProcess::spawn(&config_path, Some(fault));
    let request = cluster.request_digit("digit-6").await;
    first.wait_for(halted, Duration::from_secs(60));
    first.kill();
    (cluster, config, config_path, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_before_its_commit_resumes_without_committing_twice() {
    let (cluster, _, config_path, request) = killed_at(
        faulty::HALT_AFTER_JOURNAL_ENV,
        "halting at commit_result, its entry durable",
    )
    .await;
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(
        state.status,
        RequestStatus::Pending,
        "nothing was committed before the kill"
    );

    let mut second = NodeProcess::spawn(&config_path, None);
    let seen = second.wait_for("committed", Duration::from_secs(60));
    assert!(
        seen.iter().any(
            |line| line.contains("resuming a journaled step") && line.contains("commit_result")
        ),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|line| line.contains("inference done")),
        "the output was not computed again"
    );
    let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    let operator = cluster.operator_state(0).await;
    assert_eq!(operator.requests_served, 1, "exactly one commitment");
    assert_eq!(operator.open_commitments, 0);

    // SIGTERM: a graceful stop.
    second.terminate();
}

/// The journal entry is synced while its transaction is sent: a crash can
/// come after the send and before the sync. The restarted node has no
/// entry to resume, and does not commit again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_after_sending_a_commit_it_never_journaled_commits_once() {
    let (cluster, config, config_path, request) = killed_at(
        faulty::SKIP_JOURNAL_ENV,
        "halting at commit_result, its entry never written",
    )
    .await;
    let journal = sibyl_oracle::journal::Journal::open(&config.node.journal).unwrap();
    assert!(
        journal.unfinished(Kind::Commit).await.unwrap().is_empty(),
        "the crash left no entry to resume"
    );
    drop(journal);
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(
        state.status,
        RequestStatus::Committed,
        "the commitment landed"
    );

    // A second request shows the restarted node at work; the first is
    // finalized with the one commitment.
    let mut second = NodeProcess::spawn(&config_path, None);
    let next = cluster.request_digit("digit-8").await;
    second.wait_for("committed", Duration::from_secs(60));
    for request in [request, next] {
        let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
        assert_eq!(state.status, RequestStatus::Finalized);
    }
    let log = second.terminate();
    assert!(
        !log.iter()
            .any(|line| line.contains("resuming a journaled step")),
        "nothing to resume"
    );
    let operator = cluster.operator_state(0).await;
    assert_eq!(operator.requests_served, 2, "one commitment each");
    assert_eq!(operator.open_commitments, 0);
}

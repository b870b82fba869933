//! A node killed after inference and before its commit resumes on restart
//! from its journal and commits exactly once.
use crate::cluster::Cluster;
use crate::process::NodeProcess;
use sibyl::state::RequestStatus;
use sibyl_oracle::config::Role;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_before_its_commit_resumes_without_committing_twice() {
    let cluster = Cluster::start(1).await;
    let config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let config_path = cluster.dir.path().join("node-0.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let mut first = NodeProcess::spawn(&config_path, true);
    let request = cluster.request_digit("digit-6").await;
    first.wait_for(
        "halting before sending commit_result",
        Duration::from_secs(60),
    );
    first.kill();
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(
        state.status,
        RequestStatus::Pending,
        "nothing was committed before the kill"
    );

    let mut second = NodeProcess::spawn(&config_path, false);
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

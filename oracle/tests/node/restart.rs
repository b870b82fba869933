//! A node killed after inference and before its commit resumes on restart
//! from its journal and commits exactly once.
use crate::cluster::Cluster;
use sibyl::state::RequestStatus;
use sibyl_oracle::config::Role;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Starts `sibyl node run` and forwards its log lines to a channel.
pub fn spawn_node(
    config_path: &std::path::Path,
    halt_after_inference: bool,
) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sibyl"));
    command
        .args(["node", "run", "--config"])
        .arg(config_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if halt_after_inference {
        command.env("SIBYL_TEST_HALT_AFTER_INFERENCE", "1");
    }
    let mut child = command.spawn().expect("sibyl starts");
    let stderr = child.stderr.take().unwrap();
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    (child, receiver)
}

/// Waits for a log line containing `needle`; returns every line read.
pub fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    needle: &str,
    timeout: Duration,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no log line with `{needle}` within {timeout:?}; saw:\n{}",
        seen.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_before_its_commit_resumes_without_committing_twice() {
    let cluster = Cluster::start(1).await;
    let config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let config_path = cluster.dir.path().join("node-0.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let (mut first, lines) = spawn_node(&config_path, true);
    let request = cluster.request_digit("digit-6").await;
    wait_for_line(&lines, "halting before the commit", Duration::from_secs(60));
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(
        state.status,
        RequestStatus::Pending,
        "nothing was committed before the kill"
    );

    let (mut second, lines) = spawn_node(&config_path, false);
    let seen = wait_for_line(&lines, "committed", Duration::from_secs(60));
    assert!(
        seen.iter()
            .any(|line| line.contains("resuming a journaled commitment")),
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
    let pid = second.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = second.wait().unwrap();
    assert!(status.success(), "sibyl exits 0 on SIGTERM: {status:?}");
}

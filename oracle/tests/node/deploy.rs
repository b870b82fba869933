//! `deploy/sibyl-node.service` is a unit systemd accepts, and it runs the
//! `sibyl` this repository builds with flags that binary takes.
use crate::cluster::repo_root;
use sibyl_oracle::config::NodeConfig;
use std::{collections::HashMap, process::Command, time::Duration};

/// The unit's `key=value` lines (the last one wins, as in systemd).
fn unit() -> (String, HashMap<String, String>) {
    let text = std::fs::read_to_string(repo_root().join("deploy/sibyl-node.service")).unwrap();
    let keys = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    (text, keys)
}

#[test]
fn the_systemd_unit_runs_this_binary_gracefully_and_confined() {
    let (text, keys) = unit();
    let exec: Vec<&str> = keys["ExecStart"].split_whitespace().collect();
    assert_eq!(exec[0], "/usr/local/bin/sibyl");
    let config = exec
        .windows(2)
        .find(|pair| pair[0] == "--config")
        .map(|pair| pair[1])
        .expect("ExecStart names --config");

    // The flags parse: with the config absent, the binary gets as far as
    // loading it (a usage error would say so instead).
    let output = Command::new(env!("CARGO_BIN_EXE_sibyl"))
        .args(&exec[1..])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("loading {config}")),
        "ExecStart's flags must parse:\n{stderr}"
    );

    // A graceful stop that systemd waits for longer than the node does.
    assert_eq!(keys["KillSignal"], "SIGTERM");
    let stop_secs: u64 = keys["TimeoutStopSec"].parse().unwrap();
    let node_stop = Duration::from_millis(NodeConfig::default().shutdown_timeout_ms);
    assert!(
        Duration::from_secs(stop_secs) > node_stop,
        "TimeoutStopSec {stop_secs} s must exceed node.shutdown_timeout_ms"
    );
    assert_eq!(keys["Restart"], "on-failure");

    // Confined: its own user, a read-only system, writes only to its state.
    assert_eq!(keys["User"], "sibyl");
    for (key, value) in [
        ("NoNewPrivileges", "true"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("UMask", "0077"),
    ] {
        assert_eq!(keys.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert!(keys["ReadWritePaths"].contains(&keys["WorkingDirectory"]));
    assert!(config.starts_with(&keys["ReadOnlyPaths"]));

    // systemd itself accepts it, where it is installed (binary replaced by
    // one that exists here).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("systemd-analyze is not installed: unit not verified by systemd");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sibyl-node.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/sibyl", "/bin/true")).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify:\n{complaints}"
    );
}

/// The features `cargo` resolves for `sibyl-oracle` when `package` is built.
fn oracle_features_when_building(package: &str) -> String {
    let output = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args([
            "-e",
            "normal,build,features",
            "-i",
            "sibyl-oracle",
            "-p",
            package,
        ])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_shipped_binary_is_built_without_test_faults() {
    // What `cargo build --release -p sibyl-oracle --bin sibyl` compiles:
    // neither the faults nor the test cluster (nor the localnet under it).
    let shipped = oracle_features_when_building("sibyl-oracle");
    for feature in ["test-faults", "test-cluster"] {
        assert!(!shipped.contains(feature), "{shipped}");
    }
    // The probe sees the features where they are asked for: the demo's build.
    let demo = oracle_features_when_building("sibyl-demo");
    for feature in ["test-faults", "test-cluster"] {
        assert!(
            demo.contains(&format!(r#"sibyl-oracle feature "{feature}""#)),
            "{demo}"
        );
    }
}

//! `sibyl node run` as a separate process, for tests that kill it.
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// A running `sibyl node run` and the log lines it has printed so far.
pub struct NodeProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

impl NodeProcess {
    /// Starts `sibyl node run --config config_path` (info logs), with
    /// `fault` (one of `sibyl_oracle::faulty`'s `_ENV` names) set, if any.
    pub fn spawn(config_path: &Path, fault: Option<&str>) -> NodeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sibyl"));
        command
            .args(["node", "run", "--config"])
            .arg(config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(fault) = fault {
            command.env(fault, "1");
        }
        let mut child = command.spawn().expect("sibyl starts");
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        NodeProcess {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Starts a node and waits until its services run (a SIGTERM before
    /// then would end it before it can shut down gracefully).
    pub fn spawn_started(config_path: &Path) -> NodeProcess {
        let mut node = NodeProcess::spawn(config_path, None);
        node.wait_for("started service", Duration::from_secs(60));
        node
    }

    /// Waits for a log line containing `needle`; returns the lines read
    /// meanwhile (also kept in `log`).
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let found = line.contains(needle);
            seen.push(line);
            if found {
                self.log.extend(seen.iter().cloned());
                return seen;
            }
        }
        panic!(
            "no log line with `{needle}` within {timeout:?}; saw:\n{}",
            seen.join("\n")
        );
    }

    /// SIGKILL; returns the whole log.
    pub fn kill(mut self) -> Vec<String> {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
        self.log.extend(self.lines.try_iter());
        self.log
    }

    /// SIGTERM, which must end it gracefully (exit 0); returns the whole log.
    pub fn terminate(mut self) -> Vec<String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        self.log.extend(self.lines.try_iter());
        assert!(
            status.success(),
            "sibyl exits 0 on SIGTERM: {status:?}\n{}",
            self.log.join("\n")
        );
        self.log
    }
}

/// Starts and SIGKILLs the node of `config_path` `kills` times, each after a
/// delay in `min_ms .. min_ms + spread_ms` drawn from a fixed-seed generator;
/// returns what the killed nodes logged and a new, started node.
pub async fn kill_repeatedly(
    config_path: &Path,
    kills: usize,
    mut seed: u64,
    min_ms: u64,
    spread_ms: u64,
) -> (Vec<String>, NodeProcess) {
    let mut log = Vec::new();
    for _ in 0..kills {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let node = NodeProcess::spawn(config_path, None);
        tokio::time::sleep(Duration::from_millis(min_ms + (seed >> 33) % spread_ms)).await;
        log.extend(node.kill());
    }
    (log, NodeProcess::spawn_started(config_path))
}

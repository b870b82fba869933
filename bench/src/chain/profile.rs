//! Where CPU time goes in a process while the throughput runs: `perf
//! record` on the CPU clock (no hardware counters needed), summarized by
//! crate (or by shared library and the kernel).
use anyhow::{Context, Result};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A running `perf record`.
pub struct Profiler {
    perf: Child,
    data: PathBuf,
}

/// Starts sampling `pids` at 499 Hz, or `None` where `perf` cannot run.
pub fn start(pids: &[u32], data: &Path) -> Option<Profiler> {
    let pids = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let perf = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "499", "-p", &pids, "-o"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // perf attaches asynchronously; give it a moment before the work starts.
    std::thread::sleep(std::time::Duration::from_millis(300));
    Some(Profiler {
        perf,
        data: data.to_path_buf(),
    })
}

impl Profiler {
    /// Stops sampling; the share of samples per crate, largest first.
    pub fn finish(mut self) -> Result<Vec<(String, f64)>> {
        super::signal(&self.perf, "INT");
        self.perf.wait()?;
        let report = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "dso,sym",
                "-q",
                "-i",
            ])
            .arg(&self.data)
            .output()
            .context("perf report")?;
        Ok(by_crate(&String::from_utf8_lossy(&report.stdout)))
    }
}

/// Sums `perf report --sort dso,sym` lines by crate.
fn by_crate(report: &str) -> Vec<(String, f64)> {
    let mut shares: HashMap<String, f64> = HashMap::new();
    for line in report.lines() {
        let mut fields = line.split_whitespace();
        let (Some(percent), Some(dso)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(percent) = percent.trim_end_matches('%').parse::<f64>() else {
            continue;
        };
        let _kind = fields.next();
        let symbol: String = fields.collect::<Vec<_>>().join(" ");
        *shares.entry(group(dso, &symbol)).or_default() += percent;
    }
    let mut shares: Vec<(String, f64)> = shares.into_iter().collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares
}

/// The crate of a Rust symbol in our binaries; otherwise the library.
fn group(dso: &str, symbol: &str) -> String {
    if dso.contains("kernel") {
        return "kernel".to_string();
    }
    if !(dso.starts_with("sibyl") || dso.starts_with("sibyl-bench")) {
        return dso.to_string();
    }
    let symbol = symbol.trim_start_matches('<').trim_start_matches('&');
    let symbol = symbol.strip_prefix("dyn ").unwrap_or(symbol);
    match symbol.split_once("::") {
        Some((krate, _)) if !krate.contains(' ') => krate.to_string(),
        _ => "other".to_string(),
    }
}

/// The top `count` groups as `name 12.3%`.
pub fn summary(shares: &[(String, f64)], count: usize) -> String {
    shares
        .iter()
        .take(count)
        .map(|(name, percent)| format!("{name} {percent:.0}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_samples_by_crate_library_and_kernel() {
        let report = "\
    30.00%  sibyl-bench        [.] solana_runtime::bank::Bank::load_and_execute
    10.00%  sibyl-bench        [.] <tokio::runtime::task::Task as Drop>::drop
     5.00%  sibyl-bench        [.] solana_runtime::other
    20.00%  [kernel.kallsyms]  [k] do_syscall_64
    15.00%  libc.so.6          [.] __memmove_avx_unaligned
";
        let shares = super::by_crate(report);
        assert_eq!(shares[0], ("solana_runtime".to_string(), 35.0));
        assert_eq!(shares[1], ("kernel".to_string(), 20.0));
        assert!(shares.contains(&("tokio".to_string(), 10.0)));
        assert!(shares.contains(&("libc.so.6".to_string(), 15.0)));
    }
}

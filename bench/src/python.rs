//! Python onnxruntime's timings (`bench/python/ort_bench.py`, run with the
//! project's venv, the same onnxruntime 1.31.1 wheel the node's library
//! comes from).
use anyhow::{Context, Result};
use serde::Deserialize;
use std::{collections::HashMap, path::Path, process::Command};

#[derive(Deserialize)]
pub struct PythonTimes {
    pub onnxruntime: String,
    fixtures: HashMap<String, FixtureTimes>,
}

#[derive(Deserialize)]
pub struct FixtureTimes {
    pub median_us: f64,
    pub p99_us: f64,
}

impl PythonTimes {
    pub fn get(&self, fixture: &str) -> Option<&FixtureTimes> {
        self.fixtures.get(fixture)
    }
}

/// Runs the script with `.local/venv/bin/python`.
pub fn measure(root: &Path, samples: usize, warmup: usize) -> Result<PythonTimes> {
    let python = root.join(".local/venv/bin/python");
    let output = Command::new(&python)
        .arg(root.join("bench/python/ort_bench.py"))
        .arg(root.join("models"))
        .arg(samples.to_string())
        .arg(warmup.to_string())
        .output()
        .with_context(|| format!("running {} (run scripts/setup.sh)", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "ort_bench.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("parsing ort_bench.py's output")
}

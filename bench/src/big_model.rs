//! Section 8 of the report: a model of tens of MB, as operators meet real
//! ones: `models/big_model.py` writes it (fixed-seed weights, never
//! committed) into a temporary directory, and a process of its own (so that
//! its peak memory is its own) takes the steps a node takes with a model the
//! first time: fetch it by hash (from a `file://` URI: a copy, hashed while
//! it is copied), verify the cached copy (what a restart does), open a
//! session, run it once; then the node's path on it against a bare ONNX
//! Runtime session, as section 1 compares them.
use crate::{chain::peak_rss_kib, fixtures::Fixture, inference, stats::millis};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sibyl_oracle::{
    engine::Engine,
    store::{sha256_file, ModelStore},
    tensor::{self, Tensor},
};
use std::{path::Path, process::Command, time::Instant};

/// MiB of weights the generated model holds: over 50 MB.
pub const WEIGHT_MIB: u32 = 56;

/// One step of a node's first use of the model.
#[derive(Serialize, Deserialize)]
pub struct Step {
    pub what: String,
    pub millis: f64,
    /// The process's peak resident memory after it.
    pub peak_mib: f64,
}

#[derive(Serialize, Deserialize)]
pub struct BigModel {
    pub file_mib: f64,
    /// The process's peak resident memory before the first step (ONNX
    /// Runtime loaded).
    pub start_peak_mib: f64,
    pub steps: Vec<Step>,
    pub samples: usize,
    pub raw_median_ms: f64,
    pub raw_p99_ms: f64,
    pub node_median_ms: f64,
    pub node_p99_ms: f64,
    /// The median of each round's node path time over its raw time.
    pub paired_ratio: f64,
}

impl BigModel {
    pub fn ratio(&self) -> f64 {
        self.paired_ratio
    }
}

/// Writes the model under `dir` and measures it in a child process.
pub fn measure(root: &Path, dir: &Path, samples: usize) -> Result<BigModel> {
    let path = dir.join("big.onnx");
    let generated = Command::new(root.join(".local/venv/bin/python"))
        .arg(root.join("models/big_model.py"))
        .arg(&path)
        .arg(WEIGHT_MIB.to_string())
        .status()
        .context("running models/big_model.py with the project's Python")?;
    anyhow::ensure!(generated.success(), "models/big_model.py failed");
    let output = Command::new(std::env::current_exe()?)
        .arg("big-model")
        .arg(&path)
        .args(["--samples", &samples.to_string()])
        .output()
        .context("starting the big-model process")?;
    anyhow::ensure!(
        output.status.success(),
        "the big-model process failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("parsing the big-model result")
}

/// In the child process: the steps, then the two paths.
pub fn run_child(path: &Path, samples: usize) -> Result<BigModel> {
    let dir = path.parent().context("the model's directory")?;
    let name = path.file_name().context("the model's name")?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let engine = Engine::new(&Default::default())?;
    let start_peak_mib = mib(peak_rss_kib(std::process::id())?);
    let hash = sha256_file(path)?;
    let cache = tempfile::tempdir_in(dir)?;
    let store = ModelStore::new(cache.path().to_path_buf(), dir.to_path_buf());
    let uri = format!("file://{}", name.to_string_lossy());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut steps = Vec::new();
    let mut step = |what: &str, started: Instant| -> Result<()> {
        steps.push(Step {
            what: what.to_string(),
            millis: started.elapsed().as_secs_f64() * 1e3,
            peak_mib: mib(peak_rss_kib(std::process::id())?),
        });
        Ok(())
    };

    let started = Instant::now();
    let cached = runtime.block_on(store.fetch(&uri, &hash))?;
    step(
        "fetch by hash (copied from `file://`, SHA-256 while copying)",
        started,
    )?;
    let started = Instant::now();
    let again = runtime.block_on(store.fetch(&uri, &hash))?;
    anyhow::ensure!(again == cached, "the second fetch did not use the cache");
    step(
        "verify the cached copy (its SHA-256 again, as a restart does)",
        started,
    )?;
    let started = Instant::now();
    let mut model = engine.load(&cached)?;
    step(
        "open a session (ONNX Runtime reads and optimizes it)",
        started,
    )?;
    let input = tensor::encode(&[Tensor::from_f32("input", vec![1, 1024], &[0.5; 1024])?]);
    let started = Instant::now();
    let output = model.run(&input)?;
    step("first inference", started)?;
    drop(model);

    let fixture = Fixture {
        name: "big_mlp".to_string(),
        path: cached.clone(),
        rule: sibyl::state::ComparisonRule::Exact,
        cases: vec![(input, output)],
        views: Vec::new(),
        referee: false,
    };
    let row = inference::measure(&engine, &[fixture], samples, samples / 10)?
        .pop()
        .context("no row")?;
    let ms = |duration: std::time::Duration| duration.as_secs_f64() * 1e3;
    Ok(BigModel {
        file_mib: mib(std::fs::metadata(&cached)?.len() / 1024),
        start_peak_mib,
        steps,
        samples,
        raw_median_ms: ms(row.raw.median),
        raw_p99_ms: ms(row.raw.p99),
        node_median_ms: ms(row.node.median),
        node_p99_ms: ms(row.node.p99),
        paired_ratio: row.ratio(),
    })
}

/// Section 8's tables.
pub fn tables(result: &BigModel) -> String {
    let mut out = String::from(
        "| step (the node's first use of the model) | time ms | peak memory of the process after it, MiB |\n|---|---:|---:|\n",
    );
    out.push_str(&format!(
        "| ONNX Runtime loaded (before the first step) | | {:.0} |\n",
        result.start_peak_mib
    ));
    for step in &result.steps {
        out.push_str(&format!(
            "| {} | {:.1} | {:.0} |\n",
            step.what, step.millis, step.peak_mib
        ));
    }
    let ms = |value: f64| millis(std::time::Duration::from_secs_f64(value / 1e3));
    out.push_str(&format!(
        "\n| path, {} runs each, alternating (each first every other round) | median ms | p99 ms |\n|---|---:|---:|\n\
         | raw `ort` (the node path's own session, input tensors made once, `run` alone) | {} | {} |\n\
         | node path (decode the input, run, encode and hash the output) | {} | {} |\n\
         | **node / raw** (the median of each round's: the two run back to back) | {:.3}× | |\n",
        result.samples,
        ms(result.raw_median_ms),
        ms(result.raw_p99_ms),
        ms(result.node_median_ms),
        ms(result.node_p99_ms),
        result.ratio(),
    ));
    out
}

//! Section 5 of the report: what verifying costs a watcher: one re-execution of a committed
//! output, cold (fetch the model by hash and verify it, open a session,
//! run, compare) and warm (run and compare with the session open), in a
//! process of its own so that its peak memory is its own; next to the
//! published EZKL figure for proving a 44.5k-parameter MNIST MLP.
use crate::{fixtures::Fixture, stats::Summary};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sibyl_oracle::{compare::outputs_agree, engine::Engine, store::ModelStore};
use std::{path::Path, process::Command, time::Instant};

/// EZKL's published proving time and memory for a 44.5k-parameter MNIST MLP.
pub const EZKL_PROVING_SECONDS: f64 = 38.1;
pub const EZKL_PROVING_GB: f64 = 4.8;

#[derive(Serialize, Deserialize)]
pub struct Reexecution {
    pub fixture: String,
    /// Parameters in the model's initializers.
    pub parameters: u64,
    /// ONNX Runtime loaded and initialized (once per node process).
    pub runtime_init_ms: f64,
    /// Fetch and verify by hash, open a session, run, compare.
    pub cold_ms: f64,
    pub warm_median_us: f64,
    pub warm_p99_us: f64,
    pub peak_rss_mib: f64,
    /// The watcher agreed with the recorded output.
    pub agrees: bool,
}

/// In the child process: measures `fixture`.
pub fn run_child(root: &Path, fixture: &Fixture, samples: usize) -> Result<Reexecution> {
    let started = Instant::now();
    let engine = Engine::new(&Default::default())?;
    let runtime_init_ms = started.elapsed().as_secs_f64() * 1e3;
    let (input, recorded) = &fixture.cases[0];
    let model_hash = sibyl_oracle::store::sha256_file(&fixture.path)?;
    let cache = tempfile::tempdir()?;
    let store = ModelStore::new(cache.path().to_path_buf(), root.to_path_buf());
    let uri = format!(
        "file://models/{}",
        fixture.path.file_name().unwrap().to_string_lossy()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let started = Instant::now();
    let path = runtime.block_on(store.fetch(&uri, &model_hash))?;
    let mut model = engine.load(&path)?;
    let output = model.run(input)?;
    let agrees = outputs_agree(&fixture.rule, recorded, &output);
    let cold_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut warm = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let output = model.run(input)?;
        std::hint::black_box(outputs_agree(&fixture.rule, recorded, &output));
        warm.push(started.elapsed());
    }
    let warm = Summary::of(&warm).context("no samples")?;
    Ok(Reexecution {
        fixture: fixture.name.clone(),
        parameters: parameter_count(&fixture.path)?,
        runtime_init_ms,
        cold_ms,
        warm_median_us: warm.median.as_secs_f64() * 1e6,
        warm_p99_us: warm.p99.as_secs_f64() * 1e6,
        peak_rss_mib: crate::chain::peak_rss_kib(std::process::id())? as f64 / 1024.0,
        agrees,
    })
}

/// Runs `sibyl-bench reexec FIXTURE` and reads its answer.
pub fn measure(fixture: &str, samples: usize) -> Result<Reexecution> {
    let output = Command::new(std::env::current_exe()?)
        .args(["reexec", fixture, "--samples", &samples.to_string()])
        .output()
        .context("starting a re-execution process")?;
    anyhow::ensure!(
        output.status.success(),
        "re-execution of {fixture} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("parsing the re-execution result")
}

/// Elements in the model's initializers (its weights), read with tract's
/// ONNX parser.
fn parameter_count(path: &Path) -> Result<u64> {
    use tract_onnx::prelude::*;
    let proto = tract_onnx::onnx().proto_model_for_path(path)?;
    let graph = proto.graph.context("a model without a graph")?;
    Ok(graph
        .initializer
        .iter()
        .map(|tensor| tensor.dims.iter().product::<i64>().max(0) as u64)
        .sum())
}

/// The markdown table of section 5.
pub fn table(rows: &[Reexecution]) -> String {
    let mut out = String::from(
        "| model | parameters | re-execution, cold (fetch + verify + load + run + compare) | warm median (run + compare) | peak memory of the process | EZKL proof (44.5k-param MNIST MLP) | EZKL time / Sibyl cold | EZKL time / Sibyl warm | EZKL memory / Sibyl |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {:.2} ms | {:.1} µs | {:.0} MiB | {EZKL_PROVING_SECONDS} s, {EZKL_PROVING_GB} GB | {:.0}× | {:.0}× | {:.0}× |\n",
            row.fixture,
            row.parameters,
            row.cold_ms,
            row.warm_median_us,
            row.peak_rss_mib,
            EZKL_PROVING_SECONDS * 1e3 / row.cold_ms,
            EZKL_PROVING_SECONDS * 1e6 / row.warm_median_us,
            EZKL_PROVING_GB * 1024.0 / row.peak_rss_mib,
        ));
    }
    out
}

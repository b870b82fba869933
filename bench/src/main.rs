//! `sibyl-bench` (`make bench`): what users of an inference oracle care
//! about, measured side by side on this machine, written to
//! `docs/performance.md`:
//!
//! 1. the inference floor (a bare ONNX Runtime session) against the node's
//!    path, with Python onnxruntime for reference;
//! 2. the node's own overhead per request on a localnet;
//! 3. throughput with 1, 2 and 4 node processes, and where the time goes;
//! 4. on-chain cost per lifecycle, and the shared-writable-account check;
//! 5. a watcher's re-execution against a zkML proof (EZKL);
//! 6. the determinism matrix;
//! 7. referee disputes: bisection against a vote;
//! 8. a model of tens of MB: its first use, step by step, and the node path on it;
//! 9. watching and voting under load: every wrong commitment challenged in its window?
//! 10. how one node's cost grows with the models it serves and the requests it is handed.
mod big_model;
mod chain;
mod determinism;
mod fixtures;
mod inference;
mod python;
mod reexec;
mod report;
mod stats;
mod tract_engine;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(Parser, Debug)]
#[command(
    name = "sibyl-bench",
    version,
    about = "Sibyl's speed, cost and determinism, measured side by side"
)]
pub struct Args {
    /// Where to write the report.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
    /// Timed runs per fixture and path in section 1 (after as many warm-ups / 10).
    #[arg(long, default_value_t = 5_000)]
    samples: usize,
    /// Requests in section 2 (one at a time).
    #[arg(long, default_value_t = 300)]
    overhead_requests: usize,
    /// Backlog of requests per throughput run in section 3.
    #[arg(long, default_value_t = 1_500)]
    throughput_requests: usize,
    /// Requests in section 9 (one in ten committed wrong).
    #[arg(long, default_value_t = 1_000)]
    load_requests: usize,
    /// Seeded random inputs per fixture, besides the recorded ones, in section 6.
    #[arg(long, default_value_t = 97)]
    extra_inputs: usize,
    /// Run only these sections (e.g. `--only 2,4`); the report then has only them.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=10))]
    only: Vec<u8>,
    /// Slot length of the localnet, in milliseconds.
    #[arg(long, default_value_t = 100)]
    slot_ms: u64,
    #[command(subcommand)]
    child: Option<Child>,
}

/// What the benchmark runs in processes of their own.
#[derive(Subcommand, Debug)]
enum Child {
    /// One watcher re-execution of FIXTURE, as JSON (section 5).
    #[command(hide = true)]
    Reexec {
        fixture: String,
        #[arg(long, default_value_t = 1_000)]
        samples: usize,
    },
    /// A node's first use of the model at PATH, then its path against a
    /// bare session, as JSON (section 8).
    #[command(hide = true)]
    BigModel {
        path: PathBuf,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// Every fixture's outputs under every settings variant with the ONNX
    /// Runtime library at LIBRARY (not the pinned one), as JSON (section 6).
    #[command(hide = true)]
    Outputs {
        #[arg(long)]
        library: PathBuf,
        #[arg(long)]
        label: String,
        #[arg(long)]
        extra_inputs: usize,
    },
}

/// The repository (models, .local, docs).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is in the repository")
        .to_path_buf()
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match args.child {
        Some(Child::Reexec {
            ref fixture,
            samples,
        }) => child_reexec(fixture, samples),
        Some(Child::Outputs {
            ref library,
            ref label,
            extra_inputs,
        }) => child_outputs(library, label, extra_inputs),
        Some(Child::BigModel { ref path, samples }) => child_big_model(path, samples),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn child_reexec(name: &str, samples: usize) -> Result<()> {
    let root = repo_root();
    let fixtures = fixtures::load(&root)?;
    let fixture = fixtures
        .iter()
        .find(|fixture| fixture.name == name)
        .with_context(|| format!("no fixture {name}"))?;
    let result = reexec::run_child(&root, fixture, samples)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn child_big_model(path: &std::path::Path, samples: usize) -> Result<()> {
    let result = big_model::run_child(path, samples)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn child_outputs(library: &std::path::Path, label: &str, extra_inputs: usize) -> Result<()> {
    let fixtures = fixtures::load(&repo_root())?;
    let engine = sibyl_oracle::engine::Engine::unpinned(library)?;
    let outputs =
        determinism::ort_outputs(&engine, &fixtures, extra_inputs, &format!(" · {label}"))?;
    println!("{}", serde_json::to_string(&outputs)?);
    Ok(())
}

fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    std::env::set_current_dir(&root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(report::measure_all(&root, args))?;
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Progress on stderr (the report goes to stdout and the file).
pub fn step(text: &str) {
    eprintln!("sibyl-bench: {text}");
}

impl Args {
    /// Whether section `number` runs.
    pub fn runs(&self, number: u8) -> bool {
        self.only.is_empty() || self.only.contains(&number)
    }
}

/// The localnet slot length the sections use.
pub fn slot(args: &Args) -> Duration {
    Duration::from_millis(args.slot_ms.max(1))
}

//! Section 1 of the report: the inference floor against the node's path, per fixture: a bare
//! ONNX Runtime session with the pinned profile (input tensors made once,
//! `run` alone) against what a node does per request (decode the canonical
//! input, run, copy out and encode the outputs, hash them for the
//! commitment). Python onnxruntime with the same profile for reference.
use crate::{fixtures::Fixture, python::PythonTimes, stats::Summary};
use anyhow::{anyhow, Context, Result};
use ort::{
    session::{Session, SessionInputValue},
    value::{DynTensor, Tensor as OrtTensor},
};
use sibyl::{encoding, hashing, state::DType};
use sibyl_oracle::engine::{Engine, LoadedModel};
use std::time::{Duration, Instant};

/// One fixture's two paths.
pub struct InferenceRow {
    pub fixture: String,
    pub raw: Summary,
    pub node: Summary,
    /// The median, over the rounds, of each round's node path time over
    /// its raw time.
    pub paired_ratio: f64,
}

impl InferenceRow {
    /// The node path over the floor: the median of each round's ratio
    /// (the two run back to back, so what drifts over the run, the
    /// machine's other work, its clock, cancels out).
    pub fn ratio(&self) -> f64 {
        self.paired_ratio
    }

    /// What the node path adds to the floor's median, in µs.
    pub fn extra_micros(&self) -> f64 {
        (self.node.median.as_secs_f64() - self.raw.median.as_secs_f64()) * 1e6
    }
}

/// Runs both paths `samples` times each, interleaved so that both see the
/// same machine, after `warmup` runs of each.
pub fn measure(
    engine: &Engine,
    fixtures: &[Fixture],
    samples: usize,
    warmup: usize,
) -> Result<Vec<InferenceRow>> {
    let mut rows = Vec::new();
    for fixture in fixtures {
        let input = &fixture.cases[0].0;
        let raw_inputs = ort_inputs(input)?;
        // One session for both paths: they read the same weights in memory
        // (two sessions' copies can sit where one streams faster).
        let mut model = engine
            .load(&fixture.path)
            .with_context(|| format!("opening {}", fixture.name))?;
        let model_hash = sibyl_oracle::store::sha256_file(&fixture.path)?;

        let mut raw_times = Vec::with_capacity(samples);
        let mut node_times = Vec::with_capacity(samples);
        let raw = |model: &mut LoadedModel| time(|| run_raw(model.session(), &raw_inputs));
        // As a node serves: run, take the result on chain, hash the whole
        // output and the result (keeping the whole output on disk, where
        // there are views, is not timed here).
        let node = |model: &mut LoadedModel| {
            time(|| {
                let output = model.run(input)?;
                let result = sibyl::state::project(&fixture.views, &output)
                    .map_err(|err| anyhow::anyhow!("{}: {err}", fixture.name))?;
                let whole_sha256 = hashing::whole_output_sha256(&output);
                let input_hash = hashing::input_hash(input);
                Ok((
                    whole_sha256,
                    hashing::output_hash(&model_hash, &input_hash, &result),
                ))
            })
        };
        for round in 0..warmup + samples {
            // Each goes first every other round: whichever runs second
            // finds the caches as the first left them.
            let (raw, node) = if round % 2 == 0 {
                let raw = raw(&mut model)?;
                (raw, node(&mut model)?)
            } else {
                let node = node(&mut model)?;
                (raw(&mut model)?, node)
            };
            if round >= warmup {
                raw_times.push(raw);
                node_times.push(node);
            }
        }
        let mut ratios: Vec<f64> = raw_times
            .iter()
            .zip(&node_times)
            .map(|(raw, node)| node.as_secs_f64() / raw.as_secs_f64().max(1e-9))
            .collect();
        ratios.sort_by(f64::total_cmp);
        rows.push(InferenceRow {
            fixture: fixture.name.clone(),
            raw: Summary::of(&raw_times).expect("samples > 0"),
            node: Summary::of(&node_times).expect("samples > 0"),
            paired_ratio: ratios[ratios.len() / 2],
        });
    }
    Ok(rows)
}

fn time<T>(run: impl FnOnce() -> Result<T>) -> Result<Duration> {
    let started = Instant::now();
    let result = run();
    let elapsed = started.elapsed();
    result.map(|_| elapsed)
}

/// `session.run` on prepared inputs; outputs dropped unread.
fn run_raw(session: &mut Session, inputs: &[DynTensor]) -> Result<()> {
    let values: Vec<SessionInputValue<'_>> = inputs.iter().map(SessionInputValue::from).collect();
    session
        .run(values.as_slice())
        .map(drop)
        .map_err(|err| anyhow!("{err}"))
}

/// ONNX Runtime tensors for a canonical input encoding (float32, uint8 and
/// int64, the fixtures' and families' input types; a scalar has no dims).
fn ort_inputs(encoding: &[u8]) -> Result<Vec<DynTensor>> {
    encoding::decode(encoding)
        .map_err(|err| anyhow!("{err}"))?
        .into_iter()
        .map(|tensor| {
            let shape: Vec<i64> = tensor.dims.iter().map(|&dim| dim as i64).collect();
            Ok(match tensor.dtype {
                DType::Float32 => {
                    let values = tensor.f32_values().expect("float32");
                    OrtTensor::from_array((shape, values))?.upcast()
                }
                DType::Uint8 => OrtTensor::from_array((shape, tensor.data))?.upcast(),
                DType::Int64 => {
                    let values: Vec<i64> = tensor
                        .data
                        .chunks_exact(8)
                        .map(|bytes| i64::from_le_bytes(bytes.try_into().expect("8 bytes")))
                        .collect();
                    OrtTensor::from_array((shape, values))?.upcast()
                }
                other => {
                    anyhow::bail!("the benchmark feeds float32, uint8 and int64, not {other:?}")
                }
            })
        })
        .collect()
}

/// The markdown table of section 1.
pub fn table(rows: &[InferenceRow], python: Option<&PythonTimes>) -> String {
    let mut out = String::from(
        "| fixture | raw `ort` median µs | p99 µs | node path median µs | p99 µs | node / raw (median of each round's) | node − raw µs (medians) | Python onnxruntime median µs | p99 µs |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let (py_median, py_p99) = python.and_then(|python| python.get(&row.fixture)).map_or(
            ("n/a".to_string(), "n/a".to_string()),
            |times| {
                (
                    format!("{:.1}", times.median_us),
                    format!("{:.1}", times.p99_us),
                )
            },
        );
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.3}× | {:.1} | {} | {} |\n",
            row.fixture,
            crate::stats::micros(row.raw.median),
            crate::stats::micros(row.raw.p99),
            crate::stats::micros(row.node.median),
            crate::stats::micros(row.node.p99),
            row.ratio(),
            row.extra_micros(),
            py_median,
            py_p99,
        ));
    }
    out
}

/// One referee model: ONNX Runtime's run beside the referee interpreter's,
/// and what the commitment to the trace (every intermediate tensor hashed
/// into a Merkle root) adds.
pub struct RefereeRow {
    pub model: String,
    pub nodes: usize,
    pub weight_bytes: usize,
    pub trace_bytes: usize,
    pub onnx_runtime: Summary,
    pub interpreter: Summary,
    pub trace_root: Summary,
}

/// Times each model of `models/referee/` on its first case: ONNX
/// Runtime's node path, the referee's interpreter, and the trace root.
pub fn measure_referee(
    engine: &Engine,
    root: &std::path::Path,
    samples: usize,
    warmup: usize,
) -> Result<Vec<RefereeRow>> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("models/referee/referee.json"))?)?;
    let mut rows = Vec::new();
    for model in doc["referees"].as_array().into_iter().flatten() {
        let path = root
            .join("models")
            .join(model["file"].as_str().unwrap_or_default());
        let graph = sibyl_oracle::referee::load(&path)?;
        let input = sibyl_oracle::hex::decode(
            model["cases"][0]["input_encoding"]
                .as_str()
                .unwrap_or_default(),
        )
        .context("the case's input")?;
        let inputs = sibyl::encoding::decode(&input)
            .map_err(|err| anyhow::anyhow!("{err}"))?
            .iter()
            .map(sibyl_sdk::referee::IntTensor::from_tensor)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let mut loaded = engine.load(&path)?;
        let values = graph
            .run(inputs.clone())
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let trace_bytes = graph
            .nodes
            .iter()
            .filter_map(|node| values.get(*node.outputs.first()?)?.as_deref())
            .map(|value| value.data.len())
            .sum::<usize>();
        let (mut ort, mut ours, mut trace) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..warmup + samples {
            let a = time(|| loaded.run(&input).map_err(anyhow::Error::from))?;
            let b = time(|| {
                graph
                    .run(inputs.clone())
                    .map_err(|err| anyhow::anyhow!("{err}"))
            })?;
            let c = time(|| {
                graph
                    .trace_root(&values)
                    .map_err(|err| anyhow::anyhow!("{err}"))
            })?;
            if round >= warmup {
                ort.push(a);
                ours.push(b);
                trace.push(c);
            }
        }
        rows.push(RefereeRow {
            model: model["name"].as_str().unwrap_or_default().to_string(),
            nodes: graph.nodes.len(),
            weight_bytes: model["weight_bytes"].as_u64().unwrap_or(0) as usize,
            trace_bytes,
            onnx_runtime: Summary::of(&ort).context("samples > 0")?,
            interpreter: Summary::of(&ours).context("samples > 0")?,
            trace_root: Summary::of(&trace).context("samples > 0")?,
        });
    }
    Ok(rows)
}

pub fn referee_table(rows: &[RefereeRow]) -> String {
    let mut out = String::from(
        "| referee model | nodes | weight bytes | trace elements | ONNX Runtime node path median µs | referee interpreter median µs | p99 µs | trace root median µs | p99 µs |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.model,
            row.nodes,
            row.weight_bytes,
            row.trace_bytes,
            crate::stats::micros(row.onnx_runtime.median),
            crate::stats::micros(row.interpreter.median),
            crate::stats::micros(row.interpreter.p99),
            crate::stats::micros(row.trace_root.median),
            crate::stats::micros(row.trace_root.p99),
        ));
    }
    out
}

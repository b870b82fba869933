//! The fixture models and their recorded cases (`models/fixtures.json`),
//! and the model families (`models/families/families.json`).
use anyhow::{Context, Result};
use serde::Deserialize;
use sibyl::state::ComparisonRule;
use sibyl_oracle::actions::model::{parse_rule, parse_view};
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct File {
    fixtures: Vec<RawFixture>,
}

#[derive(Deserialize)]
struct FamiliesFile {
    families: Vec<RawFixture>,
}

#[derive(Deserialize)]
struct RawFixture {
    name: String,
    file: String,
    comparison: serde_json::Value,
    /// A family's input specs (the fixtures name theirs otherwise).
    #[serde(default)]
    inputs: Vec<RawSpec>,
    /// A family's output specs.
    #[serde(default)]
    outputs: Vec<RawSpec>,
    /// A family's output views by output name (`topk:5:65536`); none:
    /// every output whole.
    #[serde(default)]
    views: std::collections::BTreeMap<String, String>,
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
struct RawSpec {
    name: String,
    dtype: String,
    shape: Vec<i64>,
}

#[derive(Deserialize)]
struct RawCase {
    /// Absent for an input too large to record in hex (an image): its
    /// `.npy` sample is encoded instead.
    input_encoding: Option<String>,
    sample: Option<String>,
    output_encoding: String,
}

/// One fixture model.
#[derive(Clone)]
pub struct Fixture {
    pub name: String,
    pub path: PathBuf,
    /// The comparison rule `models/generate.py` chose for it.
    pub rule: ComparisonRule,
    /// Canonical input encodings with the outputs Python recorded.
    pub cases: Vec<(Vec<u8>, Vec<u8>)>,
    /// What of each output goes on chain (empty: every output whole).
    pub views: Vec<sibyl::state::OutputView>,
    /// Whether it is registered for the on-chain referee (`--referee`).
    pub referee: bool,
}

/// Every fixture in `models/fixtures.json` under `root`.
pub fn load(root: &Path) -> Result<Vec<Fixture>> {
    let file: File = read(root, "models/fixtures.json")?;
    from_raw(root, file.fixtures)
}

/// Every model family in `models/families/families.json` under `root`
/// (several named inputs and outputs; section 1 times them beside the
/// fixtures).
pub fn load_families(root: &Path) -> Result<Vec<Fixture>> {
    let file: FamiliesFile = read(root, "models/families/families.json")?;
    from_raw(root, file.families)
}

/// Every referee model of `models/referee/referee.json` under `root`,
/// registered for the referee (section 7).
pub fn load_referees(root: &Path) -> Result<Vec<Fixture>> {
    let doc: serde_json::Value = read(root, "models/referee/referee.json")?;
    doc["referees"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|model| {
            let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
            let cases = model["cases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|case| {
                    Ok((
                        hex(&text(&case["input_encoding"]))?,
                        hex(&text(&case["output_encoding"]))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Fixture {
                name: text(&model["name"]),
                path: root.join("models").join(text(&model["file"])),
                rule: sibyl::state::ComparisonRule::Exact,
                cases,
                views: Vec::new(),
                referee: true,
            })
        })
        .collect()
}

fn read<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> Result<T> {
    let path = root.join(name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (run make fixtures)", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {name}"))
}

fn from_raw(root: &Path, fixtures: Vec<RawFixture>) -> Result<Vec<Fixture>> {
    fixtures
        .into_iter()
        .map(|raw| {
            let cases = raw
                .cases
                .iter()
                .map(|case| {
                    let input = match &case.input_encoding {
                        Some(encoding) => hex(encoding)?,
                        None => npy_input(root, &raw, case)?,
                    };
                    Ok((input, hex(&case.output_encoding)?))
                })
                .collect::<Result<Vec<_>>>()?;
            let views = if raw.views.is_empty() {
                Vec::new()
            } else {
                raw.outputs
                    .iter()
                    .map(|spec| match raw.views.get(&spec.name) {
                        Some(view) => parse_view(view).map_err(anyhow::Error::msg),
                        None => Ok(sibyl::state::OutputView::Whole),
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            Ok(Fixture {
                views,
                referee: false,
                path: root.join("models").join(&raw.file),
                rule: rule_of(&raw.comparison)
                    .with_context(|| format!("the comparison rule of {}", raw.name))?,
                name: raw.name,
                cases,
            })
        })
        .collect()
}

/// The encoding of a one-input family's `.npy` sample.
fn npy_input(root: &Path, raw: &RawFixture, case: &RawCase) -> Result<Vec<u8>> {
    let (Some(sample), [spec]) = (&case.sample, raw.inputs.as_slice()) else {
        anyhow::bail!(
            "{}: a case with neither an input encoding nor a one-input .npy sample",
            raw.name
        );
    };
    anyhow::ensure!(
        spec.dtype == "float32",
        "{}: .npy samples here are float32",
        raw.name
    );
    let spec = sibyl::state::TensorSpec {
        name: spec.name.clone(),
        dtype: sibyl::state::DType::Float32,
        shape: spec.shape.clone(),
    };
    let path = root.join("models").join(sample);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    sibyl_oracle::input::from_npy(&bytes, &spec)
        .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

/// `"exact"`, `{"tolerance": {"abs", "rel"}}` or `{"top_k": {"k"}}`.
fn rule_of(value: &serde_json::Value) -> Result<ComparisonRule> {
    let text = if let Some(name) = value.as_str() {
        name.to_string()
    } else if let Some(tolerance) = value.get("tolerance") {
        format!("tolerance:{}:{}", tolerance["abs"], tolerance["rel"])
    } else if let Some(top_k) = value.get("top_k") {
        format!("top-k:{}", top_k["k"])
    } else {
        anyhow::bail!("unknown rule {value}");
    };
    parse_rule(&text).map_err(|err| anyhow::anyhow!("{err}"))
}

fn hex(text: &str) -> Result<Vec<u8>> {
    sibyl_oracle::hex::decode(text)
        .ok_or_else(|| anyhow::anyhow!("bad hex in models/fixtures.json"))
}

impl Fixture {
    /// The recorded inputs plus `extra` pseudo-random ones of the same
    /// name, dtype and shape (a fixed seed: every run draws the same).
    pub fn inputs(&self, extra: usize) -> Result<Vec<Vec<u8>>> {
        let first = self.cases.first().context("a fixture without cases")?;
        let template = sibyl::encoding::decode(&first.0)
            .map_err(|err| anyhow::anyhow!("decoding {}'s input: {err}", self.name))?;
        let mut inputs: Vec<Vec<u8>> = self.cases.iter().map(|(input, _)| input.clone()).collect();
        let mut random = XorShift(0x5eed_0f5b_1b11_u64 ^ self.name.len() as u64);
        for _ in 0..extra {
            let tensors = template
                .iter()
                .map(|tensor| {
                    let mut tensor = tensor.clone();
                    random.fill(tensor.dtype, &mut tensor.data);
                    tensor
                })
                .collect::<Vec<_>>();
            inputs.push(sibyl::encoding::encode(&tensors));
        }
        Ok(inputs)
    }
}

/// A small deterministic generator (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fills float32 data with values in [-4, 4) and 8-bit data with any byte.
    fn fill(&mut self, dtype: sibyl::state::DType, data: &mut [u8]) {
        use sibyl::state::DType;
        match dtype {
            DType::Float32 => {
                for chunk in data.chunks_exact_mut(4) {
                    let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
                    chunk.copy_from_slice(&(unit * 8.0 - 4.0).to_le_bytes());
                }
            }
            _ => {
                for byte in data.iter_mut() {
                    *byte = self.next() as u8;
                }
            }
        }
    }
}

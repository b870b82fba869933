//! Section 6 of the report: determinism: every fixture's outputs (recorded inputs plus seeded
//! random ones) under other thread counts, optimization levels, another
//! ONNX Runtime build and an independent engine, against the pinned
//! profile; the largest element difference per pair; and whether each
//! model's comparison rule keeps honest nodes in agreement.
use crate::{fixtures::Fixture, tract_engine::TractModel};
use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use sibyl::state::ComparisonRule;
use sibyl_oracle::{
    compare::outputs_agree,
    engine::{Engine, GraphOptimization, SessionSettings, PINNED_SETTINGS},
    hex,
    tensor::{decode, values_f64},
};
use std::collections::BTreeMap;

/// The pinned profile's column, the baseline of every comparison.
pub const BASELINE: &str = "pinned";

/// Outputs (hex canonical encodings, one per input) by fixture, then by variant.
#[derive(Default, Serialize, Deserialize)]
pub struct Outputs(pub BTreeMap<String, BTreeMap<String, Vec<String>>>);

/// The ONNX Runtime session settings the matrix varies, one at a time.
pub fn settings_variants() -> Vec<(&'static str, SessionSettings)> {
    let threads = |intra_op_threads| SessionSettings {
        intra_op_threads,
        ..PINNED_SETTINGS
    };
    let optimization = |graph_optimization| SessionSettings {
        graph_optimization,
        ..PINNED_SETTINGS
    };
    vec![
        (BASELINE, PINNED_SETTINGS),
        ("threads 2", threads(2)),
        ("threads 4", threads(4)),
        ("opt disabled", optimization(GraphOptimization::Disabled)),
        ("opt extended", optimization(GraphOptimization::Extended)),
        ("opt all", optimization(GraphOptimization::All)),
    ]
}

/// Every fixture under every settings variant with `engine`'s runtime;
/// variant names get `suffix`.
pub fn ort_outputs(
    engine: &Engine,
    fixtures: &[Fixture],
    extra_inputs: usize,
    suffix: &str,
) -> Result<Outputs> {
    let mut outputs = Outputs::default();
    for fixture in fixtures {
        let inputs = fixture.inputs(extra_inputs)?;
        let by_variant = outputs.0.entry(fixture.name.clone()).or_default();
        for (name, settings) in settings_variants() {
            let mut model = engine.load_with(&fixture.path, &settings)?;
            let encoded = inputs
                .iter()
                .map(|input| model.run(input).map(|output| hex::encode(&output)))
                .collect::<Result<Vec<_>, _>>()?;
            by_variant.insert(format!("{name}{suffix}"), encoded);
        }
    }
    Ok(outputs)
}

/// Every fixture through tract, output names taken from the baseline's.
pub fn tract_outputs(
    fixtures: &[Fixture],
    baseline: &Outputs,
    extra_inputs: usize,
) -> Result<Outputs> {
    let mut outputs = Outputs::default();
    for fixture in fixtures {
        let inputs = fixture.inputs(extra_inputs)?;
        let first = &baseline.0[&fixture.name][BASELINE][0];
        let names: Vec<String> = decode(&hex_bytes(first)?)
            .map_err(|err| anyhow!("{err}"))?
            .into_iter()
            .map(|tensor| tensor.name)
            .collect();
        let encoded = match TractModel::load(&fixture.path) {
            Ok(model) => inputs
                .iter()
                .map(|input| model.run(input, &names).map(|output| hex::encode(&output)))
                .collect::<Result<Vec<_>>>(),
            Err(err) => Err(err),
        };
        match encoded {
            Ok(encoded) => {
                outputs
                    .0
                    .entry(fixture.name.clone())
                    .or_default()
                    .insert("tract".to_string(), encoded);
            }
            Err(err) => eprintln!("tract cannot run {}: {err:#}", fixture.name),
        }
    }
    Ok(outputs)
}

impl Outputs {
    pub fn merge(&mut self, other: Outputs) {
        for (fixture, variants) in other.0 {
            self.0.entry(fixture).or_default().extend(variants);
        }
    }
}

/// One cell: a variant against the baseline for one fixture.
pub struct Cell {
    pub identical: usize,
    pub total: usize,
    /// Largest absolute element difference; `None` when a layout differs.
    pub max_difference: Option<f64>,
    /// Whether the model's rule accepts every pair.
    pub rule_agrees: bool,
}

/// Compares `variant` with the baseline for `fixture`.
pub fn compare(outputs: &Outputs, fixture: &Fixture, variant: &str) -> Result<Option<Cell>> {
    let by_variant = &outputs.0[&fixture.name];
    let (Some(baseline), Some(other)) = (by_variant.get(BASELINE), by_variant.get(variant)) else {
        return Ok(None);
    };
    let mut cell = Cell {
        identical: 0,
        total: baseline.len(),
        max_difference: Some(0.0),
        rule_agrees: true,
    };
    for (expected, actual) in baseline.iter().zip(other) {
        let (expected, actual) = (hex_bytes(expected)?, hex_bytes(actual)?);
        if expected == actual {
            cell.identical += 1;
            continue;
        }
        cell.rule_agrees &= outputs_agree(&fixture.rule, &expected, &actual);
        cell.max_difference = match (cell.max_difference, max_difference(&expected, &actual)?) {
            (Some(so_far), Some(this)) => Some(so_far.max(this)),
            _ => None,
        };
    }
    Ok(Some(cell))
}

/// Largest |a − b| over all elements; `None` when names, dtypes or shapes differ.
fn max_difference(expected: &[u8], actual: &[u8]) -> Result<Option<f64>> {
    let (expected, actual) = (
        decode(expected).map_err(|err| anyhow!("{err}"))?,
        decode(actual).map_err(|err| anyhow!("{err}"))?,
    );
    if expected.len() != actual.len() {
        return Ok(None);
    }
    let mut largest: f64 = 0.0;
    for (e, a) in expected.iter().zip(&actual) {
        if e.name != a.name || e.dtype != a.dtype || e.dims != a.dims {
            return Ok(None);
        }
        for (x, y) in values_f64(e).iter().zip(values_f64(a)) {
            largest = largest.max((x - y).abs());
        }
    }
    Ok(Some(largest))
}

fn hex_bytes(text: &str) -> Result<Vec<u8>> {
    hex::decode(text).ok_or_else(|| anyhow!("bad hex in the outputs"))
}

/// How a rule reads in the tables.
pub fn rule_name(rule: &ComparisonRule) -> String {
    match rule {
        ComparisonRule::Exact => "exact".to_string(),
        ComparisonRule::Tolerance { abs, rel } => format!("tolerance abs {abs} rel {rel}"),
        ComparisonRule::TopK { k, tie_margin } => format!("top-{k} (tie margin {tie_margin})"),
    }
}

/// The matrix and the rule table as markdown.
pub fn tables(outputs: &Outputs, fixtures: &[Fixture], variants: &[String]) -> Result<String> {
    let mut matrix = String::from("| fixture |");
    let mut rule = String::from(
        "| fixture | rule registered | largest difference seen | every variant agrees under the rule | rule honest nodes need |\n|---|---|---:|---|---|\n",
    );
    for variant in variants {
        matrix.push_str(&format!(" {variant} |"));
    }
    matrix.push_str("\n|---|");
    matrix.push_str(&"---|".repeat(variants.len()));
    matrix.push('\n');
    for fixture in fixtures {
        matrix.push_str(&format!("| {} |", fixture.name));
        let mut largest: Option<f64> = Some(0.0);
        let mut all_identical = true;
        let mut all_agree = true;
        for variant in variants {
            let text = match compare(outputs, fixture, variant)? {
                None => "n/a".to_string(),
                Some(cell) if cell.identical == cell.total => {
                    format!("{}/{} identical", cell.identical, cell.total)
                }
                Some(cell) => {
                    all_identical = false;
                    all_agree &= cell.rule_agrees;
                    largest = match (largest, cell.max_difference) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                    format!(
                        "{}/{} identical, max Δ {}",
                        cell.identical,
                        cell.total,
                        cell.max_difference
                            .map_or("(layout differs)".to_string(), |d| format!("{d:.2e}"))
                    )
                }
            };
            matrix.push_str(&format!(" {text} |"));
        }
        matrix.push('\n');
        let needed = if all_identical {
            "exact".to_string()
        } else {
            match (&fixture.rule, largest) {
                (ComparisonRule::TopK { .. }, _) if all_agree => rule_name(&fixture.rule),
                (_, Some(largest)) => {
                    format!("tolerance abs ≥ {largest:.2e} (or top-k for a classifier)")
                }
                (_, None) => "none: a variant changes the output's layout".to_string(),
            }
        };
        rule.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            fixture.name,
            rule_name(&fixture.rule),
            largest.map_or("layout differs".to_string(), |d| format!("{d:.2e}")),
            if all_agree { "yes" } else { "**no**" },
            needed,
        ));
    }
    Ok(format!("{matrix}\n{rule}"))
}

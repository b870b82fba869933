//! The comparison rules verifiers judge agreement by: never by bits alone for
//! float models, whose last bits may differ across CPUs.
use crate::tensor::{self, decode, Tensor};
use sibyl::state::ComparisonRule;

/// Whether two canonical output encodings of the same model and input agree
/// under `rule`. Outputs with different names, dtypes or shapes never agree,
/// and neither do bytes that do not decode: an output a verifier cannot
/// reproduce under the rule is wrong, whatever the reason.
pub fn outputs_agree(rule: &ComparisonRule, expected: &[u8], actual: &[u8]) -> bool {
    if expected == actual {
        return true;
    }
    if let ComparisonRule::Exact = rule {
        return false;
    }
    let (Ok(expected), Ok(actual)) = (decode(expected), decode(actual)) else {
        return false;
    };
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(&actual)
            .all(|(e, a)| same_layout(e, a) && tensors_agree(rule, e, a))
}

fn same_layout(expected: &Tensor, actual: &Tensor) -> bool {
    expected.name == actual.name && expected.dtype == actual.dtype && expected.dims == actual.dims
}

fn tensors_agree(rule: &ComparisonRule, expected: &Tensor, actual: &Tensor) -> bool {
    let (expected_values, actual_values) =
        (tensor::values_f64(expected), tensor::values_f64(actual));
    match *rule {
        ComparisonRule::Exact => expected.data == actual.data,
        ComparisonRule::Tolerance { abs, rel } => expected_values
            .iter()
            .zip(&actual_values)
            .all(|(&e, &a)| within_tolerance(e, a, abs as f64, rel as f64)),
        ComparisonRule::TopK { k } => {
            // Classes lie along the last axis; every row must rank alike.
            let row_len = expected.dims.last().copied().unwrap_or(1).max(1) as usize;
            expected_values
                .chunks(row_len)
                .zip(actual_values.chunks(row_len))
                .all(|(e, a)| top_k(e, k as usize) == top_k(a, k as usize))
        }
    }
}

/// `|actual − expected| ≤ abs + rel·|expected|`; NaN agrees only with NaN.
fn within_tolerance(expected: f64, actual: f64, abs: f64, rel: f64) -> bool {
    if expected.is_nan() || actual.is_nan() {
        return expected.is_nan() && actual.is_nan();
    }
    if expected.is_infinite() || actual.is_infinite() {
        return expected == actual;
    }
    (actual - expected).abs() <= abs + rel * expected.abs()
}

/// Indices of the `k` largest values, largest first; ties go to the lower
/// index so that equal scores rank the same everywhere.
pub fn top_k(values: &[f64], k: usize) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..values.len()).collect();
    indices.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    indices.truncate(k);
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::encode;

    fn scores(values: &[f32]) -> Vec<u8> {
        encode(&[Tensor::from_f32("p", vec![1, values.len() as u64], values).unwrap()])
    }

    const TOLERANCE: ComparisonRule = ComparisonRule::Tolerance {
        abs: 1e-5,
        rel: 1e-4,
    };

    #[test]
    fn exact_needs_identical_bytes() {
        let a = scores(&[0.1, 0.9]);
        assert!(outputs_agree(&ComparisonRule::Exact, &a, &a));
        let b = scores(&[0.1, 0.900_000_1]);
        assert!(!outputs_agree(&ComparisonRule::Exact, &a, &b));
    }

    #[test]
    fn tolerance_accepts_last_bit_noise_and_refuses_real_differences() {
        let a = scores(&[0.1, 0.9]);
        assert!(outputs_agree(
            &TOLERANCE,
            &a,
            &scores(&[0.100_000_01, 0.900_000_1])
        ));
        assert!(!outputs_agree(&TOLERANCE, &a, &scores(&[0.2, 0.8])));
    }

    #[test]
    fn tolerance_treats_nan_and_infinity_strictly() {
        let nan = scores(&[f32::NAN]);
        assert!(outputs_agree(&TOLERANCE, &nan, &scores(&[f32::NAN])));
        assert!(!outputs_agree(&TOLERANCE, &nan, &scores(&[0.0])));
        assert!(!outputs_agree(
            &TOLERANCE,
            &scores(&[f32::INFINITY]),
            &scores(&[1e30])
        ));
    }

    #[test]
    fn top_k_compares_the_ranking_not_the_scores() {
        let rule = ComparisonRule::TopK { k: 2 };
        let a = scores(&[0.1, 0.6, 0.3]);
        assert!(outputs_agree(&rule, &a, &scores(&[0.0, 0.5, 0.4])));
        assert!(!outputs_agree(&rule, &a, &scores(&[0.0, 0.4, 0.5])));
        assert!(outputs_agree(
            &ComparisonRule::TopK { k: 1 },
            &a,
            &scores(&[0.0, 0.4, 0.39])
        ));
    }

    #[test]
    fn top_k_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.5, 0.5, 0.1], 2), vec![0, 1]);
    }

    #[test]
    fn different_shapes_or_names_never_agree() {
        let a = scores(&[0.1, 0.9]);
        let other_name = encode(&[Tensor::from_f32("q", vec![1, 2], &[0.1, 0.9]).unwrap()]);
        assert!(!outputs_agree(&TOLERANCE, &a, &other_name));
        assert!(!outputs_agree(&TOLERANCE, &a, &scores(&[0.1, 0.9, 0.0])));
    }

    #[test]
    fn garbage_never_agrees() {
        let ours = scores(&[1.0]);
        for rule in [
            TOLERANCE,
            ComparisonRule::Exact,
            ComparisonRule::TopK { k: 1 },
        ] {
            assert!(!outputs_agree(&rule, &[1, 2, 3], &ours), "{rule:?}");
            assert!(!outputs_agree(&rule, &ours, &[1, 2, 3]), "{rule:?}");
        }
    }
}

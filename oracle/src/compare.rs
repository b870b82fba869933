//! The comparison rules verifiers judge agreement by: never by bits alone for
//! float models, whose last bits may differ across CPUs. What a rule checks
//! of each tensor is `ComparisonRule::check_for` (the SDK's, shared with the
//! program and consumers); this module applies it.
use crate::tensor::{self, decode, Tensor};
use sibyl::state::{project, ComparisonRule, DType, OutputView, TensorCheck};
pub use sibyl_sdk::encoding::top_k;

/// Whether `claimed`, a result someone posted (each output's view, see
/// [`OutputView`]), agrees under `rule` with `whole`, the verifier's own
/// whole output of the same model and input. Whole tensors and slices are
/// judged as [`outputs_agree`] judges outputs; a top-k view by its classes,
/// ranked against the verifier's own scores within the rule's margin, and
/// by its fixed-point scores within the rule's tolerance plus one unit of
/// the scale (never under a `TopK` rule, which verifies no score).
pub fn result_agrees(
    rule: &ComparisonRule,
    views: &[OutputView],
    claimed: &[u8],
    whole: &[u8],
) -> bool {
    if OutputView::all_whole(views) {
        return outputs_agree(rule, claimed, whole);
    }
    let Ok(ours) = project(views, whole) else {
        return false;
    };
    if claimed == ours {
        return true;
    }
    if let ComparisonRule::Exact = rule {
        return false;
    }
    let (Ok(claimed), Ok(reference), Ok(projected)) =
        (decode(claimed), decode(whole), decode(&ours))
    else {
        return false;
    };
    let viewed = reference
        .iter()
        .zip(views)
        .filter(|(_, view)| **view != OutputView::Omitted);
    claimed.len() == projected.len()
        && claimed
            .iter()
            .zip(&projected)
            .zip(viewed)
            .all(|((c, p), (r, view))| match *view {
                OutputView::TopK { k, scale } => top_k_agrees(rule, k, scale, c, r),
                _ => same_layout(c, p) && tensors_agree(rule, c, p),
            })
}

/// Whether `claimed`, a top-k view, agrees with `reference`, the verifier's
/// whole score tensor: the layout of `(class, score)` pairs the view
/// makes, classes distinct and ranked as the reference ranks them up to
/// the rule's margin, and scores within its tolerance plus one unit.
fn top_k_agrees(
    rule: &ComparisonRule,
    k: u16,
    scale: u32,
    claimed: &Tensor,
    reference: &Tensor,
) -> bool {
    let Some((_, rows)) = reference.dims.split_last() else {
        return false;
    };
    let mut dims = rows.to_vec();
    dims.extend([k as u64, 2]);
    if claimed.dtype != DType::Int32 || claimed.name != reference.name || claimed.dims != dims {
        return false;
    }
    // How far an honest run's score may lie from the verifier's. Under
    // `Tolerance` both the ranked class and any other may have moved, so a
    // near-tie is measured with both margins; an infinite score moves by
    // `abs` at most (its relative margin would make every bound NaN).
    let margin = |score: f64| match *rule {
        ComparisonRule::Tolerance { abs, rel } if score.is_finite() => {
            abs as f64 + rel as f64 * score.abs()
        }
        ComparisonRule::Tolerance { abs, .. } => abs as f64,
        ComparisonRule::TopK { tie_margin, .. } => tie_margin as f64,
        ComparisonRule::Exact => 0.0,
    };
    let other_margin = |score: f64| match *rule {
        ComparisonRule::Tolerance { .. } => margin(score),
        _ => 0.0,
    };
    let unit = 1.0 / scale as f64;
    // (class, fixed-point score) pairs, read as the int32s they are.
    let pairs: Vec<(i32, i32)> = claimed
        .data
        .chunks_exact(8)
        .filter_map(|pair| {
            let (class, score) = pair.split_at(4);
            Some((
                i32::from_le_bytes(class.try_into().ok()?),
                i32::from_le_bytes(score.try_into().ok()?),
            ))
        })
        .collect();
    pairs
        .chunks(k as usize)
        .zip(tensor::values_f64(reference).chunks(row_len(&reference.dims)))
        .all(|(pairs, scores)| {
            let classes: Vec<usize> = pairs
                .iter()
                .map(|&(class, _)| usize::try_from(class).unwrap_or(usize::MAX))
                .collect();
            let distinct = classes
                .iter()
                .enumerate()
                .all(|(rank, class)| !classes.iter().take(rank).any(|c| c == class));
            let scores_agree = match *rule {
                ComparisonRule::TopK { .. } => true,
                _ => classes.iter().zip(pairs).all(|(&class, &(_, fixed))| {
                    scores.get(class).is_some_and(|&score| {
                        // Saturated and NaN scores agree only as the view makes them.
                        fixed == sibyl::state::fixed_point(score, scale)
                            || within_tolerance(
                                score,
                                f64::from(fixed) * unit,
                                margin(score) + unit,
                                0.0,
                            )
                    })
                }),
            };
            distinct && scores_agree && ranking_agrees(&classes, scores, &margin, &other_margin)
        })
}

/// Whether `claimed`, an output someone posted, agrees under `rule` with
/// `reference`, the verifier's own output of the same model and input
/// (tolerances and tie margins are measured on the reference). Outputs with
/// different names, dtypes or shapes never agree, and neither do bytes that
/// do not decode: an output a verifier cannot reproduce under the rule is
/// wrong, whatever the reason.
pub fn outputs_agree(rule: &ComparisonRule, claimed: &[u8], reference: &[u8]) -> bool {
    if claimed == reference {
        return true;
    }
    if let ComparisonRule::Exact = rule {
        return false;
    }
    let (Ok(claimed), Ok(reference)) = (decode(claimed), decode(reference)) else {
        return false;
    };
    claimed.len() == reference.len()
        && claimed
            .iter()
            .zip(&reference)
            .all(|(c, r)| same_layout(c, r) && tensors_agree(rule, c, r))
}

fn same_layout(claimed: &Tensor, reference: &Tensor) -> bool {
    claimed.name == reference.name
        && claimed.dtype == reference.dtype
        && claimed.dims == reference.dims
}

fn tensors_agree(rule: &ComparisonRule, claimed: &Tensor, reference: &Tensor) -> bool {
    match rule.check_for(reference.dtype, &reference.dims) {
        TensorCheck::Bits => claimed.data == reference.data,
        TensorCheck::Values { abs, rel } => tensor::values_f64(claimed)
            .iter()
            .zip(&tensor::values_f64(reference))
            .all(|(&c, &r)| within_tolerance(r, c, abs as f64, rel as f64)),
        TensorCheck::TopClasses { k, tie_margin } => {
            // Classes lie along the last axis; every row must rank alike.
            let row_len = row_len(&reference.dims);
            tensor::values_f64(claimed)
                .chunks(row_len)
                .zip(tensor::values_f64(reference).chunks(row_len))
                .all(|(c, r)| ranks_agree(c, r, k as usize, tie_margin as f64))
        }
    }
}

/// Whether the claimed row's `k` best classes, in order, are a ranking of
/// the reference's scores up to `tie_margin`: no class the claim ranks
/// below one of its classes (or leaves out) scores, in the reference, more
/// than `tie_margin` above it. Near-ties that another CPU breaks the other
/// way agree; margins do not add up along the ranks. Scores order as
/// `top_k` orders them (`total_cmp`: equal infinities tie, NaN ranks first).
fn ranks_agree(claimed: &[f64], reference: &[f64], k: usize, tie_margin: f64) -> bool {
    let claimed_top = top_k(claimed, k);
    claimed_top.len() == top_k(reference, k).len()
        && ranking_agrees(&claimed_top, reference, &|_| tie_margin, &|_| 0.0)
}

/// Whether `claimed_top`, classes best first, ranks `reference`'s scores:
/// no class left below the one at a rank scores more than that class's
/// score plus `own` of it plus `other` of its own score (see
/// [`ranks_agree`]).
fn ranking_agrees(
    claimed_top: &[usize],
    reference: &[f64],
    own: &dyn Fn(f64) -> f64,
    other: &dyn Fn(f64) -> f64,
) -> bool {
    claimed_top.iter().enumerate().all(|(rank, &class)| {
        let Some(&score) = reference.get(class) else {
            return false;
        };
        let ranked_so_far = |o: &usize| claimed_top.iter().take(rank + 1).any(|c| c == o);
        reference
            .iter()
            .enumerate()
            .filter(|(o, _)| !ranked_so_far(o))
            .all(|(_, &s)| {
                let ceiling = score + own(score) + other(s);
                s.total_cmp(&ceiling) != std::cmp::Ordering::Greater
            })
    })
}

/// The number of elements along the last axis (classes, for a classifier),
/// at least 1: a tensor is read in rows of this length.
pub fn row_len(dims: &[u64]) -> usize {
    let last = dims.last().copied().unwrap_or(1).max(1);
    usize::try_from(last).unwrap_or(usize::MAX)
}

/// `|claimed − reference| ≤ abs + rel·|reference|`; NaN agrees only with NaN.
fn within_tolerance(reference: f64, claimed: f64, abs: f64, rel: f64) -> bool {
    if reference.is_nan() || claimed.is_nan() {
        return reference.is_nan() && claimed.is_nan();
    }
    if reference.is_infinite() || claimed.is_infinite() {
        return reference == claimed;
    }
    (claimed - reference).abs() <= abs + rel * reference.abs()
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

    fn int64(name: &str, dims: Vec<u64>, value: i64) -> Vec<u8> {
        let tensor = Tensor::new(
            name,
            sibyl::state::DType::Int64,
            dims,
            value.to_le_bytes().to_vec(),
        );
        encode(&[tensor.unwrap()])
    }

    const fn top(k: u16) -> ComparisonRule {
        ComparisonRule::TopK { k, tie_margin: 0.0 }
    }

    #[test]
    fn top_k_compares_the_ranking_not_the_scores() {
        let a = scores(&[0.1, 0.6, 0.3]);
        assert!(outputs_agree(&top(2), &a, &scores(&[0.0, 0.5, 0.4])));
        assert!(!outputs_agree(&top(2), &a, &scores(&[0.0, 0.4, 0.5])));
        assert!(outputs_agree(&top(1), &a, &scores(&[0.0, 0.4, 0.39])));
    }

    #[test]
    fn top_k_accepts_a_near_tie_broken_the_other_way_and_nothing_more() {
        let rule = ComparisonRule::TopK {
            k: 1,
            tie_margin: 1e-3,
        };
        // The verifier scores class 1 a hair above class 2; another CPU
        // ranked them the other way.
        let reference = scores(&[0.1, 0.4502, 0.4498]);
        assert!(outputs_agree(
            &rule,
            &scores(&[0.1, 0.4498, 0.4502]),
            &reference
        ));
        assert!(!outputs_agree(
            &top(1),
            &scores(&[0.1, 0.4498, 0.4502]),
            &reference
        ));
        // A class the verifier scores well below its best is wrong.
        assert!(!outputs_agree(
            &rule,
            &scores(&[0.5, 0.25, 0.25]),
            &reference
        ));
        // Margins do not add up along the ranks: with A ≈ B + m ≈ C + 2m, a
        // top-2 of (B, C) leaves out A, which beats C by more than m.
        let top2 = ComparisonRule::TopK {
            k: 2,
            tie_margin: 1e-3,
        };
        let chained = scores(&[0.5, 0.4991, 0.4982]);
        assert!(!outputs_agree(&top2, &scores(&[0.0, 0.6, 0.4]), &chained));
        assert!(outputs_agree(&top2, &scores(&[0.5, 0.4, 0.45]), &chained));
        // Exact ties agree whatever index each side put first.
        let tied = scores(&[0.5, 0.5]);
        assert!(outputs_agree(
            &top(1),
            &scores(&[0.4, 0.6]),
            &scores(&[0.6, 0.6])
        ));
        assert!(outputs_agree(&top(1), &tied, &tied));
    }

    #[test]
    fn top_k_compares_a_label_output_bit_for_bit() {
        // A class label (int64) or a single score per row is no ranking: a
        // wrong label must never pass.
        let label = |value: i64| int64("label", vec![1, 1], value);
        assert!(!outputs_agree(&top(1), &label(3), &label(7)));
        assert!(outputs_agree(&top(1), &label(7), &label(7)));
        let single = |value: f32| encode(&[Tensor::from_f32("p", vec![1, 1], &[value]).unwrap()]);
        assert!(!outputs_agree(&top(1), &single(0.2), &single(0.9)));
    }

    #[test]
    fn tolerance_compares_integer_tensors_bit_for_bit() {
        let counts = |value: i64| int64("n", vec![1], value);
        let wide = ComparisonRule::Tolerance {
            abs: 0.01,
            rel: 0.01,
        };
        assert!(!outputs_agree(&wide, &counts(100), &counts(101)));
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
        for rule in [TOLERANCE, ComparisonRule::Exact, top(1)] {
            assert!(!outputs_agree(&rule, &[1, 2, 3], &ours), "{rule:?}");
            assert!(!outputs_agree(&rule, &ours, &[1, 2, 3]), "{rule:?}");
        }
    }

    /// A result of a label (omitted) and the top 2 of four logits, in
    /// fixed point with scale 1000, as `pairs` gives them.
    fn top_two(pairs: &[i32]) -> Vec<u8> {
        let data = pairs.iter().flat_map(|v| v.to_le_bytes()).collect();
        encode(&[Tensor::new("logits", DType::Int32, vec![1, 2, 2], data).unwrap()])
    }

    fn whole(logits: &[f32]) -> Vec<u8> {
        let label = Tensor::new("label", DType::Int64, vec![1], 7i64.to_le_bytes().to_vec());
        encode(&[
            label.unwrap(),
            Tensor::from_f32("logits", vec![1, 4], logits).unwrap(),
        ])
    }

    const VIEWS: [OutputView; 2] = [OutputView::Omitted, OutputView::TopK { k: 2, scale: 1000 }];

    #[test]
    fn a_top_k_result_is_judged_by_its_classes_and_its_scores_against_our_whole_output() {
        let ours = whole(&[0.1, 2.0, 1.5, -1.0]);
        let agrees = |rule: &ComparisonRule, pairs: &[i32]| {
            result_agrees(rule, &VIEWS, &top_two(pairs), &ours)
        };
        // Our own projection, and the same from a CPU a last bit away.
        assert!(agrees(&TOLERANCE, &[1, 2000, 2, 1500]));
        assert!(
            agrees(&TOLERANCE, &[1, 2000, 2, 1501]),
            "one unit of the scale"
        );
        assert!(!agrees(&TOLERANCE, &[1, 2000, 2, 1503]), "a score made up");
        assert!(
            !agrees(&TOLERANCE, &[2, 1500, 1, 2000]),
            "the ranking swapped"
        );
        assert!(
            !agrees(&TOLERANCE, &[1, 2000, 0, 100]),
            "the second class wrong"
        );
        assert!(!agrees(&TOLERANCE, &[1, 2000, 1, 2000]), "a class twice");
        assert!(!agrees(&TOLERANCE, &[1, 2000, 9, 1500]), "no such class");
        // Under a TopK rule the scores are not judged; the ranking is.
        assert!(agrees(&top(2), &[1, 0, 2, -77]));
        assert!(!agrees(&top(2), &[2, 1500, 1, 2000]));
        // Exact: our projection, byte for byte.
        assert!(agrees(&ComparisonRule::Exact, &[1, 2000, 2, 1500]));
        assert!(!agrees(&ComparisonRule::Exact, &[1, 2000, 2, 1501]));
        // Another layout, or a result of the whole tensor, is not the view.
        assert!(!result_agrees(
            &TOLERANCE,
            &VIEWS,
            &whole(&[0.1, 2.0, 1.5, -1.0]),
            &ours
        ));
        assert!(!result_agrees(&TOLERANCE, &VIEWS, b"junk", &ours));
    }

    #[test]
    fn a_near_tie_moved_by_both_runs_and_an_infinite_score_still_agree() {
        // An honest run tied classes 1 and 2 at 2.0; ours moved each by
        // the tolerance, the other way: its ranking stands.
        let m = 1e-5 + 1e-4 * 2.0;
        let ours = whole(&[0.1, (2.0 - m * 0.9) as f32, (2.0 + m * 0.9) as f32, -1.0]);
        assert!(result_agrees(
            &TOLERANCE,
            &VIEWS,
            &top_two(&[1, 2000, 2, 2000]),
            &ours
        ));
        // A class at -inf in the top 2, with another score a unit off.
        let ours = whole(&[f32::NEG_INFINITY, 2.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        let claimed = top_two(&[1, 2001, 0, i32::MIN]);
        assert!(result_agrees(&TOLERANCE, &VIEWS, &claimed, &ours));
    }

    #[test]
    fn a_near_tie_in_a_top_k_result_agrees_either_way_within_the_rules_margin() {
        // Classes 1 and 2 tie to within the tolerance: either order agrees.
        let ours = whole(&[0.1, 2.0, 1.999_9, -1.0]);
        for pairs in [[1, 2000, 2, 2000], [2, 2000, 1, 2000]] {
            assert!(
                result_agrees(&TOLERANCE, &VIEWS, &top_two(&pairs), &ours),
                "{pairs:?}"
            );
        }
    }
}

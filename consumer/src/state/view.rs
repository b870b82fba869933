//! What of each output goes on chain. A model's whole output may be far too
//! large for an account (a 1000-class score vector is 4 KB); each output
//! spec has a view, fixed at registration, and the operator commits the
//! *result*: every output's view, in graph order, canonically encoded. The
//! whole output travels off chain, named by its SHA-256.
use super::{DType, TensorSpec};
use crate::encoding::{decode, encode, top_k, EncodingError, Tensor};
use anchor_lang::prelude::*;

/// What of one output tensor goes into the on-chain result.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum OutputView {
    /// The whole tensor.
    Whole,
    /// Elements `start..start + len` in row-major order, as a tensor of the
    /// same name and dtype with dims `[len]`.
    Slice { start: u32, len: u32 },
    /// Per row of a float tensor (its last axis holds the classes), the `k`
    /// best classes, best first (ties to the lower index), each with its
    /// score in fixed point, `round(score × scale)` (half away from zero,
    /// saturated to `i32`): an `int32` tensor of the same name with dims
    /// `dims[..-1] ++ [k, 2]`, holding `(class, score)` pairs. `k = 1` is an
    /// argmax.
    TopK { k: u16, scale: u32 },
    /// Not in the result: only in the whole output.
    Omitted,
}

impl OutputView {
    /// The view of output `index` under `views` (an empty list: every
    /// output whole, what a model registered without views has).
    pub fn of(views: &[OutputView], index: usize) -> OutputView {
        views.get(index).copied().unwrap_or(OutputView::Whole)
    }

    /// The spec of this view's tensor in the result, `None` for
    /// [`OutputView::Omitted`]. Assumes [`OutputView::is_valid_for`].
    pub fn result_spec(&self, spec: &TensorSpec) -> Option<TensorSpec> {
        let shape = match *self {
            OutputView::Whole => return Some(spec.clone()),
            OutputView::Omitted => return None,
            OutputView::Slice { len, .. } => vec![len as i64],
            OutputView::TopK { k, .. } => {
                let rows = spec.shape.len().saturating_sub(1);
                let mut shape = spec.shape[..rows].to_vec();
                shape.extend([k as i64, 2]);
                shape
            }
        };
        let dtype = match self {
            OutputView::TopK { .. } => DType::Int32,
            _ => spec.dtype,
        };
        Some(TensorSpec {
            name: spec.name.clone(),
            dtype,
            shape,
        })
    }

    /// Whether this view can be taken of every tensor `spec` admits: a
    /// slice within a fixed shape; a top-k of a float tensor with a fixed
    /// last axis of at least `k` classes, `k` and `scale` at least 1.
    pub fn is_valid_for(&self, spec: &TensorSpec) -> bool {
        match *self {
            OutputView::Whole | OutputView::Omitted => true,
            OutputView::Slice { start, len } => {
                let elements = spec.shape.iter().try_fold(1u64, |count, &dim| {
                    u64::try_from(dim)
                        .ok()
                        .and_then(|dim| count.checked_mul(dim))
                });
                len >= 1 && elements.is_some_and(|elements| start as u64 + len as u64 <= elements)
            }
            OutputView::TopK { k, scale } => {
                // The result adds an axis: its rank must stay within bounds.
                spec.dtype.is_float()
                    && spec.shape.len() < crate::constants::MAX_TENSOR_RANK
                    && k >= 1
                    && scale >= 1
                    && spec
                        .shape
                        .last()
                        .is_some_and(|&classes| classes >= k as i64)
            }
        }
    }

    /// Whether `tensor`, already admitted by this view's result spec, holds
    /// values the view can take: under a top-k, every row's classes are
    /// distinct and below the class count of `spec` (a consumer indexes by
    /// them; a repeated class would pass a ranking check it should fail).
    pub fn admits_values(&self, spec: &TensorSpec, tensor: &Tensor) -> bool {
        let OutputView::TopK { k, .. } = *self else {
            return true;
        };
        let classes = spec.shape.last().copied().unwrap_or(0);
        let pairs: Vec<i32> = tensor
            .data
            .chunks_exact(4)
            .map(|bytes| i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .collect();
        pairs.chunks(2 * k as usize).all(|row| {
            let ranked: Vec<i32> = row.iter().step_by(2).copied().collect();
            ranked.iter().enumerate().all(|(rank, &class)| {
                (0..classes).contains(&(class as i64)) && !ranked[..rank].contains(&class)
            })
        })
    }

    /// Whether `views` can be a model's with these `outputs`: none (every
    /// output whole), or one valid view per output, at least one of them
    /// not [`OutputView::Omitted`] (a result must say something).
    pub fn are_valid_for(views: &[OutputView], outputs: &[TensorSpec]) -> bool {
        views.is_empty()
            || (views.len() == outputs.len()
                && views
                    .iter()
                    .zip(outputs)
                    .all(|(view, spec)| view.is_valid_for(spec))
                && views.iter().any(|view| *view != OutputView::Omitted))
    }

    /// The specs of a result, in order: one per output that is not omitted.
    pub fn result_specs(views: &[OutputView], outputs: &[TensorSpec]) -> Vec<TensorSpec> {
        outputs
            .iter()
            .enumerate()
            .filter_map(|(index, spec)| OutputView::of(views, index).result_spec(spec))
            .collect()
    }

    /// Whether every output is whole: the result is the whole output.
    pub fn all_whole(views: &[OutputView]) -> bool {
        views.iter().all(|view| *view == OutputView::Whole)
    }

    /// This view of `tensor`, `None` when omitted or when the tensor does
    /// not admit it (a slice past its end, a top-k of a non-float tensor or
    /// of fewer classes than `k`).
    pub fn project(&self, tensor: &Tensor) -> Option<Tensor> {
        match *self {
            OutputView::Whole => Some(tensor.clone()),
            OutputView::Omitted => None,
            OutputView::Slice { start, len } => {
                let size = crate::encoding::element_size(tensor.dtype);
                let from = (start as usize).checked_mul(size)?;
                let to = from.checked_add((len as usize).checked_mul(size)?)?;
                let data = tensor.data.get(from..to)?.to_vec();
                Tensor::new(tensor.name.clone(), tensor.dtype, vec![len as u64], data).ok()
            }
            OutputView::TopK { k, scale } => {
                let classes = usize::try_from(*tensor.dims.last()?).ok()?;
                if !tensor.dtype.is_float() || classes < k as usize || classes == 0 {
                    return None;
                }
                let mut data = Vec::new();
                for row in tensor.values_f64().chunks(classes) {
                    for class in top_k(row, k as usize) {
                        let score = fixed_point(row[class], scale);
                        data.extend_from_slice(&(class as i32).to_le_bytes());
                        data.extend_from_slice(&score.to_le_bytes());
                    }
                }
                let rows = tensor.dims.len() - 1;
                let mut dims = tensor.dims[..rows].to_vec();
                dims.extend([k as u64, 2]);
                Tensor::new(tensor.name.clone(), DType::Int32, dims, data).ok()
            }
        }
    }
}

/// `round(value × scale)`, half away from zero, saturated to `i32` (NaN is
/// 0): the fixed-point score of a [`OutputView::TopK`] result.
pub fn fixed_point(value: f64, scale: u32) -> i32 {
    (value * scale as f64).round() as i32
}

/// Why a whole output has no result under a model's views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectionError {
    /// The whole output is not a canonical encoding.
    Encoding(EncodingError),
    /// The whole output has another number of tensors than the views.
    TensorCount { expected: usize, actual: usize },
    /// The tensor at this position does not admit its view.
    ViewMisfit { name: String },
}

impl core::fmt::Display for ProjectionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProjectionError::Encoding(error) => write!(f, "{error}"),
            ProjectionError::TensorCount { expected, actual } => write!(
                f,
                "the whole output has {actual} tensors, the model's views {expected}"
            ),
            ProjectionError::ViewMisfit { name } => {
                write!(f, "output `{name}` does not admit its view")
            }
        }
    }
}

/// The result of a whole output (a canonical encoding) under `views`: each
/// tensor's view, in order, canonically encoded. With no views, or every
/// view whole, the result is the whole output itself.
pub fn project(
    views: &[OutputView],
    whole: &[u8],
) -> core::result::Result<Vec<u8>, ProjectionError> {
    if OutputView::all_whole(views) {
        return Ok(whole.to_vec());
    }
    let tensors = decode(whole).map_err(ProjectionError::Encoding)?;
    if tensors.len() != views.len() {
        return Err(ProjectionError::TensorCount {
            expected: views.len(),
            actual: tensors.len(),
        });
    }
    let mut result = Vec::new();
    for (view, tensor) in views.iter().zip(&tensors) {
        if *view == OutputView::Omitted {
            continue;
        }
        let projected = view
            .project(tensor)
            .ok_or_else(|| ProjectionError::ViewMisfit {
                name: tensor.name.clone(),
            })?;
        result.push(projected);
    }
    Ok(encode(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: "logits".into(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn a_top_k_result_holds_each_rows_best_classes_with_fixed_point_scores() {
        let logits = Tensor::from_f32(
            "logits",
            vec![2, 4],
            &[0.5, 2.25, -1.0, 2.25, 0.0, -0.5, 3.0, 1.0],
        )
        .unwrap();
        let view = OutputView::TopK { k: 2, scale: 4 };
        let top = view.project(&logits).unwrap();
        assert_eq!(top.dtype, DType::Int32);
        assert_eq!(top.dims, vec![2, 2, 2]);
        let values: Vec<i64> = top.values_f64().iter().map(|&v| v as i64).collect();
        // Equal scores rank the lower class first; 2.25 × 4 = 9.
        assert_eq!(values, vec![1, 9, 3, 9, 2, 12, 3, 4]);
        let projected = view.result_spec(&spec(DType::Float32, &[-1, 4])).unwrap();
        assert!(projected.admits(top.dtype, &top.dims));
        let scores = spec(DType::Float32, &[-1, 4]);
        assert!(view.admits_values(&scores, &top));
        let with = |pairs: &[i32]| {
            let data = pairs.iter().flat_map(|v| v.to_le_bytes()).collect();
            Tensor::new("logits", DType::Int32, vec![1, 2, 2], data).unwrap()
        };
        assert!(view.admits_values(&scores, &with(&[3, 0, 0, 0])));
        assert!(
            !view.admits_values(&scores, &with(&[3, 0, 3, 0])),
            "a class twice"
        );
        assert!(
            !view.admits_values(&scores, &with(&[4, 0, 0, 0])),
            "past the last class"
        );
        assert!(
            !view.admits_values(&scores, &with(&[-1, 0, 0, 0])),
            "negative"
        );
    }

    #[test]
    fn fixed_point_rounds_half_away_from_zero_and_saturates() {
        assert_eq!(fixed_point(0.5, 1), 1);
        assert_eq!(fixed_point(-0.5, 1), -1);
        assert_eq!(fixed_point(2.5, 1), 3);
        assert_eq!(fixed_point(1e12, 1), i32::MAX);
        assert_eq!(fixed_point(-1e12, 1), i32::MIN);
        assert_eq!(fixed_point(f64::NAN, 1), 0);
    }

    #[test]
    fn a_slice_keeps_a_flat_range_and_refuses_one_past_the_end() {
        let tensor = Tensor::from_f32("y", vec![2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let slice = OutputView::Slice { start: 1, len: 2 }
            .project(&tensor)
            .unwrap();
        assert_eq!(slice, Tensor::from_f32("y", vec![2], &[2.0, 3.0]).unwrap());
        assert_eq!(
            OutputView::Slice { start: 3, len: 2 }.project(&tensor),
            None
        );
        let fixed = spec(DType::Float32, &[2, 2]);
        assert!(OutputView::Slice { start: 2, len: 2 }.is_valid_for(&fixed));
        assert!(!OutputView::Slice { start: 3, len: 2 }.is_valid_for(&fixed));
        assert!(!OutputView::Slice { start: 0, len: 0 }.is_valid_for(&fixed));
        assert!(
            !OutputView::Slice { start: 0, len: 1 }.is_valid_for(&spec(DType::Float32, &[-1, 2]))
        );
    }

    #[test]
    fn views_are_checked_against_their_specs() {
        let scores = spec(DType::Float32, &[1, 200]);
        assert!(OutputView::TopK { k: 5, scale: 1000 }.is_valid_for(&scores));
        assert!(!OutputView::TopK {
            k: 201,
            scale: 1000
        }
        .is_valid_for(&scores));
        assert!(!OutputView::TopK { k: 0, scale: 1000 }.is_valid_for(&scores));
        assert!(!OutputView::TopK { k: 1, scale: 0 }.is_valid_for(&scores));
        assert!(!OutputView::TopK { k: 1, scale: 1 }.is_valid_for(&spec(DType::Int64, &[1, 200])));
        assert!(!OutputView::TopK { k: 1, scale: 1 }.is_valid_for(&spec(DType::Float32, &[1, -1])));
        assert!(!OutputView::TopK { k: 1, scale: 1 }.is_valid_for(&spec(DType::Float32, &[])));
        assert!(
            !OutputView::TopK { k: 1, scale: 1 }.is_valid_for(&spec(DType::Float32, &[1; 8])),
            "a rank-9 result"
        );
        assert!(OutputView::are_valid_for(
            &[],
            std::slice::from_ref(&scores)
        ));
        assert!(!OutputView::are_valid_for(
            &[OutputView::Omitted],
            std::slice::from_ref(&scores)
        ));
        assert!(!OutputView::are_valid_for(
            &[OutputView::Whole, OutputView::Whole],
            &[scores]
        ));
    }

    #[test]
    fn a_result_projects_every_output_in_order_and_omits_what_is_omitted() {
        let label =
            Tensor::new("label", DType::Int64, vec![1], 7i64.to_le_bytes().to_vec()).unwrap();
        let scores = Tensor::from_f32("logits", vec![1, 3], &[0.1, 0.7, 0.2]).unwrap();
        let whole = encode(&[label.clone(), scores.clone()]);
        assert_eq!(project(&[], &whole).unwrap(), whole);
        let views = [OutputView::Omitted, OutputView::TopK { k: 1, scale: 100 }];
        let result = decode(&project(&views, &whole).unwrap()).unwrap();
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].values_f64(), vec![1.0, 70.0]);
        assert_eq!(
            project(&views[..1], &whole),
            Err(ProjectionError::TensorCount {
                expected: 1,
                actual: 2
            })
        );
        assert_eq!(
            project(
                &[OutputView::TopK { k: 1, scale: 1 }, OutputView::Whole],
                &whole
            ),
            Err(ProjectionError::ViewMisfit {
                name: "label".into()
            })
        );
    }
}

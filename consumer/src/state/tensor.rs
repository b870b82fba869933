use crate::constants::{MAX_MODEL_TENSORS, MAX_TENSOR_NAME_LEN, MAX_TENSOR_RANK, MAX_TOLERANCE};
use anchor_lang::prelude::*;

/// Element type of a tensor; the discriminant is the ONNX `TensorProto.DataType`
/// number, which is also the dtype tag of the canonical encoding.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum DType {
    Float32,
    Uint8,
    Int8,
    Int16,
    Int32,
    Int64,
    Bool,
    Float16,
    Float64,
}

impl DType {
    /// The ONNX data type number (the canonical encoding's dtype tag).
    pub fn onnx_tag(self) -> u8 {
        match self {
            DType::Float32 => 1,
            DType::Uint8 => 2,
            DType::Int8 => 3,
            DType::Int16 => 5,
            DType::Int32 => 6,
            DType::Int64 => 7,
            DType::Bool => 9,
            DType::Float16 => 10,
            DType::Float64 => 11,
        }
    }
}

/// One named input or output of a model's graph: its name, element type
/// and shape. A dimension of -1 is dynamic (a batch, a sequence length); an
/// empty shape is a scalar.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct TensorSpec {
    /// The graph's name for it (what the canonical encoding carries).
    #[max_len(MAX_TENSOR_NAME_LEN)]
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; -1 for a dynamic dimension.
    #[max_len(MAX_TENSOR_RANK)]
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// A name of 1 to [`MAX_TENSOR_NAME_LEN`] bytes, rank 0 to
    /// [`MAX_TENSOR_RANK`], every dimension positive or -1.
    pub fn is_valid(&self) -> bool {
        (1..=MAX_TENSOR_NAME_LEN).contains(&self.name.len())
            && self.shape.len() <= MAX_TENSOR_RANK
            && self.shape.iter().all(|&d| d > 0 || d == -1)
    }

    /// Whether a tensor of `dtype` and `dims` fits this spec: the same dtype
    /// and rank, and every fixed dimension equal.
    pub fn admits(&self, dtype: DType, dims: &[u64]) -> bool {
        dtype == self.dtype
            && dims.len() == self.shape.len()
            && self
                .shape
                .iter()
                .zip(dims)
                .all(|(&spec, &dim)| spec == -1 || u64::try_from(spec) == Ok(dim))
    }

    /// The length of the smallest canonical encoding of one tensor per
    /// spec, in order: every dynamic dimension 1 (a fixed-size side has no
    /// other). `None` if it passes `u64`.
    pub fn smallest_encoding_len(specs: &[TensorSpec]) -> Option<u64> {
        specs.iter().try_fold(0u64, |total, spec| {
            let elements = spec.shape.iter().try_fold(1u64, |count, &dim| {
                count.checked_mul(u64::try_from(dim).unwrap_or(1))
            })?;
            let data = elements.checked_mul(crate::encoding::element_size(spec.dtype) as u64)?;
            // name length (u32), name, dtype, rank, dims (u64 each), data
            let head = 4 + spec.name.len() as u64 + 2 + 8 * spec.shape.len() as u64;
            total.checked_add(head)?.checked_add(data)
        })
    }

    /// Whether a dimension of `specs` is dynamic (-1).
    pub fn any_dynamic(specs: &[TensorSpec]) -> bool {
        specs.iter().any(|spec| spec.shape.contains(&-1))
    }

    /// Whether `specs` can be one side of a model: 1 to
    /// [`MAX_MODEL_TENSORS`] valid specs with distinct names (a tensor is
    /// found by its name).
    pub fn are_valid_side(specs: &[TensorSpec]) -> bool {
        (1..=MAX_MODEL_TENSORS).contains(&specs.len())
            && specs.iter().all(TensorSpec::is_valid)
            && specs
                .iter()
                .enumerate()
                .all(|(i, spec)| specs[..i].iter().all(|other| other.name != spec.name))
    }
}

impl DType {
    /// A floating-point type, whose last bits may differ across CPUs.
    pub fn is_float(self) -> bool {
        matches!(self, DType::Float16 | DType::Float32 | DType::Float64)
    }
}

/// How verifiers decide whether two outputs of this model agree. What each
/// rule verifies of each output tensor is [`ComparisonRule::check_for`]:
/// verifiers compare by it, and the SDK hands consumers only that.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, InitSpace)]
pub enum ComparisonRule {
    /// Every bit (integer and quantized models).
    Exact,
    /// Every element of a float tensor within `abs + rel * |expected|`
    /// (float models); other tensors bit for bit.
    Tolerance { abs: f32, rel: f32 },
    /// For a float tensor whose last axis holds more than one class score:
    /// in every row, the same `k` highest-scoring classes in order, where a
    /// class scoring within `tie_margin` of the expected one at its rank
    /// also agrees (near-ties rank differently across CPUs). The scores
    /// themselves are not verified. Other tensors (labels) bit for bit.
    TopK { k: u16, tie_margin: f32 },
}

/// What a comparison rule verifies of one output tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TensorCheck {
    /// Every bit.
    Bits,
    /// Every value within `abs + rel * |expected|`.
    Values { abs: f32, rel: f32 },
    /// Only the ranking of each row's `k` best classes (up to `tie_margin`).
    TopClasses { k: u16, tie_margin: f32 },
}

impl ComparisonRule {
    /// Tolerances and tie margins from 0 to [`MAX_TOLERANCE`] (a wider rule
    /// would let wrong outputs agree); `k` at least 1.
    pub fn is_valid(&self) -> bool {
        let bounded = |bound: f32| (0.0..=MAX_TOLERANCE).contains(&bound);
        match *self {
            ComparisonRule::Exact => true,
            ComparisonRule::Tolerance { abs, rel } => bounded(abs) && bounded(rel),
            ComparisonRule::TopK { k, tie_margin } => k >= 1 && bounded(tie_margin),
        }
    }

    /// Whether this rule can judge a model's `outputs` across CPUs: `TopK`
    /// ranks a float tensor only along a fixed last axis of several
    /// classes, and would otherwise compare float bits, which differ across
    /// CPUs (an honest operator could lose a dispute); so every float output
    /// must have one. Integer outputs compare bit for bit under every rule,
    /// which is sound.
    pub fn is_valid_for(&self, outputs: &[TensorSpec]) -> bool {
        let ranks_classes =
            |spec: &TensorSpec| spec.shape.last().is_some_and(|&classes| classes > 1);
        match self {
            ComparisonRule::TopK { .. } => {
                self.is_valid()
                    && outputs
                        .iter()
                        .all(|spec| !spec.dtype.is_float() || ranks_classes(spec))
            }
            _ => self.is_valid(),
        }
    }

    /// What this rule verifies of a tensor of `dtype` and `dims`: values
    /// or rankings only of float tensors (a ranking only along a last axis
    /// of several classes), every bit of anything else, so that no tensor a
    /// consumer may read passes unchecked.
    pub fn check_for(&self, dtype: DType, dims: &[u64]) -> TensorCheck {
        match *self {
            ComparisonRule::Tolerance { abs, rel } if dtype.is_float() => {
                TensorCheck::Values { abs, rel }
            }
            ComparisonRule::TopK { k, tie_margin }
                if dtype.is_float() && dims.last().is_some_and(|&classes| classes > 1) =>
            {
                TensorCheck::TopClasses { k, tie_margin }
            }
            _ => TensorCheck::Bits,
        }
    }
}

use crate::{
    constants::{MAX_TENSOR_RANK, MAX_TOLERANCE},
    errors::SibylError,
};
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

/// Shape and element type a model declares for its input or output. A
/// dimension of -1 is dynamic (e.g. a batch dimension).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct TensorSpec {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; -1 for a dynamic dimension.
    #[max_len(MAX_TENSOR_RANK)]
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Rank 1 to [`MAX_TENSOR_RANK`], every dimension positive or -1.
    pub fn validate(&self) -> Result<()> {
        require!(
            !self.shape.is_empty() && self.shape.len() <= MAX_TENSOR_RANK,
            SibylError::InvalidTensorSpec
        );
        require!(
            self.shape.iter().all(|&d| d > 0 || d == -1),
            SibylError::InvalidTensorSpec
        );
        Ok(())
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
}

/// How verifiers decide whether two outputs of this model agree.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, InitSpace)]
pub enum ComparisonRule {
    /// Output hashes must be equal (integer and quantized models).
    Exact,
    /// Every element within `abs + rel * |expected|` (float models).
    Tolerance { abs: f32, rel: f32 },
    /// The same `k` highest-scoring classes, in order.
    TopK { k: u16 },
}

impl ComparisonRule {
    /// Tolerances from 0 to [`MAX_TOLERANCE`] (a wider rule would let
    /// wrong outputs agree); `k` at least 1.
    pub fn validate(&self) -> Result<()> {
        let bounded = |bound: f32| (0.0..=MAX_TOLERANCE).contains(&bound);
        let valid = match *self {
            ComparisonRule::Exact => true,
            ComparisonRule::Tolerance { abs, rel } => bounded(abs) && bounded(rel),
            ComparisonRule::TopK { k } => k >= 1,
        };
        require!(valid, SibylError::InvalidComparisonRule);
        Ok(())
    }
}

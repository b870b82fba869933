//! Integer tensors as the referee interpreter computes them: every element
//! held as an `i64`, kept within its dtype's range by the op that made it.
use crate::{
    encoding::{EncodingError, Tensor},
    state::DType,
};
use alloc::{string::String, vec, vec::Vec};
use anchor_lang::prelude::{AnchorDeserialize, AnchorSerialize};

/// The integer element types the referee computes with.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntType {
    U8,
    I8,
    I32,
    I64,
}

impl IntType {
    /// The referee's type for `dtype`, if it computes with it.
    pub fn of(dtype: DType) -> Option<IntType> {
        match dtype {
            DType::Uint8 => Some(IntType::U8),
            DType::Int8 => Some(IntType::I8),
            DType::Int32 => Some(IntType::I32),
            DType::Int64 => Some(IntType::I64),
            _ => None,
        }
    }

    /// The bytes of one element.
    pub fn width(self) -> usize {
        match self {
            IntType::U8 | IntType::I8 => 1,
            IntType::I32 => 4,
            IntType::I64 => 8,
        }
    }

    pub fn dtype(self) -> DType {
        match self {
            IntType::U8 => DType::Uint8,
            IntType::I8 => DType::Int8,
            IntType::I32 => DType::Int32,
            IntType::I64 => DType::Int64,
        }
    }

    /// `value` wrapped into this type, as C++'s `static_cast` and two's
    /// complement arithmetic leave it (what ONNX Runtime's kernels do).
    pub fn wrap(self, value: i64) -> i64 {
        match self {
            IntType::U8 => i64::from(value as u8),
            IntType::I8 => i64::from(value as i8),
            IntType::I32 => i64::from(value as i32),
            IntType::I64 => value,
        }
    }
}

/// Why the referee cannot compute something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefereeError {
    /// A tensor of a dtype the referee does not compute with.
    NotInteger { name: String },
    /// A node's operands do not fit its op (shapes, dtypes, counts).
    Operands { op: &'static str, reason: String },
    /// An integer division by zero (undefined in ONNX Runtime).
    DivisionByZero,
    /// The canonical encoding of an input or output.
    Encoding(EncodingError),
    /// A value a node needs was never produced (a graph out of order).
    Missing { slot: usize },
}

impl core::fmt::Display for RefereeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RefereeError::NotInteger { name } => {
                write!(f, "tensor `{name}` is not uint8, int8, int32 or int64")
            }
            RefereeError::Operands { op, reason } => write!(f, "{op}: {reason}"),
            RefereeError::DivisionByZero => write!(f, "an integer division by zero"),
            RefereeError::Encoding(error) => write!(f, "{error}"),
            RefereeError::Missing { slot } => {
                write!(f, "value {slot} is used before any node makes it")
            }
        }
    }
}

/// An integer tensor: dtype, dims (outermost first) and row-major values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntTensor {
    pub dtype: IntType,
    pub dims: Vec<usize>,
    pub data: Vec<i64>,
}

impl IntTensor {
    /// A tensor whose values count matches its dims (each value wrapped
    /// into `dtype`).
    pub fn new(dtype: IntType, dims: Vec<usize>, data: Vec<i64>) -> Result<Self, RefereeError> {
        let count = element_count(&dims).ok_or_else(|| RefereeError::Operands {
            op: "tensor",
            reason: "its dimensions overflow".into(),
        })?;
        if count != data.len() {
            return Err(RefereeError::Operands {
                op: "tensor",
                reason: alloc::format!("{} values for dims {dims:?}", data.len()),
            });
        }
        let data = data.into_iter().map(|value| dtype.wrap(value)).collect();
        Ok(IntTensor { dtype, dims, data })
    }

    /// A scalar.
    pub fn scalar(dtype: IntType, value: i64) -> Self {
        IntTensor {
            dtype,
            dims: Vec::new(),
            data: vec![dtype.wrap(value)],
        }
    }

    /// The referee's tensor of a canonical one.
    pub fn from_tensor(tensor: &Tensor) -> Result<Self, RefereeError> {
        let dtype = IntType::of(tensor.dtype).ok_or_else(|| RefereeError::NotInteger {
            name: tensor.name.clone(),
        })?;
        let dims = tensor
            .dims
            .iter()
            .map(|&dim| usize::try_from(dim))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| RefereeError::Encoding(EncodingError::SizeOverflow))?;
        let data = tensor
            .values_f64()
            .into_iter()
            .map(|value| value as i64)
            .collect();
        // int64 extremes lose precision in f64: read those exactly.
        let data = if dtype == IntType::I64 {
            tensor
                .data
                .chunks_exact(8)
                .map(|bytes| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(bytes);
                    i64::from_le_bytes(word)
                })
                .collect()
        } else {
            data
        };
        IntTensor::new(dtype, dims, data)
    }

    /// The canonical tensor named `name`.
    pub fn to_tensor(&self, name: &str) -> Result<Tensor, RefereeError> {
        let mut bytes = Vec::with_capacity(self.data.len() * 8);
        for &value in &self.data {
            match self.dtype {
                IntType::U8 => bytes.push(value as u8),
                IntType::I8 => bytes.push(value as i8 as u8),
                IntType::I32 => bytes.extend_from_slice(&(value as i32).to_le_bytes()),
                IntType::I64 => bytes.extend_from_slice(&value.to_le_bytes()),
            }
        }
        let dims = self.dims.iter().map(|&dim| dim as u64).collect();
        Tensor::new(name, self.dtype.dtype(), dims, bytes).map_err(RefereeError::Encoding)
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }
}

/// The product of `dims`, `None` if it overflows.
pub fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |count, &dim| count.checked_mul(dim))
}

/// Row-major strides of `dims`.
pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; dims.len()];
    for axis in (0..dims.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * dims[axis + 1];
    }
    strides
}

/// An axis attribute (negative counts from the end) within `rank`.
pub fn axis(value: i64, rank: usize, op: &'static str) -> Result<usize, RefereeError> {
    let resolved = if value < 0 {
        value + rank as i64
    } else {
        value
    };
    usize::try_from(resolved)
        .ok()
        .filter(|&axis| axis < rank.max(1))
        .ok_or_else(|| RefereeError::Operands {
            op,
            reason: alloc::format!("axis {value} is outside rank {rank}"),
        })
}

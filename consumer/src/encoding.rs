//! The canonical tensor encoding of inputs and outputs, shared by the
//! program (consumers decode finalized outputs on-chain with it), the node
//! and the clients:
//!
//! ```text
//! encoding := tensor*                      graph order, no count prefix
//! tensor   := name dtype rank dims data
//! name     := u32 LE byte length, UTF-8 bytes
//! dtype    := u8, the ONNX TensorProto.DataType number
//! rank     := u8
//! dims     := rank × u64 LE
//! data     := elements in row-major order, each little-endian (bool: one byte)
//! ```
use crate::{constants::MAX_TENSOR_RANK, state::DType};

/// Why bytes are not a canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodingError {
    /// The bytes end before the named part.
    Truncated { at: usize, what: &'static str },
    /// A dtype tag Sibyl does not support.
    UnknownDType(u8),
    /// A tensor name that is not UTF-8.
    NameNotUtf8,
    /// More dimensions than [`MAX_TENSOR_RANK`].
    RankTooLarge(usize),
    /// Data whose length does not match the dims and dtype.
    DataLength {
        name: String,
        expected: usize,
        actual: usize,
    },
    /// Dimensions whose product overflows.
    SizeOverflow,
}

impl core::fmt::Display for EncodingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodingError::Truncated { at, what } => {
                write!(f, "the encoding ends early at byte {at} (reading {what})")
            }
            EncodingError::UnknownDType(tag) => write!(
                f,
                "unknown dtype tag {tag} (expected an ONNX TensorProto.DataType number Sibyl supports)"
            ),
            EncodingError::NameNotUtf8 => write!(f, "tensor name is not UTF-8"),
            EncodingError::RankTooLarge(rank) => write!(
                f,
                "tensor rank {rank} exceeds the maximum of {MAX_TENSOR_RANK}"
            ),
            EncodingError::DataLength {
                name,
                expected,
                actual,
            } => write!(
                f,
                "tensor `{name}` declares {expected} data bytes but has {actual}"
            ),
            EncodingError::SizeOverflow => write!(f, "tensor dimensions overflow the address space"),
        }
    }
}

impl std::error::Error for EncodingError {}

/// The size in bytes of one element of `dtype`.
pub fn element_size(dtype: DType) -> usize {
    match dtype {
        DType::Uint8 | DType::Int8 | DType::Bool => 1,
        DType::Int16 | DType::Float16 => 2,
        DType::Float32 | DType::Int32 => 4,
        DType::Int64 | DType::Float64 => 8,
    }
}

/// Every element type Sibyl supports.
pub const ALL_DTYPES: [DType; 9] = [
    DType::Float32,
    DType::Uint8,
    DType::Int8,
    DType::Int16,
    DType::Int32,
    DType::Int64,
    DType::Bool,
    DType::Float16,
    DType::Float64,
];

/// The dtype with this ONNX tag, if Sibyl supports it.
pub fn dtype_from_tag(tag: u8) -> Option<DType> {
    ALL_DTYPES.into_iter().find(|dtype| dtype.onnx_tag() == tag)
}

/// One named tensor: its element type, dimensions and raw little-endian data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<u64>,
    pub data: Vec<u8>,
}

impl Tensor {
    /// A tensor whose data length matches its dims and dtype.
    pub fn new(
        name: impl Into<String>,
        dtype: DType,
        dims: Vec<u64>,
        data: Vec<u8>,
    ) -> Result<Self, EncodingError> {
        let tensor = Tensor {
            name: name.into(),
            dtype,
            dims,
            data,
        };
        if tensor.dims.len() > MAX_TENSOR_RANK {
            return Err(EncodingError::RankTooLarge(tensor.dims.len()));
        }
        let expected = tensor.byte_len()?;
        if expected != tensor.data.len() {
            return Err(EncodingError::DataLength {
                name: tensor.name,
                expected,
                actual: tensor.data.len(),
            });
        }
        Ok(tensor)
    }

    /// A float32 tensor from its values.
    pub fn from_f32(
        name: impl Into<String>,
        dims: Vec<u64>,
        values: &[f32],
    ) -> Result<Self, EncodingError> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(name, DType::Float32, dims, data)
    }

    /// Number of elements (the product of the dims).
    pub fn element_count(&self) -> Result<usize, EncodingError> {
        self.dims.iter().try_fold(1usize, |count, &dim| {
            usize::try_from(dim)
                .ok()
                .and_then(|dim| count.checked_mul(dim))
                .ok_or(EncodingError::SizeOverflow)
        })
    }

    fn byte_len(&self) -> Result<usize, EncodingError> {
        self.element_count()?
            .checked_mul(element_size(self.dtype))
            .ok_or(EncodingError::SizeOverflow)
    }

    /// Every element as an `f64` (exact for every supported integer type
    /// but the extremes of int64, which comparison rules never need).
    pub fn values_f64(&self) -> Vec<f64> {
        self.data
            .chunks_exact(element_size(self.dtype))
            .map(|bytes| element_f64(self.dtype, bytes))
            .collect()
    }

    /// The elements of a float32 tensor, or `None` for another dtype.
    pub fn f32_values(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::Float32).then(|| {
            self.data
                .chunks_exact(4)
                .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                .collect()
        })
    }
}

fn element_f64(dtype: DType, bytes: &[u8]) -> f64 {
    let array = |n: usize| -> [u8; 8] {
        let mut buffer = [0u8; 8];
        buffer[..n].copy_from_slice(&bytes[..n]);
        buffer
    };
    match dtype {
        DType::Float32 => f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as f64,
        DType::Float64 => f64::from_le_bytes(array(8)),
        DType::Uint8 | DType::Bool => bytes[0] as f64,
        DType::Int8 => bytes[0] as i8 as f64,
        DType::Int16 => i16::from_le_bytes([bytes[0], bytes[1]]) as f64,
        DType::Int32 => i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as f64,
        DType::Int64 => i64::from_le_bytes(array(8)) as f64,
        DType::Float16 => f16_to_f64(u16::from_le_bytes([bytes[0], bytes[1]])),
    }
}

/// IEEE 754 half precision to double, without a dependency for one function.
pub fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = ((bits >> 10) & 0x1f) as i32;
    let fraction = (bits & 0x3ff) as f64;
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        0x1f if fraction == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// Indices of the `k` largest values, largest first; ties go to the lower
/// index so that equal scores rank the same everywhere.
pub fn top_k(values: &[f64], k: usize) -> Vec<usize> {
    let order = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    let mut indices: Vec<usize> = (0..values.len()).collect();
    // The order is total (ties broken by index), so selecting the k best
    // and sorting them gives what sorting everything would, in linear time
    // for a 1000-class row.
    if k < indices.len() {
        indices.select_nth_unstable_by(k, order);
        indices.truncate(k);
    }
    indices.sort_by(order);
    indices
}

/// The canonical encoding of `tensors`, in the order given.
pub fn encode(tensors: &[Tensor]) -> Vec<u8> {
    let mut out = Vec::new();
    for tensor in tensors {
        out.extend_from_slice(&(tensor.name.len() as u32).to_le_bytes());
        out.extend_from_slice(tensor.name.as_bytes());
        out.push(tensor.dtype.onnx_tag());
        out.push(tensor.dims.len() as u8);
        for dim in &tensor.dims {
            out.extend_from_slice(&dim.to_le_bytes());
        }
        out.extend_from_slice(&tensor.data);
    }
    out
}

/// Parses a canonical encoding; every byte must belong to a tensor.
pub fn decode(bytes: &[u8]) -> Result<Vec<Tensor>, EncodingError> {
    let mut reader = Reader { bytes, at: 0 };
    let mut tensors = Vec::new();
    while reader.at < bytes.len() {
        let name_len = u32::from_le_bytes(reader.take_array("name length")?) as usize;
        let name = std::str::from_utf8(reader.take(name_len, "name")?)
            .map_err(|_| EncodingError::NameNotUtf8)?
            .to_string();
        let [tag] = reader.take_array("dtype")?;
        let dtype = dtype_from_tag(tag).ok_or(EncodingError::UnknownDType(tag))?;
        let [rank] = reader.take_array("rank")?;
        if rank as usize > MAX_TENSOR_RANK {
            return Err(EncodingError::RankTooLarge(rank as usize));
        }
        let dims = (0..rank)
            .map(|_| reader.take_array("dims").map(u64::from_le_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let shell = Tensor {
            name,
            dtype,
            dims,
            data: Vec::new(),
        };
        let data = reader.take(shell.byte_len()?, "data")?.to_vec();
        tensors.push(Tensor { data, ..shell });
    }
    Ok(tensors)
}

/// Whether a decoded tensor's data is in its one canonical form: a bool is
/// the byte 0 or 1 (every other dtype's bytes are all valid values).
pub fn is_canonical_data(tensor: &Tensor) -> bool {
    tensor.dtype != DType::Bool || tensor.data.iter().all(|&byte| byte <= 1)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], EncodingError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(EncodingError::Truncated { at: self.at, what })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EncodingError> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_selects_what_a_full_sort_ranks_first() {
        // Many ties and both signs; every k from none to all.
        let values: Vec<f64> = (0..200u64)
            .map(|i| ((i * 7919) % 23) as f64 - 11.0)
            .chain([f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0])
            .collect();
        let mut sorted: Vec<usize> = (0..values.len()).collect();
        sorted.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        for k in [0, 1, 5, 23, 203, 204, 300] {
            assert_eq!(
                top_k(&values, k),
                sorted[..k.min(values.len())].to_vec(),
                "k = {k}"
            );
        }
    }

    #[test]
    fn encodes_the_documented_layout() {
        let tensor = Tensor::from_f32("y", vec![1, 2], &[1.0, -2.0]).unwrap();
        let bytes = encode(&[tensor]);
        let mut expected = vec![1, 0, 0, 0, b'y', 1, 2];
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(&1.0f32.to_le_bytes());
        expected.extend_from_slice(&(-2.0f32).to_le_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn decode_inverts_encode_for_several_tensors() {
        let tensors = vec![
            Tensor::from_f32("scores", vec![1, 3], &[0.5, 0.25, 0.25]).unwrap(),
            Tensor::new("label", DType::Int64, vec![1], 7i64.to_le_bytes().to_vec()).unwrap(),
            Tensor::new("mask", DType::Bool, vec![2], vec![1, 0]).unwrap(),
        ];
        assert_eq!(decode(&encode(&tensors)).unwrap(), tensors);
    }

    #[test]
    fn truncated_and_trailing_bytes_are_refused() {
        let bytes = encode(&[Tensor::from_f32("y", vec![2], &[1.0, 2.0]).unwrap()]);
        for cut in 1..bytes.len() {
            assert!(
                matches!(decode(&bytes[..cut]), Err(EncodingError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
    }

    #[test]
    fn unknown_dtype_and_huge_dims_are_refused() {
        let mut bytes = encode(&[Tensor::from_f32("y", vec![1], &[1.0]).unwrap()]);
        bytes[5] = 99;
        assert_eq!(decode(&bytes), Err(EncodingError::UnknownDType(99)));

        let mut huge = vec![0, 0, 0, 0, 1, 2];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&huge), Err(EncodingError::SizeOverflow));
    }

    #[test]
    fn data_must_match_dims() {
        assert!(matches!(
            Tensor::new("x", DType::Float32, vec![2], vec![0; 4]),
            Err(EncodingError::DataLength {
                expected: 8,
                actual: 4,
                ..
            })
        ));
    }

    #[test]
    fn dtype_tags_round_trip_and_f32_values_read_back() {
        for dtype in ALL_DTYPES {
            assert_eq!(dtype_from_tag(dtype.onnx_tag()), Some(dtype));
        }
        assert_eq!(dtype_from_tag(4), None);
        let tensor = Tensor::from_f32("p", vec![2], &[0.25, -1.0]).unwrap();
        assert_eq!(tensor.f32_values(), Some(vec![0.25, -1.0]));
        let bytes = Tensor::new("b", DType::Uint8, vec![1], vec![7]).unwrap();
        assert_eq!(bytes.f32_values(), None);
    }
}

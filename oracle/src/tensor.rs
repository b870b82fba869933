//! The canonical tensor encoding is defined once, in the program crate
//! (`sibyl::encoding`, which consumer programs decode outputs with); this
//! module re-exports it and adds what only off-chain code needs: element
//! values as `f64` for the comparison rules, and dtype names.
pub use sibyl::encoding::{
    decode, dtype_from_tag, element_size, encode, EncodingError, Tensor, ALL_DTYPES,
};
use sibyl::state::DType;

/// The lower-case name of a dtype, as in numpy (`float32`, `uint8`, …).
pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::Float32 => "float32",
        DType::Uint8 => "uint8",
        DType::Int8 => "int8",
        DType::Int16 => "int16",
        DType::Int32 => "int32",
        DType::Int64 => "int64",
        DType::Bool => "bool",
        DType::Float16 => "float16",
        DType::Float64 => "float64",
    }
}

/// Every element of `tensor` as an `f64` (exact for every supported integer
/// type but the extremes of int64, which comparison rules never need).
pub fn values_f64(tensor: &Tensor) -> Vec<f64> {
    let size = element_size(tensor.dtype);
    tensor
        .data
        .chunks_exact(size)
        .map(|bytes| element_f64(tensor.dtype, bytes))
        .collect()
}

fn element_f64(dtype: DType, bytes: &[u8]) -> f64 {
    let array = |n: usize| -> [u8; 8] {
        let mut buffer = [0u8; 8];
        buffer[..n].copy_from_slice(&bytes[..n]);
        buffer
    };
    match dtype {
        DType::Float32 => f32::from_le_bytes(bytes.try_into().expect("4 bytes")) as f64,
        DType::Float64 => f64::from_le_bytes(array(8)),
        DType::Uint8 | DType::Bool => bytes[0] as f64,
        DType::Int8 => bytes[0] as i8 as f64,
        DType::Int16 => i16::from_le_bytes([bytes[0], bytes[1]]) as f64,
        DType::Int32 => i32::from_le_bytes(bytes.try_into().expect("4 bytes")) as f64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_every_dtype() {
        let half_one_and_a_half = 0x3e00u16.to_le_bytes().to_vec();
        let tensor = Tensor::new("h", DType::Float16, vec![1], half_one_and_a_half).unwrap();
        assert_eq!(values_f64(&tensor), vec![1.5]);
        let tensor = Tensor::new("i", DType::Int8, vec![2], vec![0xff, 3]).unwrap();
        assert_eq!(values_f64(&tensor), vec![-1.0, 3.0]);
        let tensor =
            Tensor::new("l", DType::Int64, vec![1], (-5i64).to_le_bytes().to_vec()).unwrap();
        assert_eq!(values_f64(&tensor), vec![-5.0]);
    }
}

//! The canonical tensor encoding is defined once, in the SDK
//! (`sibyl_sdk::encoding`, which consumer programs decode outputs with); this
//! module re-exports it and adds what only off-chain code needs: dtype
//! names.
pub use sibyl_sdk::encoding::{
    decode, dtype_from_tag, element_size, encode, f16_to_f64, EncodingError, Tensor, ALL_DTYPES,
};
use sibyl_sdk::state::{DType, TensorSpec};

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

/// A model's inputs or outputs as people read them:
/// `input_ids int64 [1, -1], attention_mask int64 [1, -1]` (-1: dynamic).
pub fn describe_specs(specs: &[TensorSpec]) -> String {
    specs
        .iter()
        .map(|spec| format!("{} {} {:?}", spec.name, dtype_name(spec.dtype), spec.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every element of `tensor` as an `f64` ([`Tensor::values_f64`]).
pub fn values_f64(tensor: &Tensor) -> Vec<f64> {
    tensor.values_f64()
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

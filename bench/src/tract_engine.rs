//! `tract-onnx`: an engine that shares no code with ONNX Runtime, for the
//! determinism matrix.
use anyhow::{anyhow, bail, Result};
use sibyl::{
    encoding::{self, Tensor},
    state::DType,
};
use std::{path::Path, sync::Arc};
use tract_onnx::prelude::{
    DatumType, Framework, InferenceModelExt, IntoRunnable, IntoTValue, Tensor as TractTensor,
    TypedRunnableModel,
};

pub struct TractModel {
    plan: Arc<TypedRunnableModel>,
}

impl TractModel {
    /// Loads and optimizes `path` (tract's defaults).
    pub fn load(path: &Path) -> Result<TractModel> {
        let plan = tract_onnx::onnx()
            .model_for_path(path)?
            .into_optimized()?
            .into_runnable()?;
        Ok(TractModel { plan })
    }

    /// The canonical encoding of the outputs, named like `names` (the graph's
    /// output names, in order).
    pub fn run(&self, input: &[u8], names: &[String]) -> Result<Vec<u8>> {
        let inputs = encoding::decode(input)
            .map_err(|err| anyhow!("{err}"))?
            .into_iter()
            .map(|tensor| {
                let shape: Vec<usize> = tensor.dims.iter().map(|&dim| dim as usize).collect();
                // SAFETY: `data` holds exactly the elements of `shape` in
                // little-endian order of `dtype` (the encoding checks it).
                let value = unsafe {
                    TractTensor::from_raw_dt(datum_of(tensor.dtype)?, &shape, &tensor.data)?
                };
                Ok(value.into_tvalue())
            })
            .collect::<Result<Vec<_>>>()?;
        let outputs = self.plan.run(inputs.into_iter().collect())?;
        if outputs.len() != names.len() {
            bail!(
                "tract gave {} outputs, ONNX Runtime {}",
                outputs.len(),
                names.len()
            );
        }
        let tensors = outputs
            .iter()
            .zip(names)
            .map(|(value, name)| {
                let dims = value.shape().iter().map(|&dim| dim as u64).collect();
                let dtype = dtype_of(value.datum_type())?;
                Tensor::new(name, dtype, dims, value.as_bytes().to_vec())
                    .map_err(|err| anyhow!("{err}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(encoding::encode(&tensors))
    }
}

fn datum_of(dtype: DType) -> Result<DatumType> {
    Ok(match dtype {
        DType::Float32 => DatumType::F32,
        DType::Float64 => DatumType::F64,
        DType::Float16 => DatumType::F16,
        DType::Uint8 => DatumType::U8,
        DType::Int8 => DatumType::I8,
        DType::Int16 => DatumType::I16,
        DType::Int32 => DatumType::I32,
        DType::Int64 => DatumType::I64,
        DType::Bool => DatumType::Bool,
    })
}

fn dtype_of(datum: DatumType) -> Result<DType> {
    Ok(match datum {
        DatumType::F32 => DType::Float32,
        DatumType::F64 => DType::Float64,
        DatumType::F16 => DType::Float16,
        DatumType::U8 => DType::Uint8,
        DatumType::I8 => DType::Int8,
        DatumType::I16 => DType::Int16,
        DatumType::I32 => DType::Int32,
        DatumType::I64 => DType::Int64,
        DatumType::Bool => DType::Bool,
        other => bail!("tract produced {other:?}, which the canonical encoding has no tag for"),
    })
}

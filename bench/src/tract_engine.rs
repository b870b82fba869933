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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn models_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
    }

    /// The referee's interpreter computes what tract computes, an engine
    /// that shares no code with ONNX Runtime (`oracle/tests/referee.rs`
    /// holds it to ONNX Runtime): Python's cases and random inputs.
    #[test]
    fn the_referee_computes_every_integer_model_as_tract_does() -> Result<()> {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(models_dir().join("referee/referee.json"))?)?;
        let mut state = 0x0ddb_a11c_afe5_eed5_u64;
        for model in doc["referees"].as_array().into_iter().flatten() {
            let path = models_dir().join(model["file"].as_str().unwrap_or_default());
            let graph = sibyl_oracle::referee::load(&path)?;
            let names: Vec<String> = graph
                .outputs
                .iter()
                .map(|&slot| graph.names[slot].clone())
                .collect();
            let tract = TractModel::load(&path)?;
            let input = &graph.names[graph.inputs[0]];
            let first = encoding::decode(
                &sibyl_oracle::hex::decode(
                    model["cases"][0]["input_encoding"]
                        .as_str()
                        .unwrap_or_default(),
                )
                .ok_or_else(|| anyhow!("hex"))?,
            )
            .map_err(|err| anyhow!("{err}"))?;
            let template = first.first().ok_or_else(|| anyhow!("no input"))?;
            for _ in 0..50 {
                let data = (0..template.data.len())
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect();
                let encoded = encoding::encode(&[Tensor::new(
                    input.as_str(),
                    template.dtype,
                    template.dims.clone(),
                    data,
                )
                .map_err(|err| anyhow!("{err}"))?]);
                let ours = graph
                    .run_encoded(&encoded)
                    .map_err(|err| anyhow!("{err}"))?;
                assert_eq!(ours, tract.run(&encoded, &names)?, "{}", model["name"]);
            }
        }
        Ok(())
    }
}

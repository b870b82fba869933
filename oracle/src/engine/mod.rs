//! ONNX Runtime behind one [`Engine`] type.
//!
//! - [`Engine::new`] finds the pinned runtime library (see [`library`]),
//!   verifies its SHA-256 and initializes `ort` with it (once per process).
//! - [`Engine::load`] opens a model with the pinned [`profile`]: CPU execution
//!   provider only, one intra-op and one inter-op thread, sequential
//!   execution, basic graph optimizations, deterministic compute.
//! - [`LoadedModel::run`] takes a canonical input encoding and returns the
//!   canonical encoding of all outputs (see [`crate::tensor`]).
//!
//! Running is blocking; async callers wrap it in `spawn_blocking`.
pub mod library;
pub mod profile;

pub use library::{
    locate_library, resolve_library, verify_library, verify_library_hash, DEFAULT_LIBRARY_PATH,
    LIBRARY_ENV_VAR, ONNXRUNTIME_LIBRARY, ONNXRUNTIME_SHA256, ONNXRUNTIME_VERSION,
};
pub use profile::{
    cpu_as_recorded, profile_id, GraphOptimization, Profile, SessionSettings, PINNED_SETTINGS,
};

use crate::tensor::{self, dtype_name, element_size, EncodingError, Tensor};
use ort::{
    environment::Environment,
    memory::Allocator,
    session::{
        builder::{AutoDevicePolicy, GraphOptimizationLevel, SessionBuilder},
        RunOptions, Session, SessionInputValue,
    },
    value::{DynTensor, DynTensorValueType, Shape, TensorElementType, ValueType},
};
use sibyl::state::{DType, TensorSpec};
use std::{
    fmt, io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

#[cfg(not(target_endian = "little"))]
compile_error!("the engine copies little-endian tensor data to and from ONNX Runtime as is");

/// Where to find the ONNX Runtime library.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineSettings {
    /// Explicit library path; `None` tries `ORT_DYLIB_PATH`, then the default
    /// `.local/onnxruntime/libonnxruntime.so.1.31.1` (see [`library`]).
    pub library_path: Option<PathBuf>,
}

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "ONNX Runtime library not found (from {source_of_path}); looked in: {}. \
         Run scripts/setup.sh to install {DEFAULT_LIBRARY_PATH}, or set ORT_DYLIB_PATH \
         (or the configured library path) to libonnxruntime.so.{ONNXRUNTIME_VERSION}",
        display_paths(searched)
    )]
    LibraryNotFound {
        source_of_path: String,
        searched: Vec<PathBuf>,
    },
    #[error(
        "ONNX Runtime library {} has SHA-256 {actual}, expected {expected} (the pinned \
         onnxruntime {ONNXRUNTIME_VERSION} build); refusing to load it. Run scripts/setup.sh \
         to install the pinned library, or point ORT_DYLIB_PATH at it",
        path.display()
    )]
    LibraryHashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("reading ONNX Runtime library {}: {source}", path.display())]
    LibraryRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("initializing ONNX Runtime from {}: {message}", path.display())]
    RuntimeInit { path: PathBuf, message: String },
    #[error("loading model {}: {message}", path.display())]
    ModelLoad { path: PathBuf, message: String },
    #[error("model {} has {kind} `{name}` of type {found}, which Sibyl does not support", path.display())]
    UnsupportedType {
        path: PathBuf,
        kind: &'static str,
        name: String,
        found: String,
    },
    #[error(
        "model {} has {kind} `{name}` of type {found}, not a tensor: Sibyl commits and compares \
         tensors only. A scikit-learn classifier converted by skl2onnx ends in a ZipMap (a \
         sequence of maps) unless converted with options={{id(classifier): {{\"zipmap\": False}}}}; \
         other graphs must end in their tensors",
        path.display()
    )]
    NotATensor {
        path: PathBuf,
        kind: &'static str,
        name: String,
        found: String,
    },
    #[error("the model takes {expected} input tensor(s) but the input encoding has {got}")]
    InputCount { expected: usize, got: usize },
    #[error("input tensor {position} is named `{got}`, but the model's input {position} is `{expected}` (leave the name empty to bind by position)")]
    InputName {
        position: usize,
        expected: String,
        got: String,
    },
    #[error("input `{name}` must be {expected}, got {got}")]
    InputDType {
        name: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("input `{name}` has shape {got:?}, but the model expects {expected:?} (-1: any size)")]
    InputShape {
        name: String,
        expected: Vec<i64>,
        got: Vec<u64>,
    },
    #[error("input `{name}` is bool but element {index} is {value} (must be 0 or 1)")]
    InputBool {
        name: String,
        index: usize,
        value: u8,
    },
    #[error("bad input encoding: {0}")]
    Encoding(#[from] EncodingError),
    #[error("running model {}: {message}", path.display())]
    Run { path: PathBuf, message: String },
    #[error("running model {}: stopped, it ran past its time limit", path.display())]
    Terminated { path: PathBuf },
    #[error("creating run options: {message}")]
    RunOptions { message: String },
    #[error("reading output `{name}` of model {}: {message}", path.display())]
    Output {
        path: PathBuf,
        name: String,
        message: String,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(nowhere: neither the current directory nor the executable path is known)"
            .to_string();
    }
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The process-wide runtime: `ort` loads its dylib once per process.
struct Runtime {
    library_path: PathBuf,
    environment: Environment,
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Initializes `ort` from `path` (whose hash is already verified) the first
/// time; later calls reuse that runtime. Any library that passes
/// [`verify_library`] has the same bytes, so reusing it is sound.
fn runtime(path: &Path) -> Result<Arc<Runtime>, EngineError> {
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(runtime) = slot.as_ref() {
        if runtime.library_path != path {
            tracing::debug!(
                loaded = %runtime.library_path.display(),
                requested = %path.display(),
                "ONNX Runtime already loaded from another path with the same SHA-256"
            );
        }
        return Ok(runtime.clone());
    }
    let init_error = |message: String| EngineError::RuntimeInit {
        path: path.to_path_buf(),
        message,
    };
    let environment = ort::init_from(path)
        .map_err(|error| init_error(error.to_string()))?
        .with_name("sibyl")
        .with_telemetry(false)
        .build()
        .map_err(|error| init_error(error.to_string()))?;
    tracing::info!(path = %path.display(), version = ONNXRUNTIME_VERSION, "ONNX Runtime loaded");
    let runtime = Arc::new(Runtime {
        library_path: path.to_path_buf(),
        environment,
    });
    *slot = Some(runtime.clone());
    Ok(runtime)
}

/// The inference engine: a verified ONNX Runtime and the pinned profile.
/// Cheap to clone; every clone shares the process-wide runtime.
#[derive(Clone)]
pub struct Engine {
    runtime: Arc<Runtime>,
    profile: Profile,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("library_path", &self.runtime.library_path)
            .field("profile", &self.profile)
            .finish()
    }
}

impl Engine {
    /// Finds and verifies the runtime library, then initializes ONNX Runtime
    /// (the first time in this process).
    pub fn new(settings: &EngineSettings) -> Result<Engine, EngineError> {
        let path = resolve_library(settings)?;
        let runtime = runtime(&path)?;
        Ok(Engine {
            runtime,
            profile: Profile::pinned(),
        })
    }

    /// Initializes ONNX Runtime from any build of the library, without the
    /// pinned-hash check: for comparing runtime versions (`sibyl-bench`'s
    /// determinism matrix), never for serving. The profile names the
    /// library's real hash, so its id differs from the pinned one (its
    /// descriptor still reads `onnxruntime=1.31.1`: the settings' text).
    pub fn unpinned(path: &Path) -> Result<Engine, EngineError> {
        let runtime_sha256 =
            crate::store::sha256_file(path).map_err(|source| EngineError::LibraryRead {
                path: path.to_path_buf(),
                source,
            })?;
        let runtime = runtime(path)?;
        Ok(Engine {
            runtime,
            profile: Profile {
                runtime_sha256,
                descriptor: PINNED_SETTINGS.descriptor(),
            },
        })
    }

    /// The library ONNX Runtime was loaded from.
    pub fn library_path(&self) -> &Path {
        &self.runtime.library_path
    }

    /// The execution profile every model runs with.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// [`Profile::id`] of the pinned profile.
    pub fn profile_id(&self) -> [u8; 32] {
        self.profile.id()
    }

    /// Opens a model with the pinned profile. The caller has verified the
    /// file's hash (see [`crate::store::ModelStore::fetch`]).
    pub fn load(&self, model_path: &Path) -> Result<LoadedModel, EngineError> {
        self.load_with(model_path, &PINNED_SETTINGS)
    }

    /// Opens a model with other session settings: for benchmarks and the
    /// determinism study (`sibyl-bench`). Outputs made this way are not
    /// under the pinned profile; a node never commits them.
    pub fn load_with(
        &self,
        model_path: &Path,
        settings: &SessionSettings,
    ) -> Result<LoadedModel, EngineError> {
        let session = self.session(model_path, settings)?;
        let describe = |kind: &'static str, name: &str, value_type: &ValueType| {
            graph_tensor(model_path, kind, name, value_type)
        };
        let inputs = session
            .inputs()
            .iter()
            .map(|outlet| describe("input", outlet.name(), outlet.dtype()))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = session
            .outputs()
            .iter()
            .map(|outlet| describe("output", outlet.name(), outlet.dtype()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LoadedModel {
            session,
            inputs,
            outputs,
            path: model_path.to_path_buf(),
        })
    }

    /// A bare ONNX Runtime session with `settings`: what `sibyl-bench`
    /// measures as the floor under [`LoadedModel::run`].
    pub fn session(
        &self,
        model_path: &Path,
        settings: &SessionSettings,
    ) -> Result<Session, EngineError> {
        let load_error = |message: String| EngineError::ModelLoad {
            path: model_path.to_path_buf(),
            message,
        };
        pinned_session_builder(&self.runtime.environment, settings)
            .map_err(load_error)?
            .commit_from_file(model_path)
            .map_err(|error| load_error(error.to_string()))
    }
}

/// A session builder configured with `settings` (CPU provider only).
fn pinned_session_builder(
    environment: &Environment,
    settings: &SessionSettings,
) -> Result<SessionBuilder, String> {
    let level = match settings.graph_optimization {
        GraphOptimization::Disabled => GraphOptimizationLevel::Disable,
        GraphOptimization::Basic => GraphOptimizationLevel::Level1,
        GraphOptimization::Extended => GraphOptimizationLevel::Level2,
        GraphOptimization::Layout => GraphOptimizationLevel::Level3,
        GraphOptimization::All => GraphOptimizationLevel::All,
    };
    let message = |error: ort::Error<SessionBuilder>| error.to_string();
    Session::builder(environment)
        .map_err(|error| error.to_string())?
        // Nothing from the environment, no automatic device selection: the
        // CPU provider, with its arena (as Python's default session has).
        .with_no_environment_execution_providers()
        .map_err(message)?
        .with_auto_device(AutoDevicePolicy::PreferCPU)
        .map_err(message)?
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(true).build()])
        .map_err(message)?
        .with_intra_threads(settings.intra_op_threads)
        .map_err(message)?
        .with_inter_threads(settings.inter_op_threads)
        .map_err(message)?
        .with_parallel_execution(settings.parallel_execution)
        .map_err(message)?
        .with_optimization_level(level)
        .map_err(message)?
        .with_deterministic_compute(settings.deterministic_compute)
        .map_err(message)
}

fn graph_tensor(
    path: &Path,
    kind: &'static str,
    name: &str,
    value_type: &ValueType,
) -> Result<TensorSpec, EngineError> {
    let unsupported = |found: String| EngineError::UnsupportedType {
        path: path.to_path_buf(),
        kind,
        name: name.to_string(),
        found,
    };
    match value_type {
        ValueType::Tensor { ty, shape, .. } => Ok(TensorSpec {
            name: name.to_string(),
            dtype: dtype_of(*ty).ok_or_else(|| unsupported(format!("tensor({ty})")))?,
            shape: shape.to_vec(),
        }),
        ValueType::Sequence(_) | ValueType::Map { .. } | ValueType::Optional(_) => {
            Err(EngineError::NotATensor {
                path: path.to_path_buf(),
                kind,
                name: name.to_string(),
                found: value_type.to_string(),
            })
        }
    }
}

/// The Sibyl dtype of an ONNX Runtime element type, if supported.
pub fn dtype_of(element: TensorElementType) -> Option<DType> {
    Some(match element {
        TensorElementType::Float32 => DType::Float32,
        TensorElementType::Uint8 => DType::Uint8,
        TensorElementType::Int8 => DType::Int8,
        TensorElementType::Int16 => DType::Int16,
        TensorElementType::Int32 => DType::Int32,
        TensorElementType::Int64 => DType::Int64,
        TensorElementType::Bool => DType::Bool,
        TensorElementType::Float16 => DType::Float16,
        TensorElementType::Float64 => DType::Float64,
        _ => return None,
    })
}

/// The ONNX Runtime element type of a Sibyl dtype.
pub fn element_type_of(dtype: DType) -> TensorElementType {
    match dtype {
        DType::Float32 => TensorElementType::Float32,
        DType::Uint8 => TensorElementType::Uint8,
        DType::Int8 => TensorElementType::Int8,
        DType::Int16 => TensorElementType::Int16,
        DType::Int32 => TensorElementType::Int32,
        DType::Int64 => TensorElementType::Int64,
        DType::Bool => TensorElementType::Bool,
        DType::Float16 => TensorElementType::Float16,
        DType::Float64 => TensorElementType::Float64,
    }
}

/// Stops a run from another thread: ONNX Runtime checks it between
/// kernels (and between a loop's iterations).
pub struct RunControl {
    options: RunOptions,
    terminated: std::sync::atomic::AtomicBool,
}

impl RunControl {
    pub fn new() -> Result<Self, EngineError> {
        Ok(Self {
            options: RunOptions::new().map_err(|error| EngineError::RunOptions {
                message: error.to_string(),
            })?,
            terminated: Default::default(),
        })
    }

    /// Makes the run using this control return [`EngineError::Terminated`]
    /// as soon as ONNX Runtime next checks.
    pub fn terminate(&self) {
        if self
            .terminated
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        if let Err(error) = self.options.terminate() {
            tracing::warn!(%error, "could not ask ONNX Runtime to stop a run");
        }
    }

    fn terminated(&self) -> bool {
        self.terminated.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A model opened with the pinned profile.
pub struct LoadedModel {
    session: Session,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    path: PathBuf,
}

// `run` happens on blocking threads: the model must move between threads.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<LoadedModel>();
    assert_send::<Engine>();
    fn assert_sync<T: Sync>() {}
    assert_sync::<Engine>();
    assert_send::<RunControl>();
    assert_sync::<RunControl>();
};

impl fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// The graph's inputs, in order.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The graph's outputs, in order.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The ONNX Runtime session it runs, to run bare (the bench compares
    /// [`LoadedModel::run`] with it, on the same weights in memory); a run
    /// through it has no time limit, so nothing else uses it.
    #[doc(hidden)]
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the model on a canonical input encoding, binding its tensors to
    /// the graph inputs by position, and returns the canonical encoding of
    /// every output in graph order, named as in the graph. Blocking.
    pub fn run(&mut self, input_encoding: &[u8]) -> Result<Vec<u8>, EngineError> {
        self.run_with(input_encoding, &RunControl::new()?)
    }

    /// [`LoadedModel::run`], stopped early (with [`EngineError::Terminated`])
    /// once another thread calls [`RunControl::terminate`].
    pub fn run_with(
        &mut self,
        input_encoding: &[u8],
        control: &RunControl,
    ) -> Result<Vec<u8>, EngineError> {
        let tensors = tensor::decode(input_encoding)?;
        if tensors.len() != self.inputs.len() {
            return Err(EngineError::InputCount {
                expected: self.inputs.len(),
                got: tensors.len(),
            });
        }
        let mut values: Vec<SessionInputValue<'static>> = Vec::with_capacity(tensors.len());
        for (position, (tensor, input)) in tensors.iter().zip(&self.inputs).enumerate() {
            check_input(position, tensor, input)?;
            values.push(self.to_ort(tensor, input)?.into());
        }

        let path = self.path.clone();
        let mut outputs = self
            .session
            .run_with_options(values.as_slice(), &control.options)
            .map_err(|error| {
                if control.terminated() {
                    EngineError::Terminated { path: path.clone() }
                } else {
                    EngineError::Run {
                        path: path.clone(),
                        message: error.to_string(),
                    }
                }
            })?;
        let mut results = Vec::with_capacity(self.outputs.len());
        for output in &self.outputs {
            let output_error = |message: String| EngineError::Output {
                path: path.clone(),
                name: output.name.clone(),
                message,
            };
            let value = outputs
                .remove(output.name.as_str())
                .ok_or_else(|| output_error("missing from the run's results".to_string()))?;
            results.push(from_ort(value, &output.name).map_err(output_error)?);
        }
        Ok(tensor::encode(&results))
    }

    fn to_ort(&self, tensor: &Tensor, input: &TensorSpec) -> Result<DynTensor, EngineError> {
        let run_error = |message: String| EngineError::Run {
            path: self.path.clone(),
            message: format!("creating input `{}`: {message}", input.name),
        };
        let dims = tensor
            .dims
            .iter()
            .map(|&dim| i64::try_from(dim))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|_| run_error(format!("dimensions {:?} past i64", tensor.dims)))?;
        let mut value = DynTensor::new(
            &Allocator::default(),
            element_type_of(tensor.dtype),
            Shape::new(dims),
        )
        .map_err(|error| run_error(error.to_string()))?;
        if !tensor.data.is_empty() {
            if value.size() != Some(tensor.data.len()) {
                return Err(run_error(format!(
                    "ONNX Runtime allocated {:?} bytes for {} data bytes",
                    value.size(),
                    tensor.data.len()
                )));
            }
            let target = value.data_ptr_mut().cast::<u8>();
            if target.is_null() {
                return Err(run_error(
                    "ONNX Runtime returned no data buffer".to_string(),
                ));
            }
            // SAFETY: `target` is the CPU buffer of a freshly allocated tensor
            // of exactly `tensor.data.len()` bytes (checked above), which
            // nothing else references yet; the canonical encoding is
            // little-endian, as is this machine (see the compile_error above).
            unsafe {
                std::ptr::copy_nonoverlapping(tensor.data.as_ptr(), target, tensor.data.len())
            };
        }
        Ok(value)
    }
}

/// The encoding's tensor fits graph input `position`.
fn check_input(position: usize, tensor: &Tensor, input: &TensorSpec) -> Result<(), EngineError> {
    if !tensor.name.is_empty() && tensor.name != input.name {
        return Err(EngineError::InputName {
            position,
            expected: input.name.clone(),
            got: tensor.name.clone(),
        });
    }
    if tensor.dtype != input.dtype {
        return Err(EngineError::InputDType {
            name: input.name.clone(),
            expected: dtype_name(input.dtype),
            got: dtype_name(tensor.dtype),
        });
    }
    let shape_error = || EngineError::InputShape {
        name: input.name.clone(),
        expected: input.shape.clone(),
        got: tensor.dims.clone(),
    };
    if tensor.dims.len() != input.shape.len() {
        return Err(shape_error());
    }
    for (&dim, &expected) in tensor.dims.iter().zip(&input.shape) {
        let Ok(dim) = i64::try_from(dim) else {
            return Err(shape_error());
        };
        if expected >= 0 && dim != expected {
            return Err(shape_error());
        }
    }
    if tensor.dtype == DType::Bool {
        if let Some((index, &value)) = tensor.data.iter().enumerate().find(|(_, &b)| b > 1) {
            return Err(EngineError::InputBool {
                name: input.name.clone(),
                index,
                value,
            });
        }
    }
    Ok(())
}

/// Copies an output value into a canonical tensor named `name`.
fn from_ort(value: ort::value::DynValue, name: &str) -> Result<Tensor, String> {
    let value = value
        .downcast::<DynTensorValueType>()
        .map_err(|error| format!("not a tensor: {error}"))?;
    let (element, shape) = match value.dtype() {
        ValueType::Tensor { ty, shape, .. } => (*ty, shape.clone()),
        other => return Err(format!("not a tensor: {other:?}")),
    };
    let dtype = dtype_of(element).ok_or_else(|| format!("unsupported element type {element}"))?;
    let dims = shape
        .iter()
        .map(|&dim| u64::try_from(dim).map_err(|_| format!("negative dimension in {shape:?}")))
        .collect::<Result<Vec<u64>, String>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |count, &dim| {
            count.checked_mul(usize::try_from(dim).ok()?)
        })
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let len = count
        .checked_mul(element_size(dtype))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let mut data = vec![0u8; len];
    if len > 0 {
        if !value.memory_info().is_cpu_accessible() {
            return Err("output is not in CPU memory".to_string());
        }
        if let Some(size) = value.size() {
            if size != len {
                return Err(format!("ONNX Runtime reports {size} bytes, expected {len}"));
            }
        }
        let source = value.data_ptr().cast::<u8>();
        if source.is_null() {
            return Err("ONNX Runtime returned no data buffer".to_string());
        }
        // SAFETY: `source` points to the tensor's CPU buffer of `len` bytes
        // (its element count times the element size, checked against ONNX
        // Runtime's own size above) and lives as long as `value`.
        unsafe { std::ptr::copy_nonoverlapping(source, data.as_mut_ptr(), len) };
    }
    if dtype == DType::Bool {
        // ONNX Runtime's bool is a C++ bool: one byte, 0 or 1.
        for byte in &mut data {
            *byte = u8::from(*byte != 0);
        }
    }
    Tensor::new(name, dtype, dims, data).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: "x".to_string(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    fn tensor(name: &str, dtype: DType, dims: &[u64]) -> Tensor {
        let len = dims.iter().product::<u64>() as usize * element_size(dtype);
        Tensor::new(name, dtype, dims.to_vec(), vec![0; len]).unwrap()
    }

    #[test]
    fn inputs_bind_by_position_with_matching_dtype_and_shape() {
        let input = graph(DType::Float32, &[-1, 4]);
        check_input(0, &tensor("", DType::Float32, &[3, 4]), &input).unwrap();
        check_input(0, &tensor("x", DType::Float32, &[1, 4]), &input).unwrap();
        assert!(matches!(
            check_input(0, &tensor("y", DType::Float32, &[1, 4]), &input),
            Err(EngineError::InputName { position: 0, .. })
        ));
        assert!(matches!(
            check_input(0, &tensor("", DType::Int32, &[1, 4]), &input),
            Err(EngineError::InputDType {
                expected: "float32",
                got: "int32",
                ..
            })
        ));
        for dims in [&[1, 5][..], &[4], &[1, 1, 4]] {
            assert!(matches!(
                check_input(0, &tensor("", DType::Float32, dims), &input),
                Err(EngineError::InputShape { .. })
            ));
        }
    }

    #[test]
    fn bool_inputs_must_be_zero_or_one() {
        let input = graph(DType::Bool, &[3]);
        let mut flags = Tensor::new("", DType::Bool, vec![3], vec![1, 0, 1]).unwrap();
        check_input(0, &flags, &input).unwrap();
        flags.data[2] = 2;
        assert!(matches!(
            check_input(0, &flags, &input),
            Err(EngineError::InputBool {
                index: 2,
                value: 2,
                ..
            })
        ));
    }

    #[test]
    fn element_types_round_trip() {
        for dtype in crate::tensor::ALL_DTYPES {
            assert_eq!(dtype_of(element_type_of(dtype)), Some(dtype));
        }
        assert_eq!(dtype_of(TensorElementType::String), None);
        assert_eq!(dtype_of(TensorElementType::Uint32), None);
    }
}

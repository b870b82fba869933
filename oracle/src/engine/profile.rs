//! The pinned execution profile: everything about how a model is run that can
//! change its output bits, identified by one hash.
//!
//! It must match the Python session that recorded the reference outputs
//! (`models/generate.py`, see `models/README.md`):
//!
//! ```python
//! so.intra_op_num_threads = 1
//! so.inter_op_num_threads = 1
//! so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
//! so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
//! so.use_deterministic_compute = True
//! ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
//! ```
use super::library::{ONNXRUNTIME_SHA256, ONNXRUNTIME_VERSION};
use sha2::{Digest, Sha256};

/// Domain tag of the profile id.
pub const PROFILE_DOMAIN: &[u8] = b"sibyl-profile-v1";

/// The session settings the engine applies. [`Profile::pinned`]'s descriptor
/// is derived from these, so the two cannot drift apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    pub intra_op_threads: usize,
    pub inter_op_threads: usize,
    /// `false`: `ORT_SEQUENTIAL`.
    pub parallel_execution: bool,
    pub graph_optimization: GraphOptimization,
    pub deterministic_compute: bool,
}

/// What every Sibyl node runs with.
pub const PINNED_SETTINGS: SessionSettings = SessionSettings {
    intra_op_threads: 1,
    inter_op_threads: 1,
    parallel_execution: false,
    graph_optimization: GraphOptimization::Basic,
    deterministic_compute: true,
};

/// ONNX Runtime's graph optimization levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphOptimization {
    /// `ORT_DISABLE_ALL`.
    Disabled,
    /// `ORT_ENABLE_BASIC` (`ort`'s `Level1`).
    Basic,
    /// `ORT_ENABLE_EXTENDED` (`Level2`).
    Extended,
    /// `ORT_ENABLE_LAYOUT` (`Level3`).
    Layout,
    /// `ORT_ENABLE_ALL`.
    All,
}

impl GraphOptimization {
    /// The name used in profile descriptors.
    pub fn name(self) -> &'static str {
        match self {
            GraphOptimization::Disabled => "disabled",
            GraphOptimization::Basic => "basic",
            GraphOptimization::Extended => "extended",
            GraphOptimization::Layout => "layout",
            GraphOptimization::All => "all",
        }
    }
}

impl SessionSettings {
    /// The stable textual form, e.g.
    /// `onnxruntime=1.31.1;provider=cpu;intra_op_threads=1;inter_op_threads=1;execution=sequential;graph_optimization=basic;deterministic_compute=1`.
    pub fn descriptor(&self) -> String {
        format!(
            "onnxruntime={ONNXRUNTIME_VERSION};provider=cpu;intra_op_threads={};inter_op_threads={};execution={};graph_optimization={};deterministic_compute={}",
            self.intra_op_threads,
            self.inter_op_threads,
            if self.parallel_execution { "parallel" } else { "sequential" },
            self.graph_optimization.name(),
            u8::from(self.deterministic_compute),
        )
    }
}

/// A runtime library (by hash) plus session settings (by descriptor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// SHA-256 of the ONNX Runtime shared library.
    pub runtime_sha256: [u8; 32],
    /// [`SessionSettings::descriptor`].
    pub descriptor: String,
}

impl Profile {
    /// The pinned library and [`PINNED_SETTINGS`].
    pub fn pinned() -> Profile {
        Profile {
            runtime_sha256: ONNXRUNTIME_SHA256,
            descriptor: PINNED_SETTINGS.descriptor(),
        }
    }

    /// `SHA-256(b"sibyl-profile-v1" ‖ runtime library SHA-256 ‖ descriptor)`.
    pub fn id(&self) -> [u8; 32] {
        profile_id(&self.runtime_sha256, &self.descriptor)
    }
}

/// `SHA-256(b"sibyl-profile-v1" ‖ runtime_sha256 (32 raw bytes) ‖ descriptor bytes)`.
pub fn profile_id(runtime_sha256: &[u8; 32], descriptor: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(PROFILE_DOMAIN);
    hasher.update(runtime_sha256);
    hasher.update(descriptor.as_bytes());
    hasher.finalize().into()
}

/// Whether this CPU has the instructions of the machine that recorded the
/// reference outputs in `models/` (AVX-512 with VNNI). The profile pins
/// everything a session can choose, but ONNX Runtime picks its kernels by
/// CPU: without VNNI its uint8 × int8 products saturate in 16 bits, and
/// its float GEMMs sum in another order, so on another CPU class some
/// outputs differ in their bits from the recording (`docs/security.md`,
/// "Determinism across CPUs"). Tests compare with the recording only where
/// it was made on this CPU class.
pub fn cpu_as_recorded() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::encode as hex;

    const DESCRIPTOR: &str = "onnxruntime=1.31.1;provider=cpu;intra_op_threads=1;inter_op_threads=1;execution=sequential;graph_optimization=basic;deterministic_compute=1";

    #[test]
    fn pinned_descriptor_is_stable() {
        assert_eq!(PINNED_SETTINGS.descriptor(), DESCRIPTOR);
        assert_eq!(Profile::pinned().descriptor, DESCRIPTOR);
    }

    #[test]
    fn pinned_profile_id_is_stable() {
        // Changing this value changes every node's profile id: only on purpose.
        assert_eq!(
            hex(&Profile::pinned().id()),
            "7ef44fa9c94265cc502404f294e6cfa9cc266f37953180929570663237ed04f3"
        );
        assert_eq!(Profile::pinned().id(), Profile::pinned().id());
    }

    #[test]
    fn profile_id_is_domain_separated_sha256() {
        let mut preimage = PROFILE_DOMAIN.to_vec();
        preimage.extend_from_slice(&ONNXRUNTIME_SHA256);
        preimage.extend_from_slice(DESCRIPTOR.as_bytes());
        let expected: [u8; 32] = Sha256::digest(&preimage).into();
        assert_eq!(Profile::pinned().id(), expected);
    }

    #[test]
    fn profile_id_changes_with_either_part() {
        let pinned = Profile::pinned();
        let mut other_library = pinned.clone();
        other_library.runtime_sha256[31] ^= 1;
        assert_ne!(other_library.id(), pinned.id());

        let threads = SessionSettings {
            intra_op_threads: 2,
            ..PINNED_SETTINGS
        };
        let other_settings = Profile {
            descriptor: threads.descriptor(),
            ..pinned.clone()
        };
        assert_ne!(other_settings.id(), pinned.id());

        let optimization = SessionSettings {
            graph_optimization: GraphOptimization::All,
            ..PINNED_SETTINGS
        };
        assert_ne!(
            profile_id(&pinned.runtime_sha256, &optimization.descriptor()),
            pinned.id()
        );
    }
}

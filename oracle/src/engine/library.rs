//! Finding and verifying the ONNX Runtime shared library.
//!
//! Sibyl pins one exact build of ONNX Runtime (the one inside the onnxruntime
//! 1.31.1 Python wheel that produced the reference outputs in
//! `models/fixtures.json`); `scripts/setup.sh` copies it to
//! [`DEFAULT_LIBRARY_PATH`]. The library is looked up in this order:
//!
//! 1. the explicit path from the configuration ([`EngineSettings::library_path`]),
//! 2. the `ORT_DYLIB_PATH` environment variable (when set and not empty),
//! 3. [`DEFAULT_LIBRARY_PATH`] relative to the current directory, then relative
//!    to each ancestor directory of the running executable (so that
//!    `target/debug/sibyl` finds the repository's `.local`).
//!
//! An explicit path or `ORT_DYLIB_PATH` that names a missing file is an error
//! (it never falls back to a library the operator did not choose). Whatever is
//! found must have the SHA-256 [`ONNXRUNTIME_SHA256`] before it is loaded.
use super::{EngineError, EngineSettings};
use crate::{hex::encode as hex, store::sha256_file};
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

/// The pinned ONNX Runtime version.
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// The library's file name.
pub const ONNXRUNTIME_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// Where `scripts/setup.sh` puts the library, relative to the repository root.
pub const DEFAULT_LIBRARY_PATH: &str = ".local/onnxruntime/libonnxruntime.so.1.31.1";

/// The environment variable naming the library (also read by `ort` itself).
pub const LIBRARY_ENV_VAR: &str = "ORT_DYLIB_PATH";

/// SHA-256 of the pinned `libonnxruntime.so.1.31.1` (Linux x86-64, from the
/// onnxruntime 1.31.1 wheel; the same constant as in `scripts/setup.sh`).
pub const ONNXRUNTIME_SHA256: [u8; 32] =
    hex32("fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3");

/// Decodes 64 hex digits at compile time.
#[allow(
    clippy::panic,
    clippy::indexing_slicing,
    reason = "only evaluated in constants: a bad digit fails the build"
)]
const fn hex32(text: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let bytes = text.as_bytes();
    assert!(bytes.len() == 64, "expected 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(bytes[2 * i]) << 4) | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

/// Finds the runtime library and verifies its hash: the path to load.
pub fn resolve_library(settings: &EngineSettings) -> Result<PathBuf, EngineError> {
    let path = locate_library(settings)?;
    verify_library(&path)?;
    Ok(path)
}

/// Finds the runtime library (without checking its hash).
pub fn locate_library(settings: &EngineSettings) -> Result<PathBuf, EngineError> {
    locate(
        settings.library_path.as_deref(),
        std::env::var_os(LIBRARY_ENV_VAR),
        std::env::current_dir().ok(),
        std::env::current_exe().ok(),
    )
}

/// Refuses a library file whose SHA-256 is not [`ONNXRUNTIME_SHA256`].
pub fn verify_library(path: &Path) -> Result<(), EngineError> {
    verify_library_hash(path, &ONNXRUNTIME_SHA256)
}

/// Refuses a library file whose SHA-256 is not `expected`.
pub fn verify_library_hash(path: &Path, expected: &[u8; 32]) -> Result<(), EngineError> {
    let actual = sha256_file(path).map_err(|source| EngineError::LibraryRead {
        path: path.to_path_buf(),
        source,
    })?;
    if &actual != expected {
        return Err(EngineError::LibraryHashMismatch {
            path: path.to_path_buf(),
            expected: hex(expected),
            actual: hex(&actual),
        });
    }
    Ok(())
}

/// The resolution order, with the process environment passed in (testable).
fn locate(
    explicit: Option<&Path>,
    env: Option<OsString>,
    cwd: Option<PathBuf>,
    exe: Option<PathBuf>,
) -> Result<PathBuf, EngineError> {
    if let Some(path) = explicit {
        return exists_or_not_found(path.to_path_buf(), "the configured library path");
    }
    if let Some(value) = env.filter(|value| !value.is_empty()) {
        return exists_or_not_found(PathBuf::from(value), LIBRARY_ENV_VAR);
    }
    let mut searched = Vec::new();
    if let Some(cwd) = cwd {
        searched.push(cwd.join(DEFAULT_LIBRARY_PATH));
    }
    if let Some(exe) = exe {
        for ancestor in exe.ancestors().skip(1) {
            let candidate = ancestor.join(DEFAULT_LIBRARY_PATH);
            if !searched.contains(&candidate) {
                searched.push(candidate);
            }
        }
    }
    match searched.iter().find(|candidate| candidate.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(EngineError::LibraryNotFound {
            source_of_path: "the default location".to_string(),
            searched,
        }),
    }
}

fn exists_or_not_found(path: PathBuf, origin: &str) -> Result<PathBuf, EngineError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(EngineError::LibraryNotFound {
            source_of_path: origin.to_string(),
            searched: vec![path],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join(DEFAULT_LIBRARY_PATH);
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        std::fs::write(&lib, b"not a real library").unwrap();
        (dir, lib)
    }

    #[test]
    fn pinned_hash_constant_matches_the_setup_script() {
        assert_eq!(
            hex(&ONNXRUNTIME_SHA256),
            "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
        );
    }

    #[test]
    fn explicit_path_wins_and_must_exist() {
        let (dir, lib) = fake_repo();
        let other = dir.path().join("other.so");
        std::fs::write(&other, b"x").unwrap();
        let found = locate(Some(&other), Some(lib.clone().into()), None, None).unwrap();
        assert_eq!(found, other);

        let missing = dir.path().join("missing.so");
        let error = locate(Some(&missing), Some(lib.into()), None, None).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, EngineError::LibraryNotFound { .. }));
        assert!(message.contains("missing.so"), "{message}");
        assert!(message.contains("scripts/setup.sh"), "{message}");
    }

    #[test]
    fn env_var_comes_next_and_empty_means_unset() {
        let (dir, lib) = fake_repo();
        let env_lib = dir.path().join("env.so");
        std::fs::write(&env_lib, b"x").unwrap();
        let cwd = Some(dir.path().to_path_buf());
        assert_eq!(
            locate(None, Some(env_lib.clone().into()), cwd.clone(), None).unwrap(),
            env_lib
        );
        assert_eq!(locate(None, Some(OsString::new()), cwd, None).unwrap(), lib);
        let error = locate(None, Some(dir.path().join("nope.so").into()), None, None).unwrap_err();
        assert!(error.to_string().contains(LIBRARY_ENV_VAR), "{error}");
    }

    #[test]
    fn default_is_searched_in_cwd_then_executable_ancestors() {
        let (dir, lib) = fake_repo();
        let exe = dir.path().join("target/debug/deps/sibyl-0123");
        let elsewhere = tempfile::tempdir().unwrap();
        let found = locate(None, None, Some(elsewhere.path().to_path_buf()), Some(exe)).unwrap();
        assert_eq!(found, lib);

        let error = locate(
            None,
            None,
            Some(elsewhere.path().to_path_buf()),
            Some(elsewhere.path().join("bin/sibyl")),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(
                &elsewhere
                    .path()
                    .join(DEFAULT_LIBRARY_PATH)
                    .display()
                    .to_string()
            ),
            "{message}"
        );
        assert!(message.contains("ORT_DYLIB_PATH"), "{message}");
    }

    #[test]
    fn a_library_with_another_hash_is_refused() {
        let (_dir, lib) = fake_repo();
        let error = verify_library(&lib).unwrap_err();
        let message = error.to_string();
        match &error {
            EngineError::LibraryHashMismatch {
                path,
                expected,
                actual,
            } => {
                assert_eq!(path, &lib);
                assert_eq!(expected, &hex(&ONNXRUNTIME_SHA256));
                assert_eq!(actual, &hex(&sha256_file(&lib).unwrap()));
            }
            other => panic!("expected LibraryHashMismatch, got {other:?}"),
        }
        assert!(message.contains("scripts/setup.sh"), "{message}");
        assert!(message.contains(&lib.display().to_string()), "{message}");

        let error = resolve_library(&EngineSettings {
            library_path: Some(lib),
        })
        .unwrap_err();
        assert!(matches!(error, EngineError::LibraryHashMismatch { .. }));
    }
}

//! Key files: Solana CLI keypairs (a JSON array of 64 bytes), read only when
//! no one but their owner can read them, and written atomically with owner
//! permissions only, as `solana-keygen` writes them.
use crate::config::expand_home;
use solana_keypair::Keypair;
use std::{
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read keypair {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("keypair {path} can be read by others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    #[error("cannot write keypair {path}: {reason}")]
    Write { path: String, reason: String },
}

/// Reads a Solana CLI keypair file (`~` is expanded), refusing one that its
/// group or others may read or write.
pub fn read_keypair(path: &str) -> Result<Keypair, KeyError> {
    let path = expand_home(path);
    let shown = path.display().to_string();
    let error = |reason: String| KeyError::Read {
        path: shown.clone(),
        reason,
    };
    let mode = std::fs::metadata(&path)
        .map_err(|err| error(err.to_string()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: shown,
            mode: mode & 0o777,
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|err| error(err.to_string()))?;
    let bytes: Vec<u8> =
        serde_json::from_str(&text).map_err(|_| error("not a JSON array of 64 bytes".into()))?;
    Keypair::try_from(bytes.as_slice()).map_err(|err| error(err.to_string()))
}

/// Writes `keypair` to `path` as `solana-keygen` does (a JSON array of its
/// 64 bytes, readable by its owner only), through a temporary file renamed
/// into place: a crash never leaves half a key. Overwrites an existing file.
pub fn write_keypair(path: &Path, keypair: &Keypair) -> Result<(), KeyError> {
    let error = |reason: String| KeyError::Write {
        path: path.display().to_string(),
        reason,
    };
    let json = serde_json::to_string(&keypair.to_bytes().to_vec())
        .map_err(|err| error(err.to_string()))?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| error("names no file".to_string()))?;
    let temp = directory.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(json.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(error(err.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_signer::Signer;

    #[test]
    fn a_written_keypair_reads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.json");
        let keypair = Keypair::new();
        write_keypair(&path, &keypair).unwrap();
        let read = read_keypair(path.to_str().unwrap()).unwrap();
        assert_eq!(read.pubkey(), keypair.pubkey());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Written again over itself: still whole, still private, no leftovers.
        let other = Keypair::new();
        write_keypair(&path, &other).unwrap();
        assert_eq!(
            read_keypair(path.to_str().unwrap()).unwrap().pubkey(),
            other.pubkey()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.json");
        write_keypair(&path, &Keypair::new()).unwrap();
        for mode in [0o644, 0o640, 0o606] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = read_keypair(path.to_str().unwrap()).unwrap_err();
            assert!(matches!(error, KeyError::TooOpen { .. }), "{error:?}");
            assert!(error.to_string().contains("chmod 600"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        read_keypair(path.to_str().unwrap()).unwrap();
        let missing = read_keypair(dir.path().join("nope.json").to_str().unwrap()).unwrap_err();
        assert!(missing.to_string().contains("nope.json"), "{missing}");
    }
}

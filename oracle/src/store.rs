//! The model store: fetches `.onnx` files by URI into a content-addressed
//! cache and never hands out a file whose SHA-256 differs from the model hash
//! registered on chain.
//!
//! ```text
//! cache_dir/<hex model hash>.onnx
//! ```
//!
//! A download (or local copy) is written to a temporary file inside
//! `cache_dir`, hashed while it is written, and renamed into place only when
//! its hash matches, so the cache never holds a file with the wrong bytes under
//! a hash's name (a cached file corrupted later is detected on the next fetch,
//! deleted and fetched again).
//!
//! Supported URIs:
//!
//! - `file:///absolute/path.onnx`
//! - `file://relative/path.onnx` (relative to the store's `base_dir`)
//! - `https://…` and `http://…`
use crate::hex::encode as hex;
use sha2::{Digest, Sha256};
use std::{
    fs::File,
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Size of the read buffer used for streamed hashing and copying.
const CHUNK: usize = 64 * 1024;

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("model `{uri}` has SHA-256 {actual}, but the registered model hash is {expected}; refusing it")]
    HashMismatch {
        uri: String,
        expected: String,
        actual: String,
    },
    #[error("unsupported model URI `{uri}` (supported: file:///absolute/path, file://relative/path, https://…, http://…)")]
    UnsupportedScheme { uri: String },
    #[error("model `{uri}`: file {} not found", path.display())]
    NotFound { uri: String, path: PathBuf },
    #[error("model `{uri}`: reading {}: {source}", path.display())]
    Read {
        uri: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("model `{uri}`: HTTP status {status}")]
    HttpStatus { uri: String, status: u16 },
    #[error("model `{uri}`: HTTP request failed: {source}")]
    Http {
        uri: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("model cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// SHA-256 of a file's contents, read in chunks (large models are never held
/// in memory at once).
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

/// Content-addressed cache of model files.
#[derive(Clone, Debug)]
pub struct ModelStore {
    cache_dir: PathBuf,
    base_dir: PathBuf,
    http: reqwest::Client,
}

/// Where a model comes from, parsed from its URI.
enum Source {
    File(PathBuf),
    Http(String),
}

impl ModelStore {
    /// A store caching into `cache_dir` (created on first fetch) and resolving
    /// relative `file://` URIs against `base_dir`.
    pub fn new(cache_dir: PathBuf, base_dir: PathBuf) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        ModelStore {
            cache_dir,
            base_dir,
            http,
        }
    }

    /// The directory cached models live in.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Where the model with this hash is (or would be) cached.
    pub fn cache_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.cache_dir.join(format!("{}.onnx", hex(hash)))
    }

    /// The path of a cached file holding exactly the bytes whose SHA-256 is
    /// `expected_hash`, fetching it from `uri` when it is not cached yet.
    pub async fn fetch(&self, uri: &str, expected_hash: &[u8; 32]) -> Result<PathBuf, StoreError> {
        let cached = self.cache_path(expected_hash);
        if let Some(path) = self.check_cached(&cached, expected_hash).await? {
            return Ok(path);
        }
        let source = self.parse(uri)?;
        tokio::fs::create_dir_all(&self.cache_dir)
            .await
            .map_err(|source| self.cache_error(source))?;
        let temp = self.temp_path(expected_hash);
        let written = match source {
            Source::File(path) => self.copy_file(uri, path, temp.clone()).await,
            Source::Http(url) => self.download(uri, &url, &temp).await,
        };
        let actual = match written {
            Ok(actual) => actual,
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(error);
            }
        };
        if &actual != expected_hash {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(StoreError::HashMismatch {
                uri: uri.to_string(),
                expected: hex(expected_hash),
                actual: hex(&actual),
            });
        }
        if let Err(source) = tokio::fs::rename(&temp, &cached).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(StoreError::Cache {
                path: cached,
                source,
            });
        }
        tracing::info!(uri, path = %cached.display(), "model fetched and verified");
        Ok(cached)
    }

    /// The cached path when the file there has the expected hash; a cached
    /// file with other bytes is deleted.
    async fn check_cached(
        &self,
        cached: &Path,
        expected_hash: &[u8; 32],
    ) -> Result<Option<PathBuf>, StoreError> {
        if !tokio::fs::try_exists(cached).await.unwrap_or(false) {
            return Ok(None);
        }
        let path = cached.to_path_buf();
        let hashed = tokio::task::spawn_blocking(move || sha256_file(&path))
            .await
            .map_err(|join| self.cache_error(io::Error::other(join)))?;
        match hashed {
            Ok(actual) if &actual == expected_hash => Ok(Some(cached.to_path_buf())),
            Ok(actual) => {
                tracing::warn!(
                    path = %cached.display(),
                    expected = %hex(expected_hash),
                    actual = %hex(&actual),
                    "cached model no longer matches its hash; deleting it and fetching again"
                );
                tokio::fs::remove_file(cached)
                    .await
                    .map_err(|source| StoreError::Cache {
                        path: cached.to_path_buf(),
                        source,
                    })?;
                Ok(None)
            }
            Err(error) => {
                tracing::warn!(path = %cached.display(), %error, "cached model unreadable; fetching again");
                let _ = tokio::fs::remove_file(cached).await;
                Ok(None)
            }
        }
    }

    fn parse(&self, uri: &str) -> Result<Source, StoreError> {
        if let Some(rest) = uri.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(StoreError::UnsupportedScheme {
                    uri: uri.to_string(),
                });
            }
            let path = Path::new(rest);
            return Ok(Source::File(if path.is_absolute() {
                path.to_path_buf()
            } else {
                self.base_dir.join(path)
            }));
        }
        let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return Ok(Source::Http(uri.to_string()));
        }
        Err(StoreError::UnsupportedScheme {
            uri: uri.to_string(),
        })
    }

    /// A fresh temporary file name inside the cache directory (so the final
    /// rename never crosses file systems).
    fn temp_path(&self, hash: &[u8; 32]) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.cache_dir.join(format!(
            ".{}.onnx.partial-{}-{n}",
            hex(hash),
            std::process::id()
        ))
    }

    fn cache_error(&self, source: io::Error) -> StoreError {
        StoreError::Cache {
            path: self.cache_dir.clone(),
            source,
        }
    }

    /// Copies a local file to `temp`, returning the SHA-256 of what was written.
    async fn copy_file(
        &self,
        uri: &str,
        from: PathBuf,
        temp: PathBuf,
    ) -> Result<[u8; 32], StoreError> {
        let uri = uri.to_string();
        tokio::task::spawn_blocking(move || {
            let mut source = File::open(&from).map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    StoreError::NotFound {
                        uri: uri.clone(),
                        path: from.clone(),
                    }
                } else {
                    StoreError::Read {
                        uri: uri.clone(),
                        path: from.clone(),
                        source,
                    }
                }
            })?;
            let cache_error = |source| StoreError::Cache {
                path: temp.clone(),
                source,
            };
            let mut out = File::create(&temp).map_err(cache_error)?;
            let mut hasher = Sha256::new();
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let read = match source.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(StoreError::Read {
                            uri,
                            path: from,
                            source,
                        })
                    }
                };
                hasher.update(&buffer[..read]);
                out.write_all(&buffer[..read]).map_err(cache_error)?;
            }
            out.sync_all().map_err(cache_error)?;
            Ok(hasher.finalize().into())
        })
        .await
        .map_err(|join| self.cache_error(io::Error::other(join)))?
    }

    /// Downloads `url` to `temp`, returning the SHA-256 of what was written.
    async fn download(&self, uri: &str, url: &str, temp: &Path) -> Result<[u8; 32], StoreError> {
        use tokio::io::AsyncWriteExt;
        let http_error = |source| StoreError::Http {
            uri: uri.to_string(),
            source,
        };
        let cache_error = |source| StoreError::Cache {
            path: temp.to_path_buf(),
            source,
        };
        let mut response = self.http.get(url).send().await.map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(StoreError::HttpStatus {
                uri: uri.to_string(),
                status: status.as_u16(),
            });
        }
        let mut out = tokio::fs::File::create(temp).await.map_err(cache_error)?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = response.chunk().await.map_err(http_error)? {
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(cache_error)?;
        }
        out.sync_all().await.map_err(cache_error)?;
        Ok(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BODY: &[u8] = b"not really an onnx model, but bytes with a hash";

    fn sha(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: ModelStore,
        source: PathBuf,
        cache: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir_all(base.join("models")).unwrap();
        let source = base.join("models/model.onnx");
        std::fs::write(&source, BODY).unwrap();
        let cache = dir.path().join("cache");
        Fixture {
            store: ModelStore::new(cache.clone(), base),
            _dir: dir,
            source,
            cache,
        }
    }

    fn cache_entries(cache: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(cache) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn hex_and_streamed_hash() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        let file = tempfile::NamedTempFile::new().unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(file.path(), &big).unwrap();
        assert_eq!(sha256_file(file.path()).unwrap(), sha(&big));
    }

    #[tokio::test]
    async fn fetches_a_good_absolute_file_into_the_cache() {
        let f = fixture();
        let uri = format!("file://{}", f.source.display());
        let path = f.store.fetch(&uri, &sha(BODY)).await.unwrap();
        assert_eq!(path, f.cache.join(format!("{}.onnx", hex(&sha(BODY)))));
        assert_eq!(std::fs::read(&path).unwrap(), BODY);
        assert_eq!(cache_entries(&f.cache).len(), 1, "no temporary files left");
    }

    #[tokio::test]
    async fn relative_file_uri_resolves_against_base_dir() {
        let f = fixture();
        let path = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), BODY);
    }

    #[tokio::test]
    async fn mismatched_file_is_refused_and_not_cached() {
        let f = fixture();
        let wrong = sha(b"some other model");
        let error = f
            .store
            .fetch("file://models/model.onnx", &wrong)
            .await
            .unwrap_err();
        match &error {
            StoreError::HashMismatch {
                uri,
                expected,
                actual,
            } => {
                assert_eq!(uri, "file://models/model.onnx");
                assert_eq!(expected, &hex(&wrong));
                assert_eq!(actual, &hex(&sha(BODY)));
            }
            other => panic!("expected HashMismatch, got {other:?}"),
        }
        assert!(error.to_string().contains("refusing"));
        assert!(
            cache_entries(&f.cache).is_empty(),
            "{:?}",
            cache_entries(&f.cache)
        );
    }

    #[tokio::test]
    async fn cached_file_is_reused_without_touching_the_source() {
        let f = fixture();
        let first = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap();
        std::fs::remove_file(&f.source).unwrap();
        let second = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap();
        assert_eq!(first, second);
        // Even a URI that could not be fetched is fine once the hash is cached.
        let third = f.store.fetch("ipfs://whatever", &sha(BODY)).await.unwrap();
        assert_eq!(first, third);
    }

    #[tokio::test]
    async fn cached_file_corrupted_later_is_refetched() {
        let f = fixture();
        let path = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap();
        std::fs::write(&path, b"bit rot").unwrap();
        let again = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap();
        assert_eq!(again, path);
        assert_eq!(std::fs::read(&again).unwrap(), BODY);

        // Corrupt it again and remove the source: the bad file must go and
        // the fetch must fail rather than return wrong bytes.
        std::fs::write(&path, b"bit rot").unwrap();
        std::fs::remove_file(&f.source).unwrap();
        let error = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn missing_file_and_unsupported_scheme_name_the_uri() {
        let f = fixture();
        let error = f
            .store
            .fetch("file://models/nope.onnx", &sha(BODY))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::NotFound { .. }));
        assert!(error.to_string().contains("file://models/nope.onnx"));

        for uri in [
            "ipfs://QmSomething",
            "/plain/path.onnx",
            "ftp://host/m.onnx",
            "file://",
        ] {
            let error = f.store.fetch(uri, &sha(BODY)).await.unwrap_err();
            assert!(
                matches!(error, StoreError::UnsupportedScheme { .. }),
                "{uri}: {error:?}"
            );
            assert!(error.to_string().contains(uri));
        }
        assert!(cache_entries(&f.cache).is_empty());
    }

    /// A one-shot-per-connection HTTP/1.1 server answering every request with
    /// `status` and `body`.
    async fn serve(status: &'static str, body: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn fetches_over_http_from_a_local_server() {
        let f = fixture();
        let base = serve("200 OK", BODY).await;
        let uri = format!("{base}/models/model.onnx");
        let path = f.store.fetch(&uri, &sha(BODY)).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), BODY);

        let error = f.store.fetch(&uri, &sha(b"other")).await.unwrap_err();
        assert!(
            matches!(error, StoreError::HashMismatch { .. }),
            "{error:?}"
        );
        assert_eq!(cache_entries(&f.cache).len(), 1);
    }

    #[tokio::test]
    async fn http_error_status_names_the_uri() {
        let f = fixture();
        let base = serve("404 Not Found", b"no such model").await;
        let uri = format!("{base}/missing.onnx");
        let error = f.store.fetch(&uri, &sha(BODY)).await.unwrap_err();
        assert!(
            matches!(error, StoreError::HttpStatus { status: 404, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(&uri));
        assert!(cache_entries(&f.cache).is_empty());
    }
}

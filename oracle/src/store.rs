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
//! A model's URI is chosen by whoever registered it, so it is untrusted
//! input; [`FetchLimits`] bounds what fetching it can do:
//!
//! - `file://relative/path.onnx` (against the store's `base_dir`) and
//!   `file:///absolute/path.onnx` name a regular file inside `base_dir`
//!   once canonicalized: no device, pipe or directory, no `..` or symlink
//!   out of it.
//! - `https://…`; `http://…` only when [`FetchLimits::allow_http`] is set.
//!   Every address a host name resolves to, and every redirect (at most
//!   [`MAX_REDIRECTS`]), must be public: loopback, private, link-local and
//!   other reserved ranges are refused unless the host is listed in
//!   [`FetchLimits::trusted_hosts`].
//! - At most [`FetchLimits::max_bytes`], within [`FetchLimits::timeout`]
//!   overall and [`FetchLimits::read_timeout`] between reads.
use crate::hex::encode as hex;
use reqwest::Url;
use sha2::{Digest, Sha256};
use std::{
    fs::File,
    io::{self, Read, Write},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Size of the read buffer used for streamed hashing and copying.
const CHUNK: usize = 64 * 1024;

/// Redirects followed at most, each checked like the first address.
pub const MAX_REDIRECTS: usize = 5;

/// What fetching one model may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// The largest model file accepted, in bytes.
    pub max_bytes: u64,
    /// The whole fetch, from connecting to the last byte.
    pub timeout: Duration,
    /// The longest wait for the next bytes of a download.
    pub read_timeout: Duration,
    /// Whether plain `http://` URIs are fetched (localnets and tests).
    pub allow_http: bool,
    /// Hosts fetched from although they are loopback or private: `host`
    /// (any port) or `host:port`, as written in the URI (an operator's own
    /// model mirror, a localnet).
    pub trusted_hosts: Vec<String>,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(30),
            allow_http: false,
            trusted_hosts: Vec::new(),
        }
    }
}

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("model `{uri}` has SHA-256 {actual}, but the registered model hash is {expected}; refusing it")]
    HashMismatch {
        uri: String,
        expected: String,
        actual: String,
    },
    #[error("unsupported model URI `{uri}` (supported: file://relative/path or file:///path inside the model base directory, https://…, and http://… where allowed)")]
    UnsupportedScheme { uri: String },
    #[error("model `{uri}`: {reason}; refusing it")]
    Refused { uri: String, reason: String },
    #[error("model `{uri}` is larger than the {limit}-byte limit (`fetch.max_model_bytes`); refusing it")]
    TooLarge { uri: String, limit: u64 },
    #[error("model `{uri}`: no complete download within {} s (`fetch.timeout_ms`, `fetch.read_timeout_ms`)", after.as_secs_f64())]
    TimedOut { uri: String, after: Duration },
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
    #[error("model `{uri}`: HTTP request failed: {reason}")]
    Http { uri: String, reason: String },
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
        hasher.update(buffer.get(..read).unwrap_or_default());
    }
    Ok(hasher.finalize().into())
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, link-local, shared, documentation, benchmarking, multicast,
/// broadcast or otherwise reserved (IPv4-mapped IPv6 judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // IPv4-compatible (::a.b.c.d), deprecated but still parsed.
            let v4_compatible = segments[..6].iter().all(|&s| s == 0);
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v4_compatible
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first == 0x2001 && (segments[1] == 0x0db8 || segments[1] < 0x0200))
                || first == 0x2002
                || first == 0x0064
                || (first == 0x0100 && segments[1..4].iter().all(|&s| s == 0)))
        }
    }
}

/// The rules every URL of a download (the first and each redirect) obeys.
#[derive(Clone, Debug)]
struct UrlRules {
    allow_http: bool,
    trusted_hosts: Arc<Vec<String>>,
}

impl UrlRules {
    /// Whether `host` (and `port`, when the entry names one) is trusted.
    fn trusts(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.trusted_hosts.iter().any(|entry| {
            let entry = entry.as_str();
            if entry.trim_start_matches('[').trim_end_matches(']') == host {
                return true;
            }
            match (entry.rsplit_once(':'), port) {
                (Some((entry_host, entry_port)), Some(port)) => {
                    entry_host.trim_start_matches('[').trim_end_matches(']') == host
                        && entry_port.parse() == Ok(port)
                }
                _ => false,
            }
        })
    }

    /// Whether `host` is trusted on some port (the resolver, which sees no
    /// port, lets its addresses through; the URL check holds the port).
    fn trusts_on_some_port(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.trusted_hosts.iter().any(|entry| {
            let entry_host = match entry.rsplit_once(':') {
                Some((entry_host, port)) if port.parse::<u16>().is_ok() => entry_host,
                _ => entry.as_str(),
            };
            entry_host.trim_start_matches('[').trim_end_matches(']') == host
        })
    }

    /// Whether a host's entry exists with some other port only.
    fn trusts_name_on_another_port(&self, host: &str, port: Option<u16>) -> bool {
        !self.trusts(host, port) && self.trusts_on_some_port(host)
    }

    /// Refuses a URL this store must not fetch; host names are checked
    /// again, address by address, when they are resolved.
    fn check(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(format!(
                    "plain http to {url} is not allowed (use https, or set `fetch.allow_http` on a localnet)"
                ))
            }
            other => return Err(format!("a redirect to a `{other}` URL ({url})")),
        }
        let port = url.port_or_known_default();
        let trusted = |host: &str| self.trusts(host, port);
        match url.host() {
            None => Err(format!("{url} names no host")),
            Some(url::Host::Ipv4(ip)) if !trusted(&ip.to_string()) && !is_public(ip.into()) => {
                Err(not_public(&ip.to_string()))
            }
            Some(url::Host::Ipv6(ip)) if !trusted(&ip.to_string()) && !is_public(ip.into()) => {
                Err(not_public(&ip.to_string()))
            }
            Some(url::Host::Domain(name)) if self.trusts_name_on_another_port(name, port) => {
                Err(format!("only other ports of {name} are trusted"))
            }
            Some(url::Host::Domain(name))
                if !trusted(name) && name.eq_ignore_ascii_case("localhost") =>
            {
                Err(not_public(name))
            }
            Some(_) => Ok(()),
        }
    }
}

fn not_public(host: &str) -> String {
    format!(
        "{host} is a loopback, private or reserved address (list it in `fetch.trusted_hosts` to fetch from it)"
    )
}

/// Resolves host names to their public addresses only (the trusted hosts:
/// every address), so that neither a name nor a redirect to one reaches a
/// loopback or private service.
struct PublicResolver {
    rules: UrlRules,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let trusted = self.rules.trusts_on_some_port(&host);
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = addresses
                .into_iter()
                .filter(|address| trusted || is_public(address.ip()))
                .collect();
            if usable.is_empty() {
                return Err(not_public(&host).into());
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An error and its causes on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Content-addressed cache of model files.
#[derive(Clone, Debug)]
pub struct ModelStore {
    cache_dir: PathBuf,
    base_dir: PathBuf,
    /// The cached files' extension (`onnx`; `input` for referenced inputs).
    extension: &'static str,
    limits: FetchLimits,
    rules: UrlRules,
    http: Result<reqwest::Client, String>,
}

/// Where a model comes from, parsed from its URI.
enum Source {
    File(PathBuf),
    Http(Url),
}

impl ModelStore {
    /// A store caching into `cache_dir` (created on first fetch), resolving
    /// relative `file://` URIs against `base_dir`, with the default
    /// [`FetchLimits`].
    pub fn new(cache_dir: PathBuf, base_dir: PathBuf) -> Self {
        Self::with_limits(cache_dir, base_dir, FetchLimits::default())
    }

    /// A store fetching within `limits`.
    pub fn with_limits(cache_dir: PathBuf, base_dir: PathBuf, limits: FetchLimits) -> Self {
        let rules = UrlRules {
            allow_http: limits.allow_http,
            trusted_hosts: Arc::new(limits.trusted_hosts.clone()),
        };
        let redirect_rules = rules.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL and every redirect followed.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match redirect_rules.check(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(format!("redirected: {reason}")),
            }
        });
        // Never a client without these protections: a build failure leaves
        // none, and every download then says why.
        let http = reqwest::Client::builder()
            .connect_timeout(limits.read_timeout.min(limits.timeout))
            .read_timeout(limits.read_timeout)
            .timeout(limits.timeout)
            .redirect(redirects)
            .dns_resolver(Arc::new(PublicResolver {
                rules: rules.clone(),
            }))
            .no_proxy()
            .build()
            .map_err(|error| error_chain(&error));
        ModelStore {
            cache_dir,
            base_dir,
            extension: "onnx",
            limits,
            rules,
            http,
        }
    }

    /// The same store caching files with another extension (referenced
    /// inputs, in their own directory).
    pub fn with_extension(self, extension: &'static str) -> Self {
        Self { extension, ..self }
    }

    /// The directory cached models live in.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Deletes the cached copy of the model with this hash, if any (the
    /// runner drops a model it unloads; a later fetch brings it back).
    pub fn forget(&self, hash: &[u8; 32]) {
        let path = self.cache_path(hash);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(path = %path.display(), "cached model deleted"),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot delete a cached model")
            }
        }
    }

    /// Deletes partial downloads older than the fetch timeout (left by a
    /// process stopped mid-fetch; a live fetch ends within the timeout).
    /// Returns how many.
    pub fn remove_stale_partials(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.cache_dir) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter(|entry| {
                entry.file_name().to_str().is_some_and(|name| {
                    name.starts_with('.') && name.contains(&format!(".{}.partial-", self.extension))
                })
            })
            .filter(|entry| {
                entry
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .ok()
                    .and_then(|modified| modified.elapsed().ok())
                    .is_some_and(|age| age > self.limits.timeout)
            })
            .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
            .count()
    }

    /// Where the model with this hash is (or would be) cached.
    pub fn cache_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.cache_dir
            .join(format!("{}.{}", hex(hash), self.extension))
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
            Source::Http(url) => self.download(uri, url, &temp).await,
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
        let unsupported = || StoreError::UnsupportedScheme {
            uri: uri.to_string(),
        };
        if let Some(rest) = uri.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(unsupported());
            }
            let path = Path::new(rest);
            return Ok(Source::File(if path.is_absolute() {
                path.to_path_buf()
            } else {
                self.base_dir.join(path)
            }));
        }
        let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(unsupported());
        }
        let url = Url::parse(uri).map_err(|error| StoreError::Refused {
            uri: uri.to_string(),
            reason: format!("not a URL ({error})"),
        })?;
        self.rules
            .check(&url)
            .map_err(|reason| StoreError::Refused {
                uri: uri.to_string(),
                reason,
            })?;
        Ok(Source::Http(url))
    }

    /// A fresh temporary file name inside the cache directory (so the final
    /// rename never crosses file systems).
    fn temp_path(&self, hash: &[u8; 32]) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.cache_dir.join(format!(
            ".{}.{}.partial-{}-{n}",
            hex(hash),
            self.extension,
            std::process::id()
        ))
    }

    fn cache_error(&self, source: io::Error) -> StoreError {
        StoreError::Cache {
            path: self.cache_dir.clone(),
            source,
        }
    }

    /// Copies a regular file inside the base directory to `temp`, at most
    /// `max_bytes` of it, returning the SHA-256 of what was written.
    async fn copy_file(
        &self,
        uri: &str,
        from: PathBuf,
        temp: PathBuf,
    ) -> Result<[u8; 32], StoreError> {
        let uri = uri.to_string();
        let base_dir = self.base_dir.clone();
        let max_bytes = self.limits.max_bytes;
        tokio::task::spawn_blocking(move || {
            let read_error = |source: io::Error| {
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
            };
            let refused = |reason: String| StoreError::Refused {
                uri: uri.clone(),
                reason,
            };
            let canonical = from.canonicalize().map_err(read_error)?;
            let base = base_dir.canonicalize().map_err(|source| StoreError::Read {
                uri: uri.clone(),
                path: base_dir.clone(),
                source,
            })?;
            if !canonical.starts_with(&base) {
                return Err(refused(format!(
                    "{} is outside the model base directory {} (`node.model_base_dir`)",
                    canonical.display(),
                    base.display()
                )));
            }
            // Opened without following a link swapped in since, without
            // waiting on a pipe, then judged by what was opened.
            let source = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&canonical)
                    .map_err(read_error)?
            };
            let metadata = source.metadata().map_err(read_error)?;
            if !metadata.is_file() {
                return Err(refused(format!(
                    "{} is not a regular file",
                    canonical.display()
                )));
            }
            if metadata.len() > max_bytes {
                return Err(StoreError::TooLarge {
                    uri: uri.clone(),
                    limit: max_bytes,
                });
            }
            let cache_error = |source| StoreError::Cache {
                path: temp.clone(),
                source,
            };
            let mut out = File::create(&temp).map_err(cache_error)?;
            let mut hasher = Sha256::new();
            let mut buffer = vec![0u8; CHUNK];
            // One byte past the limit tells a file that grew from one that fits.
            let mut limited = source.take(max_bytes.saturating_add(1));
            let mut written = 0u64;
            loop {
                let read = match limited.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(read_error(source)),
                };
                written = written.saturating_add(read as u64);
                if written > max_bytes {
                    return Err(StoreError::TooLarge {
                        uri: uri.clone(),
                        limit: max_bytes,
                    });
                }
                hasher.update(buffer.get(..read).unwrap_or_default());
                out.write_all(buffer.get(..read).unwrap_or_default())
                    .map_err(cache_error)?;
            }
            out.sync_all().map_err(cache_error)?;
            Ok(hasher.finalize().into())
        })
        .await
        .map_err(|join| self.cache_error(io::Error::other(join)))?
    }

    /// Downloads `url` to `temp`, at most `max_bytes` of it, returning the
    /// SHA-256 of what was written.
    async fn download(&self, uri: &str, url: Url, temp: &Path) -> Result<[u8; 32], StoreError> {
        use tokio::io::AsyncWriteExt;
        let limits = &self.limits;
        let http_error = |error: reqwest::Error| {
            if error.is_timeout() {
                StoreError::TimedOut {
                    uri: uri.to_string(),
                    after: limits.timeout.min(limits.read_timeout),
                }
            } else {
                StoreError::Http {
                    uri: uri.to_string(),
                    reason: error_chain(&error),
                }
            }
        };
        let too_large = || StoreError::TooLarge {
            uri: uri.to_string(),
            limit: limits.max_bytes,
        };
        let cache_error = |source| StoreError::Cache {
            path: temp.to_path_buf(),
            source,
        };
        let http = self.http.as_ref().map_err(|reason| StoreError::Http {
            uri: uri.to_string(),
            reason: format!("no HTTP client: {reason}"),
        })?;
        let mut response = http.get(url).send().await.map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(StoreError::HttpStatus {
                uri: uri.to_string(),
                status: status.as_u16(),
            });
        }
        if response
            .content_length()
            .is_some_and(|length| length > limits.max_bytes)
        {
            return Err(too_large());
        }
        let mut out = tokio::fs::File::create(temp).await.map_err(cache_error)?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(http_error)? {
            written = written.saturating_add(chunk.len() as u64);
            if written > limits.max_bytes {
                return Err(too_large());
            }
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
        fixture_with(FetchLimits::default())
    }

    /// The local test servers listen on 127.0.0.1 over plain http.
    fn local_http() -> FetchLimits {
        FetchLimits {
            allow_http: true,
            trusted_hosts: vec!["127.0.0.1".to_string()],
            ..FetchLimits::default()
        }
    }

    fn fixture_with(limits: FetchLimits) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir_all(base.join("models")).unwrap();
        let source = base.join("models/model.onnx");
        std::fs::write(&source, BODY).unwrap();
        let cache = dir.path().join("cache");
        Fixture {
            store: ModelStore::with_limits(cache.clone(), base, limits),
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

    /// A server answering every request with `status` and `body`.
    async fn serve(status: &'static str, body: &'static [u8]) -> String {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
            body.len()
        );
        crate::faulty::raw_http_server(head, body.to_vec(), false).await
    }

    /// A server redirecting every request to `location`.
    async fn redirect_to(location: &str) -> String {
        let head = format!(
            "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        crate::faulty::raw_http_server(head, Vec::new(), false).await
    }

    #[tokio::test]
    async fn fetches_over_http_from_a_local_server() {
        let f = fixture_with(local_http());
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
        let f = fixture_with(local_http());
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

    fn refused(error: &StoreError) -> &str {
        match error {
            StoreError::Refused { reason, .. } => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_file_uri_must_name_a_regular_file_inside_the_base_directory() {
        let f = fixture();
        let base = f.source.parent().unwrap().parent().unwrap().to_path_buf();
        std::os::unix::fs::symlink("/dev/zero", base.join("models/zero.onnx")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", base.join("models/escape.onnx")).unwrap();
        std::fs::create_dir(base.join("models/dir.onnx")).unwrap();
        let fifo = base.join("models/fifo.onnx");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        for (uri, says) in [
            (
                "file:///dev/zero".to_string(),
                "outside the model base directory",
            ),
            (
                "file://models/zero.onnx".to_string(),
                "outside the model base directory",
            ),
            (
                "file://models/escape.onnx".to_string(),
                "outside the model base directory",
            ),
            (
                "file://../../../../etc/passwd".to_string(),
                "outside the model base directory",
            ),
            ("file://models/dir.onnx".to_string(), "not a regular file"),
            (format!("file://{}", fifo.display()), "not a regular file"),
        ] {
            let error = f.store.fetch(&uri, &sha(BODY)).await.unwrap_err();
            assert!(refused(&error).contains(says), "{uri}: {error}");
            assert!(error.to_string().contains(&uri), "{error}");
        }
        assert!(cache_entries(&f.cache).is_empty());
    }

    #[tokio::test]
    async fn a_model_over_the_size_limit_is_refused_from_a_file_or_a_server() {
        let f = fixture_with(FetchLimits {
            max_bytes: BODY.len() as u64 - 1,
            ..local_http()
        });
        let error = f
            .store
            .fetch("file://models/model.onnx", &sha(BODY))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::TooLarge { .. }), "{error:?}");

        // Announced by its length, and streamed without one.
        let announced = serve("200 OK", BODY).await;
        let streamed = crate::faulty::raw_http_server(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string(),
            BODY.to_vec(),
            false,
        )
        .await;
        for base in [announced, streamed] {
            let uri = format!("{base}/model.onnx");
            let error = f.store.fetch(&uri, &sha(BODY)).await.unwrap_err();
            assert!(matches!(error, StoreError::TooLarge { .. }), "{error:?}");
            assert!(error.to_string().contains("fetch.max_model_bytes"));
        }
        assert!(cache_entries(&f.cache).is_empty());
    }

    #[tokio::test]
    async fn a_server_that_stalls_times_out() {
        let f = fixture_with(FetchLimits {
            read_timeout: Duration::from_millis(300),
            timeout: Duration::from_secs(5),
            ..local_http()
        });
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", BODY.len());
        let base = crate::faulty::raw_http_server(head, BODY[..10].to_vec(), true).await;
        let started = std::time::Instant::now();
        let error = f
            .store
            .fetch(&format!("{base}/model.onnx"), &sha(BODY))
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::TimedOut { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(4));
        assert!(cache_entries(&f.cache).is_empty());
    }

    #[tokio::test]
    async fn a_redirect_to_a_loopback_or_private_address_is_refused() {
        // Only the first server's host:port is trusted, as an operator's
        // own mirror would be.
        let target = serve("200 OK", BODY).await;
        let target_port = target.rsplit_once(':').unwrap().1.to_string();
        for location in [
            format!("{target}/model.onnx"),
            format!("http://localhost:{target_port}/model.onnx"),
            "http://169.254.169.254/latest/meta-data".to_string(),
            "http://10.0.0.1/model.onnx".to_string(),
            "http://[::1]/model.onnx".to_string(),
            "ftp://example.com/model.onnx".to_string(),
        ] {
            let mirror = redirect_to(&location).await;
            let f = fixture_with(FetchLimits {
                allow_http: true,
                trusted_hosts: vec![mirror.trim_start_matches("http://").to_string()],
                ..FetchLimits::default()
            });
            let error = f
                .store
                .fetch(&format!("{mirror}/model.onnx"), &sha(BODY))
                .await
                .unwrap_err();
            let StoreError::Http { reason, .. } = &error else {
                panic!("{location}: expected a refused redirect, got {error:?}");
            };
            assert!(reason.contains("redirected"), "{location}: {reason}");
            assert!(cache_entries(&f.cache).is_empty());
        }
    }

    #[tokio::test]
    async fn an_untrusted_private_address_or_plain_http_is_refused_before_connecting() {
        let f = fixture_with(FetchLimits {
            allow_http: true,
            ..FetchLimits::default()
        });
        for uri in [
            "http://127.0.0.1:1/model.onnx",
            "http://localhost/model.onnx",
            "http://192.168.1.10/model.onnx",
            "http://[fd00::1]/model.onnx",
            "http://[::ffff:127.0.0.1]/model.onnx",
        ] {
            let error = f.store.fetch(uri, &sha(BODY)).await.unwrap_err();
            assert!(
                refused(&error).contains("fetch.trusted_hosts"),
                "{uri}: {error}"
            );
        }
        let https_only = fixture();
        let error = https_only
            .store
            .fetch("http://example.com/model.onnx", &sha(BODY))
            .await
            .unwrap_err();
        assert!(refused(&error).contains("fetch.allow_http"), "{error}");
    }

    #[tokio::test]
    async fn host_names_resolve_to_public_addresses_only_unless_trusted() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let resolver = |trusted: &[&str]| PublicResolver {
            rules: UrlRules {
                allow_http: true,
                trusted_hosts: Arc::new(trusted.iter().map(|host| host.to_string()).collect()),
            },
        };
        let name = || reqwest::dns::Name::from_str("localhost").unwrap();
        // A name that resolves only to loopback is refused, whatever the URL
        // said; trusted by name (or by name and some port), it resolves.
        let error = match resolver(&[]).resolve(name()).await {
            Ok(_) => panic!("localhost resolved"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("fetch.trusted_hosts"), "{error}");
        for trusted in [&["localhost"][..], &["localhost:8080"]] {
            let addresses: Vec<SocketAddr> =
                resolver(trusted).resolve(name()).await.unwrap().collect();
            assert!(addresses.iter().all(|address| address.ip().is_loopback()));
        }
        // Trust by host and port is exact; brackets around IPv6 are optional.
        let rules = resolver(&["mirror.internal:8443", "[::1]:9000", "10.0.0.7"]).rules;
        assert!(rules.trusts("mirror.internal", Some(8443)));
        assert!(!rules.trusts("mirror.internal", Some(22)));
        assert!(rules.trusts_name_on_another_port("mirror.internal", Some(22)));
        assert!(rules.trusts("::1", Some(9000)) && rules.trusts("[::1]", Some(9000)));
        assert!(!rules.trusts("::1", Some(9001)));
        assert!(rules.trusts("10.0.0.7", Some(1)));
    }

    #[test]
    fn public_addresses() {
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "fec0::1",
            "2002:7f00:1::",
            "2001::1",
            "100::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }
}

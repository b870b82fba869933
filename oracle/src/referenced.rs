//! Inputs named by reference: a request may carry its input's SHA-256 and
//! URI instead of its bytes. Nodes fetch it with the model store's limits
//! (size, time, no private hosts, `file://` only inside the base directory)
//! and run it only when the bytes are the declared ones: the SHA-256 and
//! the length. A node that cannot get them does not judge the request: it
//! neither serves nor challenges it, and demands the input on chain
//! instead (`docs/protocol.md`, "Inputs by reference").
//!
//! Fetched inputs are read into memory and their cached file deleted at
//! once: an input is used a few times at most (served, re-executed, voted
//! on), each within minutes, and a cache that kept every input would grow
//! without bound.
use crate::{
    chain::{ChainClient, ChainError},
    store::{FetchLimits, ModelStore, StoreError},
};
use sibyl::{
    constants::MAX_INPUT_BYTES,
    hashing,
    state::{InferenceRequest, InputBufferHeader},
};
use std::{io, path::PathBuf, time::Duration};

/// The longest a referenced input may take to arrive (640 KiB at 32 KB/s).
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest wait for its next bytes.
pub const INPUT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request's input cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The URI did not give the declared bytes. Every honest node seeing
    /// this treats the input as unavailable: it demands it on chain.
    #[error("input `{uri}` is unavailable: {reason}")]
    Unavailable { uri: String, reason: String },
    /// This machine's cache failed (disk full, permissions): nothing is
    /// said of the input, and the step is tried again.
    #[error("input cache: {0}")]
    Local(String),
    /// The input is on chain in a buffer, and reading it failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The buffer the request names does not hold its input: the program
    /// never lets that happen, so this is a bug or a wrong RPC node.
    #[error("input buffer {buffer} does not hold the request's input")]
    BadBuffer {
        buffer: anchor_lang::prelude::Pubkey,
    },
}

/// Fetches referenced inputs.
#[derive(Clone, Debug)]
pub struct InputFetcher {
    store: ModelStore,
}

impl InputFetcher {
    /// A fetcher caching (briefly) in `cache_dir`, resolving relative
    /// `file://` URIs against `base_dir`, within `limits`, tightened for
    /// inputs: at most the protocol's input bound, [`INPUT_TIMEOUT`] in
    /// all and [`INPUT_READ_TIMEOUT`] between reads (a watcher that waited
    /// on a URI that stalls could see the challenge window close first).
    pub fn new(cache_dir: PathBuf, base_dir: PathBuf, limits: FetchLimits) -> Self {
        let limits = FetchLimits {
            max_bytes: limits.max_bytes.min(u64::from(MAX_INPUT_BYTES)),
            timeout: limits.timeout.min(INPUT_TIMEOUT),
            read_timeout: limits.read_timeout.min(INPUT_READ_TIMEOUT),
            ..limits
        };
        Self {
            store: ModelStore::with_limits(cache_dir, base_dir, limits).with_extension("input"),
        }
    }

    /// Deletes partial downloads a stopped or aborted fetch left behind;
    /// how many.
    pub fn remove_stale_partials(&self) -> usize {
        self.store.remove_stale_partials()
    }

    /// The request's input: its bytes in the request account, the input
    /// buffer a writer completed on chain, or, for an input by reference not
    /// on chain, the fetched bytes once they are the declared ones.
    pub async fn input_of(
        &self,
        state: &InferenceRequest,
        chain: &ChainClient,
    ) -> Result<Vec<u8>, InputError> {
        if !state.is_by_reference() {
            return Ok(state.input.clone());
        }
        if state.input_complete() {
            let buffer = state.input_buffer;
            let data = chain.raw_account(&buffer, "input buffer").await?;
            return data
                .as_deref()
                .and_then(InputBufferHeader::parse)
                .map(|(_, input)| input)
                .filter(|input| {
                    input.len() == state.input_len as usize
                        && hashing::input_hash(input) == state.input_hash
                })
                .map(<[u8]>::to_vec)
                .ok_or(InputError::BadBuffer { buffer });
        }
        let uri = state.input_uri.clone();
        let unavailable = |reason: String| InputError::Unavailable {
            uri: uri.clone(),
            reason,
        };
        let path = match self.store.fetch(&uri, &state.input_hash).await {
            Ok(path) => path,
            Err(StoreError::Cache { path, source }) => {
                return Err(InputError::Local(format!("{}: {source}", path.display())))
            }
            Err(err) => return Err(unavailable(reason(err))),
        };
        let read = tokio::fs::read(&path).await;
        self.store.forget(&state.input_hash);
        let bytes = read.map_err(|err: io::Error| {
            InputError::Local(format!("reading {}: {err}", path.display()))
        })?;
        if bytes.len() != state.input_len as usize {
            return Err(unavailable(format!(
                "{} bytes with the declared SHA-256, but the request declares {} bytes",
                bytes.len(),
                state.input_len
            )));
        }
        Ok(bytes)
    }
}

/// Why a fetch failed, in an input's terms (the store speaks of models).
fn reason(err: StoreError) -> String {
    match err {
        StoreError::HashMismatch {
            expected, actual, ..
        } => format!("its bytes have SHA-256 {actual}, but the request declares {expected}"),
        StoreError::UnsupportedScheme { .. } => {
            "unsupported URI (https://…, or file://… inside the node's base directory)".into()
        }
        StoreError::Refused { reason, .. } => reason,
        StoreError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
        StoreError::TimedOut { after, .. } => {
            format!("no complete download within {} s", after.as_secs_f64())
        }
        StoreError::NotFound { path, .. } => format!("file {} not found", path.display()),
        StoreError::Read { path, source, .. } => format!("reading {}: {source}", path.display()),
        StoreError::HttpStatus { status, .. } => format!("HTTP status {status}"),
        StoreError::Http { reason, .. } => format!("HTTP request failed: {reason}"),
        StoreError::Cache { path, source } => format!("cache {}: {source}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use sibyl::{hashing::input_hash, state::RequestStatus};

    struct Fixture {
        _dir: tempfile::TempDir,
        base: PathBuf,
        cache: PathBuf,
        fetcher: InputFetcher,
        /// Never reached: these inputs are not on chain.
        chain: ChainClient,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&base).unwrap();
        let fetcher = InputFetcher::new(cache.clone(), base.clone(), FetchLimits::default());
        let chain = ChainClient::new(
            "http://127.0.0.1:1",
            "ws://127.0.0.1:1",
            std::sync::Arc::new(solana_keypair::Keypair::new()),
            Default::default(),
        );
        Fixture {
            _dir: dir,
            base,
            cache,
            fetcher,
            chain,
        }
    }

    fn by_reference(bytes: &[u8], uri: &str) -> InferenceRequest {
        let mut state = test_support::request(RequestStatus::Pending);
        state.input_uri = uri.to_string();
        state.input_hash = input_hash(bytes);
        state.input_len = bytes.len() as u32;
        state.input = Vec::new();
        state
    }

    #[tokio::test]
    async fn a_referenced_input_is_fetched_checked_and_not_kept() {
        let f = fixture();
        std::fs::write(f.base.join("in.bin"), b"the declared bytes").unwrap();
        let state = by_reference(b"the declared bytes", "file://in.bin");
        let bytes = f.fetcher.input_of(&state, &f.chain).await.unwrap();
        assert_eq!(bytes, b"the declared bytes");
        let left: Vec<_> = std::fs::read_dir(&f.cache).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn other_bytes_a_missing_file_or_another_length_are_unavailable() {
        let f = fixture();
        std::fs::write(f.base.join("in.bin"), b"other bytes").unwrap();
        let state = by_reference(b"the declared bytes", "file://in.bin");
        let err = f.fetcher.input_of(&state, &f.chain).await.unwrap_err();
        assert!(
            matches!(&err, InputError::Unavailable { reason, .. } if reason.contains("the request declares")),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("input `file://in.bin`"),
            "{err}"
        );

        let state = by_reference(b"x", "file://nowhere.bin");
        let err = f.fetcher.input_of(&state, &f.chain).await.unwrap_err();
        assert!(
            matches!(&err, InputError::Unavailable { reason, .. } if reason.contains("not found")),
            "{err}"
        );

        // The declared hash with a declared length that is not its own.
        std::fs::write(f.base.join("in.bin"), b"the declared bytes").unwrap();
        let mut state = by_reference(b"the declared bytes", "file://in.bin");
        state.input_len += 1;
        let err = f.fetcher.input_of(&state, &f.chain).await.unwrap_err();
        assert!(
            matches!(&err, InputError::Unavailable { reason, .. } if reason.contains("declares 19 bytes")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_input_the_request_carries_is_read_from_the_account() {
        let f = fixture();
        let mut state = test_support::request(RequestStatus::Pending);
        state.input = b"on chain".to_vec();
        state.input_len = 8;
        assert_eq!(
            f.fetcher.input_of(&state, &f.chain).await.unwrap(),
            b"on chain"
        );
    }
}

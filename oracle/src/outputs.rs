//! Whole outputs, kept and served by their SHA-256. A model whose outputs
//! have views commits only a result on chain (its top-k classes, a slice);
//! the node keeps each whole output it commits or challenges with in a
//! directory named by hash and serves it at `GET /outputs/<sha256 hex>`,
//! the URL its operator account advertises. Outputs are named by hash, so
//! a client may fetch one from any node and checks it
//! ([`check_whole_output`]).
use crate::{chain::ChainClient, hex};
use sibyl::state::{project, InferenceRequest, Operator, OutputView};
use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// Why a fetched whole output was refused.
#[derive(Debug, thiserror::Error)]
pub enum WholeOutputError {
    #[error("the bytes served hash to {got}, not the request's whole output {expected}")]
    WrongHash { expected: String, got: String },
    #[error("the whole output's views are not the result on chain: {reason}")]
    NotTheResult { reason: String },
    #[error("no operator served the whole output {sha256}:{}", if tried.is_empty() { " no operator names an output URL".to_string() } else { tried.iter().map(|line| format!("\n  {line}")).collect::<String>() })]
    Unavailable { sha256: String, tried: Vec<String> },
}

/// The most a client reads of one whole output.
pub const MAX_WHOLE_OUTPUT_BYTES: usize = 64 << 20;
/// How long a client waits for one whole output.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// A request's whole output, fetched from the operators' output URLs (the
/// committing operator's first, then every other: outputs are named by
/// hash, so any node's copy will do) and checked ([`check_whole_output`]);
/// with the URL it came from.
pub async fn fetch_whole_output(
    chain: &ChainClient,
    state: &InferenceRequest,
) -> Result<(Vec<u8>, String), WholeOutputError> {
    let sha256 = hex::encode(&state.whole_output_sha256);
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|err| WholeOutputError::Unavailable {
            sha256: sha256.clone(),
            tried: vec![err.to_string()],
        })?;
    let mut tried = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    // The committer's node first; every operator is listed only if it
    // does not serve the output.
    let committer = chain.fetch::<Operator>(&state.operator, "operator").await;
    let first = committer.ok().flatten().map(|operator| operator.output_url);
    for round in 0..2 {
        let urls: Vec<String> = if round == 0 {
            first.iter().cloned().collect()
        } else {
            chain
                .program_accounts::<Operator>("operator", Vec::new())
                .await
                .map(|operators| operators.into_iter().map(|(_, op)| op.output_url).collect())
                .unwrap_or_default()
        };
        for base in urls {
            if base.is_empty() || seen.contains(&base) {
                continue;
            }
            seen.push(base.clone());
            let url = format!("{}/outputs/{sha256}", base.trim_end_matches('/'));
            match get_bounded(&client, &url).await {
                Ok(whole) => match check_whole_output(state, &whole) {
                    Ok(()) => return Ok((whole, url)),
                    Err(err) => tried.push(format!("{base}: {err}")),
                },
                Err(reason) => tried.push(format!("{base}: {reason}")),
            }
        }
    }
    Err(WholeOutputError::Unavailable { sha256, tried })
}

/// The body at `url`, refused past [`MAX_WHOLE_OUTPUT_BYTES`].
async fn get_bounded(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| err.to_string())? {
        if body.len() + chunk.len() > MAX_WHOLE_OUTPUT_BYTES {
            return Err(format!("more than {MAX_WHOLE_OUTPUT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks bytes fetched as a request's whole output: they hash to its
/// `whole_output_sha256`, and their views are its result on chain, byte
/// for byte (the result was taken from this whole output, so a client
/// shows only what was judged, and more of it).
pub fn check_whole_output(state: &InferenceRequest, whole: &[u8]) -> Result<(), WholeOutputError> {
    let got = sibyl::hashing::whole_output_sha256(whole);
    if got != state.whole_output_sha256 {
        return Err(WholeOutputError::WrongHash {
            expected: hex::encode(&state.whole_output_sha256),
            got: hex::encode(&got),
        });
    }
    match project(&state.output_views, whole) {
        Ok(result) if result == state.output => Ok(()),
        Ok(_) => Err(WholeOutputError::NotTheResult {
            reason: "another result".into(),
        }),
        Err(err) => Err(WholeOutputError::NotTheResult {
            reason: err.to_string(),
        }),
    }
}

/// The output store could not keep an output.
#[derive(Debug, thiserror::Error)]
#[error("cannot keep a whole output in {dir}: {source}")]
pub struct OutputStoreError {
    dir: String,
    #[source]
    source: std::io::Error,
}

/// Whether a request's result leaves part of its output off chain: some
/// output has a view other than whole.
pub fn has_off_chain_output(state: &InferenceRequest) -> bool {
    !OutputView::all_whole(&state.output_views)
}

/// The directory of whole outputs, one file per output named by its hash.
#[derive(Clone, Debug)]
pub struct OutputStore {
    dir: PathBuf,
}

impl OutputStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path_of(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(hex::encode(sha256))
    }

    /// Keeps `whole` under its hash before the commitment that names it is
    /// sent (written to a temporary file, synced, then renamed, so that a
    /// crash leaves it whole or absent); its hash.
    pub async fn put(&self, whole: &[u8]) -> Result<[u8; 32], OutputStoreError> {
        self.write(whole).await.map_err(|source| OutputStoreError {
            dir: self.dir.display().to_string(),
            source,
        })
    }

    async fn write(&self, whole: &[u8]) -> std::io::Result<[u8; 32]> {
        let sha256 = sibyl::hashing::whole_output_sha256(whole);
        let path = self.path_of(&sha256);
        if tokio::fs::try_exists(&path).await? {
            return Ok(sha256);
        }
        tokio::fs::create_dir_all(&self.dir).await?;
        let temp = self.dir.join(format!(".{}.partial", hex::encode(&sha256)));
        let file = tokio::fs::File::create(&temp).await?;
        {
            use tokio::io::AsyncWriteExt;
            let mut file = file;
            file.write_all(whole).await?;
            file.sync_all().await?;
        }
        tokio::fs::rename(&temp, &path).await?;
        Ok(sha256)
    }

    /// The whole output of this hash, if kept; bytes that no longer hash to
    /// their name (a damaged disk) are not served.
    pub async fn get(&self, sha256: &[u8; 32]) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path_of(sha256)).await {
            Ok(bytes) if sibyl::hashing::whole_output_sha256(&bytes) == *sha256 => Ok(Some(bytes)),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Deletes outputs (and partial writes) older than `retention`; how many.
    pub fn remove_older_than(&self, retention: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let cutoff = SystemTime::now().checked_sub(retention);
        entries
            .filter_map(Result::ok)
            .filter(|entry| {
                let modified = entry.metadata().and_then(|meta| meta.modified()).ok();
                matches!((modified, cutoff), (Some(modified), Some(cutoff)) if modified < cutoff)
            })
            .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
            .count()
    }

    /// The directory (for logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// `GET /outputs/<sha256 hex>`: the whole output, as
/// `application/octet-stream`, readable from any origin (the web app
/// fetches it from the browser); 404 for an unknown or malformed hash.
pub fn router(store: OutputStore) -> axum::Router {
    use axum::{
        extract::Path as UrlPath,
        http::{header, StatusCode},
        response::IntoResponse,
        routing::get,
    };
    axum::Router::new().route(
        "/outputs/{sha256}",
        get(move |UrlPath(name): UrlPath<String>| {
            let store = store.clone();
            async move {
                let cors = (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
                let Some(sha256) = hex::decode_hash(&name) else {
                    return (StatusCode::NOT_FOUND, [cors], Vec::new()).into_response();
                };
                match store.get(&sha256).await {
                    Ok(Some(bytes)) => (
                        StatusCode::OK,
                        [cors, (header::CONTENT_TYPE, "application/octet-stream")],
                        bytes,
                    )
                        .into_response(),
                    Ok(None) => (StatusCode::NOT_FOUND, [cors], Vec::new()).into_response(),
                    Err(err) => {
                        tracing::warn!(%err, dir = %store.dir().display(), "cannot read a kept output");
                        (StatusCode::INTERNAL_SERVER_ERROR, [cors], Vec::new()).into_response()
                    }
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{encode, Tensor};

    #[tokio::test]
    async fn an_output_is_kept_by_its_hash_and_a_damaged_one_is_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = OutputStore::new(dir.path().join("outputs"));
        let whole = encode(&[Tensor::from_f32("logits", vec![1, 3], &[0.1, 0.7, 0.2]).unwrap()]);
        let sha256 = store.put(&whole).await.unwrap();
        assert_eq!(sha256, sibyl::hashing::whole_output_sha256(&whole));
        assert_eq!(
            store.put(&whole).await.unwrap(),
            sha256,
            "again: the same file"
        );
        assert_eq!(store.get(&sha256).await.unwrap(), Some(whole.clone()));
        assert_eq!(store.get(&[0; 32]).await.unwrap(), None);
        std::fs::write(store.path_of(&sha256), b"damaged").unwrap();
        assert_eq!(store.get(&sha256).await.unwrap(), None);
        assert_eq!(store.remove_older_than(Duration::from_secs(3600)), 0);
        assert_eq!(store.remove_older_than(Duration::ZERO), 1);
    }

    #[test]
    fn a_fetched_whole_output_must_hash_right_and_project_to_the_result() {
        let logits = Tensor::from_f32("logits", vec![1, 3], &[0.1, 0.7, 0.2]).unwrap();
        let whole = encode(&[logits]);
        let mut state = crate::test_support::request(sibyl::state::RequestStatus::Finalized);
        state.output_views = vec![OutputView::TopK { k: 1, scale: 100 }];
        state.output = project(&state.output_views, &whole).unwrap();
        state.whole_output_sha256 = sibyl::hashing::whole_output_sha256(&whole);
        assert!(has_off_chain_output(&state));
        check_whole_output(&state, &whole).unwrap();
        let other = encode(&[Tensor::from_f32("logits", vec![1, 3], &[0.8, 0.1, 0.1]).unwrap()]);
        assert!(matches!(
            check_whole_output(&state, &other),
            Err(WholeOutputError::WrongHash { .. })
        ));
        // The right hash, but not the whole output the result came from.
        state.whole_output_sha256 = sibyl::hashing::whole_output_sha256(&other);
        assert!(matches!(
            check_whole_output(&state, &other),
            Err(WholeOutputError::NotTheResult { .. })
        ));
    }
}

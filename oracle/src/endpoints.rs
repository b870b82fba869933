//! Several RPC endpoints of one cluster behind one RPC client: requests go
//! to the endpoint in use; when it fails as an endpoint (unreachable, a
//! timeout, an HTTP error status, or a node that says it is behind), the
//! request is tried at the next one, each endpoint once, and the first that
//! answers stays in use. Answers of the program or the runtime (a refused
//! transaction, a missing account) are answers, not failures.
//!
//! Sending is stricter: a `sendTransaction` moves to the next endpoint only
//! when it could not even connect, so it surely never left. Any other
//! failure may have come after the endpoint took it (a timeout, a proxy's
//! 502), and is returned as it is: `ChainClient` then watches the signature
//! as possibly sent, and never signs afresh until its blockhash expired. (A
//! lagging endpoint asked instead could refuse the same bytes for an unknown
//! blockhash, and a second signing could land beside the first.)
//!
//! An endpoint that answers but lags is no use to a watcher whose challenge
//! windows are a few slots long: [`Endpoints::check`] (the node's status
//! service calls it) reads every endpoint's slot and uses the first, in the
//! order given, within [`MAX_LAG_SLOTS`] of the furthest along. So the node
//! leaves a lagging endpoint, and comes back to the first once it caught up.
//! Each endpoint connects within [`CONNECT_TIMEOUT`], so one that is
//! unreachable costs little.
use async_trait::async_trait;
use solana_rpc_client::{
    http_sender::HttpSender,
    rpc_sender::{RpcSender, RpcTransportStats},
};
use solana_rpc_client_api::{
    client_error::{Error as ClientError, ErrorKind, Result},
    custom_error::JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY,
    request::{RpcError, RpcRequest},
};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

/// How long connecting to an endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take (as Solana's own client).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Endpoints::check`] reads the endpoints' slots.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);
/// How long a check waits for one endpoint's slot.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How far behind the furthest endpoint one may be and still be used.
pub const MAX_LAG_SLOTS: u64 = 10;

/// Several endpoints of one cluster, in the order given, and which one is in
/// use: shared by the RPC client's sender and [`Endpoints::check`].
pub struct Endpoints {
    list: Vec<(String, HttpSender)>,
    in_use: AtomicUsize,
    last_check: Mutex<Option<Instant>>,
}

/// The [`RpcSender`] over [`Endpoints`].
pub struct FailoverSender(Arc<Endpoints>);

impl Endpoints {
    /// Endpoints at `urls` (at least one; the first is used first).
    pub fn new(urls: &[String]) -> Arc<Self> {
        Arc::new(Self {
            list: urls
                .iter()
                .map(|url| (url.clone(), http_sender(url)))
                .collect(),
            in_use: AtomicUsize::new(0),
            last_check: Mutex::new(None),
        })
    }

    /// The sender an RPC client sends through.
    pub fn sender(self: &Arc<Self>) -> FailoverSender {
        FailoverSender(self.clone())
    }

    /// The endpoint in use, by its place in the order given.
    pub fn in_use_index(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The URL of the endpoint in use.
    pub fn in_use(&self) -> &str {
        self.endpoint(self.in_use.load(Ordering::Relaxed))
            .map_or("", |(url, _)| url.as_str())
    }

    /// Reads every endpoint's slot (at most once every [`CHECK_EVERY`]) and
    /// uses the first endpoint, in the order given, within
    /// [`MAX_LAG_SLOTS`] of the furthest along.
    pub async fn check(&self) {
        if self.list.len() < 2 {
            return;
        }
        {
            let mut last = self
                .last_check
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let params = serde_json::json!([{"commitment": "confirmed"}]);
        let slots = futures_util::future::join_all(self.list.iter().map(|(_, sender)| {
            let params = params.clone();
            async move {
                tokio::time::timeout(CHECK_TIMEOUT, sender.send(RpcRequest::GetSlot, params))
                    .await
                    .ok()?
                    .ok()?
                    .as_u64()
            }
        }))
        .await;
        let Some(furthest) = slots.iter().flatten().max().copied() else {
            return;
        };
        let Some(choice) = slots.iter().position(|slot| {
            slot.is_some_and(|slot| slot.saturating_add(MAX_LAG_SLOTS) >= furthest)
        }) else {
            return;
        };
        let previous = self.in_use.swap(choice, Ordering::Relaxed);
        if previous != choice {
            tracing::warn!(
                endpoint = %crate::config::redact_url(self.in_use()),
                slot = slots.get(choice).copied().flatten(),
                furthest,
                left_slot = slots.get(previous).copied().flatten(),
                "RPC endpoint in use from now on (the first one caught up with the furthest)"
            );
        }
    }

    fn endpoint(&self, index: usize) -> Option<&(String, HttpSender)> {
        self.list.get(index % self.list.len().max(1))
    }
}

/// Solana's HTTP sender, connecting within [`CONNECT_TIMEOUT`].
fn http_sender(url: &str) -> HttpSender {
    match reqwest::Client::builder()
        .default_headers(HttpSender::default_headers())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .pool_idle_timeout(REQUEST_TIMEOUT)
        .build()
    {
        Ok(client) => HttpSender::new_with_client(url, client),
        Err(error) => {
            tracing::warn!(%error, "building the HTTP client; using Solana's default");
            HttpSender::new(url)
        }
    }
}

/// Whether `error` surely came before the request left: it could not
/// connect.
fn never_sent(error: &ClientError) -> bool {
    matches!(error.kind(), ErrorKind::Reqwest(error) if error.is_connect())
}

/// Whether `error` says the endpoint failed, rather than answered.
pub fn is_endpoint_failure(error: &ClientError) -> bool {
    match error.kind() {
        ErrorKind::Io(_) | ErrorKind::Reqwest(_) | ErrorKind::Middleware(_) => true,
        ErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => {
            *code == JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY
        }
        _ => false,
    }
}

#[async_trait]
impl RpcSender for FailoverSender {
    async fn send(
        &self,
        request: RpcRequest,
        params: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let endpoints = &*self.0;
        let first = endpoints.in_use.load(Ordering::Relaxed);
        let mut last_failure = None;
        for step in 0..endpoints.list.len() {
            let index = (first + step) % endpoints.list.len();
            let Some((url, sender)) = endpoints.endpoint(index) else {
                break;
            };
            match sender.send(request, params.clone()).await {
                // A transaction that may have left is not sent elsewhere
                // (see the module's comment).
                Err(error) if request == RpcRequest::SendTransaction && !never_sent(&error) => {
                    return Err(error);
                }
                Err(error) if is_endpoint_failure(&error) => {
                    // Debug only: in an outage of every endpoint each request
                    // would say it; readiness and `sibyl_rpc_errors_total` do.
                    if endpoints.list.len() > 1 {
                        tracing::debug!(
                            endpoint = %crate::config::redact_url(url),
                            %error,
                            "RPC endpoint failed; trying the next"
                        );
                    }
                    last_failure = Some(error);
                }
                answer => {
                    // Only the request that saw its first endpoint fail moves
                    // the node, and only off that endpoint: a late answer
                    // does not undo a later move.
                    if index != first
                        && endpoints
                            .in_use
                            .compare_exchange(first, index, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                    {
                        tracing::warn!(
                            endpoint = %crate::config::redact_url(url),
                            "RPC endpoint in use from now on"
                        );
                    }
                    return answer;
                }
            }
        }
        Err(last_failure
            .unwrap_or_else(|| ErrorKind::Custom("no RPC endpoint configured".into()).into()))
    }

    fn get_transport_stats(&self) -> RpcTransportStats {
        self.0
            .endpoint(self.0.in_use.load(Ordering::Relaxed))
            .map(|(_, sender)| sender.get_transport_stats())
            .unwrap_or_default()
    }

    fn url(&self) -> String {
        self.0.in_use().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_rpc_client::nonblocking::rpc_client::RpcClient;

    /// A local JSON-RPC endpoint that answers `getSlot` with `slot`.
    async fn answering(slot: u64) -> String {
        let body = format!(r#"{{"jsonrpc":"2.0","result":{slot},"id":1}}"#);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        crate::faulty::raw_http_server(head, body.into_bytes(), false).await
    }

    /// An address nothing listens on.
    fn unreachable() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}")
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_skipped_and_the_next_stays_in_use() {
        let (dead, live) = (unreachable(), answering(42).await);
        let sender = Endpoints::new(&[dead, live.clone()]).sender();
        let client = RpcClient::new_sender(sender, Default::default());
        assert_eq!(client.get_slot().await.unwrap(), 42);
        assert_eq!(client.url(), live);
        assert_eq!(client.get_slot().await.unwrap(), 42);
    }

    #[tokio::test]
    async fn an_answer_is_not_a_failure() {
        // An endpoint that answers with an error (here: a bad request) is
        // an answer: the next endpoint is not asked.
        let refusing = {
            let body =
                r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params"},"id":1}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            crate::faulty::raw_http_server(head, body.as_bytes().to_vec(), false).await
        };
        let sender = Endpoints::new(&[refusing.clone(), answering(7).await]).sender();
        let client = RpcClient::new_sender(sender, Default::default());
        let error = client.get_slot().await.unwrap_err();
        assert!(!is_endpoint_failure(&error), "{error}");
        assert_eq!(client.url(), refusing);
    }

    #[tokio::test]
    async fn a_transaction_that_may_have_left_is_not_sent_elsewhere() {
        let bad_gateway = crate::faulty::raw_http_server(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
            Vec::new(),
            false,
        )
        .await;
        let params = serde_json::json!(["AQ==", {"encoding": "base64"}]);
        // A 502 may come after the endpoint took the transaction: returned
        // as it is, the next endpoint is not asked.
        let sender = Endpoints::new(&[bad_gateway, answering(1).await]).sender();
        let error = sender
            .send(RpcRequest::SendTransaction, params.clone())
            .await
            .unwrap_err();
        assert!(is_endpoint_failure(&error), "{error}");
        // A read moves on.
        assert_eq!(
            sender
                .send(RpcRequest::GetSlot, serde_json::Value::Null)
                .await
                .unwrap(),
            serde_json::json!(1)
        );
        // One that could not connect surely never left: it moves on.
        let sender = Endpoints::new(&[unreachable(), answering(2).await]).sender();
        assert_eq!(
            sender
                .send(RpcRequest::SendTransaction, params)
                .await
                .unwrap(),
            serde_json::json!(2)
        );
    }

    #[tokio::test]
    async fn a_lagging_endpoint_is_left_and_the_first_is_used_again_once_caught_up() {
        // The first answers but is 50 slots behind: the check moves on.
        let (behind, ahead) = (answering(50).await, answering(100).await);
        let endpoints = Endpoints::new(&[behind, ahead.clone()]);
        endpoints.check().await;
        assert_eq!(endpoints.in_use(), ahead);
        // Within MAX_LAG_SLOTS of the furthest, the first one is preferred.
        let (caught_up, ahead) = (answering(95).await, answering(100).await);
        let endpoints = Endpoints::new(&[caught_up.clone(), ahead]);
        endpoints.in_use.store(1, Ordering::Relaxed);
        endpoints.check().await;
        assert_eq!(endpoints.in_use(), caught_up);
        // An endpoint that does not answer is never chosen.
        let live = answering(7).await;
        let endpoints = Endpoints::new(&[unreachable(), live.clone()]);
        endpoints.check().await;
        assert_eq!(endpoints.in_use(), live);
        // And a second check within CHECK_EVERY reads nothing.
        endpoints.in_use.store(0, Ordering::Relaxed);
        endpoints.check().await;
        assert_eq!(endpoints.in_use.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn when_every_endpoint_fails_the_last_failure_is_returned() {
        let sender = Endpoints::new(&[unreachable(), unreachable()]).sender();
        let client = RpcClient::new_sender(sender, Default::default());
        let error = client.get_slot().await.unwrap_err();
        assert!(is_endpoint_failure(&error), "{error}");
    }
}

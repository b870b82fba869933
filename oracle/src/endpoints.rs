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
//! Every [`PRIMARY_RETRY`] a request tries the first endpoint again, so a
//! node comes back to it once it recovers; each endpoint connects within
//! [`CONNECT_TIMEOUT`], so one that is unreachable costs little.
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
        Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

/// How long connecting to an endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take (as Solana's own client).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after moving off the first endpoint it is tried again.
pub const PRIMARY_RETRY: Duration = Duration::from_secs(60);

/// An [`RpcSender`] over several endpoints, in the order given.
pub struct FailoverSender {
    endpoints: Vec<(String, HttpSender)>,
    in_use: AtomicUsize,
    /// When the node last moved off the first endpoint (or last tried it
    /// again).
    left_primary: Mutex<Option<Instant>>,
}

impl FailoverSender {
    /// A sender over `urls` (at least one; the first is used first).
    pub fn new(urls: &[String]) -> Self {
        Self {
            endpoints: urls
                .iter()
                .map(|url| (url.clone(), http_sender(url)))
                .collect(),
            in_use: AtomicUsize::new(0),
            left_primary: Mutex::new(None),
        }
    }

    /// The endpoint to ask first: the one in use, or the first one again
    /// once [`PRIMARY_RETRY`] passed since the node left it.
    fn first_to_ask(&self) -> usize {
        let in_use = self.in_use.load(Ordering::Relaxed);
        if in_use == 0 {
            return 0;
        }
        let mut left = self
            .left_primary
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *left {
            Some(at) if at.elapsed() < PRIMARY_RETRY => in_use,
            _ => {
                // Try it now, and again a period later if it still fails.
                *left = Some(Instant::now());
                0
            }
        }
    }

    fn endpoint(&self, index: usize) -> Option<&(String, HttpSender)> {
        self.endpoints.get(index % self.endpoints.len().max(1))
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
        let first = self.first_to_ask();
        let mut last_failure = None;
        for step in 0..self.endpoints.len() {
            let index = (first + step) % self.endpoints.len();
            let Some((url, sender)) = self.endpoint(index) else {
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
                    if self.endpoints.len() > 1 {
                        tracing::debug!(
                            endpoint = %crate::config::redact_url(url),
                            %error,
                            "RPC endpoint failed; trying the next"
                        );
                    }
                    last_failure = Some(error);
                }
                answer => {
                    let in_use = self.in_use.load(Ordering::Relaxed);
                    // Only a request that saw the move records it: a late
                    // answer does not move the node back.
                    if index != in_use
                        && (index == first || in_use == first)
                        && self
                            .in_use
                            .compare_exchange(in_use, index, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                    {
                        if in_use == 0 {
                            *self
                                .left_primary
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                        }
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
        self.endpoint(self.in_use.load(Ordering::Relaxed))
            .map(|(_, sender)| sender.get_transport_stats())
            .unwrap_or_default()
    }

    fn url(&self) -> String {
        self.endpoint(self.in_use.load(Ordering::Relaxed))
            .map(|(url, _)| url.clone())
            .unwrap_or_default()
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
        let sender = FailoverSender::new(&[dead, live.clone()]);
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
        let sender = FailoverSender::new(&[refusing.clone(), answering(7).await]);
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
        let sender = FailoverSender::new(&[bad_gateway, answering(1).await]);
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
        let sender = FailoverSender::new(&[unreachable(), answering(2).await]);
        assert_eq!(
            sender
                .send(RpcRequest::SendTransaction, params)
                .await
                .unwrap(),
            serde_json::json!(2)
        );
    }

    #[tokio::test]
    async fn when_every_endpoint_fails_the_last_failure_is_returned() {
        let sender = FailoverSender::new(&[unreachable(), unreachable()]);
        let client = RpcClient::new_sender(sender, Default::default());
        let error = client.get_slot().await.unwrap_err();
        assert!(is_endpoint_failure(&error), "{error}");
    }
}

//! Several RPC endpoints of one cluster behind one RPC client: requests go
//! to the endpoint in use; when it fails as an endpoint (unreachable, a
//! timeout, an HTTP error status, or a node that says it is behind), the
//! request is tried at the next one, each endpoint once, and the first that
//! answers stays in use. Answers of the program or the runtime (a refused
//! transaction, a missing account) are answers, not failures.
//!
//! Safe for sending: a transaction sent again elsewhere is the same signed
//! bytes, which land once at most; and `ChainClient` judges expiry only from
//! a read at least as far along as the slot it saw (whichever endpoint
//! answers).
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
use std::sync::atomic::{AtomicUsize, Ordering};

/// An [`RpcSender`] over several endpoints, in the order given.
pub struct FailoverSender {
    endpoints: Vec<(String, HttpSender)>,
    in_use: AtomicUsize,
}

impl FailoverSender {
    /// A sender over `urls` (at least one; the first is used first).
    pub fn new(urls: &[String]) -> Self {
        Self {
            endpoints: urls
                .iter()
                .map(|url| (url.clone(), HttpSender::new(url)))
                .collect(),
            in_use: AtomicUsize::new(0),
        }
    }

    fn endpoint(&self, index: usize) -> Option<&(String, HttpSender)> {
        self.endpoints.get(index % self.endpoints.len().max(1))
    }
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
        let first = self.in_use.load(Ordering::Relaxed);
        let mut last_failure = None;
        for step in 0..self.endpoints.len() {
            let index = (first + step) % self.endpoints.len();
            let Some((url, sender)) = self.endpoint(index) else {
                break;
            };
            match sender.send(request, params.clone()).await {
                Err(error) if is_endpoint_failure(&error) => {
                    if self.endpoints.len() > 1 {
                        tracing::warn!(
                            endpoint = %crate::config::redact_url(url),
                            %error,
                            "RPC endpoint failed; trying the next"
                        );
                    }
                    last_failure = Some(error);
                }
                answer => {
                    if index != first {
                        self.in_use.store(index, Ordering::Relaxed);
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
    async fn when_every_endpoint_fails_the_last_failure_is_returned() {
        let sender = FailoverSender::new(&[unreachable(), unreachable()]);
        let client = RpcClient::new_sender(sender, Default::default());
        let error = client.get_slot().await.unwrap_err();
        assert!(is_endpoint_failure(&error), "{error}");
    }
}

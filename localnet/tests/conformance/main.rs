//! The localnet driven only through `solana-client`'s `RpcClient` (and raw
//! HTTP for malformed requests), checking Agave's result shapes and errors.
mod errors;
mod history;
mod lifecycle;
mod load;
mod methods;
mod pubsub;

use sibyl_localnet::{Localnet, LocalnetConfig};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;

/// A localnet on a free port with 50 ms slots, and a client for it.
pub async fn start() -> (Localnet, RpcClient) {
    let localnet = Localnet::start(LocalnetConfig::for_tests())
        .await
        .expect("localnet starts");
    let client = RpcClient::new_with_commitment(localnet.rpc_url(), CommitmentConfig::confirmed());
    (localnet, client)
}

/// Posts a raw JSON-RPC body and returns the parsed response.
pub async fn post_raw(localnet: &Localnet, body: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(localnet.rpc_url())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("http")
        .json()
        .await
        .expect("json response")
}

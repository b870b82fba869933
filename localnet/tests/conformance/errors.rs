//! Errors answered with Agave's codes and messages.
use crate::{funded, post_raw, start, transfer};
use serde_json::json;
use solana_keypair::Keypair;
use solana_rpc_client_api::{
    client_error::ErrorKind,
    request::{RpcError, RpcResponseErrorData},
};
use solana_rpc_client_types::response::RpcSimulateTransactionResult;
use solana_signer::Signer;
use solana_transaction_error::TransactionError;

#[tokio::test]
async fn malformed_and_unknown_requests() {
    let (localnet, _client) = start().await;
    let parse = post_raw(&localnet, "{not json").await;
    assert_eq!(
        parse,
        json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})
    );
    let unknown = post_raw(
        &localnet,
        r#"{"jsonrpc":"2.0","id":1,"method":"getBlockProduction"}"#,
    )
    .await;
    assert_eq!(
        unknown,
        json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 1})
    );
    let invalid = post_raw(
        &localnet,
        r#"{"jsonrpc":"2.0","id":2,"method":"getBalance","params":[42]}"#,
    )
    .await;
    assert_eq!(invalid["error"]["code"], -32602);
    let bad_key = post_raw(
        &localnet,
        r#"{"jsonrpc":"2.0","id":3,"method":"getBalance","params":["nope"]}"#,
    )
    .await;
    assert_eq!(bad_key["error"]["code"], -32602);
    assert_eq!(bad_key["error"]["message"], "Invalid param: WrongSize");
    localnet.shutdown().await;
}

/// The code, message and (for a preflight failure) simulation of an RPC error.
fn rpc_error(
    err: solana_rpc_client_api::client_error::Error,
) -> (i64, String, Option<RpcSimulateTransactionResult>) {
    match err.kind() {
        ErrorKind::RpcError(RpcError::RpcResponseError {
            code,
            message,
            data,
        }) => {
            let simulation = match data {
                RpcResponseErrorData::SendTransactionPreflightFailure(result) => {
                    Some(result.clone())
                }
                _ => None,
            };
            (*code, message.clone(), simulation)
        }
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn transaction_errors() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 1_000_000_000).await;
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let transfer = |lamports: u64, hash| transfer(&payer, &Keypair::new().pubkey(), lamports, hash);

    // A bad signature: Agave 4.2's preflight simulates the verification
    // failure; without a preflight, the localnet refuses it outright.
    let mut forged = transfer(1, blockhash);
    forged.signatures[0] = solana_signature::Signature::from([1; 64]);
    let (code, message, data) = rpc_error(client.send_transaction(&forged).await.unwrap_err());
    assert_eq!(
        (code, message.as_str()),
        (
            -32002,
            "Transaction simulation failed: Transaction did not pass signature verification"
        )
    );
    let simulation = data.expect("a preflight failure carries the simulation");
    assert_eq!(
        simulation.err,
        Some(TransactionError::SignatureFailure.into())
    );
    let unchecked = client
        .send_transaction_with_config(
            &forged,
            solana_rpc_client_types::config::RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let (code, message, _) = rpc_error(unchecked);
    assert_eq!(
        (code, message.as_str()),
        (-32003, "Transaction signature verification failure")
    );

    // An unknown (expired) blockhash.
    let stale = transfer(1, solana_hash::Hash::new_unique());
    let (code, message, _) = rpc_error(client.send_transaction(&stale).await.unwrap_err());
    assert_eq!(code, -32002);
    assert_eq!(
        message,
        "Transaction simulation failed: Blockhash not found"
    );

    // More lamports than the payer has.
    let too_much = transfer(10_000_000_000, blockhash);
    let (code, message, data) = rpc_error(client.send_transaction(&too_much).await.unwrap_err());
    assert_eq!(code, -32002);
    assert!(
        message.starts_with("Transaction simulation failed: "),
        "{message}"
    );
    let result = data.expect("a preflight failure carries the simulation");
    assert!(result
        .logs
        .unwrap()
        .iter()
        .any(|line| line.contains("insufficient lamports")));
    localnet.shutdown().await;
}

#[tokio::test]
async fn an_expired_blockhash_is_refused() {
    // 2 ms slots, so that a blockhash ages out (150 slots) in well under a second.
    let localnet = sibyl_localnet::Localnet::start(sibyl_localnet::LocalnetConfig {
        slot_duration: std::time::Duration::from_millis(2),
        ..sibyl_localnet::LocalnetConfig::for_tests()
    })
    .await
    .unwrap();
    let client = solana_rpc_client::nonblocking::rpc_client::RpcClient::new_with_commitment(
        localnet.rpc_url(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let payer = funded(&client, 1_000_000_000).await;
    let (old_blockhash, last_valid_block_height) = client
        .get_latest_blockhash_with_commitment(client.commitment())
        .await
        .unwrap();
    while client.get_block_height().await.unwrap() <= last_valid_block_height {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!client
        .is_blockhash_valid(&old_blockhash, client.commitment())
        .await
        .unwrap());
    let transfer = transfer(&payer, &localnet.chain.faucet(), 1, old_blockhash);
    let (code, message, _) = rpc_error(client.send_transaction(&transfer).await.unwrap_err());
    assert_eq!(
        (code, message.as_str()),
        (-32002, "Transaction simulation failed: Blockhash not found")
    );
    localnet.shutdown().await;
}

/// Every method the localnet lists as served is answered (with a result or
/// a parameter error, never "Method not found"), and counted.
#[tokio::test]
async fn every_served_method_is_answered() {
    let (localnet, _client) = start().await;
    for method in sibyl_localnet::rpc::SERVED_METHODS {
        let answer = post_raw(
            &localnet,
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).to_string(),
        )
        .await;
        assert_ne!(answer["error"]["code"], -32601, "{method}: {answer}");
    }
    // Each answered call is counted under its method (a batch counts each
    // of its calls), an unknown method under none.
    let before = localnet.rpc_calls.snapshot();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 2, "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 3, "method": "getHealth"},
        {"jsonrpc": "2.0", "id": 4, "method": "noSuchMethod"},
    ]);
    post_raw(&localnet, &batch.to_string()).await;
    let after = localnet.rpc_calls.snapshot();
    let grew = |method: &str| after.get(method).unwrap_or(&0) - before.get(method).unwrap_or(&0);
    assert_eq!((grew("getSlot"), grew("getHealth")), (2, 1));
    assert!(!after.contains_key("noSuchMethod"));
    assert_eq!(
        after.values().sum::<u64>() - before.values().sum::<u64>(),
        3
    );
    localnet.shutdown().await;
}

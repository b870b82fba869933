//! Blocks: getBlock in every encoding and detail, block ranges and times,
//! the ledger's first slot, and the errors Agave gives for blocks it cannot
//! serve.
use crate::{funded, post_raw, start, transfer, SOL};
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_message::{v0, VersionedMessage};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_types::config::RpcBlockConfig;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_status_client_types::{
    EncodedTransaction, TransactionDetails, UiConfirmedBlock, UiMessage, UiTransactionEncoding,
};

/// `getBlock` once the slot has ended (a block is served only when complete).
async fn block_when_complete(
    client: &RpcClient,
    slot: u64,
    config: RpcBlockConfig,
) -> UiConfirmedBlock {
    for _ in 0..100 {
        match client.get_block_with_config(slot, config).await {
            Ok(block) => return block,
            Err(err) if err.to_string().contains("not available") => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Err(err) => panic!("getBlock {slot}: {err}"),
        }
    }
    panic!("block {slot} never became available")
}

/// The slot a confirmed transaction landed in.
async fn landed_slot(client: &RpcClient, signature: &solana_signature::Signature) -> u64 {
    client
        .get_signature_statuses(&[*signature])
        .await
        .unwrap()
        .value[0]
        .as_ref()
        .expect("landed")
        .slot
}

fn config(encoding: UiTransactionEncoding, details: TransactionDetails) -> RpcBlockConfig {
    RpcBlockConfig {
        encoding: Some(encoding),
        transaction_details: Some(details),
        rewards: Some(true),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    }
}

#[tokio::test]
async fn a_block_holds_its_transactions_in_every_encoding_and_detail() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let to = Keypair::new().pubkey();
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let signature = client
        .send_and_confirm_transaction(&transfer(&payer, &to, SOL, blockhash))
        .await
        .unwrap();
    let slot = landed_slot(&client, &signature).await;

    let full = block_when_complete(
        &client,
        slot,
        config(UiTransactionEncoding::Json, TransactionDetails::Full),
    )
    .await;
    assert_eq!(full.parent_slot, slot - 1);
    let parent = block_when_complete(
        &client,
        slot - 1,
        config(UiTransactionEncoding::Json, TransactionDetails::None),
    )
    .await;
    assert_eq!(
        full.previous_blockhash, parent.blockhash,
        "blocks chain by hash"
    );
    assert_eq!(
        full.block_height,
        Some(parent.block_height.unwrap() + 1),
        "one block a slot"
    );
    // Block times follow the wall clock, as a validator's voters' do.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let time = full.block_time.expect("a block time");
    assert!((now - 2..=now).contains(&time), "{time} at {now}");
    let transactions = full.transactions.as_ref().expect("full detail");
    let ours = transactions
        .iter()
        .find(|tx| match &tx.transaction {
            EncodedTransaction::Json(json) => json.signatures[0] == signature.to_string(),
            _ => false,
        })
        .expect("the block holds the transfer");
    let meta = ours.meta.as_ref().expect("meta");
    assert_eq!(meta.fee, 5_000);
    // getTransaction names its place in the block.
    let position = transactions
        .iter()
        .position(|tx| std::ptr::eq(tx, ours))
        .unwrap();
    let confirmed = client
        .get_transaction(&signature, UiTransactionEncoding::Json)
        .await
        .unwrap();
    assert_eq!(confirmed.transaction_index, Some(position as u32));
    assert_eq!(
        ours.version,
        Some(solana_transaction::versioned::TransactionVersion::LEGACY)
    );
    // The leader's share of the fees, as a validator reports it.
    let rewards = full.rewards.as_ref().expect("rewards asked for");
    let identity = client.get_identity().await.unwrap();
    assert!(
        rewards
            .iter()
            .any(|reward| reward.pubkey == identity.to_string() && reward.lamports > 0),
        "{rewards:?}"
    );

    // jsonParsed: the system transfer parsed, keys with their roles.
    let parsed = block_when_complete(
        &client,
        slot,
        config(UiTransactionEncoding::JsonParsed, TransactionDetails::Full),
    )
    .await;
    let parsed_json = serde_json::to_value(&parsed).unwrap();
    let parsed_transfer = parsed_json["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tx| tx["transaction"]["signatures"][0] == signature.to_string())
        .unwrap();
    let instruction = &parsed_transfer["transaction"]["message"]["instructions"][0];
    assert_eq!(instruction["program"], "system");
    assert_eq!(instruction["parsed"]["type"], "transfer");
    assert_eq!(instruction["parsed"]["info"]["lamports"], SOL);
    assert_eq!(
        parsed_transfer["transaction"]["message"]["accountKeys"][0]["signer"],
        true
    );

    // Binary: the same transaction, byte for byte.
    for encoding in [UiTransactionEncoding::Base64, UiTransactionEncoding::Base58] {
        let binary =
            block_when_complete(&client, slot, config(encoding, TransactionDetails::Full)).await;
        let decoded: Vec<_> = binary
            .transactions
            .unwrap()
            .iter()
            .map(|tx| tx.transaction.decode().expect("decodes").signatures[0])
            .collect();
        assert!(decoded.contains(&signature), "{encoding:?}");
    }

    // Less detail: signatures, accounts, nothing; rewards left out.
    let signatures = block_when_complete(
        &client,
        slot,
        config(UiTransactionEncoding::Json, TransactionDetails::Signatures),
    )
    .await;
    assert!(signatures.transactions.is_none());
    assert!(signatures
        .signatures
        .unwrap()
        .contains(&signature.to_string()));
    let accounts = block_when_complete(
        &client,
        slot,
        config(UiTransactionEncoding::Json, TransactionDetails::Accounts),
    )
    .await;
    let accounts_json = serde_json::to_value(&accounts).unwrap();
    assert!(
        accounts_json["transactions"][0]["transaction"]["accountKeys"][0]["pubkey"].is_string()
    );
    let none = block_when_complete(
        &client,
        slot,
        RpcBlockConfig {
            rewards: Some(false),
            ..config(UiTransactionEncoding::Json, TransactionDetails::None)
        },
    )
    .await;
    assert!(none.transactions.is_none() && none.signatures.is_none() && none.rewards.is_none());
    assert_eq!(none.blockhash, full.blockhash);

    // Ranges and times.
    let from = slot.saturating_sub(2);
    let blocks = client.get_blocks(from, Some(slot)).await.unwrap();
    assert_eq!(blocks, (from..=slot).collect::<Vec<_>>());
    assert_eq!(
        client.get_blocks_with_limit(slot, 1).await.unwrap(),
        vec![slot]
    );
    assert_eq!(client.get_block_time(slot).await.unwrap(), time);
    assert_eq!(client.get_first_available_block().await.unwrap(), 0);
    assert_eq!(client.minimum_ledger_slot().await.unwrap(), 0);
    let genesis = block_when_complete(
        &client,
        0,
        config(UiTransactionEncoding::Json, TransactionDetails::None),
    )
    .await;
    assert_eq!(
        (genesis.parent_slot, genesis.previous_blockhash.as_str()),
        (0, "11111111111111111111111111111111")
    );
    localnet.shutdown().await;
}

#[tokio::test]
async fn blocks_that_cannot_be_served_are_refused_as_agave_refuses_them() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let error = |value: serde_json::Value| {
        (
            value["error"]["code"].as_i64().unwrap_or_default(),
            value["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let call = |method: &str, params: serde_json::Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
    };

    // A slot that has not ended, or not begun, has no block.
    let future = localnet.chain.bank().slot() + 1_000;
    assert_eq!(
        error(post_raw(&localnet, &call("getBlock", json!([future]))).await),
        (-32004, format!("Block not available for slot {future}"))
    );
    assert_eq!(
        error(post_raw(&localnet, &call("getBlockTime", json!([future]))).await),
        (-32004, format!("Block not available for slot {future}"))
    );
    // Blocks are confirmed data.
    let processed = json!({"commitment": "processed"});
    for (method, params) in [
        ("getBlock", json!([1, processed])),
        ("getBlocks", json!([0, 5, processed])),
        ("getBlocksWithLimit", json!([0, 5, processed])),
    ] {
        assert_eq!(
            error(post_raw(&localnet, &call(method, params)).await),
            (
                -32602,
                "Method does not support commitment below `confirmed`".to_string()
            ),
            "{method}"
        );
    }
    // Agave's range limits.
    let cut = post_raw(&localnet, &call("getBlocks", json!([0, 600_000]))).await;
    assert!(
        cut["result"]
            .as_array()
            .is_some_and(|slots| !slots.is_empty()),
        "a range ending past the newest block is cut to it: {cut}"
    );
    assert_eq!(
        error(post_raw(&localnet, &call("getBlocksWithLimit", json!([0, 500_001]))).await),
        (-32602, "Limit too large; max 500000".to_string())
    );
    assert_eq!(
        post_raw(&localnet, &call("getBlocks", json!([10, 5]))).await["result"],
        json!([])
    );

    // A v0 transaction in a block, asked for without a supported version.
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let message = v0::Message::try_compile(
        &payer.pubkey(),
        &[solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &Keypair::new().pubkey(),
            SOL,
        )],
        &[],
        blockhash,
    )
    .unwrap();
    // A v0 message's fee, as wallets ask before signing.
    assert_eq!(client.get_fee_for_message(&message).await.unwrap(), 5_000);
    let transaction =
        VersionedTransaction::try_new(VersionedMessage::V0(message), &[&payer]).unwrap();
    let signature = client
        .send_and_confirm_transaction(&transaction)
        .await
        .unwrap();
    let slot = landed_slot(&client, &signature).await;
    let block = block_when_complete(
        &client,
        slot,
        config(UiTransactionEncoding::Json, TransactionDetails::Full),
    )
    .await;
    let v0 = block
        .transactions
        .unwrap()
        .into_iter()
        .find(|tx| matches!(&tx.transaction, EncodedTransaction::Json(json) if json.signatures[0] == signature.to_string()))
        .unwrap();
    assert_eq!(
        v0.version,
        Some(solana_transaction::versioned::TransactionVersion::Number(0))
    );
    assert!(matches!(
        &v0.transaction,
        EncodedTransaction::Json(json) if matches!(json.message, UiMessage::Raw(_))
    ));
    let unversioned = post_raw(
        &localnet,
        &call("getBlock", json!([slot, {"encoding": "json"}])),
    )
    .await;
    assert_eq!(error(unversioned).0, -32015);
    localnet.shutdown().await;
}

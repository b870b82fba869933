//! Each served method answered with the shape `RpcClient` decodes.
use crate::{funded, program_accounts, send, start, token_set_up, transfer, SOL};
use solana_keypair::Keypair;
use solana_rpc_client_types::filter::{Memcmp, RpcFilterType};
use solana_signer::Signer;

#[tokio::test]
async fn cluster_information_methods() {
    let (localnet, client) = start().await;
    let version = client.get_version().await.unwrap();
    assert_eq!(
        version.solana_core,
        sibyl_localnet::rpc::SOLANA_CORE_VERSION
    );
    client.get_health().await.unwrap();
    let genesis = client.get_genesis_hash().await.unwrap();
    assert_eq!(genesis, localnet.chain.genesis_hash());

    let first = client.get_slot().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let later = client.get_slot().await.unwrap();
    assert!(
        later > first,
        "slots advance in real time ({first} -> {later})"
    );
    assert!(client.get_block_height().await.unwrap() >= 1);
    let epoch = client.get_epoch_info().await.unwrap();
    assert!(epoch.absolute_slot >= later);

    let (blockhash, last_valid) = client
        .get_latest_blockhash_with_commitment(client.commitment())
        .await
        .unwrap();
    assert!(last_valid > client.get_block_height().await.unwrap());
    assert!(client
        .is_blockhash_valid(&blockhash, client.commitment())
        .await
        .unwrap());
    assert!(!client
        .is_blockhash_valid(&solana_hash::Hash::new_unique(), client.commitment())
        .await
        .unwrap());
    assert_eq!(
        client
            .get_minimum_balance_for_rent_exemption(165)
            .await
            .unwrap(),
        localnet
            .chain
            .bank()
            .get_minimum_balance_for_rent_exemption(165)
    );
    localnet.shutdown().await;
}

#[tokio::test]
async fn airdrop_transfer_and_statuses() {
    let (localnet, client) = start().await;
    let alice = Keypair::new();
    let bob = Keypair::new();
    let signature = client
        .request_airdrop(&alice.pubkey(), 5 * SOL)
        .await
        .unwrap();
    assert!(client.confirm_transaction(&signature).await.unwrap());
    assert_eq!(client.get_balance(&alice.pubkey()).await.unwrap(), 5 * SOL);

    let blockhash = client.get_latest_blockhash().await.unwrap();
    let transfer = transfer(&alice, &bob.pubkey(), SOL, blockhash);
    let fee = client.get_fee_for_message(&transfer.message).await.unwrap();
    assert_eq!(fee, 5_000);
    let signature = client
        .send_and_confirm_transaction(&transfer)
        .await
        .unwrap();
    assert_eq!(client.get_balance(&bob.pubkey()).await.unwrap(), SOL);
    assert_eq!(
        client.get_balance(&alice.pubkey()).await.unwrap(),
        4 * SOL - fee
    );
    let statuses = client.get_signature_statuses(&[signature]).await.unwrap();
    let status = statuses.value[0].as_ref().expect("known signature");
    assert!(status.err.is_none());
    let unknown = client
        .get_signature_statuses(&[solana_signature::Signature::from([7; 64])])
        .await
        .unwrap();
    assert!(unknown.value[0].is_none());
    localnet.shutdown().await;
}

#[tokio::test]
async fn token_accounts_and_program_account_filters() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let token_program = anchor_spl::token::ID;
    let mint = Keypair::new();
    let owners = [Keypair::new().pubkey(), Keypair::new().pubkey()];
    let accounts = [Keypair::new(), Keypair::new()];
    let instructions = token_set_up(
        &client,
        &payer.pubkey(),
        &mint.pubkey(),
        &[(&accounts[0], owners[0]), (&accounts[1], owners[1])],
        0,
    )
    .await;
    send(
        &client,
        &instructions,
        &payer,
        &[&mint, &accounts[0], &accounts[1]],
    )
    .await;

    let mint_account = client.get_account(&mint.pubkey()).await.unwrap();
    assert_eq!(
        (mint_account.owner, mint_account.data.len()),
        (token_program, 82)
    );
    let both = client
        .get_multiple_accounts(&[accounts[0].pubkey(), Keypair::new().pubkey()])
        .await
        .unwrap();
    assert!(both[0].is_some() && both[1].is_none());

    // Token accounts of this mint (dataSize + memcmp on the mint), then of one owner.
    let by_mint = program_accounts(
        &client,
        &token_program,
        vec![
            RpcFilterType::DataSize(165),
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, mint.pubkey().as_ref())),
        ],
    )
    .await;
    assert_eq!(by_mint.len(), 2);
    let by_owner = program_accounts(
        &client,
        &token_program,
        vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
            32,
            owners[1].as_ref(),
        ))],
    )
    .await;
    assert_eq!(by_owner.len(), 1);
    assert_eq!(by_owner[0].0, accounts[1].pubkey());
    localnet.shutdown().await;
}

/// A web app served from another origin (the Vite server of `app/`) can
/// call JSON-RPC: the preflight is answered and every answer allows any
/// origin, as Agave's RPC does.
#[tokio::test]
async fn browsers_may_call_from_any_origin() {
    let (localnet, _client) = crate::start().await;
    let http = reqwest::Client::new();
    let preflight = http
        .request(reqwest::Method::OPTIONS, localnet.rpc_url())
        .header("Origin", "http://127.0.0.1:5173")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type, solana-client",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        allowed(&preflight, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(
        allowed(&preflight, "access-control-allow-headers").as_deref(),
        Some("*")
    );
    assert!(allowed(&preflight, "access-control-allow-methods")
        .is_some_and(|methods| methods.contains("POST")));
    let call = http
        .post(localnet.rpc_url())
        .header("Origin", "http://127.0.0.1:5173")
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#)
        .send()
        .await
        .expect("a call");
    assert_eq!(
        allowed(&call, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    let body: serde_json::Value = call.json().await.expect("JSON");
    assert_eq!(body["result"], "ok");
    localnet.shutdown().await;
}

/// The node and the cluster as explorers and wallets read them: one node
/// (its identity, RPC and PubSub addresses), its vote account current, the
/// supply Agave's rule computes, and a performance sample a period.
#[tokio::test]
async fn identity_nodes_votes_supply_and_performance_samples() {
    let (localnet, client) = start().await;
    let identity = client.get_identity().await.unwrap();
    let nodes = client.get_cluster_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].pubkey, identity.to_string());
    assert_eq!(nodes[0].rpc, Some(localnet.rpc_addr));
    assert_eq!(nodes[0].pubsub, Some(localnet.pubsub_addr));
    assert_eq!(
        nodes[0].version.as_deref(),
        Some(sibyl_localnet::rpc::SOLANA_CORE_VERSION)
    );

    // A vote on slot 0 counts for nothing (Agave's rule): from slot 2 the
    // validator has rooted a slot that does.
    while client.get_slot().await.unwrap() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let slot = client.get_slot().await.unwrap();
    let votes = client.get_vote_accounts().await.unwrap();
    assert!(votes.delinquent.is_empty(), "{votes:?}");
    assert_eq!(votes.current.len(), 1);
    let vote = &votes.current[0];
    assert_eq!(vote.node_pubkey, identity.to_string());
    assert!(vote.activated_stake > 0 && vote.epoch_vote_account);
    assert!(
        vote.last_vote + 1 >= slot,
        "the last rooted slot: {} at slot {slot}",
        vote.last_vote
    );

    let supply = client.supply().await.unwrap().value;
    assert_eq!(supply.total, localnet.chain.bank().capitalization());
    assert_eq!(supply.total, supply.circulating + supply.non_circulating);
    // Agave's list of non-circulating accounts (mainnet's), whether or not
    // they exist here; left out on request.
    assert!(!supply.non_circulating_accounts.is_empty());
    let without_list = crate::post_raw(
        &localnet,
        r#"{"jsonrpc":"2.0","id":1,"method":"getSupply","params":[{"excludeNonCirculatingAccountsList":true}]}"#,
    )
    .await;
    let without_list: solana_rpc_client_types::response::RpcSupply =
        serde_json::from_value(without_list["result"]["value"].clone()).unwrap();
    assert!(without_list.non_circulating_accounts.is_empty());

    // Tests sample each second (a validator, each minute).
    let payer = funded(&client, SOL).await;
    let blockhash = client.get_latest_blockhash().await.unwrap();
    client
        .send_and_confirm_transaction(&transfer(
            &payer,
            &Keypair::new().pubkey(),
            SOL / 10,
            blockhash,
        ))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let samples = client
        .get_recent_performance_samples(Some(10))
        .await
        .unwrap();
    assert!(samples.len() >= 2, "{samples:?}");
    assert!(samples[0].slot > samples[1].slot, "newest first");
    assert!(
        samples
            .iter()
            .all(|s| (1..=2).contains(&s.sample_period_secs) && s.num_slots > 0),
        "{samples:?}"
    );
    assert!(samples.iter().map(|s| s.num_transactions).sum::<u64>() >= 2);
    let too_many = crate::post_raw(
        &localnet,
        r#"{"jsonrpc":"2.0","id":1,"method":"getRecentPerformanceSamples","params":[721]}"#,
    )
    .await;
    assert_eq!(too_many["error"]["message"], "Invalid limit; max 720");
    localnet.shutdown().await;
}

/// What explorers and the `solana` CLI read besides: the transaction count,
/// the epoch schedule, and the leader (the one node leads every slot).
#[tokio::test]
async fn transaction_count_epoch_schedule_and_leaders() {
    let (localnet, client) = start().await;
    let before = client.get_transaction_count().await.unwrap();
    funded(&client, SOL).await;
    assert_eq!(client.get_transaction_count().await.unwrap(), before + 1);
    let schedule = client.get_epoch_schedule().await.unwrap();
    assert_eq!(&schedule, localnet.chain.bank().epoch_schedule());
    let identity = client.get_identity().await.unwrap();
    assert_eq!(client.get_slot_leader().await.unwrap(), identity);
    let slot = client.get_slot().await.unwrap();
    assert_eq!(
        client.get_slot_leaders(slot, 3).await.unwrap(),
        vec![identity; 3]
    );
    let too_many = crate::post_raw(
        &localnet,
        r#"{"jsonrpc":"2.0","id":1,"method":"getSlotLeaders","params":[0,5001]}"#,
    )
    .await;
    assert_eq!(too_many["error"]["message"], "Invalid limit; max 5000");
    localnet.shutdown().await;
}

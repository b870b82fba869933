//! PubSub over WebSocket, driven through `solana-pubsub-client`.
use crate::{funded, send, start, token_set_up, transfer, SOL};
use futures_util::StreamExt;
use solana_keypair::Keypair;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client_types::{
    config::{
        RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcTransactionLogsConfig,
        RpcTransactionLogsFilter,
    },
    filter::{Memcmp, RpcFilterType},
    response::RpcSignatureResult,
};
use solana_signer::Signer;
use std::time::Duration;

/// The next item of a subscription stream, or a panic after 10 s.
async fn next<T>(stream: &mut (impl futures_util::Stream<Item = T> + Unpin)) -> T {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a notification within 10 s")
        .expect("the stream stays open")
}

#[tokio::test]
async fn slot_notifications_follow_the_clock() {
    let (localnet, _client) = start().await;
    let pubsub = PubsubClient::new(&localnet.pubsub_url()).await.unwrap();
    let (mut slots, unsubscribe) = pubsub.slot_subscribe().await.unwrap();
    let first = next(&mut slots).await;
    let second = next(&mut slots).await;
    assert_eq!(second.slot, first.slot + 1);
    assert_eq!(second.parent, first.slot);
    unsubscribe().await;
    localnet.shutdown().await;
}

#[tokio::test]
async fn signature_account_and_logs_notifications() {
    let (localnet, client) = start().await;
    let pubsub = PubsubClient::new(&localnet.pubsub_url()).await.unwrap();
    let payer = Keypair::new();
    let recipient = Keypair::new().pubkey();

    let (mut account, _unsubscribe_account) = pubsub
        .account_subscribe(&payer.pubkey(), Some(RpcAccountInfoConfig::default()))
        .await
        .unwrap();
    let (mut logs, _unsubscribe_logs) = pubsub
        .logs_subscribe(
            RpcTransactionLogsFilter::Mentions(vec![recipient.to_string()]),
            RpcTransactionLogsConfig { commitment: None },
        )
        .await
        .unwrap();

    let airdrop = client
        .request_airdrop(&payer.pubkey(), 2 * SOL)
        .await
        .unwrap();
    let funded = next(&mut account).await;
    assert_eq!(funded.value.lamports, 2 * SOL);
    client.confirm_transaction(&airdrop).await.unwrap();

    let blockhash = client.get_latest_blockhash().await.unwrap();
    let transfer = transfer(&payer, &recipient, SOL, blockhash);
    let (mut confirmation, _unsubscribe_signature) = pubsub
        .signature_subscribe(&transfer.signatures[0], None)
        .await
        .unwrap();
    client.send_transaction(&transfer).await.unwrap();
    let confirmed = next(&mut confirmation).await;
    assert!(
        matches!(confirmed.value, RpcSignatureResult::ProcessedSignature(ref result) if result.err.is_none())
    );
    let logged = next(&mut logs).await;
    assert_eq!(logged.value.signature, transfer.signatures[0].to_string());
    assert!(logged.value.logs[0].contains("11111111111111111111111111111111 invoke [1]"));
    let paid = next(&mut account).await;
    assert_eq!(paid.value.lamports, SOL - 5_000);

    // Subscribing to a signature already processed notifies at once.
    let (mut again, _unsubscribe_again) = pubsub
        .signature_subscribe(&transfer.signatures[0], None)
        .await
        .unwrap();
    next(&mut again).await;
    localnet.shutdown().await;
}

#[tokio::test]
async fn program_notifications_respect_filters() {
    let (localnet, client) = start().await;
    let pubsub = PubsubClient::new(&localnet.pubsub_url()).await.unwrap();
    let payer = funded(&client, 5 * SOL).await;
    let token_program = anchor_spl::token::ID;
    let mint = Keypair::new();
    let account = Keypair::new();
    let (mut accounts_of_mint, _unsubscribe) = pubsub
        .program_subscribe(
            &token_program,
            Some(RpcProgramAccountsConfig {
                filters: Some(vec![
                    RpcFilterType::DataSize(165),
                    RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, mint.pubkey().as_ref())),
                ]),
                ..Default::default()
            }),
        )
        .await
        .unwrap();

    let instructions = token_set_up(
        &client,
        &payer.pubkey(),
        &mint.pubkey(),
        &[(&account, payer.pubkey())],
        0,
    )
    .await;
    send(&client, &instructions, &payer, &[&mint, &account]).await;
    // The mint itself (82 bytes) is filtered out; the token account comes through.
    let notified = next(&mut accounts_of_mint).await;
    assert_eq!(notified.value.pubkey, account.pubkey().to_string());
    localnet.shutdown().await;
}

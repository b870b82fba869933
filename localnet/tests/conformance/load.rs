//! A short, bounded load test on loopback: concurrent clients send transfers
//! for a fixed time; every request must be answered and every accepted
//! transaction must be recorded. Prints the throughput it saw.
use crate::{funded, start, transfer};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const DURATION: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_lose_no_response() {
    let (localnet, client) = start().await;
    let mut payers = Vec::new();
    for _ in 0..CLIENTS {
        let payer = funded(&client, 100_000_000_000).await;
        payers.push(payer);
    }
    let url = localnet.rpc_url();
    // An existing, rent-exempt account, so that tiny transfers are valid.
    let recipient = localnet.chain.faucet();
    let started = Instant::now();
    let workers = payers.into_iter().map(|payer| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = RpcClient::new_with_commitment(url, CommitmentConfig::processed());
            let (mut sent, mut answered, mut accepted) = (0u64, 0u64, Vec::new());
            let recipient = recipient;
            while started.elapsed() < DURATION {
                let blockhash = client
                    .get_latest_blockhash()
                    .await
                    .expect("blockhash answered");
                sent += 1;
                let transfer = transfer(&payer, &recipient, sent, blockhash);
                // Every request gets an answer, and every valid transfer is accepted.
                match client.send_transaction(&transfer).await {
                    Ok(signature) => accepted.push(signature),
                    Err(err) => assert!(
                        err.get_transaction_error().is_some(),
                        "lost response: {err}"
                    ),
                }
                answered += 1;
            }
            (sent, answered, accepted)
        })
    });
    let mut totals = (0u64, 0u64, Vec::new());
    for worker in workers {
        let (sent, answered, accepted) = worker.await.unwrap();
        totals.0 += sent;
        totals.1 += answered;
        totals.2.extend(accepted);
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(totals.0, totals.1, "every request was answered");
    for chunk in totals.2.chunks(256) {
        let statuses = client.get_signature_statuses(chunk).await.unwrap();
        assert!(
            statuses.value.iter().all(Option::is_some),
            "every accepted transaction is recorded"
        );
    }
    println!(
        "load: {CLIENTS} clients, {:.1} s, {} transactions sent, {} answered, {} accepted and recorded, {:.0} tx/s",
        elapsed,
        totals.0,
        totals.1,
        totals.2.len(),
        totals.2.len() as f64 / elapsed
    );
    localnet.shutdown().await;
}

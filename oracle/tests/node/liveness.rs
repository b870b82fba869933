//! Liveness, and the optimistic trust assumption, made visible.
use crate::cluster::{python_output, test_params, Cluster};
use sibyl::state::{ConfigParams, RequestStatus};
use sibyl_oracle::{config::Role, faulty};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_operator_serving_a_request_expires_and_is_refunded() {
    let params = ConfigParams {
        request_timeout_slots: 40,
        ..test_params()
    };
    let cluster = Cluster::start_with(1, params).await;
    // The only node cranks but serves nothing.
    let (stop, node) = cluster
        .start_node(cluster.node_config(0, &[Role::Crank], 0.0))
        .await;
    let requester = cluster.requester.pubkey();
    let before = cluster.token_balance(&requester).await;

    let request = cluster.request_digit("digit-2").await;
    assert_eq!(
        cluster.token_balance(&requester).await,
        before - 10_000,
        "fee escrowed"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while cluster.request_state(&request).await.is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(
        cluster.token_balance(&requester).await,
        before,
        "the fee came back"
    );
    cluster.assert_tokens_conserved().await;
    stop.send(true).unwrap();
    node.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_watcher_offline_a_wrong_result_finalizes() {
    // The optimistic trust assumption (docs/decisions.md): a result nobody
    // challenges inside its window is final, right or wrong. Sibyl is safe
    // only while at least one honest watcher is online during each window.
    let cluster = Cluster::start(2).await;
    let (liar, liar_node) = cluster
        .start_node(cluster.node_config(0, &[Role::Serve], 1.0))
        .await;
    let (crank, crank_node) = cluster
        .start_node(cluster.node_config(1, &[Role::Crank], 0.0))
        .await;

    let request = cluster.request_digit("digit-8").await;
    let state = cluster.wait_final(&request, Duration::from_secs(60)).await;

    assert_eq!(state.status, RequestStatus::Finalized);
    assert!(faulty::is_chosen(&request, 1.0));
    assert_ne!(
        state.output,
        python_output("digit-8"),
        "the wrong output stood"
    );
    cluster.assert_tokens_conserved().await;
    for (stop, node) in [(liar, liar_node), (crank, crank_node)] {
        stop.send(true).unwrap();
        node.await.unwrap();
    }
}

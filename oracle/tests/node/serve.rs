//! An honest node serves a request from payment to finalized result.
use crate::cluster::{python_output, Cluster};
use sibyl::state::RequestStatus;
use sibyl_oracle::config::Role;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_node_serves_a_request_to_finality() {
    let cluster = Cluster::start(1).await;
    let mut config =
        cluster.node_config(0, &[Role::Serve, Role::Watch, Role::Vote, Role::Crank], 0.0);
    let metrics_addr = crate::cluster::serve_metrics(&mut config);
    let (stop, node) = cluster.start_node(config).await;
    let operator_wallet = cluster.operators[0].pubkey();
    let operator_tokens_before = cluster.token_balance(&operator_wallet).await;
    let requester_tokens_before = cluster.token_balance(&cluster.requester.pubkey()).await;

    let request = cluster.request_digit("digit-2").await;
    let state = cluster.wait_final(&request, Duration::from_secs(60)).await;

    assert_eq!(state.status, RequestStatus::Finalized);
    // The committed output is byte for byte what Python's onnxruntime recorded.
    assert_eq!(state.output, python_output("digit-2"));
    let operator = cluster.operator_state(0).await;
    assert_eq!(operator.requests_served, 1);
    assert_eq!(operator.open_commitments, 0);
    // Fee 10 000: 2.5 % protocol fee and 10 % royalty leave the operator 8 750.
    assert_eq!(
        cluster.token_balance(&operator_wallet).await,
        operator_tokens_before + 8_750
    );
    assert_eq!(
        cluster.token_balance(&cluster.requester.pubkey()).await,
        requester_tokens_before - 10_000
    );

    // The Prometheus endpoint counts what happened.
    let metrics = crate::cluster::metrics_text(metrics_addr).await;
    for line in [
        "sibyl_committed_total 1",
        "sibyl_requests_seen_total 1",
        "sibyl_cranked_total{instruction=\"finalize\"} 1",
        "sibyl_inference_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }

    cluster.assert_tokens_conserved().await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .expect("graceful shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crank_delivers_a_final_result_to_the_consumer_named_at_request_time() {
    let cluster = Cluster::start(1).await;
    let config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let (stop, node) = cluster.start_node(config).await;
    // The example consumer: a bounty for an image the digits model calls a 2.
    let bounty = cluster.create_bounty(2).await;
    let requester = cluster.requester.pubkey();
    let callback = sibyl::callback::CallbackSpec {
        program: example_consumer::ID,
        accounts: vec![
            sibyl::callback::CallbackAccount {
                pubkey: bounty,
                writable: true,
            },
            sibyl::callback::CallbackAccount {
                pubkey: requester,
                writable: true,
            },
        ],
    };

    let request = cluster
        .request_digit_with_callback("digit-2", Some(callback))
        .await;
    let state = cluster.wait_final(&request, Duration::from_secs(60)).await;

    assert_eq!(state.status, RequestStatus::Finalized);
    let bounty = cluster.bounty(&bounty).await;
    assert_eq!(
        bounty.winner,
        Some(requester),
        "the crank's finalize called the consumer back"
    );

    cluster.assert_tokens_conserved().await;
    stop.send(true).unwrap();
    node.await.unwrap();
}

/// The node's filtered program subscription delivers a new request: with
/// scans ten minutes apart, the request is committed within seconds, so
/// it was the notification, not a scan, that launched the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_request_is_served_on_its_notification_alone() {
    let cluster = Cluster::start(1).await;
    let mut config = cluster.node_config(0, &[Role::Serve], 0.0);
    config.node.poll_interval_ms = 600_000;
    let (stop, node) = cluster.start_node(config).await;
    // The node's first scan has run: the digits model is known as served.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let request = cluster.request_digit("digit-2").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let committed = loop {
        let state = cluster.request_state(&request).await.expect("open");
        if state.status == RequestStatus::Committed {
            break state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not committed 30 s after the request, with no scan due for ten minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(committed.output, python_output("digit-2"));
    stop.send(true).unwrap();
    node.await.unwrap();
}

/// The index every scan reads through reads a request whole once, then
/// only its head until the head changes; a request that moved on leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_index_reads_a_request_whole_only_when_its_head_changed() {
    use sibyl_oracle::node::index::RequestIndex;
    let cluster = Cluster::start(1).await;
    let chain = cluster.client(&cluster.requester);
    let index = RequestIndex::default();
    let requests = [
        cluster.request_digit("digit-2").await,
        cluster.request_digit("digit-6").await,
    ];
    let listed = index
        .requests(&chain, RequestStatus::Pending, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(index.read_whole(), 2);
    // Nothing changed: the heads alone answer, and nothing is read again.
    for _ in 0..3 {
        let listed = index
            .requests(&chain, RequestStatus::Pending, Some(&cluster.model))
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
    }
    assert_eq!(index.read_whole(), 2);

    // A serving node commits both (no crank: they stay committed).
    let (stop, node) = cluster
        .start_node(cluster.node_config(0, &[Role::Serve], 0.0))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for request in &requests {
        while cluster
            .request_state(request)
            .await
            .is_none_or(|state| state.status != RequestStatus::Committed)
        {
            assert!(std::time::Instant::now() < deadline, "{request} committed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop.send(true).unwrap();
    node.await.unwrap();
    // They left the pending scan, and the index with it ...
    let listed = index
        .requests(&chain, RequestStatus::Pending, None)
        .await
        .unwrap();
    assert!(listed.is_empty());
    assert!(index.is_empty());
    // ... and the committed scan reads each whole once, with its output.
    for _ in 0..2 {
        let committed = index
            .requests(&chain, RequestStatus::Committed, None)
            .await
            .unwrap();
        assert_eq!(committed.len(), 2);
        assert!(committed.iter().all(|(_, state)| !state.output.is_empty()));
    }
    assert_eq!(index.read_whole(), 4);
    assert_eq!(index.len(), 2);
}

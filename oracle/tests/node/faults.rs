//! Faults: a node killed with SIGKILL at random moments, again and again;
//! the RPC endpoint going away for a while. Nothing is lost, nothing is
//! committed twice.
use crate::{
    cluster::{Cluster, STAKE},
    process::{kill_repeatedly, NodeProcess},
};
use sibyl::state::RequestStatus;
use sibyl_oracle::config::Role;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

const REQUESTS: usize = 24;
const KILLS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_at_random_moments_loses_nothing_and_commits_once() {
    let cluster = Arc::new(Cluster::start(1).await);
    let config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let config_path = cluster.dir.path().join("node-0.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    // Requests keep arriving while the node is being killed.
    let requester = cluster.requests_arriving(REQUESTS, Duration::from_millis(150));

    // Fixed-seed random moments: the same kills every run.
    let (mut log, node) = kill_repeatedly(&config_path, KILLS, 0x5eed, 150, 900).await;
    let requests = requester.await.unwrap();
    for request in &requests {
        let state = cluster.wait_final(request, Duration::from_secs(120)).await;
        assert_eq!(
            state.status,
            RequestStatus::Finalized,
            "request {request} lost"
        );
    }
    log.extend(node.terminate());

    let commits = log
        .iter()
        .filter(|line| line.contains("committed signature="))
        .count();
    println!(
        "{REQUESTS} requests, {KILLS} kills survived, {commits} commit transactions confirmed"
    );
    assert!(
        commits <= REQUESTS,
        "never more commits than requests ({commits})"
    );
    let operator = cluster.operator_state(0).await;
    assert_eq!(
        operator.requests_served as usize, REQUESTS,
        "every request served once"
    );
    assert_eq!(operator.open_commitments, 0);
    cluster.assert_tokens_conserved().await;
}

/// A loopback TCP proxy to the RPC endpoint that can be switched off (every
/// connection is then dropped at once), as when an RPC provider fails.
struct FlakyProxy {
    up: Arc<AtomicBool>,
    url: String,
}

impl FlakyProxy {
    async fn start(target: std::net::SocketAddr) -> FlakyProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let switch = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !switch.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees its connection reset
                }
                let switch = switch.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        // Open connections are cut too when the switch goes off.
                        let cut = async {
                            while switch.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut => {}
                        }
                    }
                });
            }
        });
        FlakyProxy { up, url }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_rides_out_an_rpc_outage() {
    let cluster = Cluster::start(1).await;
    let proxy = FlakyProxy::start(cluster.localnet.rpc_addr).await;
    let mut config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    config.cluster.rpc_url = proxy.url.clone();
    config.send.retry_backoff_ms = 100;
    let (stop, node) = cluster.start_node(config).await;

    let before = cluster.request_digit("digit-2").await;
    cluster.wait_final(&before, Duration::from_secs(60)).await;
    // The endpoint goes away for two seconds while requests arrive.
    proxy.up.store(false, Ordering::SeqCst);
    let during = [
        cluster.request_digit("digit-6").await,
        cluster.request_digit("digit-8").await,
    ];
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.up.store(true, Ordering::SeqCst);

    for request in during {
        let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
        assert_eq!(state.status, RequestStatus::Finalized);
    }
    assert_eq!(cluster.operator_state(0).await.requests_served, 3);
    cluster.assert_tokens_conserved().await;
    stop.send(true).unwrap();
    node.await.unwrap();
}

/// With a second endpoint configured, the node keeps serving when the
/// first goes away for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_moves_to_its_next_rpc_endpoint_when_one_fails_for_good() {
    let cluster = Cluster::start(1).await;
    let proxy = FlakyProxy::start(cluster.localnet.rpc_addr).await;
    let mut config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    config.cluster.rpc_url = proxy.url.clone();
    config.cluster.fallback_rpc_urls = vec![cluster.localnet.rpc_url()];
    let metrics_addr = crate::cluster::serve_metrics(&mut config);
    let (stop, node) = cluster.start_node(config).await;

    let before = cluster.request_digit("digit-2").await;
    cluster.wait_final(&before, Duration::from_secs(60)).await;
    // The first endpoint goes away and never comes back.
    proxy.up.store(false, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let after = [
        cluster.request_digit("digit-6").await,
        cluster.request_digit("digit-8").await,
    ];
    for request in after {
        let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
        assert_eq!(state.status, RequestStatus::Finalized);
    }
    println!(
        "two requests final {:.1?} after the first endpoint went away",
        started.elapsed()
    );
    // Operators see which endpoint is in use (the status service sets it
    // every second or so).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = crate::cluster::metrics_text(metrics_addr).await;
        if metrics.contains("sibyl_rpc_endpoint 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sibyl_rpc_endpoint 1 missing from:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(cluster.operator_state(0).await.requests_served, 3);
    cluster.assert_tokens_conserved().await;
    stop.send(true).unwrap();
    node.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_killed_mid_vote_resumes_and_never_votes_twice() {
    const DISPUTES: usize = 6;
    let cluster = Arc::new(Cluster::start(4).await);
    // 0 lies every time; 1 watches and cranks; 2 (a process, killed again and
    // again) and 3 vote. Both votes are needed to decide early.
    let running = cluster
        .start_nodes([
            cluster.node_config(0, &[Role::Serve], 1.0),
            cluster.node_config(1, &[Role::Watch, Role::Crank], 0.0),
            cluster.node_config(3, &[Role::Vote], 0.0),
        ])
        .await;
    let config = cluster.node_config(2, &[Role::Vote], 0.0);
    let config_path = cluster.dir.path().join("voter.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let requester = cluster.requests_arriving(DISPUTES, Duration::from_millis(300));

    let (mut log, voter) = kill_repeatedly(&config_path, KILLS / 2, 0xb07e, 200, 700).await;
    let requests = requester.await.unwrap();
    for request in &requests {
        let state = cluster.wait_final(request, Duration::from_secs(120)).await;
        assert_eq!(state.status, RequestStatus::Overturned, "request {request}");
    }
    cluster.wait_votes_claimed(&[2]).await;
    log.extend(voter.terminate());

    // The line a vote that landed logs (vote.rs).
    let votes = log
        .iter()
        .filter(|line| line.contains("vote committed"))
        .count();
    println!(
        "{DISPUTES} disputes, {} kills of the verifier survived, {votes} votes confirmed",
        KILLS / 2
    );
    assert!(votes <= DISPUTES, "at most one vote per dispute ({votes})");
    // Exactly one each: a vote journaled but not confirmed when the process
    // was killed is sent again on restart, never abandoned.
    assert_eq!(
        cluster.operator_state(2).await.votes_cast as usize,
        DISPUTES,
        "the killed verifier voted in every dispute"
    );
    assert_eq!(
        cluster.operator_state(0).await.disputes_lost as usize,
        DISPUTES
    );
    cluster.assert_tokens_conserved().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_reports_a_localnet_restart_and_resumes() {
    let mut cluster = Cluster::start(1).await;
    let config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let config_path = cluster.dir.path().join("node-0.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let node = NodeProcess::spawn_started(&config_path);

    let before = cluster.request_digit("digit-2").await;
    cluster.wait_final(&before, Duration::from_secs(60)).await;
    let across = cluster.request_digit("digit-6").await;
    // The localnet's servers and clock stop for two seconds, then serve the
    // same ledger again.
    cluster
        .localnet
        .restart(Duration::from_secs(2))
        .await
        .unwrap();
    let after = cluster.request_digit("digit-8").await;
    for request in [across, after] {
        let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
        assert_eq!(state.status, RequestStatus::Finalized);
    }

    let log = node.terminate();
    let reported: Vec<_> = log.iter().filter(|line| line.contains("WARN")).collect();
    println!(
        "the node reported the outage in {} warnings, e.g. {:?}",
        reported.len(),
        reported.first()
    );
    assert!(!reported.is_empty(), "the outage was reported");
    assert_eq!(cluster.operator_state(0).await.requests_served, 3);
    cluster.assert_tokens_conserved().await;
}

/// What [`RpcProxy`] does with one JSON-RPC request.
enum ProxyAction {
    Forward,
    /// Holds it while the flag is set, then forwards it.
    HoldWhile(Arc<AtomicBool>),
    /// Answers it with this result, unforwarded.
    Answer(serde_json::Value),
}

/// A JSON-RPC proxy in front of the localnet that does with each request
/// what its hook says, and counts what it answered and what it holds.
struct RpcProxy {
    url: String,
    /// Requests answered, by method.
    answered: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Requests held right now.
    held: Arc<AtomicUsize>,
}

impl RpcProxy {
    async fn start(
        target: String,
        hook: impl Fn(&serde_json::Value) -> ProxyAction + Send + Sync + 'static,
    ) -> RpcProxy {
        use axum::{body::Bytes, http::header, routing::post, Router};
        let hook = Arc::new(hook);
        let answered: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> =
            Default::default();
        let held = Arc::new(AtomicUsize::new(0));
        let http = reqwest::Client::new();
        let (counts, holding) = (answered.clone(), held.clone());
        let forward = move |body: Bytes| {
            let (hook, http, target) = (hook.clone(), http.clone(), target.clone());
            let (counts, holding) = (counts.clone(), holding.clone());
            async move {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let action = hook(&request);
                if let ProxyAction::HoldWhile(flag) = &action {
                    holding.fetch_add(1, Ordering::SeqCst);
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    holding.fetch_sub(1, Ordering::SeqCst);
                }
                let answer = if let ProxyAction::Answer(result) = action {
                    serde_json::to_vec(&serde_json::json!({
                        "jsonrpc": "2.0",
                        "id": request["id"],
                        "result": result,
                    }))
                    .unwrap()
                } else {
                    let response = http
                        .post(&target)
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    response.bytes().await.unwrap().to_vec()
                };
                let method = request["method"].as_str().unwrap_or_default().to_string();
                *counts.lock().unwrap().entry(method).or_default() += 1;
                ([(header::CONTENT_TYPE, "application/json")], answer)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, Router::new().route("/", post(forward)))
                .await
                .unwrap();
        });
        RpcProxy {
            url,
            answered,
            held,
        }
    }

    fn answered(&self, method: &str) -> usize {
        self.answered
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }
}

/// Polls `done` every 50 ms until it holds; panics naming `what` after
/// `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for `request` to be committed; panics after `timeout`.
async fn wait_committed(
    cluster: &Cluster,
    request: &anchor_lang::prelude::Pubkey,
    timeout: Duration,
) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let state = cluster.request_state(request).await.expect("open");
        if state.status == RequestStatus::Committed {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{request} not committed within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request notified while a scan waits on a slow listing is served at
/// once, not after the scan: the proxy holds every listing of request
/// heads (serve's scan: a `getProgramAccounts` of a `dataSlice`, filtered
/// on the status byte) until the test ends, and the commitment lands while
/// one is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_notified_during_a_slow_scan_is_served_before_the_scan_ends() {
    let cluster = Cluster::start(1).await;
    let stall = Arc::new(AtomicBool::new(false));
    let stalling = stall.clone();
    let proxy = RpcProxy::start(cluster.localnet.rpc_url(), move |request| {
        let on_status = request["params"][1]["filters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|filter| {
                filter["memcmp"]["offset"] == sibyl::constants::REQUEST_STATUS_OFFSET as u64
            });
        let heads = request["params"][1]["dataSlice"].is_object();
        if request["method"] == "getProgramAccounts"
            && on_status
            && heads
            && stalling.load(Ordering::SeqCst)
        {
            ProxyAction::HoldWhile(stalling.clone())
        } else {
            ProxyAction::Forward
        }
    })
    .await;
    let mut config = cluster.node_config(0, &[Role::Serve], 0.0);
    config.cluster.rpc_url = proxy.url.clone();
    config.cluster.ws_url = cluster.localnet.pubsub_url();
    config.node.poll_interval_ms = 200;
    let (stop, node) = cluster.start_node(config).await;
    // A first request, served as usual: the model is known as served and
    // loaded, and scans have run.
    let first = cluster.request_digit("digit-6").await;
    wait_committed(&cluster, &first, Duration::from_secs(60)).await;
    assert!(proxy.answered("getProgramAccounts") >= 2);
    // The next scan waits on its listing.
    stall.store(true, Ordering::SeqCst);
    wait_until("serve's scan held", Duration::from_secs(10), || {
        proxy.held.load(Ordering::SeqCst) > 0
    })
    .await;
    let started = std::time::Instant::now();
    let request = cluster.request_digit("digit-2").await;
    // Well within the RPC client's 30 s timeout, which would end the held
    // scan.
    wait_committed(&cluster, &request, Duration::from_secs(10)).await;
    assert!(
        proxy.held.load(Ordering::SeqCst) > 0,
        "the scan was still held when the commitment landed"
    );
    println!(
        "committed {:?} after the request, during a held scan",
        started.elapsed()
    );
    stall.store(false, Ordering::SeqCst);
    stop.send(true).unwrap();
    node.await.unwrap();
}

/// A proxy that, while `hide` is set, answers `getSignatureStatuses` as an
/// RPC node whose recent-status cache lags would: every signature unknown,
/// unless the caller asks it to search its full history.
async fn lagging_status_proxy(target: String, hide: Arc<AtomicBool>) -> RpcProxy {
    RpcProxy::start(target, move |request| {
        let searches_history = request["params"][1]["searchTransactionHistory"]
            .as_bool()
            .unwrap_or(false);
        if request["method"] == "getSignatureStatuses"
            && hide.load(Ordering::SeqCst)
            && !searches_history
        {
            let unknown =
                vec![serde_json::Value::Null; request["params"][0].as_array().unwrap().len()];
            ProxyAction::Answer(serde_json::json!({ "context": { "slot": 1 }, "value": unknown }))
        } else {
            ProxyAction::Forward
        }
    })
    .await
}

/// A transaction whose confirmation the RPC node reports late is never
/// signed a second time while the first signing can still land: `add_stake`
/// (not idempotent) adds its amount exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_confirmation_never_makes_a_transaction_land_twice() {
    use sibyl_oracle::{
        actions::operator,
        chain::{ChainClient, SendSettings},
    };
    let cluster = Cluster::start(1).await;
    let hide = Arc::new(AtomicBool::new(false));
    let proxy = lagging_status_proxy(cluster.localnet.rpc_url(), hide.clone()).await;
    let wallet = &cluster.operators[0];
    let client = ChainClient::new(
        &proxy.url,
        &cluster.localnet.pubsub_url(),
        wallet.keypair.clone(),
        SendSettings {
            confirm_timeout: Duration::from_millis(500),
            retry_backoff: Duration::from_millis(100),
            ..SendSettings::default()
        },
    );
    let before = cluster.operator_state(0).await.stake;
    // Statuses stay unknown for longer than the blockhash lives (150
    // blocks of 50 ms): only the node's full history shows the stake landed.
    hide.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    operator::add_stake(&client, cluster.tokens, 1_000)
        .await
        .unwrap();
    hide.store(false, Ordering::SeqCst);
    println!(
        "add_stake confirmed after {:?} with statuses hidden",
        started.elapsed()
    );
    assert_eq!(
        cluster.operator_state(0).await.stake,
        before + 1_000,
        "the stake was added once"
    );
    cluster.assert_tokens_conserved().await;
}

/// `/healthz`, `/readyz` and `/metrics` as an orchestrator and Prometheus
/// read them: ready with the RPC endpoint up, not ready (saying why) while
/// it is gone, ready again after; balances and stake exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_reports_readiness_and_what_it_holds() {
    let cluster = Cluster::start(1).await;
    let proxy = FlakyProxy::start(cluster.localnet.rpc_addr).await;
    let mut config = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    config.cluster.rpc_url = proxy.url.clone();
    let listen = crate::cluster::serve_metrics(&mut config);
    let (stop, node) = cluster.start_node(config).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("http://{listen}{path}"));
        async move {
            // Not listening yet: status 0.
            let Ok(response) = http.get(url).send().await else {
                return (0, None, String::new());
            };
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|value| value.to_str().unwrap().to_string());
            (status, content_type, response.text().await.unwrap())
        }
    };
    let wait_for = |path: &'static str, status: u16| async move {
        for _ in 0..200 {
            let answer = get(path).await;
            if answer.0 == status {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never answered {status}");
    };
    wait_for("/healthz", 200).await;
    let (_, _, ready) = wait_for("/readyz", 200).await;
    println!("/readyz: {ready}");
    // Balances are read every few seconds: wait for the stake to show.
    let mut metrics = String::new();
    for _ in 0..100 {
        let (status, content_type, text) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(content_type
            .unwrap()
            .starts_with("application/openmetrics-text"));
        metrics = text;
        if metrics.contains(&format!("sibyl_stake {STAKE}")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for line in [
        format!("sibyl_stake {STAKE}"),
        "sibyl_subscription_connected 1".to_string(),
        "sibyl_journal_unfinished{kind=\"commit\"} 0".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} missing from\n{metrics}");
    }
    assert!(metrics.contains("sibyl_sol_balance_lamports "));
    assert!(!metrics.contains("sibyl_sol_balance_lamports 0\n"));

    // The RPC endpoint goes away: not ready, and it says why.
    proxy.up.store(false, Ordering::SeqCst);
    let (_, _, why) = wait_for_not_ready(&get).await;
    println!("/readyz with the RPC endpoint gone: {why}");
    assert!(why.contains("rpc: no successful read for"), "{why}");
    proxy.up.store(true, Ordering::SeqCst);
    wait_for("/readyz", 200).await;
    stop.send(true).unwrap();
    node.await.unwrap();
}

/// Polls `/readyz` until it answers 503 (the RPC staleness limit is 15 s).
async fn wait_for_not_ready<F, Fut>(get: &F) -> (u16, Option<String>, String)
where
    F: Fn(&str) -> Fut,
    Fut: std::future::Future<Output = (u16, Option<String>, String)>,
{
    for _ in 0..300 {
        let answer = get("/readyz").await;
        if answer.0 == 503 {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz stayed ready with the RPC endpoint gone");
}

/// The compute-unit limit and price a landed transaction asked for, and
/// the units it consumed.
async fn budget_of(
    client: &sibyl_oracle::chain::ChainClient,
    signature: &solana_signature::Signature,
) -> (u32, u64, u64) {
    use solana_rpc_client_api::request::RpcRequest;
    let landed: serde_json::Value = client
        .rpc()
        .send(
            RpcRequest::GetTransaction,
            serde_json::json!([signature.to_string(), {"encoding": "json", "commitment": "confirmed"}]),
        )
        .await
        .unwrap();
    let message = &landed["transaction"]["message"];
    let keys = message["accountKeys"].as_array().unwrap();
    let budget_program = solana_compute_budget_interface::ID.to_string();
    let (mut limit, mut price) = (None, 0);
    for ix in message["instructions"].as_array().unwrap() {
        let program = keys[ix["programIdIndex"].as_u64().unwrap() as usize]
            .as_str()
            .unwrap();
        let data = bs58::decode(ix["data"].as_str().unwrap())
            .into_vec()
            .unwrap();
        match (program == budget_program, data.first()) {
            // SetComputeUnitLimit: tag 2, then a u32; SetComputeUnitPrice: tag 3, then a u64.
            (true, Some(2)) => limit = Some(u32::from_le_bytes(data[1..5].try_into().unwrap())),
            (true, Some(3)) => price = u64::from_le_bytes(data[1..9].try_into().unwrap()),
            _ => {}
        }
    }
    let consumed = landed["meta"]["computeUnitsConsumed"].as_u64().unwrap();
    (limit.expect("a compute-unit limit"), price, consumed)
}

/// `add_stake` of `amount` by `client`'s wallet; returns its signature.
async fn add_stake(
    cluster: &Cluster,
    client: &sibyl_oracle::chain::ChainClient,
    amount: u64,
) -> solana_signature::Signature {
    use sibyl_client::{accounts, instruction};
    let wallet = client.wallet();
    let stake = instruction(
        accounts::stake(wallet, cluster.tokens.account_of(&wallet), cluster.tokens),
        sibyl::instruction::AddStake { amount },
    );
    client.send("add_stake", &[stake], &[]).await.unwrap()
}

/// A transaction asks for the compute units its simulation consumed (with
/// the margin), not the configured ceiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_asks_for_the_units_its_simulation_consumed() {
    use sibyl_oracle::chain::{with_margin, SendSettings};
    let cluster = Cluster::start(1).await;
    let client = cluster.client(&cluster.operators[0]);
    let signature = add_stake(&cluster, &client, 1_000).await;
    let (asked, _, consumed) = budget_of(&client, &signature).await;
    println!("add_stake consumed {consumed} units and asked for {asked}");
    assert_eq!(
        asked,
        with_margin(consumed),
        "the simulation's units, with the margin"
    );
    assert!(asked < SendSettings::default().compute_unit_limit);
    // A second transaction of the same shape is not simulated again: it
    // asks for the limit the first simulation set, and lands with it (another
    // amount: the same bytes again would be the same transaction).
    let again = add_stake(&cluster, &client, 1_001).await;
    let (asked_again, _, consumed_again) = budget_of(&client, &again).await;
    assert_eq!(asked_again, asked, "the shape's limit, reused");
    assert!(consumed_again <= u64::from(asked_again));
}

/// A transaction that costs more units than its shape's known limit is
/// simulated again and sent at once with the new limit, not refused.
/// Creating an associated token account costs 1 500 units for each bump
/// seed tried: a wallet whose address takes more seeds to find than the
/// margin covers runs out under the limit a cheaper one set (a random
/// wallet's `fund` failed this way in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_past_its_shapes_known_limit_is_simulated_again_and_lands() {
    use anchor_lang::prelude::Pubkey;
    let cluster = Cluster::start(1).await;
    let client = cluster.client(&cluster.operators[0]);
    let tokens = cluster.tokens;
    let open = |wallet: &Pubkey| tokens.create_account(&client.wallet(), wallet);
    let ata_program = open(&Pubkey::default()).program_id;
    // Wallets are any 32 bytes (none signs): the first, counting up from
    // `from`, whose account's bump seed passes `fits`.
    let wallet_whose_bump = |from: u64, fits: &dyn Fn(u8) -> bool| {
        (from..)
            .map(|n| {
                let mut bytes = [7; 32];
                bytes[..8].copy_from_slice(&n.to_le_bytes());
                Pubkey::new_from_array(bytes)
            })
            .find(|wallet| {
                let seeds = [
                    wallet.as_ref(),
                    tokens.token_program.as_ref(),
                    tokens.mint.as_ref(),
                ];
                fits(Pubkey::find_program_address(&seeds, &ata_program).1)
            })
            .unwrap()
    };

    let cheap = wallet_whose_bump(0, &|bump| bump == 255);
    let first = client
        .send("open account", &[open(&cheap)], &[])
        .await
        .unwrap();
    let (limit, _, consumed) = budget_of(&client, &first).await;
    // The shape's limit is known: another as cheap is sent with it, so the
    // next one meets that limit, not a simulation of its own.
    let also_cheap = wallet_whose_bump(1_000_000, &|bump| bump == 255);
    let known = client
        .send("open account", &[open(&also_cheap)], &[])
        .await
        .unwrap();
    assert_eq!(
        budget_of(&client, &known).await.0,
        limit,
        "the shape's limit, reused"
    );
    // Enough seeds more than the margin pays for, and two to spare.
    let more_seeds = (limit - u32::try_from(consumed).unwrap()) / 1_500 + 2;
    let dear = wallet_whose_bump(0, &|bump| u32::from(bump) <= 255 - more_seeds);
    println!("the first account consumed {consumed} units under {limit}; the next takes {more_seeds} more seeds");

    let second = client
        .send("open account", &[open(&dear)], &[])
        .await
        .unwrap();
    let (limit_again, _, consumed_again) = budget_of(&client, &second).await;
    assert!(
        consumed_again > u64::from(limit),
        "the second needed more than the first's limit ({consumed_again} ≤ {limit})"
    );
    assert!(limit_again > limit, "sent with a new simulation's limit");
    assert_eq!(
        client
            .token_balance(&tokens.account_of(&dear))
            .await
            .unwrap(),
        Some(0),
        "the account was created"
    );
}

/// The priority fee follows what recent transactions that wrote the same
/// accounts paid, never above the configured most nor below the least.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_priority_fee_follows_recent_writers_within_the_bounds() {
    use sibyl_oracle::chain::{ChainClient, SendSettings};
    let cluster = Cluster::start(2).await;
    let client = |index: usize, least: u64, most: u64| {
        ChainClient::new(
            &cluster.localnet.rpc_url(),
            &cluster.localnet.pubsub_url(),
            cluster.operators[index].keypair.clone(),
            SendSettings {
                priority_fee_micro_lamports: least,
                max_priority_fee_micro_lamports: most,
                ..SendSettings::default()
            },
        )
    };
    // Nobody has paid for the stake vault yet: the least.
    let first = add_stake(&cluster, &client(0, 0, 100_000), 1_000).await;
    assert_eq!(budget_of(&client(0, 0, 0), &first).await.1, 0);
    // A slot's figure is the lowest price that wrote the account in it:
    // the payment below gets a slot of its own.
    cluster.wait_slots(2).await;
    // Operator 1 pays 5 000 to write the stake vault (its least).
    let eager = add_stake(&cluster, &client(1, 5_000, 5_000), 1_000).await;
    assert_eq!(budget_of(&client(1, 0, 0), &eager).await.1, 5_000);
    // Operator 0 then pays what was paid, or its most if that is lower.
    let following = add_stake(&cluster, &client(0, 0, 100_000), 1_000).await;
    assert_eq!(budget_of(&client(0, 0, 0), &following).await.1, 5_000);
    let capped = add_stake(&cluster, &client(0, 0, 3_000), 1_000).await;
    assert_eq!(budget_of(&client(0, 0, 0), &capped).await.1, 3_000);
}

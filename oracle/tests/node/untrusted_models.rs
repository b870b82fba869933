//! Models named on chain are untrusted input: whoever registers a model
//! chooses its URI and its bytes. Each hostile model below gets a clear
//! error from the node's runner, and a serving node skips its requests
//! (refunded at their deadline) while it keeps serving its other model.
use crate::{
    bad_input::{float_input, register_with_input},
    cluster::{python_output, repo_root, test_params, Cluster},
};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{ConfigParams, Model, RequestStatus};
use sibyl_oracle::{
    actions::request,
    config::{Config, Role},
    engine::{Engine, EngineSettings},
    faulty::raw_http_server,
    hex,
    inference::{Lane, Runner},
    metrics::Metrics,
    store::{sha256_file, FetchLimits, ModelStore},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The node's configuration for this test: a base directory of its own,
/// small limits, and the local servers trusted by host and port only.
fn limited(cluster: &Cluster, config: &mut Config, trusted: &[&str]) {
    config.node.model_base_dir = cluster.private_model_base();
    config.node.inference_timeout_ms = 1_500;
    config.fetch.max_model_bytes = 1 << 20;
    config.fetch.read_timeout_ms = 500;
    config.fetch.timeout_ms = 5_000;
    config.fetch.allow_http = true;
    config.fetch.trusted_hosts = trusted
        .iter()
        .map(|url| url.trim_start_matches("http://").to_string())
        .collect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_models_get_clear_errors_and_the_node_keeps_serving() {
    let params = ConfigParams {
        request_timeout_slots: 60,
        ..test_params()
    };
    let cluster = Cluster::start_with(2, params).await;
    let base = cluster.private_model_base();
    std::fs::write(base.join("models/huge.onnx"), vec![0u8; 2 << 20]).unwrap();

    // A server that sends ten bytes of a model and then nothing; a mirror
    // the operator trusts that redirects to another local port.
    let mlp = std::fs::read(repo_root().join("models/mlp_float.onnx")).unwrap();
    let stalls = raw_http_server(
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", mlp.len()),
        mlp[..10].to_vec(),
        true,
    )
    .await;
    let target = raw_http_server(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            mlp.len()
        ),
        mlp.clone(),
        false,
    )
    .await;
    let mirror = raw_http_server(
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {target}/mlp_float.onnx\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Vec::new(),
        false,
    )
    .await;

    // Each registered under a hash of its own (a model's address is its hash).
    let hostile: Vec<(&str, Pubkey, &str)> = vec![
        (
            "file:///dev/zero",
            register_with_input(&cluster, [0xd0; 32], "file:///dev/zero".into(), vec![1, 16]).await,
            "outside the model base directory",
        ),
        (
            "an oversized file",
            register_with_input(
                &cluster,
                sha256_file(&base.join("models/huge.onnx")).unwrap(),
                "file://models/huge.onnx".into(),
                vec![1, 16],
            )
            .await,
            "larger than the 1048576-byte limit",
        ),
        (
            "a server that stalls",
            register_with_input(
                &cluster,
                [0xd1; 32],
                format!("{stalls}/mlp_float.onnx"),
                vec![1, 16],
            )
            .await,
            "no complete download within",
        ),
        (
            "a redirect to 127.0.0.1",
            register_with_input(
                &cluster,
                [0xd2; 32],
                format!("{mirror}/mlp_float.onnx"),
                vec![1, 16],
            )
            .await,
            "redirected: 127.0.0.1 is a loopback, private or reserved address",
        ),
        (
            "a model that runs forever",
            register_with_input(
                &cluster,
                sha256_file(&repo_root().join("models/broken/runs_forever.onnx")).unwrap(),
                "file://models/broken/runs_forever.onnx".into(),
                vec![1, 16],
            )
            .await,
            "ran past its time limit",
        ),
    ];

    // The runner the node uses, with the node's settings: each hostile model
    // fails with an error that says what is wrong, quickly, and the digits
    // model runs after them all the same.
    let mut config = cluster.node_config(0, &[Role::Serve], 0.0);
    limited(&cluster, &mut config, &[&stalls, &mirror]);
    let engine = Arc::new(Engine::new(&EngineSettings::default()).unwrap());
    let runner = Runner::new(
        engine,
        ModelStore::with_limits(
            cluster.dir.path().join("runner-cache"),
            config.node.model_base_dir.clone(),
            config.fetch.limits(),
        ),
        config.node.runner_settings(),
        Metrics::new(),
    );
    let client = cluster.client(&cluster.requester);
    let input = float_input(&[0.5; 16], vec![1, 16]);
    println!("{:<28} error", "hostile model");
    for (name, address, says) in &hostile {
        let model: Model = client.fetch_required(address, "model").await.unwrap();
        let started = Instant::now();
        let error = runner
            .run(Lane::Serve, &model, input.clone())
            .await
            .expect_err(name)
            .to_string();
        println!("{name:<28} {error}");
        assert!(error.contains(says), "{name}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: took {:?}",
            started.elapsed()
        );
        // Tried again at once, a failed fetch is not repeated: the model
        // waits out its backoff (a run that timed out says nothing about
        // the model, only about this input).
        if !name.contains("forever") {
            let started = Instant::now();
            let again = runner
                .run(Lane::Serve, &model, input.clone())
                .await
                .expect_err(name)
                .to_string();
            assert!(again.contains("trying again in"), "{name}: {again}");
            assert!(started.elapsed() < Duration::from_millis(500));
        }
    }
    let digits: Model = client
        .fetch_required(&cluster.model, "model")
        .await
        .unwrap();
    let sample = std::fs::read_to_string(repo_root().join("models/samples/digit-2.json")).unwrap();
    let digit_input = sibyl_oracle::input::from_json(&sample, &digits.inputs[0]).unwrap();
    assert_eq!(
        runner.run(Lane::Serve, &digits, digit_input).await.unwrap(),
        python_output("digit-2")
    );

    // A serving node with the same settings: requests to every hostile
    // model, then to digits. Digits is served and final; the rest are
    // skipped and refunded at their deadline by the crank.
    let (serve_stop, serve) = cluster.start_node(config).await;
    let (crank_stop, crank) = cluster
        .start_node(cluster.node_config(1, &[Role::Crank], 0.0))
        .await;
    let requester = cluster.requester.pubkey();
    let before = cluster.token_balance(&requester).await;
    let mut refused = Vec::new();
    for (name, address, _) in &hostile {
        refused.push((
            *name,
            cluster
                .request_input(*address, input.clone())
                .await
                .unwrap(),
        ));
    }
    let served = [
        cluster.request_digit("digit-2").await,
        cluster.request_digit("digit-8").await,
    ];
    for (request, sample) in served.iter().zip(["digit-2", "digit-8"]) {
        let state = cluster.wait_final(request, Duration::from_secs(120)).await;
        assert_eq!(state.status, RequestStatus::Finalized);
        assert_eq!(state.output, python_output(sample));
    }
    for (name, address) in &refused {
        let progress = cluster.wait_ended(address, Duration::from_secs(120)).await;
        assert!(
            matches!(progress, request::Progress::Closed),
            "{name}: {progress:?}"
        );
        println!("{name:<28} skipped by the node, expired, fee refunded");
    }
    assert_eq!(
        cluster.token_balance(&requester).await,
        before - 2 * 10_000,
        "only the two digits requests were paid for"
    );
    cluster.assert_tokens_conserved().await;
    for (stop, node) in [(serve_stop, serve), (crank_stop, crank)] {
        stop.send(true).unwrap();
        node.await.unwrap();
    }
}

/// A stop (SIGTERM) while a model runs on: the node waits at most
/// `node.shutdown_timeout_ms`, then cuts the run off; nothing was committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_cuts_off_work_still_running_after_the_shutdown_timeout() {
    let cluster = Cluster::start(1).await;
    let forever = register_with_input(
        &cluster,
        sha256_file(&repo_root().join("models/broken/runs_forever.onnx")).unwrap(),
        "file://models/broken/runs_forever.onnx".into(),
        vec![1, 16],
    )
    .await;
    let mut config = cluster.node_config(0, &[Role::Serve], 0.0);
    config.node.inference_timeout_ms = 600_000;
    config.node.shutdown_timeout_ms = 1_000;
    let (stop, node) = cluster.start_node(config).await;
    let address = cluster
        .request_input(forever, float_input(&[0.5; 16], vec![1, 16]))
        .await
        .unwrap();
    // Long enough for the node to fetch the model and start running it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stopping = Instant::now();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), node)
        .await
        .expect("the node stops within its shutdown timeout")
        .unwrap();
    println!("stopped {:?} after the signal", stopping.elapsed());
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let state = cluster.request_state(&address).await.unwrap();
    assert_eq!(
        state.status,
        RequestStatus::Pending,
        "nothing was committed"
    );
}

/// The files in `cache`, by name, sorted (partial downloads included).
fn cached_files(cache: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Models anyone can register cannot fill a node's memory or disk: with
/// room for one model, loading a second drops the first (its sessions and
/// its cached file), a file that does not load is not kept, a partial
/// download left by a stopped run is swept, and a dropped model loads again
/// when it is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_models_and_their_cached_files_stay_within_the_cap() {
    let cluster = Cluster::start(1).await;
    let client = cluster.client(&cluster.requester);
    let base = cluster.private_model_base();
    let fetch = |key: Pubkey| {
        let client = &client;
        async move { client.fetch_required::<Model>(&key, "model").await.unwrap() }
    };
    let digits = fetch(cluster.model).await;
    let mlp_hash = sha256_file(&base.join("models/mlp_float.onnx")).unwrap();
    let mlp = fetch(
        register_with_input(
            &cluster,
            mlp_hash,
            "file://models/mlp_float.onnx".into(),
            vec![1, 16],
        )
        .await,
    )
    .await;
    let garbage_path = base.join("models/not_onnx.onnx");
    std::fs::write(&garbage_path, b"bytes with a hash, but no model").unwrap();
    let garbage = fetch(
        register_with_input(
            &cluster,
            sha256_file(&garbage_path).unwrap(),
            "file://models/not_onnx.onnx".into(),
            vec![1, 16],
        )
        .await,
    )
    .await;

    let cache = cluster.dir.path().join("capped-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let stale = cache.join(format!(".{}.onnx.partial-1-0", hex::encode(&mlp_hash)));
    std::fs::write(&stale, b"half a model").unwrap();
    let mut config = cluster.node_config(0, &[Role::Serve], 0.0);
    config.node.max_loaded_models = 1;
    // Older than any fetch could take (here: no time at all).
    let sweeper = ModelStore::with_limits(
        cache.clone(),
        base.clone(),
        FetchLimits {
            timeout: Duration::ZERO,
            ..FetchLimits::default()
        },
    );
    assert_eq!(
        sweeper.remove_stale_partials(),
        1,
        "the partial download is swept"
    );
    let runner = Runner::new(
        Arc::new(Engine::new(&EngineSettings::default()).unwrap()),
        ModelStore::new(cache.clone(), base),
        config.node.runner_settings(),
        Metrics::new(),
    );
    let file_of = |model: &Model| format!("{}.onnx", hex::encode(&model.model_hash));
    let sample = std::fs::read_to_string(repo_root().join("models/samples/digit-2.json")).unwrap();
    let digit_input = sibyl_oracle::input::from_json(&sample, &digits.inputs[0]).unwrap();
    let mlp_input = float_input(&[0.5; 16], vec![1, 16]);

    let first = runner
        .run(Lane::Serve, &digits, digit_input.clone())
        .await
        .unwrap();
    assert_eq!(first, python_output("digit-2"));
    assert_eq!(cached_files(&cache), vec![file_of(&digits)]);
    runner.run(Lane::Serve, &mlp, mlp_input).await.unwrap();
    assert_eq!(runner.loaded_models(), 1, "room for one model");
    assert_eq!(cached_files(&cache), vec![file_of(&mlp)], "digits dropped");
    let refused = runner
        .run(Lane::Serve, &garbage, float_input(&[0.5; 16], vec![1, 16]))
        .await
        .expect_err("not a model");
    assert!(refused.to_string().contains("unavailable"), "{refused}");
    assert_eq!(
        cached_files(&cache),
        vec![file_of(&mlp)],
        "a file that does not load is not kept"
    );
    // Asked for again, digits is fetched and loaded again, and answers the same.
    let again = runner.run(Lane::Serve, &digits, digit_input).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(runner.loaded_models(), 1);
    assert_eq!(cached_files(&cache), vec![file_of(&digits)]);
}

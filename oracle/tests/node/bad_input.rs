//! Bad input reaching a node: each gets a protocol outcome, never a panic,
//! and no funds stuck. A request the node cannot serve (its input does not
//! fit the model; the model cannot be fetched, verified or loaded) is
//! skipped, expires at its deadline and is refunded by the crank. NaN and
//! infinity are numbers like any other: served and final.
//! (Oversized and empty inputs, retired models and low fees are refused at
//! request time: `tests/tests/program/requests.rs`, `tests/node/cli.rs`.)
use crate::cluster::{repo_root, test_params, Cluster};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    instructions::RegisterModelArgs,
    state::{ComparisonRule, ConfigParams, DType, Model, RequestStatus, TensorSpec},
};
use sibyl_oracle::{
    actions::{model, request},
    config::Role,
    engine::{Engine, EngineSettings},
    faulty::raw_http_server,
    store::sha256_file,
    tensor::{decode, encode, values_f64, Tensor},
};
use std::time::Duration;

/// How a request ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Refunded,
    Final(RequestStatus),
}

/// A float32 [1,16] model (the MLP fixture's shape) registered under
/// `model_hash`, fetched from `uri`.
pub async fn register_mlp_like(cluster: &Cluster, model_hash: [u8; 32], uri: String) -> Pubkey {
    register_with_input(cluster, model_hash, uri, vec![1, 16]).await
}

/// A float32 model with this input shape registered under `model_hash`.
pub async fn register_with_input(
    cluster: &Cluster,
    model_hash: [u8; 32],
    uri: String,
    input_shape: Vec<i64>,
) -> Pubkey {
    let engine = Engine::new(&EngineSettings::default()).unwrap();
    let args = RegisterModelArgs {
        model_hash,
        profile_id: engine.profile_id(),
        uri,
        price: 10_000,
        royalty_bps: 1_000,
        inputs: vec![TensorSpec {
            name: "input".to_string(),
            dtype: DType::Float32,
            shape: input_shape,
        }],
        outputs: vec![TensorSpec {
            name: "output".to_string(),
            dtype: DType::Float32,
            shape: vec![1, 4],
        }],
        output_views: vec![],
        referee: None,
        max_input_bytes: 512,
        max_output_bytes: 256,
        comparison: ComparisonRule::Tolerance {
            abs: 1e-5,
            rel: 1e-4,
        },
        challenge_window_override_slots: None,
    };
    model::register(&cluster.client(&cluster.publisher), cluster.tokens, args)
        .await
        .unwrap()
}

/// A local HTTP server that answers 404 to everything; returns its base URL.
async fn not_found_server() -> String {
    raw_http_server(
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
        Vec::new(),
        false,
    )
    .await
}

pub fn float_input(values: &[f32], dims: Vec<u64>) -> Vec<u8> {
    encode(&[Tensor::from_f32("", dims, values).unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_protocol_outcome_and_no_funds_stick() {
    let params = ConfigParams {
        request_timeout_slots: 60,
        ..test_params()
    };
    let cluster = Cluster::start_with(2, params).await;
    let mut serve_config = cluster.node_config(0, &[Role::Serve], 0.0);
    // The 404 server below is local, and the corrupt file is the test's own.
    serve_config.fetch.allow_http = true;
    serve_config.fetch.trusted_hosts = vec!["127.0.0.1".to_string()];
    serve_config.node.model_base_dir = cluster.private_model_base();
    let (serve_stop, serve) = cluster.start_node(serve_config).await;
    let (crank_stop, crank) = cluster
        .start_node(cluster.node_config(1, &[Role::Crank], 0.0))
        .await;

    // Models that cannot be served: a URI that 404s, a file whose hash is
    // not the registered one, a file that is not ONNX.
    let mlp = sha256_file(&repo_root().join("models/mlp_float.onnx")).unwrap();
    let missing = register_mlp_like(
        &cluster,
        mlp,
        format!("{}/mlp_float.onnx", not_found_server().await),
    )
    .await;
    let mut other = mlp;
    other[0] ^= 1;
    let mismatched =
        register_mlp_like(&cluster, other, "file://models/conv_small.onnx".into()).await;
    let garbage = cluster.private_model_base().join("models/garbage.onnx");
    std::fs::write(&garbage, b"definitely not a protobuf").unwrap();
    let corrupt = register_mlp_like(
        &cluster,
        sha256_file(&garbage).unwrap(),
        "file://models/garbage.onnx".to_string(),
    )
    .await;

    // A model that loads but fails when run (models/broken/).
    let fails = register_with_input(
        &cluster,
        sha256_file(&repo_root().join("models/broken/fails_at_runtime.onnx")).unwrap(),
        "file://models/broken/fails_at_runtime.onnx".into(),
        vec![1, -1],
    )
    .await;

    let digits = cluster.model;
    let mut extremes = [1.0f32; 64];
    extremes[0] = f32::NAN;
    extremes[1] = f32::INFINITY;
    let cases: Vec<(&str, Pubkey, Vec<u8>, Outcome)> = vec![
        (
            "malformed tensor bytes",
            digits,
            b"not a tensor".to_vec(),
            Outcome::Refunded,
        ),
        (
            "wrong dtype (uint8 for float32)",
            digits,
            encode(&[Tensor::new("", DType::Uint8, vec![1, 64], vec![1; 64]).unwrap()]),
            Outcome::Refunded,
        ),
        (
            "wrong shape ([1, 32] for [1, 64])",
            digits,
            float_input(&[1.0; 32], vec![1, 32]),
            Outcome::Refunded,
        ),
        (
            "two tensors for a one-input model",
            digits,
            [
                float_input(&[1.0], vec![1, 1]),
                float_input(&[2.0], vec![1, 1]),
            ]
            .concat(),
            Outcome::Refunded,
        ),
        (
            "NaN and infinity in the input",
            digits,
            float_input(&extremes, vec![1, 64]),
            Outcome::Final(RequestStatus::Finalized),
        ),
        (
            "a model URI that 404s",
            missing,
            float_input(&[0.5; 16], vec![1, 16]),
            Outcome::Refunded,
        ),
        (
            "a model file whose hash does not match",
            mismatched,
            float_input(&[0.5; 16], vec![1, 16]),
            Outcome::Refunded,
        ),
        (
            "a model that fails at run time",
            fails,
            float_input(&[0.5; 16], vec![1, 16]),
            Outcome::Refunded,
        ),
        (
            "a corrupt ONNX file",
            corrupt,
            float_input(&[0.5; 16], vec![1, 16]),
            Outcome::Refunded,
        ),
    ];

    let client = cluster.client(&cluster.requester);
    let requester = cluster.requester.pubkey();
    let before = cluster.token_balance(&requester).await;
    let mut paid = 0;
    let mut requests = Vec::new();
    for (name, model_address, input, _) in &cases {
        let address = cluster
            .request_input(*model_address, input.clone())
            .await
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        requests.push(address);
    }

    println!("{:<42} outcome", "bad input");
    for ((name, _, _, expected), address) in cases.iter().zip(&requests) {
        let outcome = match cluster.wait_ended(address, Duration::from_secs(120)).await {
            request::Progress::Closed => Outcome::Refunded,
            request::Progress::Final { state, .. } => {
                let model: Model = client.fetch_required(&state.model, "model").await.unwrap();
                assert_eq!(model.model_hash, state.model_hash);
                let outputs = decode(&state.output).expect("a canonical output");
                println!("{:<42} final, output {:?}", name, values_f64(&outputs[0]));
                paid += 10_000;
                Outcome::Final(state.status)
            }
            other => panic!("{name}: neither final nor refunded: {other:?}"),
        };
        if outcome == Outcome::Refunded {
            println!("{name:<42} skipped by the node, expired, fee refunded");
        }
        assert_eq!(&outcome, expected, "{name}");
    }
    assert_eq!(
        cluster.token_balance(&requester).await,
        before - paid,
        "every refused request's fee came back"
    );

    cluster.assert_tokens_conserved().await;
    for (stop, node) in [(serve_stop, serve), (crank_stop, crank)] {
        stop.send(true).unwrap();
        node.await.unwrap();
    }
}

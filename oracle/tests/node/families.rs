//! Real model shapes end to end (`models/families/`, docs/models.md): a
//! scikit-learn pipeline (dynamic batch, an int64 label and float
//! probabilities), a recurrent model (three inputs, one a scalar, and its
//! state out), a transformer encoder (int64 ids and mask of any length) and
//! an image CNN (a 3×224×224 input of about 600 KB, by reference). Each is
//! registered with `sibyl model register`, requested with `sibyl request`,
//! served, watched and final with Python's output; and a lying operator's
//! output on each is overturned to Python's.
use crate::{
    cli::sibyl_async,
    cluster::{repo_root, Cluster, InputServer},
};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    hashing,
    state::{DType, InferenceRequest, RequestStatus, TensorSpec},
};
use sibyl_oracle::{config::Role, hex, input};
use std::{path::PathBuf, time::Duration};

struct Family {
    name: String,
    file: String,
    max_input_bytes: u64,
    /// The bound on what goes on chain: the result where outputs have
    /// views, else the whole output.
    max_output_bytes: u64,
    /// Whether its input goes by reference (too large to carry).
    by_reference: bool,
    /// `--view` arguments, `NAME=VIEW`.
    views: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Clone)]
struct Case {
    /// The sample file.
    sample: String,
    /// Python's input encoding.
    input: Vec<u8>,
    /// The result Python's output projects on chain (the whole output
    /// where there are no views).
    result: Vec<u8>,
    /// SHA-256 of Python's whole output.
    whole_sha256: [u8; 32],
}

/// The canonical encoding of a one-input family's `.npy` sample (Python
/// records only its length and hash, not 600 KB of hex).
fn npy_encoding(family: &serde_json::Value, case: &serde_json::Value) -> Vec<u8> {
    let spec = &family["inputs"][0];
    let spec = TensorSpec {
        name: spec["name"].as_str().unwrap().to_string(),
        dtype: match spec["dtype"].as_str().unwrap() {
            "float32" => DType::Float32,
            other => panic!("no .npy sample of {other} here"),
        },
        shape: spec["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect(),
    };
    let sample = repo_root()
        .join("models")
        .join(case["sample"].as_str().unwrap());
    let encoding = input::from_npy(&std::fs::read(sample).unwrap(), &spec).unwrap();
    assert_eq!(encoding.len() as u64, case["input_len"].as_u64().unwrap());
    assert_eq!(
        hex::encode(&hashing::input_hash(&encoding)),
        case["input_hash"].as_str().unwrap()
    );
    encoding
}

fn families() -> Vec<Family> {
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("models/families/families.json")).unwrap(),
    )
    .unwrap();
    doc["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|family| {
            let by_reference = family["input_by_reference"].as_bool().unwrap_or(false);
            let views: Vec<String> = family["views"]
                .as_object()
                .map(|views| {
                    views
                        .iter()
                        .map(|(name, view)| format!("{name}={}", view.as_str().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            let on_chain_bound = if views.is_empty() {
                "max_output_bytes"
            } else {
                "result_max_bytes"
            };
            Family {
                name: family["name"].as_str().unwrap().to_string(),
                file: format!("models/{}", family["file"].as_str().unwrap()),
                max_input_bytes: family["max_input_bytes"].as_u64().unwrap(),
                max_output_bytes: family[on_chain_bound].as_u64().unwrap(),
                by_reference,
                views,
                cases: family["cases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|case| {
                        let bytes = |key: &str| hex::decode(case[key].as_str().unwrap()).unwrap();
                        let input = if by_reference {
                            npy_encoding(family, case)
                        } else {
                            bytes("input_encoding")
                        };
                        let result = if case["result_encoding"].is_string() {
                            bytes("result_encoding")
                        } else {
                            bytes("output_encoding")
                        };
                        let whole = bytes("output_encoding");
                        assert_eq!(
                            hex::encode(&hashing::whole_output_sha256(&whole)),
                            case["whole_output_sha256"].as_str().unwrap()
                        );
                        Case {
                            sample: format!("models/{}", case["sample"].as_str().unwrap()),
                            input,
                            result,
                            whole_sha256: hashing::whole_output_sha256(&whole),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// `sibyl ARGS` as `wallet`: its stdout, after asserting it succeeded.
async fn sibyl(cluster: &Cluster, wallet: PathBuf, args: Vec<String>) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = sibyl_async(cluster, &wallet, &args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `sibyl model register` for a family; its model address.
async fn register(cluster: &Cluster, family: &Family) -> Pubkey {
    let stdout = sibyl(
        cluster,
        cluster.publisher.keypair_path.clone(),
        vec![
            "model".into(),
            "register".into(),
            family.file.clone(),
            "--price".into(),
            "0.01".into(),
            "--max-input-bytes".into(),
            family.max_input_bytes.to_string(),
            "--max-output-bytes".into(),
            family.max_output_bytes.to_string(),
        ]
        .into_iter()
        .chain(
            family
                .views
                .iter()
                .flat_map(|view| ["--view".to_string(), view.clone()]),
        )
        .collect(),
    )
    .await;
    let address = stdout
        .lines()
        .find_map(|line| line.strip_prefix("registered model "))
        .unwrap_or_else(|| panic!("{}: no address in:\n{stdout}", family.name));
    address.trim().parse().unwrap()
}

/// The request `sibyl request` printed.
fn request_address(stdout: &str) -> Pubkey {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("request   "))
        .unwrap_or_else(|| panic!("no request in:\n{stdout}"))
        .trim()
        .parse()
        .unwrap()
}

async fn request_state(cluster: &Cluster, request: &Pubkey) -> InferenceRequest {
    cluster.request_state(request).await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_family_is_registered_requested_served_and_watched_by_the_cli() {
    let cluster = Cluster::start(2).await;
    let inputs = InputServer::start();
    let mut watcher = cluster.node_config(1, &[Role::Watch, Role::Vote], 0.0);
    let watcher_metrics = crate::cluster::serve_metrics(&mut watcher);
    let mut server = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let outputs_at = crate::cluster::serve_outputs(&mut server);
    InputServer::allow(&mut server);
    InputServer::allow(&mut watcher);
    let running = cluster.start_nodes([server, watcher]).await;
    // A scikit-learn classifier converted with its ZipMap: refused, and the
    // one-line error says how to convert it.
    let refused = sibyl_async(
        &cluster,
        &cluster.publisher.keypair_path,
        &[
            "model",
            "register",
            "models/broken/iris_zipmap.onnx",
            "--price",
            "0.01",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    eprintln!("{stderr}");
    assert!(!refused.status.success());
    assert!(stderr.contains("`output_probability`"), "{stderr}");
    assert!(stderr.contains("\"zipmap\": False"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let families = families();
    let mut models = Vec::new();
    let mut served = 0;
    for family in &families {
        let model = register(&cluster, family).await;
        models.push(model);
        let listed = sibyl(
            &cluster,
            cluster.requester.keypair_path.clone(),
            vec!["model".into(), "list".into()],
        )
        .await;
        let line = listed
            .lines()
            .find(|line| line.starts_with(&model.to_string()))
            .unwrap();
        eprintln!("{line}");

        // The first sample as one JSON object keyed by input name; an
        // image encoded by the CLI, put on a web server and named by its
        // URI.
        let Case {
            sample,
            input,
            result: output,
            whole_sha256,
        } = &family.cases[0];
        let mut request = vec!["request".into(), model.to_string(), sample.clone()];
        if family.by_reference {
            let encoded = cluster.dir.path().join(format!("{}.bin", family.name));
            let stdout = sibyl(
                &cluster,
                cluster.requester.keypair_path.clone(),
                vec![
                    "input".into(),
                    "encode".into(),
                    model.to_string(),
                    sample.clone(),
                    "-o".into(),
                    encoded.display().to_string(),
                ],
            )
            .await;
            assert!(
                stdout.contains(&format!("{} bytes", input.len())),
                "{stdout}"
            );
            inputs.put(&family.name, std::fs::read(&encoded).unwrap());
            request = vec![
                "request".into(),
                model.to_string(),
                encoded.display().to_string(),
                "--input-uri".into(),
                inputs.uri(&family.name),
            ];
        }
        let stdout = sibyl(&cluster, cluster.requester.keypair_path.clone(), request).await;
        eprintln!("{stdout}");
        assert!(stdout.contains("finalized"), "{}: {stdout}", family.name);
        let state = request_state(&cluster, &request_address(&stdout)).await;
        assert_eq!(state.status, RequestStatus::Finalized, "{}", family.name);
        if family.by_reference {
            assert!(stdout.contains("by reference"), "{stdout}");
            assert!(state.input.is_empty(), "nothing of the input on chain");
            assert_eq!(state.input_hash, hashing::input_hash(input));
            assert_eq!(state.input_len as usize, input.len());
        } else {
            assert_eq!(
                &state.input, input,
                "{}: the input Python encoded",
                family.name
            );
        }
        assert_eq!(&state.output, output, "{}: Python's output", family.name);
        assert_eq!(&state.whole_output_sha256, whole_sha256, "{}", family.name);
        if !family.views.is_empty() {
            // The whole output never went on chain: the CLI fetched it
            // from the server's node and checked it.
            assert!(
                stdout.contains(&format!(
                    "from http://{outputs_at}/outputs/{}: SHA-256",
                    hex::encode(whole_sha256)
                )),
                "{}: {stdout}",
                family.name
            );
            assert!(stdout.contains("logits top 5, row 0: class "), "{stdout}");
            let status = sibyl(
                &cluster,
                cluster.requester.keypair_path.clone(),
                vec!["status".into(), request_address(&stdout).to_string()],
            )
            .await;
            assert!(
                status.contains("its views are the result on chain"),
                "{status}"
            );
            assert!(status.contains("logits float32 [1, 1000]"), "{status}");
        }
        served += 1;
    }

    // The recurrent model's second case with one file per input, named and
    // in graph order, gives the same input as its JSON object.
    let lstm = families.iter().position(|f| f.name == "lstm_vad").unwrap();
    let Case {
        sample,
        input,
        result: output,
        ..
    } = &families[lstm].cases[1];
    let object: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join(sample)).unwrap()).unwrap();
    let mut files = Vec::new();
    for name in ["sr", "input", "state"] {
        let path = cluster.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, object[name].to_string()).unwrap();
        files.push(path.display().to_string());
    }
    let stdout = sibyl(
        &cluster,
        cluster.requester.keypair_path.clone(),
        vec![
            "request".into(),
            models[lstm].to_string(),
            format!("sr={}", files[0]),
            files[1].clone(),
            files[2].clone(),
        ],
    )
    .await;
    let state = request_state(&cluster, &request_address(&stdout)).await;
    assert_eq!(&state.input, input);
    assert_eq!(&state.output, output);
    assert!(stdout.contains("stateN float32 [2, 1, 16]"), "{stdout}");
    served += 1;

    // The watcher re-ran every one of them (and challenged none).
    let metrics = crate::cluster::metrics_text(watcher_metrics).await;
    let verified: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("sibyl_inference_seconds_count "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no inference count in:\n{metrics}"));
    assert_eq!(verified, served, "the watcher re-ran every request");
    assert!(
        metrics.contains("sibyl_challenged_total 0"),
        "no challenge: {metrics}"
    );

    running.stop().await;
    cluster.assert_tokens_conserved_with(&models).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_operator_on_every_family_is_overturned_to_pythons_output() {
    let cluster = Cluster::start(4).await;
    let running = cluster.start_nodes(cluster.dispute_nodes(1.0)).await;
    let mut models = Vec::new();
    let mut requests = Vec::new();
    // A challenge needs a referenced input on chain: the watcher would
    // write the image's 602 KB in 753 transactions, more than this test
    // waits for; `inputs::a_watcher_puts_a_referenced_input_on_chain_before_it_challenges_a_lie`
    // runs that path on a small input.
    for family in families().into_iter().filter(|family| !family.by_reference) {
        let model = register(&cluster, &family).await;
        models.push(model);
        let Case {
            input,
            result: output,
            ..
        } = family.cases.last().unwrap().clone();
        let request = cluster.request_input(model, input).await.unwrap();
        requests.push((family.name, request, output));
    }
    for (name, request, output) in requests {
        let state = cluster.wait_final(&request, Duration::from_secs(90)).await;
        assert_eq!(state.status, RequestStatus::Overturned, "{name}");
        if sibyl_oracle::engine::cpu_as_recorded() {
            assert_eq!(state.output, output, "{name}: the challenger's is Python's");
        } else if state.output != output {
            // Python recorded on another CPU class (docs/security.md).
            println!("{name}: the challenger's output differs from the recording on this CPU class (not asserted)");
        }
    }
    cluster.wait_votes_claimed(&[2, 3]).await;
    running.stop().await;
    cluster.assert_tokens_conserved_with(&models).await;
}

/// A publisher registers the encoder under specs that are not its graph's
/// (its output named `scores`, not `logits`): no honest output can ever be
/// committed or posted. An honest server skips the request; an accomplice
/// commits a made-up output that fits the registered specs; the watcher
/// challenges with a placeholder (its own output would be refused), the
/// voters find neither output theirs, and the commitment is rejected: the
/// requester refunded, the accomplice slashed, nothing final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_that_are_not_the_graphs_cannot_finalize_a_made_up_output() {
    let cluster = Cluster::start(4).await;
    let mut nodes = cluster.dispute_nodes(0.0);
    let server_metrics = crate::cluster::serve_metrics(&mut nodes[0]);
    let running = cluster.start_nodes(nodes).await;
    let family = families()
        .into_iter()
        .find(|family| family.name == "tiny_encoder")
        .unwrap();
    let path = repo_root().join(&family.file);
    let engine = sibyl_oracle::engine::Engine::new(&Default::default()).unwrap();
    let listing = sibyl_oracle::actions::model::Listing {
        uri: format!("file://{}", family.file),
        price: 10_000,
        royalty_bps: 1_000,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes: Some(family.max_input_bytes as u32),
        max_output_bytes: Some(family.max_output_bytes as u32),
        views: Vec::new(),
        referee: false,
    };
    let mut args = sibyl_oracle::actions::model::registration(&engine, &path, listing).unwrap();
    args.outputs[0].name = "scores".to_string();
    let model = sibyl_oracle::actions::model::register(
        &cluster.client(&cluster.publisher),
        cluster.tokens,
        args,
    )
    .await
    .unwrap();
    let requester = cluster.requester.pubkey();
    let requester_before = cluster.token_balance(&requester).await;

    let input = family.cases[0].input.clone();
    let request = cluster.request_input(model, input).await.unwrap();
    // The honest server runs it, finds its output does not fit, and skips
    // it once: no retry at every scan (it polls every 100 ms).
    let skipped = "sibyl_errors_total{service=\"serve\"} 1\n";
    let started = std::time::Instant::now();
    while !crate::cluster::metrics_text(server_metrics)
        .await
        .contains(skipped)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "never skipped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let metrics = crate::cluster::metrics_text(server_metrics).await;
    assert!(metrics.contains(skipped), "{metrics}");
    assert!(metrics.contains("sibyl_committed_total 0"), "{metrics}");
    let state = request_state(&cluster, &request).await;
    let made_up = sibyl_oracle::tensor::encode(&[sibyl_oracle::tensor::Tensor::from_f32(
        "scores",
        vec![1, 2],
        &[9.0, -9.0],
    )
    .unwrap()]);
    let accomplice = cluster.client(&cluster.operators[0]);
    let commit = sibyl_client::instruction(
        sibyl_client::accounts::commit_result(accomplice.wallet(), request, model),
        sibyl::instruction::CommitResult {
            sequence: state.sequence,
            whole_output_sha256: sibyl::hashing::whole_output_sha256(&made_up),
            trace_root: None,
            output: made_up,
        },
    );
    accomplice
        .send("commit_result", &[commit], &[])
        .await
        .expect("the program cannot tell the specs are not the graph's");

    let ended = cluster.wait_ended(&request, Duration::from_secs(90)).await;
    assert!(
        matches!(ended, sibyl_oracle::actions::request::Progress::Closed),
        "{ended:?}"
    );
    assert_eq!(cluster.operator_state(0).await.disputes_lost, 1);
    assert_eq!(
        cluster.token_balance(&requester).await,
        requester_before,
        "the requester is refunded in full"
    );
    cluster.wait_votes_claimed(&[2, 3]).await;
    running.stop().await;
    cluster.assert_tokens_conserved_with(&[model]).await;
}

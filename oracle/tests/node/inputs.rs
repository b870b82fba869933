//! Inputs by reference on the localnet (`docs/protocol.md`, "Inputs by
//! reference"): a node that cannot get the declared bytes judges nothing
//! and demands them on chain; the requester writes them with `sibyl input
//! write`, or the request is voided and nobody is paid or slashed.
use crate::{
    cli::sibyl_async,
    cluster::{
        digit_input, metrics_text, repo_root, serve_metrics, test_params, Cluster, InputServer,
    },
};
use sibyl::state::{ConfigParams, RequestStatus};
use sibyl_client::pda;
use sibyl_oracle::{actions::request::Progress, config::Role};
use std::time::Duration;

/// Polls `request` until `reached` holds of it (panics after 60 s, or if a
/// lie went final meanwhile); the state that reached it.
async fn wait_for(
    cluster: &Cluster,
    request: &anchor_lang::prelude::Pubkey,
    what: &str,
    reached: impl Fn(&sibyl::state::InferenceRequest) -> bool,
) -> sibyl::state::InferenceRequest {
    let started = std::time::Instant::now();
    loop {
        let state = cluster.request_state(request).await.unwrap();
        if reached(&state) {
            return state;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `address`'s `/metrics` until `line` is in it (panics after 60 s).
async fn wait_metric(address: std::net::SocketAddr, line: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = metrics_text(address).await;
        if text.contains(line) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no `{line}` in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_nobody_can_fetch_is_demanded_then_voided_with_nobody_paid_or_slashed() {
    // A short upload window: 100 slots of 50 ms.
    let params = ConfigParams {
        request_timeout_slots: 100,
        ..test_params()
    };
    let cluster = Cluster::start_with(2, params).await;
    let inputs = InputServer::start();
    let mut server = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let server_metrics = serve_metrics(&mut server);
    let mut watcher = cluster.node_config(1, &[Role::Watch], 0.0);
    InputServer::allow(&mut server);
    InputServer::allow(&mut watcher);
    let running = cluster.start_nodes([server, watcher]).await;
    let requester = cluster.requester.pubkey();
    let tokens_before = cluster.token_balance(&requester).await;
    let stakes_before = [
        cluster.operator_state(0).await.stake,
        cluster.operator_state(1).await.stake,
    ];

    // Nothing is ever put at this URI: every fetch gets a 404.
    let request = cluster
        .request_by_reference(
            cluster.model,
            digit_input("digit-2"),
            inputs.uri("gone.bin"),
        )
        .await
        .unwrap();
    let metrics = wait_metric(server_metrics, "sibyl_inputs_demanded_total 1").await;
    assert!(metrics.contains("sibyl_committed_total 0"), "{metrics}");
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(state.status, RequestStatus::Pending);
    assert_eq!(
        state.input_demanded_by,
        pda::operator(&cluster.operators[0].pubkey())
    );
    // `sibyl status` tells the requester what to do.
    let status = sibyl_async(
        &cluster,
        &cluster.requester.keypair_path,
        &["status", &request.to_string()],
    )
    .await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("input demanded by operator"), "{stdout}");
    assert!(stdout.contains("sibyl input write"), "{stdout}");

    // The window passes unmet: the crank voids it.
    let ended = cluster.wait_ended(&request, Duration::from_secs(60)).await;
    assert!(matches!(ended, Progress::Closed), "{ended:?}");
    assert_eq!(cluster.token_balance(&requester).await, tokens_before);
    for (index, before) in stakes_before.iter().enumerate() {
        let operator = cluster.operator_state(index).await;
        assert_eq!(operator.stake, *before, "nobody slashed");
        assert_eq!(operator.open_commitments, 0);
    }
    let metrics = metrics_text(server_metrics).await;
    assert!(
        metrics.contains("sibyl_cranked_total{instruction=\"void_request\"} 1"),
        "{metrics}"
    );
    running.stop().await;
    cluster.assert_tokens_conserved().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_whose_bytes_do_not_match_is_refused_then_written_on_chain_and_served() {
    let cluster = Cluster::start(2).await;
    let inputs = InputServer::start();
    let mut server = cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0);
    let server_metrics = serve_metrics(&mut server);
    let mut watcher = cluster.node_config(1, &[Role::Watch], 0.0);
    InputServer::allow(&mut server);
    InputServer::allow(&mut watcher);
    let running = cluster.start_nodes([server, watcher]).await;

    // The URI serves other bytes than the request declares.
    let input = digit_input("digit-2");
    let mut other = input.clone();
    let last = other.len() - 1;
    other[last] ^= 0x40;
    inputs.put("digit.bin", other.clone());
    let request = cluster
        .request_by_reference(cluster.model, input.clone(), inputs.uri("digit.bin"))
        .await
        .unwrap();
    let metrics = wait_metric(server_metrics, "sibyl_inputs_demanded_total 1").await;
    assert!(metrics.contains("sibyl_committed_total 0"), "{metrics}");
    assert!(
        !metrics.contains("sibyl_inputs_unavailable_total 0"),
        "{metrics}"
    );

    // The requester answers the demand from the CLI: the wrong file is
    // refused before anything is sent, the right one is written.
    let write = |file: std::path::PathBuf| {
        let (cluster, request) = (&cluster, request.to_string());
        async move {
            sibyl_async(
                cluster,
                &cluster.requester.keypair_path,
                &["input", "write", &request, &file.display().to_string()],
            )
            .await
        }
    };
    let wrong = cluster.dir.path().join("other.bin");
    std::fs::write(&wrong, &other).unwrap();
    let refused = write(wrong).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("is not the request's input"), "{stderr}");
    let right = cluster.dir.path().join("digit.bin");
    std::fs::write(&right, &input).unwrap();
    let written = write(right).await;
    let stdout = String::from_utf8_lossy(&written.stdout);
    assert!(
        written.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert!(stdout.contains("input written on chain"), "{stdout}");

    // Served from the requester's buffer on chain, watched, final: the same output as
    // the same input carried on chain from the start.
    let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    assert!(state.input.is_empty());
    let buffer = pda::input_buffer_of(&request, &state, &cluster.requester.pubkey());
    assert_eq!(state.input_buffer, buffer);
    let carried = cluster.request_input(cluster.model, input).await.unwrap();
    let carried = cluster.wait_final(&carried, Duration::from_secs(60)).await;
    assert_eq!(state.output, carried.output);
    // Final: the requester takes its buffer's rent back.
    let closed = sibyl_async(
        &cluster,
        &cluster.requester.keypair_path,
        &["input", "close"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&closed.stdout);
    assert!(closed.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("closed {buffer}")), "{stdout}");
    assert!(cluster.request_state(&request).await.is_some());
    running.stop().await;
    cluster.assert_tokens_conserved().await;
}

/// A lie on a referenced input every node can fetch: the watcher, finding
/// the commitment wrong, demands the input and writes it on chain itself
/// (a challenge needs it there, so that every voter reads the same bytes),
/// then challenges; the lie is overturned, and its crank closes the buffer
/// it wrote once the result is final, its rent back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_puts_a_referenced_input_on_chain_before_it_challenges_a_lie() {
    let cluster = Cluster::start(4).await;
    let inputs = InputServer::start();
    let mut nodes = cluster.dispute_nodes(1.0);
    nodes.iter_mut().for_each(InputServer::allow);
    let running = cluster.start_nodes(nodes).await;
    let watcher = cluster.operators[1].pubkey();

    let input = digit_input("digit-8");
    inputs.put("digit.bin", input.clone());
    let request = cluster
        .request_by_reference(cluster.model, input.clone(), inputs.uri("digit.bin"))
        .await
        .unwrap();
    let state = cluster.wait_final(&request, Duration::from_secs(90)).await;
    assert_eq!(state.status, RequestStatus::Overturned);
    assert_eq!(
        state.input_demanded_by,
        pda::operator(&cluster.operators[1].pubkey())
    );
    let buffer = pda::input_buffer_of(&request, &state, &watcher);
    assert_eq!(
        state.input_buffer, buffer,
        "the watcher's copy is the input"
    );
    let client = cluster.client(&cluster.requester);
    let started = std::time::Instant::now();
    while client
        .raw_account(&buffer, "input buffer")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the watcher's crank never closed its buffer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.wait_votes_claimed(&[2, 3]).await;
    running.stop().await;
    cluster.assert_tokens_conserved().await;
}

/// A requester serves its input to a lying operator only (here: the
/// watcher's node does not fetch plain HTTP). The watcher cannot judge the
/// commitment, so it demands the input inside the challenge window, which
/// stops; once the requester writes it, the window starts again, the
/// watcher checks the bytes on chain and the lie is overturned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lie_on_an_input_only_the_liar_could_fetch_is_demanded_and_then_overturned() {
    let cluster = Cluster::start(4).await;
    let inputs = InputServer::start();
    let mut nodes = cluster.dispute_nodes(1.0);
    InputServer::allow(&mut nodes[0]);
    let running = cluster.start_nodes(nodes).await;
    let liar_stake = cluster.operator_state(0).await.stake;

    let input = digit_input("digit-6");
    inputs.put("digit.bin", input.clone());
    let request = cluster
        .request_by_reference(cluster.model, input.clone(), inputs.uri("digit.bin"))
        .await
        .unwrap();
    let demanded = wait_for(&cluster, &request, "demanded", |state| {
        state.input_demanded()
    })
    .await;
    assert_eq!(demanded.status, RequestStatus::Committed);
    assert_eq!(
        demanded.input_demanded_by,
        pda::operator(&cluster.operators[1].pubkey())
    );
    // The original window passes: nothing final while the input is awaited.
    let slot = cluster.client(&cluster.requester).slot().await.unwrap();
    cluster
        .wait_slots(demanded.challenge_deadline_slot.saturating_sub(slot) + 5)
        .await;
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(state.status, RequestStatus::Committed, "not finalized");

    // The requester answers the demand.
    sibyl_oracle::actions::request::write_input_buffer(
        &cluster.client(&cluster.requester),
        request,
        &demanded,
        &input,
        0,
        |_| {},
    )
    .await
    .unwrap();
    let state = cluster.wait_final(&request, Duration::from_secs(90)).await;
    assert_eq!(state.status, RequestStatus::Overturned);
    assert!(
        cluster.operator_state(0).await.stake < liar_stake,
        "the liar slashed"
    );
    cluster.wait_votes_claimed(&[2, 3]).await;
    running.stop().await;
    cluster.assert_tokens_conserved().await;
}

/// The requester serves the input to the lying operator, then stalls every
/// other fetch, a byte every 4 s: the watcher's fetch would outlast the
/// 100-slot challenge window. Half-way through the window the watcher,
/// still without the bytes, demands the input, which stops the clock; the
/// requester writes it, the watcher checks it from chain, and the lie is
/// overturned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uri_that_stalls_cannot_outlast_the_challenge_window() {
    let cluster = Cluster::start(4).await;
    let inputs = InputServer::start();
    let mut nodes = cluster.dispute_nodes(1.0);
    nodes.iter_mut().for_each(InputServer::allow);
    let running = cluster.start_nodes(nodes).await;
    let input = digit_input("digit-2");
    inputs.put("slow.bin", input.clone());
    inputs.stall_after_first("slow.bin");
    let request = cluster
        .request_by_reference(cluster.model, input.clone(), inputs.uri("slow.bin"))
        .await
        .unwrap();
    let demanded = wait_for(&cluster, &request, "demanded", |state| {
        assert_ne!(state.status, RequestStatus::Finalized, "a lie went final");
        state.input_demanded()
    })
    .await;
    assert_eq!(demanded.status, RequestStatus::Committed);
    assert_eq!(
        demanded.input_demanded_by,
        pda::operator(&cluster.operators[1].pubkey())
    );
    sibyl_oracle::actions::request::write_input_buffer(
        &cluster.client(&cluster.requester),
        request,
        &demanded,
        &input,
        0,
        |_| {},
    )
    .await
    .unwrap();
    let state = cluster.wait_final(&request, Duration::from_secs(90)).await;
    assert_eq!(state.status, RequestStatus::Overturned);
    cluster.wait_votes_claimed(&[2, 3]).await;
    running.stop().await;
    cluster.assert_tokens_conserved().await;
}

/// Another operator demands the input of an honest commitment, hoping the
/// requester stays silent and the request is voided (the honest operator
/// unpaid). The honest node fetched the input to serve it, so it can again:
/// it writes the bytes on chain itself, and its result is final and paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_operator_answers_a_demand_on_its_own_commitment() {
    let cluster = Cluster::start(2).await;
    let inputs = InputServer::start();
    let mut server = cluster.node_config(0, &[Role::Serve, Role::Watch, Role::Crank], 0.0);
    InputServer::allow(&mut server);
    let running = cluster.start_nodes([server]).await;
    let served_before = cluster.operator_state(0).await.requests_served;

    let input = digit_input("digit-6");
    inputs.put("digit.bin", input.clone());
    let request = cluster
        .request_by_reference(cluster.model, input.clone(), inputs.uri("digit.bin"))
        .await
        .unwrap();
    let committed = wait_for(&cluster, &request, "committed", |state| {
        state.status == RequestStatus::Committed
    })
    .await;
    // Another operator demands; the requester never answers.
    let sybil = cluster.client(&cluster.operators[1]);
    let demand = sibyl_client::instruction(
        sibyl_client::accounts::demand_input(sybil.wallet(), request),
        sibyl::instruction::DemandInput {
            sequence: committed.sequence,
        },
    );
    sybil.send("demand_input", &[demand], &[]).await.unwrap();

    let state = cluster.wait_final(&request, Duration::from_secs(90)).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    let server = cluster.operators[0].pubkey();
    assert_eq!(
        state.input_buffer,
        pda::input_buffer_of(&request, &state, &server),
        "the honest operator's copy"
    );
    assert_eq!(
        cluster.operator_state(0).await.requests_served,
        served_before + 1,
        "paid"
    );
    running.stop().await;
    cluster.assert_tokens_conserved().await;
}

/// An input of six chunks, demanded on an honest commitment by another
/// operator, with lamports sent beforehand to the honest node's buffer
/// address to trip its first write: the node writes every chunk (its crank
/// leaves the buffer alone while it is being written), the result is final
/// and paid, and the crank then closes the buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_input_is_written_in_full_despite_a_donation_and_closed_once_final() {
    let cluster = Cluster::start(2).await;
    let inputs = InputServer::start();
    // A model taking 1024 floats (a 4 KB input), served over HTTP.
    let path = cluster.dir.path().join("sum.onnx");
    let script = format!(
        "import onnx\nfrom onnx import helper, TensorProto\n\
         axes = helper.make_tensor('axes', TensorProto.INT64, [1], [1])\n\
         node = helper.make_node('ReduceSum', ['x', 'axes'], ['y'], keepdims=1)\n\
         g = helper.make_graph([node], 'sum', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 1024])], \
         [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 1])], [axes])\n\
         m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])\n\
         m.ir_version = 8\n\
         onnx.save(m, '{}')\n",
        path.display()
    );
    let made = std::process::Command::new(repo_root().join(".local/venv/bin/python"))
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(made.success());
    inputs.put("sum.onnx", std::fs::read(&path).unwrap());
    let engine = sibyl_oracle::engine::Engine::new(&Default::default()).unwrap();
    let listing = sibyl_oracle::actions::model::Listing {
        uri: inputs.uri("sum.onnx"),
        price: 10_000,
        royalty_bps: 0,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes: None,
        max_output_bytes: None,
        views: Vec::new(),
        referee: false,
    };
    let args = sibyl_oracle::actions::model::registration(&engine, &path, listing).unwrap();
    let spec = args.inputs[0].clone();
    let model = sibyl_oracle::actions::model::register(
        &cluster.client(&cluster.publisher),
        cluster.tokens,
        args,
    )
    .await
    .unwrap();

    let mut server = cluster.node_config(0, &[Role::Serve, Role::Watch, Role::Crank], 0.0);
    InputServer::allow(&mut server);
    let running = cluster.start_nodes([server]).await;
    let served_before = cluster.operator_state(0).await.requests_served;
    let values: Vec<f32> = (0..1024).map(|k| k as f32 / 1024.0).collect();
    let json = serde_json::to_string(&values).unwrap();
    let input = sibyl_oracle::input::from_json(&json, &spec).unwrap();
    assert!(input.len() > 5 * 800, "several chunks: {}", input.len());
    inputs.put("x.bin", input.clone());
    let request = cluster
        .request_by_reference(model, input.clone(), inputs.uri("x.bin"))
        .await
        .unwrap();
    let committed = wait_for(&cluster, &request, "committed", |state| {
        state.status == RequestStatus::Committed
    })
    .await;
    let server = cluster.operators[0].pubkey();
    let buffer = pda::input_buffer_of(&request, &committed, &server);
    let requester = cluster.client(&cluster.requester);
    let donation =
        solana_system_interface::instruction::transfer(&requester.wallet(), &buffer, 1_000_000);
    requester.send("donation", &[donation], &[]).await.unwrap();
    let sybil = cluster.client(&cluster.operators[1]);
    let demand = sibyl_client::instruction(
        sibyl_client::accounts::demand_input(sybil.wallet(), request),
        sibyl::instruction::DemandInput {
            sequence: committed.sequence,
        },
    );
    sybil.send("demand_input", &[demand], &[]).await.unwrap();

    let state = cluster.wait_final(&request, Duration::from_secs(90)).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    assert_eq!(state.input_buffer, buffer, "the honest operator's copy");
    assert_eq!(
        cluster.operator_state(0).await.requests_served,
        served_before + 1
    );
    let started = std::time::Instant::now();
    while requester
        .raw_account(&buffer, "input buffer")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the crank never closed its spent buffer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
    cluster.assert_tokens_conserved_with(&[model]).await;
}

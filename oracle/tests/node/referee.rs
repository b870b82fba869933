//! The referee on the localnet, played by `sibyl node run` processes over
//! the generated int8 MLP (784 → 128 → 10), with no voter anywhere: a lying
//! operator loses by bisection; a lying challenger loses; an operator that
//! stops answering loses on its deadline. Tokens are conserved throughout.
use crate::{
    cluster::{repo_root, Cluster},
    process::NodeProcess,
};
use anchor_lang::prelude::Pubkey;
use sibyl::state::RequestStatus;
use sibyl_oracle::{
    actions::{model, request::Progress},
    config::Role,
    engine::{Engine, EngineSettings},
};
use std::time::Duration;

/// `sibyl model register models/referee/int8_mlp.onnx --referee`; the model.
async fn register_mlp(cluster: &Cluster) -> Pubkey {
    let engine = Engine::new(&EngineSettings::default()).expect("ONNX Runtime");
    let listing = model::Listing {
        uri: "file://models/referee/int8_mlp.onnx".to_string(),
        price: 10_000,
        royalty_bps: 1_000,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes: None,
        max_output_bytes: None,
        views: Vec::new(),
        referee: true,
    };
    let path = repo_root().join("models/referee/int8_mlp.onnx");
    let args = model::registration(&engine, &path, listing).expect("the MLP qualifies");
    assert!(args.referee.is_some());
    model::register(&cluster.client(&cluster.publisher), cluster.tokens, args)
        .await
        .expect("registered")
}

/// A `[1, 784]` uint8 input.
fn input(seed: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..784u32)
        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
        .collect();
    sibyl::encoding::encode(&[sibyl::encoding::Tensor::new(
        "input",
        sibyl::state::DType::Uint8,
        vec![1, 784],
        pixels,
    )
    .unwrap()])
}

/// Starts operator `index` as a `sibyl node run` process.
fn spawn(cluster: &Cluster, index: usize, roles: &[Role], faulty_rate: f64) -> NodeProcess {
    let config = cluster.node_config(index, roles, faulty_rate);
    let path = cluster.dir.path().join(format!("node-{index}.toml"));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    NodeProcess::spawn_started(&path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_operator_loses_by_bisection_with_no_verifier_online() {
    let cluster = Cluster::start(2).await;
    let mlp = register_mlp(&cluster).await;
    // 0 serves and lies; 1 watches and cranks. Nobody votes.
    let operator = spawn(&cluster, 0, &[Role::Serve], 1.0);
    let mut watcher = spawn(&cluster, 1, &[Role::Watch, Role::Crank], 0.0);
    let challenger = cluster.operators[1].pubkey();
    let (requester, challenger_before) = (
        cluster.requester.pubkey(),
        cluster.token_balance(&challenger).await,
    );
    let requester_before = cluster.token_balance(&requester).await;

    let request = cluster.request_input(mlp, input(7)).await.unwrap();
    watcher.wait_for("opened a referee game", Duration::from_secs(60));
    let ended = cluster.wait_ended(&request, Duration::from_secs(120)).await;
    assert!(matches!(ended, Progress::Closed), "{ended:?}");

    let liar = cluster.operator_state(0).await;
    assert_eq!(liar.disputes_lost, 1);
    let slash = crate::cluster::STAKE / 5;
    assert_eq!(liar.stake, crate::cluster::STAKE - slash, "slashed 20 %");
    assert_eq!(
        cluster.token_balance(&requester).await,
        requester_before,
        "the requester is refunded in full"
    );
    assert_eq!(
        cluster.token_balance(&challenger).await,
        challenger_before + slash / 2,
        "the watcher: its bond back and half the slash"
    );
    // Decided by the step, after a bisection, not by a deadline.
    let log = watcher.terminate();
    assert!(
        !log.iter()
            .any(|line| line.contains("claim_referee_timeout")),
        "no deadline was missed"
    );
    let moves = log
        .iter()
        .filter(|line| line.contains("play_referee_move"))
        .count();
    assert!(moves >= 10, "the watcher moved {moves} times");
    operator.terminate();
    cluster.assert_tokens_conserved_with(&[mlp]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_challenger_loses_its_bond_and_the_result_stands_across_a_restart() {
    let cluster = Cluster::start(2).await;
    let mlp = register_mlp(&cluster).await;
    // 0 serves honestly; 1 watches and challenges every result with a lie.
    let operator = spawn(&cluster, 0, &[Role::Serve, Role::Crank], 0.0);
    let mut watcher = spawn(&cluster, 1, &[Role::Watch], 1.0);
    let challenger = cluster.operators[1].pubkey();
    let challenger_before = cluster.token_balance(&challenger).await;

    let request = cluster.request_input(mlp, input(9)).await.unwrap();
    watcher.wait_for("opened a referee game", Duration::from_secs(60));
    // The operator restarts mid-game: it defends from its run, recomputed
    // from the request's input, as if nothing happened.
    operator.kill();
    let mut operator = spawn(&cluster, 0, &[Role::Serve, Role::Crank], 0.0);
    operator.wait_for("play_referee_move", Duration::from_secs(30));
    let state = cluster.wait_final(&request, Duration::from_secs(120)).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    let honest = cluster.operator_state(0).await;
    assert_eq!((honest.disputes_won, honest.disputes_lost), (1, 0));
    assert_eq!(honest.stake, crate::cluster::STAKE, "not slashed");
    assert_eq!(
        cluster.token_balance(&challenger).await,
        challenger_before - crate::cluster::test_params().challenge_bond,
        "the liar's bond is gone"
    );
    watcher.terminate();
    operator.terminate();
    cluster.assert_tokens_conserved_with(&[mlp]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_that_stops_answering_loses_on_its_deadline() {
    let cluster = Cluster::start(2).await;
    let mlp = register_mlp(&cluster).await;
    let mut operator = spawn(&cluster, 0, &[Role::Serve], 1.0);
    let mut watcher = spawn(&cluster, 1, &[Role::Watch, Role::Crank], 0.0);

    let request = cluster.request_input(mlp, input(11)).await.unwrap();
    operator.wait_for("committed", Duration::from_secs(60));
    // The operator goes away before the game opens: it never answers.
    operator.kill();
    watcher.wait_for("opened a referee game", Duration::from_secs(60));
    watcher.wait_for("claim_referee_timeout", Duration::from_secs(120));
    let ended = cluster.wait_ended(&request, Duration::from_secs(60)).await;
    assert!(matches!(ended, Progress::Closed), "{ended:?}");
    assert_eq!(cluster.operator_state(0).await.disputes_lost, 1);
    watcher.terminate();
    cluster.assert_tokens_conserved_with(&[mlp]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_whose_parties_went_away_is_ended_by_any_crank() {
    let cluster = Cluster::start(3).await;
    let mlp = register_mlp(&cluster).await;
    let operator = spawn(&cluster, 0, &[Role::Serve], 1.0);
    let mut watcher = spawn(&cluster, 1, &[Role::Watch], 0.0);
    let request = cluster.request_input(mlp, input(13)).await.unwrap();
    watcher.wait_for("opened a referee game", Duration::from_secs(60));
    // Both parties go away mid-game.
    operator.kill();
    watcher.kill();
    // A node that only cranks ends the game on its deadline and settles it:
    // the commitment it held open does not stay open for ever.
    let mut crank = spawn(&cluster, 2, &[Role::Crank], 0.0);
    crank.wait_for("claim_referee_timeout", Duration::from_secs(120));
    crank.wait_for("settle_referee_game", Duration::from_secs(60));
    let ended = cluster.wait_ended(&request, Duration::from_secs(60)).await;
    assert!(matches!(ended, Progress::Closed), "{ended:?}");
    crank.terminate();
    cluster.assert_tokens_conserved_with(&[mlp]).await;
}

//! The `sibyl` command line as a user runs it: a paid request followed to
//! its finalized output, and the errors a user can cause.
use crate::cluster::{repo_root, Cluster};
use anchor_lang::prelude::Pubkey;
use sibyl_oracle::config::Role;
use std::process::{Command, Output};

fn sibyl(cluster: &Cluster, wallet: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sibyl"))
        .args([
            "-u",
            &cluster.localnet.rpc_url(),
            "--ws",
            &cluster.localnet.pubsub_url(),
            "-k",
        ])
        .arg(wallet)
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("sibyl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `sibyl ARGS` fails with one line on stderr that contains `expected`,
/// no panic and no placeholder address.
fn assert_refused(cluster: &Cluster, keypair: &std::path::Path, args: &[&str], expected: &str) {
    assert_refused_with(args, sibyl(cluster, keypair, args), expected);
}

/// As [`assert_refused`], for a run already made.
fn assert_refused_with(args: &[&str], output: Output, expected: &str) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected `{expected}` in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert!(
        !stderr.contains(&Pubkey::default().to_string()),
        "{args:?}: a placeholder address in:\n{stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: one line, got:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sibyl_request_pays_and_follows_a_png_to_its_finalized_output() {
    let cluster = Cluster::start(1).await;
    let (stop, node) = cluster
        .start_node(cluster.node_config(0, &[Role::Serve, Role::Crank], 0.0))
        .await;
    // The model as `sibyl migrate` prints it: the first 16 digits of its
    // hash and an ellipsis.
    let model = format!("{}…", &sibyl_oracle::hex::encode(&cluster.model_hash)[..16]);
    let wallet = cluster.requester.keypair_path.clone();
    let (rpc, ws) = (cluster.localnet.rpc_url(), cluster.localnet.pubsub_url());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sibyl"))
            .current_dir(repo_root())
            .args(["-u", &rpc, "--ws", &ws, "-k", wallet.to_str().unwrap()])
            .args([
                "request",
                &model,
                "models/samples/digit-2.png",
                "--pixel-max",
                "16",
            ])
            .output()
            .expect("sibyl runs")
    })
    .await
    .unwrap();
    let stdout = text(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("pending"), "{stdout}");
    assert!(stdout.contains("committed"), "{stdout}");
    assert!(stdout.contains("finalized"), "{stdout}");
    assert!(
        stdout.contains("top: class 2"),
        "the digit is a 2:\n{stdout}"
    );

    stop.send(true).unwrap();
    node.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_are_one_line_and_a_non_zero_exit() {
    let cluster = Cluster::start(0).await;
    let model = sibyl_oracle::hex::encode(&cluster.model_hash);
    let wallet = cluster.requester.keypair_path.clone();
    let missing = cluster.dir.path().join("missing.json");
    let cases: Vec<(Vec<String>, &std::path::Path, &str)> = vec![
        (
            vec!["model".into(), "list".into()],
            &missing,
            "cannot read keypair",
        ),
        (
            vec![
                "request".into(),
                model.clone(),
                "models/samples/nope.json".into(),
            ],
            &wallet,
            "reading models/samples/nope.json",
        ),
        (
            vec![
                "request".into(),
                model.clone(),
                "models/mlp_float.onnx".into(),
            ],
            &wallet,
            "unknown input type",
        ),
        (
            vec![
                "request".into(),
                "0".repeat(64),
                "models/samples/digit-2.json".into(),
            ],
            &wallet,
            "does not exist",
        ),
        (
            vec![
                "request".into(),
                model.clone(),
                "models/samples/digit-2.json".into(),
                "--fee".into(),
                "0.000001".into(),
            ],
            &wallet,
            "FeeBelowPrice",
        ),
        (
            vec![
                "request".into(),
                "0000000".into(),
                "models/samples/digit-2.json".into(),
            ],
            &wallet,
            "no model's hash starts with `0000000`",
        ),
        (
            vec![
                "request".into(),
                "not-a-model".into(),
                "models/samples/digit-2.json".into(),
            ],
            &wallet,
            "is neither a model address nor a model hash",
        ),
        (
            vec!["status".into(), "not-an-address".into()],
            &wallet,
            "not a valid request address",
        ),
        (
            vec!["operator".into(), "show".into()],
            &wallet,
            "does not exist",
        ),
    ];
    for (args, keypair, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_refused(&cluster, keypair, &args, expected);
    }
    let help = Command::new(env!("CARGO_BIN_EXE_sibyl"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&help.stdout);
    for command in [
        "node",
        "config",
        "model",
        "operator",
        "request",
        "status",
        "challenge",
        "finalize",
    ] {
        assert!(help.contains(command), "--help lists {command}:\n{help}");
    }
}

/// Each command, given what a newcomer gets wrong, says what was wrong and
/// what to do, in one line, with a non-zero exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_refuses_bad_input_in_one_line() {
    let cluster = Cluster::start(0).await;
    let wallet = cluster.requester.keypair_path.clone();
    let dir = cluster.dir.path();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let existing = path("existing.toml");
    std::fs::write(&existing, "").unwrap();
    let bad_models = path("bad-models.toml");
    std::fs::write(
        &bad_models,
        sibyl_oracle::config::Config::template("l", wallet.to_str().unwrap(), &["nothex".into()]),
    )
    .unwrap();
    let missing_keypair = path("missing.json");
    let (missing_config, new_config, missing_plan) = (
        path("missing.toml"),
        path("new.toml"),
        path("missing-plan.toml"),
    );
    let pending = cluster.request_digit("digit-2").await.to_string();
    let nowhere = Pubkey::new_unique().to_string();
    let digits = sibyl_oracle::hex::encode(&cluster.model_hash);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // node, config
        (
            vec!["node", "run", "-c", &missing_config],
            "write one with `sibyl config init`",
        ),
        (
            vec!["node", "run", "-c", &bad_models],
            "is not a 64-digit hex SHA-256",
        ),
        (
            vec!["config", "init", "-c", &existing],
            "exists; pass --force",
        ),
        (
            vec!["config", "init", "-c", &new_config, "--model", "nothex"],
            "invalid `node.models`",
        ),
        // protocol
        (
            vec!["protocol", "init", "--mint", "not-a-mint"],
            "is not a valid mint address",
        ),
        // model
        (
            vec!["model", "register", "models/nope.onnx", "--price", "1"],
            "reading models/nope.onnx",
        ),
        (
            vec![
                "model",
                "register",
                "models/mlp_float.onnx",
                "--price",
                "one",
            ],
            "`one` is not a token amount",
        ),
        (
            vec![
                "model",
                "register",
                "models/mlp_float.onnx",
                "--price",
                "1",
                "--rule",
                "bogus",
            ],
            "--rule",
        ),
        (
            vec!["model", "update", "0000000", "--price", "1"],
            "no model's hash starts with",
        ),
        (
            vec!["model", "retire", "not-a-model"],
            "is neither a model address nor a model hash",
        ),
        // operator
        (
            vec!["operator", "register", "--stake", "0.000001"],
            "StakeBelowMinimum",
        ),
        (
            vec![
                "operator",
                "register",
                "--stake",
                "20",
                "--payout-keypair",
                &missing_keypair,
            ],
            "cannot read keypair",
        ),
        (
            vec!["operator", "stake", "1"],
            "is not the node key of a registered operator",
        ),
        (
            vec!["operator", "unstake", "lots"],
            "`lots` is not a token amount",
        ),
        (
            vec!["operator", "withdraw", "--operator", "nobody"],
            "not a valid --operator address",
        ),
        (
            vec!["operator", "set-payout", &missing_keypair],
            "cannot read keypair",
        ),
        (
            vec!["operator", "show", "nobody"],
            "not a valid wallet address",
        ),
        // requests
        (
            vec!["request", &digits, "pxels=models/samples/digit-2.json"],
            "the model has no input `pxels` (it takes `pixels`)",
        ),
        (
            vec![
                "request",
                &digits,
                "models/samples/digit-2.json",
                "models/samples/digit-6.json",
            ],
            "2 inputs given, but the model takes `pixels`",
        ),
        (
            vec!["request", &digits, "models/samples/tiny_encoder-0.json"],
            "the model has no input `attention_mask` (it takes `pixels`)",
        ),
        (
            vec!["challenge", "not-a-request"],
            "not a valid request address",
        ),
        (
            vec!["challenge", &pending],
            "only a committed result can be challenged",
        ),
        (vec!["finalize", &nowhere], "does not exist"),
        (
            vec!["finalize", &pending],
            "only a committed result is finalized",
        ),
        // migrate, keygen
        (vec!["migrate", "--plan", &missing_plan], "cannot read it"),
        (vec!["keygen", "-o", &existing], "exists; pass --force"),
    ];
    for (args, expected) in &cases {
        assert_refused(&cluster, &wallet, args, expected);
    }
    // A cluster that is no URL (without the test's own -u).
    let args = ["-u", "nowhere", "protocol", "show"];
    let output = Command::new(env!("CARGO_BIN_EXE_sibyl"))
        .current_dir(repo_root())
        .args(args)
        .output()
        .unwrap();
    assert_refused_with(&args, output, "is not a URL or one of l, d, t, m");
    println!("{} bad inputs refused in one line each", cases.len() + 1);
}

/// Waits until `request` is committed; returns its challenge deadline slot.
async fn wait_committed(cluster: &Cluster, request: &anchor_lang::prelude::Pubkey) -> u64 {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = cluster
            .request_state(request)
            .await
            .expect("request exists");
        if state.status == sibyl::state::RequestStatus::Committed {
            return state.challenge_deadline_slot;
        }
        assert!(tokio::time::Instant::now() < deadline, "never committed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub async fn sibyl_async(cluster: &Cluster, wallet: &std::path::Path, args: &[&str]) -> Output {
    let (rpc, ws, wallet) = (
        cluster.localnet.rpc_url(),
        cluster.localnet.pubsub_url(),
        wallet.to_path_buf(),
    );
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sibyl"))
            .current_dir(repo_root())
            .args(["-u", &rpc, "--ws", &ws, "-k", wallet.to_str().unwrap()])
            .args(&args)
            .output()
            .expect("sibyl runs")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sibyl_challenge_re_executes_and_disputes_a_wrong_result() {
    let cluster = Cluster::start(1).await;
    let (stop, node) = cluster
        .start_node(cluster.node_config(0, &[Role::Serve], 1.0))
        .await;
    let request = cluster.request_digit("digit-6").await;
    wait_committed(&cluster, &request).await;

    let cache = cluster.dir.path().join("cli-models");
    let output = sibyl_async(
        &cluster,
        &cluster.publisher.keypair_path,
        &[
            "challenge",
            &request.to_string(),
            "--model-cache",
            cache.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("challenged"), "{stdout}");
    let state = cluster.request_state(&request).await.unwrap();
    assert_eq!(state.status, sibyl::state::RequestStatus::Challenged);
    let status = sibyl_async(
        &cluster,
        &cluster.publisher.keypair_path,
        &["status", &request.to_string()],
    )
    .await;
    assert!(
        text(&status.stdout).contains("challenged"),
        "{}",
        text(&status.stdout)
    );

    stop.send(true).unwrap();
    node.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sibyl_finalize_settles_a_result_once_its_window_passed() {
    let cluster = Cluster::start(1).await;
    // No crank: finalizing is left to the user.
    let (stop, node) = cluster
        .start_node(cluster.node_config(0, &[Role::Serve], 0.0))
        .await;
    let request = cluster.request_digit("digit-2").await;
    let challenge_deadline = wait_committed(&cluster, &request).await;

    let early = sibyl_async(
        &cluster,
        &cluster.publisher.keypair_path,
        &["finalize", &request.to_string()],
    )
    .await;
    assert!(!early.status.success());
    assert!(
        text(&early.stderr).contains("ChallengeWindowOpen"),
        "{}",
        text(&early.stderr)
    );

    let now = cluster.client(&cluster.requester).slot().await.unwrap();
    cluster
        .wait_slots(challenge_deadline.saturating_sub(now) + 1)
        .await;
    let output = sibyl_async(
        &cluster,
        &cluster.publisher.keypair_path,
        &["finalize", &request.to_string()],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status = sibyl_async(
        &cluster,
        &cluster.publisher.keypair_path,
        &["status", &request.to_string()],
    )
    .await;
    let stdout = text(&status.stdout);
    assert!(
        stdout.contains("finalized") && stdout.contains("top: class 2"),
        "{stdout}"
    );

    stop.send(true).unwrap();
    node.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_operator_commands_change_what_the_chain_holds() {
    let cluster = Cluster::start(0).await;
    let publisher = cluster.publisher.keypair_path.clone();
    let operator = cluster.requester.keypair_path.clone();
    let run = |wallet: &std::path::Path, args: &[&str]| {
        let output = sibyl(&cluster, wallet, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    };

    // A model registered from its file: hash, specs and bounds from the graph.
    let registered = run(
        &publisher,
        &[
            "model",
            "register",
            "models/mlp_float.onnx",
            "--price",
            "0.5",
        ],
    );
    let hash = sibyl_oracle::hex::encode(
        &sibyl_oracle::store::sha256_file(&repo_root().join("models/mlp_float.onnx")).unwrap(),
    );
    assert!(registered.contains(&hash), "{registered}");
    let listed = run(&publisher, &["model", "list"]);
    let line = listed
        .lines()
        .find(|l| l.contains(&hash[..16]))
        .expect("listed");
    assert!(
        line.contains("price 0.500000")
            && line.contains("input float32 [1, 16] → output float32 [1, 4]"),
        "{line}"
    );
    assert!(
        line.contains("Tolerance"),
        "float outputs default to a tolerance: {line}"
    );
    run(&publisher, &["model", "update", &hash, "--price", "1.25"]);
    assert!(run(&publisher, &["model", "list"]).contains("price 1.250000"));
    run(&publisher, &["model", "retire", &hash]);
    assert!(run(&publisher, &["model", "list"]).contains("RETIRED"));
    let refused = sibyl(
        &cluster,
        &operator,
        &["request", &hash, "models/samples/digit-2.json"],
    );
    assert!(
        text(&refused.stderr).contains("retired"),
        "{}",
        text(&refused.stderr)
    );

    // An operator's stake through its whole cycle, paid into a wallet apart
    // from its node key (here the publisher's), which alone unbonds.
    let payout = cluster.publisher.pubkey().to_string();
    let node_key = cluster.requester.pubkey().to_string();
    let publisher_keypair = publisher.to_str().unwrap();
    let shown = run(
        &operator,
        &[
            "operator",
            "register",
            "--stake",
            "20",
            "--payout-keypair",
            publisher_keypair,
        ],
    );
    assert!(
        shown.contains(&format!("payout            {payout}")),
        "{shown}"
    );
    run(&operator, &["operator", "stake", "1.5"]);
    let refused = |wallet: &std::path::Path, args: &[&str], error: &str| {
        let output = sibyl(&cluster, wallet, args);
        let stderr = text(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(error),
            "{args:?}: {stderr}"
        );
    };
    refused(
        &operator,
        &["operator", "unstake", "5"],
        "NotPayoutAuthority",
    );
    let shown = run(
        &publisher,
        &["operator", "unstake", "5", "--operator", &node_key],
    );
    assert!(shown.contains("stake             16.500000"), "{shown}");
    assert!(shown.contains("unbonding         5.000000"), "{shown}");
    refused(&operator, &["operator", "withdraw"], "UnbondingNotEnded");
    let node_keypair = operator.to_str().unwrap();
    refused(
        &operator,
        &["operator", "set-payout", node_keypair],
        "NotPayoutAuthority",
    );
    cluster
        .wait_slots(crate::cluster::test_params().unbonding_slots + 1)
        .await;
    let payout_account = cluster.tokens.account_of(&cluster.publisher.pubkey());
    let chain = cluster.client(&cluster.publisher);
    let decimals = chain.mint(&cluster.tokens.mint).await.unwrap().decimals;
    let before = chain.token_balance(&payout_account).await.unwrap().unwrap();
    // The node key withdraws; the stake goes to the payout wallet.
    let shown = run(&operator, &["operator", "withdraw"]);
    assert!(shown.contains("unbonding         0.000000"), "{shown}");
    let after = chain.token_balance(&payout_account).await.unwrap().unwrap();
    assert_eq!(after - before, 5 * 10u64.pow(decimals.into()));

    // The payout wallet hands over to a new wallet (whose token account the
    // command creates), which signs.
    let next = cluster.fund("next payout").unwrap();
    let shown = run(
        &publisher,
        &[
            "operator",
            "set-payout",
            next.keypair_path.to_str().unwrap(),
            "--operator",
            &node_key,
        ],
    );
    assert!(
        shown.contains(&format!("payout            {}", next.pubkey())),
        "{shown}"
    );
    refused(
        &publisher,
        &["operator", "unstake", "1", "--operator", &node_key],
        "NotPayoutAuthority",
    );
}

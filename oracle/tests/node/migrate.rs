//! `sibyl migrate` as a deployer runs it, against a fresh in-process
//! localnet: the committed localnet plan brings the cluster up once, and a
//! second run finds everything done and sends nothing.
use crate::cluster::repo_root;
use anchor_lang::prelude::Pubkey;
use sibyl::{
    instructions::UpdateModelArgs,
    state::{ComparisonRule, Config, Model},
};
use sibyl_client::{accounts::Tokens, pda};
use sibyl_localnet::{Localnet, LocalnetConfig};
use sibyl_oracle::testing::TestCluster;
use sibyl_oracle::{
    actions::model,
    chain::{ChainClient, SendSettings},
    store::sha256_file,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Arc,
};

/// A fresh localnet and a funded signer with its keypair file.
async fn start() -> (Localnet, tempfile::TempDir, Arc<Keypair>, PathBuf) {
    let net = TestCluster::start(LocalnetConfig::for_tests())
        .await
        .expect("localnet starts");
    let signer = net.fund("authority").expect("wallet funded");
    let TestCluster { localnet, dir } = net;
    (localnet, dir, signer.keypair, signer.keypair_path)
}

/// Runs `sibyl -u … -k KEYPAIR migrate ARGS…` from the repository root.
async fn migrate(localnet: &Localnet, keypair: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sibyl"));
    command
        .current_dir(repo_root())
        .args([
            "-u",
            &localnet.rpc_url(),
            "--ws",
            &localnet.pubsub_url(),
            "-k",
        ])
        .arg(keypair)
        .arg("migrate")
        .args(args);
    tokio::task::spawn_blocking(move || command.output().expect("sibyl runs"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `[step] status: detail` lines of a run.
fn steps(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| line.starts_with('['))
        .collect()
}

/// The address after `label` at the start of a summary line.
fn summary_address(stdout: &str, label: &str) -> Pubkey {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_brings_up_a_fresh_localnet_and_a_second_run_sends_nothing() {
    let (localnet, _dir, signer, keypair) = start().await;
    let tester = Keypair::new().pubkey();
    let tester_arg = tester.to_string();
    let args = [
        "--plan",
        "migrations/localnet.toml",
        "--fund",
        tester_arg.as_str(),
    ];

    let first = migrate(&localnet, &keypair, &args).await;
    let stdout = text(&first.stdout);
    println!("first run:\n{stdout}{}", text(&first.stderr));
    assert!(
        first.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&first.stderr)
    );
    let expected_first = [
        "[program] already done:",
        "[mint] done: created",
        "[initialize] done:",
        "[model models/digits.onnx] done: registered",
        "[model models/int8_matmul.onnx] done: registered",
        &format!("[fund {tester}] done: minted 1000.000000"),
    ];
    let lines = steps(&stdout);
    assert_eq!(lines.len(), expected_first.len(), "{stdout}");
    for (line, expected) in lines.iter().zip(expected_first) {
        assert!(line.starts_with(expected), "`{line}` is not `{expected}…`");
    }
    assert!(stdout.contains("\n5 transactions sent\n"), "{stdout}");
    assert!(
        text(&first.stderr).is_empty(),
        "no warnings on a fresh cluster"
    );
    let mint = summary_address(&stdout, "mint ");

    // On chain: the config with the signer as authority, both models as planned.
    let chain = ChainClient::new(
        &localnet.rpc_url(),
        &localnet.pubsub_url(),
        signer.clone(),
        SendSettings::default(),
    );
    let config: Config = chain.config().await.expect("the protocol is initialized");
    assert_eq!(config.authority, signer.pubkey());
    assert_eq!(config.payment_mint, mint);
    assert_eq!(
        config.params,
        sibyl_oracle::actions::protocol::localnet_params()
    );
    for (file, price, rule) in [
        (
            "models/digits.onnx",
            10_000,
            ComparisonRule::TopK {
                k: 1,
                tie_margin: sibyl_oracle::actions::model::DEFAULT_TIE_MARGIN,
            },
        ),
        ("models/int8_matmul.onnx", 5_000, ComparisonRule::Exact),
    ] {
        let hash = sha256_file(&repo_root().join(file)).unwrap();
        let model: Model = chain
            .fetch_required(&pda::model(&hash), "model")
            .await
            .unwrap_or_else(|err| panic!("{file} is registered: {err}"));
        assert_eq!(model.price, price, "{file}");
        assert_eq!(model.comparison, rule, "{file}");
        assert_eq!(model.uri, format!("file://{file}"));
        assert_eq!(model.publisher, signer.pubkey());
    }
    let tokens = Tokens {
        mint,
        token_program: anchor_spl::token::ID,
    };
    let tester_balance = chain
        .rpc()
        .get_token_account_balance(&tokens.account_of(&tester))
        .await
        .unwrap();
    assert_eq!(tester_balance.amount, "1000000000");

    // Again: everything already done, nothing sent, not a lamport spent.
    let lamports = chain.rpc().get_balance(&signer.pubkey()).await.unwrap();
    let second = migrate(&localnet, &keypair, &args).await;
    let stdout = text(&second.stdout);
    println!("second run:\n{stdout}{}", text(&second.stderr));
    assert!(
        second.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&second.stderr)
    );
    let lines = steps(&stdout);
    assert_eq!(lines.len(), expected_first.len(), "{stdout}");
    for line in lines {
        assert!(line.contains("] already done: "), "`{line}`");
    }
    assert!(stdout.contains("\n0 transactions sent\n"), "{stdout}");
    assert_eq!(summary_address(&stdout, "mint "), mint, "no second mint");
    assert!(text(&second.stderr).is_empty(), "no drift, no warnings");
    assert_eq!(
        chain.rpc().get_balance(&signer.pubkey()).await.unwrap(),
        lamports
    );

    // A model changed since: reported, not reverted.
    let digits = pda::model(&sha256_file(&repo_root().join("models/digits.onnx")).unwrap());
    let update = UpdateModelArgs {
        uri: None,
        price: Some(20_000),
        royalty_bps: None,
        challenge_window_override_slots: None,
    };
    model::update(&chain, digits, update).await.unwrap();
    let third = migrate(&localnet, &keypair, &args).await;
    let (stdout, stderr) = (text(&third.stdout), text(&third.stderr));
    println!("after a price change:\n{stdout}{stderr}");
    assert!(third.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("\n0 transactions sent\n"), "{stdout}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "warning: model models/digits.onnx ({digits}): its price is 0.020000, \
             the plan's 0.010000 (sibyl model update --price)"
        )
    );

    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_file_that_does_not_load_fails_the_plan_before_anything_is_sent() {
    let (localnet, dir, signer, keypair) = start().await;
    std::fs::write(dir.path().join("garbage.onnx"), b"not an ONNX model").unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
[protocol]
mint = "create"
params = "localnet"

[[models]]
file = "models/digits.onnx"
price = "0.01"

[[models]]
file = "garbage.onnx"
price = "0.01"
"#,
    )
    .unwrap();
    // The plan's own directory is its root: copy the good model beside it.
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::copy(
        repo_root().join("models/digits.onnx"),
        dir.path().join("models/digits.onnx"),
    )
    .unwrap();

    let output = migrate(&localnet, &keypair, &["--plan", plan.to_str().unwrap()]).await;
    let stderr = text(&output.stderr);
    println!("{}{stderr}", text(&output.stdout));
    assert!(!output.status.success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line:\n{stderr}");
    assert!(
        lines[0].starts_with("error: model garbage.onnx: "),
        "{stderr}"
    );
    // Checked before the first transaction: no mint, no protocol.
    let chain = ChainClient::new(
        &localnet.rpc_url(),
        &localnet.pubsub_url(),
        signer,
        SendSettings::default(),
    );
    assert!(chain
        .fetch::<Config>(&pda::config(), "protocol config")
        .await
        .unwrap()
        .is_none());
    assert!(!text(&output.stdout).contains("] done"));

    localnet.shutdown().await;
}

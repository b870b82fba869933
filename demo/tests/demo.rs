//! `make demo` as a test: the whole story at 50 ms slots must end with every
//! request as expected and every token accounted for.
use std::process::Command;

#[test]
fn the_demo_ends_every_request_as_expected() {
    let output = Command::new(env!("CARGO_BIN_EXE_sibyl-demo"))
        .args(["--slot-ms", "50"])
        .env("RUST_LOG", "error")
        .output()
        .expect("sibyl-demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "finalized    predicted digit 2",
        "finalized    predicted digit 6",
        "committed    by operator C",
        "challenged   by operator B",
        "overturned   operator C slashed 4.000000",
        "byte for byte what Python onnxruntime computed",
        "every request ended as expected; tokens conserved to the base unit",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
}

/// `sibyl-demo --serve` (what `make app` and the web app's browser tests
/// run): it says where it listens, funds the wallets it was given, keeps
/// serving, and stops cleanly on SIGTERM.
#[test]
fn serve_mode_funds_wallets_and_stops_on_sigterm() {
    use sibyl_oracle::chain::{ChainClient, SendSettings};
    use solana_keypair::Keypair;
    use solana_signer::Signer;
    use std::{
        io::{BufRead, BufReader},
        process::Stdio,
        sync::Arc,
        time::{Duration, Instant},
    };

    let (funded, airdropped) = (Keypair::new(), Keypair::new());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sibyl-demo"))
        .args([
            "--serve",
            "--slot-ms",
            "50",
            "--rpc-port",
            "0",
            "--ws-port",
            "0",
        ])
        .args(["--fund", &funded.pubkey().to_string()])
        .args(["--airdrop", &airdropped.pubkey().to_string()])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sibyl-demo --serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready: serde_json::Value = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| serde_json::from_str(&line).ok())
        .expect("a ready line of JSON");
    assert_eq!(ready["ready"], true);
    let models: Vec<&str> = ready["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|model| model["name"].as_str())
        .collect();
    assert_eq!(
        models,
        [
            "digits",
            "int8_matmul",
            "conv_small",
            "tiny_encoder",
            "classifier1000"
        ]
    );
    assert_eq!(ready["operators"].as_array().map(Vec::len), Some(3));

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let chain = ChainClient::new(
        ready["rpc"].as_str().expect("rpc"),
        ready["ws"].as_str().expect("ws"),
        Arc::new(Keypair::new()),
        SendSettings::default(),
    );
    let (sol, airdropped_sol, tokens, airdropped_tokens) = runtime.block_on(async {
        let tokens = chain
            .payment_tokens()
            .await
            .expect("the protocol is initialized");
        let balance = |wallet: &Keypair| {
            let account = tokens.account_of(&wallet.pubkey());
            let rpc = chain.rpc();
            async move {
                rpc.get_token_account_balance(&account)
                    .await
                    .map(|balance| balance.ui_amount_string)
                    .ok()
            }
        };
        (
            chain
                .rpc()
                .get_balance(&funded.pubkey())
                .await
                .expect("balance"),
            chain
                .rpc()
                .get_balance(&airdropped.pubkey())
                .await
                .expect("balance"),
            balance(&funded).await,
            balance(&airdropped).await,
        )
    });
    assert_eq!((sol, airdropped_sol), (100_000_000_000, 100_000_000_000));
    assert_eq!(tokens.as_deref(), Some("1000"));
    assert_eq!(airdropped_tokens, None, "--airdrop gives SOL only");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "sibyl-demo --serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(rest
        .iter()
        .any(|line| line.contains("stopping the nodes and the localnet")));
}

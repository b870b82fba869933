//! `sibyl-demo` (`make demo`): Sibyl end to end on one machine. It starts a
//! localnet (the real Agave runtime behind JSON-RPC and PubSub), brings it
//! to `migrations/localnet.toml` (payment mint, protocol, the digits and
//! int8 models), starts three oracle nodes (two honest, one `--faulty`),
//! pays for scripted requests from a funded wallet and prints each one's
//! timeline, then every party's balance before and after. It stops
//! everything it started and exits 0 only if every request ended as
//! expected and no token went missing.
//!
//! With `--serve` (`make app`, the web app's browser tests) it sets up the
//! same cluster and nodes, plus a model no node serves, funds the wallets it
//! is given, prints where it listens and serves until stopped.
mod history;
mod parties;
mod scenario;
mod serve;

use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use clap::Parser;
use parties::Parties;
use scenario::Scenario;
use sibyl_localnet::LocalnetConfig;
use sibyl_oracle::testing::TestCluster;
use sibyl_oracle::{
    actions::{migrate, plan::load_plan},
    engine::{Engine, EngineSettings},
};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

/// Sibyl end to end: localnet, three nodes (one faulty), paid requests.
#[derive(Parser, Debug)]
#[command(name = "sibyl-demo", version, about)]
struct Args {
    /// Slot length of the localnet, in milliseconds.
    #[arg(long, default_value_t = 200)]
    slot_ms: u64,
    /// Instead of the scripted requests, keep the cluster and its nodes
    /// running for the web app (`make app`) until Ctrl-C or SIGTERM; a
    /// line of JSON on stdout says where it listens once it is ready.
    #[arg(long)]
    serve: bool,
    /// With --serve: the JSON-RPC port (0: any free port).
    #[arg(long, default_value_t = 8899, requires = "serve")]
    rpc_port: u16,
    /// With --serve: the PubSub (WebSocket) port (0: any free port).
    #[arg(long, default_value_t = 8900, requires = "serve")]
    ws_port: u16,
    /// With --serve: a wallet to give 100 SOL and 1000 payment tokens (repeatable).
    #[arg(long = "fund", value_name = "WALLET", requires = "serve")]
    fund: Vec<Pubkey>,
    /// With --serve: a wallet to give 100 SOL only (repeatable).
    #[arg(long = "airdrop", value_name = "WALLET", requires = "serve")]
    airdrop: Vec<Pubkey>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repository (models, migrations, the ONNX Runtime in `.local/`).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("demo/ is in the repository")
        .to_path_buf()
}

async fn run(args: Args) -> Result<bool> {
    // Model URIs in the plan are relative to the repository.
    std::env::set_current_dir(repo_root()).context("entering the repository")?;
    let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let (rpc_port, ws_port) = if args.serve {
        (args.rpc_port, args.ws_port)
    } else {
        (0, 0)
    };
    let cluster = TestCluster::start(LocalnetConfig {
        rpc_addr: loopback(rpc_port),
        pubsub_addr: loopback(ws_port),
        slot_duration: Duration::from_millis(args.slot_ms.max(1)),
        ..LocalnetConfig::default()
    })
    .await?;
    let localnet = &cluster.localnet;
    println!("== Localnet");
    println!(
        "Agave 4.2 runtime with Sibyl at {}, {} ms slots",
        localnet.rpc_url(),
        args.slot_ms
    );

    let parties = Parties::fund(&cluster)?;
    println!("\n== Deploy and initialize (migrations/localnet.toml)");
    let mut plan = load_plan(&repo_root().join("migrations/localnet.toml"))?;
    if args.serve {
        plan.models.push(serve::unserved_model());
        plan.models.push(serve::encoder_model());
        plan.models.push(serve::classifier_model());
    }
    if let Some(fund) = plan.fund.as_mut() {
        fund.wallets.extend(parties.wallets_to_fund());
        fund.wallets.extend(&args.fund);
    }
    for wallet in args.fund.iter().chain(&args.airdrop) {
        localnet
            .chain
            .airdrop(wallet, serve::AIRDROP_LAMPORTS)
            .with_context(|| format!("airdropping to {wallet}"))?;
    }
    let engine = Engine::new(&EngineSettings::default())?;
    let authority = cluster.client(&parties.authority);
    let summary = migrate::migrate(&authority, &engine, &plan, |event| match event {
        migrate::Event::Step(step) => println!("{step}"),
        migrate::Event::Warning(warning) => println!("warning: {warning}"),
    })
    .await?;
    let digits = summary.models[0].1;
    let int8 = summary.models[1].1;

    println!("\n== Operators");
    parties.register_operators(&cluster).await?;
    // With --serve, A also serves the encoder and the classifier (and B
    // watches them).
    let more: Vec<Pubkey> = if args.serve {
        vec![summary.models[3].1, summary.models[4].1]
    } else {
        Vec::new()
    };
    let nodes = parties.start_nodes(&cluster, digits, int8, &more).await?;
    if let [encoder, classifier] = more[..] {
        let models = [
            ("digits", digits),
            ("int8_matmul", int8),
            ("conv_small", summary.models[2].1),
            ("tiny_encoder", encoder),
            ("classifier1000", classifier),
        ];
        serve::until_stopped(localnet, &parties, &summary.mint, &models).await?;
        for node in nodes {
            node.stop().await;
        }
        cluster.shutdown().await;
        return Ok(true);
    }

    let scenarios = [
        Scenario::digit("digits: a handwritten 2", digits, "digit-2", 2),
        Scenario::digit("digits: a handwritten 6", digits, "digit-6", 6),
        Scenario::int8_served_by_the_faulty_operator(int8)?,
    ];
    let models = [("digits", digits), ("int8_matmul", int8)];
    let before = parties.balances(&cluster, &models).await?;
    let stakes_before = parties.stakes(&cluster).await?;
    let mut all_as_expected = true;
    for (number, scenario) in scenarios.iter().enumerate() {
        println!("\n== Request {}: {}", number + 1, scenario.title);
        let ok = scenario.run(&cluster, &parties).await?;
        all_as_expected &= ok;
    }
    // Voters claim their rewards once a dispute settles; give them a moment.
    tokio::time::sleep(Duration::from_millis(20 * args.slot_ms.max(50))).await;
    println!("\n== Protocol fees: collected per model, swept to the treasury (anyone may sweep)");
    let tokens = authority.payment_tokens().await?;
    for (model, amount) in sibyl_oracle::actions::protocol::sweep_fees(&authority, tokens).await? {
        let name = models
            .iter()
            .find(|(_, address)| *address == model)
            .map_or("a model", |(name, _)| name);
        println!(
            "swept {} from {name}'s fee vault",
            sibyl_oracle::actions::format_amount(amount, 6)
        );
    }
    let after = parties.balances(&cluster, &models).await?;
    let conserved = parties::print_balances(&before, &after);
    for ((party, was), is) in parties
        .operators
        .iter()
        .zip(stakes_before)
        .zip(parties.stakes(&cluster).await?)
    {
        println!(
            "{:<34} stake {} → {}",
            party.name,
            sibyl_oracle::actions::format_amount(was, 6),
            sibyl_oracle::actions::format_amount(is, 6)
        );
    }

    for node in nodes {
        node.stop().await;
    }
    cluster.shutdown().await;
    if all_as_expected && conserved {
        println!("\nevery request ended as expected; tokens conserved to the base unit");
    } else {
        println!("\nFAILED: a request ended otherwise than expected, or tokens went missing");
    }
    Ok(all_as_expected && conserved)
}

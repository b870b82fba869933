//! `sibyl-demo` (`make demo`): Sibyl end to end on one machine. It starts a
//! localnet (the real Agave runtime behind JSON-RPC and PubSub), brings it
//! to `migrations/localnet.toml` (payment mint, protocol, the digits and
//! int8 models), starts three oracle nodes (two honest, one `--faulty`),
//! pays for scripted requests from a funded wallet and prints each one's
//! timeline, then every party's balance before and after. It stops
//! everything it started and exits 0 only if every request ended as
//! expected and no token went missing.
mod parties;
mod scenario;

use anyhow::{Context, Result};
use clap::Parser;
use parties::Parties;
use scenario::Scenario;
use sibyl_localnet::{Localnet, LocalnetConfig};
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
    let work = tempfile::tempdir().context("a working directory")?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let localnet = Localnet::start(LocalnetConfig {
        rpc_addr: loopback,
        pubsub_addr: loopback,
        slot_duration: Duration::from_millis(args.slot_ms.max(1)),
        ..LocalnetConfig::default()
    })
    .await
    .context("starting the localnet")?;
    println!("== Localnet");
    println!(
        "Agave 4.2 runtime with Sibyl at {}, {} ms slots",
        localnet.rpc_url(),
        args.slot_ms
    );

    let parties = Parties::fund(&localnet, work.path())?;
    println!("\n== Deploy and initialize (migrations/localnet.toml)");
    let mut plan = load_plan(&repo_root().join("migrations/localnet.toml"))?;
    if let Some(fund) = plan.fund.as_mut() {
        fund.wallets.extend(parties.wallets_to_fund());
    }
    let engine = Engine::new(&EngineSettings::default())?;
    let authority = parties.client(&localnet, &parties.authority);
    let summary = migrate::migrate(&authority, &engine, &plan, |event| match event {
        migrate::Event::Step(step) => println!("{step}"),
        migrate::Event::Warning(warning) => println!("warning: {warning}"),
    })
    .await?;
    let digits = summary.models[0].1;
    let int8 = summary.models[1].1;

    println!("\n== Operators");
    parties.register_operators(&localnet).await?;
    let nodes = parties
        .start_nodes(&localnet, work.path(), digits, int8)
        .await?;

    let scenarios = [
        Scenario::digit("digits: a handwritten 2", digits, "digit-2", 2),
        Scenario::digit("digits: a handwritten 6", digits, "digit-6", 6),
        Scenario::int8_served_by_the_faulty_operator(int8)?,
    ];
    let models = [("digits", digits), ("int8_matmul", int8)];
    let before = parties.balances(&localnet, &models).await?;
    let stakes_before = parties.stakes(&localnet).await?;
    let mut all_as_expected = true;
    for (number, scenario) in scenarios.iter().enumerate() {
        println!("\n== Request {}: {}", number + 1, scenario.title);
        let ok = scenario.run(&localnet, &parties).await?;
        all_as_expected &= ok;
    }
    // Voters claim their rewards once a dispute settles; give them a moment.
    tokio::time::sleep(Duration::from_millis(20 * args.slot_ms.max(50))).await;
    println!("\n== Protocol fees: collected per model, swept to the treasury (anyone may sweep)");
    let tokens = sibyl_oracle::node::payment_tokens(&authority).await?;
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
    let after = parties.balances(&localnet, &models).await?;
    let conserved = parties::print_balances(&before, &after);
    for ((party, was), is) in parties
        .operators
        .iter()
        .zip(stakes_before)
        .zip(parties.stakes(&localnet).await?)
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
    localnet.shutdown().await;
    if all_as_expected && conserved {
        println!("\nevery request ended as expected; tokens conserved to the base unit");
    } else {
        println!("\nFAILED: a request ended otherwise than expected, or tokens went missing");
    }
    Ok(all_as_expected && conserved)
}

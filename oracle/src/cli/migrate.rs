//! `sibyl migrate`: bring a cluster to a plan (`migrations/*.toml`):
//! program deployed, payment mint, protocol initialized, models registered,
//! test wallets funded. Idempotent; the plan format is in
//! `migrations/README.md`.
use super::{parse_address, Cli};
use anyhow::{bail, Result};
use clap::Args;
use sibyl_oracle::{
    actions::{
        migrate::{self, Event},
        plan::load_plan,
    },
    engine::{Engine, EngineSettings},
    hex,
};
use std::{path::PathBuf, process::ExitCode};

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The plan (TOML; see migrations/README.md).
    #[arg(long, default_value = "migrations/localnet.toml")]
    plan: PathBuf,
    /// Also fund this wallet up to the plan's `[fund] tokens` (repeatable).
    #[arg(long = "fund", value_name = "WALLET")]
    fund: Vec<String>,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, then .local/onnxruntime/).
    #[arg(long)]
    runtime_library: Option<PathBuf>,
}

pub async fn run(cli: &Cli, args: &MigrateArgs) -> Result<ExitCode> {
    let mut plan = load_plan(&args.plan)?;
    if !args.fund.is_empty() {
        let Some(fund) = plan.fund.as_mut() else {
            bail!(
                "--fund needs a target balance: add `[fund] tokens = \"…\"` to {}",
                args.plan.display()
            );
        };
        for wallet in &args.fund {
            let wallet = parse_address(wallet, "--fund wallet")?;
            if !fund.wallets.contains(&wallet) {
                fund.wallets.push(wallet);
            }
        }
    }
    let chain = cli.chain()?;
    let engine = Engine::new(&EngineSettings {
        library_path: args.runtime_library.clone(),
    })?;
    println!(
        "migrating {} with {} as signer ({})",
        sibyl_oracle::config::redact_url(&chain.rpc().url()),
        chain.wallet(),
        args.plan.display()
    );
    let summary = migrate::migrate(&chain, &engine, &plan, |event| match event {
        Event::Step(step) => println!("{step}"),
        Event::Warning(warning) => eprintln!("warning: {warning}"),
    })
    .await?;
    println!(
        "config   {} (authority {})",
        summary.config, summary.authority
    );
    println!("mint     {} ({} decimals)", summary.mint, summary.decimals);
    for (name, address, hash) in &summary.models {
        println!(
            "model    {address} sha256 {}… {name}",
            &hex::encode(hash)[..16]
        );
    }
    println!(
        "{} transaction{} sent",
        summary.transactions,
        if summary.transactions == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

//! `sibyl-localnet`: a local Solana cluster with Sibyl, for the node, the CLI,
//! the web app and the tests, reached like any validator over JSON-RPC.
use anyhow::{bail, Context, Result};
use clap::Parser;
use sibyl_localnet::{rpc, Localnet, LocalnetConfig};
use std::{net::SocketAddr, str::FromStr, time::Duration};

#[derive(Parser, Debug)]
#[command(
    name = "sibyl-localnet",
    version,
    about = "A local Solana cluster: the real Agave 4.2 runtime with the Sibyl program, behind Solana's JSON-RPC API"
)]
struct Args {
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// JSON-RPC port; PubSub (WebSocket) listens on the next one.
    #[arg(long, default_value_t = 8899)]
    rpc_port: u16,
    /// Slot duration in milliseconds.
    #[arg(long, default_value_t = 400)]
    slot_ms: u64,
    /// Fund a wallet with SOL at start: PUBKEY or PUBKEY=SOL (default 100 SOL). Repeatable.
    #[arg(long = "airdrop-to", value_name = "PUBKEY[=SOL]")]
    airdrop_to: Vec<String>,
    /// Create a payment mint (6 decimals) and give every --airdrop-to wallet
    /// an associated token account holding this many whole tokens.
    #[arg(long, value_name = "TOKENS")]
    mint: Option<u64>,
}

fn parse_airdrop(text: &str) -> Result<(anchor_lang::prelude::Pubkey, u64)> {
    let (key, sol) = match text.split_once('=') {
        Some((key, sol)) => (
            key,
            sol.parse::<f64>()
                .with_context(|| format!("bad SOL amount in {text:?}"))?,
        ),
        None => (text, 100.0),
    };
    if !sol.is_finite() || sol <= 0.0 {
        bail!("the SOL amount in {text:?} must be positive");
    }
    let key = anchor_lang::prelude::Pubkey::from_str(key)
        .with_context(|| format!("bad public key {key:?}"))?;
    Ok((key, (sol * 1e9) as u64))
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tarpc=error")),
        )
        .init();
    let args = Args::parse();
    let airdrops = args
        .airdrop_to
        .iter()
        .map(|text| parse_airdrop(text))
        .collect::<Result<Vec<_>>>()?;
    let config = LocalnetConfig {
        rpc_addr: SocketAddr::new(args.bind, args.rpc_port),
        pubsub_addr: SocketAddr::new(args.bind, args.rpc_port.saturating_add(1)),
        slot_duration: Duration::from_millis(args.slot_ms.max(1)),
        ..LocalnetConfig::default()
    };
    let localnet = Localnet::start(config)
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.rpc_port))?;
    for (wallet, lamports) in &airdrops {
        localnet
            .chain
            .airdrop(wallet, *lamports)
            .with_context(|| format!("funding {wallet}"))?;
    }
    let mint = match args.mint {
        Some(tokens) => {
            let wallets: Vec<_> = airdrops.iter().map(|(wallet, _)| *wallet).collect();
            Some(
                localnet
                    .chain
                    .create_payment_mint(&wallets, tokens * 1_000_000)?,
            )
        }
        None => None,
    };

    println!(
        "Sibyl localnet — Agave {} runtime (in-process bank)",
        rpc::SOLANA_CORE_VERSION
    );
    println!("JSON RPC URL:  {}", localnet.rpc_url());
    println!("WebSocket URL: {}", localnet.pubsub_url());
    println!("Slot:          {} ms", args.slot_ms);
    println!("Genesis hash:  {}", localnet.chain.genesis_hash());
    println!("Faucet:        {}", localnet.chain.faucet());
    println!("Programs:");
    println!("  sibyl         {} (native)", sibyl::ID);
    println!(
        "  example       {} (native, the example consumer)",
        example_consumer::ID
    );
    println!("  spl-token     {} (SBF)", anchor_spl::token::ID);
    println!("  token-2022    {} (SBF)", anchor_spl::token_2022::ID);
    println!("  assoc. token  {} (SBF)", anchor_spl::associated_token::ID);
    if let Some(mint) = mint {
        println!("Payment mint:  {mint} (6 decimals)");
    }
    for (wallet, lamports) in &airdrops {
        println!(
            "Funded:        {wallet} with {} SOL",
            *lamports as f64 / 1e9
        );
    }
    println!("Ctrl-C stops it.");

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping");
    localnet.shutdown().await;
    Ok(())
}

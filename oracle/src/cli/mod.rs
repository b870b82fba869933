//! The command line: one module per subcommand.
mod input;
mod migrate;
mod model;
mod node;
mod operator;
mod protocol;
mod request;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sibyl_oracle::{
    chain::{ChainClient, SendSettings},
    config::resolve_cluster,
    keys::read_keypair,
};
use std::{process::ExitCode, sync::Arc};

/// Sibyl: verifiable AI inference on Solana.
#[derive(Parser, Debug)]
#[command(name = "sibyl", version, about, long_about = None)]
pub struct Cli {
    /// RPC URL or moniker: l (localhost), d (devnet), t (testnet), m (mainnet-beta).
    #[arg(short = 'u', long = "url", global = true, env = "SIBYL_URL")]
    url: Option<String>,
    /// PubSub URL (default: derived from the RPC URL).
    #[arg(long = "ws", global = true)]
    ws: Option<String>,
    /// Keypair file that signs and pays.
    #[arg(short = 'k', long = "keypair", global = true, env = "SIBYL_KEYPAIR")]
    keypair: Option<String>,
    /// Log filter (e.g. `info`, `sibyl_oracle=debug`; default: info for
    /// `node run`, warn otherwise).
    #[arg(long = "log", global = true, env = "RUST_LOG")]
    log: Option<String>,
    /// Log lines as text, or as one JSON object each (for log shippers).
    #[arg(long = "log-format", global = true, env = "SIBYL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the oracle node.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Write a node configuration file.
    #[command(subcommand)]
    Config(node::ConfigCommand),
    /// Initialize or show the protocol on a cluster.
    #[command(subcommand)]
    Protocol(protocol::ProtocolCommand),
    /// Register, update, retire and list models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Register as an operator and manage stake.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Pay for one inference and follow it to the finalized result.
    Request(request::RequestArgs),
    /// Show where a request stands.
    Status(request::StatusArgs),
    /// Encode a model's input for a URI, or write a demanded one on chain.
    #[command(subcommand)]
    Input(input::InputCommand),
    /// Re-execute a committed result here and challenge it if it is wrong.
    Challenge(request::ChallengeArgs),
    /// Finalize a committed request whose challenge window has passed.
    Finalize(request::FinalizeArgs),
    /// Bring a cluster to a plan: program deployed, payment mint, protocol
    /// initialized, models registered, test wallets funded (idempotent).
    Migrate(migrate::MigrateArgs),
    /// Write a new keypair file (as `solana-keygen new --no-bip39-passphrase`).
    Keygen {
        /// Where to write it.
        #[arg(short = 'o', long = "outfile")]
        outfile: std::path::PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The default keypair of the Solana CLI.
pub const DEFAULT_KEYPAIR: &str = "~/.config/solana/id.json";

impl Cli {
    /// A chain client from `-u`, `--ws` and `-k`.
    pub fn chain(&self) -> Result<ChainClient> {
        let (rpc, ws) = resolve_cluster(
            self.url.as_deref().unwrap_or("l"),
            self.ws.as_deref().unwrap_or(""),
        )
        .map_err(anyhow::Error::msg)
        .context("-u/--url")?;
        let keypair = self.keypair.as_deref().unwrap_or(DEFAULT_KEYPAIR);
        let signer = read_keypair(keypair)?;
        Ok(ChainClient::new(
            &rpc,
            &ws,
            Arc::new(signer),
            SendSettings::default(),
        ))
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let default_level = match cli.command {
        Command::Node(_) => "info",
        _ => "warn",
    };
    let log = cli.log.as_deref().unwrap_or(default_level);
    let filter =
        tracing_subscriber::EnvFilter::try_new(log).with_context(|| format!("--log `{log}`"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    match &cli.command {
        Command::Node(command) => node::run(&cli, command).await,
        Command::Config(command) => node::config(command),
        Command::Protocol(command) => protocol::run(&cli, command).await,
        Command::Model(command) => model::run(&cli, command).await,
        Command::Operator(command) => operator::run(&cli, command).await,
        Command::Request(args) => request::request(&cli, args).await,
        Command::Status(args) => request::status(&cli, args).await,
        Command::Input(command) => input::run(&cli, command).await,
        Command::Challenge(args) => request::challenge(&cli, args).await,
        Command::Finalize(args) => request::finalize(&cli, args).await,
        Command::Migrate(args) => migrate::run(&cli, args).await,
        Command::Keygen { outfile, force } => keygen(outfile, *force),
    }
}

/// Parses an address argument.
pub fn parse_address(text: &str, what: &str) -> Result<anchor_lang::prelude::Pubkey> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a valid {what} address"))
}

fn keygen(outfile: &std::path::Path, force: bool) -> Result<ExitCode> {
    use solana_signer::Signer;
    if outfile.exists() && !force {
        anyhow::bail!("{} exists; pass --force to overwrite it", outfile.display());
    }
    if let Some(parent) = outfile.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let keypair = solana_keypair::Keypair::new();
    sibyl_oracle::keys::write_keypair(outfile, &keypair)
        .with_context(|| format!("writing {}", outfile.display()))?;
    println!("pubkey: {}", keypair.pubkey());
    Ok(ExitCode::SUCCESS)
}

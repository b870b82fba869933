//! `sibyl node run` and `sibyl config init`.
use super::Cli;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use sibyl_oracle::{config::Config, node::Node};
use std::{path::PathBuf, process::ExitCode};

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Serve, watch, vote and crank as the config says, until Ctrl-C / SIGTERM.
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Node configuration (TOML; `sibyl config init` writes one).
    #[arg(short = 'c', long, default_value = "sibyl.toml")]
    config: PathBuf,
    /// DEMOS AND TESTS ONLY (a build with `test-faults`): commit a
    /// deliberately wrong output for this fraction of requests (0.0 to 1.0).
    #[cfg(feature = "test-faults")]
    #[arg(long, value_name = "RATE")]
    faulty: Option<f64>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Write a commented configuration for this cluster and keypair.
    Init {
        /// Where to write it.
        #[arg(short = 'c', long, default_value = "sibyl.toml")]
        config: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// A model this node runs (its hash in hex, as `sibyl model list`
        /// prints it); repeat for more, or `--model '*'` for every model
        /// with this node's profile (whatever anyone registers).
        #[arg(long = "model", value_name = "HASH")]
        models: Vec<String>,
    },
}

pub async fn run(cli: &Cli, command: &NodeCommand) -> Result<ExitCode> {
    let NodeCommand::Run(args) = command;
    let mut config = Config::load(&args.config).with_context(|| {
        format!(
            "loading {} (write one with `sibyl config init`)",
            args.config.display()
        )
    })?;
    if let Some(url) = &cli.url {
        config.cluster.rpc_url = url.clone();
    }
    if let Some(ws) = &cli.ws {
        config.cluster.ws_url = ws.clone();
    }
    if let Some(keypair) = &cli.keypair {
        config.identity.keypair = keypair.clone();
    }
    #[cfg(feature = "test-faults")]
    if let Some(rate) = args.faulty {
        if !(0.0..=1.0).contains(&rate) {
            bail!("--faulty must be between 0.0 and 1.0, not {rate}");
        }
        config.faulty.rate = rate;
    }
    // Listen for SIGTERM before anything starts, so that a stop during
    // start-up is graceful too.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let node = Node::start(&config).await?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight work");
        let _ = stop.send(true);
    });
    node.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

pub fn config(command: &ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Init {
        config,
        force,
        models,
    } = command;
    if config.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", config.display());
    }
    let text = Config::template("l", super::DEFAULT_KEYPAIR, models);
    // A model `node run` would refuse is refused now, before a file is
    // written (with none, the file says to name them).
    if !models.is_empty() {
        Config::from_toml(&text, "--model", Vec::new())?;
    }
    std::fs::write(config, text).with_context(|| format!("writing {}", config.display()))?;
    println!("wrote {}", config.display());
    if models.is_empty() {
        println!(
            "name the models this node runs in node.models before `sibyl node run` \
             (`sibyl model list` prints their hashes), or pass --model to config init"
        );
    }
    Ok(ExitCode::SUCCESS)
}

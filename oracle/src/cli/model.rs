//! `sibyl model register|update|retire|list` (publishers).
use super::Cli;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sibyl::{
    instructions::{RegisterModelArgs, UpdateModelArgs},
    state::OutputView,
};
use sibyl_oracle::{
    actions::{
        format_amount,
        model::{self, Listing},
        parse_amount,
    },
    engine::{Engine, EngineSettings},
    hex,
    tensor::describe_specs,
};
use std::{path::PathBuf, process::ExitCode};

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Register an ONNX model: its hash, specs and profile id come from the file and this machine's runtime.
    Register(RegisterArgs),
    /// Change a model's URI, price, royalty or window (publisher).
    Update(UpdateArgs),
    /// Retire a model: no new requests (publisher).
    Retire {
        /// Model address or SHA-256 (hex).
        model: String,
    },
    /// List registered models.
    List,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// The ONNX file.
    file: PathBuf,
    /// Price per request, in tokens (e.g. 0.01).
    #[arg(long)]
    price: String,
    /// Where operators fetch the file (default: file://<FILE>).
    #[arg(long)]
    uri: Option<String>,
    /// Publisher royalty, in basis points of each fee.
    #[arg(long, default_value_t = 1_000)]
    royalty_bps: u16,
    /// Comparison rule: exact, tolerance:ABS:REL or top-k:K[:TIE_MARGIN] (default: exact
    /// for integer outputs, tolerance:1e-5:1e-4 for float outputs).
    #[arg(long)]
    rule: Option<String>,
    /// Challenge window override, in slots.
    #[arg(long)]
    window: Option<u64>,
    /// Largest accepted input encoding, in bytes (default: the inputs'
    /// size; needed when an input has a dynamic dimension).
    #[arg(long)]
    max_input_bytes: Option<u32>,
    /// Largest result encoding, in bytes: what goes on chain, each
    /// output's view (default: its size; needed when an output in the
    /// result has a dynamic dimension).
    #[arg(long)]
    max_output_bytes: Option<u32>,
    /// What of an output goes on chain, as NAME=VIEW: whole (the default),
    /// omit, slice:START:LEN, or topk:K:SCALE (per row, the K best classes
    /// with their scores × SCALE as integers). The whole output stays off
    /// chain, served by the committing node. Repeat for several outputs.
    #[arg(long = "view", value_name = "NAME=VIEW", value_parser = parse_named_view)]
    views: Vec<(String, OutputView)>,
    /// Decide its disputes by the on-chain referee (bisection down to one
    /// element of one operator, recomputed on chain; no vote): for an
    /// integer model with fixed input shapes whose every op the referee
    /// computes (see docs/referee.md). Its rule is exact, every output whole.
    #[arg(long)]
    referee: bool,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, then .local/onnxruntime/).
    #[arg(long)]
    runtime_library: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Model address or SHA-256 (hex).
    model: String,
    #[arg(long)]
    uri: Option<String>,
    /// New price, in tokens.
    #[arg(long)]
    price: Option<String>,
    #[arg(long)]
    royalty_bps: Option<u16>,
    /// New challenge window override in slots (0 clears it).
    #[arg(long)]
    window: Option<u64>,
}

pub async fn run(cli: &Cli, command: &ModelCommand) -> Result<ExitCode> {
    let chain = cli.chain()?;
    match command {
        ModelCommand::Register(args) => {
            let tokens = chain.payment_tokens().await?;
            let decimals = chain.mint(&tokens.mint).await?.decimals;
            let registration = registration(
                args,
                parse_amount(&args.price, decimals).map_err(anyhow::Error::msg)?,
            )?;
            let hash = registration.model_hash;
            let address = model::register(&chain, tokens, registration).await?;
            println!("registered model {address}");
            println!("sha256 {}", hex::encode(&hash));
        }
        ModelCommand::Update(args) => {
            let (address, _) = model::find(&chain, &args.model).await?;
            let price = match &args.price {
                Some(price) => {
                    let tokens = chain.payment_tokens().await?;
                    let decimals = chain.mint(&tokens.mint).await?.decimals;
                    Some(parse_amount(price, decimals).map_err(anyhow::Error::msg)?)
                }
                None => None,
            };
            let update = UpdateModelArgs {
                uri: args.uri.clone(),
                price,
                royalty_bps: args.royalty_bps,
                challenge_window_override_slots: args
                    .window
                    .map(|slots| (slots > 0).then_some(slots)),
            };
            model::update(&chain, address, update).await?;
            println!("updated model {address}");
        }
        ModelCommand::Retire { model: name } => {
            let (address, _) = model::find(&chain, name).await?;
            model::retire(&chain, address).await?;
            println!("retired model {address}");
        }
        ModelCommand::List => {
            let tokens = chain.payment_tokens().await?;
            let decimals = chain.mint(&tokens.mint).await?.decimals;
            let models = model::list(&chain).await?;
            if models.is_empty() {
                println!("no models registered");
            }
            for (address, model) in models {
                let views: Vec<String> = model
                    .outputs
                    .iter()
                    .zip(&model.output_views)
                    .filter(|(_, view)| **view != OutputView::Whole)
                    .map(|(spec, view)| format!("{}={}", spec.name, model::view_text(view)))
                    .collect();
                println!(
                    "{address}  sha256 {}  price {}  {} → {}{}  {:?}{}  {}",
                    hex::encode(&model.model_hash),
                    format_amount(model.price, decimals),
                    describe_specs(&model.inputs),
                    describe_specs(&model.outputs),
                    if views.is_empty() {
                        String::new()
                    } else {
                        format!(" (on chain: {})", views.join(", "))
                    },
                    model.comparison,
                    if model.retired { "  RETIRED" } else { "" },
                    model.uri,
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME=VIEW` (see [`model::parse_view`]).
fn parse_named_view(text: &str) -> Result<(String, OutputView), String> {
    let (name, view) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: write NAME=VIEW, e.g. logits=topk:5:1000"))?;
    Ok((name.to_string(), model::parse_view(view)?))
}

/// The registration of `args.file`, loaded in this machine's runtime.
fn registration(args: &RegisterArgs, price: u64) -> Result<RegisterModelArgs> {
    let engine = Engine::new(&EngineSettings {
        library_path: args.runtime_library.clone(),
    })?;
    let listing = Listing {
        uri: args
            .uri
            .clone()
            .unwrap_or_else(|| format!("file://{}", args.file.display())),
        price,
        royalty_bps: args.royalty_bps,
        comparison: args
            .rule
            .as_deref()
            .map(model::parse_rule)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--rule")?,
        challenge_window_override_slots: args.window,
        max_input_bytes: args.max_input_bytes,
        max_output_bytes: args.max_output_bytes,
        views: args.views.clone(),
        referee: args.referee,
    };
    let registration = model::registration(&engine, &args.file, listing)?;
    for caution in model::cautions(&registration) {
        eprintln!("note: {caution}");
    }
    Ok(registration)
}

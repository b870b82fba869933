//! `sibyl input encode|write`: a model's input as the canonical encoding a
//! referenced input's URI serves, and writing it on chain when a node
//! demands it.
use super::{parse_address, request::read_input, request::InputFiles, Cli};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sibyl::{hashing, state::InferenceRequest};
use sibyl_oracle::{
    actions::{model, request},
    hex,
};
use std::{path::PathBuf, process::ExitCode};

#[derive(Subcommand, Debug)]
pub enum InputCommand {
    /// Write the canonical encoding of a model's input: the bytes a
    /// referenced input's URI must serve (`sibyl request --input-uri`).
    Encode(EncodeArgs),
    /// Write a request's demanded input on chain (you pay the account's
    /// growth in rent, returned when it closes).
    Write(WriteArgs),
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Model address or SHA-256 (hex).
    model: String,
    #[command(flatten)]
    files: InputFiles,
    /// Where to write the encoding (a .bin file).
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub struct WriteArgs {
    /// Request address.
    request: String,
    /// The input's canonical encoding (what `sibyl input encode` wrote).
    file: PathBuf,
}

pub async fn run(cli: &Cli, command: &InputCommand) -> Result<ExitCode> {
    match command {
        InputCommand::Encode(args) => encode(cli, args).await,
        InputCommand::Write(args) => write(cli, args).await,
    }
}

async fn encode(cli: &Cli, args: &EncodeArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let (_, model) = model::find(&chain, &args.model).await?;
    let input = read_input(&args.files, &model)?;
    std::fs::write(&args.out, &input).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes, sha256 {})",
        args.out.display(),
        input.len(),
        hex::encode(&hashing::input_hash(&input))
    );
    Ok(ExitCode::SUCCESS)
}

async fn write(cli: &Cli, args: &WriteArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let address = parse_address(&args.request, "request")?;
    let state: InferenceRequest = chain.fetch_required(&address, "inference request").await?;
    if state.input_complete() {
        println!("request {address}: its input is on chain already");
        return Ok(ExitCode::SUCCESS);
    }
    if state.is_by_reference() && !state.input_demanded() {
        bail!("request {address}: nobody demanded its input; it is written on chain only once a node does");
    }
    let input =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if input.len() != state.input_len as usize || hashing::input_hash(&input) != state.input_hash {
        bail!(
            "{} ({} bytes, sha256 {}) is not the request's input ({} bytes, sha256 {})",
            args.file.display(),
            input.len(),
            hex::encode(&hashing::input_hash(&input)),
            state.input_len,
            hex::encode(&state.input_hash)
        );
    }
    let from = state.input.len();
    if input.get(..from) != Some(state.input.as_slice()) {
        bail!(
            "the bytes on chain so far are not the start of {}",
            args.file.display()
        );
    }
    let bar = ProgressBar::new(input.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}") {
        bar.set_style(style);
    }
    bar.set_position(from as u64);
    request::write_input(&chain, address, &input, from, |written| {
        bar.set_position(written as u64)
    })
    .await?;
    bar.finish_with_message("written");
    println!(
        "request {address}: input written on chain ({} bytes)",
        input.len()
    );
    Ok(ExitCode::SUCCESS)
}

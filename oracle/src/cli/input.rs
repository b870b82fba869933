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
    /// Write a request's demanded input on chain, into your own input
    /// buffer (anyone holding the bytes may; you pay its rent, returned when
    /// it closes with `sibyl input close`).
    Write(WriteArgs),
    /// Close your input buffers whose requests are final or gone (or that
    /// are not their request's input), and take their rent back.
    Close(CloseArgs),
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

#[derive(Args, Debug)]
pub struct CloseArgs {}

pub async fn run(cli: &Cli, command: &InputCommand) -> Result<ExitCode> {
    match command {
        InputCommand::Encode(args) => encode(cli, args).await,
        InputCommand::Write(args) => write(cli, args).await,
        InputCommand::Close(args) => close(cli, args).await,
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
    if !state.is_by_reference() {
        bail!("request {address} carries its input: its requester writes it, in `sibyl request`");
    }
    if state.input_complete() {
        println!(
            "request {address}: its input is on chain already ({})",
            state.input_buffer
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !state.input_demanded() {
        bail!(
            "request {address}: nobody demanded its input; it goes on chain only once a node does"
        );
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
    // Resumes a buffer this wallet began.
    let from = request::input_buffer_written(&chain, address, &state).await?;
    let bar = ProgressBar::new(input.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}") {
        bar.set_style(style);
    }
    bar.set_position(from as u64);
    let ours = request::write_input_buffer(&chain, address, &state, &input, from, |written| {
        bar.set_position(written as u64)
    })
    .await?;
    bar.finish_and_clear();
    if ours {
        println!(
            "request {address}: input written on chain ({} bytes, deadline slot {}); take the buffer's rent back with `sibyl input close` once the request is final",
            input.len(),
            state.input_upload_deadline_slot
        );
    } else {
        println!("request {address}: another writer put the input on chain first; `sibyl input close` returns your buffer's rent");
    }
    Ok(ExitCode::SUCCESS)
}

async fn close(cli: &Cli, _args: &CloseArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let wallet = chain.wallet();
    let buffers = chain.input_buffers_of(&wallet).await?;
    if buffers.is_empty() {
        println!("you hold no input buffer");
    }
    for (buffer, header) in buffers {
        let now: Option<InferenceRequest> = chain
            .fetch(&header.request, "inference request")
            .await
            .ok()
            .flatten();
        if !header.is_spent(&buffer, now.as_ref()) {
            println!(
                "kept   {buffer}: request {} is open and its input not complete, or this buffer is its input",
                header.request
            );
            continue;
        }
        match request::close_input_buffer(&chain, &header).await {
            Ok(rent) => println!(
                "closed {buffer} (request {}): {} SOL back",
                header.request,
                sibyl_oracle::actions::format_amount(rent, 9)
            ),
            Err(err) if err.refused_with(sibyl::errors::SibylError::InputBufferInUse) => println!(
                "kept   {buffer}: it holds the input of request {}, which is not final yet",
                header.request
            ),
            Err(err) => return Err(err.into()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

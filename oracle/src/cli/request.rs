//! `sibyl request|status|challenge|finalize` (requesters and anyone).
use super::{parse_address, Cli};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sibyl::{
    callback::{CallbackAccount, CallbackSpec},
    constants::MAX_INPUT_URI_LEN,
    state::{InferenceRequest, Model, OutputView, RequestStatus},
};
use sibyl_client::{
    accounts::{self, RequestParties},
    instruction, settlement,
};
use sibyl_oracle::{
    actions::{
        format_amount, model, parse_amount,
        request::{self, NewRequest, Progress},
    },
    chain::ChainClient,
    compare::top_k,
    config::NodeConfig,
    engine::{Engine, EngineSettings},
    hex,
    inference::{Runner, RunnerSettings},
    input,
    metrics::Metrics,
    outputs::{self, OutputStore},
    referenced::InputFetcher,
    store::{FetchLimits, ModelStore},
    tensor::{self, decode, dtype_name},
    verifier::Verifier,
};
use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

/// A model's input, as files on the command line.
#[derive(Args, Debug)]
pub struct InputFiles {
    /// The input: one file per model input, in graph order or as NAME=FILE
    /// (a JSON array .json, a NumPy array .npy or an image .png), or one
    /// JSON object keyed by input name for them all, or the .bin encoding
    /// `sibyl input encode` wrote.
    #[arg(required = true, value_name = "[NAME=]FILE")]
    input: Vec<String>,
    /// For PNG input: the value a white pixel maps to (the digits model wants 16).
    #[arg(long, default_value_t = 255.0)]
    pixel_max: f32,
    /// For PNG input: round scaled pixels to whole numbers (models trained
    /// on integer levels, like the digits model's 0..16).
    #[arg(long)]
    round_pixels: bool,
}

#[derive(Args, Debug)]
pub struct RequestArgs {
    /// Model address or SHA-256 (hex).
    model: String,
    #[command(flatten)]
    files: InputFiles,
    /// Name the input by reference: nodes fetch its canonical encoding from
    /// this URI (https://…, or file://… inside the nodes' base directory),
    /// which must serve exactly the bytes `sibyl input encode` writes for
    /// these files. Only its SHA-256 and the URI go on chain; if a node
    /// cannot fetch it, it demands it and you write it with `sibyl input
    /// write`, or the request is voided and refunded.
    #[arg(long, value_name = "URI")]
    input_uri: Option<String>,
    /// Fee to pay, in tokens (default: the model's price).
    #[arg(long)]
    fee: Option<String>,
    /// Return after paying instead of following the request to its result.
    #[arg(long)]
    no_wait: bool,
    /// Give up following after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// A consumer program to call with the final result (see docs/integrate.md).
    #[arg(long, value_name = "PROGRAM")]
    callback: Option<String>,
    /// An account for the callback, in order; `ADDRESS:w` passes it writable.
    #[arg(
        long = "callback-account",
        value_name = "ADDRESS[:w]",
        requires = "callback"
    )]
    callback_accounts: Vec<String>,
    /// Refuse to pay if the model's challenge window (which its publisher
    /// may change) is longer than this many slots.
    #[arg(long, value_name = "SLOTS")]
    max_window_slots: Option<u64>,
}

/// The callback named on the command line, if any.
fn callback_spec(args: &RequestArgs) -> Result<Option<CallbackSpec>> {
    let Some(program) = &args.callback else {
        return Ok(None);
    };
    let accounts = args
        .callback_accounts
        .iter()
        .map(|text| {
            let (address, writable) = match text.strip_suffix(":w") {
                Some(address) => (address, true),
                None => (text.as_str(), false),
            };
            Ok(CallbackAccount {
                pubkey: parse_address(address, "callback account")?,
                writable,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(CallbackSpec {
        program: parse_address(program, "callback program")?,
        accounts,
    }))
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Request address.
    request: String,
}

#[derive(Args, Debug)]
pub struct ChallengeArgs {
    /// Request address.
    request: String,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, then .local/onnxruntime/).
    #[arg(long)]
    runtime_library: Option<PathBuf>,
    /// Where fetched models are cached.
    #[arg(long, default_value = ".sibyl/models")]
    model_cache: PathBuf,
    /// What relative `file://` model URIs are relative to (and where
    /// `file://` URIs must point).
    #[arg(long, default_value = ".")]
    model_base_dir: PathBuf,
    /// Fetch a plain `http://` model URI (localnets only).
    #[arg(long)]
    allow_http: bool,
    /// A loopback or private host to fetch models from all the same
    /// (`host` or `host:port`); repeat for more.
    #[arg(long = "trusted-host", value_name = "HOST")]
    trusted_hosts: Vec<String>,
}

#[derive(Args, Debug)]
pub struct FinalizeArgs {
    /// Request address.
    request: String,
}

pub async fn request(cli: &Cli, args: &RequestArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let (model_address, model) = model::find(&chain, &args.model).await?;
    if model.retired {
        bail!("model {model_address} is retired and takes no requests");
    }
    let input = read_input(&args.files, &model)?;
    if let Some(uri) = &args.input_uri {
        if !InferenceRequest::is_valid_input_uri(uri) {
            bail!("--input-uri `{uri}`: an input URI is https://…, http://… (localnets) or file://…, at most {MAX_INPUT_URI_LEN} bytes, without spaces");
        }
    }
    let tokens = chain.payment_tokens().await?;
    let decimals = chain.mint(&tokens.mint).await?.decimals;
    let fee = match &args.fee {
        Some(fee) => parse_amount(fee, decimals).map_err(anyhow::Error::msg)?,
        None => model.price,
    };
    // What the request account holds in rent, said before paying.
    let uri_len = args.input_uri.as_ref().map_or(0, String::len);
    let rent_of = |space: usize| {
        let chain = &chain;
        async move {
            chain
                .rpc()
                .get_minimum_balance_for_rent_exemption(space)
                .await
                .context("reading the rent of the request account")
        }
    };
    let on_chain = InferenceRequest::space(uri_len, input.len(), model.max_output_bytes);
    match &args.input_uri {
        None => println!(
            "rent      {} SOL for the {on_chain}-byte request account (back to you when it closes)",
            format_amount(rent_of(on_chain).await?, 9)
        ),
        Some(uri) => {
            let space = InferenceRequest::space(uri_len, 0, model.max_output_bytes);
            let buffer = sibyl::state::INPUT_BUFFER_HEADER_LEN + input.len();
            let (now, demanded) = (rent_of(space).await?, rent_of(buffer).await?);
            println!(
                "rent      {} SOL for the {space}-byte request account (back to you when it closes); if a node demands the input, whoever writes it on chain pays {} SOL for a {buffer}-byte buffer (back when it closes)",
                format_amount(now, 9),
                format_amount(demanded, 9),
            );
            println!(
                "input     by reference: {} bytes, sha256 {}, at {uri} (it must serve exactly these bytes)",
                input.len(),
                hex::encode(&sibyl::hashing::input_hash(&input))
            );
        }
    }
    let nonce = request::fresh_nonce();
    let callback = callback_spec(args)?;
    let new = NewRequest {
        model: model_address,
        input: input.clone(),
        input_uri: args.input_uri.clone(),
        fee,
        nonce,
        callback,
        max_challenge_window_slots: args.max_window_slots,
    };
    let address = request::submit(&chain, tokens, new).await?;
    println!("request   {address}");
    println!(
        "model     {model_address} (sha256 {}…)",
        &hex::encode(&model.model_hash)[..16]
    );
    println!(
        "paid      {} tokens; input {} bytes",
        format_amount(fee, decimals),
        input.len()
    );
    if args.no_wait {
        println!("follow it with: sibyl status {address}");
        return Ok(ExitCode::SUCCESS);
    }
    follow(&chain, &address, Duration::from_secs(args.timeout)).await
}

/// Follows a request with a live status line, printing each transition.
async fn follow(
    chain: &ChainClient,
    address: &anchor_lang::prelude::Pubkey,
    timeout: Duration,
) -> Result<ExitCode> {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut last_stage = String::new();
    let last = request::follow(
        chain,
        address,
        Duration::from_millis(400),
        timeout,
        |progress| {
            let (stage, line) = describe(progress);
            if stage != last_stage {
                bar.suspend(|| println!("{line}"));
                last_stage = stage;
            }
            bar.set_message(line);
        },
    )
    .await?;
    bar.finish_and_clear();
    match last {
        Progress::Final { state, .. } => {
            let model = request::model_of(chain, &state).await?;
            print_output(chain, &state, &model).await;
            Ok(ExitCode::SUCCESS)
        }
        Progress::Closed => {
            println!("the request is closed: cancelled, expired or refunded (the fee went back to the requester)");
            Ok(ExitCode::from(2))
        }
        _ => {
            println!(
                "still not final after {}s; follow it with: sibyl status {address}",
                timeout.as_secs()
            );
            Ok(ExitCode::from(3))
        }
    }
}

/// A stage name and a one-line description of where a request stands.
fn describe(progress: &Progress) -> (String, String) {
    match progress {
        Progress::Pending { slot, deadline_slot } => (
            "pending".into(),
            format!("slot {slot:>6}  pending      waiting for an operator (deadline slot {deadline_slot})"),
        ),
        Progress::InputDemanded { slot, state } => (
            "input demanded".into(),
            format!(
                "slot {slot:>6}  input demanded by operator {} ({}) · write it with `sibyl input write <REQUEST> <FILE.bin>` by slot {} ({} left), or the request is voided and refunded",
                state.input_demanded_by,
                state.input_uri,
                state.input_upload_deadline_slot,
                state.input_upload_deadline_slot.saturating_sub(*slot),
            ),
        ),
        Progress::Committed { slot, state } => (
            "committed".into(),
            format!(
                "slot {slot:>6}  committed    by operator {} · output {}… · challenge window until slot {} ({} left)",
                state.operator,
                &hex::encode(&state.output_hash)[..16],
                state.challenge_deadline_slot,
                state.challenge_deadline_slot.saturating_sub(*slot),
            ),
        ),
        Progress::Challenged { slot, dispute, .. } => (
            "challenged".into(),
            format!(
                "slot {slot:>6}  challenged   by {} · votes: operator {} / challenger {} / neither {} (stake) · voting until slot {}",
                dispute.challenger, dispute.stake_for_operator, dispute.stake_for_challenger, dispute.stake_for_neither, dispute.vote_deadline_slot,
            ),
        ),
        Progress::Final { slot, state } => (
            "final".into(),
            format!(
                "slot {slot:>6}  {}   output {}…",
                if state.status == RequestStatus::Overturned { "overturned" } else { "finalized " },
                &hex::encode(&state.output_hash)[..16]
            ),
        ),
        Progress::Closed => ("closed".into(), "            closed".into()),
    }
}

/// Prints a final result: each output's view as committed on chain, and,
/// where the views leave part of the output off chain, the whole output
/// fetched from an operator's node and checked against the request.
async fn print_output(chain: &ChainClient, state: &InferenceRequest, model: &Model) {
    if state.status == RequestStatus::Overturned {
        println!("the operator's result was overturned; this is the challenger's corrected output");
    }
    println!("output hash {}", hex::encode(&state.output_hash));
    let Ok(tensors) = decode(&state.output) else {
        println!(
            "output ({} bytes, not a canonical encoding): {}",
            state.output.len(),
            hex::encode(&state.output)
        );
        return;
    };
    if !outputs::has_off_chain_output(state) {
        print_tensors(&tensors, model);
        return;
    }
    println!("result on chain ({} bytes):", state.output.len());
    let views = (0..model.outputs.len())
        .map(|index| OutputView::of(&state.output_views, index))
        .filter(|view| *view != OutputView::Omitted);
    for (tensor, view) in tensors.iter().zip(views) {
        match view {
            OutputView::TopK { k, scale } => {
                print_top_k(tensor, k, scale);
                if matches!(state.comparison, sibyl::state::ComparisonRule::TopK { .. }) {
                    println!("  (the top-k rule judged the classes, not these scores)");
                }
            }
            _ => print_tensors(std::slice::from_ref(tensor), model),
        }
    }
    match outputs::fetch_whole_output(chain, state).await {
        Ok((whole, url)) => {
            println!(
                "whole output ({} bytes) from {url}: SHA-256 {} checked, its views are the result on chain (only the result was judged)",
                whole.len(),
                hex::encode(&state.whole_output_sha256)
            );
            match decode(&whole) {
                Ok(tensors) => print_tensors(&tensors, model),
                Err(err) => println!("  (not decodable: {err})"),
            }
        }
        Err(err) => eprintln!("warning: {err}"),
    }
}

/// A top-k view: per row, the classes best first with their scores.
fn print_top_k(tensor: &tensor::Tensor, k: u16, scale: u32) {
    let pairs = tensor::values_f64(tensor);
    for (row, pairs) in pairs.chunks(2 * k as usize).enumerate() {
        let ranked: Vec<String> = pairs
            .chunks_exact(2)
            .filter_map(|pair| {
                let [class, score] = pair else { return None };
                Some(format!("class {class} ({:.4})", score / f64::from(scale)))
            })
            .collect();
        println!("{} top {k}, row {row}: {}", tensor.name, ranked.join(", "));
    }
}

fn print_tensors(tensors: &[tensor::Tensor], model: &Model) {
    for tensor in tensors {
        let values = tensor::values_f64(tensor);
        println!(
            "{} {} {:?}",
            if tensor.name.is_empty() {
                "output"
            } else {
                &tensor.name
            },
            dtype_name(tensor.dtype),
            tensor.dims
        );
        let shown: Vec<String> = values.iter().take(16).map(|v| format!("{v:.6}")).collect();
        println!(
            "  [{}{}]",
            shown.join(", "),
            if values.len() > 16 { ", …" } else { "" }
        );
        // A ranking only means something for one row of class scores.
        let classes = tensor.dims.last().copied().unwrap_or(0);
        let one_row = u64::try_from(values.len()).is_ok_and(|count| count == classes);
        if tensor.dtype.is_float()
            && classes > 1
            && one_row
            && (matches!(model.comparison, sibyl::state::ComparisonRule::TopK { .. })
                || values.len() <= 100)
        {
            let best = top_k(&values, 3.min(values.len()));
            let ranked: Vec<String> = best
                .iter()
                .filter_map(|&i| Some(format!("class {i} ({:.4})", values.get(i)?)))
                .collect();
            println!("  top: {}", ranked.join(", "));
        }
    }
}

/// The canonical encoding of a model's inputs from files.
pub fn read_input(args: &InputFiles, model: &Model) -> Result<Vec<u8>> {
    let mut parts = Vec::new();
    for arg in &args.input {
        // NAME=FILE names the input (an unknown name is refused by `bind`);
        // a file whose own name has `=` in it is read as that file, unless
        // its prefix names an input too.
        let whole = PathBuf::from(arg);
        let (name, path) = match arg.split_once('=') {
            Some((name, _)) if whole.exists() => {
                if model.inputs.iter().any(|spec| spec.name == name) {
                    bail!(
                        "`{arg}` is a file and also names input `{name}`: write ./{arg} for the file, or {name}=FILE for the input"
                    );
                }
                (None, whole)
            }
            Some((name, path)) => (Some(name.to_string()), PathBuf::from(path)),
            None => (None, whole),
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        parts.push((name, (path, bytes)));
    }
    if let [(None, (path, bytes))] = parts.as_slice() {
        if extension(path) == "bin" {
            return input::from_encoding(bytes, &model.inputs)
                .with_context(|| format!("{} does not fit the model's inputs", path.display()));
        }
    }
    let whole_object = match parts.as_slice() {
        [(None, (path, bytes))] if extension(path) == "json" => {
            let text = String::from_utf8_lossy(bytes);
            input::is_json_object(&text).then(|| (path.clone(), text.into_owned()))
        }
        _ => None,
    };
    let encoded = match whole_object {
        Some((path, text)) => input::from_json_object(&text, &model.inputs)
            .with_context(|| format!("{} does not fit the model's inputs", path.display()))?,
        None => input::bind(
            &model.inputs,
            parts,
            |(path, bytes), spec| match extension(&path).as_str() {
                "json" => input::from_json(&String::from_utf8_lossy(&bytes), spec),
                "npy" => input::from_npy(&bytes, spec),
                "png" if args.round_pixels => input::from_png_rounded(&bytes, spec, args.pixel_max),
                "png" => input::from_png(&bytes, spec, args.pixel_max),
                other => Err(input::InputError::UnknownFormat {
                    path: path.display().to_string(),
                    extension: other.to_string(),
                }),
            },
        )
        .context("the files do not fit the model's inputs")?,
    };
    if encoded.len() > model.max_input_bytes as usize {
        bail!(
            "the input is {} bytes; the model accepts at most {}",
            encoded.len(),
            model.max_input_bytes
        );
    }
    Ok(encoded)
}

fn extension(path: &std::path::Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_lowercase()
}

pub async fn status(cli: &Cli, args: &StatusArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let address = parse_address(&args.request, "request")?;
    let progress = request::progress(&chain, &address).await?;
    println!("{}", describe(&progress).1.trim_start());
    if let Progress::Final { state, .. } = &progress {
        let model = request::model_of(&chain, state).await?;
        print_output(&chain, state, &model).await;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn challenge(cli: &Cli, args: &ChallengeArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let address = parse_address(&args.request, "request")?;
    let state: InferenceRequest = chain.fetch_required(&address, "inference request").await?;
    if state.status != RequestStatus::Committed {
        bail!(
            "request {address} is {:?}; only a committed result can be challenged",
            state.status
        );
    }
    let model = request::model_of(&chain, &state).await?;
    let engine = Engine::new(&EngineSettings {
        library_path: args.runtime_library.clone(),
    })?;
    let limits = FetchLimits {
        allow_http: args.allow_http,
        trusted_hosts: args.trusted_hosts.clone(),
        ..FetchLimits::default()
    };
    let input = InputFetcher::new(
        args.model_cache.join("inputs"),
        args.model_base_dir.clone(),
        limits.clone(),
    )
    .input_of(&state, &chain)
    .await?;
    let runner = Runner::new(
        Arc::new(engine),
        ModelStore::with_limits(
            args.model_cache.clone(),
            args.model_base_dir.clone(),
            limits,
        ),
        RunnerSettings {
            max_concurrent: 1,
            reserved_for_verification: 1,
            run_timeout: Duration::from_secs(600),
            max_loaded_models: 1,
        },
        Metrics::new(),
    );
    let verdict = Verifier::new(Arc::new(runner))
        .verify(&model, &state, input)
        .await?;
    if verdict.committed_agrees {
        println!(
            "the committed result agrees with this machine's under {:?}: nothing to challenge",
            state.comparison
        );
        return Ok(ExitCode::SUCCESS);
    }
    if state.is_by_reference() && !state.input_complete() {
        bail!(
            "the committed result disagrees with this machine's, but request {address} names its input by reference and a challenge needs it on chain (so that every voter has it): a staked operator's node demands it and writes it; once demanded, anyone holding the bytes may write them with `sibyl input write {address} FILE.bin`, then challenge"
        );
    }
    let ours = verdict.correction(&model, &state)?;
    // Where a node run from this directory serves it from.
    let kept = match &ours.whole {
        Some(whole) if !OutputView::all_whole(&state.output_views) => {
            let store = OutputStore::new(NodeConfig::default().output_dir);
            store.put(whole).await?;
            Some(store)
        }
        _ => None,
    };
    let tokens = chain.payment_tokens().await?;
    let wallet = chain.wallet();
    let challenge = instruction(
        accounts::challenge(
            wallet,
            tokens.account_of(&wallet),
            RequestParties::of(address, &state),
            tokens,
        ),
        sibyl::instruction::Challenge {
            sequence: state.sequence,
            output: ours.result,
            whole_output_sha256: ours.whole_output_sha256,
        },
    );
    let signature = chain.send("challenge", &[challenge], &[]).await?;
    println!("challenged {address}: {signature}");
    if let Some(store) = kept {
        println!(
            "the whole output is kept in {}/{} (a node run here serves it)",
            store.dir().display(),
            hex::encode(&ours.whole_output_sha256)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn finalize(cli: &Cli, args: &FinalizeArgs) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let address = parse_address(&args.request, "request")?;
    let state: InferenceRequest = chain.fetch_required(&address, "inference request").await?;
    if state.status != RequestStatus::Committed {
        bail!(
            "request {address} is {:?}; only a committed result is finalized \
             (once its challenge window has passed; `sibyl status` shows where it stands)",
            state.status
        );
    }
    let tokens = chain.payment_tokens().await?;
    let payees = chain.payees(&state).await?;
    let finalize = settlement::finalize(chain.wallet(), address, &state, payees, tokens);
    let signature = chain.send("finalize", &finalize.instructions, &[]).await?;
    println!("finalized {address}: {signature}");
    Ok(ExitCode::SUCCESS)
}

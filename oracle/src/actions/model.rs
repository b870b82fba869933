//! Registering, updating, retiring and listing models (publishers).
use crate::{
    chain::{ChainClient, ChainError},
    engine::{Engine, EngineError},
    store::sha256_file,
};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    constants::{
        MAX_INPUT_BYTES, MAX_MODEL_TENSORS, MAX_OUTPUT_BYTES, MAX_TENSOR_NAME_LEN, MAX_TENSOR_RANK,
    },
    instructions::{RegisterModelArgs, UpdateModelArgs},
    state::{ComparisonRule, Model, OutputView, TensorSpec},
};
use sibyl_client::{accounts, accounts::Tokens, instruction, pda};
use std::path::Path;

/// What a publisher chooses about a model; the rest comes from the file.
#[derive(Clone, Debug)]
pub struct Listing {
    /// Where operators fetch the file.
    pub uri: String,
    /// Price per request, in base units.
    pub price: u64,
    pub royalty_bps: u16,
    /// Default: `Exact` for integer outputs, `Tolerance{1e-5, 1e-4}` for float.
    pub comparison: Option<ComparisonRule>,
    pub challenge_window_override_slots: Option<u64>,
    /// Default: the size of the inputs' encoding (with their graph names);
    /// needed when an input has a dynamic dimension.
    pub max_input_bytes: Option<u32>,
    /// Default: the size of the result's encoding (the outputs' views);
    /// needed when an output in the result has a dynamic dimension.
    pub max_output_bytes: Option<u32>,
    /// What of each named output goes on chain; outputs not named are
    /// whole (see [`parse_view`]).
    pub views: Vec<(String, OutputView)>,
    /// Whether its disputes go to the on-chain referee (bisection, no
    /// vote): for an integer model whose every op the referee computes.
    pub referee: bool,
}

/// A view as the CLI and migration plans write it: `whole`, `omit`,
/// `slice:START:LEN` or `topk:K:SCALE` (`topk:1:1000` is an argmax with
/// its score in thousandths).
pub fn parse_view(text: &str) -> Result<OutputView, String> {
    let number = |part: Option<&str>, what: &str| -> Result<u64, String> {
        part.and_then(|part| part.parse().ok())
            .ok_or_else(|| format!("`{text}`: {what} must be a whole number"))
    };
    let mut parts = text.split(':');
    let view = match parts.next() {
        Some("whole") => OutputView::Whole,
        Some("omit") => OutputView::Omitted,
        Some("slice") => OutputView::Slice {
            start: u32::try_from(number(parts.next(), "START")?)
                .map_err(|_| format!("`{text}`: START is too large"))?,
            len: u32::try_from(number(parts.next(), "LEN")?)
                .map_err(|_| format!("`{text}`: LEN is too large"))?,
        },
        Some("topk") => OutputView::TopK {
            k: u16::try_from(number(parts.next(), "K")?)
                .map_err(|_| format!("`{text}`: K is too large"))?,
            scale: u32::try_from(number(parts.next(), "SCALE")?)
                .map_err(|_| format!("`{text}`: SCALE is too large"))?,
        },
        _ => {
            return Err(format!(
                "`{text}` is not a view: write whole, omit, slice:START:LEN or topk:K:SCALE"
            ))
        }
    };
    match parts.next() {
        None => Ok(view),
        Some(_) => Err(format!("`{text}` has too many parts")),
    }
}

/// A view as [`parse_view`] reads it.
pub fn view_text(view: &OutputView) -> String {
    match *view {
        OutputView::Whole => "whole".into(),
        OutputView::Omitted => "omit".into(),
        OutputView::Slice { start, len } => format!("slice:{start}:{len}"),
        OutputView::TopK { k, scale } => format!("topk:{k}:{scale}"),
    }
}

/// Why a file cannot be registered as it is.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{path} has no inputs or no outputs")]
    NoTensors { path: String },
    #[error("{path} has {count} {side}; a model may have at most {MAX_MODEL_TENSORS}")]
    TooManyTensors {
        path: String,
        side: &'static str,
        count: usize,
    },
    #[error("{path}: `{name}` with shape {shape:?} cannot be registered: names are 1 to {MAX_TENSOR_NAME_LEN} bytes, ranks 0 to {MAX_TENSOR_RANK}, dimensions positive or dynamic")]
    InvalidSpec {
        path: String,
        name: String,
        shape: Vec<i64>,
    },
    #[error("{path}: two {side} share a name")]
    DuplicateName { path: String, side: &'static str },
    #[error("the {what} has dynamic dimensions, so its size has no bound: give one (--max-{what}-bytes, or max_{what}_bytes in a migration plan)")]
    Unbounded { what: &'static str },
    #[error("a {what} bound of {given} bytes is below the smallest {what} of this graph ({smallest} bytes, every dynamic dimension 1): no request could be served")]
    BoundTooSmall {
        what: &'static str,
        given: u32,
        smallest: u32,
    },
    #[error("input ({input} bytes) or output ({output} bytes) exceeds the protocol bounds ({MAX_INPUT_BYTES}, {MAX_OUTPUT_BYTES}): give an output a view (--view NAME=topk:K:SCALE, slice:START:LEN or omit) so that only part of it goes on chain")]
    TooLarge { input: u32, output: u32 },
    #[error(
        "a view names `{name}`, which is not an output of this graph (its outputs: {outputs})"
    )]
    UnknownViewOutput { name: String, outputs: String },
    #[error("{path} cannot be judged by the referee: {reason}")]
    Referee { path: String, reason: String },
    #[error("output `{name}` ({spec}) cannot take the view {view}: a slice needs a fixed shape and must end within it; a top-k needs a float output whose last dimension is fixed and at least K, with K and SCALE at least 1; and at least one output must stay in the result")]
    InvalidView {
        name: String,
        spec: String,
        view: String,
    },
}

/// The registration of the ONNX file at `path`: its hash, its input and
/// output specs from its graph (the file is loaded in the pinned runtime,
/// which checks it), the output bound, and `engine`'s profile id.
pub fn registration(
    engine: &Engine,
    path: &Path,
    listing: Listing,
) -> Result<RegisterModelArgs, RegistrationError> {
    let model_hash = sha256_file(path).map_err(|source| RegistrationError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let loaded = engine.load(path)?;
    // A graph input or output is already a spec: its name, dtype and shape.
    let (inputs, outputs) = (loaded.inputs().to_vec(), loaded.outputs().to_vec());
    check_side(path, "inputs", &inputs)?;
    check_side(path, "outputs", &outputs)?;
    let output_views = output_views(&listing.views, &outputs)?;
    let result_specs = OutputView::result_specs(&output_views, &outputs);
    let max_input_bytes = size_bound("input", listing.max_input_bytes, &inputs)?;
    let max_output_bytes = size_bound("output", listing.max_output_bytes, &result_specs)?;
    if max_input_bytes > MAX_INPUT_BYTES || max_output_bytes > MAX_OUTPUT_BYTES {
        return Err(RegistrationError::TooLarge {
            input: max_input_bytes,
            output: max_output_bytes,
        });
    }
    let float_output = outputs.iter().any(|spec| spec.dtype.is_float());
    let comparison = listing.comparison.unwrap_or(if float_output {
        ComparisonRule::Tolerance {
            abs: 1e-5,
            rel: 1e-4,
        }
    } else {
        ComparisonRule::Exact
    });
    let referee = if listing.referee {
        let refuse = |reason: String| RegistrationError::Referee {
            path: path.display().to_string(),
            reason,
        };
        if comparison != ComparisonRule::Exact || !OutputView::all_whole(&output_views) {
            return Err(refuse(
                "its rule must be exact and every output whole (no --view)".into(),
            ));
        }
        let model = crate::referee::RefereeModel::load(path, &inputs)
            .map_err(|err| refuse(err.to_string()))?;
        Some(model.roots())
    } else {
        None
    };
    Ok(RegisterModelArgs {
        model_hash,
        profile_id: engine.profile_id(),
        uri: listing.uri,
        price: listing.price,
        royalty_bps: listing.royalty_bps,
        inputs,
        outputs,
        max_input_bytes,
        max_output_bytes,
        comparison,
        challenge_window_override_slots: listing.challenge_window_override_slots,
        output_views,
        referee,
    })
}

/// One view per output, in graph order, from the views named (empty when
/// none is: every output whole).
fn output_views(
    named: &[(String, OutputView)],
    outputs: &[TensorSpec],
) -> Result<Vec<OutputView>, RegistrationError> {
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let names = || {
        outputs
            .iter()
            .map(|spec| format!("`{}`", spec.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some((name, _)) = named
        .iter()
        .find(|(name, _)| !outputs.iter().any(|spec| spec.name == *name))
    {
        return Err(RegistrationError::UnknownViewOutput {
            name: name.clone(),
            outputs: names(),
        });
    }
    let views: Vec<OutputView> = outputs
        .iter()
        .map(|spec| {
            named
                .iter()
                .rev()
                .find(|(name, _)| *name == spec.name)
                .map_or(OutputView::Whole, |(_, view)| *view)
        })
        .collect();
    for (spec, view) in outputs.iter().zip(&views) {
        if !view.is_valid_for(spec) {
            return Err(RegistrationError::InvalidView {
                name: spec.name.clone(),
                spec: format!("{:?} {:?}", spec.dtype, spec.shape),
                view: view_text(view),
            });
        }
    }
    if !OutputView::are_valid_for(&views, outputs) {
        return Err(RegistrationError::InvalidView {
            name: names(),
            spec: "every output".into(),
            view: "omit".into(),
        });
    }
    Ok(views)
}

/// The tie margin of `top-k:K` when none is written: scores this close at
/// a rank are a near-tie that CPUs may break either way.
pub const DEFAULT_TIE_MARGIN: f32 = 1e-4;

/// What a publisher should know before registering `args`, in words:
/// outputs its rule compares bit for bit although their bits may differ
/// across CPUs (`docs/security.md`, class 7).
pub fn cautions(args: &RegisterModelArgs) -> Vec<String> {
    // Only what goes on chain is judged: an omitted output is nobody's
    // concern, and a top-k view is judged by its own rule (its scores are
    // float under `Exact`).
    let names = |float: bool| -> Vec<String> {
        args.outputs
            .iter()
            .enumerate()
            .filter(|(index, spec)| {
                let view = OutputView::of(&args.output_views, *index);
                view != OutputView::Omitted
                    && (matches!(view, OutputView::TopK { .. }) || spec.dtype.is_float()) == float
            })
            .map(|(_, spec)| format!("`{}`", spec.name))
            .collect()
    };
    let (floats, integers) = (names(true), names(false));
    let mut cautions = Vec::new();
    if args.comparison == ComparisonRule::Exact && !floats.is_empty() {
        cautions.push(format!(
            "the exact rule compares the float outputs {} bit for bit, and float bits can differ across CPUs: an honest operator on another machine could lose a dispute (use tolerance:ABS:REL or top-k:K)",
            floats.join(", ")
        ));
    } else if !floats.is_empty() && !integers.is_empty() {
        cautions.push(format!(
            "the integer outputs {} are compared bit for bit; if the graph computes them from its float outputs (a classifier's label), CPUs can disagree on them at a near tie (docs/security.md, class 7)",
            integers.join(", ")
        ));
    }
    cautions
}

/// Refuses a side of the graph the program would refuse
/// (`TensorSpec::are_valid_side`), saying why.
fn check_side(
    path: &Path,
    side: &'static str,
    specs: &[TensorSpec],
) -> Result<(), RegistrationError> {
    let path = path.display().to_string();
    if specs.is_empty() {
        return Err(RegistrationError::NoTensors { path });
    }
    if specs.len() > MAX_MODEL_TENSORS {
        return Err(RegistrationError::TooManyTensors {
            path,
            side,
            count: specs.len(),
        });
    }
    if let Some(spec) = specs.iter().find(|spec| !spec.is_valid()) {
        return Err(RegistrationError::InvalidSpec {
            path,
            name: spec.name.clone(),
            shape: spec.shape.clone(),
        });
    }
    if !TensorSpec::are_valid_side(specs) {
        return Err(RegistrationError::DuplicateName { path, side });
    }
    Ok(())
}

/// A comparison rule as written on a command line or in a plan: `exact`,
/// `tolerance:ABS:REL` or `top-k:K[:TIE_MARGIN]`.
pub fn parse_rule(text: &str) -> Result<ComparisonRule, String> {
    let number = |what: &str, value: &str| format!("`{text}`: {what} `{value}` is not a number");
    let parts: Vec<&str> = text.split(':').collect();
    Ok(match parts.as_slice() {
        ["exact"] => ComparisonRule::Exact,
        ["tolerance", abs, rel] => ComparisonRule::Tolerance {
            abs: abs.parse().map_err(|_| number("ABS", abs))?,
            rel: rel.parse().map_err(|_| number("REL", rel))?,
        },
        ["top-k", k] => ComparisonRule::TopK {
            k: k.parse().map_err(|_| number("K", k))?,
            tie_margin: DEFAULT_TIE_MARGIN,
        },
        ["top-k", k, margin] => ComparisonRule::TopK {
            k: k.parse().map_err(|_| number("K", k))?,
            tie_margin: margin.parse().map_err(|_| number("TIE_MARGIN", margin))?,
        },
        _ => {
            return Err(format!(
                "`{text}`: expected exact, tolerance:ABS:REL or top-k:K[:TIE_MARGIN]"
            ))
        }
    })
}

/// The size bound of a side: `given`, if no smaller than the side's
/// smallest encoding (the program refuses a smaller one), or else the
/// side's size when it has no dynamic dimension.
fn size_bound(
    what: &'static str,
    given: Option<u32>,
    specs: &[TensorSpec],
) -> Result<u32, RegistrationError> {
    let smallest = TensorSpec::smallest_encoding_len(specs)
        .and_then(|bytes| u32::try_from(bytes).ok())
        .unwrap_or(u32::MAX);
    match given {
        Some(given) if given < smallest => Err(RegistrationError::BoundTooSmall {
            what,
            given,
            smallest,
        }),
        Some(given) => Ok(given),
        None if TensorSpec::any_dynamic(specs) => Err(RegistrationError::Unbounded { what }),
        None => Ok(smallest),
    }
}

/// Registers a model (and creates its protocol-fee vault in the payment
/// token); royalties will be paid to the publisher's associated token
/// account, created first if it does not exist. Returns the model's address.
pub async fn register(
    chain: &ChainClient,
    tokens: Tokens,
    args: RegisterModelArgs,
) -> Result<Pubkey, ChainError> {
    let address = pda::model(&args.model_hash);
    let publisher = chain.wallet();
    let register = instruction(
        accounts::register_model(
            publisher,
            tokens.account_of(&publisher),
            &args.model_hash,
            tokens,
        ),
        sibyl::instruction::RegisterModel { args },
    );
    let payout = tokens.create_account(&publisher, &publisher);
    chain
        .send("register_model", &[payout, register], &[])
        .await?;
    Ok(address)
}

/// Changes a model's URI, price, royalty or window.
pub async fn update(
    chain: &ChainClient,
    model: Pubkey,
    args: UpdateModelArgs,
) -> Result<(), ChainError> {
    let update = instruction(
        accounts::update_model(chain.wallet(), model),
        sibyl::instruction::UpdateModel { args },
    );
    chain.send("update_model", &[update], &[]).await.map(drop)
}

/// Retires a model: it takes no new requests.
pub async fn retire(chain: &ChainClient, model: Pubkey) -> Result<(), ChainError> {
    let retire = instruction(
        accounts::retire_model(chain.wallet(), model),
        sibyl::instruction::RetireModel {},
    );
    chain.send("retire_model", &[retire], &[]).await.map(drop)
}

/// Every registered model, by address.
pub async fn list(chain: &ChainClient) -> Result<Vec<(Pubkey, Model)>, ChainError> {
    let mut models = chain.program_accounts::<Model>("model", Vec::new()).await?;
    models.sort_by_key(|(_, model)| model.registered_slot);
    Ok(models)
}

/// Why no single model answers to a name.
#[derive(Debug, thiserror::Error)]
pub enum FindModelError {
    #[error("`{name}` is neither a model address nor a model hash (hex, whole or its first digits); `sibyl model list` shows every model")]
    Unrecognized { name: String },
    #[error("no model's hash starts with `{prefix}`; `sibyl model list` shows every model")]
    NoMatch { prefix: String },
    #[error("`{prefix}` starts the hashes of {} models ({}); give more digits", matches.len(), matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// The hex digits of a model hash prefix as `sibyl model list` prints it
/// (`112e68c92fd894ee…`), if `name` is one.
fn hash_prefix(name: &str) -> Option<String> {
    let digits = name.trim_end_matches('…').trim_end_matches("...");
    (!digits.is_empty() && digits.len() <= 64 && digits.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| digits.to_ascii_lowercase())
}

/// A model named by its address, its SHA-256 (hex), or any prefix of its
/// SHA-256 that only one model's hash starts with.
pub async fn find(chain: &ChainClient, name: &str) -> Result<(Pubkey, Model), FindModelError> {
    let name = name.trim();
    if let Some(hash) = crate::hex::decode_hash(name) {
        let address = pda::model(&hash);
        return Ok((address, chain.fetch_required(&address, "model").await?));
    }
    if let Ok(address) = name.parse::<Pubkey>() {
        if let Some(model) = chain.fetch::<Model>(&address, "model").await? {
            return Ok((address, model));
        }
    }
    let Some(prefix) = hash_prefix(name) else {
        return Err(FindModelError::Unrecognized {
            name: name.to_string(),
        });
    };
    let mut matches: Vec<(Pubkey, Model)> = list(chain)
        .await?
        .into_iter()
        .filter(|(_, model)| crate::hex::encode(&model.model_hash).starts_with(&prefix))
        .collect();
    match matches.len() {
        0 => Err(FindModelError::NoMatch { prefix }),
        1 => Ok(matches.remove(0)),
        _ => Err(FindModelError::Ambiguous {
            prefix,
            matches: matches
                .iter()
                .map(|(_, model)| crate::hex::encode(&model.model_hash))
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sibyl::state::DType;

    #[test]
    fn a_view_is_written_as_the_cli_takes_it_and_read_back() {
        for text in ["whole", "omit", "slice:3:10", "topk:5:65536"] {
            assert_eq!(view_text(&parse_view(text).unwrap()), text);
        }
        for bad in [
            "top",
            "topk:5",
            "topk:x:1",
            "slice:1:2:3",
            "topk:70000:1",
            "",
        ] {
            assert!(parse_view(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cautions_speak_only_of_what_goes_on_chain() {
        let spec = |name: &str, dtype| TensorSpec {
            name: name.into(),
            dtype,
            shape: vec![1, 3],
        };
        let mut args = RegisterModelArgs {
            model_hash: [0; 32],
            profile_id: [0; 32],
            uri: "file://m.onnx".into(),
            price: 1,
            royalty_bps: 0,
            inputs: vec![spec("x", DType::Float32)],
            outputs: vec![
                spec("label", DType::Int64),
                spec("probabilities", DType::Float32),
            ],
            max_input_bytes: 64,
            max_output_bytes: 64,
            comparison: ComparisonRule::Tolerance {
                abs: 1e-5,
                rel: 1e-4,
            },
            challenge_window_override_slots: None,
            output_views: vec![],
            referee: None,
        };
        assert!(cautions(&args)[0].contains("`label`"));
        // The label off chain, the probabilities' argmax judged: nothing to say.
        args.output_views = vec![OutputView::Omitted, OutputView::TopK { k: 1, scale: 1000 }];
        assert!(cautions(&args).is_empty());
        // Exact on fixed-point scores of floats: they may round apart.
        args.comparison = ComparisonRule::Exact;
        assert!(cautions(&args)[0].contains("`probabilities`"));
    }

    #[test]
    fn a_printed_hash_prefix_is_read_back() {
        assert_eq!(
            hash_prefix("112e68c92fd894ee…").as_deref(),
            Some("112e68c92fd894ee")
        );
        assert_eq!(hash_prefix("112E68...").as_deref(), Some("112e68"));
        assert_eq!(
            hash_prefix("3KYzKnqmGAQeY6CAKg6BZ1NMKwacJX7yxdXcv4bzEALu"),
            None
        );
        assert_eq!(hash_prefix("…"), None);
        assert_eq!(hash_prefix(&"a".repeat(65)), None);
    }
}

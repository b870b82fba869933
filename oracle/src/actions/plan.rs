//! Reading a migration plan (`migrations/*.toml`; the format is in
//! `migrations/README.md`).
use super::{
    migrate::{Fund, MintChoice, Plan, PlannedModel},
    model::{parse_rule, parse_view},
    protocol::localnet_params,
};
use serde::Deserialize;
use sibyl::state::ConfigParams;
use std::path::{Path, PathBuf};

/// Why a plan cannot be used: the file (and line) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PlanError {
    pub path: String,
    pub reason: String,
}

/// The plan file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    /// Directory that relative model files resolve against, relative to the
    /// plan file's directory (default: that directory).
    root: Option<PathBuf>,
    protocol: ProtocolTable,
    #[serde(default)]
    models: Vec<ModelTable>,
    fund: Option<FundTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolTable {
    /// "create" or a mint address.
    mint: String,
    /// "localnet" or a table with every `ConfigParams` field.
    params: toml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelTable {
    file: String,
    uri: Option<String>,
    price: String,
    royalty_bps: Option<u16>,
    rule: Option<String>,
    window: Option<u64>,
    max_input_bytes: Option<u32>,
    max_output_bytes: Option<u32>,
    /// `{ output name = "topk:5:1000" }` (see `parse_view`).
    #[serde(default)]
    views: std::collections::BTreeMap<String, String>,
    /// Whether the on-chain referee decides its disputes (default: no).
    #[serde(default)]
    referee: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FundTable {
    tokens: String,
    #[serde(default)]
    wallets: Vec<String>,
}

/// `ConfigParams`, every field required (amounts in base units).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsTable {
    protocol_fee_bps: u16,
    min_operator_stake: u64,
    challenge_window_slots: u64,
    challenge_bond: u64,
    vote_window_slots: u64,
    quorum_bps: u16,
    threshold_bps: u16,
    slash_bps: u16,
    voter_reward_bps: u16,
    unbonding_slots: u64,
    request_timeout_slots: u64,
    arbitration_window_slots: u64,
}

impl From<ParamsTable> for ConfigParams {
    fn from(p: ParamsTable) -> Self {
        ConfigParams {
            protocol_fee_bps: p.protocol_fee_bps,
            min_operator_stake: p.min_operator_stake,
            challenge_window_slots: p.challenge_window_slots,
            challenge_bond: p.challenge_bond,
            vote_window_slots: p.vote_window_slots,
            quorum_bps: p.quorum_bps,
            threshold_bps: p.threshold_bps,
            slash_bps: p.slash_bps,
            voter_reward_bps: p.voter_reward_bps,
            unbonding_slots: p.unbonding_slots,
            request_timeout_slots: p.request_timeout_slots,
            arbitration_window_slots: p.arbitration_window_slots,
        }
    }
}

/// Reads and checks the plan at `path`; model files resolve against its root.
pub fn load_plan(path: &Path) -> Result<Plan, PlanError> {
    let fail = |reason: String| PlanError {
        path: path.display().to_string(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|err| fail(format!("cannot read it: {err}")))?;
    let file: PlanFile = toml::from_str(&text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start].lines().count().max(1))
            .map_or(String::new(), |line| format!(":{line}"));
        PlanError {
            path: format!("{}{line}", path.display()),
            reason: err.message().trim().to_string(),
        }
    })?;
    let plan_dir = path.parent().unwrap_or(Path::new(""));
    let root = match &file.root {
        Some(root) => plan_dir.join(root),
        None => plan_dir.to_path_buf(),
    };
    let mint = match file.protocol.mint.as_str() {
        "create" => MintChoice::Create,
        address => MintChoice::Existing(address.parse().map_err(|_| {
            fail(format!(
                "[protocol] mint: `{address}` is neither \"create\" nor an address"
            ))
        })?),
    };
    let params = match file.protocol.params {
        toml::Value::String(name) if name == "localnet" => localnet_params(),
        toml::Value::Table(table) => toml::Value::Table(table)
            .try_into::<ParamsTable>()
            .map_err(|err| fail(format!("[protocol] params: {}", err.message().trim())))?
            .into(),
        other => {
            return Err(fail(format!(
            "[protocol] params: expected \"localnet\" or a table of every parameter, found {other}"
        )))
        }
    };
    let models = file
        .models
        .into_iter()
        .map(|model| {
            let comparison = model
                .rule
                .as_deref()
                .map(parse_rule)
                .transpose()
                .map_err(|err| fail(format!("model {}: {err}", model.file)))?;
            let views = model
                .views
                .iter()
                .map(|(name, view)| Ok((name.clone(), parse_view(view)?)))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|err| fail(format!("model {}: views: {err}", model.file)))?;
            Ok(PlannedModel {
                file: root.join(&model.file),
                uri: model
                    .uri
                    .unwrap_or_else(|| format!("file://{}", model.file)),
                price: model.price,
                royalty_bps: model.royalty_bps.unwrap_or(1_000),
                comparison,
                challenge_window_override_slots: model.window,
                max_input_bytes: model.max_input_bytes,
                max_output_bytes: model.max_output_bytes,
                views,
                referee: model.referee,
                name: model.file,
            })
        })
        .collect::<Result<Vec<_>, PlanError>>()?;
    let fund = file
        .fund
        .map(|fund| {
            let wallets = fund
                .wallets
                .iter()
                .map(|wallet| {
                    wallet
                        .parse()
                        .map_err(|_| fail(format!("[fund] wallets: `{wallet}` is not an address")))
                })
                .collect::<Result<Vec<_>, PlanError>>()?;
            Ok::<_, PlanError>(Fund {
                tokens: fund.tokens,
                wallets,
            })
        })
        .transpose()?;
    Ok(Plan {
        mint,
        params,
        models,
        fund,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sibyl::state::ComparisonRule;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .into()
    }

    fn load_text(text: &str) -> Result<Plan, PlanError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, text).unwrap();
        load_plan(&path)
    }

    #[test]
    fn the_committed_plans_load_and_their_parameters_are_valid() {
        for name in ["localnet", "devnet"] {
            let path = repo_root().join(format!("migrations/{name}.toml"));
            let plan = load_plan(&path).unwrap_or_else(|err| panic!("{name}: {err:#}"));
            plan.params.validate().expect("valid parameters");
            assert_eq!(plan.mint, MintChoice::Create);
            let models: Vec<_> = plan.models.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(models, ["models/digits.onnx", "models/int8_matmul.onnx"]);
            for model in &plan.models {
                assert!(model.file.is_file(), "{}", model.file.display());
                assert_eq!(model.uri, format!("file://{}", model.name));
            }
            assert_eq!(
                plan.models[0].comparison,
                Some(ComparisonRule::TopK {
                    k: 1,
                    tie_margin: crate::actions::model::DEFAULT_TIE_MARGIN,
                })
            );
            assert_eq!(plan.models[1].comparison, Some(ComparisonRule::Exact));
        }
        let localnet = load_plan(&repo_root().join("migrations/localnet.toml")).unwrap();
        assert_eq!(localnet.params, localnet_params());
        assert_eq!(localnet.fund.unwrap().tokens, "1000");
        let devnet = load_plan(&repo_root().join("migrations/devnet.toml")).unwrap();
        assert!(devnet.fund.is_none(), "devnet funds only with --fund");
    }

    #[test]
    fn plan_mistakes_are_named() {
        let cases = [
            ("[protocol]\nmint = \"create\"\nparams = \"localnet\"\ncolor = 1\n", "unknown field `color`"),
            ("[protocol]\nmint = \"nope\"\nparams = \"localnet\"\n", "`nope` is neither \"create\" nor an address"),
            ("[protocol]\nmint = \"create\"\nparams = \"mainnet\"\n", "expected \"localnet\" or a table"),
            (
                "[protocol]\nmint = \"create\"\n[protocol.params]\nprotocol_fee_bps = 1\n",
                "missing field",
            ),
            (
                "[protocol]\nmint = \"create\"\nparams = \"localnet\"\n[[models]]\nfile = \"m.onnx\"\nprice = \"1\"\nrule = \"best\"\n",
                "expected exact, tolerance:ABS:REL or top-k:K",
            ),
            (
                "[protocol]\nmint = \"create\"\nparams = \"localnet\"\n[[models]]\nfile = \"m.onnx\"\nprice = 0.01\n",
                "plan.toml:6",
            ),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", load_text(text).unwrap_err());
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn model_files_resolve_against_the_plan_root() {
        let plan = load_text(
            "root = \"..\"\n[protocol]\nmint = \"create\"\nparams = \"localnet\"\n[[models]]\nfile = \"models/x.onnx\"\nprice = \"1\"\n",
        )
        .unwrap();
        let model = &plan.models[0];
        assert!(
            model.file.ends_with("../models/x.onnx"),
            "{}",
            model.file.display()
        );
        assert_eq!(model.uri, "file://models/x.onnx");
        assert_eq!(model.royalty_bps, 1_000);
        assert_eq!(model.comparison, None);
    }
}

//! The node's configuration: one TOML file (`sibyl config init` writes a
//! commented one), every key overridable from the environment as
//! `SIBYL_<SECTION>__<KEY>` (e.g. `SIBYL_CLUSTER__RPC_URL`), validated at
//! start-up with errors that name the key.
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Where environment overrides start.
pub const ENV_PREFIX: &str = "SIBYL_";

/// Everything `sibyl node run` needs.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub cluster: ClusterConfig,
    pub identity: IdentityConfig,
    #[serde(default)]
    pub node: NodeConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
    #[serde(default)]
    pub send: SendConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Used only by a build with `test-faults`; any other refuses a
    /// non-zero rate (and accepts the `rate = 0.0` older templates wrote).
    #[serde(default)]
    pub faulty: FaultyConfig,
}

/// The cluster to talk to.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// JSON-RPC URL (or `l`, `d`, `m` for localnet, devnet, mainnet-beta).
    pub rpc_url: String,
    /// PubSub URL; derived from `rpc_url` when empty (port + 1, ws scheme).
    #[serde(default)]
    pub ws_url: String,
    /// More JSON-RPC URLs of the same cluster (another provider, say),
    /// tried in order when the one in use fails; each one's PubSub URL is
    /// derived from it. The program subscription moves along with them.
    #[serde(default)]
    pub fallback_rpc_urls: Vec<String>,
}

/// The operator wallet.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Keypair file of the operator's authority (`~` is expanded).
    pub keypair: String,
}

/// What the node does.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Services to run: any of `serve`, `watch`, `vote`, `crank`.
    pub roles: Vec<Role>,
    /// The models this node runs (serves, watches and votes on): their
    /// hashes in hex, or `"*"` for every model registered with this node's
    /// profile id (whatever anyone registers). A node with serve, watch or
    /// vote must name at least one. A model whose profile id is not this
    /// node's is never run, listed or not.
    pub models: Vec<String>,
    /// The models this node serves, when fewer than it verifies: hashes
    /// from `models`; empty: all of `models`.
    pub serve_models: Vec<String>,
    /// The journal database.
    pub journal: PathBuf,
    /// Where fetched models are cached by hash.
    pub model_cache: PathBuf,
    /// What relative `file://` model URIs are relative to.
    pub model_base_dir: PathBuf,
    /// How often services scan the chain even without a notification.
    pub poll_interval_ms: u64,
    /// Inferences run at once to serve requests.
    pub max_concurrent_inferences: usize,
    /// Inferences reserved for verifying others' commitments (watch, vote),
    /// on top of `max_concurrent_inferences`, so serving cannot hold every
    /// inference slot (runs of one model still share its session).
    pub reserved_verification_inferences: usize,
    /// The longest one inference may run before it is stopped.
    pub inference_timeout_ms: u64,
    /// Models kept loaded (in memory, and their files in the cache) at
    /// once; the least recently used is dropped to make room.
    pub max_loaded_models: usize,
    /// On SIGTERM, how long work in flight may take to finish before it is
    /// cut off (its journaled steps resume on restart).
    pub shutdown_timeout_ms: u64,
    /// Journal steps done longer ago than this are deleted (hourly), and
    /// so are kept whole outputs.
    pub journal_retention_hours: u64,
    /// Where the whole outputs this node commits or challenges with are
    /// kept, by hash, and served from (`GET /outputs/<sha256>` beside
    /// `/metrics`).
    pub output_dir: PathBuf,
    /// The base URL clients reach this node's `/outputs/` at (its
    /// `metrics.listen` as the world sees it), published on chain as the
    /// operator's output URL when it differs; empty: nothing is published.
    pub output_url: String,
}

/// The wildcard entry of `node.models`.
pub const ANY_MODEL: &str = "*";

/// Which models a node runs, from `node.models`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelAllowlist {
    /// Every model with this node's profile id.
    Any,
    /// These model hashes (with this node's profile id).
    Only(Vec<[u8; 32]>),
}

impl ModelAllowlist {
    /// The allowlist `entries` (hex hashes or `*`) name.
    pub fn of(entries: &[String]) -> Self {
        if entries.iter().any(|entry| entry == ANY_MODEL) {
            ModelAllowlist::Any
        } else {
            ModelAllowlist::Only(
                entries
                    .iter()
                    .filter_map(|hash| crate::hex::decode_hash(hash))
                    .collect(),
            )
        }
    }

    /// Whether a node whose profile id is `profile_id` runs `model`.
    pub fn runs(&self, model: &sibyl::state::Model, profile_id: &[u8; 32]) -> bool {
        model.profile_id == *profile_id
            && match self {
                ModelAllowlist::Any => true,
                ModelAllowlist::Only(hashes) => hashes.contains(&model.model_hash),
            }
    }
}

/// One of the node's services.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Serve,
    Watch,
    Vote,
    Crank,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            roles: vec![Role::Serve, Role::Watch, Role::Vote, Role::Crank],
            models: Vec::new(),
            serve_models: Vec::new(),
            journal: PathBuf::from(".sibyl/journal.redb"),
            model_cache: PathBuf::from(".sibyl/models"),
            model_base_dir: PathBuf::from("."),
            poll_interval_ms: 1_000,
            max_concurrent_inferences: 2,
            reserved_verification_inferences: 1,
            inference_timeout_ms: 60_000,
            max_loaded_models: 8,
            shutdown_timeout_ms: 30_000,
            journal_retention_hours: 168,
            output_dir: PathBuf::from(".sibyl/outputs"),
            output_url: String::new(),
        }
    }
}

impl NodeConfig {
    /// The inference runner's settings.
    pub fn runner_settings(&self) -> crate::inference::RunnerSettings {
        crate::inference::RunnerSettings {
            max_concurrent: self.max_concurrent_inferences,
            reserved_for_verification: self.reserved_verification_inferences,
            run_timeout: Duration::from_millis(self.inference_timeout_ms),
            max_loaded_models: self.max_loaded_models,
        }
    }

    /// The models this node runs.
    pub fn allowlist(&self) -> ModelAllowlist {
        ModelAllowlist::of(&self.models)
    }

    /// The models this node serves.
    pub fn serve_allowlist(&self) -> ModelAllowlist {
        if self.serve_models.is_empty() {
            self.allowlist()
        } else {
            ModelAllowlist::of(&self.serve_models)
        }
    }
}

/// How model files named on chain are fetched (see [`crate::store`]).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// The largest model file accepted, in bytes.
    pub max_model_bytes: u64,
    /// The whole download of one model.
    pub timeout_ms: u64,
    /// The longest wait for the next bytes of a download.
    pub read_timeout_ms: u64,
    /// Fetch plain `http://` URIs (localnets only).
    pub allow_http: bool,
    /// Loopback or private hosts fetched from all the same: `host` or
    /// `host:port` (your own model mirror).
    pub trusted_hosts: Vec<String>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        let limits = crate::store::FetchLimits::default();
        Self {
            max_model_bytes: limits.max_bytes,
            timeout_ms: crate::metrics::millis(limits.timeout),
            read_timeout_ms: crate::metrics::millis(limits.read_timeout),
            allow_http: limits.allow_http,
            trusted_hosts: limits.trusted_hosts,
        }
    }
}

impl FetchConfig {
    /// The model store's limits.
    pub fn limits(&self) -> crate::store::FetchLimits {
        crate::store::FetchLimits {
            max_bytes: self.max_model_bytes,
            timeout: Duration::from_millis(self.timeout_ms),
            read_timeout: Duration::from_millis(self.read_timeout_ms),
            allow_http: self.allow_http,
            trusted_hosts: self.trusted_hosts.clone(),
        }
    }
}

/// The ONNX Runtime library.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so.1.31.1`; empty: `ORT_DYLIB_PATH`, then
    /// `.local/onnxruntime/` as `scripts/setup.sh` installs it.
    pub library: Option<PathBuf>,
}

/// How transactions are sent.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SendConfig {
    pub priority_fee_micro_lamports: u64,
    pub max_priority_fee_micro_lamports: u64,
    pub compute_unit_limit: u32,
    pub max_attempts: u32,
    pub confirm_timeout_ms: u64,
    pub retry_backoff_ms: u64,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self {
            priority_fee_micro_lamports: 0,
            max_priority_fee_micro_lamports: 100_000,
            compute_unit_limit: 400_000,
            max_attempts: 5,
            confirm_timeout_ms: 30_000,
            retry_backoff_ms: 500,
        }
    }
}

impl SendConfig {
    /// The chain client's settings.
    pub fn settings(&self) -> crate::chain::SendSettings {
        crate::chain::SendSettings {
            priority_fee_micro_lamports: self.priority_fee_micro_lamports,
            max_priority_fee_micro_lamports: self.max_priority_fee_micro_lamports,
            compute_unit_limit: self.compute_unit_limit,
            max_attempts: self.max_attempts,
            confirm_timeout: Duration::from_millis(self.confirm_timeout_ms),
            retry_backoff: Duration::from_millis(self.retry_backoff_ms),
        }
    }
}

/// The Prometheus endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` on; none: no endpoint.
    pub listen: Option<SocketAddr>,
}

/// Deliberately wrong commitments, for demos and tests of the dispute path
/// (only in a build with `test-faults`). Never on unless asked for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaultyConfig {
    /// Fraction of commitments (0.0 to 1.0) that are wrong.
    pub rate: f64,
}

/// Why the configuration cannot be used; every variant names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Config {
    /// The share of commitments made deliberately wrong: `faulty.rate` in a
    /// build with `test-faults`, 0 in any other.
    pub fn faulty_rate(&self) -> f64 {
        if crate::faulty::COMPILED_IN {
            self.faulty.rate
        } else {
            0.0
        }
    }

    /// Reads `path`, applies the environment's overrides and validates.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parses `text`, applies `env` overrides (`SIBYL_SECTION__KEY=value`) and validates.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut document: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| ConfigError::Parse {
                    path: origin.to_string(),
                    reason: err.to_string(),
                })?;
        for (var, value) in env {
            let Some(path) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((section, key)) = path.split_once("__") else {
                continue;
            };
            let section = document
                .entry(section.to_lowercase())
                .or_insert_with(|| toml::Value::Table(Default::default()));
            let toml::Value::Table(section) = section else {
                return Err(ConfigError::Env {
                    var,
                    reason: "names a key that is not a section".into(),
                });
            };
            section.insert(key.to_lowercase(), env_value(&value));
        }
        let config: Config =
            document
                .try_into()
                .map_err(|err: toml::de::Error| ConfigError::Parse {
                    path: origin.to_string(),
                    reason: err.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_string(),
        };
        if self.node.roles.is_empty() {
            return Err(invalid(
                "node.roles",
                "name at least one of serve, watch, vote, crank",
            ));
        }
        if self.node.max_concurrent_inferences == 0 {
            return Err(invalid(
                "node.max_concurrent_inferences",
                "must be at least 1",
            ));
        }
        if self.node.reserved_verification_inferences == 0 {
            return Err(invalid(
                "node.reserved_verification_inferences",
                "must be at least 1",
            ));
        }
        if self.node.poll_interval_ms == 0 {
            return Err(invalid("node.poll_interval_ms", "must be at least 1"));
        }
        if let Some(bad) = self
            .node
            .models
            .iter()
            .find(|hash| *hash != ANY_MODEL && crate::hex::decode_hash(hash).is_none())
        {
            return Err(ConfigError::Invalid {
                key: "node.models",
                reason: format!("`{bad}` is not a 64-digit hex SHA-256 or \"{ANY_MODEL}\""),
            });
        }
        for entry in &self.node.serve_models {
            let reason = match (crate::hex::decode_hash(entry), self.node.allowlist()) {
                (None, _) => format!("`{entry}` is not a 64-digit hex SHA-256"),
                (Some(hash), ModelAllowlist::Only(hashes)) if !hashes.contains(&hash) => {
                    format!("`{entry}` is not in node.models: a node serves only models it runs")
                }
                _ => continue,
            };
            return Err(ConfigError::Invalid {
                key: "node.serve_models",
                reason,
            });
        }
        let runs_models = self.node.roles.iter().any(|role| *role != Role::Crank);
        if runs_models && self.node.models.is_empty() {
            return Err(invalid(
                "node.models",
                "name the models this node runs: their hashes (`sibyl model list` shows them), \
                 or \"*\" for every model with this node's profile, which runs whatever anyone registers",
            ));
        }
        if self.node.journal_retention_hours == 0 {
            return Err(invalid(
                "node.journal_retention_hours",
                "must be at least 1 (done steps are needed while their request or dispute is open)",
            ));
        }
        if !sibyl::state::Operator::is_valid_output_url(&self.node.output_url) {
            return Err(invalid(
                "node.output_url",
                "must be empty or an https:// or http:// URL of at most 200 printable characters",
            ));
        }
        if !self.node.output_url.is_empty() && self.metrics.listen.is_none() {
            return Err(invalid(
                "node.output_url",
                "whole outputs are served beside the metrics: set metrics.listen too",
            ));
        }
        if self.node.max_loaded_models == 0 {
            return Err(invalid("node.max_loaded_models", "must be at least 1"));
        }
        if self.node.inference_timeout_ms == 0 {
            return Err(invalid("node.inference_timeout_ms", "must be at least 1"));
        }
        if self.fetch.max_model_bytes == 0 {
            return Err(invalid("fetch.max_model_bytes", "must be at least 1"));
        }
        if self.fetch.timeout_ms == 0 || self.fetch.read_timeout_ms == 0 {
            return Err(invalid(
                "fetch.timeout_ms",
                "fetch.timeout_ms and fetch.read_timeout_ms must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.faulty.rate) {
            return Err(invalid("faulty.rate", "must be between 0.0 and 1.0"));
        }
        if self.faulty.rate > 0.0 && !crate::faulty::COMPILED_IN {
            return Err(invalid(
                "faulty.rate",
                "needs a sibyl built with the `test-faults` feature (demos and tests only): \
                 remove [faulty] or set rate = 0.0",
            ));
        }
        if self.send.max_priority_fee_micro_lamports < self.send.priority_fee_micro_lamports {
            return Err(invalid(
                "send.max_priority_fee_micro_lamports",
                "must be at least send.priority_fee_micro_lamports",
            ));
        }
        if self.send.max_attempts == 0 {
            return Err(invalid("send.max_attempts", "must be at least 1"));
        }
        self.endpoints()?;
        Ok(())
    }

    /// Every endpoint, as an RPC URL and its PubSub URL: the configured one,
    /// then each `cluster.fallback_rpc_urls`.
    pub fn endpoints(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let mut endpoints = vec![self.urls()?];
        for url in &self.cluster.fallback_rpc_urls {
            endpoints.push(
                resolve_cluster(url, "").map_err(|reason| ConfigError::Invalid {
                    key: "cluster.fallback_rpc_urls",
                    reason,
                })?,
            );
        }
        Ok(endpoints)
    }

    /// The RPC and PubSub URLs.
    pub fn urls(&self) -> Result<(String, String), ConfigError> {
        resolve_cluster(&self.cluster.rpc_url, &self.cluster.ws_url).map_err(|reason| {
            ConfigError::Invalid {
                key: "cluster.rpc_url",
                reason,
            }
        })
    }

    /// A commented configuration for a localnet operator running `models`
    /// (hashes in hex, or `*`), as `config init` writes it.
    pub fn template(rpc_url: &str, keypair: &str, models: &[String]) -> String {
        let models = format!("{models:?}");
        format!(
            r#"# Sibyl node configuration. Every key can be overridden from the environment
# as SIBYL_<SECTION>__<KEY>, e.g. SIBYL_CLUSTER__RPC_URL=http://127.0.0.1:8899.

[cluster]
rpc_url = "{rpc_url}"          # or l (localnet), d (devnet), m (mainnet-beta)
ws_url = ""                    # empty: derived from rpc_url
fallback_rpc_urls = []         # more endpoints of this cluster, tried in order when one fails

[identity]
keypair = "{keypair}"          # the operator's authority wallet

[node]
roles = ["serve", "watch", "vote", "crank"]
models = {models:<22}  # the models this node runs: hashes (hex, `sibyl model list`), or ["*"]
                               # for every model with this node's profile (whatever anyone registers)
journal = ".sibyl/journal.redb"
model_cache = ".sibyl/models"
model_base_dir = "."           # what relative file:// model URIs are relative to
poll_interval_ms = 1000
max_concurrent_inferences = 2          # to serve requests
reserved_verification_inferences = 1   # on top, for watch and vote only
inference_timeout_ms = 60000   # a run that takes longer is stopped
max_loaded_models = 8          # the least recently used model is dropped (memory and cache) beyond this
shutdown_timeout_ms = 30000    # on SIGTERM, how long work in flight may take to finish
journal_retention_hours = 168  # done journal steps (and kept whole outputs) older than this are deleted
output_dir = ".sibyl/outputs"  # whole outputs this node committed or challenged with, served at /outputs/<sha256>
output_url = ""                # the URL clients reach metrics.listen at, published on chain (empty: none)

[fetch]                        # model files named on chain are untrusted input
max_model_bytes = 268435456    # 256 MiB
timeout_ms = 300000            # the whole download
read_timeout_ms = 30000        # between reads
allow_http = false             # plain http:// (localnets only)
trusted_hosts = []             # loopback/private hosts allowed all the same, "host" or "host:port"

[runtime]
# library = ".local/onnxruntime/libonnxruntime.so.1.31.1"   # default: ORT_DYLIB_PATH, then .local/

[send]
priority_fee_micro_lamports = 0          # the least paid per compute unit
max_priority_fee_micro_lamports = 100000 # the most: each pays what recent writers of its accounts paid, within these
compute_unit_limit = 400000   # the ceiling: each transaction asks for what its simulation consumed, plus a margin
max_attempts = 5
confirm_timeout_ms = 30000      # how long sending goes on while the RPC cannot be reached
retry_backoff_ms = 500

[metrics]
# listen = "127.0.0.1:9464"    # serves /metrics for Prometheus, and the whole outputs at /outputs/<sha256>
"#
        )
    }
}

/// An environment value as TOML: a number, boolean, array or quoted string
/// if it parses as one, otherwise the raw text as a string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// The RPC and PubSub URLs for a `-u` value: `l`/`localhost`, `d`/`devnet`,
/// `m`/`mainnet-beta`, `t`/`testnet`, or a URL (PubSub: port + 1, ws scheme,
/// as the Solana CLI derives it).
pub fn resolve_cluster(rpc: &str, ws: &str) -> Result<(String, String), String> {
    let rpc = match rpc {
        "l" | "localhost" => "http://127.0.0.1:8899".to_string(),
        "d" | "devnet" => "https://api.devnet.solana.com".to_string(),
        "t" | "testnet" => "https://api.testnet.solana.com".to_string(),
        "m" | "mainnet-beta" => "https://api.mainnet-beta.solana.com".to_string(),
        url if url.starts_with("http://") || url.starts_with("https://") => url.to_string(),
        other => return Err(format!("`{other}` is not a URL or one of l, d, t, m")),
    };
    if !ws.is_empty() {
        return Ok((rpc, ws.to_string()));
    }
    let ws = derive_ws_url(&rpc);
    Ok((rpc, ws))
}

fn derive_ws_url(rpc: &str) -> String {
    let (scheme, rest) = rpc
        .split_once("://")
        .map(|(scheme, rest)| (if scheme == "https" { "wss" } else { "ws" }, rest))
        .unwrap_or(("ws", rpc));
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => format!("{host}:{}", port.saturating_add(1)),
            Err(_) => authority.to_string(),
        },
        None => authority.to_string(),
    };
    if path.is_empty() {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}/{path}")
    }
}

/// `url` as logs show it: without user, password, path or query, where RPC
/// providers put API keys (`https://user:key@host/v2/KEY?api-key=KEY` →
/// `https://host/…`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".to_string();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let hidden = host.len() < rest.len();
    format!("{scheme}://{host}{}", if hidden { "/…" } else { "" })
}

/// `~/…` expanded with `$HOME`.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn the_template_loads_as_written() {
        let text = Config::template("l", "~/.config/solana/id.json", &["*".into()]);
        let config = Config::from_toml(&text, "template", no_env()).unwrap();
        assert_eq!(config.urls().unwrap().0, "http://127.0.0.1:8899");
        assert_eq!(config.urls().unwrap().1, "ws://127.0.0.1:8900");
        assert_eq!(config.node.roles.len(), 4);
        assert_eq!(config.faulty_rate(), 0.0);
    }

    #[test]
    fn environment_overrides_any_key() {
        let text = Config::template("l", "id.json", &["*".into()]);
        let env = vec![
            (
                "SIBYL_CLUSTER__RPC_URL".to_string(),
                "http://10.0.0.1:9000".to_string(),
            ),
            (
                "SIBYL_NODE__MAX_CONCURRENT_INFERENCES".to_string(),
                "4".to_string(),
            ),
            ("SIBYL_NODE__ROLES".to_string(), "[\"crank\"]".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let config = Config::from_toml(&text, "template", env).unwrap();
        assert_eq!(config.urls().unwrap().1, "ws://10.0.0.1:9001");
        assert_eq!(config.node.max_concurrent_inferences, 4);
        assert_eq!(config.node.roles, vec![Role::Crank]);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let base = Config::template("l", "id.json", &["*".into()]);
        for (var, value, key) in [
            ("SIBYL_NODE__MODELS", "[\"abc\"]", "node.models"),
            ("SIBYL_CLUSTER__RPC_URL", "nowhere", "cluster.rpc_url"),
            ("SIBYL_NODE__ROLES", "[]", "node.roles"),
            ("SIBYL_NODE__MODELS", "[]", "node.models"),
            (
                "SIBYL_NODE__INFERENCE_TIMEOUT_MS",
                "0",
                "node.inference_timeout_ms",
            ),
            ("SIBYL_FETCH__MAX_MODEL_BYTES", "0", "fetch.max_model_bytes"),
        ] {
            let err = Config::from_toml(&base, "t", vec![(var.to_string(), value.to_string())])
                .unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
        let err = Config::from_toml("[cluster]\nrpc_url = \"l\"\n", "t", no_env()).unwrap_err();
        assert!(err.to_string().contains("identity"), "{err}");
        let err = Config::from_toml(&format!("{base}\n[extra]\n"), "t", no_env()).unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[test]
    fn a_node_runs_only_the_models_it_names_with_its_profile() {
        let hash = [7u8; 32];
        let text = Config::template("l", "id.json", &[crate::hex::encode(&hash)]);
        let config = Config::from_toml(&text, "t", no_env()).unwrap();
        let profile = [1u8; 32];
        let spec = crate::test_support::float_spec("x", &[1]);
        let mut model = crate::test_support::model(spec.clone(), spec, hash, profile);
        let listed = config.node.allowlist();
        assert!(listed.runs(&model, &profile));
        assert!(
            !listed.runs(&model, &[2; 32]),
            "another profile is never run"
        );
        assert!(ModelAllowlist::Any.runs(&model, &profile));
        assert!(!ModelAllowlist::Any.runs(&model, &[2; 32]));
        model.model_hash = [8; 32];
        assert!(!listed.runs(&model, &profile));

        // A node that runs no model (crank only) names none.
        let crank = Config::template("l", "id.json", &[]);
        let env = vec![("SIBYL_NODE__ROLES".to_string(), "[\"crank\"]".to_string())];
        Config::from_toml(&crank, "t", env).unwrap();
        let error = Config::from_toml(&crank, "t", no_env()).unwrap_err();
        assert!(error.to_string().contains("sibyl model list"), "{error}");
    }

    /// A faulty rate is used only where faults are compiled in; anywhere
    /// else a non-zero rate is refused, never ignored, and the `rate = 0.0`
    /// older templates wrote still loads.
    #[test]
    fn a_faulty_rate_needs_the_test_faults_build() {
        let base = Config::template("l", "id.json", &["*".into()]);
        let with_rate = |rate: &str| format!("{base}\n[faulty]\nrate = {rate}\n");
        let old_template = Config::from_toml(&with_rate("0.0"), "t", no_env()).unwrap();
        assert_eq!(old_template.faulty_rate(), 0.0);
        let env = vec![("SIBYL_FAULTY__RATE".to_string(), "1.5".to_string())];
        let error = Config::from_toml(&base, "t", env).unwrap_err();
        assert!(error.to_string().contains("faulty.rate"), "{error}");
        let loaded = Config::from_toml(&with_rate("0.5"), "t", no_env());
        if cfg!(feature = "test-faults") {
            assert_eq!(loaded.unwrap().faulty_rate(), 0.5);
        } else {
            let error = loaded.unwrap_err().to_string();
            assert!(
                error.contains("faulty.rate") && error.contains("test-faults"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_most_priority_fee_is_at_least_the_least() {
        let base = Config::template("l", "id.json", &["*".into()]);
        let env = vec![
            (
                "SIBYL_SEND__PRIORITY_FEE_MICRO_LAMPORTS".to_string(),
                "5000".to_string(),
            ),
            (
                "SIBYL_SEND__MAX_PRIORITY_FEE_MICRO_LAMPORTS".to_string(),
                "1000".to_string(),
            ),
        ];
        let error = Config::from_toml(&base, "t", env).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("send.max_priority_fee_micro_lamports"),
            "{error}"
        );
    }

    #[test]
    fn urls_in_logs_keep_no_credentials() {
        assert_eq!(redact_url("http://127.0.0.1:8899"), "http://127.0.0.1:8899");
        assert_eq!(
            redact_url("https://mainnet.helius-rpc.com/?api-key=SECRET"),
            "https://mainnet.helius-rpc.com/…"
        );
        assert_eq!(
            redact_url("wss://user:SECRET@rpc.example.com/v2/SECRET"),
            "wss://rpc.example.com/…"
        );
        assert_eq!(redact_url("SECRET"), "…");
    }

    #[test]
    fn cluster_shorthands_and_ws_derivation() {
        assert_eq!(
            resolve_cluster("d", "").unwrap(),
            (
                "https://api.devnet.solana.com".into(),
                "wss://api.devnet.solana.com".into()
            )
        );
        assert_eq!(
            resolve_cluster("http://h:8899", "").unwrap().1,
            "ws://h:8900"
        );
        assert_eq!(resolve_cluster("http://h:1", "ws://x").unwrap().1, "ws://x");
    }
}

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
    pub send: SendConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
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
    /// Model hashes (hex) to serve and watch; empty: every active model whose
    /// profile id is this node's.
    pub models: Vec<String>,
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
            journal: PathBuf::from(".sibyl/journal.redb"),
            model_cache: PathBuf::from(".sibyl/models"),
            model_base_dir: PathBuf::from("."),
            poll_interval_ms: 1_000,
            max_concurrent_inferences: 2,
            reserved_verification_inferences: 1,
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
    pub compute_unit_limit: u32,
    pub max_attempts: u32,
    pub confirm_timeout_ms: u64,
    pub retry_backoff_ms: u64,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self {
            priority_fee_micro_lamports: 0,
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

/// Deliberately wrong commitments, for demos and tests of the dispute path.
/// Never on unless asked for.
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
            .find(|hash| crate::hex::decode_hash(hash).is_none())
        {
            return Err(ConfigError::Invalid {
                key: "node.models",
                reason: format!("`{bad}` is not a 64-digit hex SHA-256"),
            });
        }
        if !(0.0..=1.0).contains(&self.faulty.rate) {
            return Err(invalid("faulty.rate", "must be between 0.0 and 1.0"));
        }
        if self.send.max_attempts == 0 {
            return Err(invalid("send.max_attempts", "must be at least 1"));
        }
        resolve_cluster(&self.cluster.rpc_url, &self.cluster.ws_url).map_err(|reason| {
            ConfigError::Invalid {
                key: "cluster.rpc_url",
                reason,
            }
        })?;
        Ok(())
    }

    /// The model hashes named in `node.models`.
    pub fn model_hashes(&self) -> Vec<[u8; 32]> {
        self.node
            .models
            .iter()
            .filter_map(|hash| crate::hex::decode_hash(hash))
            .collect()
    }

    /// The RPC and PubSub URLs.
    pub fn urls(&self) -> (String, String) {
        resolve_cluster(&self.cluster.rpc_url, &self.cluster.ws_url).expect("validated at load")
    }

    /// A commented configuration for a localnet operator, as `config init` writes it.
    pub fn template(rpc_url: &str, keypair: &str) -> String {
        format!(
            r#"# Sibyl node configuration. Every key can be overridden from the environment
# as SIBYL_<SECTION>__<KEY>, e.g. SIBYL_CLUSTER__RPC_URL=http://127.0.0.1:8899.

[cluster]
rpc_url = "{rpc_url}"          # or l (localnet), d (devnet), m (mainnet-beta)
ws_url = ""                    # empty: derived from rpc_url

[identity]
keypair = "{keypair}"          # the operator's authority wallet

[node]
roles = ["serve", "watch", "vote", "crank"]
models = []                    # model hashes (hex) to serve; empty: every model registered with this node's profile
journal = ".sibyl/journal.redb"
model_cache = ".sibyl/models"
model_base_dir = "."           # what relative file:// model URIs are relative to
poll_interval_ms = 1000
max_concurrent_inferences = 2          # to serve requests
reserved_verification_inferences = 1   # on top, for watch and vote only

[runtime]
# library = ".local/onnxruntime/libonnxruntime.so.1.31.1"   # default: ORT_DYLIB_PATH, then .local/

[send]
priority_fee_micro_lamports = 0
compute_unit_limit = 400000
max_attempts = 5
confirm_timeout_ms = 30000
retry_backoff_ms = 500

[metrics]
# listen = "127.0.0.1:9464"    # serves /metrics for Prometheus

[faulty]
rate = 0.0                     # demos and tests only: fraction of commitments that are deliberately wrong
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
        let text = Config::template("l", "~/.config/solana/id.json");
        let config = Config::from_toml(&text, "template", no_env()).unwrap();
        assert_eq!(config.urls().0, "http://127.0.0.1:8899");
        assert_eq!(config.urls().1, "ws://127.0.0.1:8900");
        assert_eq!(config.node.roles.len(), 4);
        assert_eq!(config.faulty.rate, 0.0);
    }

    #[test]
    fn environment_overrides_any_key() {
        let text = Config::template("l", "id.json");
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
        assert_eq!(config.urls().1, "ws://10.0.0.1:9001");
        assert_eq!(config.node.max_concurrent_inferences, 4);
        assert_eq!(config.node.roles, vec![Role::Crank]);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let base = Config::template("l", "id.json");
        for (var, value, key) in [
            ("SIBYL_FAULTY__RATE", "1.5", "faulty.rate"),
            ("SIBYL_NODE__MODELS", "[\"abc\"]", "node.models"),
            ("SIBYL_CLUSTER__RPC_URL", "nowhere", "cluster.rpc_url"),
            ("SIBYL_NODE__ROLES", "[]", "node.roles"),
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

//! Sections 2–4 on a localnet (the real Agave runtime behind JSON-RPC and
//! PubSub, in this process) with `sibyl node run` processes.
pub mod cost;
pub mod overhead;
pub mod profile;
pub mod referee;
pub mod throughput;

use crate::fixtures::Fixture;
use anchor_lang::{prelude::Pubkey, AccountDeserialize};
use anyhow::{Context, Result};
use sibyl::state::{ConfigParams, InferenceRequest, RequestStatus};
use sibyl_client::accounts::Tokens;
use sibyl_localnet::LocalnetConfig;
use sibyl_oracle::{
    actions::{
        model::{self, Listing},
        protocol,
        request::{self, NewRequest},
    },
    config::Role,
    engine::Engine,
    testing::{TestCluster, Wallet},
};
use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// Tokens each wallet starts with (6 decimals: 1000).
const WALLET_TOKENS: u64 = 1_000_000_000;
/// Each operator's stake (6 decimals: 50).
const STAKE: u64 = 50_000_000;

/// A registered fixture model.
pub struct ModelOnChain {
    pub name: String,
    pub address: Pubkey,
    pub hash: [u8; 32],
    pub price: u64,
    /// Its first recorded input.
    pub input: Vec<u8>,
}

/// A localnet with the protocol initialized, every fixture model
/// registered (each by a publisher of its own), staked operators and funded
/// requesters: the shared [`TestCluster`] (reached through `Deref`:
/// `localnet`, `dir`) with the bench's parties.
pub struct Network {
    net: TestCluster,
    pub tokens: Tokens,
    pub authority: Wallet,
    pub publishers: Vec<Wallet>,
    pub operators: Vec<Wallet>,
    pub requesters: Vec<Wallet>,
    pub models: Vec<ModelOnChain>,
    pub slot: Duration,
    root: PathBuf,
}

impl std::ops::Deref for Network {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.net
    }
}

impl Network {
    pub async fn start(
        root: &Path,
        engine: &Engine,
        fixtures: &[Fixture],
        slot: Duration,
        params: ConfigParams,
        operators: usize,
        requesters: usize,
    ) -> Result<Network> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let net = TestCluster::start(LocalnetConfig {
            rpc_addr: loopback,
            pubsub_addr: loopback,
            slot_duration: slot,
            ..LocalnetConfig::default()
        })
        .await?;
        let fund_each = |role: &str, count: usize| -> Result<Vec<Wallet>> {
            (0..count)
                .map(|index| net.fund(&format!("{role} {index}")))
                .collect()
        };
        let authority = net.fund("authority")?;
        let publishers = fund_each("publisher", fixtures.len())?;
        let operators = fund_each("operator", operators)?;
        let requesters = fund_each("requester", requesters)?;
        let everyone: Vec<&Wallet> = std::iter::once(&authority)
            .chain(&publishers)
            .chain(&operators)
            .chain(&requesters)
            .collect();
        let tokens = net.mint_payment_tokens(&everyone, WALLET_TOKENS)?;
        protocol::initialize(&net.client(&authority), tokens, params).await?;
        let mut models = Vec::new();
        for (fixture, publisher) in fixtures.iter().zip(&publishers) {
            let price = 10_000;
            let listing = Listing {
                uri: format!(
                    "file://{}",
                    fixture
                        .path
                        .strip_prefix(root)
                        .unwrap_or(&fixture.path)
                        .display()
                ),
                price,
                royalty_bps: 1_000,
                comparison: Some(fixture.rule),
                challenge_window_override_slots: None,
                max_input_bytes: None,
                max_output_bytes: None,
                views: Vec::new(),
                referee: fixture.referee,
            };
            let args = model::registration(engine, &fixture.path, listing)?;
            let hash = args.model_hash;
            let address = model::register(&net.client(publisher), tokens, args).await?;
            models.push(ModelOnChain {
                name: fixture.name.clone(),
                address,
                hash,
                price,
                input: fixture.cases[0].0.clone(),
            });
        }
        net.register_operators(&operators, tokens, STAKE).await?;
        // Voters must have registered in a slot before a dispute opens.
        tokio::time::sleep(slot * 3).await;
        Ok(Network {
            net,
            tokens,
            authority,
            publishers,
            operators,
            requesters,
            models,
            slot,
            root: root.to_path_buf(),
        })
    }

    /// Stops the localnet.
    pub async fn shutdown(self) {
        self.net.shutdown().await;
    }

    pub fn model(&self, name: &str) -> &ModelOnChain {
        self.models
            .iter()
            .find(|model| model.name == name)
            .expect("a registered fixture")
    }

    /// Writes operator `index`'s node configuration.
    pub fn node_config(
        &self,
        index: usize,
        roles: &[Role],
        models: &[&ModelOnChain],
        faulty_rate: f64,
    ) -> Result<PathBuf> {
        let models: Vec<String> = models
            .iter()
            .map(|model| sibyl_oracle::hex::encode(&model.hash))
            .collect();
        let mut config = self
            .net
            .node_config(&self.operators[index], roles, &models)?;
        config.node.model_base_dir = self.root.clone();
        config.faulty.rate = faulty_rate;
        let node_dir = self.node_dir(&self.operators[index]);
        std::fs::create_dir_all(&node_dir)?;
        let path = node_dir.join("node.toml");
        std::fs::write(&path, toml::to_string(&config)?)?;
        Ok(path)
    }

    /// Pays for one inference on `model` as requester `index`.
    pub async fn request(&self, index: usize, model: &ModelOnChain) -> Result<Pubkey> {
        let client = self.client(&self.requesters[index]);
        Ok(request::submit(
            &client,
            self.tokens,
            NewRequest {
                model: model.address,
                input: model.input.clone(),
                input_uri: None,
                fee: model.price,
                nonce: request::fresh_nonce(),
                callback: None,
                max_challenge_window_slots: None,
            },
        )
        .await?)
    }

    /// The request's state, read from the bank (no RPC).
    pub fn request_state(&self, request: &Pubkey) -> Option<InferenceRequest> {
        use solana_account::ReadableAccount;
        let account = self.localnet.chain.bank().get_account(request)?;
        InferenceRequest::try_deserialize(&mut account.data()).ok()
    }

    /// Waits until every request's status is one of `statuses`; returns when
    /// each first was (the bank is polled every 2 ms).
    pub async fn wait_all(
        &self,
        requests: &[Pubkey],
        statuses: &[RequestStatus],
        timeout: Duration,
    ) -> Result<Vec<Instant>> {
        let deadline = Instant::now() + timeout;
        let mut reached: Vec<Option<Instant>> = vec![None; requests.len()];
        while reached.iter().any(Option::is_none) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} of {} requests did not reach {statuses:?} within {timeout:?}",
                reached.iter().filter(|at| at.is_none()).count(),
                requests.len()
            );
            for (request, at) in requests.iter().zip(reached.iter_mut()) {
                if at.is_none()
                    && self
                        .request_state(request)
                        .is_some_and(|state| statuses.contains(&state.status))
                {
                    *at = Some(Instant::now());
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(reached
            .into_iter()
            .map(|at| at.expect("all reached"))
            .collect())
    }
}

/// A `sibyl node run` process, its log lines collected.
pub struct NodeProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl NodeProcess {
    /// Starts `sibyl node run` and waits until its services run.
    pub fn start(sibyl: &Path, config: &Path) -> Result<NodeProcess> {
        let mut child = Command::new(sibyl)
            .args(["node", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", sibyl.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut node = NodeProcess {
            child,
            lines,
            log: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !node.log.iter().any(|line| line.contains("started")) {
            let left = deadline
                .checked_duration_since(Instant::now())
                .context("a node did not start within 60 s")?;
            match node.lines.recv_timeout(left) {
                Ok(line) => node.log.push(line),
                Err(_) => anyhow::bail!("a node did not start:\n{}", node.log.join("\n")),
            }
        }
        Ok(node)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// SIGTERM, then wait (graceful shutdown).
    pub fn stop(mut self) -> Vec<String> {
        signal(&self.child, "TERM");
        let _ = self.child.wait();
        self.drain();
        self.log
    }
}

/// Sends `SIG<name>` to a child process (`kill -<name> PID`).
fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at `)`.
    let fields: Vec<&str> = stat[stat.rfind(')').context("bad stat")? + 2..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// The `sibyl` binary next to this one.
pub fn sibyl_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("sibyl");
    anyhow::ensure!(
        path.exists(),
        "{} not found: build it first (make bench does)",
        path.display()
    );
    Ok(path)
}

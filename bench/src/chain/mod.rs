//! Sections 2–4 on a localnet (the real Agave runtime behind JSON-RPC and
//! PubSub, in this process) with `sibyl node run` processes.
pub mod cost;
pub mod overhead;
pub mod profile;
pub mod throughput;

use crate::fixtures::Fixture;
use anchor_lang::{prelude::Pubkey, AccountDeserialize};
use anyhow::{Context, Result};
use sibyl::state::{ConfigParams, InferenceRequest, RequestStatus};
use sibyl_client::accounts::Tokens;
use sibyl_localnet::{Localnet, LocalnetConfig};
use sibyl_oracle::{
    actions::{
        model::{self, Listing},
        operator, protocol,
        request::{self, NewRequest},
    },
    chain::{ChainClient, SendSettings},
    config::{Config, Role},
    engine::Engine,
    keys::write_keypair,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

/// Tokens each wallet starts with (6 decimals: 1000).
const WALLET_TOKENS: u64 = 1_000_000_000;
/// Each operator's stake (6 decimals: 50).
const STAKE: u64 = 50_000_000;

/// A funded wallet and its keypair file.
pub struct Wallet {
    pub keypair: Arc<Keypair>,
    pub keypair_path: PathBuf,
}

impl Wallet {
    pub fn pubkey(&self) -> Pubkey {
        self.keypair.pubkey()
    }
}

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
/// requesters.
pub struct Network {
    pub localnet: Localnet,
    pub dir: tempfile::TempDir,
    pub tokens: Tokens,
    pub authority: Wallet,
    pub publishers: Vec<Wallet>,
    pub operators: Vec<Wallet>,
    pub requesters: Vec<Wallet>,
    pub models: Vec<ModelOnChain>,
    pub slot: Duration,
    root: PathBuf,
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
        let localnet = Localnet::start(LocalnetConfig {
            rpc_addr: loopback,
            pubsub_addr: loopback,
            slot_duration: slot,
            ..LocalnetConfig::default()
        })
        .await
        .context("starting the localnet")?;
        let dir = tempfile::tempdir()?;
        let mut wallets = Vec::new();
        for index in 0..1 + fixtures.len() + operators + requesters {
            let keypair = Keypair::new();
            localnet.chain.airdrop(&keypair.pubkey(), 100_000_000_000)?;
            let keypair_path = dir.path().join(format!("wallet-{index}.json"));
            write_keypair(&keypair_path, &keypair)?;
            wallets.push(Wallet {
                keypair: Arc::new(keypair),
                keypair_path,
            });
        }
        let addresses: Vec<Pubkey> = wallets.iter().map(Wallet::pubkey).collect();
        let mint = localnet
            .chain
            .create_payment_mint(&addresses, WALLET_TOKENS)?;
        let tokens = Tokens {
            mint,
            token_program: anchor_spl::token::ID,
        };
        let mut wallets = wallets.into_iter();
        let authority = wallets.next().expect("the authority");
        let publishers: Vec<Wallet> = wallets.by_ref().take(fixtures.len()).collect();
        let operators: Vec<Wallet> = wallets.by_ref().take(operators).collect();
        let requesters: Vec<Wallet> = wallets.collect();
        let mut network = Network {
            localnet,
            dir,
            tokens,
            authority,
            publishers,
            operators,
            requesters,
            models: Vec::new(),
            slot,
            root: root.to_path_buf(),
        };
        let authority = network.client(&network.authority);
        protocol::initialize(&authority, tokens, params).await?;
        for (fixture, publisher) in fixtures.iter().zip(&network.publishers) {
            let price = 10_000;
            let listing = Listing {
                uri: format!(
                    "file://models/{}",
                    fixture.path.file_name().unwrap().to_string_lossy()
                ),
                price,
                royalty_bps: 1_000,
                comparison: Some(fixture.rule),
                challenge_window_override_slots: None,
                max_input_bytes: None,
            };
            let args = model::registration(engine, &fixture.path, listing)?;
            let hash = args.model_hash;
            let address = model::register(&network.client(publisher), tokens, args).await?;
            network.models.push(ModelOnChain {
                name: fixture.name.clone(),
                address,
                hash,
                price,
                input: fixture.cases[0].0.clone(),
            });
        }
        for wallet in &network.operators {
            operator::register(&network.client(wallet), tokens, STAKE).await?;
        }
        // Voters must have registered in a slot before a dispute opens.
        tokio::time::sleep(slot * 3).await;
        Ok(network)
    }

    pub fn client(&self, wallet: &Wallet) -> ChainClient {
        ChainClient::new(
            &self.localnet.rpc_url(),
            &self.localnet.pubsub_url(),
            wallet.keypair.clone(),
            SendSettings::default(),
        )
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
        let node_dir = self.dir.path().join(format!("node-{index}"));
        std::fs::create_dir_all(&node_dir)?;
        let models: Vec<String> = models
            .iter()
            .map(|model| sibyl_oracle::hex::encode(&model.hash))
            .collect();
        let text = Config::template(
            &self.localnet.rpc_url(),
            &self.operators[index].keypair_path.display().to_string(),
            &models,
        );
        let mut config = Config::from_toml(&text, "bench", Vec::new())?;
        config.cluster.ws_url = self.localnet.pubsub_url();
        config.node.roles = roles.to_vec();
        config.node.journal = node_dir.join("journal.redb");
        config.node.model_cache = node_dir.join("models");
        config.node.model_base_dir = self.root.clone();
        config.node.poll_interval_ms = 200;
        config.faulty.rate = faulty_rate;
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

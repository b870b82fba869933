//! Sections 2–4 on a localnet (the real Agave runtime behind JSON-RPC and
//! PubSub, in this process) with `sibyl node run` processes.
pub mod cost;
pub mod overhead;
pub mod profile;
pub mod referee;
pub mod scale;
pub mod throughput;
pub mod under_load;

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
            models.push(register(&net, engine, tokens, root, publisher, fixture).await?);
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

    /// `count` more models, each `fixture`'s file with a field of its own
    /// appended (a distinct file, so a distinct hash and model account),
    /// written under `dir` and registered by the publishers in turn, all
    /// of them at once.
    pub async fn register_copies(
        &self,
        engine: &Engine,
        fixture: &Fixture,
        count: usize,
        dir: &Path,
    ) -> Result<Vec<ModelOnChain>> {
        let bytes = std::fs::read(&fixture.path)?;
        let copies = (0..count)
            .map(|index| {
                let path = dir.join(format!("{}-{index}.onnx", fixture.name));
                std::fs::write(&path, with_doc_string(&bytes, &format!("copy {index}")))?;
                Ok(Fixture {
                    name: format!("{}-{index}", fixture.name),
                    path,
                    ..fixture.clone()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut registered = Vec::with_capacity(count);
        for chunk in copies.chunks(self.publishers.len().max(1)) {
            let batch = chunk.iter().zip(&self.publishers).map(|(copy, publisher)| {
                register(&self.net, engine, self.tokens, &self.root, publisher, copy)
            });
            registered.extend(futures_util::future::try_join_all(batch).await?);
        }
        Ok(registered)
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

    /// `requests` paid requests spread evenly over the models, paid by
    /// every requester at once.
    pub async fn backlog(&self, requests: usize) -> Result<Vec<Pubkey>> {
        let models: Vec<&ModelOnChain> = self.models.iter().collect();
        self.backlog_on(&models, requests).await
    }

    /// [`Network::backlog`] over `models`.
    pub async fn backlog_on(
        &self,
        models: &[&ModelOnChain],
        requests: usize,
    ) -> Result<Vec<Pubkey>> {
        let per_requester = requests.div_ceil(self.requesters.len());
        let tasks = (0..self.requesters.len()).map(|requester| {
            let count = per_requester.min(requests.saturating_sub(requester * per_requester));
            async move {
                let mut made = Vec::new();
                for index in 0..count {
                    let model = models[(requester + index) % models.len()];
                    made.push(self.request(requester, model).await?);
                }
                anyhow::Ok(made)
            }
        });
        Ok(futures_util::future::try_join_all(tasks)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// The account of `T` at `address`, read from the bank (no RPC).
    pub fn account_state<T: AccountDeserialize>(&self, address: &Pubkey) -> Option<T> {
        use solana_account::ReadableAccount;
        let account = self.localnet.chain.bank().get_account(address)?;
        T::try_deserialize(&mut account.data()).ok()
    }

    /// The request's state, read from the bank (no RPC).
    pub fn request_state(&self, request: &Pubkey) -> Option<InferenceRequest> {
        self.account_state(request)
    }

    /// [`Network::wait_all`] for a commitment (or, past its window, a
    /// finalization): when each request was first committed.
    pub async fn wait_committed(
        &self,
        requests: &[Pubkey],
        timeout: Duration,
    ) -> Result<Vec<Instant>> {
        self.wait_all(
            requests,
            &[RequestStatus::Committed, RequestStatus::Finalized],
            timeout,
        )
        .await
    }

    /// Waits until every request's status is one of `statuses`; returns when
    /// each first was (the bank is polled every 2 ms, or four times as long
    /// as a pass over them takes).
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
            let pass = Instant::now();
            for (request, at) in requests.iter().zip(reached.iter_mut()) {
                if at.is_none()
                    && self
                        .request_state(request)
                        .is_some_and(|state| statuses.contains(&state.status))
                {
                    *at = Some(Instant::now());
                }
            }
            // A pass over thousands of requests takes milliseconds of the
            // localnet's CPU: rest four times as long, so that watching
            // takes at most a fifth of a core from what is watched.
            tokio::time::sleep((pass.elapsed() * 4).max(Duration::from_millis(2))).await;
        }
        Ok(reached
            .into_iter()
            .map(|at| at.expect("all reached"))
            .collect())
    }
}

/// Registers `fixture`'s model as `publisher` (a `file://` URI relative
/// to `root`, the model's base directory).
async fn register(
    net: &TestCluster,
    engine: &Engine,
    tokens: Tokens,
    root: &Path,
    publisher: &Wallet,
    fixture: &Fixture,
) -> Result<ModelOnChain> {
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
    Ok(ModelOnChain {
        name: fixture.name.clone(),
        address,
        hash,
        price,
        input: fixture.cases[0].0.clone(),
    })
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

/// An ONNX file with `doc_string` (ModelProto field 6) appended: protobuf
/// takes the last value of a repeated singular field, so the model is the
/// same, its bytes (and hash) another.
fn with_doc_string(model: &[u8], text: &str) -> Vec<u8> {
    let mut out = model.to_vec();
    out.push(6 << 3 | 2);
    let mut length = text.len();
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(text.as_bytes());
    out
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

/// The peak resident memory (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
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

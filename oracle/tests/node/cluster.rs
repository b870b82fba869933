//! A localnet with the protocol initialized, the digits model registered
//! and funded wallets; nodes started in-process or as `sibyl` processes.
use anchor_lang::prelude::Pubkey;
use sibyl::state::{ComparisonRule, ConfigParams, DType, InferenceRequest, Operator, TensorSpec};
use sibyl_client::{accounts::Tokens, pda};
use sibyl_localnet::LocalnetConfig;
use sibyl_oracle::{
    actions::{
        model::{self, Listing},
        protocol, request,
    },
    chain::{ChainClient, ChainError},
    config::{Config, Role},
    engine::{Engine, EngineSettings},
    input,
    node::Node,
    testing::TestCluster,
};
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::watch;

/// Tokens each wallet starts with (6 decimals).
pub const WALLET_TOKENS: u64 = 1_000_000_000;
/// Stake each operator registers with.
pub const STAKE: u64 = 50_000_000;

/// Windows long enough for a loaded CI machine at 50 ms slots.
pub fn test_params() -> ConfigParams {
    ConfigParams {
        challenge_window_slots: 100,
        vote_window_slots: 100,
        request_timeout_slots: 600,
        ..protocol::localnet_params()
    }
}

/// The repository root (for models/ and .local/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub use sibyl_oracle::testing::Wallet;

/// Has `config`'s node serve `/metrics`, `/healthz` and `/readyz` on a free
/// loopback port; returns the address.
pub fn serve_metrics(config: &mut Config) -> std::net::SocketAddr {
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap();
    config.metrics.listen = Some(address);
    address
}

/// Serves the node's metrics and whole outputs on a loopback port, and
/// has it publish that URL as its operator's output URL.
pub fn serve_outputs(config: &mut Config) -> std::net::SocketAddr {
    let address = serve_metrics(config);
    config.node.output_url = format!("http://{address}");
    address
}

/// The canonical encoding of a digits sample (e.g. "digit-2").
pub fn digit_input(sample: &str) -> Vec<u8> {
    let json =
        std::fs::read_to_string(repo_root().join(format!("models/samples/{sample}.json"))).unwrap();
    let spec = TensorSpec {
        name: "pixels".to_string(),
        dtype: DType::Float32,
        shape: vec![1, 64],
    };
    input::from_json(&json, &spec).unwrap()
}

/// A web server for referenced inputs, on a loopback port: each name
/// serves the bytes put there last, and 404 once removed (or never put).
pub struct InputServer {
    address: std::net::SocketAddr,
    files: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    /// Names served whole once, then, to every later fetch, their headers
    /// and one byte every 4 s (a URI that stalls).
    stall_after_first: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl InputServer {
    pub fn start() -> InputServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let files: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>> =
            Default::default();
        let served = files.clone();
        let stall_after_first: Arc<std::sync::Mutex<std::collections::HashSet<String>>> =
            Default::default();
        let stalling = stall_after_first.clone();
        std::thread::spawn(move || {
            let mut fetched = std::collections::HashSet::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let read = stream.read(&mut request).unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..read]);
                let name = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                let body = served.lock().unwrap().get(&name).cloned();
                let stall =
                    stalling.lock().unwrap().contains(&name) && !fetched.insert(name.clone());
                if let (true, Some(body)) = (stall, &body) {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let body = body.clone();
                    std::thread::spawn(move || {
                        let _ = stream.write_all(head.as_bytes());
                        for byte in body {
                            if stream.write_all(&[byte]).is_err() {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_secs(4));
                        }
                    });
                    continue;
                }
                let _ = match body {
                    Some(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&body)),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        InputServer {
            address,
            files,
            stall_after_first,
        }
    }

    /// Serves `name` whole to its first fetch, and stalls every later one.
    pub fn stall_after_first(&self, name: &str) {
        self.stall_after_first
            .lock()
            .unwrap()
            .insert(name.to_string());
    }

    /// The URI of `name`.
    pub fn uri(&self, name: &str) -> String {
        format!("http://{}/{name}", self.address)
    }

    pub fn put(&self, name: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(name.to_string(), bytes);
    }

    /// Lets `config`'s node fetch from this server (plain HTTP on loopback,
    /// as on a localnet).
    pub fn allow(config: &mut Config) {
        config.fetch.allow_http = true;
        config.fetch.trusted_hosts = vec!["127.0.0.1".to_string()];
    }
}

/// The `/metrics` text of the node serving it at `address`.
pub async fn metrics_text(address: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{address}/metrics"))
        .await
        .and_then(|response| response.error_for_status())
        .expect("metrics served")
        .text()
        .await
        .unwrap()
}

/// The shared fixture with the protocol initialized, the digits model
/// registered and funded wallets (reached through `Deref`: `localnet`,
/// `dir`).
pub struct Cluster {
    net: TestCluster,
    pub tokens: Tokens,
    pub authority: Wallet,
    pub publisher: Wallet,
    pub requester: Wallet,
    /// Registered, staked operators.
    pub operators: Vec<Wallet>,
    pub model: Pubkey,
    pub model_hash: [u8; 32],
}

impl std::ops::Deref for Cluster {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.net
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut TestCluster {
        &mut self.net
    }
}

impl Cluster {
    /// A localnet with `operators` registered operators and the digits model.
    pub async fn start(operators: usize) -> Cluster {
        Cluster::start_with(operators, test_params()).await
    }

    /// As [`Cluster::start`], with these protocol parameters.
    pub async fn start_with(operators: usize, params: ConfigParams) -> Cluster {
        let net = TestCluster::start(LocalnetConfig::for_tests())
            .await
            .expect("localnet starts");
        let fund = |name: &str| net.fund(name).expect("wallet funded");
        let (authority, publisher, requester) =
            (fund("authority"), fund("publisher"), fund("requester"));
        let operators: Vec<Wallet> = (0..operators)
            .map(|index| fund(&format!("operator {index}")))
            .collect();
        let everyone: Vec<&Wallet> = [&authority, &publisher, &requester]
            .into_iter()
            .chain(&operators)
            .collect();
        let tokens = net
            .mint_payment_tokens(&everyone, WALLET_TOKENS)
            .expect("payment mint");
        protocol::initialize(&net.client(&authority), tokens, params)
            .await
            .expect("protocol initialized");
        let (model, model_hash) = register_digits(&net.client(&publisher), tokens).await;
        net.register_operators(&operators, tokens, STAKE)
            .await
            .expect("operators registered");
        let cluster = Cluster {
            net,
            tokens,
            authority,
            publisher,
            requester,
            operators,
            model,
            model_hash,
        };
        // Voters must have registered before a dispute opens, in an earlier slot.
        cluster.wait_slots(2).await;
        cluster
    }

    /// A node configuration for operator `index` with these roles, running
    /// every model, scanning every 100 ms.
    pub fn node_config(&self, index: usize, roles: &[Role], faulty_rate: f64) -> Config {
        let mut config = self
            .net
            .node_config(&self.operators[index], roles, &["*".to_string()])
            .unwrap();
        config.node.model_base_dir = repo_root();
        config.node.poll_interval_ms = 100;
        config.faulty.rate = faulty_rate;
        config
    }

    /// A model base directory of this cluster's own: a copy of the
    /// repository's `models/`, beside which a test may put files of its own
    /// (`file://` URIs must name files inside the base).
    pub fn private_model_base(&self) -> PathBuf {
        fn copy(from: &std::path::Path, to: &std::path::Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        let base = self.dir.path().join("model-base");
        if !base.exists() {
            copy(&repo_root().join("models"), &base.join("models"));
        }
        base
    }

    /// Starts an in-process node; the returned sender stops it.
    pub async fn start_node(
        &self,
        config: Config,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let node = Node::start(&config).await.expect("node starts");
        let (stop, shutdown) = watch::channel(false);
        let handle = tokio::spawn(async move { node.run(shutdown).await.expect("node runs") });
        (stop, handle)
    }

    /// The dispute line-up: operator 0 serves (lying for `faulty_rate` of
    /// requests), 1 watches and cranks, 2 and 3 vote.
    pub fn dispute_nodes(&self, faulty_rate: f64) -> [Config; 4] {
        [
            self.node_config(0, &[Role::Serve], faulty_rate),
            self.node_config(1, &[Role::Watch, Role::Crank], 0.0),
            self.node_config(2, &[Role::Vote], 0.0),
            self.node_config(3, &[Role::Vote], 0.0),
        ]
    }

    /// Starts in-process nodes with these configurations.
    pub async fn start_nodes(&self, configs: impl IntoIterator<Item = Config>) -> RunningNodes {
        let mut nodes = Vec::new();
        for config in configs {
            nodes.push(self.start_node(config).await);
        }
        RunningNodes(nodes)
    }

    /// Pays for one digits inference on `sample` (e.g. "digit-2"); returns the request.
    pub async fn request_digit(&self, sample: &str) -> Pubkey {
        self.request_digit_with_callback(sample, None).await
    }

    /// As [`Cluster::request_digit`], naming a consumer to call back.
    pub async fn request_digit_with_callback(
        &self,
        sample: &str,
        callback: Option<sibyl::callback::CallbackSpec>,
    ) -> Pubkey {
        self.request_with(self.model, digit_input(sample), callback)
            .await
            .expect("request paid")
    }

    /// Pays the usual fee for one inference of `model` on `input` (a
    /// canonical encoding), as the requester.
    pub async fn request_input(&self, model: Pubkey, input: Vec<u8>) -> Result<Pubkey, ChainError> {
        self.request_with(model, input, None).await
    }

    /// A request that names `input` by its SHA-256 and `uri`.
    pub async fn request_by_reference(
        &self,
        model: Pubkey,
        input: Vec<u8>,
        uri: String,
    ) -> Result<Pubkey, ChainError> {
        let new = request::NewRequest {
            model,
            input,
            input_uri: Some(uri),
            fee: 10_000,
            nonce: request::fresh_nonce(),
            callback: None,
            max_challenge_window_slots: None,
        };
        request::submit(&self.client(&self.requester), self.tokens, new).await
    }

    async fn request_with(
        &self,
        model: Pubkey,
        input: Vec<u8>,
        callback: Option<sibyl::callback::CallbackSpec>,
    ) -> Result<Pubkey, ChainError> {
        let new = request::NewRequest {
            model,
            input,
            input_uri: None,
            fee: 10_000,
            nonce: request::fresh_nonce(),
            callback,
            max_challenge_window_slots: None,
        };
        request::submit(&self.client(&self.requester), self.tokens, new).await
    }

    /// Follows a request until it is final or closed (panics if neither
    /// after `timeout`).
    pub async fn wait_ended(&self, request: &Pubkey, timeout: Duration) -> request::Progress {
        let client = self.client(&self.requester);
        let progress = request::follow(
            &client,
            request,
            Duration::from_millis(100),
            timeout,
            |_| {},
        )
        .await
        .unwrap();
        match progress {
            request::Progress::Final { .. } | request::Progress::Closed => progress,
            other => {
                panic!("request {request} neither final nor closed after {timeout:?}: {other:?}")
            }
        }
    }

    /// Follows a request until it is final (panics after `timeout`).
    pub async fn wait_final(&self, request: &Pubkey, timeout: Duration) -> InferenceRequest {
        match self.wait_ended(request, timeout).await {
            request::Progress::Final { state, .. } => *state,
            other => panic!("request {request} not final after {timeout:?}: {other:?}"),
        }
    }

    pub async fn request_state(&self, request: &Pubkey) -> Option<InferenceRequest> {
        self.client(&self.requester)
            .fetch(request, "inference request")
            .await
            .unwrap()
    }

    pub async fn operator_state(&self, index: usize) -> Operator {
        self.client(&self.requester)
            .fetch_required(&pda::operator(&self.operators[index].pubkey()), "operator")
            .await
            .unwrap()
    }

    pub async fn token_balance(&self, wallet: &Pubkey) -> u64 {
        let account = self.tokens.account_of(wallet);
        self.client(&self.requester)
            .rpc()
            .get_token_account_balance(&account)
            .await
            .unwrap()
            .amount
            .parse()
            .unwrap()
    }

    /// Token conservation: every wallet's token account and the stake and
    /// bond vaults together hold exactly what was minted (escrows are closed
    /// once requests settle), so nothing was lost or created.
    pub async fn assert_tokens_conserved(&self) {
        self.assert_tokens_conserved_with(&[]).await
    }

    /// [`Cluster::assert_tokens_conserved`], counting the fee vaults of
    /// these other models too.
    pub async fn assert_tokens_conserved_with(&self, other_models: &[Pubkey]) {
        let wallets = [&self.authority, &self.publisher, &self.requester]
            .into_iter()
            .chain(&self.operators);
        let mut accounts: Vec<Pubkey> = wallets
            .map(|wallet| self.tokens.account_of(&wallet.pubkey()))
            .collect();
        let minted = WALLET_TOKENS * accounts.len() as u64;
        accounts.extend([
            pda::stake_vault(),
            pda::bond_vault(),
            pda::fee_vault(&self.model),
        ]);
        accounts.extend(other_models.iter().map(pda::fee_vault));
        // One read of them all, so a settlement landing meanwhile cannot
        // be counted on neither side (or both); a failed read is retried,
        // never counted as zero.
        let client = self.client(&self.requester);
        let mut tries = 0;
        let found = loop {
            match client.token_balances(&accounts).await {
                Ok(found) => break found,
                Err(err) if tries < 5 => {
                    tries += 1;
                    eprintln!("reading the token accounts: {err}; again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("reading the token accounts: {err}"),
            }
        };
        let balances: Vec<(Pubkey, u64)> = accounts
            .into_iter()
            .zip(found)
            .map(|(account, balance)| (account, balance.unwrap_or(0)))
            .collect();
        let total: u64 = balances.iter().map(|(_, balance)| balance).sum();
        assert_eq!(
            total, minted,
            "tokens conserved across every wallet and vault: {balances:?}"
        );
    }

    /// Pays for `count` digits requests in the background, one every `gap`;
    /// the task returns them.
    pub fn requests_arriving(
        self: &Arc<Self>,
        count: usize,
        gap: Duration,
    ) -> tokio::task::JoinHandle<Vec<Pubkey>> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut requests = Vec::new();
            for i in 0..count {
                let sample = ["digit-2", "digit-6", "digit-8"][i % 3];
                requests.push(cluster.request_digit(sample).await);
                tokio::time::sleep(gap).await;
            }
            requests
        })
    }

    /// Waits until operators `voters` have claimed every vote they cast.
    pub async fn wait_votes_claimed(&self, voters: &[usize]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for &voter in voters {
            while self.operator_state(voter).await.open_votes > 0 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "operator {voter} never claimed its votes"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    pub async fn wait_slots(&self, slots: u64) {
        let client = self.client(&self.requester);
        let target = client.slot().await.unwrap() + slots;
        while client.slot().await.unwrap() < target {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Nodes started by [`Cluster::start_nodes`].
pub struct RunningNodes(Vec<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>);

impl RunningNodes {
    /// Stops every node and waits for its graceful shutdown.
    pub async fn stop(self) {
        for (stop, handle) in self.0 {
            stop.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(60), handle)
                .await
                .expect("graceful shutdown")
                .unwrap();
        }
    }
}

/// Registers `models/digits.onnx` with this machine's profile id; returns
/// the model address and hash.
async fn register_digits(publisher: &ChainClient, tokens: Tokens) -> (Pubkey, [u8; 32]) {
    let path = repo_root().join("models/digits.onnx");
    let engine =
        Engine::new(&EngineSettings::default()).expect("ONNX Runtime (run scripts/setup.sh)");
    // As `sibyl model register models/digits.onnx --price 0.01 --rule top-k:1` does.
    let listing = Listing {
        uri: "file://models/digits.onnx".to_string(),
        price: 10_000,
        royalty_bps: 1_000,
        comparison: Some(ComparisonRule::TopK {
            k: 1,
            tie_margin: sibyl_oracle::actions::model::DEFAULT_TIE_MARGIN,
        }),
        challenge_window_override_slots: None,
        max_input_bytes: None,
        max_output_bytes: None,
        views: Vec::new(),
        referee: false,
    };
    let args = model::registration(&engine, &path, listing).expect("digits.onnx registers");
    let model_hash = args.model_hash;
    (
        model::register(publisher, tokens, args)
            .await
            .expect("model registered"),
        model_hash,
    )
}

/// The digits fixture's recorded Python output for `sample`.
pub fn python_output(sample: &str) -> Vec<u8> {
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("models/fixtures.json")).unwrap(),
    )
    .unwrap();
    let digits = fixtures["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "digits")
        .unwrap();
    let case = digits["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sample"].as_str().unwrap_or("").contains(sample))
        .unwrap();
    sibyl_oracle::hex::decode(case["output_encoding"].as_str().unwrap()).unwrap()
}

impl Cluster {
    /// The publisher sponsors an example-consumer bounty (1 SOL) for
    /// `digit` on the digits model; returns its address.
    pub async fn create_bounty(&self, digit: u8) -> Pubkey {
        use anchor_lang::{InstructionData, ToAccountMetas};
        let sponsor = self.publisher.pubkey();
        let bounty = Pubkey::find_program_address(
            &[
                example_consumer::state::Bounty::SEED,
                sponsor.as_ref(),
                &1u64.to_le_bytes(),
            ],
            &example_consumer::ID,
        )
        .0;
        let create = solana_instruction::Instruction {
            program_id: example_consumer::ID,
            accounts: example_consumer::accounts::CreateBounty {
                sponsor,
                bounty,
                system_program: anchor_lang::system_program::ID,
            }
            .to_account_metas(None),
            data: example_consumer::instruction::CreateBounty {
                args: example_consumer::instructions::CreateBountyArgs {
                    id: 1,
                    model_hash: self.model_hash,
                    target_digit: digit,
                    // The digits model is compared by top-1 class, which
                    // verifies the class and not its probability.
                    min_probability_bps: 0,
                    max_age_slots: 1_000,
                    reward_lamports: 1_000_000_000,
                },
            }
            .data(),
        };
        self.client(&self.publisher)
            .send("create_bounty", &[create], &[])
            .await
            .expect("bounty created");
        bounty
    }

    /// An example-consumer bounty's state.
    pub async fn bounty(&self, bounty: &Pubkey) -> example_consumer::state::Bounty {
        use anchor_lang::AccountDeserialize;
        let account = self
            .client(&self.requester)
            .rpc()
            .get_account(bounty)
            .await
            .unwrap();
        example_consumer::state::Bounty::try_deserialize(&mut &account.data[..]).unwrap()
    }
}

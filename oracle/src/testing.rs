//! The one cluster fixture of the node tests, the demo and the bench
//! (feature `test-cluster`): a localnet (the real Agave runtime behind
//! JSON-RPC and PubSub, in this process), funded wallets with their keypair
//! files, the payment mint, registered operators and node configurations.
//! Each caller adds what is its own (the tests' digits model, the demo's
//! story, the bench's fixtures) on top.
use crate::{
    actions::operator,
    chain::{ChainClient, SendSettings},
    config::{Config, Role},
    keys::write_keypair,
};
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use sibyl_client::accounts::Tokens;
use sibyl_localnet::{Localnet, LocalnetConfig};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{path::PathBuf, sync::Arc};

/// SOL each funded wallet starts with, in lamports (100 SOL).
pub const WALLET_LAMPORTS: u64 = 100_000_000_000;

/// A wallet on the test cluster: its keypair, and the keypair file that a
/// `sibyl` process or a node configuration names.
pub struct Wallet {
    /// What the wallet is called in file names and printed tables.
    pub name: String,
    pub keypair: Arc<Keypair>,
    pub keypair_path: PathBuf,
}

impl Wallet {
    pub fn pubkey(&self) -> Pubkey {
        self.keypair.pubkey()
    }
}

/// A localnet and a directory for everything written about it (keypair
/// files, node journals and caches), removed when dropped.
pub struct TestCluster {
    pub localnet: Localnet,
    pub dir: tempfile::TempDir,
}

impl TestCluster {
    /// Starts a localnet with `config`.
    pub async fn start(config: LocalnetConfig) -> Result<TestCluster> {
        let localnet = Localnet::start(config)
            .await
            .context("starting the localnet")?;
        let dir = tempfile::tempdir().context("creating the cluster's directory")?;
        Ok(TestCluster { localnet, dir })
    }

    /// Stops the localnet (its RPC and PubSub servers, then the bank) and
    /// removes the directory.
    pub async fn shutdown(self) {
        self.localnet.shutdown().await;
    }

    /// A new wallet with [`WALLET_LAMPORTS`], its keypair written to
    /// `<name>.json` in the cluster's directory.
    pub fn fund(&self, name: &str) -> Result<Wallet> {
        let keypair = Keypair::new();
        self.localnet
            .chain
            .airdrop(&keypair.pubkey(), WALLET_LAMPORTS)
            .with_context(|| format!("funding {name}"))?;
        let keypair_path = self.dir.path().join(format!("{}.json", file_name(name)));
        write_keypair(&keypair_path, &keypair)?;
        Ok(Wallet {
            name: name.to_string(),
            keypair: Arc::new(keypair),
            keypair_path,
        })
    }

    /// Creates the payment mint (SPL Token, 6 decimals) and gives each of
    /// `wallets` `amount` base units in its associated token account.
    pub fn mint_payment_tokens(&self, wallets: &[&Wallet], amount: u64) -> Result<Tokens> {
        let addresses: Vec<Pubkey> = wallets.iter().map(|wallet| wallet.pubkey()).collect();
        let mint = self
            .localnet
            .chain
            .create_payment_mint(&addresses, amount)
            .context("creating the payment mint")?;
        Ok(Tokens {
            mint,
            token_program: anchor_spl::token::ID,
        })
    }

    /// A chain client signing as `wallet`.
    pub fn client(&self, wallet: &Wallet) -> ChainClient {
        ChainClient::new(
            &self.localnet.rpc_url(),
            &self.localnet.pubsub_url(),
            wallet.keypair.clone(),
            SendSettings::default(),
        )
    }

    /// Registers each of `operators` with `stake`, paid into its own
    /// account.
    pub async fn register_operators(
        &self,
        operators: &[Wallet],
        tokens: Tokens,
        stake: u64,
    ) -> Result<()> {
        for wallet in operators {
            operator::register(&self.client(wallet), tokens, stake)
                .await
                .with_context(|| format!("registering {}", wallet.name))?;
        }
        Ok(())
    }

    /// A node configuration for `operator` running `models` (hashes; `*`
    /// for every model) in `roles`: its journal and model cache in a
    /// directory of its own, the scan every 200 ms.
    pub fn node_config(
        &self,
        operator: &Wallet,
        roles: &[Role],
        models: &[String],
    ) -> Result<Config> {
        let text = Config::template(
            &self.localnet.rpc_url(),
            &operator.keypair_path.display().to_string(),
            models,
        );
        let mut config = Config::from_toml(&text, "test cluster", Vec::new())?;
        let node_dir = self.node_dir(operator);
        config.cluster.ws_url = self.localnet.pubsub_url();
        config.node.roles = roles.to_vec();
        config.node.journal = node_dir.join("journal.redb");
        config.node.model_cache = node_dir.join("models");
        config.node.output_dir = node_dir.join("outputs");
        config.node.poll_interval_ms = 200;
        Ok(config)
    }
}

impl TestCluster {
    /// The directory of `operator`'s node: its journal, model cache and
    /// anything else written about it.
    pub fn node_dir(&self, operator: &Wallet) -> PathBuf {
        self.dir
            .path()
            .join(format!("node-{}", file_name(&operator.name)))
    }
}

/// `name` as a file name: spaces become dashes.
fn file_name(name: &str) -> String {
    name.replace(' ', "-")
}

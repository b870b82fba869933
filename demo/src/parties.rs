//! Who takes part in the demo: wallets, the three operators and their
//! nodes, and everyone's token balances.
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use sibyl_client::pda;
use sibyl_oracle::{
    actions::format_amount,
    config::Role,
    hex,
    node::Node,
    testing::{TestCluster, Wallet},
};
use tokio::{sync::watch, task::JoinHandle};

/// Stake each operator registers with (6-decimal tokens: 20).
const STAKE: u64 = 20_000_000;

/// The authority (also publisher and treasury), the requester and three operators.
pub struct Parties {
    pub authority: Wallet,
    pub requester: Wallet,
    /// Operators A and B (honest) and C (faulty), in that order.
    pub operators: [Wallet; 3],
}

/// A running node.
pub struct RunningNode {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningNode {
    /// Graceful shutdown: the node finishes what it started.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Parties {
    /// New wallets with SOL for fees, their keypairs written in the
    /// cluster's directory.
    pub fn fund(cluster: &TestCluster) -> Result<Parties> {
        Ok(Parties {
            authority: cluster.fund("authority")?,
            requester: cluster.fund("requester")?,
            operators: [
                cluster.fund("operator A")?,
                cluster.fund("operator B")?,
                cluster.fund("operator C")?,
            ],
        })
    }

    /// Wallets the migration funds with payment tokens.
    pub fn wallets_to_fund(&self) -> Vec<Pubkey> {
        std::iter::once(&self.requester)
            .chain(&self.operators)
            .map(Wallet::pubkey)
            .collect()
    }

    /// Every operator stakes and registers.
    pub async fn register_operators(&self, cluster: &TestCluster) -> Result<()> {
        let tokens = cluster.client(&self.authority).payment_tokens().await?;
        cluster
            .register_operators(&self.operators, tokens, STAKE)
            .await?;
        for party in &self.operators {
            println!(
                "{:<12} {} staked {}",
                party.name,
                pda::operator(&party.pubkey()),
                format_amount(STAKE, 6)
            );
        }
        Ok(())
    }

    /// Starts the three nodes: A serves the digits model, votes (on both
    /// models) and cranks
    /// (one cranker keeps the story free of lost races); B watches both
    /// models and votes; C serves the int8 model and commits a wrong output
    /// every time (`--faulty 1.0`). A also serves, and B also watches, the
    /// `more` models.
    pub async fn start_nodes(
        &self,
        cluster: &TestCluster,
        digits: Pubkey,
        int8: Pubkey,
        more: &[Pubkey],
    ) -> Result<Vec<RunningNode>> {
        let client = cluster.client(&self.authority);
        let hash_of = |model: Pubkey| {
            let client = &client;
            async move {
                let state: sibyl::state::Model = client.fetch_required(&model, "model").await?;
                anyhow::Ok(hex::encode(&state.model_hash))
            }
        };
        let (digits, int8) = (hash_of(digits).await?, hash_of(int8).await?);
        let mut more_hashes = Vec::new();
        for model in more {
            more_hashes.push(hash_of(*model).await?);
        }
        let with_more = |models: Vec<String>| [models, more_hashes.clone()].concat();
        // (party, roles, models it runs, models it serves of those, faulty rate)
        let setups = [
            (
                &self.operators[0],
                vec![Role::Serve, Role::Vote, Role::Crank],
                with_more(vec![digits.clone(), int8.clone()]),
                with_more(vec![digits.clone()]),
                0.0,
            ),
            (
                &self.operators[1],
                vec![Role::Watch, Role::Vote],
                with_more(vec![digits, int8.clone()]),
                Vec::new(),
                0.0,
            ),
            (
                &self.operators[2],
                vec![Role::Serve],
                vec![int8],
                Vec::new(),
                1.0,
            ),
        ];
        let mut nodes = Vec::new();
        for (index, (party, roles, models, serve_models, faulty_rate)) in
            setups.into_iter().enumerate()
        {
            let mut config = cluster.node_config(party, &roles, &models)?;
            config.node.serve_models = serve_models;
            config.faulty.rate = faulty_rate;
            // Serving more models for the app, A serves whole outputs too.
            if index == 0 && !more.is_empty() {
                let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
                config.metrics.listen = Some(address);
                config.node.output_url = format!("http://{address}");
            }
            let node = Node::start(&config)
                .await
                .with_context(|| format!("starting {}'s node", party.name))?;
            let (stop, shutdown) = watch::channel(false);
            let task = tokio::spawn(async move {
                if let Err(err) = node.run(shutdown).await {
                    eprintln!("node stopped: {err}");
                }
            });
            let roles: Vec<String> = roles
                .iter()
                .map(|r| format!("{r:?}").to_lowercase())
                .collect();
            println!(
                "{:<12} node running: {}{}",
                party.name,
                roles.join(", "),
                if faulty_rate > 0.0 {
                    "  (--faulty 1.0: commits WRONG outputs)"
                } else {
                    ""
                }
            );
            nodes.push(RunningNode { stop, task });
        }
        Ok(nodes)
    }

    /// The name of the party whose wallet or operator account is `address`.
    pub fn name_of(&self, address: &Pubkey) -> String {
        std::iter::once(&self.authority)
            .chain(std::iter::once(&self.requester))
            .chain(&self.operators)
            .find(|party| party.pubkey() == *address || pda::operator(&party.pubkey()) == *address)
            .map_or_else(|| address.to_string(), |party| party.name.to_string())
    }

    /// Each operator's stake.
    pub async fn stakes(&self, cluster: &TestCluster) -> Result<Vec<u64>> {
        let client = cluster.client(&self.authority);
        let mut stakes = Vec::new();
        for party in &self.operators {
            let state: sibyl::state::Operator = client
                .fetch_required(&pda::operator(&party.pubkey()), "operator")
                .await?;
            stakes.push(state.stake);
        }
        Ok(stakes)
    }

    /// Token balances of every party, the stake and bond vaults and each
    /// model's protocol-fee vault.
    pub async fn balances(
        &self,
        cluster: &TestCluster,
        models: &[(&str, Pubkey)],
    ) -> Result<Vec<(String, u64)>> {
        let client = cluster.client(&self.authority);
        let tokens = client.payment_tokens().await?;
        let mut accounts: Vec<(String, Pubkey)> = std::iter::once(&self.authority)
            .chain(std::iter::once(&self.requester))
            .chain(&self.operators)
            .map(|party| (party.name.clone(), tokens.account_of(&party.pubkey())))
            .collect();
        accounts[0].0 = "authority (publisher, treasury)".into();
        accounts.push(("stake vault".into(), pda::stake_vault()));
        accounts.push(("bond vault".into(), pda::bond_vault()));
        for (name, model) in models {
            accounts.push((format!("fee vault: {name}"), pda::fee_vault(model)));
        }
        let mut balances = Vec::new();
        for (name, account) in accounts {
            let amount = client.token_balance(&account).await?.unwrap_or(0);
            balances.push((name, amount));
        }
        Ok(balances)
    }
}

/// Prints the balances table; returns whether the totals match.
pub fn print_balances(before: &[(String, u64)], after: &[(String, u64)]) -> bool {
    println!("\n== Balances (payment tokens)");
    println!(
        "{:<34} {:>16} {:>16} {:>12}",
        "party", "before", "after", "change"
    );
    for ((name, was), (_, is)) in before.iter().zip(after) {
        let change = *is as i128 - *was as i128;
        let sign = if change >= 0 { "+" } else { "-" };
        println!(
            "{name:<34} {:>16} {:>16} {sign:>3}{:>9}",
            format_amount(*was, 6),
            format_amount(*is, 6),
            format_amount(change.unsigned_abs() as u64, 6)
        );
    }
    let total = |balances: &[(String, u64)]| balances.iter().map(|(_, amount)| amount).sum::<u64>();
    let (total_before, total_after) = (total(before), total(after));
    println!(
        "{:<34} {:>16} {:>16}",
        "total",
        format_amount(total_before, 6),
        format_amount(total_after, 6)
    );
    total_before == total_after
}

//! `sibyl operator register|stake|unstake|withdraw|set-payout|show` (operators).
use super::{parse_address, Cli};
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use clap::Subcommand;
use sibyl_client::pda;
use sibyl_oracle::{
    actions::{format_amount, operator, parse_amount},
    keys::read_keypair,
};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Register this keypair as an operator (its node key), staking TOKENS.
    Register {
        #[arg(long)]
        stake: String,
        /// The keypair file of the wallet to be paid into (fees, rewards,
        /// withdrawn stake), which signs to consent; default: this keypair.
        /// Keep it apart from the node key (and offline after this), so
        /// that a stolen node key cannot withdraw the pay or the stake.
        #[arg(long, value_name = "KEYPAIR")]
        payout_keypair: Option<String>,
    },
    /// Add stake.
    Stake { amount: String },
    /// Start unbonding stake (withdraw after the unbonding period); signed
    /// by the operator's payout wallet.
    Unstake {
        amount: String,
        #[command(flatten)]
        operator: NodeKey,
    },
    /// Withdraw unbonded stake into the operator's payout account.
    Withdraw {
        #[command(flatten)]
        operator: NodeKey,
    },
    /// Have the operator paid into another wallet from now on (signed by
    /// its current payout wallet; only with no settlement open).
    SetPayout {
        /// The keypair file of the new payout wallet, which signs to consent.
        new_payout_keypair: String,
        #[command(flatten)]
        operator: NodeKey,
    },
    /// Name the base URL where this node key's node serves whole outputs
    /// (`GET <URL>/outputs/<sha256>`, beside its metrics); "" for none. A
    /// node with `node.output_url` set publishes it itself.
    SetOutputUrl { url: String },
    /// Show an operator (default: this keypair's).
    Show {
        /// The operator's node key.
        wallet: Option<String>,
    },
}

/// Which operator a command acts on, for a payout wallet signing for it.
#[derive(clap::Args, Debug)]
pub struct NodeKey {
    /// The operator's node key, when this keypair is its payout wallet
    /// (default: this keypair).
    #[arg(long = "operator", value_name = "NODE_KEY")]
    node_key: Option<String>,
}

impl NodeKey {
    fn resolve(&self, signer: Pubkey) -> Result<Pubkey> {
        self.node_key
            .as_deref()
            .map_or(Ok(signer), |text| parse_address(text, "--operator"))
    }
}

pub async fn run(cli: &Cli, command: &OperatorCommand) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let tokens = chain.payment_tokens().await?;
    let decimals = chain.mint(&tokens.mint).await?.decimals;
    let amount = |text: &str| parse_amount(text, decimals).map_err(anyhow::Error::msg);
    let signer = chain.wallet();
    // Every command but `register` acts on a registered operator: say so
    // before sending anything.
    let registered = |node_key: Pubkey| {
        let chain = &chain;
        async move {
            operator::state(chain, node_key).await.with_context(|| {
                format!(
                    "{node_key} is not the node key of a registered operator \
                     (register with `sibyl operator register --stake <TOKENS>`, \
                     or name the node key with --operator)"
                )
            })
        }
    };
    let wallet = match command {
        OperatorCommand::Register {
            stake,
            payout_keypair,
        } => {
            let payout = payout_keypair.as_deref().map(read_keypair).transpose()?;
            operator::register_paying(&chain, tokens, amount(stake)?, payout.as_ref()).await?;
            signer
        }
        OperatorCommand::Stake { amount: text } => {
            let amount = amount(text)?;
            registered(signer).await?;
            operator::add_stake(&chain, tokens, amount).await?;
            signer
        }
        OperatorCommand::Unstake {
            amount: text,
            operator: node_key,
        } => {
            let (node_key, amount) = (node_key.resolve(signer)?, amount(text)?);
            registered(node_key).await?;
            operator::request_unstake(&chain, node_key, amount).await?;
            node_key
        }
        OperatorCommand::Withdraw { operator: node_key } => {
            let node_key = node_key.resolve(signer)?;
            let state = registered(node_key).await?;
            operator::withdraw(&chain, tokens, node_key, &state).await?;
            node_key
        }
        OperatorCommand::SetPayout {
            new_payout_keypair,
            operator: node_key,
        } => {
            let node_key = node_key.resolve(signer)?;
            let new_payout = read_keypair(new_payout_keypair)?;
            registered(node_key).await?;
            operator::set_payout(&chain, tokens, node_key, &new_payout).await?;
            node_key
        }
        OperatorCommand::SetOutputUrl { url } => {
            registered(signer).await?;
            if !sibyl::state::Operator::is_valid_output_url(url) {
                anyhow::bail!(
                    "`{url}` is not an output URL: empty (none), or https:// or http:// and at most 200 printable characters"
                );
            }
            operator::set_output_url(&chain, url).await?;
            signer
        }
        OperatorCommand::Show { wallet: Some(text) } => parse_address(text, "wallet")?,
        OperatorCommand::Show { wallet: None } => signer,
    };
    let state = operator::state(&chain, wallet).await?;
    let address = pda::operator(&wallet);
    let show = |units| format_amount(units, decimals);
    println!("operator          {address}");
    println!("node key          {}", state.authority);
    println!(
        "payout            {} (account {})",
        state.payout_authority, state.payout_token
    );
    println!("stake             {}", show(state.stake));
    println!(
        "unbonding         {} (unlocks at slot {})",
        show(state.pending_unstake),
        state.unstake_unlock_slot
    );
    println!(
        "open commitments  {}   open votes {}",
        state.open_commitments, state.open_votes
    );
    println!(
        "served            {}   disputes won {} / lost {}",
        state.requests_served, state.disputes_won, state.disputes_lost
    );
    println!(
        "whole outputs at  {}",
        if state.output_url.is_empty() {
            "(none published)"
        } else {
            &state.output_url
        }
    );
    Ok(ExitCode::SUCCESS)
}

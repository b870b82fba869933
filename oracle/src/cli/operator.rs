//! `sibyl operator register|stake|unstake|withdraw|show` (operators).
use super::{parse_address, Cli};
use anyhow::Result;
use clap::Subcommand;
use sibyl::state::Operator;
use sibyl_client::pda;
use sibyl_oracle::actions::{format_amount, operator, parse_amount};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Register this keypair as an operator, staking TOKENS.
    Register {
        #[arg(long)]
        stake: String,
    },
    /// Add stake.
    Stake { amount: String },
    /// Start unbonding stake (withdraw after the unbonding period).
    Unstake { amount: String },
    /// Withdraw unbonded stake.
    Withdraw,
    /// Show an operator (default: this keypair's).
    Show {
        /// The operator's authority wallet.
        wallet: Option<String>,
    },
}

pub async fn run(cli: &Cli, command: &OperatorCommand) -> Result<ExitCode> {
    let chain = cli.chain()?;
    let tokens = chain.payment_tokens().await?;
    let decimals = chain.mint(&tokens.mint).await?.decimals;
    let amount = |text: &str| parse_amount(text, decimals).map_err(anyhow::Error::msg);
    let mut wallet = chain.wallet();
    match command {
        OperatorCommand::Register { stake } => {
            operator::register(&chain, tokens, amount(stake)?).await?
        }
        OperatorCommand::Stake { amount: text } => {
            operator::add_stake(&chain, tokens, amount(text)?).await?
        }
        OperatorCommand::Unstake { amount: text } => {
            operator::request_unstake(&chain, amount(text)?).await?
        }
        OperatorCommand::Withdraw => operator::withdraw(&chain, tokens).await?,
        OperatorCommand::Show { wallet: Some(text) } => wallet = parse_address(text, "wallet")?,
        OperatorCommand::Show { wallet: None } => {}
    }
    let address = pda::operator(&wallet);
    let state: Operator = chain.fetch_required(&address, "operator").await?;
    let show = |units| format_amount(units, decimals);
    println!("operator          {address}");
    println!("authority         {}", state.authority);
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
    Ok(ExitCode::SUCCESS)
}

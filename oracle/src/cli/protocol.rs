//! `sibyl protocol init|show|sweep` (the protocol authority; anyone may sweep).
use super::{parse_address, Cli};
use anyhow::Result;
use clap::Subcommand;
use sibyl_oracle::actions::{format_amount, protocol};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ProtocolCommand {
    /// Initialize the protocol with this keypair as authority (idempotent):
    /// localnet parameters, the authority's token account as treasury.
    Init {
        /// The SPL Token or Token-2022 mint fees and stake are paid in.
        #[arg(long)]
        mint: String,
    },
    /// Print the protocol configuration.
    Show,
    /// Move every model's collected protocol fees to the treasury
    /// (permissionless: the destination is the configured treasury).
    Sweep,
}

pub async fn run(cli: &Cli, command: &ProtocolCommand) -> Result<ExitCode> {
    let chain = cli.chain()?;
    match command {
        ProtocolCommand::Init { mint } => {
            let mint = parse_address(mint, "mint")?;
            let tokens = chain.mint(&mint).await?.tokens;
            let (_, created) =
                protocol::initialize(&chain, tokens, protocol::localnet_params()).await?;
            println!(
                "{} protocol config {}",
                if created {
                    "initialized"
                } else {
                    "already initialized:"
                },
                sibyl_client::pda::config()
            );
        }
        ProtocolCommand::Show => {}
        ProtocolCommand::Sweep => {
            let tokens = chain.payment_tokens().await?;
            let decimals = chain.mint(&tokens.mint).await?.decimals;
            let swept = protocol::sweep_fees(&chain, tokens).await?;
            if swept.is_empty() {
                println!("no protocol fees to sweep");
            }
            for (model, amount) in swept {
                println!(
                    "swept {} from model {model}",
                    format_amount(amount, decimals)
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    }
    let config = chain.config().await?;
    let tokens = chain.payment_tokens().await?;
    let decimals = chain.mint(&tokens.mint).await?.decimals;
    let amount = |units| format_amount(units, decimals);
    let p = &config.params;
    println!("authority           {}", config.authority);
    println!(
        "payment mint        {} ({} decimals)",
        config.payment_mint, decimals
    );
    println!("treasury            {}", config.treasury);
    println!("protocol fee        {} bps", p.protocol_fee_bps);
    println!("min operator stake  {}", amount(p.min_operator_stake));
    println!(
        "challenge window    {} slots, bond {}",
        p.challenge_window_slots,
        amount(p.challenge_bond)
    );
    println!(
        "vote window         {} slots, quorum {} bps, threshold {} bps",
        p.vote_window_slots, p.quorum_bps, p.threshold_bps
    );
    println!(
        "slash               {} bps, voter reward {} bps",
        p.slash_bps, p.voter_reward_bps
    );
    println!(
        "request timeout     {} slots, unbonding {} slots",
        p.request_timeout_slots, p.unbonding_slots
    );
    println!("active stake        {}", amount(config.total_active_stake));
    println!("paused              {}", config.paused);
    Ok(ExitCode::SUCCESS)
}

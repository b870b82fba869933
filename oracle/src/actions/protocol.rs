//! Initializing the protocol on a cluster (the authority), idempotently, and
//! sweeping the models' collected protocol fees to the treasury (anyone).
use crate::chain::{ChainClient, ChainError};
use anchor_lang::prelude::Pubkey;
use sibyl::state::{Config, ConfigParams, Model};
use sibyl_client::{accounts, accounts::Tokens, instruction, pda};

/// Parameters for a localnet or a demo: short windows, small amounts
/// (6-decimal tokens).
pub fn localnet_params() -> ConfigParams {
    ConfigParams {
        protocol_fee_bps: 250,
        min_operator_stake: 10_000_000,
        challenge_window_slots: 25,
        challenge_bond: 1_000_000,
        vote_window_slots: 25,
        quorum_bps: 5_000,
        threshold_bps: 6_600,
        slash_bps: 2_000,
        voter_reward_bps: 5_000,
        unbonding_slots: 50,
        request_timeout_slots: 150,
        arbitration_window_slots: 50,
    }
}

/// Initializes the protocol with the signer as authority and its own token
/// account as treasury, unless it already is; returns the config either way
/// and whether this call created it.
pub async fn initialize(
    chain: &ChainClient,
    tokens: Tokens,
    params: ConfigParams,
) -> Result<(Config, bool), ChainError> {
    if let Some(config) = chain
        .fetch::<Config>(&pda::config(), "protocol config")
        .await?
    {
        return Ok((config, false));
    }
    let authority = chain.wallet();
    let treasury = tokens.account_of(&authority);
    let instructions = [
        tokens.create_account(&authority, &authority),
        instruction(
            accounts::initialize(authority, tokens, treasury),
            sibyl::instruction::Initialize { params },
        ),
    ];
    chain.send("initialize", &instructions, &[]).await?;
    Ok((chain.config().await?, true))
}

/// Moves every model's collected protocol fees to the treasury (one
/// `sweep_fees` per model whose vault holds any); returns each model swept
/// and the amount.
pub async fn sweep_fees(
    chain: &ChainClient,
    tokens: Tokens,
) -> Result<Vec<(Pubkey, u64)>, ChainError> {
    let config = chain.config().await?;
    let mut swept = Vec::new();
    for (model, _) in chain.program_accounts::<Model>("model", Vec::new()).await? {
        let vault = pda::fee_vault(&model);
        let amount = chain.token_balance(&vault).await?.unwrap_or(0);
        if amount == 0 {
            continue;
        }
        let sweep = instruction(
            accounts::sweep_fees(model, config.treasury, tokens),
            sibyl::instruction::SweepFees {},
        );
        chain.send("sweep_fees", &[sweep], &[]).await?;
        swept.push((model, amount));
    }
    Ok(swept)
}

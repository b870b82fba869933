//! Initializing the protocol on a cluster (the authority), idempotently.
use crate::{
    chain::{ChainClient, ChainError},
    node::{ensure_token_account, token_account},
};
use sibyl::state::{Config, ConfigParams};
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
    let treasury = token_account(&authority, &tokens);
    let instructions = [
        ensure_token_account(&authority, &authority, &tokens),
        instruction(
            accounts::initialize(authority, tokens, treasury),
            sibyl::instruction::Initialize { params },
        ),
    ];
    chain.send("initialize", &instructions, &[]).await?;
    Ok((chain.config().await?, true))
}

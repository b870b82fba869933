//! Operator registration and stake (operators).
use crate::chain::{ChainClient, ChainError};
use sibyl_client::{accounts, accounts::Tokens, instruction};

/// Registers the signer as an operator with `stake` base units.
pub async fn register(chain: &ChainClient, tokens: Tokens, stake: u64) -> Result<(), ChainError> {
    let wallet = chain.wallet();
    let register = instruction(
        accounts::register_operator(wallet, tokens.account_of(&wallet), tokens),
        sibyl::instruction::RegisterOperator { stake },
    );
    chain
        .send("register_operator", &[register], &[])
        .await
        .map(drop)
}

/// Adds stake.
pub async fn add_stake(chain: &ChainClient, tokens: Tokens, amount: u64) -> Result<(), ChainError> {
    let wallet = chain.wallet();
    let stake = instruction(
        accounts::stake(wallet, tokens.account_of(&wallet), tokens),
        sibyl::instruction::AddStake { amount },
    );
    chain.send("add_stake", &[stake], &[]).await.map(drop)
}

/// Starts unbonding `amount`.
pub async fn request_unstake(chain: &ChainClient, amount: u64) -> Result<(), ChainError> {
    let unstake = instruction(
        accounts::request_unstake(chain.wallet()),
        sibyl::instruction::RequestUnstake { amount },
    );
    chain
        .send("request_unstake", &[unstake], &[])
        .await
        .map(drop)
}

/// Withdraws stake whose unbonding period passed.
pub async fn withdraw(chain: &ChainClient, tokens: Tokens) -> Result<(), ChainError> {
    let wallet = chain.wallet();
    let stake = accounts::stake(wallet, tokens.account_of(&wallet), tokens);
    let withdraw = instruction(
        sibyl::accounts::WithdrawStake {
            authority: stake.authority,
            config: stake.config,
            operator: stake.operator,
            authority_token: stake.authority_token,
            stake_vault: stake.stake_vault,
            mint: stake.mint,
            token_program: stake.token_program,
            event_authority: stake.event_authority,
            program: stake.program,
        },
        sibyl::instruction::WithdrawStake {},
    );
    chain
        .send("withdraw_stake", &[withdraw], &[])
        .await
        .map(drop)
}

//! Operator registration, stake and payout (operators).
//!
//! An operator has a node key (the `sibyl` node's wallet, which commits and
//! votes) and a payout wallet (which settlements and withdrawn stake pay
//! into, and which alone unbonds). They may be one wallet; kept apart, a
//! stolen node key cannot withdraw the stake or the fees.
use crate::chain::{ChainClient, ChainError};
use anchor_lang::prelude::Pubkey;
use sibyl::state::Operator;
use sibyl_client::{accounts, accounts::Tokens, instruction, pda};
use solana_keypair::Keypair;
use solana_signer::Signer;

/// Registers the signer as an operator with `stake` base units, paid into
/// its own token account.
pub async fn register(chain: &ChainClient, tokens: Tokens, stake: u64) -> Result<(), ChainError> {
    register_paying(chain, tokens, stake, None).await
}

/// Registers the signer (the node key) as an operator with `stake` base
/// units from its own token account, paid into `payout`'s token account
/// (created if it does not exist; `payout` signs to consent), or into its
/// own with `None`.
pub async fn register_paying(
    chain: &ChainClient,
    tokens: Tokens,
    stake: u64,
    payout: Option<&Keypair>,
) -> Result<(), ChainError> {
    let wallet = chain.wallet();
    let payout_wallet = payout.map_or(wallet, Signer::pubkey);
    let register = instruction(
        accounts::register_operator(
            wallet,
            tokens.account_of(&wallet),
            payout_wallet,
            tokens.account_of(&payout_wallet),
            tokens,
        ),
        sibyl::instruction::RegisterOperator { stake },
    );
    let create_payout = tokens.create_account(&wallet, &payout_wallet);
    let signers: Vec<&Keypair> = payout.into_iter().collect();
    chain
        .send("register_operator", &[create_payout, register], &signers)
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

/// Starts unbonding `amount` of the stake of the operator whose node key is
/// `node_key`; the signer is the operator's payout wallet.
pub async fn request_unstake(
    chain: &ChainClient,
    node_key: Pubkey,
    amount: u64,
) -> Result<(), ChainError> {
    let unstake = instruction(
        accounts::request_unstake(chain.wallet(), node_key),
        sibyl::instruction::RequestUnstake { amount },
    );
    chain
        .send("request_unstake", &[unstake], &[])
        .await
        .map(drop)
}

/// Withdraws the unbonded stake of `operator` (its node key `node_key`, as
/// [`state`] read it) into its payout account; the signer is that key or
/// the operator's payout wallet.
pub async fn withdraw(
    chain: &ChainClient,
    tokens: Tokens,
    node_key: Pubkey,
    operator: &Operator,
) -> Result<(), ChainError> {
    let withdraw = instruction(
        accounts::withdraw_stake(chain.wallet(), node_key, operator.payout_token, tokens),
        sibyl::instruction::WithdrawStake {},
    );
    chain
        .send("withdraw_stake", &[withdraw], &[])
        .await
        .map(drop)
}

/// Has the operator whose node key is `node_key` paid into `new_payout`'s
/// token account (created if it does not exist) from now on; the signer is
/// the operator's current payout wallet, and `new_payout` signs to consent.
/// Names where this node key's node serves whole outputs (empty: none).
pub async fn set_output_url(chain: &ChainClient, output_url: &str) -> Result<(), ChainError> {
    let set = instruction(
        accounts::set_output_url(chain.wallet()),
        sibyl::instruction::SetOutputUrl {
            output_url: output_url.to_string(),
        },
    );
    chain.send("set_output_url", &[set], &[]).await?;
    Ok(())
}

pub async fn set_payout(
    chain: &ChainClient,
    tokens: Tokens,
    node_key: Pubkey,
    new_payout: &Keypair,
) -> Result<(), ChainError> {
    let wallet = chain.wallet();
    let new_wallet = new_payout.pubkey();
    let create_payout = tokens.create_account(&wallet, &new_wallet);
    let set = instruction(
        accounts::set_operator_payout(
            wallet,
            new_wallet,
            node_key,
            tokens.account_of(&new_wallet),
            tokens,
        ),
        sibyl::instruction::SetOperatorPayout {},
    );
    let signers: &[&Keypair] = if new_wallet == wallet {
        &[]
    } else {
        &[new_payout]
    };
    chain
        .send("set_operator_payout", &[create_payout, set], signers)
        .await
        .map(drop)
}

/// The operator whose node key is `node_key`.
pub async fn state(chain: &ChainClient, node_key: Pubkey) -> Result<Operator, ChainError> {
    chain
        .operator(&node_key)
        .await?
        .ok_or(ChainError::AccountMissing {
            what: "operator",
            address: pda::operator(&node_key),
        })
}

//! The localnet driven only through `solana-client`'s `RpcClient` (and raw
//! HTTP for malformed requests), checking Agave's result shapes and errors.
mod blocks;
mod errors;
mod history;
mod lifecycle;
mod load;
mod methods;
mod pubsub;
mod simulation;
mod tokens;

use sibyl_localnet::{Localnet, LocalnetConfig};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;

/// A localnet on a free port with 50 ms slots, and a client for it.
pub async fn start() -> (Localnet, RpcClient) {
    let localnet = Localnet::start(LocalnetConfig::for_tests())
        .await
        .expect("localnet starts");
    let client = RpcClient::new_with_commitment(localnet.rpc_url(), CommitmentConfig::confirmed());
    (localnet, client)
}

/// Posts a raw JSON-RPC body and returns the parsed response.
pub async fn post_raw(localnet: &Localnet, body: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(localnet.rpc_url())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("http")
        .json()
        .await
        .expect("json response")
}

/// One SOL in lamports.
pub const SOL: u64 = 1_000_000_000;

/// A new wallet funded by an airdrop (confirmed).
pub async fn funded(client: &RpcClient, lamports: u64) -> solana_keypair::Keypair {
    use solana_signer::Signer;
    let wallet = solana_keypair::Keypair::new();
    let signature = client
        .request_airdrop(&wallet.pubkey(), lamports)
        .await
        .unwrap();
    client.confirm_transaction(&signature).await.unwrap();
    wallet
}

/// Signs `instructions` with the payer and `signers`, sends and confirms them.
pub async fn send(
    client: &RpcClient,
    instructions: &[solana_instruction::Instruction],
    payer: &solana_keypair::Keypair,
    signers: &[&solana_keypair::Keypair],
) -> solana_signature::Signature {
    use solana_signer::Signer;
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let mut all = vec![payer];
    all.extend_from_slice(signers);
    let transaction = solana_transaction::Transaction::new_signed_with_payer(
        instructions,
        Some(&payer.pubkey()),
        &all,
        blockhash,
    );
    client
        .send_and_confirm_transaction(&transaction)
        .await
        .unwrap()
}

/// A transfer from `payer`, signed with `blockhash`.
pub fn transfer(
    payer: &solana_keypair::Keypair,
    to: &anchor_lang::prelude::Pubkey,
    lamports: u64,
    blockhash: solana_hash::Hash,
) -> solana_transaction::Transaction {
    use solana_signer::Signer;
    solana_transaction::Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            to,
            lamports,
        )],
        Some(&payer.pubkey()),
        &[payer],
        blockhash,
    )
}

/// The instructions that create an SPL Token mint (6 decimals, `payer` as
/// authority) and one token account per owner (the `accounts` keypairs),
/// minting `amount` into each.
pub async fn token_set_up(
    client: &RpcClient,
    payer: &anchor_lang::prelude::Pubkey,
    mint: &anchor_lang::prelude::Pubkey,
    accounts: &[(&solana_keypair::Keypair, anchor_lang::prelude::Pubkey)],
    amount: u64,
) -> Vec<solana_instruction::Instruction> {
    use anchor_spl::token_2022::spl_token_2022::instruction as token;
    use solana_signer::Signer;
    let program = anchor_spl::token::ID;
    let mint_rent = client
        .get_minimum_balance_for_rent_exemption(82)
        .await
        .unwrap();
    let account_rent = client
        .get_minimum_balance_for_rent_exemption(165)
        .await
        .unwrap();
    let mut instructions = vec![
        solana_system_interface::instruction::create_account(payer, mint, mint_rent, 82, &program),
        token::initialize_mint2(&program, mint, payer, None, 6).unwrap(),
    ];
    for (account, owner) in accounts {
        instructions.push(solana_system_interface::instruction::create_account(
            payer,
            &account.pubkey(),
            account_rent,
            165,
            &program,
        ));
        instructions
            .push(token::initialize_account3(&program, &account.pubkey(), mint, owner).unwrap());
        if amount > 0 {
            instructions.push(
                token::mint_to(&program, mint, &account.pubkey(), payer, &[], amount).unwrap(),
            );
        }
    }
    instructions
}

/// `getProgramAccounts` with these filters, accounts base64-encoded.
pub async fn program_accounts(
    client: &RpcClient,
    program: &anchor_lang::prelude::Pubkey,
    filters: Vec<solana_rpc_client_types::filter::RpcFilterType>,
) -> Vec<(
    anchor_lang::prelude::Pubkey,
    solana_account_decoder::UiAccount,
)> {
    use solana_rpc_client_types::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
    client
        .get_program_ui_accounts_with_config(
            program,
            RpcProgramAccountsConfig {
                filters: Some(filters),
                account_config: RpcAccountInfoConfig {
                    encoding: Some(solana_account_decoder::UiAccountEncoding::Base64),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

//! Transaction history: getTransaction, getSignaturesForAddress,
//! getTokenAccountBalance, and a program's own error through simulation.
use crate::{funded, send, start, token_set_up, transfer, SOL};
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_keypair::Keypair;
use solana_rpc_client_types::config::RpcTransactionConfig;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, EncodedTransaction, UiTransactionEncoding,
};

#[tokio::test]
async fn get_transaction_reports_meta_in_every_encoding() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let to = Keypair::new().pubkey();
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let transfer = transfer(&payer, &to, SOL, blockhash);
    let signature = client
        .send_and_confirm_transaction(&transfer)
        .await
        .unwrap();
    for encoding in [
        UiTransactionEncoding::Json,
        UiTransactionEncoding::Base64,
        UiTransactionEncoding::Base58,
    ] {
        let confirmed = client
            .get_transaction_with_config(
                &signature,
                RpcTransactionConfig {
                    encoding: Some(encoding),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let meta = confirmed.transaction.meta.expect("meta");
        assert_eq!(meta.fee, 5_000);
        assert_eq!(meta.pre_balances[0] - meta.post_balances[0], SOL + 5_000);
        assert_eq!(meta.post_balances[1], SOL);
        let OptionSerializer::Some(logs) = meta.log_messages else {
            panic!("logs recorded");
        };
        assert!(logs[0].starts_with("Program 11111111111111111111111111111111 invoke [1]"));
        match confirmed.transaction.transaction {
            EncodedTransaction::Json(json) => assert_eq!(json.signatures[0], signature.to_string()),
            binary => assert_eq!(binary.decode().expect("decodes").signatures[0], signature),
        }
    }
    localnet.shutdown().await;
}

#[tokio::test]
async fn signatures_for_address_are_newest_first_and_paged() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let mut sent = Vec::new();
    // Each a rent-exempt amount to a new account.
    for lamports in [SOL, SOL + 1, SOL + 2] {
        let blockhash = client.get_latest_blockhash().await.unwrap();
        let transfer = transfer(&payer, &Keypair::new().pubkey(), lamports, blockhash);
        sent.push(
            client
                .send_and_confirm_transaction(&transfer)
                .await
                .unwrap(),
        );
    }
    let all = client
        .get_signatures_for_address(&payer.pubkey())
        .await
        .unwrap();
    // Three transfers, then the airdrop that funded the payer.
    let listed: Vec<String> = all.iter().map(|s| s.signature.clone()).collect();
    assert_eq!(listed.len(), 4);
    assert_eq!(
        listed[..3],
        [
            sent[2].to_string(),
            sent[1].to_string(),
            sent[0].to_string()
        ]
    );
    let page = client
        .get_signatures_for_address_with_config(
            &payer.pubkey(),
            solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                before: Some(sent[2]),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].signature, sent[1].to_string());
    localnet.shutdown().await;
}

#[tokio::test]
async fn token_account_balance() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let _token_program = anchor_spl::token::ID;
    let mint = Keypair::new();
    let account = Keypair::new();
    let instructions = token_set_up(
        &client,
        &payer.pubkey(),
        &mint.pubkey(),
        &[(&account, payer.pubkey())],
        1_250_000,
    )
    .await;
    send(&client, &instructions, &payer, &[&mint, &account]).await;
    let balance = client
        .get_token_account_balance(&account.pubkey())
        .await
        .unwrap();
    assert_eq!(
        (
            balance.amount.as_str(),
            balance.decimals,
            balance.ui_amount_string.as_str()
        ),
        ("1250000", 6, "1.25")
    );
    localnet.shutdown().await;
}

#[tokio::test]
async fn a_program_error_is_reported_with_its_code_and_logs() {
    let (localnet, client) = start().await;
    let authority = funded(&client, 10 * SOL).await;
    // `pause` before `initialize`: the config account does not exist yet.
    let config = anchor_lang::prelude::Pubkey::find_program_address(&[b"config"], &sibyl::ID).0;
    let event_authority =
        anchor_lang::prelude::Pubkey::find_program_address(&[b"__event_authority"], &sibyl::ID).0;
    let pause = solana_instruction::Instruction {
        program_id: sibyl::ID,
        accounts: sibyl::accounts::SetPaused {
            authority: authority.pubkey(),
            config,
            event_authority,
            program: sibyl::ID,
        }
        .to_account_metas(None),
        data: sibyl::instruction::Pause {}.data(),
    };
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let transaction = Transaction::new_signed_with_payer(
        &[pause],
        Some(&authority.pubkey()),
        &[&authority],
        blockhash,
    );
    let simulation = client
        .simulate_transaction(&transaction)
        .await
        .unwrap()
        .value;
    let not_initialized = anchor_lang::error::ErrorCode::AccountNotInitialized as u32;
    assert_eq!(
        simulation.err.map(TransactionError::from),
        Some(TransactionError::InstructionError(
            0,
            solana_instruction::error::InstructionError::Custom(not_initialized)
        ))
    );
    let logs = simulation.logs.unwrap();
    assert!(
        logs.iter().any(|line| line.ends_with(&format!(
            "failed: custom program error: {not_initialized:#x}"
        ))),
        "{logs:?}"
    );
    localnet.shutdown().await;
}

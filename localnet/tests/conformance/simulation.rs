//! simulateTransaction as wallets use it for balance previews: the accounts
//! a transaction would leave (jsonParsed tokens included), a fresh
//! blockhash, signature checks, inner instructions and token balances.
use crate::{funded, start, token_set_up, SOL};
use anchor_spl::token_2022::spl_token_2022::instruction as token;
use solana_account_decoder::{UiAccountData, UiAccountEncoding};
use solana_keypair::Keypair;
use solana_rpc_client_types::config::{
    RpcSimulateTransactionAccountsConfig, RpcSimulateTransactionConfig,
};
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

#[tokio::test]
async fn a_wallet_previews_a_token_transfer() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let program = anchor_spl::token::ID;
    let mint = Keypair::new();
    let (from, to) = (Keypair::new(), Keypair::new());
    let set_up = token_set_up(
        &client,
        &payer.pubkey(),
        &mint.pubkey(),
        &[(&from, payer.pubkey()), (&to, Keypair::new().pubkey())],
        1_000_000,
    )
    .await;
    crate::send(&client, &set_up, &payer, &[&mint, &from, &to]).await;
    let transfer = token::transfer_checked(
        &program,
        &from.pubkey(),
        &mint.pubkey(),
        &to.pubkey(),
        &payer.pubkey(),
        &[],
        250_000,
        6,
    )
    .unwrap();
    // Signed with a blockhash the chain has never seen: the preview replaces it.
    let stale = Transaction::new_signed_with_payer(
        std::slice::from_ref(&transfer),
        Some(&payer.pubkey()),
        &[&payer],
        solana_hash::Hash::new_unique(),
    );
    let preview = |accounts: Option<RpcSimulateTransactionAccountsConfig>,
                   replace: bool,
                   sig_verify: bool| RpcSimulateTransactionConfig {
        sig_verify,
        replace_recent_blockhash: replace,
        accounts,
        inner_instructions: true,
        ..Default::default()
    };
    let wanted = |encoding| {
        Some(RpcSimulateTransactionAccountsConfig {
            encoding: Some(encoding),
            addresses: vec![to.pubkey().to_string(), from.pubkey().to_string()],
        })
    };
    let result = client
        .simulate_transaction_with_config(
            &stale,
            preview(wanted(UiAccountEncoding::JsonParsed), true, false),
        )
        .await
        .unwrap()
        .value;
    assert_eq!(result.err, None, "{:?}", result.logs);
    let replacement = result.replacement_blockhash.expect("a fresh blockhash");
    assert!(client
        .is_blockhash_valid(&replacement.blockhash.parse().unwrap(), client.commitment())
        .await
        .unwrap());
    let accounts = result.accounts.expect("the accounts asked for");
    let amount = |account: &Option<solana_account_decoder::UiAccount>| match &account
        .as_ref()
        .expect("exists")
        .data
    {
        UiAccountData::Json(parsed) => parsed.parsed["info"]["tokenAmount"]["amount"]
            .as_str()
            .unwrap()
            .to_string(),
        other => panic!("jsonParsed: {other:?}"),
    };
    assert_eq!(amount(&accounts[0]), "1250000");
    assert_eq!(amount(&accounts[1]), "750000");
    // Token balances before and after, as a wallet shows them.
    let post = result.post_token_balances.expect("token balances");
    assert!(post
        .iter()
        .any(|balance| balance.ui_token_amount.amount == "1250000"));
    assert!(result.pre_token_balances.is_some() && result.pre_balances.is_some());
    assert_eq!(result.fee, Some(5_000));
    // Nothing was committed.
    assert_eq!(
        client
            .get_token_account_balance(&to.pubkey())
            .await
            .unwrap()
            .amount,
        "1000000"
    );

    // base64 accounts; base58 refused; more addresses than the transaction has refused.
    let base64 = client
        .simulate_transaction_with_config(
            &stale,
            preview(wanted(UiAccountEncoding::Base64), true, false),
        )
        .await
        .unwrap()
        .value;
    assert!(matches!(
        base64.accounts.unwrap()[0].as_ref().unwrap().data,
        UiAccountData::Binary(_, _)
    ));
    let refused = client
        .simulate_transaction_with_config(
            &stale,
            preview(wanted(UiAccountEncoding::Base58), true, false),
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("base58 encoding not supported"),
        "{refused}"
    );
    let too_many = RpcSimulateTransactionAccountsConfig {
        encoding: Some(UiAccountEncoding::Base64),
        addresses: vec![Keypair::new().pubkey().to_string(); 6],
    };
    let refused = client
        .simulate_transaction_with_config(&stale, preview(Some(too_many), true, false))
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Too many accounts provided; max 5"),
        "{refused}"
    );
    let both = client
        .simulate_transaction_with_config(&stale, preview(None, true, true))
        .await
        .unwrap_err();
    assert!(both
        .to_string()
        .contains("sigVerify may not be used with replaceRecentBlockhash"));

    // Without the replacement the stale blockhash fails the simulation, and
    // the accounts asked for come back empty.
    let failed = client
        .simulate_transaction_with_config(
            &stale,
            preview(wanted(UiAccountEncoding::Base64), false, false),
        )
        .await
        .unwrap()
        .value;
    assert_eq!(failed.err, Some(TransactionError::BlockhashNotFound.into()));
    assert_eq!(failed.accounts, Some(vec![None, None]));

    // sigVerify: a forged signature is the simulation's error, not the call's.
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let mut forged = Transaction::new_signed_with_payer(
        &[transfer],
        Some(&payer.pubkey()),
        &[&payer],
        blockhash,
    );
    let verified = client
        .simulate_transaction_with_config(&forged, preview(None, false, true))
        .await
        .unwrap()
        .value;
    assert_eq!(verified.err, None);
    forged.signatures[0] = solana_signature::Signature::from([3; 64]);
    let forged = client
        .simulate_transaction_with_config(&forged, preview(None, false, true))
        .await
        .unwrap()
        .value;
    assert_eq!(forged.err, Some(TransactionError::SignatureFailure.into()));
    assert_eq!(forged.fee, None);
    localnet.shutdown().await;
}

#[tokio::test]
async fn inner_instructions_only_when_asked() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    // Creating an associated token account calls the system and token programs.
    let mint = Keypair::new();
    let set_up = token_set_up(&client, &payer.pubkey(), &mint.pubkey(), &[], 0).await;
    crate::send(&client, &set_up, &payer, &[&mint]).await;
    let create = anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account(
        &payer.pubkey(),
        &Keypair::new().pubkey(),
        &mint.pubkey(),
        &anchor_spl::token::ID,
    );
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let transaction =
        Transaction::new_signed_with_payer(&[create], Some(&payer.pubkey()), &[&payer], blockhash);
    for asked in [true, false] {
        let result = client
            .simulate_transaction_with_config(
                &transaction,
                RpcSimulateTransactionConfig {
                    inner_instructions: asked,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .value;
        assert_eq!(result.err, None);
        match result.inner_instructions {
            Some(inner) if asked => {
                assert_eq!(inner[0].index, 0);
                assert!(inner[0].instructions.len() >= 3, "{inner:?}");
            }
            None if !asked => {}
            other => panic!("asked {asked}, got {other:?}"),
        }
    }
    localnet.shutdown().await;
}

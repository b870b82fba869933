//! A wallet's tokens: accounts by owner and by delegate (mint and program
//! filters; jsonParsed, base64 and binary), supply, largest holders, and
//! jsonParsed token accounts and mints of SPL Token and Token-2022, as
//! Agave's account decoder gives them.
use crate::{funded, post_raw, send, start, SOL};
use anchor_lang::prelude::Pubkey;
use anchor_spl::associated_token::{
    get_associated_token_address_with_program_id as ata,
    spl_associated_token_account::instruction::create_associated_token_account_idempotent,
};
use anchor_spl::token_2022::spl_token_2022::instruction as token;
use serde_json::json;
use solana_account_decoder::{UiAccountData, UiAccountEncoding};
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::request::TokenAccountsFilter;
use solana_rpc_client_types::config::RpcAccountInfoConfig;
use solana_signer::Signer;

/// A mint of `program` (2 decimals, `payer` as authority) and an associated
/// account per holder with its amount.
async fn mint_with_holders(
    client: &RpcClient,
    payer: &Keypair,
    program: &Pubkey,
    holders: &[(Pubkey, u64)],
) -> Pubkey {
    let mint = Keypair::new();
    let rent = client
        .get_minimum_balance_for_rent_exemption(82)
        .await
        .unwrap();
    let mut instructions = vec![
        solana_system_interface::instruction::create_account(
            &payer.pubkey(),
            &mint.pubkey(),
            rent,
            82,
            program,
        ),
        token::initialize_mint2(program, &mint.pubkey(), &payer.pubkey(), None, 2).unwrap(),
    ];
    for (holder, amount) in holders {
        instructions.push(create_associated_token_account_idempotent(
            &payer.pubkey(),
            holder,
            &mint.pubkey(),
            program,
        ));
        instructions.push(
            token::mint_to(
                program,
                &mint.pubkey(),
                &ata(holder, &mint.pubkey(), program),
                &payer.pubkey(),
                &[],
                *amount,
            )
            .unwrap(),
        );
    }
    send(client, &instructions, payer, &[&mint]).await;
    mint.pubkey()
}

fn parsed(data: &UiAccountData) -> &serde_json::Value {
    match data {
        UiAccountData::Json(parsed) => &parsed.parsed,
        other => panic!("not jsonParsed: {other:?}"),
    }
}

#[tokio::test]
async fn a_wallets_token_accounts_by_owner_delegate_mint_and_program() {
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let alice = funded(&client, SOL).await;
    let bob = Keypair::new().pubkey();
    let classic = anchor_spl::token::ID;
    let token22 = anchor_spl::token_2022::ID;
    let coins = mint_with_holders(
        &client,
        &payer,
        &classic,
        &[(alice.pubkey(), 10_050), (bob, 700)],
    )
    .await;
    let points = mint_with_holders(&client, &payer, &token22, &[(alice.pubkey(), 3)]).await;
    let alice_coins = ata(&alice.pubkey(), &coins, &classic);
    let alice_points = ata(&alice.pubkey(), &points, &token22);
    send(
        &client,
        &[token::approve(&classic, &alice_coins, &bob, &alice.pubkey(), &[], 25).unwrap()],
        &alice,
        &[],
    )
    .await;

    // By owner and mint: jsonParsed with the mint's decimals.
    let by_mint = client
        .get_token_accounts_by_owner(&alice.pubkey(), TokenAccountsFilter::Mint(coins))
        .await
        .unwrap();
    assert_eq!(by_mint.len(), 1);
    assert_eq!(by_mint[0].pubkey, alice_coins.to_string());
    let info = &parsed(&by_mint[0].account.data)["info"];
    assert_eq!(info["tokenAmount"]["uiAmountString"], "100.5");
    assert_eq!(info["tokenAmount"]["decimals"], 2);
    assert_eq!(info["owner"], alice.pubkey().to_string());
    assert_eq!(info["delegate"], bob.to_string());
    assert_eq!(info["delegatedAmount"]["amount"], "25");
    assert_eq!(info["state"], "initialized");

    // By owner and program: Token-2022 accounts carry their extensions.
    let by_program = client
        .get_token_accounts_by_owner(&alice.pubkey(), TokenAccountsFilter::ProgramId(token22))
        .await
        .unwrap();
    assert_eq!(by_program.len(), 1);
    assert_eq!(by_program[0].pubkey, alice_points.to_string());
    let UiAccountData::Json(account) = &by_program[0].account.data else {
        panic!("jsonParsed");
    };
    assert_eq!(account.program, "spl-token-2022");
    assert_eq!(
        account.parsed["info"]["tokenAmount"]["uiAmountString"],
        "0.03"
    );
    assert_eq!(
        account.parsed["info"]["extensions"][0]["extension"],
        "immutableOwner"
    );

    // By delegate.
    let delegated = client
        .get_token_accounts_by_delegate(&bob, TokenAccountsFilter::ProgramId(classic))
        .await
        .unwrap();
    assert_eq!(
        delegated
            .iter()
            .map(|a| a.pubkey.clone())
            .collect::<Vec<_>>(),
        vec![alice_coins.to_string()]
    );
    assert!(client
        .get_token_accounts_by_delegate(&alice.pubkey(), TokenAccountsFilter::Mint(coins))
        .await
        .unwrap()
        .is_empty());

    // Supply and holders, largest first.
    let supply = client.get_token_supply(&coins).await.unwrap();
    assert_eq!((supply.amount.as_str(), supply.decimals), ("10750", 2));
    let largest = client.get_token_largest_accounts(&coins).await.unwrap();
    assert_eq!(
        largest
            .iter()
            .map(|holder| (holder.address.clone(), holder.amount.amount.clone()))
            .collect::<Vec<_>>(),
        vec![
            (alice_coins.to_string(), "10050".into()),
            (ata(&bob, &coins, &classic).to_string(), "700".into())
        ]
    );
    assert_eq!(
        client
            .get_token_supply(&points)
            .await
            .unwrap()
            .ui_amount_string,
        "0.03"
    );

    // jsonParsed accounts: a mint, a Token-2022 account.
    let mint = client
        .get_ui_account_with_config(
            &coins,
            RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::JsonParsed),
                ..Default::default()
            },
        )
        .await;
    assert!(mint.is_ok(), "a mint decodes: {mint:?}");
    let raw = |method: &str, params: serde_json::Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
    };
    let mint_json = post_raw(
        &localnet,
        &raw(
            "getAccountInfo",
            json!([coins.to_string(), {"encoding": "jsonParsed"}]),
        ),
    )
    .await;
    assert_eq!(
        mint_json["result"]["value"]["data"]["parsed"]["type"],
        "mint"
    );
    assert_eq!(
        mint_json["result"]["value"]["data"]["parsed"]["info"]["supply"],
        "10750"
    );
    let points_json = post_raw(
        &localnet,
        &raw(
            "getMultipleAccounts",
            json!([[alice_points.to_string()], {"encoding": "jsonParsed"}]),
        ),
    )
    .await;
    assert_eq!(
        points_json["result"]["value"][0]["data"]["parsed"]["info"]["tokenAmount"]["amount"],
        "3"
    );

    // Other encodings: base64 by owner; binary refused for 165 bytes.
    let base64 = post_raw(
        &localnet,
        &raw(
            "getTokenAccountsByOwner",
            json!([alice.pubkey().to_string(), {"mint": coins.to_string()}, {"encoding": "base64"}]),
        ),
    )
    .await;
    assert_eq!(base64["result"]["value"][0]["account"]["data"][1], "base64");
    let binary = post_raw(
        &localnet,
        &raw(
            "getTokenAccountsByOwner",
            json!([alice.pubkey().to_string(), {"mint": coins.to_string()}]),
        ),
    )
    .await;
    assert_eq!(binary["error"]["code"], -32600);
    assert_eq!(
        binary["error"]["message"],
        "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."
    );

    // What names no token, refused with Agave's messages.
    let alice_key = alice.pubkey().to_string();
    let system = solana_system_interface::program::ID.to_string();
    let nobody = Keypair::new().pubkey().to_string();
    for (method, params, message) in [
        (
            "getTokenAccountsByOwner",
            json!([alice_key, {"programId": system}]),
            "Invalid param: unrecognized Token program id",
        ),
        (
            "getTokenAccountsByOwner",
            json!([alice_key, {"mint": nobody}]),
            "Invalid param: could not find mint",
        ),
        (
            "getTokenSupply",
            json!([alice_key]),
            "Invalid param: not a Token mint",
        ),
        (
            "getTokenLargestAccounts",
            json!([alice_coins.to_string()]),
            "Invalid param: Token mint could not be unpacked",
        ),
        (
            "getTokenSupply",
            json!([alice_coins.to_string()]),
            "Invalid param: mint could not be unpacked",
        ),
    ] {
        let answer = post_raw(&localnet, &raw(method, params)).await;
        assert_eq!(answer["error"]["code"], -32602, "{method}: {answer}");
        assert_eq!(answer["error"]["message"], message, "{method}: {answer}");
    }
    // A scan of the token program as explorers run it: initialized accounts
    // of one owner, parsed, with the context slot.
    let scan = post_raw(
        &localnet,
        &raw(
            "getProgramAccounts",
            json!([classic.to_string(), {
                "encoding": "jsonParsed",
                "withContext": true,
                "filters": ["tokenAccountState", {"memcmp": {"offset": 32, "bytes": alice.pubkey().to_string()}}],
            }]),
        ),
    )
    .await;
    assert!(scan["result"]["context"]["slot"].is_u64(), "{scan}");
    let scanned = scan["result"]["value"].as_array().unwrap();
    assert_eq!(scanned.len(), 1, "{scan}");
    assert_eq!(scanned[0]["pubkey"], alice_coins.to_string());
    assert_eq!(
        scanned[0]["account"]["data"]["parsed"]["info"]["tokenAmount"]["decimals"],
        2
    );

    // A slice asked with jsonParsed: the parse wins and ignores it (Agave).
    let sliced = post_raw(
        &localnet,
        &raw(
            "getAccountInfo",
            json!([alice_coins.to_string(), {"encoding": "jsonParsed", "dataSlice": {"offset": 0, "length": 8}}]),
        ),
    )
    .await;
    assert_eq!(
        sliced["result"]["value"]["data"]["parsed"]["info"]["tokenAmount"]["amount"], "10050",
        "{sliced}"
    );
    localnet.shutdown().await;
}

/// A wallet watching its token account (`accountSubscribe`, jsonParsed) is
/// told the new balance with the mint's decimals, as Agave tells it.
#[tokio::test]
async fn a_token_account_subscription_is_notified_parsed() {
    use futures_util::StreamExt;
    let (localnet, client) = start().await;
    let payer = funded(&client, 10 * SOL).await;
    let classic = anchor_spl::token::ID;
    let holder = Keypair::new().pubkey();
    let coins = mint_with_holders(&client, &payer, &classic, &[(holder, 100)]).await;
    let account = ata(&holder, &coins, &classic);
    let pubsub =
        solana_pubsub_client::nonblocking::pubsub_client::PubsubClient::new(&localnet.pubsub_url())
            .await
            .unwrap();
    let (mut notifications, _unsubscribe) = pubsub
        .account_subscribe(
            &account,
            Some(RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::JsonParsed),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    send(
        &client,
        &[token::mint_to(&classic, &coins, &account, &payer.pubkey(), &[], 150).unwrap()],
        &payer,
        &[],
    )
    .await;
    let notified = tokio::time::timeout(std::time::Duration::from_secs(10), notifications.next())
        .await
        .expect("notified in time")
        .expect("a notification");
    assert_eq!(
        parsed(&notified.value.data)["info"]["tokenAmount"]["uiAmountString"],
        "2.5"
    );
    drop(notifications);
    localnet.shutdown().await;
}

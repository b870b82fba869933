//! A whole Sibyl request lifecycle through JSON-RPC and PubSub only, as the
//! node, the CLI and the web app will drive it: set-up, request, commit,
//! discovery by `getProgramAccounts` filters, the challenge window passing
//! in real slots, finalize, and the events read back with `getTransaction`.
use crate::{funded, program_accounts, send, start, SOL};
use anchor_lang::{event::EVENT_IX_TAG_LE, AnchorDeserialize, Discriminator};
use anchor_spl::{associated_token, token_2022::spl_token_2022::instruction as token};
use futures_util::StreamExt;
use sibyl::{
    constants::{REQUEST_MODEL_OFFSET, REQUEST_STATUS_OFFSET},
    events::{RequestFinalized, ResultCommitted},
    instruction as ix,
    instructions::{RegisterModelArgs, RequestInferenceArgs},
    state::{ComparisonRule, ConfigParams, DType, TensorSpec},
};
use sibyl_client::{
    accounts::{self, Payees, RequestParties, Tokens},
    instruction, pda,
};
use solana_keypair::Keypair;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_types::{
    config::RpcTransactionConfig,
    filter::{Memcmp, RpcFilterType},
};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, UiInstruction, UiTransactionEncoding,
};

const PRICE: u64 = 1_000_000;

/// The Sibyl events a confirmed transaction emitted (its self-invocations).
async fn events_of(client: &RpcClient, signature: &Signature) -> Vec<Vec<u8>> {
    let confirmed = client
        .get_transaction_with_config(
            signature,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let transaction = confirmed.transaction.transaction.decode().expect("decodes");
    let keys = transaction.message.static_account_keys().to_vec();
    let OptionSerializer::Some(inner) = confirmed.transaction.meta.unwrap().inner_instructions
    else {
        panic!("inner instructions recorded");
    };
    inner
        .iter()
        .flat_map(|group| group.instructions.iter())
        .filter_map(|instruction| match instruction {
            UiInstruction::Compiled(compiled)
                if keys[compiled.program_id_index as usize] == sibyl::ID =>
            {
                bs58::decode(&compiled.data).into_vec().ok()
            }
            _ => None,
        })
        .filter_map(|data| data.strip_prefix(EVENT_IX_TAG_LE).map(<[u8]>::to_vec))
        .collect()
}

fn decode<E: Discriminator + AnchorDeserialize>(events: &[Vec<u8>]) -> E {
    let body = events
        .iter()
        .find_map(|event| event.strip_prefix(E::DISCRIMINATOR))
        .expect("the event was emitted");
    E::deserialize(&mut &body[..]).unwrap()
}

#[tokio::test]
async fn a_request_from_payment_to_finalized_result_over_rpc() {
    let (localnet, client) = start().await;
    let pubsub = PubsubClient::new(&localnet.pubsub_url()).await.unwrap();
    let mint = Keypair::new();
    let mut wallets = Vec::new();
    for _ in 0..5 {
        wallets.push(funded(&client, 10 * SOL).await);
    }
    let [authority, publisher, requester, operator, treasury_owner]: [Keypair; 5] =
        wallets.try_into().unwrap();

    // A payment mint and an associated token account per wallet.
    let tokens = Tokens {
        mint: mint.pubkey(),
        token_program: anchor_spl::token::ID,
    };
    let ata = |wallet: &Keypair| {
        associated_token::get_associated_token_address(&wallet.pubkey(), &tokens.mint)
    };
    let mint_rent = client
        .get_minimum_balance_for_rent_exemption(82)
        .await
        .unwrap();
    let mut set_up = vec![
        solana_system_interface::instruction::create_account(
            &authority.pubkey(),
            &tokens.mint,
            mint_rent,
            82,
            &tokens.token_program,
        ),
        token::initialize_mint2(
            &tokens.token_program,
            &tokens.mint,
            &authority.pubkey(),
            None,
            6,
        )
        .unwrap(),
    ];
    for wallet in [&publisher, &requester, &operator, &treasury_owner] {
        set_up.push(associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(
            &authority.pubkey(),
            &wallet.pubkey(),
            &tokens.mint,
            &tokens.token_program,
        ));
        set_up.push(
            token::mint_to(
                &tokens.token_program,
                &tokens.mint,
                &ata(wallet),
                &authority.pubkey(),
                &[],
                100 * PRICE,
            )
            .unwrap(),
        );
    }
    send(&client, &set_up, &authority, &[&mint]).await;

    // The protocol, a model and an operator.
    let params = ConfigParams {
        protocol_fee_bps: 250,
        min_operator_stake: PRICE,
        challenge_window_slots: 6,
        challenge_bond: PRICE,
        vote_window_slots: 6,
        quorum_bps: 5_000,
        threshold_bps: 6_600,
        slash_bps: 2_000,
        voter_reward_bps: 5_000,
        unbonding_slots: 10,
        request_timeout_slots: 200,
        arbitration_window_slots: 10,
    };
    send(
        &client,
        &[instruction(
            accounts::initialize(authority.pubkey(), tokens, ata(&treasury_owner)),
            ix::Initialize { params },
        )],
        &authority,
        &[],
    )
    .await;
    let model_hash = [9u8; 32];
    let model = pda::model(&model_hash);
    let args = RegisterModelArgs {
        model_hash,
        profile_id: [1; 32],
        uri: "file://models/digits.onnx".into(),
        price: PRICE,
        royalty_bps: 1_000,
        inputs: vec![TensorSpec {
            name: "pixels".to_string(),
            dtype: DType::Float32,
            shape: vec![1, 64],
        }],
        outputs: vec![TensorSpec {
            name: "probabilities".to_string(),
            dtype: DType::Float32,
            shape: vec![1, 10],
        }],
        output_views: vec![],
        referee: None,
        max_input_bytes: 512,
        max_output_bytes: 128,
        comparison: ComparisonRule::TopK {
            k: 1,
            tie_margin: 1e-4,
        },
        challenge_window_override_slots: None,
    };
    send(
        &client,
        &[instruction(
            accounts::register_model(publisher.pubkey(), ata(&publisher), &model_hash, tokens),
            ix::RegisterModel { args },
        )],
        &publisher,
        &[],
    )
    .await;
    send(
        &client,
        &[instruction(
            accounts::register_operator(
                operator.pubkey(),
                ata(&operator),
                operator.pubkey(),
                ata(&operator),
                tokens,
            ),
            ix::RegisterOperator { stake: 10 * PRICE },
        )],
        &operator,
        &[],
    )
    .await;

    // The requester pays for an inference.
    let nonce = 1;
    let request_accounts =
        accounts::request_inference(requester.pubkey(), ata(&requester), model, nonce, tokens);
    let request = request_accounts.request;
    let input = vec![7u8; 64];
    send(
        &client,
        &[instruction(
            request_accounts,
            ix::RequestInference {
                args: RequestInferenceArgs {
                    nonce,
                    fee: PRICE,
                    input_len: 64,
                    input,
                    input_reference: None,
                    callback: None,
                    max_challenge_window_slots: None,
                },
            },
        )],
        &requester,
        &[],
    )
    .await;

    // The operator finds pending requests for its model by memcmp filters.
    let pending = program_accounts(
        &client,
        &sibyl::ID,
        vec![
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                REQUEST_MODEL_OFFSET,
                model.as_ref(),
            )),
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(REQUEST_STATUS_OFFSET, &[0])),
        ],
    )
    .await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, request);

    // It commits, and the requester waits for the commit through PubSub.
    let output = sibyl::encoding::encode(&[sibyl::encoding::Tensor::from_f32(
        "probabilities",
        vec![1, 10],
        &[0.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],
    )
    .unwrap()]);
    let commit = instruction(
        accounts::commit_result(operator.pubkey(), request, model),
        ix::CommitResult {
            sequence: 1,
            whole_output_sha256: sibyl::hashing::whole_output_sha256(&output),
            trace_root: None,
            output,
        },
    );
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let commit_tx = Transaction::new_signed_with_payer(
        &[commit],
        Some(&operator.pubkey()),
        &[&operator],
        blockhash,
    );
    let (mut confirmation, _unsubscribe) = pubsub
        .signature_subscribe(&commit_tx.signatures[0], None)
        .await
        .unwrap();
    client.send_transaction(&commit_tx).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), confirmation.next())
        .await
        .expect("commit confirmed in time")
        .expect("notification");
    let committed: ResultCommitted = decode(&events_of(&client, &commit_tx.signatures[0]).await);
    assert_eq!(committed.request, request);
    assert_eq!(committed.operator, pda::operator(&operator.pubkey()));

    // The window passes in real slots; anyone finalizes.
    while client.get_slot().await.unwrap() <= committed.challenge_deadline_slot {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let parties = RequestParties {
        request,
        requester: requester.pubkey(),
        model,
        operator: pda::operator(&operator.pubkey()),
        dispute: pda::dispute(&model, 1),
        refund_token: ata(&requester),
    };
    let payees = Payees {
        operator_token: ata(&operator),
        publisher_token: ata(&publisher),
    };
    let finalize = send(
        &client,
        &[instruction(
            accounts::finalize(authority.pubkey(), parties, payees, tokens),
            ix::Finalize {},
        )],
        &authority,
        &[],
    )
    .await;
    let finalized: RequestFinalized = decode(&events_of(&client, &finalize).await);
    assert_eq!(finalized.payee_amount, 875_000);
    let operator_balance = client
        .get_token_account_balance(&ata(&operator))
        .await
        .unwrap();
    assert_eq!(
        operator_balance.amount,
        (100 * PRICE - 10 * PRICE + 875_000).to_string()
    );
    let account = client.get_account(&request).await.unwrap();
    assert_eq!(account.data[REQUEST_STATUS_OFFSET], 3, "Finalized");
    localnet.shutdown().await;
}

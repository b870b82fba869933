//! Inputs by reference and their data-availability game: a request names
//! its input by SHA-256 and URI, a staked operator that cannot fetch it
//! demands it on chain, and the requester writes it within the window or
//! the request is voided with nobody paid or slashed. Every rule broken
//! once, with its named error; every path with exact balances.
use anchor_lang::prelude::Pubkey;
use sibyl::{
    constants::{MAX_INPUT_URI_LEN, REQUEST_HEAD_LEN},
    errors::SibylError,
    events::{InputDemanded, RequestVoided},
    hashing,
    instructions::InputReference,
    state::{InferenceRequest, InputBufferHeader, RequestStatus},
};
use sibyl_client::pda;
use sibyl_tests::{
    assert_sibyl_error,
    env::{MODEL_PRICE, OPERATOR_STAKE},
    output, Events, TestEnv, TxResult,
};
use solana_signer::Signer;
use solana_transaction_error::TransactionError;

/// A request's result as a transaction's, for the error assertions.
fn tx(result: Result<Pubkey, TransactionError>) -> TxResult {
    result.map(|_| Events::default())
}

const URI: &str = "https://inputs.example/digit-2.bin";

/// A 64-float input's worth of bytes, distinct per `seed`.
fn input(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| (k as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn a_request_by_reference_carries_its_hash_and_uri_and_no_input_bytes() {
    let mut env = TestEnv::new().await;
    let bytes = input(1, 3_000);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    let state = env.request_account(request).await;
    assert_eq!(state.input_uri, URI);
    assert_eq!(state.input_hash, hashing::input_hash(&bytes));
    assert_eq!(state.input_len, 3_000);
    assert!(state.input.is_empty());
    assert!(state.is_by_reference() && !state.awaiting_input());
    // The account holds the URI and the output bound, not the input.
    let model = env.model_account(env.model()).await;
    let data = env.account_data(request).await;
    assert_eq!(
        data.len(),
        InferenceRequest::space(URI.len(), 0, model.max_output_bytes)
    );
    // The head ends with the upload deadline, the input buffer, the whole
    // output's hash, the trace root and the open games: zero until a
    // demand and a commitment.
    assert!(data[REQUEST_HEAD_LEN - 108..REQUEST_HEAD_LEN]
        .iter()
        .all(|&b| b == 0));

    // Served and final like any request; the output hash binds the
    // declared input hash.
    let honest = output(b"honest");
    env.commit(0, request, &honest).await.unwrap();
    let state = env.request_account(request).await;
    assert_eq!(
        state.output_hash,
        hashing::output_hash(&state.model_hash, &hashing::input_hash(&bytes), &honest)
    );
    env.warp_slots(60).await;
    env.finalize(request).await.unwrap();
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Finalized
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn request_inference_refuses_a_malformed_reference() {
    let mut env = TestEnv::new().await;
    let bytes = input(2, 100);
    let sha256 = hashing::input_hash(&bytes);
    let long = format!("https://{}", "a".repeat(MAX_INPUT_URI_LEN - 7));
    for uri in [
        "",
        "https://",
        "http://",
        "ftp://inputs.example/x",
        "inputs.example/x",
        "https://inputs.example/a b",
        "https://inputs.example/\n",
        "https://inputs.example/é",
        long.as_str(),
    ] {
        let result = env
            .send_request_by_reference(&bytes, |args| {
                args.input_reference = Some(InputReference {
                    sha256,
                    uri: uri.to_string(),
                })
            })
            .await;
        assert_sibyl_error(tx(result), SibylError::InvalidInputReference);
    }
    // A hash of nothing, and inline bytes beside a reference.
    let zero = env
        .send_request_by_reference(&bytes, |args| {
            args.input_reference.as_mut().unwrap().sha256 = [0; 32]
        })
        .await;
    assert_sibyl_error(tx(zero), SibylError::InvalidInputReference);
    let both = env
        .send_request_by_reference(&bytes, |args| args.input = bytes[..10].to_vec())
        .await;
    assert_sibyl_error(tx(both), SibylError::InvalidInputReference);
    // The model's input bound holds for referenced inputs too.
    let too_large = env
        .send_request_by_reference(&bytes, |args| args.input_len = 4_097)
        .await;
    assert_sibyl_error(tx(too_large), SibylError::InputTooLarge);
    // The longest URI allowed is taken, with each scheme (nodes decide
    // what they fetch).
    for scheme in ["file://", "http://", "https://"] {
        let longest = format!("{scheme}{}", "a".repeat(MAX_INPUT_URI_LEN - scheme.len()));
        env.send_request_by_reference(&bytes, |args| {
            args.input_reference.as_mut().unwrap().uri = longest.clone()
        })
        .await
        .unwrap();
    }
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_demanded_input_stops_the_challenge_clock_until_written_then_restarts_it_in_full() {
    let mut env = TestEnv::new().await;
    let bytes = input(3, 700);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    // Never into the request account, and nothing before a demand.
    assert_sibyl_error(
        env.write_input(request, 0, &bytes).await,
        SibylError::InputIsByReference,
    );
    let watcher = env.operators[2].wallet.insecure_clone();
    assert_sibyl_error(
        env.write_input_buffer(&watcher, request, 0, &bytes).await,
        SibylError::InputNotDemanded,
    );
    env.commit(0, request, &output(b"honest")).await.unwrap();
    let committed = env.request_account(request).await;
    // Not challengeable while the input is off chain: a URI may serve some
    // voters only.
    assert_sibyl_error(
        env.challenge(request, &output(b"wrong")).await,
        SibylError::InputNotOnChain,
    );

    // Late in the window, so that its upload window outlasts it.
    env.warp_slots(30).await;
    let events = env.demand_input(1, request).await.unwrap();
    let demanded = env.request_account(request).await;
    assert_eq!(demanded.input_demanded_by, env.operator(1));
    let slot = env.slot().await;
    // The commit timeout (40) plus 3 slots for its one 800-byte chunk.
    assert_eq!(demanded.input_upload_deadline_slot, slot + 43);
    assert_eq!(
        events.one::<InputDemanded>().upload_deadline_slot,
        slot + 43
    );
    assert!(demanded.awaiting_input());

    // Past the original window: nothing finalizes or opens a dispute.
    env.warp_slots(committed.challenge_deadline_slot - slot + 1)
        .await;
    assert_sibyl_error(env.finalize(request).await, SibylError::InputAwaitingUpload);
    assert_sibyl_error(
        env.challenge(request, &output(b"wrong")).await,
        SibylError::InputAwaitingUpload,
    );

    // Bytes that are not the declared input are refused, and nothing is
    // written.
    let mut forged = bytes.clone();
    forged[0] ^= 1;
    let forger = env.challenger.wallet.insecure_clone();
    assert_sibyl_error(
        env.write_input_buffer(&forger, request, 0, &forged).await,
        SibylError::InputHashMismatch,
    );
    let forged_buffer = pda::input_buffer_of(&request, &demanded, &forger.pubkey());
    assert!(!env.exists(forged_buffer).await);

    // The real bytes, written by a watcher that holds them, restart the
    // window in full; the request account does not grow.
    let size_before = env.account_data(request).await.len();
    env.write_input_buffer(&watcher, request, 0, &bytes)
        .await
        .unwrap();
    let written = env.request_account(request).await;
    let slot = env.slot().await;
    let buffer = pda::input_buffer_of(&request, &written, &watcher.pubkey());
    assert!(!written.awaiting_input() && written.input_complete());
    assert_eq!(written.input_buffer, buffer);
    assert!(written.input.is_empty());
    assert_eq!(written.input_upload_deadline_slot, 0);
    assert_eq!(written.challenge_deadline_slot, slot + 50);
    assert_eq!(env.account_data(request).await.len(), size_before);
    let data = env.account_data(buffer).await;
    let (header, held) = InputBufferHeader::parse(&data).unwrap();
    assert_eq!(held, bytes);
    assert_eq!(header.writer, watcher.pubkey());
    assert_eq!(
        (header.request, header.sequence),
        (request, written.sequence)
    );
    assert_sibyl_error(env.finalize(request).await, SibylError::ChallengeWindowOpen);
    // A second demand is refused: one per request bounds the delay.
    assert_sibyl_error(
        env.demand_input(2, request).await,
        SibylError::InputAlreadyDemanded,
    );
    // Watchers can judge now.
    env.challenge(request, &output(b"other")).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_demand_while_pending_holds_the_commit_until_written_then_gives_a_whole_timeout() {
    let mut env = TestEnv::new().await;
    let bytes = input(4, 2_000);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    env.demand_input(1, request).await.unwrap();
    assert_sibyl_error(
        env.commit(0, request, &output(b"honest")).await,
        SibylError::InputAwaitingUpload,
    );
    env.warp_slots(30).await;
    let requester = env.requester.wallet.insecure_clone();
    env.write_whole_input_buffer(&requester, request, &bytes)
        .await
        .unwrap();
    let state = env.request_account(request).await;
    let slot = env.slot().await;
    assert!(state.input_complete());
    assert_eq!(state.deadline_slot, slot + 40);
    // The request's own deadline would have passed by now.
    env.warp_slots(20).await;
    env.commit(0, request, &output(b"honest")).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn demand_input_refuses_whoever_may_not_demand_and_whenever_it_is_late() {
    let mut env = TestEnv::new().await;
    let bytes = input(5, 100);

    // An input on chain has nothing to demand.
    let on_chain = env.request(&bytes).await;
    assert_sibyl_error(
        env.demand_input(1, on_chain).await,
        SibylError::InputNotByReference,
    );

    // The committer claimed to have the input.
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    env.commit(0, request, &output(b"honest")).await.unwrap();
    assert_sibyl_error(
        env.demand_input(0, request).await,
        SibylError::CommitterCannotDemand,
    );
    // An operator with no active stake may not demand.
    env.request_unstake(2, OPERATOR_STAKE).await.unwrap();
    assert_sibyl_error(
        env.demand_input(2, request).await,
        SibylError::OperatorNotEligible,
    );
    // Someone with no operator account at all.
    let stranger = env.challenger.wallet.insecure_clone();
    let accounts = sibyl_client::accounts::demand_input(stranger.pubkey(), request);
    let result = env
        .send(
            accounts,
            sibyl::instruction::DemandInput { sequence: 2 },
            &[&stranger],
        )
        .await;
    sibyl_tests::assert_anchor_error(result, anchor_lang::error::ErrorCode::AccountNotInitialized);
    // A demand computed for another instance of the address.
    let accounts = sibyl_client::accounts::demand_input(env.operators[1].key(), request);
    let wallet = env.operators[1].wallet.insecure_clone();
    let result = env
        .send(
            accounts,
            sibyl::instruction::DemandInput { sequence: 99 },
            &[&wallet],
        )
        .await;
    assert_sibyl_error(result, SibylError::RequestInstanceMismatch);
    // After the challenge window: too late.
    env.warp_slots(51).await;
    assert_sibyl_error(
        env.demand_input(1, request).await,
        SibylError::InputDemandClosed,
    );
    env.finalize(request).await.unwrap();
    assert_sibyl_error(
        env.demand_input(1, request).await,
        SibylError::InputDemandClosed,
    );

    // Past a pending request's deadline: too late as well.
    let late = env.request_by_reference(&bytes, URI).await.unwrap();
    env.warp_slots(41).await;
    assert_sibyl_error(
        env.demand_input(1, late).await,
        SibylError::InputDemandClosed,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_committed_request_whose_demanded_input_never_comes_is_voided_with_nobody_paid_or_slashed(
) {
    let mut env = TestEnv::new().await;
    let bytes = input(6, 1_500);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    env.commit(0, request, &output(b"honest")).await.unwrap();
    let operator_before = env.operator_account(0).await;
    assert_eq!(operator_before.open_commitments, 1);
    // Nothing to void before a demand.
    assert_sibyl_error(env.void(request).await, SibylError::NotVoidable);
    env.demand_input(1, request).await.unwrap();
    // Half the input, then silence.
    let requester = env.requester.wallet.insecure_clone();
    env.write_input_buffer(&requester, request, 0, &bytes[..800])
        .await
        .unwrap();
    assert_sibyl_error(env.void(request).await, SibylError::NotVoidable);
    env.warp_slots(47).await;
    assert_sibyl_error(
        env.write_input_buffer(&requester, request, 800, &bytes[800..])
            .await,
        SibylError::InputUploadWindowClosed,
    );
    let state = env.request_account(request).await;
    // The committing operator's account must come along.
    let mut accounts = env.void_accounts(request).await;
    accounts.operator = None;
    let cranker = env.challenger.wallet.insecure_clone();
    let result = env
        .send(accounts, sibyl::instruction::VoidRequest {}, &[&cranker])
        .await;
    assert_sibyl_error(result, SibylError::WrongOperator);

    let requester_tokens = env.token_balance(env.requester.token).await;
    let requester_lamports = env.lamports(env.requester.key()).await;
    let rent = env.lamports(request).await + env.lamports(pda::escrow(&request)).await;
    let events = env.void(request).await.unwrap();
    let voided = events.one::<RequestVoided>();
    assert_eq!(voided.refunded, MODEL_PRICE);
    assert_eq!(voided.operator, Some(env.operator(0)));
    assert!(!env.exists(request).await);
    assert!(!env.exists(pda::escrow(&request)).await);
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_tokens + MODEL_PRICE
    );
    assert_eq!(
        env.lamports(env.requester.key()).await,
        requester_lamports + rent
    );
    let operator_after = env.operator_account(0).await;
    assert_eq!(operator_after.open_commitments, 0);
    assert_eq!(operator_after.stake, operator_before.stake);
    assert_eq!(
        operator_after.requests_served,
        operator_before.requests_served
    );
    // The half-written buffer: anyone closes it once the request is gone,
    // and its rent goes back to its writer.
    let buffer = pda::input_buffer_of(&request, &state, &requester.pubkey());
    let buffer_rent = env.lamports(buffer).await;
    assert!(buffer_rent > 0);
    let before = env.lamports(requester.pubkey()).await;
    let bystander = env.challenger.wallet.insecure_clone();
    env.close_input_buffer(
        &bystander,
        request,
        state.model,
        state.sequence,
        requester.pubkey(),
    )
    .await
    .unwrap();
    assert!(!env.exists(buffer).await);
    assert_eq!(env.lamports(requester.pubkey()).await, before + buffer_rent);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_pending_request_whose_demanded_input_never_comes_is_voided_and_refunded() {
    let mut env = TestEnv::new().await;
    let bytes = input(7, 100);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    env.warp_slots(20).await;
    env.demand_input(1, request).await.unwrap();
    // Past the request's deadline, the requester may still write it: it
    // does not expire.
    env.warp_slots(25).await;
    assert_sibyl_error(env.expire(request).await, SibylError::InputAwaitingUpload);
    assert_sibyl_error(env.void(request).await, SibylError::NotVoidable);
    env.warp_slots(19).await;
    let requester_tokens = env.token_balance(env.requester.token).await;
    env.void(request).await.unwrap();
    assert!(!env.exists(request).await);
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_tokens + MODEL_PRICE
    );
    // A request written in time is no longer voidable.
    let kept = env.request_by_reference(&bytes, URI).await.unwrap();
    env.demand_input(1, kept).await.unwrap();
    let requester = env.requester.wallet.insecure_clone();
    env.write_input_buffer(&requester, kept, 0, &bytes)
        .await
        .unwrap();
    env.warp_slots(42).await;
    assert_sibyl_error(env.void(kept).await, SibylError::NotVoidable);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn an_input_on_chain_grows_its_account_chunk_by_chunk_paid_by_the_requester() {
    let mut env = TestEnv::new().await;
    let bytes = input(8, 4_096);
    let nonce = env.next_nonce();
    let accounts = env.request_accounts(&env.requester, env.model(), nonce);
    let request = accounts.request;
    let requester = env.requester.wallet.insecure_clone();
    env.send_request(
        accounts,
        sibyl::instructions::RequestInferenceArgs {
            nonce,
            fee: MODEL_PRICE,
            input_len: 4_096,
            input: bytes[..480].to_vec(),
            input_reference: None,
            callback: None,
            max_challenge_window_slots: None,
        },
        &requester,
    )
    .await
    .unwrap();
    let model = env.model_account(env.model()).await;
    assert_eq!(
        env.account_data(request).await.len(),
        InferenceRequest::space(0, 480, model.max_output_bytes)
    );
    env.write_whole_input(request, &bytes).await.unwrap();
    let size = InferenceRequest::space(0, 4_096, model.max_output_bytes);
    assert_eq!(env.account_data(request).await.len(), size);
    assert_eq!(env.lamports(request).await, env.rent_exempt(size).await);
    let state = env.request_account(request).await;
    assert_eq!(state.input, bytes);
    assert_eq!(state.input_hash, hashing::input_hash(&bytes));
    // Written in full: one more byte is refused.
    assert_sibyl_error(
        env.write_input(request, 4_096, &[0]).await,
        SibylError::InputAlreadyComplete,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn no_writer_can_spoil_another_and_a_buffer_in_use_stays_until_the_result_is_final() {
    let mut env = TestEnv::new().await;
    let bytes = input(9, 1_200);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    env.commit(0, request, &output(b"honest")).await.unwrap();
    env.demand_input(1, request).await.unwrap();
    let state = env.request_account(request).await;

    // A saboteur writes garbage first, into its own buffer only.
    let saboteur = env.challenger.wallet.insecure_clone();
    env.write_input_buffer(&saboteur, request, 0, &[0xee; 800])
        .await
        .unwrap();
    // A bystander's donation to a writer's buffer address does not keep
    // it from its buffer.
    let watcher = env.operators[2].wallet.insecure_clone();
    let watcher_buffer = pda::input_buffer_of(&request, &state, &watcher.pubkey());
    env.donate_lamports(watcher_buffer, 1_000_000).await;
    // The committing operator may answer the demand too; here a watcher's
    // copy completes first and becomes the input.
    env.write_whole_input_buffer(&watcher, request, &bytes)
        .await
        .unwrap();
    assert_eq!(
        env.request_account(request).await.input_buffer,
        watcher_buffer
    );
    assert_eq!(
        env.lamports(watcher_buffer).await,
        env.rent_exempt(sibyl::state::INPUT_BUFFER_HEADER_LEN + 1_200)
            .await
            .max(1_000_000)
    );
    assert_sibyl_error(
        env.write_input_buffer(&saboteur, request, 800, &bytes[800..])
            .await,
        SibylError::InputAlreadyComplete,
    );

    // While the request is open: the input stays, and another writer's
    // buffer closes only at its writer's word.
    let bystander = env.requester.wallet.insecure_clone();
    let (model, sequence) = (state.model, state.sequence);
    assert_sibyl_error(
        env.close_input_buffer(&saboteur, request, model, sequence, watcher.pubkey())
            .await,
        SibylError::InputBufferInUse,
    );
    assert_sibyl_error(
        env.close_input_buffer(&watcher, request, model, sequence, watcher.pubkey())
            .await,
        SibylError::InputBufferInUse,
    );
    assert_sibyl_error(
        env.close_input_buffer(&bystander, request, model, sequence, saboteur.pubkey())
            .await,
        SibylError::InputBufferInUse,
    );
    // A buffer named for another writer, or not a buffer at all.
    assert_sibyl_error(
        env.close_input_buffer(&bystander, request, model, sequence, bystander.pubkey())
            .await,
        SibylError::WrongInputBuffer,
    );
    env.close_input_buffer(&saboteur, request, model, sequence, saboteur.pubkey())
        .await
        .unwrap();

    // Final: anyone closes the input's buffer, its rent to its writer.
    env.warp_slots(51).await;
    env.finalize(request).await.unwrap();
    let rent = env.lamports(watcher_buffer).await;
    let before = env.lamports(watcher.pubkey()).await;
    env.close_input_buffer(&bystander, request, model, sequence, watcher.pubkey())
        .await
        .unwrap();
    assert_eq!(env.lamports(watcher.pubkey()).await, before + rent);
    assert!(!env.exists(watcher_buffer).await);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_demanded_input_may_be_written_while_the_protocol_is_paused_and_carried_inputs_stay_small(
) {
    let mut env = TestEnv::new().await;
    let bytes = input(10, 300);
    let request = env.request_by_reference(&bytes, URI).await.unwrap();
    env.demand_input(1, request).await.unwrap();
    env.set_paused(true).await.unwrap();
    let requester = env.requester.wallet.insecure_clone();
    env.write_input_buffer(&requester, request, 0, &bytes)
        .await
        .unwrap();
    assert!(env.request_account(request).await.input_complete());
    env.set_paused(false).await.unwrap();

    // A model taking 20 KB: carried, its input is refused (the program's
    // heap holds every request it reads); by reference it is taken.
    let mut args = sibyl_tests::env::default_model_args([44; 32]);
    args.max_input_bytes = 20_000;
    env.register_model(args).await.unwrap();
    let model = pda::model(&[44; 32]);
    let big = input(11, 9_000);
    let nonce = env.next_nonce();
    let accounts = env.request_accounts(&env.requester, model, nonce);
    let carried = sibyl::instructions::RequestInferenceArgs {
        nonce,
        fee: MODEL_PRICE,
        input_len: 9_000,
        input: big[..400].to_vec(),
        input_reference: None,
        callback: None,
        max_challenge_window_slots: None,
    };
    let result = env.send_request(accounts, carried, &requester).await;
    assert_sibyl_error(result, SibylError::InputTooLarge);
    let nonce = env.next_nonce();
    let accounts = env.request_accounts(&env.requester, model, nonce);
    let referenced = sibyl::instructions::RequestInferenceArgs {
        nonce,
        fee: MODEL_PRICE,
        input_len: 9_000,
        input: Vec::new(),
        input_reference: Some(InputReference {
            sha256: hashing::input_hash(&big),
            uri: URI.to_string(),
        }),
        callback: None,
        max_challenge_window_slots: None,
    };
    env.send_request(accounts, referenced, &requester)
        .await
        .unwrap();
    env.assert_tokens_conserved().await;
}

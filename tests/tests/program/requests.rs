//! Requests, input upload, cancel, expire, commit, finalize and close: each
//! rule broken once, with its named error.
use anchor_lang::error::ErrorCode;
use sibyl::{
    errors::SibylError, hashing::whole_output_sha256, instruction as ix,
    instructions::RequestInferenceArgs,
};
use sibyl_client::pda;
use sibyl_tests::{
    assert_anchor_error, assert_sibyl_error, env::MODEL_PRICE, output, TestEnv, TxResult,
};
use solana_instruction::error::InstructionError;
use solana_transaction_error::TransactionError;

/// `TokenError::InsufficientFunds` of SPL Token.
const SPL_TOKEN_INSUFFICIENT_FUNDS: u32 = 1;

async fn request_with(env: &mut TestEnv, args: impl FnOnce(&mut RequestInferenceArgs)) -> TxResult {
    request_with_accounts(env, |_| {}, args).await
}

/// Sends a 4-byte request after letting the test change its accounts and arguments.
async fn request_with_accounts(
    env: &mut TestEnv,
    accounts: impl FnOnce(&mut sibyl::accounts::RequestInference),
    args: impl FnOnce(&mut RequestInferenceArgs),
) -> TxResult {
    let nonce = env.next_nonce();
    let mut request_accounts = env.request_accounts(&env.requester, env.model(), nonce);
    accounts(&mut request_accounts);
    let mut request_args = RequestInferenceArgs {
        nonce,
        fee: MODEL_PRICE,
        input_len: 4,
        input: vec![1, 2, 3, 4],
        input_reference: None,
        callback: None,
        max_challenge_window_slots: None,
    };
    args(&mut request_args);
    let requester = env.requester.wallet.insecure_clone();
    env.send_request(request_accounts, request_args, &requester)
        .await
}

#[tokio::test]
async fn request_rejects_bad_fees_and_inputs() {
    let mut env = TestEnv::new().await;
    assert_sibyl_error(
        request_with(&mut env, |a| a.fee = MODEL_PRICE - 1).await,
        SibylError::FeeBelowPrice,
    );
    assert_sibyl_error(
        request_with(&mut env, |a| {
            a.input_len = 0;
            a.input.clear();
        })
        .await,
        SibylError::EmptyInput,
    );
    assert_sibyl_error(
        request_with(&mut env, |a| a.input_len = 4_097).await,
        SibylError::InputTooLarge,
    );
    assert_sibyl_error(
        request_with(&mut env, |a| a.input_len = 3).await,
        SibylError::InputOverflow,
    );
    // More than the requester holds: the token program refuses, nothing moves.
    let too_much = request_with(&mut env, |a| a.fee = u64::MAX).await;
    assert!(
        matches!(
            too_much,
            Err(TransactionError::InstructionError(
                _,
                InstructionError::Custom(SPL_TOKEN_INSUFFICIENT_FUNDS)
            ))
        ),
        "{too_much:?}"
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn request_rejects_someone_elses_token_account() {
    let mut env = TestEnv::new().await;
    let theirs = env.challenger.token;
    let result = request_with_accounts(&mut env, |a| a.requester_token = theirs, |_| {}).await;
    assert_sibyl_error(result, SibylError::WrongTokenOwner);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn request_rejects_a_token_account_of_another_mint() {
    let mut env = TestEnv::new().await;
    let requester = env.requester.key();
    let foreign = env.create_foreign_token_account(&requester).await;
    let result = request_with_accounts(&mut env, |a| a.requester_token = foreign, |_| {}).await;
    assert_sibyl_error(result, SibylError::WrongMint);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn request_for_an_unregistered_model_is_refused() {
    let mut env = TestEnv::new().await;
    let unregistered = pda::model(&[99; 32]);
    let result = request_with_accounts(&mut env, |a| a.model = unregistered, |_| {}).await;
    assert_anchor_error(result, ErrorCode::AccountNotInitialized);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn write_input_enforces_order_bounds_and_ownership() {
    let mut env = TestEnv::new().await;
    let request = request_with(&mut env, |a| {
        a.input_len = 10;
        a.input = vec![0; 4];
    })
    .await
    .map(|_| pda::request(&env.requester.key(), 1))
    .unwrap();
    assert_sibyl_error(
        env.write_input(request, 5, &[1]).await,
        SibylError::InputOffsetMismatch,
    );
    assert_sibyl_error(
        env.write_input(request, 4, &[1; 7]).await,
        SibylError::InputOverflow,
    );
    let mut accounts = env.write_input_accounts(request);
    accounts.requester = env.challenger.key();
    let stranger = env.challenger.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(
            accounts,
            ix::WriteInput {
                offset: 4,
                data: vec![1],
            },
            &[&stranger],
        )
        .await,
        SibylError::NotRequester,
    );
    env.write_input(request, 4, &[1; 6]).await.unwrap();
    assert_sibyl_error(
        env.write_input(request, 10, &[1]).await,
        SibylError::InputAlreadyComplete,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn cancel_is_for_the_requester_and_only_while_pending() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    let mut accounts = env.cancel_accounts(request);
    accounts.requester = env.challenger.key();
    accounts.requester_token = env.challenger.token;
    let stranger = env.challenger.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(accounts, ix::CancelRequest {}, &[&stranger]).await,
        SibylError::NotRequester,
    );
    env.commit(0, request, &output(b"out")).await.unwrap();
    assert_sibyl_error(env.cancel(request).await, SibylError::RequestNotPending);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn expire_only_after_the_deadline_of_a_pending_request() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    assert_sibyl_error(
        env.expire(request).await,
        SibylError::RequestDeadlineNotReached,
    );
    let mut accounts = env.expire_accounts(request).await;
    accounts.requester = env.challenger.key();
    let cranker = env.challenger.wallet.insecure_clone();
    env.warp_slots(env.params.request_timeout_slots + 1).await;
    assert_sibyl_error(
        env.send(accounts, ix::ExpireRequest {}, &[&cranker]).await,
        SibylError::WrongParty,
    );
    let committed = env.request(b"in").await;
    env.commit(0, committed, &output(b"out")).await.unwrap();
    env.warp_slots(env.params.request_timeout_slots + 1).await;
    assert_sibyl_error(env.expire(committed).await, SibylError::RequestNotPending);
    env.expire(request).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn commit_rules() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    assert_sibyl_error(env.commit(0, request, b"").await, SibylError::EmptyOutput);
    assert_sibyl_error(
        env.commit(0, request, &[1; 257]).await,
        SibylError::OutputTooLarge,
    );
    // Operator 1 signs with operator 0's account: the PDA does not match.
    let mut accounts = env.commit_accounts(1, request).await;
    accounts.operator = env.operator(0);
    let wallet = env.operators[1].wallet.insecure_clone();
    assert_anchor_error(
        env.send(
            accounts,
            ix::CommitResult {
                sequence: 1,
                output: output(b"x"),
                whole_output_sha256: whole_output_sha256(&output(b"x")),
                trace_root: None,
            },
            &[&wallet],
        )
        .await,
        ErrorCode::ConstraintSeeds,
    );
    env.commit(0, request, &output(b"out")).await.unwrap();
    assert_sibyl_error(
        env.commit(1, request, &output(b"out")).await,
        SibylError::RequestNotPending,
    );

    let late = env.request(b"in").await;
    env.warp_slots(env.params.request_timeout_slots + 1).await;
    assert_sibyl_error(
        env.commit(0, late, &output(b"out")).await,
        SibylError::RequestDeadlinePassed,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn commit_needs_an_eligible_operator() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    // Operator 2 unbonds below the minimum stake.
    env.request_unstake(2, 9_500_000).await.unwrap();
    assert_sibyl_error(
        env.commit(2, request, &output(b"out")).await,
        SibylError::OperatorNotEligible,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn finalize_rules() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    assert_sibyl_error(env.finalize(request).await, SibylError::RequestNotCommitted);
    env.commit(0, request, &output(b"out")).await.unwrap();
    assert_sibyl_error(env.finalize(request).await, SibylError::ChallengeWindowOpen);
    env.warp_slots(env.params.challenge_window_slots + 1).await;

    let cranker = env.challenger.wallet.insecure_clone();
    let mut accounts = env.finalize_accounts(request).await;
    accounts.fee_vault = env.requester.token;
    assert_anchor_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        ErrorCode::ConstraintSeeds,
    );
    let mut accounts = env.finalize_accounts(request).await;
    accounts.operator_token = env.challenger.token;
    assert_sibyl_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        SibylError::WrongPayoutAccount,
    );
    let mut accounts = env.finalize_accounts(request).await;
    accounts.publisher_token = env.challenger.token;
    assert_sibyl_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        SibylError::WrongPayoutAccount,
    );
    let mut accounts = env.finalize_accounts(request).await;
    accounts.operator = env.operator(1);
    assert_sibyl_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        SibylError::WrongOperator,
    );
    let mut accounts = env.finalize_accounts(request).await;
    accounts.requester = env.challenger.key();
    assert_sibyl_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        SibylError::WrongParty,
    );
    let mut other_model = sibyl_tests::env::default_model_args([3; 32]);
    other_model.uri = "file://other.onnx".into();
    env.register_model(other_model).await.unwrap();
    let mut accounts = env.finalize_accounts(request).await;
    accounts.model = pda::model(&[3; 32]);
    assert_sibyl_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        SibylError::WrongModel,
    );
    let mut accounts = env.finalize_accounts(request).await;
    accounts.escrow = pda::escrow(&env.operator(0));
    assert_anchor_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        ErrorCode::AccountNotInitialized,
    );

    env.finalize(request).await.unwrap();
    // Finalized: its escrow is closed, so a second finalize has nothing to pay from.
    assert_anchor_error(
        env.finalize(request).await,
        ErrorCode::AccountNotInitialized,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn close_request_only_when_settled_and_by_the_requester() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    assert_sibyl_error(
        env.close_request(request).await,
        SibylError::RequestNotSettled,
    );
    env.commit(0, request, &output(b"out")).await.unwrap();
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    env.finalize(request).await.unwrap();
    let stranger = env.challenger.wallet.insecure_clone();
    let accounts = sibyl::accounts::CloseRequest {
        requester: solana_signer::Signer::pubkey(&stranger),
        request,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    assert_sibyl_error(
        env.send(accounts, ix::CloseRequest {}, &[&stranger]).await,
        SibylError::NotRequester,
    );
    env.close_request(request).await.unwrap();
    env.assert_tokens_conserved().await;
}

/// Clients find open requests with `getProgramAccounts` memcmp filters; the
/// offsets documented in docs/decisions.md must hold.
#[tokio::test]
async fn request_layout_keeps_model_and_status_at_fixed_offsets() {
    use sibyl::constants::{REQUEST_MODEL_OFFSET, REQUEST_STATUS_OFFSET};
    let mut env = TestEnv::new().await;
    let request = env.request(b"input").await;
    let raw = |env: &mut TestEnv| {
        let banks = env.ctx.banks_client.clone();
        async move {
            banks
                .clone()
                .get_account(request)
                .await
                .unwrap()
                .unwrap()
                .data
        }
    };
    let data = raw(&mut env).await;
    assert_eq!(
        &data[REQUEST_MODEL_OFFSET..REQUEST_MODEL_OFFSET + 32],
        env.model().as_ref()
    );
    assert_eq!(data[REQUEST_STATUS_OFFSET], 0, "Pending");
    // The head ends with the refund account, the input demand (none yet),
    // the whole output's hash and the trace root (none yet) and the open
    // referee games (none); the comparison rule starts right after it.
    use anchor_lang::{AccountDeserialize, AccountSerialize};
    use sibyl::{
        constants::{REQUEST_DEADLINE_OFFSET, REQUEST_HEAD_LEN},
        state::ComparisonRule,
    };
    let state = sibyl::state::InferenceRequest::try_deserialize(&mut &data[..]).unwrap();
    assert_eq!(
        &data[REQUEST_DEADLINE_OFFSET..REQUEST_DEADLINE_OFFSET + 8],
        state.deadline_slot.to_le_bytes()
    );
    assert_eq!(
        &data[REQUEST_HEAD_LEN - 172..REQUEST_HEAD_LEN - 140],
        state.refund_token.as_ref()
    );
    assert_eq!(&data[REQUEST_HEAD_LEN - 140..REQUEST_HEAD_LEN], [0; 140]);
    let mut other_rule = state.clone();
    other_rule.comparison = match state.comparison {
        ComparisonRule::Exact => ComparisonRule::Tolerance { abs: 1.0, rel: 0.0 },
        _ => ComparisonRule::Exact,
    };
    let mut written = Vec::new();
    other_rule.try_serialize(&mut written).unwrap();
    let first_difference = data.iter().zip(&written).position(|(a, b)| a != b);
    assert_eq!(first_difference, Some(REQUEST_HEAD_LEN));
    env.commit(0, request, &output(b"out")).await.unwrap();
    let committed = raw(&mut env).await;
    assert_eq!(committed[REQUEST_STATUS_OFFSET], 1, "Committed");
    assert_ne!(&committed[..REQUEST_HEAD_LEN], &data[..REQUEST_HEAD_LEN]);
    env.assert_tokens_conserved().await;
}

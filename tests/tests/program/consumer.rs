//! Consuming results: the typed read (`InferenceRequest::final_result_no_older_than`)
//! and the callback `finalize` and dispute settlement make, both through the
//! example consumer (a digit bounty), and every refusal by name.
use anchor_lang::error::ErrorCode;
use example_consumer::errors::BountyError;
use sibyl::{
    callback::{CallbackAccount, CallbackData, CallbackSpec, CALLBACK_GRACE_SLOTS},
    errors::SibylError,
    events::CallbackInvoked,
    state::{RequestStatus, VoteSide},
};
use sibyl_sdk::ConsumerError;
use sibyl_tests::{
    assert_sibyl_error,
    consumer::{bounty_instruction, digit_output, BOUNTY_LAMPORTS},
    outcome::{assert_anchor_error, assert_error},
    TestEnv,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

const WINDOW: u64 = 50;

/// A request by the default requester, committed with `output` by operator
/// 0 and finalized once its window passed.
async fn finalized_request(env: &mut TestEnv, output: &[u8]) -> anchor_lang::prelude::Pubkey {
    let request = env.committed_request(0, output).await;
    env.warp_slots(WINDOW + 1).await;
    env.finalize(request).await.expect("finalized");
    request
}

/// The requester's lamports plus its request's escrow rent, which the
/// settlement returns to it (so a winner's balance rises by exactly the
/// reward over this).
async fn lamports_with_escrow_rent(
    env: &mut TestEnv,
    request: anchor_lang::prelude::Pubkey,
) -> u64 {
    let escrow_rent = env.lamports(sibyl_client::pda::escrow(&request)).await;
    env.lamports(env.requester.key()).await + escrow_rent
}

/// The bounty was won by the requester, whose lamports rose by exactly the
/// reward over `before` (see [`lamports_with_escrow_rent`]); no token moved
/// outside the protocol's accounts.
async fn assert_bounty_paid_to_the_requester(
    env: &mut TestEnv,
    bounty: anchor_lang::prelude::Pubkey,
    before: u64,
) {
    let requester = env.requester.key();
    assert_eq!(env.lamports(requester).await, before + BOUNTY_LAMPORTS);
    assert_eq!(env.bounty(bounty).await.winner, Some(requester));
    env.assert_tokens_conserved().await;
}

/// A bounty for a 7, and a request naming it as callback that operator 0
/// committed as `digit` and whose window has passed.
async fn settleable_bounty_request(
    env: &mut TestEnv,
    digit: usize,
) -> (anchor_lang::prelude::Pubkey, anchor_lang::prelude::Pubkey) {
    let bounty = env.create_bounty(1, 7, 1_000).await;
    let callback = env.bounty_callback(bounty);
    let request = env.request_with_callback(b"digit", callback).await.unwrap();
    env.commit(0, request, &digit_output(digit, 0.99))
        .await
        .unwrap();
    env.warp_slots(WINDOW + 1).await;
    (bounty, request)
}

#[tokio::test]
async fn a_bounty_is_claimed_with_a_finalized_result() {
    let mut env = TestEnv::new().await;
    let bounty = env.create_bounty(1, 3, 1_000).await;
    let request = finalized_request(&mut env, &digit_output(3, 0.97)).await;
    let requester = env.requester.wallet.insecure_clone();
    let before = env.lamports(requester.pubkey()).await;

    env.claim_with_result(bounty, request, &requester)
        .await
        .expect("claimed");

    assert_eq!(
        env.lamports(requester.pubkey()).await,
        before + BOUNTY_LAMPORTS
    );
    assert_eq!(env.bounty(bounty).await.winner, Some(requester.pubkey()));
    assert_error(
        env.claim_with_result(bounty, request, &requester).await,
        BountyError::AlreadyWon,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn the_read_helper_refuses_each_bad_result_by_name() {
    let mut env = TestEnv::new().await;
    let requester = env.requester.wallet.insecure_clone();
    let bounty = env.create_bounty(1, 3, 1_000).await;

    // The request is declared `Account<'info, InferenceRequest>`: Anchor
    // refuses an account Sibyl does not own (the bounty itself) and one of
    // Sibyl's that is not a request (the model account). The SDK's units
    // test `read_final_result`, which checks both itself.
    assert_anchor_error(
        env.claim_with_result(bounty, bounty, &requester).await,
        ErrorCode::AccountOwnedByWrongProgram,
    );
    let model = env.model();
    assert_anchor_error(
        env.claim_with_result(bounty, model, &requester).await,
        ErrorCode::AccountDiscriminatorMismatch,
    );
    // A committed result inside its window is not final.
    let committed = env.committed_request(0, &digit_output(3, 0.97)).await;
    assert_error(
        env.claim_with_result(bounty, committed, &requester).await,
        ConsumerError::ResultNotFinal,
    );
    // Final, but from another model than the bounty trusts.
    let other_model = env.create_bounty_for(2, [9; 32], 3, 1_000).await;
    env.warp_slots(WINDOW + 1).await;
    env.finalize(committed).await.unwrap();
    assert_error(
        env.claim_with_result(other_model, committed, &requester)
            .await,
        ConsumerError::WrongModel,
    );
    // Final, but older than the bounty accepts.
    let strict = env.create_bounty(3, 3, 10).await;
    assert_error(
        env.claim_with_result(strict, committed, &requester).await,
        ConsumerError::ResultTooOld,
    );
    // The bounty's own rules: someone else's result, the wrong digit.
    let stranger = Keypair::new();
    assert_error(
        env.claim_with_result(bounty, committed, &stranger).await,
        BountyError::ClaimantNotRequester,
    );
    let five = finalized_request(&mut env, &digit_output(5, 0.97)).await;
    assert_error(
        env.claim_with_result(bounty, five, &requester).await,
        BountyError::NotTargetDigit,
    );
    let unsure = finalized_request(&mut env, &digit_output(3, 0.5)).await;
    assert_error(
        env.claim_with_result(bounty, unsure, &requester).await,
        BountyError::NotTargetDigit,
    );
    // An output that is not a canonical tensor encoding is refused at
    // commit, so no consumer is ever handed one.
    let garbled = env.request(b"in").await;
    assert_sibyl_error(
        env.commit(0, garbled, b"not a tensor").await,
        SibylError::OutputNotCanonical,
    );
    // The right one still wins.
    env.claim_with_result(bounty, committed, &requester)
        .await
        .expect("claimed");
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn finalize_calls_back_the_consumer_named_at_request_time() {
    let mut env = TestEnv::new().await;
    let (bounty, request) = settleable_bounty_request(&mut env, 7).await;
    let before = lamports_with_escrow_rent(&mut env, request).await;

    let events = env
        .finalize(request)
        .await
        .expect("finalized with the callback");

    let invoked: CallbackInvoked = events.one();
    assert_eq!(
        (invoked.request, invoked.program, invoked.skipped),
        (request, example_consumer::ID, false)
    );
    assert_bounty_paid_to_the_requester(&mut env, bounty, before).await;
}

#[tokio::test]
async fn a_result_that_does_not_win_never_blocks_finalize() {
    let mut env = TestEnv::new().await;
    let (bounty, request) = settleable_bounty_request(&mut env, 1).await;

    env.finalize(request).await.expect("finalized");

    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Finalized
    );
    assert_eq!(env.bounty(bounty).await.winner, None);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn callback_accounts_are_checked_and_skippable_only_after_the_grace_period() {
    let mut env = TestEnv::new().await;
    let (bounty, request) = settleable_bounty_request(&mut env, 7).await;

    assert_sibyl_error(
        env.finalize_with(request, Vec::new()).await,
        SibylError::CallbackAccountsMissing,
    );
    let mut swapped = env.callback_accounts(request).await;
    swapped.swap(2, 3);
    assert_sibyl_error(
        env.finalize_with(request, swapped).await,
        SibylError::CallbackAccountsMismatch,
    );
    let mut wrong_program = env.callback_accounts(request).await;
    wrong_program[0].pubkey = sibyl::ID;
    assert_sibyl_error(
        env.finalize_with(request, wrong_program).await,
        SibylError::CallbackAccountsMismatch,
    );

    // A consumer that never accepts cannot hold the fee: after the grace
    // period the settlement may leave its accounts out.
    env.warp_slots(CALLBACK_GRACE_SLOTS).await;
    let events = env
        .finalize_with(request, Vec::new())
        .await
        .expect("finalized");
    assert!(events.one::<CallbackInvoked>().skipped);
    assert_eq!(env.bounty(bounty).await.winner, None);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_forged_callback_is_refused() {
    let mut env = TestEnv::new().await;
    let bounty = env.create_bounty(1, 3, 1_000).await;
    let request = finalized_request(&mut env, &digit_output(3, 0.97)).await;
    let forger = Keypair::new();
    let mut forged = bounty_instruction(
        example_consumer::accounts::SibylCallback {
            callback_authority: forger.pubkey(),
            request,
            bounty,
            claimant: env.requester.key(),
        },
        example_consumer::instruction::SibylCallback {
            data: CallbackData {
                request,
                model_hash: [0; 32],
                output_hash: [0; 32],
                status: RequestStatus::Finalized,
            },
        },
    );
    forged.accounts[0].is_signer = true;
    assert_error(
        env.send_instructions(vec![forged], &[&forger]).await,
        ConsumerError::NotCallbackAuthority,
    );
    assert_eq!(env.bounty(bounty).await.winner, None);
}

#[tokio::test]
async fn a_request_refuses_an_invalid_callback() {
    let mut env = TestEnv::new().await;
    let bounty = env.create_bounty(1, 3, 1_000).await;
    let mut to_sibyl = env.bounty_callback(bounty);
    to_sibyl.program = sibyl::ID;
    assert_sibyl_error(
        env.request_with_callback(b"in", to_sibyl)
            .await
            .map(|_| Default::default()),
        SibylError::InvalidCallback,
    );
    let too_many = CallbackSpec {
        program: example_consumer::ID,
        accounts: vec![
            CallbackAccount {
                pubkey: bounty,
                writable: false,
            };
            sibyl::constants::MAX_CALLBACK_ACCOUNTS + 1
        ],
    };
    assert_sibyl_error(
        env.request_with_callback(b"in", too_many)
            .await
            .map(|_| Default::default()),
        SibylError::InvalidCallback,
    );
}

#[tokio::test]
async fn an_overturned_result_is_delivered_when_the_dispute_resolves() {
    let mut env = TestEnv::new().await;
    let bounty = env.create_bounty(1, 4, 1_000).await;
    let callback = env.bounty_callback(bounty);
    let request = env.request_with_callback(b"digit", callback).await.unwrap();
    // Operator 0 says 9; the challenger's correction, 4, is voted right.
    env.commit(0, request, &digit_output(9, 0.99))
        .await
        .unwrap();
    env.challenge(request, &digit_output(4, 0.98))
        .await
        .unwrap();
    for voter in 1..env.operators.len() {
        env.vote(voter, request, VoteSide::Challenger)
            .await
            .unwrap();
    }
    let before = lamports_with_escrow_rent(&mut env, request).await;

    let events = env
        .resolve(request)
        .await
        .expect("resolved with the callback");

    assert!(!events.one::<CallbackInvoked>().skipped);
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Overturned
    );
    assert_bounty_paid_to_the_requester(&mut env, bounty, before).await;
}

#[tokio::test]
async fn a_callback_relayed_by_another_program_is_refused() {
    // Signer privileges extend to nested calls: a consumer Sibyl calls back
    // can pass Sibyl's signature on. `verify_callback` must refuse what a
    // hostile consumer (tests/src/relay.rs) relays.
    let mut env = TestEnv::new().await;
    let bounty = env.create_bounty(1, 3, 1_000).await;
    let requester = env.requester.key();
    let relay_through = |victim_request, bounty| CallbackSpec {
        program: sibyl_tests::relay::ID,
        accounts: vec![
            CallbackAccount {
                pubkey: example_consumer::ID,
                writable: false,
            },
            CallbackAccount {
                pubkey: victim_request,
                writable: false,
            },
            CallbackAccount {
                pubkey: bounty,
                writable: true,
            },
            CallbackAccount {
                pubkey: requester,
                writable: true,
            },
        ],
    };

    // A winning result that named no callback, relayed to the bounty.
    let unnamed = finalized_request(&mut env, &digit_output(3, 0.97)).await;
    let relaying = env
        .request_with_callback(b"x", relay_through(unnamed, bounty))
        .await
        .unwrap();
    env.commit(0, relaying, &digit_output(1, 0.9))
        .await
        .unwrap();
    env.warp_slots(WINDOW + 1).await;
    assert_error(env.finalize(relaying).await, ConsumerError::NotThisConsumer);

    // A result that named the bounty consumer, but with another bounty.
    let other = env.create_bounty(2, 3, 1_000).await;
    let callback = env.bounty_callback(other);
    let named = env.request_with_callback(b"y", callback).await.unwrap();
    env.commit(0, named, &digit_output(3, 0.97)).await.unwrap();
    let relaying = env
        .request_with_callback(b"z", relay_through(named, bounty))
        .await
        .unwrap();
    env.commit(0, relaying, &digit_output(1, 0.9))
        .await
        .unwrap();
    env.warp_slots(WINDOW + 1).await;
    env.finalize(named)
        .await
        .expect("the genuine callback pays the bounty it named");
    assert_error(
        env.finalize(relaying).await,
        ConsumerError::CallbackAccountsMismatch,
    );

    assert_eq!(
        env.bounty(bounty).await.winner,
        None,
        "never paid by a relay"
    );
    assert_eq!(env.bounty(other).await.winner, Some(requester));
}

/// A request naming the bounty callback, committed as a 7, challenged as a
/// 3, and left inconclusive (nobody voted); returns the request.
async fn inconclusive_bounty_dispute(env: &mut TestEnv) -> anchor_lang::prelude::Pubkey {
    let bounty = env.create_bounty(1, 7, 1_000).await;
    let callback = env.bounty_callback(bounty);
    let request = env.request_with_callback(b"digit", callback).await.unwrap();
    env.commit(0, request, &digit_output(7, 0.99))
        .await
        .unwrap();
    env.challenge(request, &digit_output(3, 0.99))
        .await
        .unwrap();
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request)
        .await
        .expect("inconclusive: nobody voted");
    request
}

#[tokio::test]
async fn arbitration_skips_a_callback_that_keeps_failing_after_the_grace_period() {
    let params = sibyl::state::ConfigParams {
        arbitration_window_slots: 3 * CALLBACK_GRACE_SLOTS,
        ..sibyl_tests::env::default_params()
    };
    let mut env = TestEnv::builder().params(params).build().await;
    let request = inconclusive_bounty_dispute(&mut env).await;
    // Arbitration without the consumer's accounts waits out the grace
    // period, as a voted settlement does...
    assert_sibyl_error(
        env.arbitrate(request, sibyl::state::DisputeOutcome::OperatorUpheld)
            .await,
        SibylError::CallbackAccountsMissing,
    );
    // ...(counted from the reveal deadline) and then decides without it: a
    // consumer that keeps failing cannot hold the decision back until the
    // deadline refunds everyone.
    env.warp_slots(env.params.vote_window_slots + CALLBACK_GRACE_SLOTS)
        .await;
    let events = env
        .arbitrate(request, sibyl::state::DisputeOutcome::OperatorUpheld)
        .await
        .expect("arbitrated");
    assert!(events.one::<CallbackInvoked>().skipped);
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Finalized
    );
    env.assert_tokens_conserved().await;
}

/// A request on a second model, a top-1 classifier, committed as a `digit`
/// with a made-up probability of 0.99 and finalized; returns its address.
async fn finalized_top_k_request(env: &mut TestEnv, digit: usize) -> anchor_lang::prelude::Pubkey {
    let mut args = sibyl_tests::env::default_model_args([9; 32]);
    args.uri = "file://top1.onnx".into();
    args.comparison = sibyl::state::ComparisonRule::TopK {
        k: 1,
        tie_margin: 1e-4,
    };
    env.register_model(args).await.unwrap();
    let request = env
        .request_model(sibyl_client::pda::model(&[9; 32]), b"digit")
        .await;
    env.commit(0, request, &digit_output(digit, 0.99))
        .await
        .unwrap();
    env.warp_slots(WINDOW + 1).await;
    env.finalize(request).await.expect("finalized");
    request
}

#[tokio::test]
async fn a_consumer_is_handed_only_what_the_models_rule_verified() {
    let mut env = TestEnv::new().await;
    let request = finalized_top_k_request(&mut env, 7).await;
    // The committed 0.99 was never checked (top-1 verifies the class), so a
    // bounty asking for 90 % cannot be won with it...
    let with_floor = env
        .create_bounty_with_floor(1, [9; 32], 7, 1_000, 9_000)
        .await;
    let requester = env.requester.wallet.insecure_clone();
    assert_error(
        env.claim_with_result(with_floor, request, &requester).await,
        BountyError::NotTargetDigit,
    );
    // ...while one that asks only for the class is.
    let class_only = env.create_bounty_with_floor(2, [9; 32], 7, 1_000, 0).await;
    let before = env.lamports(requester.pubkey()).await;
    env.claim_with_result(class_only, request, &requester)
        .await
        .expect("the verified class wins");
    assert_eq!(
        env.lamports(requester.pubkey()).await,
        before + BOUNTY_LAMPORTS
    );
    // The request carries the rule the consumer kit judged by.
    let state = env.request_account(request).await;
    assert!(matches!(
        state.comparison,
        sibyl::state::ComparisonRule::TopK { k: 1, .. }
    ));
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_short_arbitration_window_still_lets_arbitration_skip_a_failing_callback() {
    // The default arbitration window (20 slots) is shorter than the grace
    // period: the callback is mandatory for half of it, no longer.
    let mut env = TestEnv::new().await;
    let request = inconclusive_bounty_dispute(&mut env).await;
    assert_sibyl_error(
        env.arbitrate(request, sibyl::state::DisputeOutcome::OperatorUpheld)
            .await,
        SibylError::CallbackAccountsMissing,
    );
    env.warp_slots(env.params.arbitration_window_slots / 2 + 1)
        .await;
    let events = env
        .arbitrate(request, sibyl::state::DisputeOutcome::OperatorUpheld)
        .await
        .expect("arbitrated before the deadline");
    assert!(events.one::<CallbackInvoked>().skipped);
    env.assert_tokens_conserved().await;
}

//! Every path a request can take, with every token balance asserted and a
//! conservation check at the end of each.
use sibyl::{
    events::*,
    math::split_fee,
    state::{DisputeOutcome, RequestStatus, VoteSide},
};
use sibyl_client::pda;
use sibyl_tests::{env::MODEL_PRICE, output, TestEnv};

const INPUT: &[u8] = &[1, 2, 3, 4];
fn honest() -> Vec<u8> {
    output(b"honest-output")
}
fn wrong() -> Vec<u8> {
    output(b"wrong-output")
}

async fn happy_path(mut env: TestEnv) {
    let requester_before = env.token_balance(env.requester.token).await;
    let request = env.request(INPUT).await;
    assert_eq!(env.token_balance(pda::escrow(&request)).await, MODEL_PRICE);
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_before - MODEL_PRICE
    );

    let events = env.commit(0, request, &honest()).await.unwrap();
    let committed = events.one::<ResultCommitted>();
    let state = env.request_account(request).await;
    assert_eq!(state.status, RequestStatus::Committed);
    assert_eq!(committed.output_hash, state.output_hash);
    assert_eq!(state.output, honest());

    env.warp_slots(env.params.challenge_window_slots + 1).await;
    let operator_before = env.token_balance(env.operators[0].token).await;
    let publisher_before = env.token_balance(env.publisher.token).await;
    let vault_before = env.token_balance(env.fee_vault()).await;
    let events = env.finalize(request).await.unwrap();

    let split = split_fee(MODEL_PRICE, env.params.protocol_fee_bps, 1_000).unwrap();
    assert_eq!(
        (split.protocol_fee, split.royalty, split.payee),
        (25_000, 100_000, 875_000)
    );
    assert_eq!(
        env.token_balance(env.operators[0].token).await,
        operator_before + split.payee
    );
    assert_eq!(
        env.token_balance(env.publisher.token).await,
        publisher_before + split.royalty
    );
    assert_eq!(
        env.token_balance(env.fee_vault()).await,
        vault_before + split.protocol_fee
    );
    assert!(!env.exists(pda::escrow(&request)).await, "escrow closed");
    let finalized = events.one::<RequestFinalized>();
    assert_eq!(finalized.payee, env.operators[0].key());
    assert_eq!(finalized.payee_amount, split.payee);

    let state = env.request_account(request).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    assert!(state.has_final_output());
    let operator = env.operator_account(0).await;
    assert_eq!(
        (operator.open_commitments, operator.requests_served),
        (0, 1)
    );

    // The requester reads the result, then takes the rent back.
    let rent = env.lamports(request).await;
    let wallet_before = env.lamports(env.requester.key()).await;
    env.close_request(request).await.unwrap();
    assert!(!env.exists(request).await);
    assert_eq!(
        env.lamports(env.requester.key()).await,
        wallet_before + rent
    );
    env.assert_tokens_conserved().await;

    // Anyone moves the protocol's share on to the treasury.
    let treasury_before = env.token_balance(env.treasury.token).await;
    let swept = env.sweep_fees().await.unwrap().one::<FeesSwept>();
    assert_eq!(
        (swept.model, swept.treasury, swept.amount),
        (
            env.model(),
            env.treasury.token,
            vault_before + split.protocol_fee
        )
    );
    assert_eq!(
        env.token_balance(env.treasury.token).await,
        treasury_before + vault_before + split.protocol_fee
    );
    assert_eq!(env.token_balance(env.fee_vault()).await, 0);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn happy_path_pays_operator_publisher_and_treasury_exactly() {
    happy_path(TestEnv::new().await).await;
}

#[tokio::test]
async fn happy_path_with_a_token_2022_mint() {
    happy_path(TestEnv::builder().token_2022().build().await).await;
}

#[tokio::test]
async fn cancel_before_commit_refunds_everything() {
    let mut env = TestEnv::new().await;
    let tokens_before = env.token_balance(env.requester.token).await;
    let lamports_before = env.lamports(env.requester.key()).await;
    let request = env.request(INPUT).await;
    let events = env.cancel(request).await.unwrap();
    assert_eq!(events.one::<RequestCancelled>().refunded, MODEL_PRICE);
    assert_eq!(env.token_balance(env.requester.token).await, tokens_before);
    // Both accounts' rent came back: the requester only paid nothing (the
    // runtime's payer paid the fees).
    assert_eq!(env.lamports(env.requester.key()).await, lamports_before);
    assert!(!env.exists(request).await);
    assert!(!env.exists(pda::escrow(&request)).await);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn expire_after_deadline_refunds_the_requester() {
    let mut env = TestEnv::new().await;
    let tokens_before = env.token_balance(env.requester.token).await;
    let request = env.request(INPUT).await;
    env.warp_slots(env.params.request_timeout_slots + 1).await;
    let events = env.expire(request).await.unwrap();
    assert_eq!(events.one::<RequestExpired>().refunded, MODEL_PRICE);
    assert_eq!(env.token_balance(env.requester.token).await, tokens_before);
    assert!(!env.exists(request).await);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn challenge_where_the_operator_is_upheld_forfeits_the_bond() {
    let mut env = TestEnv::new().await;
    let request = env.request(INPUT).await;
    env.commit(0, request, &honest()).await.unwrap();
    let challenger_before = env.token_balance(env.challenger.token).await;
    let operator_before = env.token_balance(env.operators[0].token).await;
    env.challenge(request, &wrong()).await.unwrap();
    let bond = env.params.challenge_bond;
    assert_eq!(
        env.token_balance(env.challenger.token).await,
        challenger_before - bond
    );
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Challenged
    );

    // Operators 1 and 2 re-execute and back the operator: 20M of 30M eligible
    // stake can no longer be outvoted, so the dispute resolves early.
    env.vote(1, request, VoteSide::Operator).await.unwrap();
    env.vote(2, request, VoteSide::Operator).await.unwrap();
    let events = env.resolve(request).await.unwrap();
    assert_eq!(
        events.one::<DisputeResolved>().outcome,
        DisputeOutcome::OperatorUpheld
    );

    let split = split_fee(MODEL_PRICE, env.params.protocol_fee_bps, 1_000).unwrap();
    let voter_pool = bond * env.params.voter_reward_bps as u64 / 10_000;
    assert_eq!(
        env.token_balance(env.operators[0].token).await,
        operator_before + split.payee + (bond - voter_pool)
    );
    let state = env.request_account(request).await;
    assert_eq!(state.status, RequestStatus::Finalized);
    assert_eq!(state.output, honest());

    // Winning voters split the pool by stake; the last claim closes the dispute.
    let voter1_before = env.token_balance(env.operators[1].token).await;
    let voter2_before = env.token_balance(env.operators[2].token).await;
    env.claim_vote(1, request).await.unwrap();
    env.claim_vote(2, request).await.unwrap();
    assert_eq!(
        env.token_balance(env.operators[1].token).await,
        voter1_before + voter_pool / 2
    );
    assert_eq!(
        env.token_balance(env.operators[2].token).await,
        voter2_before + voter_pool - voter_pool / 2
    );
    let dispute = env.dispute_address(request).await;
    assert!(!env.exists(dispute).await, "dispute closed");
    assert_eq!(env.token_balance(pda::bond_vault()).await, 0);
    assert_eq!(env.operator_account(1).await.open_votes, 0);
    assert_eq!(env.challenger.token, env.token_of(&env.challenger.key()));
    assert_eq!(
        env.token_balance(env.challenger.token).await,
        challenger_before - bond
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn challenge_where_the_challenger_is_upheld_slashes_and_corrects_the_output() {
    let mut env = TestEnv::new().await;
    let request = env.request(INPUT).await;
    env.commit(0, request, &wrong()).await.unwrap();
    let challenger_before = env.token_balance(env.challenger.token).await;
    let requester_before = env.token_balance(env.requester.token).await;
    env.challenge(request, &honest()).await.unwrap();
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.vote(2, request, VoteSide::Challenger).await.unwrap();
    env.vote(3, request, VoteSide::Challenger).await.unwrap();
    let stake_vault_before = env.token_balance(pda::stake_vault()).await;
    let events = env.resolve(request).await.unwrap();
    assert_eq!(
        events.one::<DisputeResolved>().outcome,
        DisputeOutcome::ChallengerUpheld
    );

    let slashed = sibyl_tests::env::OPERATOR_STAKE * env.params.slash_bps as u64 / 10_000;
    assert_eq!(events.one::<OperatorSlashed>().amount, slashed);
    let voter_pool = slashed * env.params.voter_reward_bps as u64 / 10_000;
    let split = split_fee(MODEL_PRICE, env.params.protocol_fee_bps, 1_000).unwrap();
    // The challenger gets its bond back, its share of the slash, and the fee
    // (the fee follows the correct output).
    assert_eq!(
        env.token_balance(env.challenger.token).await,
        challenger_before + (slashed - voter_pool) + split.payee
    );
    assert_eq!(
        env.token_balance(pda::stake_vault()).await,
        stake_vault_before - slashed
    );
    // The requester paid once and got the corrected output.
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_before
    );
    let state = env.request_account(request).await;
    assert_eq!(state.status, RequestStatus::Overturned);
    assert_eq!(state.output, honest());
    assert!(state.has_final_output());
    let operator = env.operator_account(0).await;
    assert_eq!(operator.stake, sibyl_tests::env::OPERATOR_STAKE - slashed);
    assert_eq!((operator.disputes_lost, operator.open_commitments), (1, 0));
    assert_eq!(
        env.config().await.total_active_stake,
        4 * sibyl_tests::env::OPERATOR_STAKE - slashed
    );

    for voter in 1..=3 {
        env.claim_vote(voter, request).await.unwrap();
    }
    assert_eq!(env.token_balance(pda::bond_vault()).await, 0);
    let dispute = env.dispute_address(request).await;
    assert!(!env.exists(dispute).await);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn inconclusive_dispute_is_arbitrated_by_the_authority() {
    let mut env = TestEnv::new().await;
    let request = env.request(INPUT).await;
    env.commit(0, request, &wrong()).await.unwrap();
    env.challenge(request, &honest()).await.unwrap();
    // One vote of 30M eligible: no quorum.
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.warp_slots(env.params.vote_window_slots + 1).await;
    let events = env.resolve(request).await.unwrap();
    let resolved = events.one::<DisputeResolved>();
    assert_eq!(resolved.outcome, DisputeOutcome::Inconclusive);
    assert!(resolved.arbitration_deadline_slot.is_some());
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Challenged
    );

    let events = env
        .arbitrate(request, DisputeOutcome::ChallengerUpheld)
        .await
        .unwrap();
    assert_eq!(
        events.one::<DisputeArbitrated>().outcome,
        DisputeOutcome::ChallengerUpheld
    );
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Overturned
    );
    // The lone voter backed the winner and takes the whole pool.
    let voter_before = env.token_balance(env.operators[1].token).await;
    let pool = env.dispute_of(request).await.reward_pool;
    env.claim_vote(1, request).await.unwrap();
    assert_eq!(
        env.token_balance(env.operators[1].token).await,
        voter_before + pool
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn unarbitrated_dispute_refunds_after_its_deadline() {
    let mut env = TestEnv::new().await;
    let requester_before = env.token_balance(env.requester.token).await;
    let challenger_before = env.token_balance(env.challenger.token).await;
    let request = env.request(INPUT).await;
    env.commit(0, request, &wrong()).await.unwrap();
    env.challenge(request, &honest()).await.unwrap();
    let dispute = env.dispute_address(request).await;
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request).await.unwrap();
    env.warp_slots(env.params.arbitration_window_slots + 1)
        .await;
    let events = env.expire_arbitration(request).await.unwrap();
    assert_eq!(events.one::<ArbitrationExpired>().refunded, MODEL_PRICE);
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_before
    );
    assert_eq!(
        env.token_balance(env.challenger.token).await,
        challenger_before
    );
    assert!(!env.exists(request).await);
    assert!(!env.exists(dispute).await, "no votes: dispute closed");
    let operator = env.operator_account(0).await;
    assert_eq!(
        (operator.stake, operator.open_commitments),
        (sibyl_tests::env::OPERATOR_STAKE, 0)
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn unbonding_returns_stake_after_the_period() {
    let mut env = TestEnv::new().await;
    let before = env.token_balance(env.operators[3].token).await;
    let events = env.request_unstake(3, 4_000_000).await.unwrap();
    let unlock = events.one::<UnstakeRequested>().unlock_slot;
    assert_eq!(
        env.config().await.total_active_stake,
        4 * sibyl_tests::env::OPERATOR_STAKE - 4_000_000
    );
    env.warp_slots(env.params.unbonding_slots).await;
    assert!(env.slot().await >= unlock);
    let events = env.withdraw_stake(3).await.unwrap();
    assert_eq!(events.one::<StakeWithdrawn>().amount, 4_000_000);
    assert_eq!(
        env.token_balance(env.operators[3].token).await,
        before + 4_000_000
    );
    let operator = env.operator_account(3).await;
    assert_eq!((operator.stake, operator.pending_unstake), (6_000_000, 0));
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn chunked_input_upload_completes_the_request() {
    let mut env = TestEnv::new().await;
    let input: Vec<u8> = (0..3_000u32).map(|i| (i % 251) as u8).collect();
    let nonce = env.next_nonce();
    let accounts = env.request_accounts(&env.requester, env.model(), nonce);
    let request = accounts.request;
    let requester = env.requester.wallet.insecure_clone();
    env.send_request(
        accounts,
        sibyl::instructions::RequestInferenceArgs {
            nonce,
            fee: MODEL_PRICE,
            input_len: input.len() as u32,
            input: input[..800].to_vec(),
            input_reference: None,
            callback: None,
            max_challenge_window_slots: None,
        },
        &requester,
    )
    .await
    .unwrap();
    sibyl_tests::assert_sibyl_error(
        env.commit(0, request, &honest()).await,
        sibyl::errors::SibylError::InputIncomplete,
    );
    let mut offset = 800;
    while offset < input.len() {
        let end = (offset + 900).min(input.len());
        let events = env
            .write_input(request, offset as u32, &input[offset..end])
            .await
            .unwrap();
        let written = events.one::<InputWritten>();
        assert_eq!(written.input_hash.is_some(), end == input.len());
        offset = end;
    }
    let state = env.request_account(request).await;
    assert_eq!(state.input, input);
    assert_eq!(state.input_hash, sibyl::hashing::input_hash(&input));
    env.commit(0, request, &honest()).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn one_party_in_several_roles_is_paid_into_one_account() {
    // The publisher's token account is also the treasury (a protocol
    // authority publishing its own model): settlements pay it twice.
    let mut env = TestEnv::new().await;
    env.make_publisher_the_treasury().await;
    let window = env.config().await.params.challenge_window_slots;

    let request = env.committed_request(0, &honest()).await;
    env.warp_slots(window + 1).await;
    env.finalize(request).await.expect("finalized");

    // The publisher (and treasury) challenges a wrong result and is upheld.
    let publisher = env.publisher.clone();
    let disputed = env.committed_request(0, &wrong()).await;
    env.challenge_as(&publisher, disputed, &honest())
        .await
        .expect("challenged");
    for voter in 1..env.operators.len() {
        env.vote(voter, disputed, VoteSide::Challenger)
            .await
            .unwrap();
    }
    env.resolve(disputed).await.expect("resolved");
    assert_eq!(
        env.request_account(disputed).await.status,
        RequestStatus::Overturned
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn protocol_fees_collect_per_model_and_sweep_only_to_the_treasury() {
    use sibyl::{errors::SibylError, instruction as ix};
    use sibyl_client::accounts;
    use sibyl_tests::{assert_anchor_error, assert_sibyl_error, env::default_model_args};

    let mut env = TestEnv::new().await;
    let window = env.config().await.params.challenge_window_slots;
    let request = env.committed_request(0, &honest()).await;
    env.warp_slots(window + 1).await;
    env.finalize(request).await.expect("finalized");
    let collected = env.token_balance(env.fee_vault()).await;
    assert_eq!(
        collected,
        split_fee(MODEL_PRICE, env.params.protocol_fee_bps, 1_000)
            .unwrap()
            .protocol_fee
    );

    // A second model has a vault of its own, empty.
    let other = pda::model(&[7; 32]);
    env.register_model(default_model_args([7; 32]))
        .await
        .unwrap();
    assert_eq!(env.token_balance(pda::fee_vault(&other)).await, 0);

    let sweep = |env: &TestEnv| accounts::sweep_fees(env.model(), env.treasury.token, env.tokens());
    let mut wrong_treasury = sweep(&env);
    wrong_treasury.treasury = env.requester.token;
    assert_sibyl_error(
        env.send(wrong_treasury, ix::SweepFees {}, &[]).await,
        SibylError::WrongTreasury,
    );
    let mut wrong_vault = sweep(&env);
    wrong_vault.fee_vault = pda::fee_vault(&other);
    assert_anchor_error(
        env.send(wrong_vault, ix::SweepFees {}, &[]).await,
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    let mut wrong_mint = sweep(&env);
    wrong_mint.mint = env.create_foreign_mint().await;
    assert_sibyl_error(
        env.send(wrong_mint, ix::SweepFees {}, &[]).await,
        SibylError::WrongMint,
    );

    let treasury_before = env.token_balance(env.treasury.token).await;
    assert_eq!(
        env.sweep_fees().await.unwrap().one::<FeesSwept>().amount,
        collected
    );
    assert_eq!(
        env.token_balance(env.treasury.token).await,
        treasury_before + collected
    );
    // Nothing left: a second sweep moves nothing.
    assert_eq!(env.sweep_fees().await.unwrap().one::<FeesSwept>().amount, 0);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_model_registers_with_a_fee_vault_in_the_payment_mint() {
    use sibyl::{errors::SibylError, instruction as ix};
    use sibyl_client::accounts;
    use sibyl_tests::{assert_sibyl_error, env::default_model_args};

    let mut env = TestEnv::new().await;
    let args = default_model_args([8; 32]);
    let mut accounts = accounts::register_model(
        env.publisher.key(),
        env.publisher.token,
        &args.model_hash,
        env.tokens(),
    );
    accounts.payment_mint = env.create_foreign_mint().await;
    let publisher = env.publisher.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(
            accounts,
            ix::RegisterModel { args: args.clone() },
            &[&publisher],
        )
        .await,
        SibylError::WrongMint,
    );
    env.register_model(args).await.unwrap();
    let vault = pda::fee_vault(&pda::model(&[8; 32]));
    let (mint, owner, amount) = env.token_account_parts(vault).await;
    assert_eq!((mint, owner, amount), (env.tokens().mint, pda::config(), 0));
}

//! Operators: registration, stake, unbonding and withdrawal rules.
use anchor_lang::error::ErrorCode;
use sibyl::{errors::SibylError, instruction as ix, state::VoteSide};
use sibyl_tests::{assert_anchor_error, assert_sibyl_error, env::OPERATOR_STAKE, output, TestEnv};

#[tokio::test]
async fn register_operator_needs_the_minimum_stake_from_its_own_account() {
    let mut env = TestEnv::builder().operators(2).build().await;
    env.add_operator_wallet().await;
    assert_sibyl_error(
        env.register_operator(2, 999_999).await,
        SibylError::StakeBelowMinimum,
    );
    let wallet = env.operators[2].wallet.insecure_clone();
    let stake = OPERATOR_STAKE;
    let mut from_another_wallet = env.register_operator_accounts(2);
    from_another_wallet.authority_token = env.operators[0].token;
    let result = env
        .send(
            from_another_wallet,
            ix::RegisterOperator { stake },
            &[&wallet],
        )
        .await;
    assert_sibyl_error(result, SibylError::WrongTokenOwner);
    let mut into_a_wrong_vault = env.register_operator_accounts(2);
    into_a_wrong_vault.stake_vault = env.operators[1].token;
    let result = env
        .send(
            into_a_wrong_vault,
            ix::RegisterOperator { stake },
            &[&wallet],
        )
        .await;
    assert_anchor_error(result, ErrorCode::ConstraintAddress);
    env.register_operator(2, OPERATOR_STAKE).await.unwrap();
    assert_eq!(env.config().await.total_active_stake, 3 * OPERATOR_STAKE);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn add_stake_rules() {
    let mut env = TestEnv::new().await;
    assert_sibyl_error(env.add_stake(0, 0).await, SibylError::ZeroAmount);
    // Overflowing the stake counter is refused before any token moves.
    assert_sibyl_error(env.add_stake(0, u64::MAX).await, SibylError::MathOverflow);
    let mut accounts = env.stake_accounts(1);
    accounts.operator = env.operator(0);
    let wallet = env.operators[1].wallet.insecure_clone();
    assert_anchor_error(
        env.send(accounts, ix::AddStake { amount: 1 }, &[&wallet])
            .await,
        ErrorCode::ConstraintSeeds,
    );
    env.add_stake(0, 5).await.unwrap();
    assert_eq!(env.operator_account(0).await.stake, OPERATOR_STAKE + 5);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn unstake_and_withdraw_rules() {
    let mut env = TestEnv::new().await;
    assert_sibyl_error(env.request_unstake(0, 0).await, SibylError::ZeroAmount);
    assert_sibyl_error(
        env.request_unstake(0, OPERATOR_STAKE + 1).await,
        SibylError::InsufficientStake,
    );
    assert_sibyl_error(env.withdraw_stake(0).await, SibylError::NothingToWithdraw);
    env.request_unstake(0, 1_000).await.unwrap();
    assert_sibyl_error(env.withdraw_stake(0).await, SibylError::UnbondingNotEnded);
    env.warp_slots(env.params.unbonding_slots).await;
    env.withdraw_stake(0).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn withdraw_waits_for_open_commitments_and_votes() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"right")).await.unwrap();
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.reveal_votes(request).await;
    env.request_unstake(0, 1_000).await.unwrap();
    env.request_unstake(1, 1_000).await.unwrap();
    env.warp_slots(env.params.unbonding_slots).await;
    assert_sibyl_error(env.withdraw_stake(0).await, SibylError::OpenCommitments);
    assert_sibyl_error(env.withdraw_stake(1).await, SibylError::OpenVotes);
    assert_sibyl_error(
        env.arbitrate(request, sibyl::state::DisputeOutcome::ChallengerUpheld)
            .await,
        SibylError::DisputeNotInconclusive,
    );
    env.resolve(request).await.unwrap();
    env.arbitrate(request, sibyl::state::DisputeOutcome::ChallengerUpheld)
        .await
        .unwrap();
    env.claim_vote(1, request).await.unwrap();
    env.withdraw_stake(0).await.unwrap();
    env.withdraw_stake(1).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn unbonding_stake_is_still_slashed() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    // The operator tries to run with its stake before the verdict.
    env.request_unstake(0, OPERATOR_STAKE).await.unwrap();
    env.challenge(request, &output(b"right")).await.unwrap();
    for voter in 1..=3 {
        env.vote(voter, request, VoteSide::Challenger)
            .await
            .unwrap();
    }
    env.resolve(request).await.unwrap();
    let operator = env.operator_account(0).await;
    let slashed = OPERATOR_STAKE * env.params.slash_bps as u64 / 10_000;
    assert_eq!(
        (operator.stake, operator.pending_unstake),
        (0, OPERATOR_STAKE - slashed)
    );
    env.assert_tokens_conserved().await;
}

/// A node key registers to be paid into another wallet's account. The pay
/// and the withdrawn stake go there, only that wallet can move them
/// elsewhere, and only while no settlement of the operator is open.
#[tokio::test]
async fn a_payout_wallet_takes_the_pay_and_the_stake_and_the_node_key_cannot_move_them() {
    let mut env = TestEnv::new().await;
    let node = env.add_operator_wallet().await;
    let cold = env.add_payout_wallet().await;
    let foreign = env.create_foreign_token_account(&cold.key()).await;
    assert_sibyl_error(
        env.register_operator_paying(node, OPERATOR_STAKE, foreign)
            .await,
        SibylError::WrongMint,
    );
    env.register_operator_paying(node, OPERATOR_STAKE, cold.token)
        .await
        .unwrap();
    let operator = env.operator_account(node).await;
    assert_eq!(
        (operator.payout_authority, operator.payout_token),
        (cold.key(), cold.token)
    );
    env.warp_slots(2).await;

    // The pay goes to the payout wallet, not to the node key.
    let node_key = env.operators[node].clone();
    let request = env.committed_request(node, &output(b"ok")).await;
    assert_sibyl_error(
        env.challenge_as(&cold, request, &output(b"other")).await,
        SibylError::SelfChallenge,
    );
    assert_sibyl_error(
        env.set_operator_payout(node, &cold, node_key.token).await,
        SibylError::OpenCommitments,
    );
    let (node_before, cold_before) = (
        env.token_balance(node_key.token).await,
        env.token_balance(cold.token).await,
    );
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    env.finalize(request).await.unwrap();
    assert_eq!(env.token_balance(node_key.token).await, node_before);
    assert!(env.token_balance(cold.token).await > cold_before);

    // A stolen node key cannot name its own account.
    assert_sibyl_error(
        env.set_operator_payout(node, &node_key, node_key.token)
            .await,
        SibylError::NotPayoutAuthority,
    );
    // Neither can a bystander unbond; the payout wallet can.
    let bystander = env.challenger.clone();
    let accounts = sibyl_client::accounts::request_unstake(bystander.key(), node_key.key());
    assert_sibyl_error(
        env.send(
            accounts,
            ix::RequestUnstake { amount: 1_000 },
            &[&bystander.wallet],
        )
        .await,
        SibylError::NotOperatorKey,
    );
    let accounts = sibyl_client::accounts::request_unstake(cold.key(), node_key.key());
    env.send(
        accounts,
        ix::RequestUnstake { amount: 1_000 },
        &[&cold.wallet],
    )
    .await
    .unwrap();
    env.warp_slots(env.params.unbonding_slots).await;

    // The stake leaves only into the recorded payout account.
    let mut into_the_node_key = env.withdraw_stake_accounts(node).await;
    into_the_node_key.payout_token = node_key.token;
    assert_sibyl_error(
        env.send(into_the_node_key, ix::WithdrawStake {}, &[&node_key.wallet])
            .await,
        SibylError::WrongPayoutAccount,
    );
    // A payout account that stopped taking payments holds the stake back
    // until the payout wallet names another.
    env.close_token_account(&cold).await;
    assert_sibyl_error(
        env.withdraw_stake(node).await,
        SibylError::PayoutAccountRefuses,
    );
    let next = env.add_payout_wallet().await;
    env.set_operator_payout(node, &cold, next.token)
        .await
        .unwrap();
    assert_eq!(
        env.operator_account(node).await.payout_authority,
        next.key()
    );
    let next_before = env.token_balance(next.token).await;
    let accounts = sibyl_client::accounts::withdraw_stake(
        next.key(),
        node_key.key(),
        next.token,
        env.tokens(),
    );
    env.send(accounts, ix::WithdrawStake {}, &[&next.wallet])
        .await
        .unwrap();
    assert_eq!(env.token_balance(next.token).await, next_before + 1_000);
    // The old payout wallet has no say any more.
    let accounts = sibyl_client::accounts::request_unstake(cold.key(), node_key.key());
    assert_sibyl_error(
        env.send(accounts, ix::RequestUnstake { amount: 1 }, &[&cold.wallet])
            .await,
        SibylError::NotOperatorKey,
    );
    env.assert_tokens_conserved().await;
}

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
/// and the withdrawn stake go there; only that wallet can unbond or move the
/// pay elsewhere, and only while no settlement of the operator is open.
#[tokio::test]
async fn a_payout_wallet_takes_the_pay_and_the_stake_and_the_node_key_cannot_move_them() {
    let mut env = TestEnv::new().await;
    let node = env.add_operator_wallet().await;
    let cold = env.add_payout_wallet().await;
    let node_key = env.operators[node].clone();

    // No wallet becomes a payout wallet unasked: it signs.
    let mut unasked = env.register_operator_accounts(node);
    unasked.payout_authority = cold.key();
    unasked.payout_token = cold.token;
    let mut instruction = sibyl_client::instruction(
        unasked,
        ix::RegisterOperator {
            stake: OPERATOR_STAKE,
        },
    );
    for meta in &mut instruction.accounts {
        if meta.pubkey == cold.key() {
            meta.is_signer = false;
        }
    }
    assert_anchor_error(
        env.send_instructions(vec![instruction], &[&node_key.wallet])
            .await,
        ErrorCode::AccountNotSigner,
    );
    // Nor is an account of another mint, or of another owner, a payout account.
    let foreign = env.create_foreign_token_account(&cold.key()).await;
    let mut wrong_mint = env.register_operator_accounts(node);
    wrong_mint.payout_authority = cold.key();
    wrong_mint.payout_token = foreign;
    assert_sibyl_error(
        env.send(
            wrong_mint,
            ix::RegisterOperator {
                stake: OPERATOR_STAKE,
            },
            &[&node_key.wallet, &cold.wallet],
        )
        .await,
        SibylError::WrongMint,
    );
    let mut not_its_own = env.register_operator_accounts(node);
    not_its_own.payout_authority = cold.key();
    not_its_own.payout_token = env.requester.token;
    assert_sibyl_error(
        env.send(
            not_its_own,
            ix::RegisterOperator {
                stake: OPERATOR_STAKE,
            },
            &[&node_key.wallet, &cold.wallet],
        )
        .await,
        SibylError::WrongTokenOwner,
    );
    env.register_operator_paying(node, OPERATOR_STAKE, &cold)
        .await
        .unwrap();
    let operator = env.operator_account(node).await;
    assert_eq!(
        (operator.payout_authority, operator.payout_token),
        (cold.key(), cold.token)
    );
    env.warp_slots(2).await;

    // The fee goes to the payout wallet, not to the node key, and the
    // payout cannot change under the open commitment.
    let request = env.committed_request(node, &output(b"ok")).await;
    let next = env.add_payout_wallet().await;
    assert_sibyl_error(
        env.set_operator_payout(node, &cold, &next).await,
        SibylError::OpenCommitments,
    );
    let (node_before, cold_before) = (
        env.token_balance(node_key.token).await,
        env.token_balance(cold.token).await,
    );
    let fee = env.request_account(request).await.fee;
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    env.finalize(request).await.unwrap();
    assert_eq!(env.token_balance(node_key.token).await, node_before);
    let paid = env.token_balance(cold.token).await - cold_before;
    assert!(
        paid > 0 && paid < fee,
        "the fee less royalty and protocol fee: {paid} of {fee}"
    );

    // A stolen node key can neither name its own account, nor unbond (and
    // so cannot restart the unbonding period to hold the stake back).
    assert_sibyl_error(
        env.set_operator_payout(node, &node_key, &node_key).await,
        SibylError::NotPayoutAuthority,
    );
    let accounts = sibyl_client::accounts::request_unstake(node_key.key(), node_key.key());
    assert_sibyl_error(
        env.send(
            accounts,
            ix::RequestUnstake { amount: 1_000 },
            &[&node_key.wallet],
        )
        .await,
        SibylError::NotPayoutAuthority,
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

    // The stake leaves only into the recorded payout account, whoever of
    // the two signs; a bystander cannot.
    let mut into_the_node_key = env.withdraw_stake_accounts(node).await;
    into_the_node_key.payout_token = node_key.token;
    assert_sibyl_error(
        env.send(into_the_node_key, ix::WithdrawStake {}, &[&node_key.wallet])
            .await,
        SibylError::WrongPayoutAccount,
    );
    let bystander = env.challenger.clone();
    let by_a_bystander = sibyl_client::accounts::withdraw_stake(
        bystander.key(),
        node_key.key(),
        cold.token,
        env.tokens(),
    );
    assert_sibyl_error(
        env.send(by_a_bystander, ix::WithdrawStake {}, &[&bystander.wallet])
            .await,
        SibylError::NotOperatorKey,
    );
    // A payout account that stopped taking payments holds the stake back
    // until the payout wallet names another (which consents).
    env.close_token_account(&cold).await;
    assert_sibyl_error(
        env.withdraw_stake(node).await,
        SibylError::PayoutAccountRefuses,
    );
    assert_sibyl_error(
        env.set_operator_payout(node, &bystander, &next).await,
        SibylError::NotPayoutAuthority,
    );
    env.set_operator_payout(node, &cold, &next).await.unwrap();
    assert_eq!(
        env.operator_account(node).await.payout_authority,
        next.key()
    );
    let next_before = env.token_balance(next.token).await;
    env.withdraw_stake(node).await.unwrap();
    assert_eq!(env.token_balance(next.token).await, next_before + 1_000);
    // The old payout wallet has no say any more.
    let accounts = sibyl_client::accounts::request_unstake(cold.key(), node_key.key());
    assert_sibyl_error(
        env.send(accounts, ix::RequestUnstake { amount: 1 }, &[&cold.wallet])
            .await,
        SibylError::NotPayoutAuthority,
    );
    assert_sibyl_error(
        env.set_operator_payout(node, &cold, &next).await,
        SibylError::NotPayoutAuthority,
    );
    env.assert_tokens_conserved().await;
}

/// In a dispute, the operator's share of a forfeited bond and a voter's
/// reward go to their payout wallets, not to their node keys.
#[tokio::test]
async fn a_dispute_pays_the_operator_and_a_voter_into_their_payout_wallets() {
    let mut env = TestEnv::new().await;
    let (server, voter) = (
        env.add_operator_wallet().await,
        env.add_operator_wallet().await,
    );
    let (server_cold, voter_cold) = (env.add_payout_wallet().await, env.add_payout_wallet().await);
    env.register_operator_paying(server, OPERATOR_STAKE, &server_cold)
        .await
        .unwrap();
    env.register_operator_paying(voter, OPERATOR_STAKE, &voter_cold)
        .await
        .unwrap();
    env.warp_slots(2).await;
    let request = env.committed_request(server, &output(b"right")).await;
    env.challenge(request, &output(b"wrong")).await.unwrap();
    let node_keys = (
        env.token_balance(env.operators[server].token).await,
        env.token_balance(env.operators[voter].token).await,
    );
    let colds = (
        env.token_balance(server_cold.token).await,
        env.token_balance(voter_cold.token).await,
    );
    for index in [0, 1, 2, voter] {
        env.vote(index, request, VoteSide::Operator).await.unwrap();
    }
    assert_sibyl_error(
        env.set_operator_payout(voter, &voter_cold, &voter_cold)
            .await,
        SibylError::OpenVotes,
    );
    env.reveal_votes(request).await;
    env.resolve(request).await.unwrap();
    env.claim_vote(voter, request).await.unwrap();
    assert_eq!(
        (
            env.token_balance(env.operators[server].token).await,
            env.token_balance(env.operators[voter].token).await,
        ),
        node_keys,
        "nothing to the node keys"
    );
    assert!(env.token_balance(server_cold.token).await > colds.0);
    assert!(env.token_balance(voter_cold.token).await > colds.1);
    // Settled: the voter's payout wallet may now change the account.
    env.set_operator_payout(voter, &voter_cold, &voter_cold)
        .await
        .unwrap();
    env.assert_tokens_conserved().await;
}

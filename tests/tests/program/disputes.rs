//! Challenges, votes, resolution, arbitration and vote claims: each rule
//! broken once, with its named error.
use sibyl::{
    errors::SibylError,
    instruction as ix,
    state::{DisputeOutcome, VoteSide},
};
use sibyl_client::pda;
use sibyl_tests::{assert_sibyl_error, env::OPERATOR_STAKE, output, TestEnv};

/// A request committed by operator 0 with `b"out"`.
async fn committed(env: &mut TestEnv) -> anchor_lang::prelude::Pubkey {
    env.committed_request(0, &output(b"out")).await
}

#[tokio::test]
async fn challenge_rules() {
    let mut env = TestEnv::new().await;
    let pending = env.request(b"in").await;
    assert_sibyl_error(
        env.challenge(pending, &output(b"x")).await,
        SibylError::RequestNotCommitted,
    );
    let request = committed(&mut env).await;
    let operator = env.operators[0].clone();
    assert_sibyl_error(
        env.challenge_as(&operator, request, &output(b"x")).await,
        SibylError::SelfChallenge,
    );
    assert_sibyl_error(
        env.challenge(request, &output(b"out")).await,
        SibylError::ChallengeSameOutput,
    );
    assert_sibyl_error(env.challenge(request, b"").await, SibylError::EmptyOutput);
    assert_sibyl_error(
        env.challenge(request, &[1; 257]).await,
        SibylError::OutputTooLarge,
    );
    let (key, token) = (env.challenger.key(), env.challenger.token);
    let mut accounts = env.challenge_accounts(key, token, request).await;
    accounts.operator = env.operator(1);
    let challenger = env.challenger.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(
            accounts,
            ix::Challenge {
                sequence: 2,
                output: output(b"x"),
                whole_output_sha256: sibyl::hashing::whole_output_sha256(&output(b"x")),
            },
            &[&challenger],
        )
        .await,
        SibylError::WrongOperator,
    );
    env.challenge(request, &output(b"x")).await.unwrap();
    // A second challenge finds the request already challenged.
    let other = env.operators[1].clone();
    assert_sibyl_error(
        env.challenge_as(&other, request, &output(b"y")).await,
        SibylError::RequestNotCommitted,
    );

    let late = committed(&mut env).await;
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    assert_sibyl_error(
        env.challenge(late, &output(b"x")).await,
        SibylError::ChallengeWindowClosed,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn parties_cannot_vote() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    // Operator 3 challenges: as a party it may not vote either.
    let challenger = env.operators[3].clone();
    env.challenge_as(&challenger, request, &output(b"x"))
        .await
        .unwrap();
    assert_sibyl_error(
        env.vote(0, request, VoteSide::Operator).await,
        SibylError::PartyCannotVote,
    );
    assert_sibyl_error(
        env.vote(3, request, VoteSide::Challenger).await,
        SibylError::PartyCannotVote,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn double_vote_is_refused() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    env.vote(1, request, VoteSide::Operator).await.unwrap();
    assert_sibyl_error(
        env.vote(1, request, VoteSide::Challenger).await,
        SibylError::AlreadyVoted,
    );
    let dispute: sibyl::state::Dispute = env.dispute_of(request).await;
    assert_eq!(
        (dispute.stake_committed, dispute.vote_count),
        (OPERATOR_STAKE, 1)
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn vote_window_and_eligibility() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    // A newcomer staking after the dispute opened cannot vote in it.
    env.add_operator_wallet().await;
    env.register_operator(4, OPERATOR_STAKE).await.unwrap();
    env.warp_slots(1).await;
    assert_sibyl_error(
        env.vote(4, request, VoteSide::Operator).await,
        SibylError::VoterRegisteredTooLate,
    );
    // An operator that unbonded all its stake has no weight left to vote with.
    env.request_unstake(2, OPERATOR_STAKE).await.unwrap();
    assert_sibyl_error(
        env.vote(2, request, VoteSide::Operator).await,
        SibylError::NoVotingWeight,
    );
    env.warp_slots(env.params.vote_window_slots + 1).await;
    assert_sibyl_error(
        env.vote(1, request, VoteSide::Operator).await,
        SibylError::VoteWindowClosed,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn resolve_waits_until_the_outcome_is_certain() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    // Nothing is decided while votes are being committed.
    assert_sibyl_error(env.resolve(request).await, SibylError::VoteWindowOpen);
    let dispute = env.dispute_address(request).await;
    let sides = [VoteSide::Operator, VoteSide::Operator, VoteSide::Challenger];
    for (voter, side) in (1..=3).zip(sides) {
        let commitment = sibyl::hashing::vote_commitment(
            &dispute,
            &env.operator(voter),
            side,
            &TestEnv::vote_salt(voter),
        );
        env.commit_vote(voter, request, commitment).await.unwrap();
    }
    assert_sibyl_error(env.resolve(request).await, SibylError::VoteWindowOpen);
    env.warp_slots(env.params.vote_window_slots + 1).await;
    let reveal = |voter: usize| (voter, sides[voter - 1], TestEnv::vote_salt(voter));
    let (voter, side, salt) = reveal(1);
    env.reveal_vote(voter, dispute, side, salt).await.unwrap();
    let (voter, side, salt) = reveal(2);
    env.reveal_vote(voter, dispute, side, salt).await.unwrap();
    // 20M of 30M for the operator already decide it, but the last voter may
    // still reveal (and be paid for an honest vote, not penalized as unrevealed).
    assert_sibyl_error(env.resolve(request).await, SibylError::VoteWindowOpen);
    let (voter, side, salt) = reveal(3);
    env.reveal_vote(voter, dispute, side, salt).await.unwrap();
    env.resolve(request).await.unwrap();
    assert_eq!(
        env.request_account(request).await.status,
        sibyl::state::RequestStatus::Finalized
    );
    // Settled: its escrow is closed, so there is nothing left to resolve.
    sibyl_tests::assert_anchor_error(
        env.resolve(request).await,
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn resolve_checks_every_payee_account() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    env.vote(1, request, VoteSide::Operator).await.unwrap();
    env.vote(2, request, VoteSide::Operator).await.unwrap();
    let cranker = env.requester.wallet.insecure_clone();
    let send = |settle: sibyl::accounts::SettleDispute| sibyl::accounts::ResolveDispute {
        cranker: solana_signer::Signer::pubkey(&cranker),
        settle,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    let mut settle = env.settle_accounts(request).await;
    settle.operator_token = env.requester.token;
    assert_sibyl_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        SibylError::WrongPayoutAccount,
    );
    let mut settle = env.settle_accounts(request).await;
    settle.challenger_token = env.operators[1].token;
    assert_sibyl_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        SibylError::WrongPayoutAccount,
    );
    let mut settle = env.settle_accounts(request).await;
    settle.requester_token = env.create_token_account(&env.requester.key()).await;
    assert_sibyl_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        SibylError::WrongPayoutAccount,
    );
    let mut settle = env.settle_accounts(request).await;
    settle.publisher_token = env.challenger.token;
    assert_sibyl_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        SibylError::WrongPayoutAccount,
    );
    let mut settle = env.settle_accounts(request).await;
    settle.challenger = env.requester.key();
    assert_sibyl_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        SibylError::WrongParty,
    );
    let mut settle = env.settle_accounts(request).await;
    settle.operator = env.operator(1);
    assert_sibyl_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        SibylError::WrongOperator,
    );
    let mut settle = env.settle_accounts(request).await;
    settle.fee_vault = env.requester.token;
    sibyl_tests::assert_anchor_error(
        env.send(send(settle), ix::ResolveDispute {}, &[&cranker])
            .await,
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    env.resolve(request).await.unwrap();
    env.assert_tokens_conserved().await;
}

async fn inconclusive(env: &mut TestEnv) -> anchor_lang::prelude::Pubkey {
    let request = committed(env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request).await.unwrap();
    request
}

#[tokio::test]
async fn arbitration_rules() {
    let mut env = TestEnv::new().await;
    let open = committed(&mut env).await;
    env.challenge(open, &output(b"x")).await.unwrap();
    assert_sibyl_error(
        env.arbitrate(open, DisputeOutcome::OperatorUpheld).await,
        SibylError::DisputeNotInconclusive,
    );
    let request = inconclusive(&mut env).await;
    let stranger = env.publisher.wallet.insecure_clone();
    assert_sibyl_error(
        env.arbitrate_as(&stranger, request, DisputeOutcome::OperatorUpheld)
            .await,
        SibylError::NotAuthority,
    );
    assert_sibyl_error(
        env.arbitrate(request, DisputeOutcome::Open).await,
        SibylError::InvalidArbitration,
    );
    assert_sibyl_error(
        env.arbitrate(request, DisputeOutcome::Refunded).await,
        SibylError::InvalidArbitration,
    );
    assert_sibyl_error(
        env.expire_arbitration(request).await,
        SibylError::ArbitrationDeadlineNotReached,
    );
    env.warp_slots(env.params.arbitration_window_slots + 1)
        .await;
    assert_sibyl_error(
        env.arbitrate(request, DisputeOutcome::OperatorUpheld).await,
        SibylError::ArbitrationDeadlinePassed,
    );
    env.expire_arbitration(request).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn expire_arbitration_needs_an_inconclusive_dispute() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    assert_sibyl_error(
        env.expire_arbitration(request).await,
        SibylError::DisputeNotInconclusive,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn claims_wait_for_settlement_and_losers_get_nothing() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    env.vote(1, request, VoteSide::Operator).await.unwrap();
    env.vote(3, request, VoteSide::Challenger).await.unwrap();
    assert_sibyl_error(
        env.claim_vote(1, request).await,
        SibylError::DisputeNotSettled,
    );
    env.vote(2, request, VoteSide::Operator).await.unwrap();
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request).await.unwrap();
    let loser_before = env.token_balance(env.operators[3].token).await;
    let events = env.claim_vote(3, request).await.unwrap();
    assert_eq!(events.one::<sibyl::events::VoteClaimed>().reward, 0);
    assert_eq!(
        env.token_balance(env.operators[3].token).await,
        loser_before
    );
    let mut accounts = env.claim_vote_accounts(1, request).await;
    accounts.challenger = env.requester.key();
    let wallet = env.operators[1].wallet.insecure_clone();
    assert_sibyl_error(
        env.send(accounts, ix::ClaimVote {}, &[&wallet]).await,
        SibylError::WrongParty,
    );
    env.claim_vote(1, request).await.unwrap();
    env.claim_vote(2, request).await.unwrap();
    assert_eq!(env.token_balance(pda::bond_vault()).await, 0);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn reveal_rules() {
    let mut env = TestEnv::new().await;
    let request = committed(&mut env).await;
    env.challenge(request, &output(b"x")).await.unwrap();
    let dispute = env.dispute_address(request).await;
    let salt = TestEnv::vote_salt(1);
    let commitment =
        sibyl::hashing::vote_commitment(&dispute, &env.operator(1), VoteSide::Operator, &salt);
    env.commit_vote(1, request, commitment).await.unwrap();
    assert_sibyl_error(
        env.reveal_vote(1, dispute, VoteSide::Operator, salt).await,
        SibylError::RevealWindowNotOpen,
    );
    env.warp_slots(env.params.vote_window_slots + 1).await;
    assert_sibyl_error(
        env.reveal_vote(1, dispute, VoteSide::Challenger, salt)
            .await,
        SibylError::CommitmentMismatch,
    );
    assert_sibyl_error(
        env.reveal_vote(1, dispute, VoteSide::Operator, [0; 32])
            .await,
        SibylError::CommitmentMismatch,
    );
    env.reveal_vote(1, dispute, VoteSide::Operator, salt)
        .await
        .unwrap();
    assert_sibyl_error(
        env.reveal_vote(1, dispute, VoteSide::Operator, salt).await,
        SibylError::AlreadyRevealed,
    );
    assert_eq!(
        env.dispute_of(request).await.stake_for_operator,
        OPERATOR_STAKE
    );
    // A commitment left unopened past the reveal deadline stays unopened.
    let late = env.committed_request(0, &output(b"out")).await;
    env.challenge(late, &output(b"x")).await.unwrap();
    let late_dispute = env.dispute_address(late).await;
    let commitment = sibyl::hashing::vote_commitment(
        &late_dispute,
        &env.operator(2),
        VoteSide::Operator,
        &TestEnv::vote_salt(2),
    );
    env.commit_vote(2, late, commitment).await.unwrap();
    env.warp_slots(2 * env.params.vote_window_slots + 1).await;
    assert_sibyl_error(
        env.reveal_vote(2, late_dispute, VoteSide::Operator, TestEnv::vote_salt(2))
            .await,
        SibylError::RevealWindowClosed,
    );
    env.assert_tokens_conserved().await;
}

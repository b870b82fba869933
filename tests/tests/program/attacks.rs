//! The dispute game tried as an attacker would (issue 14): each test is one
//! class of attack, run against the real runtime, and each asserts that the
//! promise holds: no wrong output final, no honest operator slashed, every
//! token able to leave every account.
use anchor_lang::prelude::Pubkey;
use sibyl::{
    encoding::{self, Tensor},
    errors::SibylError,
    hashing::whole_output_sha256,
    instruction as ix,
    instructions::{UpdateConfigArgs, UpdateModelArgs},
    state::{
        ComparisonRule, ConfigParams, DType, DisputeOutcome, RequestStatus, TensorSpec, VoteSide,
    },
};
use sibyl_client::pda;
use sibyl_tests::{
    assert_sibyl_error,
    env::{default_model_args, MODEL_PRICE, OPERATOR_STAKE},
    output, Actor, TestEnv,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

const DONATION: u64 = 7_777;

/// A bystander (the treasury's owner, a party to nothing here) who sends
/// tokens where it likes.
fn bystander(env: &TestEnv) -> Actor {
    env.treasury.clone()
}

async fn donate_to_escrow(env: &mut TestEnv, request: anchor_lang::prelude::Pubkey) {
    let donor = bystander(env);
    env.transfer_tokens(&donor, pda::escrow(&request), DONATION)
        .await;
}

// ----- class 1: frozen escrow -----

#[tokio::test]
async fn a_donation_to_the_escrow_cannot_freeze_finalize_and_goes_to_the_payee() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"honest")).await;
    donate_to_escrow(&mut env, request).await;
    let operator_before = env.token_balance(env.operators[0].token).await;
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    let events = env
        .finalize(request)
        .await
        .expect("finalize settles a donated escrow");
    let paid = events.one::<sibyl::events::RequestFinalized>().payee_amount;
    assert_eq!(
        env.token_balance(env.operators[0].token).await,
        operator_before + paid + DONATION
    );
    assert!(!env.exists(pda::escrow(&request)).await, "escrow closed");
    assert_eq!(env.operator_account(0).await.open_commitments, 0);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_donation_to_the_escrow_cannot_freeze_cancel_or_expiry() {
    let mut env = TestEnv::new().await;
    let requester_before = env.token_balance(env.requester.token).await;
    let cancelled = env.request(b"in").await;
    donate_to_escrow(&mut env, cancelled).await;
    env.cancel(cancelled)
        .await
        .expect("cancel settles a donated escrow");
    let expired = env.request(b"in").await;
    donate_to_escrow(&mut env, expired).await;
    env.warp_slots(env.params.request_timeout_slots + 1).await;
    let events = env
        .expire(expired)
        .await
        .expect("expiry settles a donated escrow");
    assert_eq!(
        events.one::<sibyl::events::RequestExpired>().refunded,
        MODEL_PRICE + DONATION
    );
    // Both fees back, and both donations with them.
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_before + 2 * DONATION
    );
    for request in [cancelled, expired] {
        assert!(!env.exists(pda::escrow(&request)).await);
        assert!(!env.exists(request).await);
    }
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_donation_to_the_escrow_cannot_freeze_a_dispute_or_the_stake_behind_it() {
    let mut env = TestEnv::new().await;
    // Voted: the challenger is upheld.
    let voted = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(voted, &output(b"honest")).await.unwrap();
    for voter in 1..=3 {
        env.vote(voter, voted, VoteSide::Challenger).await.unwrap();
    }
    donate_to_escrow(&mut env, voted).await;
    env.resolve(voted)
        .await
        .expect("resolve settles a donated escrow");
    assert_eq!(
        env.request_account(voted).await.status,
        RequestStatus::Overturned
    );
    for voter in 1..=3 {
        env.claim_vote(voter, voted).await.unwrap();
    }
    // Nobody votes: arbitration expires and refunds.
    let refunded = env.committed_request(1, &output(b"wrong")).await;
    env.challenge(refunded, &output(b"honest")).await.unwrap();
    donate_to_escrow(&mut env, refunded).await;
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(refunded).await.unwrap();
    env.warp_slots(env.params.arbitration_window_slots + 1)
        .await;
    env.expire_arbitration(refunded)
        .await
        .expect("expiry of arbitration settles a donated escrow");
    for request in [voted, refunded] {
        assert!(!env.exists(pda::escrow(&request)).await);
    }
    // Every stake behind them can leave.
    for index in 0..4 {
        let operator = env.operator_account(index).await;
        assert_eq!((operator.open_commitments, operator.open_votes), (0, 0));
        env.request_unstake(index, operator.stake).await.unwrap();
    }
    env.warp_slots(env.params.unbonding_slots + 1).await;
    for index in 0..4 {
        env.withdraw_stake(index).await.expect("stake withdrawn");
    }
    assert_eq!(env.token_balance(pda::stake_vault()).await, 0);
    env.assert_tokens_conserved().await;
}

// ----- class 2: a dispute outlives its request -----

#[tokio::test]
async fn a_request_made_again_at_a_closed_address_gets_its_own_dispute() {
    let mut env = TestEnv::new().await;
    const NONCE: u64 = 9_000;
    let first = env
        .request_at_nonce(NONCE, b"in", MODEL_PRICE, None)
        .await
        .unwrap();
    env.commit(0, first, &output(b"wrong")).await.unwrap();
    env.challenge(first, &output(b"honest")).await.unwrap();
    let old_dispute = env.dispute_address(first).await;
    for voter in 1..=3 {
        env.vote(voter, first, VoteSide::Challenger).await.unwrap();
    }
    env.resolve(first).await.unwrap();
    // Settled, its votes not yet claimed; the requester closes the request
    // and makes a new one at the same address.
    env.close_request(first).await.unwrap();
    let again = env
        .request_at_nonce(NONCE, b"in", MODEL_PRICE, None)
        .await
        .unwrap();
    assert_eq!(again, first, "the same address");
    env.commit(0, again, &output(b"wrong")).await.unwrap();
    let challenger = env.operators[3].clone();
    env.challenge_as(&challenger, again, &output(b"honest-too"))
        .await
        .expect("the new request can be challenged");
    let new_dispute = env.dispute_address(again).await;
    assert_ne!(new_dispute, old_dispute);
    // The old dispute is untouched: its voters claim what they won.
    let old: sibyl::state::Dispute = env.account(old_dispute).await.unwrap();
    assert_eq!(old.outcome, DisputeOutcome::ChallengerUpheld);
    assert_eq!(old.unclaimed_votes, 3);
    let voter_before = env.token_balance(env.operators[1].token).await;
    env.claim_vote_in(1, old_dispute)
        .await
        .expect("an old vote is still claimable");
    assert!(env.token_balance(env.operators[1].token).await > voter_before);
    assert_eq!(env.operator_account(1).await.open_votes, 0);
    let old: sibyl::state::Dispute = env.account(old_dispute).await.unwrap();
    assert_eq!(old.unclaimed_votes, 2);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn work_done_for_one_request_instance_never_lands_on_the_next() {
    let mut env = TestEnv::new().await;
    const NONCE: u64 = 9_100;
    let first = env
        .request_at_nonce(NONCE, b"first input", MODEL_PRICE, None)
        .await
        .unwrap();
    let first_sequence = env.request_account(first).await.sequence;
    // The operator computes an output for the first input; before its
    // commit lands, the requester cancels and asks again at the same
    // address with another input.
    env.cancel(first).await.unwrap();
    let again = env
        .request_at_nonce(NONCE, b"other input", MODEL_PRICE, None)
        .await
        .unwrap();
    assert_eq!(again, first);
    let accounts = env.commit_accounts(0, again).await;
    let wallet = env.operators[0].wallet.insecure_clone();
    assert_sibyl_error(
        env.send(
            accounts,
            ix::CommitResult {
                sequence: first_sequence,
                output: output(b"for the first input"),
                whole_output_sha256: whole_output_sha256(&output(b"for the first input")),
                trace_root: None,
            },
            &[&wallet],
        )
        .await,
        SibylError::RequestInstanceMismatch,
    );
    // Likewise a challenge judged against an earlier instance's commitment.
    env.commit(0, again, &output(b"for the other input"))
        .await
        .unwrap();
    let (key, token) = (env.challenger.key(), env.challenger.token);
    let accounts = env.challenge_accounts(key, token, again).await;
    let challenger = env.challenger.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(
            accounts,
            ix::Challenge {
                sequence: first_sequence,
                output: output(b"x"),
                whole_output_sha256: whole_output_sha256(&output(b"x")),
            },
            &[&challenger],
        )
        .await,
        SibylError::RequestInstanceMismatch,
    );
    env.assert_tokens_conserved().await;
}

// ----- class 6: outputs that are not outputs -----

fn tensor(dtype: DType, dims: Vec<u64>) -> Vec<u8> {
    let count: u64 = dims.iter().product();
    let size = match dtype {
        DType::Int64 | DType::Float64 => 8,
        DType::Float32 | DType::Int32 => 4,
        DType::Int16 | DType::Float16 => 2,
        DType::Uint8 | DType::Int8 | DType::Bool => 1,
    };
    let data = vec![0; (count * size) as usize];
    encoding::encode(&[Tensor::new("probabilities", dtype, dims, data).unwrap()])
}

#[tokio::test]
async fn a_commit_or_challenge_must_be_an_output_of_the_model() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    let two_tensors = [output(b"a"), output(b"b")].concat();
    let cases: [(&str, Vec<u8>, SibylError); 6] = [
        (
            "junk",
            b"not a tensor".to_vec(),
            SibylError::OutputNotCanonical,
        ),
        (
            "trailing bytes",
            [output(b"a"), vec![0]].concat(),
            SibylError::OutputNotCanonical,
        ),
        (
            "another dtype",
            tensor(DType::Int32, vec![1, 10]),
            SibylError::OutputSpecMismatch,
        ),
        (
            "another shape",
            tensor(DType::Float32, vec![1, 9]),
            SibylError::OutputSpecMismatch,
        ),
        ("two tensors", two_tensors, SibylError::OutputSpecMismatch),
        (
            "another name",
            encoding::encode(&[
                Tensor::new("scores", DType::Float32, vec![1, 10], vec![0; 40]).unwrap(),
            ]),
            SibylError::OutputSpecMismatch,
        ),
    ];
    for (what, bytes, error) in &cases {
        let result = env.commit(0, request, bytes).await;
        assert!(result.is_err(), "commit of {what} refused");
        assert_sibyl_error(result, *error);
    }
    let committed = env.committed_request(0, &output(b"out")).await;
    for (what, bytes, error) in &cases {
        let result = env.challenge(committed, bytes).await;
        assert!(result.is_err(), "challenge with {what} refused");
        assert_sibyl_error(result, *error);
    }
    // The model account is the request's own.
    let mut accounts = env.commit_accounts(0, request).await;
    accounts.model = pda::model(&[9; 32]);
    let wallet = env.operators[0].wallet.insecure_clone();
    let result = env
        .send(
            accounts,
            ix::CommitResult {
                sequence: 1,
                output: output(b"out"),
                whole_output_sha256: whole_output_sha256(&output(b"out")),
                trace_root: None,
            },
            &[&wallet],
        )
        .await;
    assert!(result.is_err(), "a commit judged against another model");
    env.assert_tokens_conserved().await;
}

/// A model of several outputs (a classifier's int64 label and float
/// probabilities with a dynamic batch, and a scalar count): a commitment
/// must hold every output, in graph order, each by its name.
#[tokio::test]
async fn an_output_of_several_tensors_must_hold_each_in_graph_order_by_name() {
    let mut env = TestEnv::new().await;
    let spec = |name: &str, dtype, shape: &[i64]| TensorSpec {
        name: name.to_string(),
        dtype,
        shape: shape.to_vec(),
    };
    let mut args = default_model_args([8; 32]);
    args.inputs = vec![
        spec("features", DType::Float32, &[-1, 4]),
        spec("sr", DType::Int64, &[]),
    ];
    args.outputs = vec![
        spec("label", DType::Int64, &[-1]),
        spec("probabilities", DType::Float32, &[-1, 3]),
        spec("count", DType::Int64, &[]),
    ];
    env.register_model(args).await.unwrap();
    let request = env.request_model(pda::model(&[8; 32]), b"in").await;

    let label = |batch: u64| {
        Tensor::new(
            "label",
            DType::Int64,
            vec![batch],
            vec![0; 8 * batch as usize],
        )
        .unwrap()
    };
    let probabilities = |batch: u64| {
        Tensor::from_f32(
            "probabilities",
            vec![batch, 3],
            &vec![0.5; 3 * batch as usize],
        )
        .unwrap()
    };
    let count = Tensor::new("count", DType::Int64, vec![], 1i64.to_le_bytes().to_vec()).unwrap();
    let mut renamed = count.clone();
    renamed.name = "n".to_string();
    let mut ranked = count.clone();
    ranked.dims = vec![1];
    let refused = [
        ("one missing", vec![label(1), probabilities(1)]),
        (
            "out of order",
            vec![probabilities(1), label(1), count.clone()],
        ),
        ("one renamed", vec![label(1), probabilities(1), renamed]),
        (
            "a scalar given a rank",
            vec![label(1), probabilities(1), ranked],
        ),
        (
            "one extra",
            vec![label(1), probabilities(1), count.clone(), count.clone()],
        ),
    ];
    for (what, tensors) in refused {
        let result = env.commit(0, request, &encoding::encode(&tensors)).await;
        assert!(result.is_err(), "a commit with {what} refused");
        assert_sibyl_error(result, SibylError::OutputSpecMismatch);
    }
    // Every output, in order, each by name; the dynamic batch takes any size.
    env.commit(
        0,
        request,
        &encoding::encode(&[label(2), probabilities(2), count]),
    )
    .await
    .unwrap();
    env.assert_tokens_conserved().await;
}

// ----- class 4: flash stake -----

#[tokio::test]
async fn stake_added_after_a_dispute_opened_does_not_weigh_in_it() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"honest")).await.unwrap();
    let dispute = env.dispute_of(request).await;
    // Operator 0's stake cannot vote; the other three can.
    assert_eq!(dispute.eligible_stake, 3 * OPERATOR_STAKE);
    // Operator 3 sides with the wrong output and, seeing the dispute, adds
    // fifty times its stake before voting.
    env.add_stake(3, 50 * OPERATOR_STAKE).await.unwrap();
    let events = env.vote(3, request, VoteSide::Operator).await.unwrap();
    assert_eq!(
        events.one::<sibyl::events::VoteCast>().weight,
        OPERATOR_STAKE,
        "only the stake bonded before the dispute weighs"
    );
    // Two honest voters outweigh it, as their stake says.
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.vote(2, request, VoteSide::Challenger).await.unwrap();
    env.reveal_votes(request).await;
    let dispute = env.dispute_of(request).await;
    assert_eq!(
        (dispute.stake_for_operator, dispute.stake_for_challenger),
        (OPERATOR_STAKE, 2 * OPERATOR_STAKE)
    );
    env.resolve(request).await.unwrap();
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Overturned
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_staked_challengers_stake_is_not_counted_as_eligible() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    let staked_challenger = env.operators[3].clone();
    env.challenge_as(&staked_challenger, request, &output(b"honest"))
        .await
        .unwrap();
    let dispute = env.dispute_of(request).await;
    assert_eq!(dispute.eligible_stake, 2 * OPERATOR_STAKE);
    // So half the stake that can vote is a quorum: a staked decoy cannot
    // push a dispute into "inconclusive" by holding stake it may not vote.
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request).await.unwrap();
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Overturned
    );
    env.assert_tokens_conserved().await;
}

// ----- class 10: powers of the authority, the publisher and the mint -----

fn update_config(signer: &Keypair) -> sibyl::accounts::UpdateConfig {
    sibyl_client::accounts::update_config(signer.pubkey(), None)
}

#[tokio::test]
async fn the_authority_cannot_set_parameters_out_of_bounds() {
    let mut env = TestEnv::new().await;
    let authority = env.authority.wallet.insecure_clone();
    let params = env.params;
    let cases: [(&str, ConfigParams, SibylError); 8] = [
        (
            "a challenge bond above the least stake (nobody could challenge)",
            ConfigParams {
                challenge_bond: params.min_operator_stake + 1,
                ..params
            },
            SibylError::ParameterOutOfBounds,
        ),
        (
            "slash everything",
            ConfigParams {
                slash_bps: 10_000,
                ..params
            },
            SibylError::ParameterOutOfBounds,
        ),
        (
            "no slash at all",
            ConfigParams {
                slash_bps: 0,
                ..params
            },
            SibylError::ParameterOutOfBounds,
        ),
        (
            "a protocol fee of half",
            ConfigParams {
                protocol_fee_bps: 5_000,
                ..params
            },
            SibylError::ParameterOutOfBounds,
        ),
        (
            "a one-slot challenge window",
            ConfigParams {
                challenge_window_slots: 1,
                ..params
            },
            SibylError::InvalidWindow,
        ),
        (
            "a vote window that overflows",
            ConfigParams {
                vote_window_slots: u64::MAX,
                ..params
            },
            SibylError::InvalidWindow,
        ),
        (
            "no quorum",
            ConfigParams {
                quorum_bps: 0,
                ..params
            },
            SibylError::ParameterOutOfBounds,
        ),
        (
            "a threshold nothing reaches (every dispute to arbitration)",
            ConfigParams {
                threshold_bps: 9_500,
                ..params
            },
            SibylError::ParameterOutOfBounds,
        ),
    ];
    for (what, bad, error) in cases {
        let args = UpdateConfigArgs {
            params: Some(bad),
            new_authority: None,
        };
        let result = env
            .send(
                update_config(&authority),
                ix::UpdateConfig { args },
                &[&authority],
            )
            .await;
        assert!(result.is_err(), "{what} refused");
        assert_sibyl_error(result, error);
    }
}

#[tokio::test]
async fn a_parameter_change_waits_out_the_unbonding_period_and_binds_no_open_dispute() {
    let mut env = TestEnv::new().await;
    let authority = env.authority.wallet.insecure_clone();
    // A dispute is open when the authority raises the slash to the maximum.
    let disputed = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(disputed, &output(b"honest")).await.unwrap();
    let harsher = ConfigParams {
        slash_bps: 5_000,
        ..env.params
    };
    let args = UpdateConfigArgs {
        params: Some(harsher),
        new_authority: None,
    };
    let events = env
        .send(
            update_config(&authority),
            ix::UpdateConfig { args },
            &[&authority],
        )
        .await
        .unwrap();
    let updated = events.one::<sibyl::events::ConfigUpdated>();
    assert_eq!(updated.params.slash_bps, env.params.slash_bps, "not yet");
    assert_eq!(updated.pending_params.slash_bps, 5_000);
    let apply = |env: &TestEnv| {
        let cranker = env.requester.wallet.insecure_clone();
        let accounts = sibyl::accounts::ApplyConfig {
            cranker: cranker.pubkey(),
            config: pda::config(),
            event_authority: pda::event_authority(),
            program: sibyl::ID,
        };
        (accounts, cranker)
    };
    let (accounts, cranker) = apply(&env);
    assert_sibyl_error(
        env.send(accounts, ix::ApplyConfig {}, &[&cranker]).await,
        SibylError::TimelockNotElapsed,
    );
    assert_eq!(env.config().await.params.slash_bps, env.params.slash_bps);
    assert!(
        updated.pending_params_slot >= env.slot().await + 150,
        "at least the minimum timelock"
    );
    // The dispute settles under the terms it opened with.
    for voter in 1..=3 {
        env.vote(voter, disputed, VoteSide::Challenger)
            .await
            .unwrap();
    }
    let events = env.resolve(disputed).await.unwrap();
    let slashed = events.one::<sibyl::events::OperatorSlashed>().amount;
    assert_eq!(
        slashed,
        OPERATOR_STAKE * env.params.slash_bps as u64 / 10_000
    );
    let now = env.slot().await;
    env.warp_slots(updated.pending_params_slot - now).await;
    let (accounts, cranker) = apply(&env);
    env.send(accounts, ix::ApplyConfig {}, &[&cranker])
        .await
        .expect("applied after the timelock");
    assert_eq!(env.config().await.params.slash_bps, 5_000);
    let (accounts, cranker) = apply(&env);
    assert_sibyl_error(
        env.send(accounts, ix::ApplyConfig {}, &[&cranker]).await,
        SibylError::NoPendingChange,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn authority_moves_in_two_steps() {
    let mut env = TestEnv::new().await;
    let authority = env.authority.wallet.insecure_clone();
    let successor = env.publisher.wallet.insecure_clone();
    let args = UpdateConfigArgs {
        params: None,
        new_authority: Some(successor.pubkey()),
    };
    env.send(
        update_config(&authority),
        ix::UpdateConfig { args },
        &[&authority],
    )
    .await
    .unwrap();
    // Proposed, not yet in power: the old authority still governs.
    env.set_paused(true).await.unwrap();
    env.set_paused(false).await.unwrap();
    let accept = |signer: &Keypair| sibyl::accounts::AcceptAuthority {
        new_authority: signer.pubkey(),
        config: pda::config(),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    let stranger = env.requester.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(accept(&stranger), ix::AcceptAuthority {}, &[&stranger])
            .await,
        SibylError::NotPendingAuthority,
    );
    env.send(accept(&successor), ix::AcceptAuthority {}, &[&successor])
        .await
        .unwrap();
    let config = env.config().await;
    assert_eq!(config.authority, successor.pubkey());
    assert_eq!(config.pending_authority, Pubkey::default());
    assert_sibyl_error(env.set_paused(true).await, SibylError::NotAuthority);
}

#[tokio::test]
async fn a_publisher_cannot_shrink_a_window_below_the_floor_or_register_a_rule_that_accepts_anything(
) {
    let mut env = TestEnv::new().await;
    let mut one_slot = default_model_args([8; 32]);
    one_slot.challenge_window_override_slots = Some(1);
    assert_sibyl_error(
        env.register_model(one_slot).await,
        SibylError::InvalidWindow,
    );
    let mut anything = default_model_args([8; 32]);
    anything.comparison = ComparisonRule::Tolerance {
        abs: 1e30,
        rel: 0.0,
    };
    assert_sibyl_error(
        env.register_model(anything).await,
        SibylError::InvalidComparisonRule,
    );
    // Nor shrink the window of a model already registered.
    let publisher = env.publisher.wallet.insecure_clone();
    let accounts = sibyl_client::accounts::update_model(publisher.pubkey(), env.model());
    let args = UpdateModelArgs {
        challenge_window_override_slots: Some(Some(1)),
        ..Default::default()
    };
    assert_sibyl_error(
        env.send(accounts, ix::UpdateModel { args }, &[&publisher])
            .await,
        SibylError::InvalidWindow,
    );
}

#[tokio::test]
async fn a_payment_mint_whose_extensions_reach_into_the_vaults_is_refused() {
    use anchor_spl::token_2022::spl_token_2022::{
        extension::{transfer_fee, ExtensionType},
        instruction as token_ix,
    };
    let mut env = TestEnv::builder()
        .token_2022()
        .uninitialized()
        .build()
        .await;
    let thief = Keypair::new().pubkey();
    let owner = env.treasury.key();
    let program = env.token_program;
    let with_delegate = env
        .create_extended_mint(
            &[ExtensionType::PermanentDelegate],
            |mint| vec![token_ix::initialize_permanent_delegate(&program, mint, &thief).unwrap()],
            &owner,
        )
        .await;
    let with_fee = env
        .create_extended_mint(
            &[ExtensionType::TransferFeeConfig],
            |mint| {
                vec![transfer_fee::instruction::initialize_transfer_fee_config(
                    &program,
                    mint,
                    Some(&thief),
                    Some(&thief),
                    100,
                    u64::MAX,
                )
                .unwrap()]
            },
            &owner,
        )
        .await;
    let authority = env.authority.wallet.insecure_clone();
    for (what, (mint, treasury)) in [
        ("permanent delegate", with_delegate),
        ("transfer fee", with_fee),
    ] {
        let mut accounts = env.initialize_accounts();
        accounts.payment_mint = mint;
        accounts.treasury = treasury;
        let params = env.params;
        let result = env
            .send(accounts, ix::Initialize { params }, &[&authority])
            .await;
        assert!(result.is_err(), "a mint with a {what} refused");
        assert_sibyl_error(result, SibylError::UnsupportedMintExtension);
    }
    // A plain Token-2022 mint is fine.
    env.initialize().await.expect("plain Token-2022 mint");
}

// ----- class 3: decoy challenges -----

#[tokio::test]
async fn a_decoy_challenge_cannot_shield_a_wrong_commitment() {
    let mut env = TestEnv::new().await;
    let requester_before = env.token_balance(env.requester.token).await;
    let decoy_before = env.token_balance(env.challenger.token).await;
    let fee_vault_before = env.token_balance(env.fee_vault()).await;
    // Operator 0 commits a wrong output; its accomplice challenges first,
    // with another wrong output, to pre-empt honest challengers.
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"also-wrong"))
        .await
        .unwrap();
    let dispute = env.dispute_address(request).await;
    // A colluding verifier backs the commitment; the honest ones find
    // neither output right.
    env.vote(3, request, VoteSide::Operator).await.unwrap();
    env.vote(1, request, VoteSide::Neither).await.unwrap();
    env.vote(2, request, VoteSide::Neither).await.unwrap();
    let events = env.resolve(request).await.expect("decided early");
    let resolved = events.one::<sibyl::events::DisputeResolved>();
    assert_eq!(resolved.outcome, DisputeOutcome::CommitmentRejected);
    let slashed = events.one::<sibyl::events::OperatorSlashed>().amount;
    assert_eq!(
        slashed,
        OPERATOR_STAKE * env.params.slash_bps as u64 / 10_000
    );
    assert_eq!(
        events
            .one::<sibyl::events::WrongCommitmentRefunded>()
            .refunded,
        MODEL_PRICE
    );
    // No wrong output is final: the request is refunded and closed.
    assert!(!env.exists(request).await);
    assert!(!env.exists(pda::escrow(&request)).await);
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_before
    );
    // The decoy gets its bond back and nothing of the slash; beyond the
    // voters' pool it goes to the protocol.
    assert_eq!(env.token_balance(env.challenger.token).await, decoy_before);
    let pool = slashed * env.params.voter_reward_bps as u64 / 10_000;
    assert_eq!(
        env.token_balance(env.fee_vault()).await,
        fee_vault_before + slashed - pool
    );
    // The honest verifiers share the pool; the colluder gets nothing.
    let before: Vec<u64> = {
        let mut balances = Vec::new();
        for index in 1..=3 {
            balances.push(env.token_balance(env.operators[index].token).await);
        }
        balances
    };
    for voter in 1..=3 {
        env.claim_vote_in(voter, dispute).await.unwrap();
    }
    assert!(!env.exists(dispute).await, "every vote claimed: closed");
    assert_eq!(
        env.token_balance(env.operators[1].token).await,
        before[0] + pool / 2
    );
    assert_eq!(
        env.token_balance(env.operators[2].token).await,
        before[1] + pool - pool / 2
    );
    assert_eq!(env.token_balance(env.operators[3].token).await, before[2]);
    let operator = env.operator_account(0).await;
    assert_eq!((operator.disputes_lost, operator.open_commitments), (1, 0));
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn arbitration_can_reject_a_commitment_without_confirming_the_challenger() {
    let mut env = TestEnv::new().await;
    let requester_before = env.token_balance(env.requester.token).await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"also-wrong"))
        .await
        .unwrap();
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request).await.unwrap();
    let events = env
        .arbitrate(request, DisputeOutcome::CommitmentRejected)
        .await
        .unwrap();
    assert_eq!(
        events
            .one::<sibyl::events::WrongCommitmentRefunded>()
            .refunded,
        MODEL_PRICE
    );
    assert!(!env.exists(request).await);
    assert_eq!(
        env.token_balance(env.requester.token).await,
        requester_before
    );
    env.assert_tokens_conserved().await;
}

// ----- class 7: rules that cover what consumers read -----

#[tokio::test]
async fn a_top_k_rule_is_refused_for_a_float_output_it_cannot_rank() {
    let mut env = TestEnv::new().await;
    // One float score per row (a sigmoid, or a dynamic last axis that may be
    // 1) has nothing to rank: compared bit for bit, an honest operator on
    // another CPU would lose its dispute; and every float output must rank
    // classes, not only the first.
    let speech = sibyl::state::TensorSpec {
        name: "speech".to_string(),
        dtype: DType::Float32,
        shape: vec![1, 1],
    };
    let mut cases = Vec::new();
    for shape in [vec![1, 1], vec![1, -1]] {
        let mut args = default_model_args([9; 32]);
        args.outputs[0].shape = shape;
        cases.push(args);
    }
    let mut two = default_model_args([9; 32]);
    two.outputs.push(speech);
    cases.push(two);
    for mut args in cases {
        args.comparison = ComparisonRule::TopK {
            k: 1,
            tie_margin: 1e-4,
        };
        assert_sibyl_error(
            env.register_model(args).await,
            SibylError::InvalidComparisonRule,
        );
    }
    // An integer label is compared bit for bit, which is sound.
    let mut label = default_model_args([9; 32]);
    label.outputs = vec![sibyl::state::TensorSpec {
        name: "label".to_string(),
        dtype: DType::Int64,
        shape: vec![1, 1],
    }];
    label.max_output_bytes = 64;
    label.comparison = ComparisonRule::TopK {
        k: 1,
        tie_margin: 0.0,
    };
    env.register_model(label).await.unwrap();
}

// ----- class 10: a requester's ceiling on the challenge window -----

#[tokio::test]
async fn a_requester_caps_the_challenge_window_a_publisher_may_stretch() {
    let mut env = TestEnv::new().await;
    // The publisher stretches the window right before a request...
    let publisher = env.publisher.wallet.insecure_clone();
    let accounts = sibyl_client::accounts::update_model(publisher.pubkey(), env.model());
    let args = UpdateModelArgs {
        challenge_window_override_slots: Some(Some(5_000)),
        ..Default::default()
    };
    env.send(accounts, ix::UpdateModel { args }, &[&publisher])
        .await
        .unwrap();
    // ...and a request that set a ceiling below it is refused, escrowing nothing.
    let requester = env.requester.wallet.insecure_clone();
    let request_with_ceiling = |nonce, ceiling| sibyl::instructions::RequestInferenceArgs {
        nonce,
        fee: MODEL_PRICE,
        input_len: 2,
        input: b"in".to_vec(),
        input_reference: None,
        callback: None,
        max_challenge_window_slots: ceiling,
    };
    let nonce = env.next_nonce();
    let accounts = env.request_accounts(&env.requester, env.model(), nonce);
    let before = env.token_balance(env.requester.token).await;
    assert_sibyl_error(
        env.send_request(
            accounts,
            request_with_ceiling(nonce, Some(4_999)),
            &requester,
        )
        .await,
        SibylError::ChallengeWindowAboveCeiling,
    );
    assert_eq!(env.token_balance(env.requester.token).await, before);
    // A ceiling the window fits under is accepted and the window recorded.
    let accounts = env.request_accounts(&env.requester, env.model(), nonce);
    let request = accounts.request;
    env.send_request(
        accounts,
        request_with_ceiling(nonce, Some(5_000)),
        &requester,
    )
    .await
    .unwrap();
    assert_eq!(
        env.request_account(request).await.challenge_window_slots,
        5_000
    );
    env.assert_tokens_conserved().await;
}

// ----- class 11: the crank cannot be farmed -----

#[tokio::test]
async fn refunds_go_only_to_the_account_recorded_at_request_and_cost_a_cranker_nothing() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    assert_eq!(
        env.request_account(request).await.refund_token,
        env.requester.token
    );
    env.warp_slots(env.params.request_timeout_slots + 1).await;
    let cranker = env.challenger.wallet.insecure_clone();

    // Any other token account of the requester is refused.
    let other = env.create_token_account(&env.requester.key()).await;
    let mut accounts = env.expire_accounts(request).await;
    accounts.requester_token = other;
    assert_sibyl_error(
        env.send(accounts, ix::ExpireRequest {}, &[&cranker]).await,
        SibylError::WrongPayoutAccount,
    );

    // The requester closes the recorded account, hoping a cranker will pay
    // to make it again: the refund goes to the model's fee vault instead,
    // and the cranker spends nothing.
    let requester = env.requester.clone();
    env.close_token_account(&requester).await;
    let cranker_lamports = env.lamports(cranker.pubkey()).await;
    let vault_before = env.token_balance(env.fee_vault()).await;
    let events = env.expire(request).await.expect("expired");
    let redirected = events.one::<sibyl::events::PayoutRedirected>();
    assert_eq!(
        (redirected.party, redirected.account),
        (env.requester.key(), env.requester.token)
    );
    assert_eq!(
        env.token_balance(env.fee_vault()).await,
        vault_before + MODEL_PRICE
    );
    assert!(!env.exists(request).await && !env.exists(pda::escrow(&request)).await);
    assert_eq!(env.lamports(cranker.pubkey()).await, cranker_lamports);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_publisher_that_abandons_its_royalty_account_cannot_block_finalize() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"honest")).await;
    let publisher = env.publisher.clone();
    env.close_token_account(&publisher).await;
    // Nor can anyone name another account of its, or of their own.
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    let mut accounts = env.finalize_accounts(request).await;
    accounts.publisher_token = env.challenger.token;
    let cranker = env.challenger.wallet.insecure_clone();
    assert_sibyl_error(
        env.send(accounts, ix::Finalize {}, &[&cranker]).await,
        SibylError::WrongPayoutAccount,
    );
    let operator_before = env.token_balance(env.operators[0].token).await;
    let vault_before = env.token_balance(env.fee_vault()).await;
    let events = env.finalize(request).await.expect("finalized");
    let finalized = events.one::<sibyl::events::RequestFinalized>();
    assert_eq!(
        events.one::<sibyl::events::PayoutRedirected>().party,
        env.publisher.key()
    );
    assert_eq!(
        env.token_balance(env.operators[0].token).await,
        operator_before + finalized.payee_amount
    );
    assert_eq!(
        env.token_balance(env.fee_vault()).await,
        vault_before + finalized.protocol_fee + finalized.royalty
    );
    assert_eq!(env.operator_account(0).await.open_commitments, 0);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn parties_that_abandon_their_accounts_cannot_block_a_dispute_others_wait_on() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"also-wrong"))
        .await
        .unwrap();
    let dispute = env.dispute_address(request).await;
    assert_eq!(
        env.dispute_of(request).await.challenger_token,
        env.challenger.token
    );
    // Every other operator votes that the commitment is wrong (and neither
    // output right); meanwhile the requester closes its refund account and
    // the challenger hands its bond account to someone else.
    for voter in 1..env.operators.len() {
        env.vote(voter, request, VoteSide::Neither).await.unwrap();
    }
    let requester = env.requester.clone();
    env.close_token_account(&requester).await;
    let challenger = env.challenger.clone();
    env.give_token_account_away(&challenger, &Pubkey::new_unique())
        .await;
    let vault_before = env.token_balance(env.fee_vault()).await;
    let events = env.resolve(request).await.expect("resolved");
    let mut redirected: Vec<_> = events
        .all::<sibyl::events::PayoutRedirected>()
        .into_iter()
        .map(|event| event.party)
        .collect();
    redirected.sort();
    let mut expected = vec![env.requester.key(), env.challenger.key()];
    expected.sort();
    assert_eq!(redirected, expected);
    let slashed = events.one::<sibyl::events::OperatorSlashed>().amount;
    let voters_pool = env
        .account::<sibyl::state::Dispute>(dispute)
        .await
        .expect("dispute open until its votes are claimed")
        .reward_pool;
    assert_eq!(
        env.token_balance(env.fee_vault()).await,
        vault_before + MODEL_PRICE + env.params.challenge_bond + slashed - voters_pool
    );
    // The voters claim, and everything closes.
    for voter in 1..env.operators.len() {
        env.claim_vote_in(voter, dispute).await.unwrap();
    }
    assert!(!env.exists(request).await && !env.exists(dispute).await);
    assert_eq!(env.operator_account(0).await.open_commitments, 0);
    env.assert_tokens_conserved().await;
}

// ----- class 5: copying and lazy voters -----

#[tokio::test]
async fn a_copied_vote_cannot_be_revealed_and_an_unrevealed_vote_costs_its_operator() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"honest")).await.unwrap();
    let dispute = env.dispute_address(request).await;
    // Two honest verifiers commit; while votes are being committed nothing
    // shows which way anyone voted.
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.vote(2, request, VoteSide::Challenger).await.unwrap();
    let open = env.dispute_of(request).await;
    assert_eq!(
        (
            open.stake_for_operator,
            open.stake_for_challenger,
            open.stake_for_neither
        ),
        (0, 0, 0)
    );
    assert_eq!(open.stake_committed, 2 * OPERATOR_STAKE);
    // A lazy verifier copies verifier 1's commitment instead of re-executing...
    let honest: sibyl::state::Vote = env
        .account(pda::vote(&dispute, &env.operator(1)))
        .await
        .unwrap();
    env.commit_vote(3, request, honest.commitment)
        .await
        .unwrap();
    // ...and, once verifier 1 has revealed its side and salt, replays them:
    // the commitment binds the voter, so the copy never opens.
    env.reveal_votes(request).await;
    assert_sibyl_error(
        env.reveal_vote(3, dispute, VoteSide::Challenger, TestEnv::vote_salt(1))
            .await,
        SibylError::CommitmentMismatch,
    );
    env.warp_slots(env.params.vote_window_slots + 1).await;
    env.resolve(request).await.unwrap();
    assert_eq!(
        env.request_account(request).await.status,
        RequestStatus::Overturned
    );
    // The copier's vote never counted, earns nothing and costs 1 % of its weight.
    let stake_before = env.operator_account(3).await.stake;
    let events = env.claim_vote_in(3, dispute).await.unwrap();
    let claimed = events.one::<sibyl::events::VoteClaimed>();
    let penalty = OPERATOR_STAKE * sibyl::constants::VOTE_PENALTY_BPS as u64 / 10_000;
    assert_eq!((claimed.reward, claimed.penalty), (0, penalty));
    assert_eq!(env.operator_account(3).await.stake, stake_before - penalty);
    // The honest voters are paid and lose nothing.
    for voter in 1..=2 {
        let events = env.claim_vote_in(voter, dispute).await.unwrap();
        let claimed = events.one::<sibyl::events::VoteClaimed>();
        assert!(claimed.reward > 0 && claimed.penalty == 0);
        assert_eq!(env.operator_account(voter).await.stake, OPERATOR_STAKE);
    }
    assert!(!env.exists(dispute).await);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_vote_on_the_losing_side_costs_its_operator_and_anyone_may_claim_it() {
    let mut env = TestEnv::new().await;
    let request = env.committed_request(0, &output(b"wrong")).await;
    env.challenge(request, &output(b"honest")).await.unwrap();
    let dispute = env.dispute_address(request).await;
    // Verifier 3 backs the wrong output without checking; 1 and 2 re-execute.
    env.vote(3, request, VoteSide::Operator).await.unwrap();
    env.vote(1, request, VoteSide::Challenger).await.unwrap();
    env.vote(2, request, VoteSide::Challenger).await.unwrap();
    env.resolve(request).await.unwrap();
    // A bystander claims verifier 3's vote: the penalty is taken all the
    // same, and what a vote earns would go to the voter's payout account.
    let accounts = env.claim_vote_accounts_in(3, dispute).await;
    let bystander = env.treasury.wallet.insecure_clone();
    let accounts = sibyl::accounts::ClaimVote {
        claimer: bystander.pubkey(),
        ..accounts
    };
    let fee_vault_before = env.token_balance(env.fee_vault()).await;
    let events = env
        .send(accounts, ix::ClaimVote {}, &[&bystander])
        .await
        .expect("anyone may claim a settled vote");
    let penalty = OPERATOR_STAKE * sibyl::constants::VOTE_PENALTY_BPS as u64 / 10_000;
    assert_eq!(events.one::<sibyl::events::VoteClaimed>().penalty, penalty);
    assert_eq!(
        env.token_balance(env.fee_vault()).await,
        fee_vault_before + penalty
    );
    assert_eq!(env.operator_account(3).await.open_votes, 0);
    // Nor can anyone send a claim's reward elsewhere.
    let mut accounts = env.claim_vote_accounts_in(1, dispute).await;
    accounts.claimer = bystander.pubkey();
    accounts.voter_token = env.treasury.token;
    assert_sibyl_error(
        env.send(accounts, ix::ClaimVote {}, &[&bystander]).await,
        SibylError::WrongPayoutAccount,
    );
    env.assert_tokens_conserved().await;
}

// ----- class 10: nobody front-runs initialize -----

#[tokio::test]
async fn only_the_upgrade_authority_may_initialize() {
    let mut env = TestEnv::builder().uninitialized().build().await;
    // A bystander races the deployer to initialize and become the authority.
    let bystander = env.challenger.wallet.insecure_clone();
    let mut accounts =
        sibyl_client::accounts::initialize(bystander.pubkey(), env.tokens(), env.challenger.token);
    assert_sibyl_error(
        env.send(
            accounts,
            ix::Initialize { params: env.params },
            &[&bystander],
        )
        .await,
        SibylError::NotUpgradeAuthority,
    );
    // Nor can it pass another account for the ProgramData.
    accounts.program_data = Pubkey::new_unique();
    sibyl_tests::assert_anchor_error(
        env.send(
            accounts,
            ix::Initialize { params: env.params },
            &[&bystander],
        )
        .await,
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    // The program's upgrade authority may.
    env.initialize()
        .await
        .expect("the upgrade authority initializes");
    assert_eq!(env.config().await.authority, env.authority.key());
}

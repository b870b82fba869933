//! Governance (initialize, update_config, pause/unpause) and models
//! (register, update, retire): each rule broken once, with its named error.
use sibyl::{
    errors::SibylError,
    events::*,
    instruction as ix,
    instructions::{RegisterModelArgs, UpdateConfigArgs, UpdateModelArgs},
    state::{ComparisonRule, ConfigParams, Model, TensorSpec, VoteSide},
};
use sibyl_client::pda;
use sibyl_tests::{
    assert_sibyl_error,
    env::{default_model_args, default_params},
    output, TestEnv,
};
use solana_signer::Signer;

async fn initialize_with(params: ConfigParams) -> sibyl_tests::TxResult {
    let mut env = TestEnv::builder()
        .uninitialized()
        .params(params)
        .build()
        .await;
    let result = env.initialize().await;
    env.assert_tokens_conserved().await;
    result
}

#[tokio::test]
async fn initialize_creates_config_and_vaults() {
    let mut env = TestEnv::builder().uninitialized().build().await;
    let events = env.initialize().await.unwrap();
    assert_eq!(
        events.one::<ConfigInitialized>().authority,
        env.authority.key()
    );
    let config = env.config().await;
    assert_eq!(config.params, env.params);
    assert_eq!(config.stake_vault, pda::stake_vault());
    assert!(!config.paused);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn initialize_rejects_invalid_parameters() {
    let p = default_params();
    let cases = [
        (
            ConfigParams {
                threshold_bps: 5_000,
                ..p
            },
            SibylError::InvalidThreshold,
        ),
        (
            ConfigParams {
                quorum_bps: 10_001,
                ..p
            },
            SibylError::InvalidBps,
        ),
        (
            ConfigParams {
                protocol_fee_bps: 10_001,
                ..p
            },
            SibylError::InvalidBps,
        ),
        (
            ConfigParams {
                challenge_window_slots: 0,
                ..p
            },
            SibylError::InvalidWindow,
        ),
        (
            ConfigParams {
                unbonding_slots: 0,
                ..p
            },
            SibylError::InvalidWindow,
        ),
        (
            ConfigParams {
                min_operator_stake: 0,
                ..p
            },
            SibylError::ZeroAmount,
        ),
        (
            ConfigParams {
                challenge_bond: 0,
                ..p
            },
            SibylError::ZeroAmount,
        ),
    ];
    for (params, error) in cases {
        assert_sibyl_error(initialize_with(params).await, error);
    }
}

#[tokio::test]
async fn initialize_rejects_a_treasury_of_another_mint() {
    let mut env = TestEnv::builder().uninitialized().build().await;
    let mut accounts = env.initialize_accounts();
    // A token account that is not even of this mint: the stake vault address
    // does not exist yet, so use the mint account itself as a wrong "treasury".
    accounts.treasury = env.publisher.key();
    let authority = env.authority.wallet.insecure_clone();
    let result = env
        .send(
            accounts,
            ix::Initialize { params: env.params },
            &[&authority],
        )
        .await;
    sibyl_tests::assert_anchor_error(
        result,
        anchor_lang::error::ErrorCode::AccountOwnedByWrongProgram,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn update_config_is_for_the_authority_only() {
    let mut env = TestEnv::new().await;
    let stranger = env.publisher.wallet.insecure_clone();
    let accounts = sibyl::accounts::UpdateConfig {
        authority: stranger.pubkey(),
        config: pda::config(),
        new_treasury: None,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    let result = env
        .send(
            accounts,
            ix::UpdateConfig {
                args: UpdateConfigArgs::default(),
            },
            &[&stranger],
        )
        .await;
    assert_sibyl_error(result, SibylError::NotAuthority);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn update_config_validates_and_schedules_new_parameters() {
    let mut env = TestEnv::new().await;
    let authority = env.authority.wallet.insecure_clone();
    let accounts = || sibyl::accounts::UpdateConfig {
        authority: authority.pubkey(),
        config: pda::config(),
        new_treasury: None,
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    let bad = UpdateConfigArgs {
        params: Some(ConfigParams {
            slash_bps: 20_000,
            ..env.params
        }),
        new_authority: None,
    };
    assert_sibyl_error(
        env.send(accounts(), ix::UpdateConfig { args: bad }, &[&authority])
            .await,
        SibylError::InvalidBps,
    );
    let good = UpdateConfigArgs {
        params: Some(ConfigParams {
            challenge_window_slots: 77,
            ..env.params
        }),
        new_authority: Some(env.publisher.key()),
    };
    let slot = env.slot().await;
    let events = env
        .send(accounts(), ix::UpdateConfig { args: good }, &[&authority])
        .await
        .unwrap();
    let updated = events.one::<ConfigUpdated>();
    assert_eq!(updated.pending_params.challenge_window_slots, 77);
    assert_eq!(
        updated.pending_params_slot,
        slot + env.params.unbonding_slots.max(150)
    );
    assert_eq!(updated.pending_authority, env.publisher.key());
    let config = env.config().await;
    // Scheduled and proposed, not in force (tests/program/attacks.rs
    // follows both to the end).
    assert_eq!(config.params, env.params);
    assert_eq!(config.authority, env.authority.key());
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn pause_is_for_the_authority_only() {
    let mut env = TestEnv::new().await;
    let stranger = env.requester.wallet.insecure_clone();
    let accounts = sibyl::accounts::SetPaused {
        authority: stranger.pubkey(),
        config: pda::config(),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    assert_sibyl_error(
        env.send(accounts, ix::Pause {}, &[&stranger]).await,
        SibylError::NotAuthority,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn pause_refuses_new_work_but_lets_disputes_and_settlement_run() {
    let mut env = TestEnv::new().await;
    let committed = env.request(b"in").await;
    env.commit(0, committed, &output(b"wrong")).await.unwrap();
    let pending = env.request(b"in").await;
    let events = env.set_paused(true).await.unwrap();
    assert!(events.one::<PauseChanged>().paused);

    assert_sibyl_error(
        env.request_with_fee(b"in", 1_000_000)
            .await
            .map(|_| Default::default()),
        SibylError::ProtocolPaused,
    );
    assert_sibyl_error(
        env.commit(1, pending, &output(b"out")).await,
        SibylError::ProtocolPaused,
    );
    assert_sibyl_error(env.add_stake(1, 1).await, SibylError::ProtocolPaused);
    assert_sibyl_error(
        env.register_model(default_model_args([9; 32])).await,
        SibylError::ProtocolPaused,
    );
    assert_sibyl_error(
        env.write_input(pending, 2, b"x").await,
        SibylError::ProtocolPaused,
    );

    // Honest parties can still defend and exit.
    env.challenge(committed, &output(b"right")).await.unwrap();
    env.vote(1, committed, VoteSide::Challenger).await.unwrap();
    env.vote(2, committed, VoteSide::Challenger).await.unwrap();
    env.resolve(committed).await.unwrap();
    env.cancel(pending).await.unwrap();

    env.set_paused(false).await.unwrap();
    env.request(b"in").await;
    env.assert_tokens_conserved().await;
}

fn spec(name: &str, shape: Vec<i64>) -> TensorSpec {
    TensorSpec {
        name: name.to_string(),
        dtype: sibyl::state::DType::Float32,
        shape,
    }
}

#[tokio::test]
async fn register_model_validates_every_field() {
    let mut env = TestEnv::new().await;
    let base = default_model_args([5; 32]);
    let with = |change: &dyn Fn(&mut RegisterModelArgs)| {
        let mut args = base.clone();
        change(&mut args);
        args
    };
    let cases = [
        (with(&|a| a.uri = String::new()), SibylError::InvalidUri),
        (with(&|a| a.uri = "x".repeat(201)), SibylError::InvalidUri),
        (with(&|a| a.price = 0), SibylError::InvalidPrice),
        (with(&|a| a.royalty_bps = 10_001), SibylError::InvalidBps),
        (
            with(&|a| a.challenge_window_override_slots = Some(0)),
            SibylError::InvalidWindow,
        ),
        (with(&|a| a.inputs = vec![]), SibylError::InvalidTensorSpec),
        (
            with(&|a| a.outputs = vec![spec("y", vec![1, 0])]),
            SibylError::InvalidTensorSpec,
        ),
        (
            with(&|a| a.inputs = vec![spec("x", vec![1; 9])]),
            SibylError::InvalidTensorSpec,
        ),
        (
            with(&|a| a.inputs = vec![spec("", vec![1])]),
            SibylError::InvalidTensorSpec,
        ),
        (
            with(&|a| a.inputs = vec![spec(&"x".repeat(65), vec![1])]),
            SibylError::InvalidTensorSpec,
        ),
        (
            with(&|a| a.outputs = vec![spec("y", vec![1]), spec("y", vec![2])]),
            SibylError::InvalidTensorSpec,
        ),
        (
            with(&|a| a.inputs = (0..9).map(|i| spec(&format!("x{i}"), vec![1])).collect()),
            SibylError::InvalidTensorSpec,
        ),
        (
            with(&|a| a.max_input_bytes = 0),
            SibylError::InvalidSizeBound,
        ),
        (
            with(&|a| a.max_input_bytes = sibyl::constants::MAX_INPUT_BYTES + 1),
            SibylError::InvalidSizeBound,
        ),
        (
            with(&|a| a.max_output_bytes = 1_025),
            SibylError::InvalidSizeBound,
        ),
        // Below the smallest input or output the specs allow: `pixels`
        // float32 [1, 64] encodes in 284 bytes, `probabilities` [1, 10] in
        // 75 (with a dynamic dimension at 1, no placeholder output of a
        // watcher could fit a smaller bound).
        (
            with(&|a| a.max_input_bytes = 283),
            SibylError::InvalidSizeBound,
        ),
        (
            with(&|a| a.max_output_bytes = 74),
            SibylError::InvalidSizeBound,
        ),
        (
            with(&|a| {
                a.outputs = vec![spec("y", vec![-1])];
                a.max_output_bytes = 15;
            }),
            SibylError::InvalidSizeBound,
        ),
        (
            with(&|a| {
                a.comparison = ComparisonRule::TopK {
                    k: 0,
                    tie_margin: 0.0,
                }
            }),
            SibylError::InvalidComparisonRule,
        ),
        (
            with(&|a| {
                a.comparison = ComparisonRule::Tolerance {
                    abs: f32::INFINITY,
                    rel: 0.0,
                }
            }),
            SibylError::InvalidComparisonRule,
        ),
        (
            with(&|a| {
                a.comparison = ComparisonRule::Tolerance {
                    abs: 0.0,
                    rel: -1.0,
                }
            }),
            SibylError::InvalidComparisonRule,
        ),
    ];
    for (args, error) in cases {
        assert_sibyl_error(env.register_model(args).await, error);
    }
    let events = env.register_model(base).await.unwrap();
    assert_eq!(events.one::<ModelRegistered>().model_hash, [5; 32]);
    let model: Model = env.model_account(pda::model(&[5; 32])).await;
    assert_eq!(model.publisher, env.publisher.key());
    env.assert_tokens_conserved().await;
}

async fn update_model(
    env: &mut TestEnv,
    signer_is_publisher: bool,
    args: UpdateModelArgs,
) -> sibyl_tests::TxResult {
    let signer = if signer_is_publisher {
        env.publisher.wallet.insecure_clone()
    } else {
        env.requester.wallet.insecure_clone()
    };
    let accounts = sibyl::accounts::UpdateModel {
        publisher: signer.pubkey(),
        model: env.model(),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    env.send(accounts, ix::UpdateModel { args }, &[&signer])
        .await
}

async fn retire_model(env: &mut TestEnv, signer_is_publisher: bool) -> sibyl_tests::TxResult {
    let signer = if signer_is_publisher {
        env.publisher.wallet.insecure_clone()
    } else {
        env.requester.wallet.insecure_clone()
    };
    let accounts = sibyl::accounts::RetireModel {
        publisher: signer.pubkey(),
        model: env.model(),
        event_authority: pda::event_authority(),
        program: sibyl::ID,
    };
    env.send(accounts, ix::RetireModel {}, &[&signer]).await
}

#[tokio::test]
async fn update_model_is_for_the_publisher_and_validated() {
    let mut env = TestEnv::new().await;
    let raise = UpdateModelArgs {
        price: Some(2_000_000),
        ..Default::default()
    };
    assert_sibyl_error(
        update_model(&mut env, false, raise.clone()).await,
        SibylError::NotPublisher,
    );
    let zero = UpdateModelArgs {
        price: Some(0),
        ..Default::default()
    };
    assert_sibyl_error(
        update_model(&mut env, true, zero).await,
        SibylError::InvalidPrice,
    );
    let royalty = UpdateModelArgs {
        royalty_bps: Some(10_001),
        ..Default::default()
    };
    assert_sibyl_error(
        update_model(&mut env, true, royalty).await,
        SibylError::InvalidBps,
    );
    let events = update_model(&mut env, true, raise).await.unwrap();
    assert_eq!(events.one::<ModelUpdated>().price, 2_000_000);
    // The old price is now too small a fee.
    assert_sibyl_error(
        env.request_with_fee(b"in", 1_000_000)
            .await
            .map(|_| Default::default()),
        SibylError::FeeBelowPrice,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn retired_model_refuses_new_requests_but_finishes_open_ones() {
    let mut env = TestEnv::new().await;
    let open = env.request(b"in").await;
    assert_sibyl_error(
        retire_model(&mut env, false).await,
        SibylError::NotPublisher,
    );
    retire_model(&mut env, true).await.unwrap();
    assert_sibyl_error(
        retire_model(&mut env, true).await,
        SibylError::ModelAlreadyRetired,
    );
    assert_sibyl_error(
        env.request_with_fee(b"in", 1_000_000)
            .await
            .map(|_| Default::default()),
        SibylError::ModelRetired,
    );
    assert_sibyl_error(
        update_model(&mut env, true, UpdateModelArgs::default()).await,
        SibylError::ModelRetired,
    );
    env.commit(0, open, &output(b"out")).await.unwrap();
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    env.finalize(open).await.unwrap();
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn fee_split_above_the_whole_is_refused_at_request_time() {
    let mut env = TestEnv::new().await;
    update_model(
        &mut env,
        true,
        UpdateModelArgs {
            royalty_bps: Some(9_900),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_sibyl_error(
        env.request_with_fee(b"in", 1_000_000)
            .await
            .map(|_| Default::default()),
        SibylError::FeeSplitTooLarge,
    );
    env.assert_tokens_conserved().await;
}

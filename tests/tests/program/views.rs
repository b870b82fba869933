//! Results that fit on chain: a model's output views, the result an
//! operator commits, the whole output named by its hash, and where a node
//! serves it.
use sibyl::{
    encoding::{encode, Tensor},
    errors::SibylError,
    events::{OperatorOutputUrlSet, ResultChallenged, ResultCommitted},
    hashing::whole_output_sha256,
    instructions::RegisterModelArgs,
    state::{project, DType, DisputeOutcome, OutputView, RequestStatus, TensorSpec, VoteSide},
};
use sibyl_client::pda;
use sibyl_tests::{assert_anchor_error, assert_sibyl_error, env::default_model_args, TestEnv};

const CLASSIFIER: [u8; 32] = [21; 32];
const TOP: OutputView = OutputView::TopK { k: 3, scale: 1000 };

/// A 1000-class classifier whose label is left out of the result and whose
/// logits go on chain as their top 3.
fn classifier_args() -> RegisterModelArgs {
    let mut args = default_model_args(CLASSIFIER);
    args.outputs = vec![
        TensorSpec {
            name: "label".into(),
            dtype: DType::Int64,
            shape: vec![1],
        },
        TensorSpec {
            name: "logits".into(),
            dtype: DType::Float32,
            shape: vec![1, 1000],
        },
    ];
    args.output_views = vec![OutputView::Omitted, TOP];
    args.max_output_bytes = 64;
    args
}

/// The whole output of the classifier, its class `best` scoring highest.
fn whole(best: usize) -> Vec<u8> {
    let mut logits = vec![0.0f32; 1000];
    logits[best] = 3.0;
    logits[(best + 1) % 1000] = 2.0;
    logits[(best + 2) % 1000] = 1.0;
    let label = Tensor::new(
        "label",
        DType::Int64,
        vec![1],
        (best as i64).to_le_bytes().to_vec(),
    );
    encode(&[
        label.unwrap(),
        Tensor::from_f32("logits", vec![1, 1000], &logits).unwrap(),
    ])
}

fn result(whole: &[u8]) -> Vec<u8> {
    project(&[OutputView::Omitted, TOP], whole).unwrap()
}

/// A top-3 result made of these `(class, score)` pairs.
fn pairs(pairs: &[i32]) -> Vec<u8> {
    let data = pairs.iter().flat_map(|v| v.to_le_bytes()).collect();
    encode(&[Tensor::new("logits", DType::Int32, vec![1, 3, 2], data).unwrap()])
}

async fn classifier_request(env: &mut TestEnv) -> anchor_lang::prelude::Pubkey {
    env.request_model(pda::model(&CLASSIFIER), b"in").await
}

#[tokio::test]
async fn a_model_registers_views_that_fit_its_outputs_and_nothing_else() {
    let mut env = TestEnv::new().await;
    let refused: [(&str, Vec<OutputView>); 6] = [
        ("fewer views than outputs", vec![TOP]),
        (
            "every output omitted",
            vec![OutputView::Omitted, OutputView::Omitted],
        ),
        ("a top-k of an integer label", vec![TOP, TOP]),
        (
            "more classes than the axis",
            vec![OutputView::Omitted, OutputView::TopK { k: 1001, scale: 1 }],
        ),
        (
            "a zero scale",
            vec![OutputView::Omitted, OutputView::TopK { k: 1, scale: 0 }],
        ),
        (
            "a slice past the end",
            vec![OutputView::Slice { start: 0, len: 2 }, TOP],
        ),
    ];
    for (_what, views) in refused {
        let mut args = classifier_args();
        args.output_views = views;
        assert_sibyl_error(
            env.register_model(args).await,
            SibylError::InvalidOutputView,
        );
    }
    // The bound is the result's: the whole logits (4 KB) could never fit,
    // the top 3 do (60 bytes), and a bound below them is refused.
    let mut whole_on_chain = classifier_args();
    whole_on_chain.output_views = vec![];
    assert_sibyl_error(
        env.register_model(whole_on_chain).await,
        SibylError::InvalidSizeBound,
    );
    let mut too_small = classifier_args();
    too_small.max_output_bytes = 59;
    assert_sibyl_error(
        env.register_model(too_small).await,
        SibylError::InvalidSizeBound,
    );
    env.register_model(classifier_args()).await.unwrap();
    let model = env.model_account(pda::model(&CLASSIFIER)).await;
    assert_eq!(model.output_views, vec![OutputView::Omitted, TOP]);
    assert_eq!(model.result_specs().len(), 1);
}

#[tokio::test]
async fn an_operator_commits_the_views_of_its_output_and_names_the_whole_by_hash() {
    let mut env = TestEnv::new().await;
    env.register_model(classifier_args()).await.unwrap();
    let request = classifier_request(&mut env).await;
    let state = env.request_account(request).await;
    assert_eq!(
        state.output_views,
        vec![OutputView::Omitted, TOP],
        "copied for consumers"
    );

    let honest = whole(7);
    let refused = [
        ("a top 2", {
            let data = [7i32, 3000, 8, 2000]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            encode(&[Tensor::new("logits", DType::Int32, vec![1, 2, 2], data).unwrap()])
        }),
        (
            "a class past the last",
            pairs(&[1000, 3000, 8, 2000, 9, 1000]),
        ),
        ("a negative class", pairs(&[-1, 3000, 8, 2000, 9, 1000])),
        ("a class twice", pairs(&[7, 3000, 7, 3000, 9, 1000])),
    ];
    for (what, bytes) in refused {
        let result = env
            .commit_with_whole(0, request, &bytes, whole_output_sha256(&honest))
            .await;
        assert!(result.is_err(), "{what}");
        assert_sibyl_error(result, SibylError::OutputSpecMismatch);
    }
    let events = env
        .commit_with_whole(0, request, &result(&honest), whole_output_sha256(&honest))
        .await
        .unwrap();
    assert_eq!(
        events.one::<ResultCommitted>().whole_output_sha256,
        whole_output_sha256(&honest)
    );
    let state = env.request_account(request).await;
    assert_eq!(state.output, pairs(&[7, 3000, 8, 2000, 9, 1000]));
    assert_eq!(state.whole_output_sha256, whole_output_sha256(&honest));
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn where_every_view_is_whole_the_whole_output_hash_is_the_results() {
    let mut env = TestEnv::new().await;
    let request = env.request(b"in").await;
    let output = sibyl_tests::output(b"out");
    assert_sibyl_error(
        env.commit_with_whole(0, request, &output, [9; 32]).await,
        SibylError::WholeOutputHashMismatch,
    );
    env.commit(0, request, &output).await.unwrap();
    let challenger = env.challenger.clone();
    let other = sibyl_tests::output(b"other");
    assert_sibyl_error(
        env.challenge_with_whole_as(&challenger, request, &other, [9; 32])
            .await,
        SibylError::WholeOutputHashMismatch,
    );
}

#[tokio::test]
async fn an_upheld_challenger_leaves_its_result_and_its_whole_output_hash() {
    let mut env = TestEnv::new().await;
    env.register_model(classifier_args()).await.unwrap();
    let request = classifier_request(&mut env).await;
    let (lie, truth) = (whole(500), whole(7));
    env.commit_with_whole(0, request, &result(&lie), whole_output_sha256(&lie))
        .await
        .unwrap();
    // The same result under another whole output is no dispute: only the
    // result is judged.
    let challenger = env.challenger.clone();
    assert_sibyl_error(
        env.challenge_with_whole_as(&challenger, request, &result(&lie), [1; 32])
            .await,
        SibylError::ChallengeSameOutput,
    );
    let events = env
        .challenge_with_whole_as(
            &challenger,
            request,
            &result(&truth),
            whole_output_sha256(&truth),
        )
        .await
        .unwrap();
    assert_eq!(
        events
            .one::<ResultChallenged>()
            .challenger_whole_output_sha256,
        whole_output_sha256(&truth)
    );
    for voter in 1..=3 {
        env.vote(voter, request, VoteSide::Challenger)
            .await
            .unwrap();
    }
    let events = env.resolve(request).await.unwrap();
    assert_eq!(
        events.one::<sibyl::events::DisputeResolved>().outcome,
        DisputeOutcome::ChallengerUpheld
    );
    let state = env.request_account(request).await;
    assert_eq!(state.status, RequestStatus::Overturned);
    assert_eq!(state.output, result(&truth));
    assert_eq!(state.whole_output_sha256, whole_output_sha256(&truth));
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn an_operators_node_key_names_where_it_serves_whole_outputs() {
    let mut env = TestEnv::new().await;
    let events = env
        .set_output_url(0, "https://node.example/sibyl")
        .await
        .unwrap();
    assert_eq!(
        events.one::<OperatorOutputUrlSet>().output_url,
        "https://node.example/sibyl"
    );
    assert_eq!(
        env.operator_account(0).await.output_url,
        "https://node.example/sibyl"
    );
    for bad in ["file:///etc/passwd", "https://a b", "ftp://x"] {
        assert_sibyl_error(
            env.set_output_url(0, bad).await,
            SibylError::InvalidOutputUrl,
        );
    }
    // Another key cannot name it for operator 0.
    let mut accounts = sibyl_client::accounts::set_output_url(env.operators[1].key());
    accounts.operator = env.operator(0);
    let wallet = env.operators[1].wallet.insecure_clone();
    assert_anchor_error(
        env.send(
            accounts,
            sibyl::instruction::SetOutputUrl {
                output_url: "https://evil.example".into(),
            },
            &[&wallet],
        )
        .await,
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    // Empty: none.
    env.set_output_url(0, "").await.unwrap();
    assert_eq!(env.operator_account(0).await.output_url, "");
}

//! A faulty node's wrong output is challenged by a watching node and
//! overturned by the votes of two verifying nodes; a made-up output for an
//! input the model cannot take is challenged and rejected.
use crate::{
    bad_input::float_input,
    cluster::{python_output, Cluster, STAKE},
};
use sibyl::state::RequestStatus;
use sibyl_client::{accounts, instruction};
use sibyl_oracle::{actions::request::Progress, compare::outputs_agree};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_result_is_challenged_and_overturned_by_votes() {
    let cluster = Cluster::start(4).await;
    // 0 serves, and lies every time; 1 watches and cranks; 2 and 3 vote.
    let running = cluster.start_nodes(cluster.dispute_nodes(1.0)).await;
    let challenger = cluster.operators[1].pubkey();
    let challenger_tokens_before = cluster.token_balance(&challenger).await;

    let request = cluster.request_digit("digit-8").await;
    let state = cluster.wait_final(&request, Duration::from_secs(90)).await;

    assert_eq!(state.status, RequestStatus::Overturned);
    // The requester gets the watcher's correct output, which is Python's.
    let rule = sibyl::state::ComparisonRule::TopK {
        k: 1,
        tie_margin: 1e-4,
    };
    assert!(outputs_agree(
        &rule,
        &python_output("digit-8"),
        &state.output
    ));
    assert_eq!(state.output, python_output("digit-8"));
    let faulty = cluster.operator_state(0).await;
    assert_eq!(faulty.disputes_lost, 1);
    assert_eq!(faulty.stake, STAKE - STAKE / 5, "slashed 20 %");
    assert!(
        cluster.token_balance(&challenger).await > challenger_tokens_before,
        "the challenger is rewarded"
    );
    // Each verifier's vote was claimed once the dispute settled.
    cluster.wait_votes_claimed(&[2, 3]).await;

    cluster.assert_tokens_conserved().await;
    running.stop().await;
}

/// A requester and an operator in collusion: an input the digits model
/// cannot take (a [1, 3] tensor), which no honest node serves, and a
/// made-up output committed for it. No output is right for that input: the
/// watcher challenges with a placeholder, both verifiers vote that both
/// outputs are wrong, and the commitment is rejected: the operator slashed,
/// the requester refunded, the request closed, nothing final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_made_up_output_for_an_input_the_model_cannot_take_is_rejected() {
    let cluster = Cluster::start(4).await;
    // No node serves for operator 0; 1 watches and cranks; 2 and 3 vote.
    let [_, watcher, voter_a, voter_b] = cluster.dispute_nodes(0.0);
    let running = cluster.start_nodes([watcher, voter_a, voter_b]).await;
    let requester = cluster.requester.pubkey();
    let requester_tokens_before = cluster.token_balance(&requester).await;

    let misfit = float_input(&[1.0, 2.0, 3.0], vec![1, 3]);
    let request = cluster.request_input(cluster.model, misfit).await.unwrap();
    let state = cluster.request_state(&request).await.unwrap();
    let accomplice = cluster.client(&cluster.operators[0]);
    let commit = instruction(
        accounts::commit_result(accomplice.wallet(), request, cluster.model),
        sibyl::instruction::CommitResult {
            sequence: state.sequence,
            output: python_output("digit-8"),
            whole_output_sha256: sibyl::hashing::whole_output_sha256(&python_output("digit-8")),
            trace_root: None,
        },
    );
    accomplice
        .send("commit_result", &[commit], &[])
        .await
        .expect("the program cannot tell the input does not fit");

    let ended = cluster.wait_ended(&request, Duration::from_secs(90)).await;
    assert!(matches!(ended, Progress::Closed), "{ended:?}");
    let accomplice_state = cluster.operator_state(0).await;
    assert_eq!(accomplice_state.disputes_lost, 1);
    assert_eq!(accomplice_state.stake, STAKE - STAKE / 5, "slashed 20 %");
    assert_eq!(
        cluster.token_balance(&requester).await,
        requester_tokens_before,
        "the requester is refunded in full"
    );
    cluster.wait_votes_claimed(&[2, 3]).await;
    cluster.assert_tokens_conserved().await;
    running.stop().await;
}

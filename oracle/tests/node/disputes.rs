//! A faulty node's wrong output is challenged by a watching node and
//! overturned by the votes of two verifying nodes.
use crate::cluster::{python_output, Cluster, STAKE};
use sibyl::state::RequestStatus;
use sibyl_oracle::compare::outputs_agree;
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

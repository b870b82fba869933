//! A lying operator at scale: whatever it commits wrongly is challenged and
//! overturned inside its window, nothing it commits honestly is disputed,
//! and every token is accounted for.
use crate::cluster::{python_output, test_params, Cluster, Wallet, STAKE};
use futures_util::future::join_all;
use sibyl::state::{ConfigParams, RequestStatus};
use sibyl_oracle::{config::Role, faulty};
use std::time::Duration;

const REQUESTS: usize = 200;
const FAULTY_RATE: f64 = 0.3;
const SAMPLES: [&str; 3] = ["digit-2", "digit-6", "digit-8"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_operator_never_gets_a_wrong_result_finalized() {
    // A gentle slash (1 %) keeps the liar staked for all of its lies, and a
    // wide window keeps a loaded CI machine inside it.
    let params = ConfigParams {
        slash_bps: 100,
        challenge_window_slots: 200,
        vote_window_slots: 200,
        request_timeout_slots: 4_000,
        ..test_params()
    };
    let cluster = Cluster::start_with(4, params).await;
    // 0 serves and lies for 30 % of requests; 1 watches and cranks; 2 and 3 vote.
    let running = cluster
        .start_nodes(cluster.dispute_nodes(FAULTY_RATE))
        .await;

    let mut requests = Vec::new();
    for batch in (0..REQUESTS).collect::<Vec<_>>().chunks(20) {
        let paid = join_all(batch.iter().map(|&i| cluster.request_digit(SAMPLES[i % 3]))).await;
        requests.extend(batch.iter().map(|&i| SAMPLES[i % 3]).zip(paid));
    }
    let finals = join_all(
        requests
            .iter()
            .map(|(_, request)| cluster.wait_final(request, Duration::from_secs(600))),
    )
    .await;

    let mut wrong = 0;
    for ((sample, request), state) in requests.iter().zip(&finals) {
        let lied = faulty::is_chosen(request, FAULTY_RATE);
        wrong += lied as usize;
        let expected = if lied {
            RequestStatus::Overturned
        } else {
            RequestStatus::Finalized
        };
        assert_eq!(
            state.status, expected,
            "request {request} ({sample}, lied: {lied})"
        );
        assert_eq!(
            state.output,
            python_output(sample),
            "the final output is the right one"
        );
    }
    let liar = cluster.operator_state(0).await;
    println!(
        "{REQUESTS} requests, {wrong} wrong commits, {} overturned, honest commits disputed: {}",
        liar.disputes_lost, liar.disputes_won
    );
    assert!(wrong >= REQUESTS / 5, "the liar lied ({wrong} times)");
    assert_eq!(
        liar.disputes_lost as usize, wrong,
        "every lie was overturned"
    );
    assert_eq!(liar.disputes_won, 0, "no honest commit was challenged");
    assert!(liar.stake < STAKE, "the liar was slashed");
    for voter in [2, 3] {
        assert_eq!(
            cluster.operator_state(voter).await.stake,
            STAKE,
            "honest stake untouched"
        );
    }
    // Voters claim after settlement; once they have, every token is back in
    // a wallet or a vault.
    cluster.wait_votes_claimed(&[2, 3]).await;
    cluster.assert_tokens_conserved().await;

    running.stop().await;
}

/// Wrong outputs for the digits model: the honest one with its rows rotated.
fn wrong_output(sample: &str) -> Vec<u8> {
    faulty::corrupt(&python_output(sample))
}

/// `wallet` challenges `request` with `output`, outside any node.
async fn challenge_by_hand(
    cluster: &Cluster,
    wallet: &crate::cluster::Wallet,
    request: anchor_lang::prelude::Pubkey,
    output: Vec<u8>,
) {
    let client = cluster.client(wallet);
    let state = cluster.request_state(&request).await.expect("request");
    let challenge = sibyl_client::instruction(
        sibyl_client::accounts::challenge(
            wallet.pubkey(),
            cluster.tokens.account_of(&wallet.pubkey()),
            sibyl_client::accounts::RequestParties::of(request, &state),
            cluster.tokens,
        ),
        sibyl::instruction::Challenge {
            sequence: state.sequence,
            whole_output_sha256: sibyl::hashing::whole_output_sha256(&output),
            output,
        },
    );
    client
        .send("challenge", &[challenge], &[])
        .await
        .expect("challenged");
}

/// Waits until `request` is committed.
async fn committed(cluster: &Cluster, request: &anchor_lang::prelude::Pubkey) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while cluster
        .request_state(request)
        .await
        .expect("request")
        .status
        != RequestStatus::Committed
    {
        assert!(tokio::time::Instant::now() < deadline, "never committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `colluder` votes for the challenger in `dispute`, by hand: commits, waits
/// out the vote window, reveals (unless the dispute was decided already).
async fn collude(cluster: &Cluster, colluder: &Wallet, dispute: anchor_lang::prelude::Pubkey) {
    let side = sibyl::state::VoteSide::Challenger;
    let salt = [7; 32];
    let operator = sibyl_client::pda::operator(&colluder.pubkey());
    let client = cluster.client(colluder);
    let commit = sibyl_client::instruction(
        sibyl_client::accounts::cast_vote(colluder.pubkey(), dispute),
        sibyl::instruction::CastVote {
            commitment: sibyl::hashing::vote_commitment(&dispute, &operator, side, &salt),
        },
    );
    client
        .send("cast_vote", &[commit], &[])
        .await
        .expect("colluding vote");
    let state: sibyl::state::Dispute = client
        .fetch_required(&dispute, "dispute")
        .await
        .expect("dispute");
    while client.slot().await.expect("slot") <= state.vote_deadline_slot {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reveal = sibyl_client::instruction(
        sibyl_client::accounts::reveal_vote(colluder.pubkey(), dispute, operator),
        sibyl::instruction::RevealVote {
            side,
            salt,
            output_hash: [0; 32],
        },
    );
    // The honest reveals may decide the dispute first (the colluder's
    // weight cannot change it); its unrevealed vote is then penalized.
    match client.send("reveal_vote", &[reveal], &[]).await {
        Err(err) if err.refused_with(sibyl::errors::SibylError::DisputeNotOpen) => {}
        result => {
            result.expect("colluding reveal");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_challenger_loses_its_bond_and_a_colluding_minority_cannot_help() {
    let cluster = Cluster::start(5).await;
    // 0 serves honestly; 1 challenges honest results by hand; 2 and 3 vote
    // honestly (and crank); 4 votes with the liar whatever the truth.
    let nodes = [
        cluster.node_config(0, &[Role::Serve], 0.0),
        cluster.node_config(2, &[Role::Vote, Role::Crank], 0.0),
        cluster.node_config(3, &[Role::Vote], 0.0),
    ];
    let running = cluster.start_nodes(nodes).await;
    let liar = &cluster.operators[1];
    let colluder = &cluster.operators[4];
    let bond = test_params().challenge_bond;
    let liar_before = cluster.token_balance(&liar.pubkey()).await;

    const LIES: usize = 3;
    for sample in SAMPLES.iter().take(LIES) {
        let request = cluster.request_digit(sample).await;
        committed(&cluster, &request).await;
        challenge_by_hand(&cluster, liar, request, wrong_output(sample)).await;
        let state = cluster.request_state(&request).await.expect("request");
        collude(&cluster, colluder, sibyl_client::pda::dispute_of(&state)).await;
        let state = cluster.wait_final(&request, Duration::from_secs(60)).await;
        assert_eq!(
            state.status,
            RequestStatus::Finalized,
            "the honest result stands"
        );
        assert_eq!(state.output, python_output(sample));
    }

    // Honest stake (2 and 3) holds the 66 % threshold against the colluder.
    let honest = cluster.operator_state(0).await;
    assert_eq!(honest.disputes_won as usize, LIES);
    assert_eq!(honest.disputes_lost, 0);
    assert_eq!(honest.stake, STAKE, "the honest operator is never slashed");
    assert_eq!(
        cluster.token_balance(&liar.pubkey()).await,
        liar_before - LIES as u64 * bond,
        "the lying challenger lost every bond"
    );
    cluster.assert_tokens_conserved().await;

    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decoy_challenge_cannot_save_a_lying_operator_from_the_slash() {
    let cluster = Cluster::start(4).await;
    // 0 lies every time; its accomplice 1 challenges first, by hand, with
    // another wrong output; 2 and 3 vote honestly (and 2 cranks). No honest
    // watcher runs, so the decoy's challenge is the one judged.
    let running = cluster
        .start_nodes([
            cluster.node_config(0, &[Role::Serve], 1.0),
            cluster.node_config(2, &[Role::Vote, Role::Crank], 0.0),
            cluster.node_config(3, &[Role::Vote], 0.0),
        ])
        .await;
    let accomplice = &cluster.operators[1];
    let requester_before = cluster.token_balance(&cluster.requester.pubkey()).await;
    let accomplice_before = cluster.token_balance(&accomplice.pubkey()).await;

    let sample = SAMPLES[0];
    let request = cluster.request_digit(sample).await;
    committed(&cluster, &request).await;
    // The commitment is the honest output rotated once; the decoy's, twice.
    let decoy = faulty::corrupt(&wrong_output(sample));
    challenge_by_hand(&cluster, accomplice, request, decoy).await;

    // The honest voters find neither output right: the commitment is
    // rejected, the requester refunded and the request closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while cluster.request_state(&request).await.is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let liar = cluster.operator_state(0).await;
    assert_eq!(liar.disputes_lost, 1, "the lie was judged");
    assert!(liar.stake < STAKE, "the liar was slashed");
    assert_eq!(
        cluster.token_balance(&cluster.requester.pubkey()).await,
        requester_before,
        "the requester got its fee back"
    );
    assert_eq!(
        cluster.token_balance(&accomplice.pubkey()).await,
        accomplice_before,
        "the decoy got its bond back and nothing of the slash"
    );
    for voter in [2, 3] {
        assert_eq!(cluster.operator_state(voter).await.stake, STAKE);
    }
    cluster.wait_votes_claimed(&[2, 3]).await;
    cluster.assert_tokens_conserved().await;
    running.stop().await;
}

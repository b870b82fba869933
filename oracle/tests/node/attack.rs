//! The adversarial run of issue 14: three honest `sibyl node run` processes
//! against a lying server and every kind of adversary at once, on the
//! localnet. It prints a table and passes only if no wrong output became
//! final, no honest operator lost stake, every request, escrow, dispute and
//! vote account was closed at the end, and every token is accounted for to
//! the base unit.
//!
//! `make test` runs it with 30 requests; `make attack` with 1000
//! (`SIBYL_ATTACK_REQUESTS`).
//!
//! Requests go to every fixture model (`models/fixtures.json`: digits under
//! top-1, mlp_float and conv_small under a tolerance, int8_matmul exact),
//! on each model's recorded inputs, and a final output is right when it
//! agrees under the model's rule with what Python's ONNX Runtime recorded.
//!
//! The cast, by operator index:
//! - 0, 1, 2: honest nodes (processes), each serving, watching, voting and
//!   cranking;
//! - 3: a lying server (a process with `--faulty`), wrong for half the
//!   requests it wins;
//! - 4: its accomplice: commits junk to fresh requests, challenges the
//!   liar's wrong commitments first, with another wrong output (a decoy),
//!   and challenges every fourth honest commitment falsely;
//! - 5: a copying voter: commits a copy of an honest voter's commitment
//!   instead of re-executing;
//! - 6: a flash-stake voter: adds stake once a dispute is open and backs the
//!   liar;
//!
//! and, without stake: the publisher tries to shrink the model's window to
//! one slot, and a bystander (the publisher's wallet) donates to escrows.
use crate::{
    cluster::{repo_root, test_params, Cluster, STAKE},
    process::NodeProcess,
};
use anchor_lang::prelude::Pubkey;
use futures_util::future::join_all;
use sibyl::{
    hashing,
    instructions::UpdateModelArgs,
    state::{
        ComparisonRule, Dispute, DisputeOutcome, InferenceRequest, RequestStatus, Vote, VoteSide,
    },
};
use sibyl_client::{accounts, instruction, pda};
use sibyl_oracle::{
    actions::{model, operator, request},
    chain::ChainClient,
    compare::outputs_agree,
    config::Role,
    engine::{Engine, EngineSettings},
    faulty, hex,
};
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::watch;

const HONEST: [usize; 3] = [0, 1, 2];
const LIAR: usize = 3;
const ACCOMPLICE: usize = 4;
const COPIER: usize = 5;
const FLASH: usize = 6;
const LIE_RATE: f64 = 0.5;
/// What the flash-stake voter adds to its stake in each dispute it joins.
const FLASH_STAKE: u64 = 10_000;
/// What the bystander sends to every fifth escrow.
const DONATION: u64 = 7;

/// What the adversaries tried, counted as they go.
#[derive(Default, Debug)]
struct Attempts {
    junk_refused: usize,
    junk_too_late: usize,
    junk_accepted: usize,
    decoys: usize,
    false_challenges: usize,
    copied_votes: usize,
    flash_votes: usize,
    flash_stake_added: u64,
    /// Flash votes whose weight left out the stake added after opening.
    flash_stake_ignored: usize,
    donations: usize,
    window_shrinks_refused: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adversarial_run_keeps_the_promise() {
    let requests: usize = std::env::var("SIBYL_ATTACK_REQUESTS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(30);
    let started = Instant::now();
    // A gentle slash keeps the liar staked through all of its lies; wide
    // windows keep a loaded machine inside them.
    let params = sibyl::state::ConfigParams {
        slash_bps: 100,
        challenge_window_slots: 120,
        vote_window_slots: 120,
        request_timeout_slots: 20_000,
        arbitration_window_slots: 50,
        ..test_params()
    };
    let cluster = Arc::new(Cluster::start_with(7, params).await);
    let cases = fixture_cases(&cluster).await;
    // Honest operators hold most of the stake, as the protocol assumes.
    for index in HONEST {
        operator::add_stake(
            &cluster.client(&cluster.operators[index]),
            cluster.tokens,
            2 * STAKE,
        )
        .await
        .expect("honest stake");
    }
    let honest_stake = 3 * STAKE;
    let attempts = Arc::new(Mutex::new(Attempts::default()));
    shrink_window(&cluster, &attempts).await;

    // One honest node serves against the liar; all three watch, vote and crank.
    let mut nodes = Vec::new();
    for index in HONEST {
        let mut roles = vec![Role::Watch, Role::Vote, Role::Crank];
        if index == 0 {
            roles.push(Role::Serve);
        }
        nodes.push(spawn_node(&cluster, index, &roles, 0.0));
    }
    nodes.push(spawn_node(&cluster, LIAR, &[Role::Serve], LIE_RATE));

    let (stop, stopped) = watch::channel(false);
    let adversaries = tokio::spawn(adversaries(cluster.clone(), attempts.clone(), stopped));

    // Requests arrive in batches; the accomplice commits junk to each the
    // moment it exists, and the bystander donates to every fifth escrow.
    let mut sent: Vec<(&Case, Pubkey)> = Vec::new();
    for batch in (0..requests).collect::<Vec<_>>().chunks(10) {
        let paid = join_all(batch.iter().map(|&i| {
            let (cluster, attempts, case) = (&cluster, &attempts, &cases[i % cases.len()]);
            async move {
                let request = case.request(cluster).await;
                junk_commit(cluster, attempts, request, case.model).await;
                if i % 5 == 0 {
                    donate(cluster, attempts, request).await;
                }
                (case, request)
            }
        }))
        .await;
        sent.extend(paid);
    }

    // Every request ends: final, or refunded and closed.
    let finals = settle_all(
        &cluster,
        &sent,
        Duration::from_secs(60 + 3 * requests as u64),
    )
    .await;
    wait_disputes_closed(&cluster, Duration::from_secs(300)).await;
    stop.send(true).unwrap();
    adversaries.await.unwrap();
    // Under the flood every honest watcher verified every commitment before
    // its window closed (verification has reserved capacity and runs
    // earliest deadline first).
    let mut unverified = 0;
    for node in &nodes[..HONEST.len()] {
        unverified += unverified_commitments(node).await;
    }
    for node in nodes {
        node.process.terminate();
    }

    // The requester takes back the rent of every final request.
    let requester = cluster.client(&cluster.requester);
    for request in finals.keys() {
        let close = instruction(
            accounts::close_request(cluster.requester.pubkey(), *request),
            sibyl::instruction::CloseRequest {},
        );
        requester
            .send("close_request", &[close], &[])
            .await
            .expect("closed");
    }

    // The promise, checked.
    let cases_of: HashMap<Pubkey, &Case> = sent
        .iter()
        .map(|&(case, request)| (request, case))
        .collect();
    let mut overturned = 0;
    let mut wrong_final = 0;
    for (request, state) in &finals {
        overturned += (state.status == RequestStatus::Overturned) as usize;
        // Judged as verifiers judge: under the model's rule, against the
        // output Python's ONNX Runtime recorded.
        let case = cases_of[request];
        wrong_final += !outputs_agree(&case.rule, &state.output, &case.expected) as usize;
    }
    let refunded = sent.len() - finals.len();
    let liar = cluster.operator_state(LIAR).await;
    let mut honest_slashed = 0;
    for index in HONEST {
        let state = cluster.operator_state(index).await;
        honest_slashed += (state.stake != honest_stake || state.disputes_lost > 0) as usize;
        println!(
            "honest operator {index}: stake {} (pending {}), disputes lost {}, won {}, votes cast {}",
            state.stake, state.pending_unstake, state.disputes_lost, state.disputes_won, state.votes_cast
        );
    }
    let copier = cluster.operator_state(COPIER).await;
    let open_requests = count::<InferenceRequest>(&requester, "request").await;
    let open_disputes = count::<Dispute>(&requester, "dispute").await;
    let open_votes = count::<Vote>(&requester, "vote").await;
    let escrows: Vec<Pubkey> = sent
        .iter()
        .map(|(_, request)| pda::escrow(request))
        .collect();
    let mut open_escrows = 0;
    for chunk in escrows.chunks(100) {
        let found = requester.rpc().get_multiple_accounts(chunk).await.unwrap();
        open_escrows += found.iter().flatten().count();
    }
    let attempts = std::mem::take(&mut *attempts.lock().unwrap());

    let rows: Vec<(&str, String)> = vec![
        ("requests", sent.len().to_string()),
        ("final as served", (finals.len() - overturned).to_string()),
        (
            "final, overturned to the right output",
            overturned.to_string(),
        ),
        ("refunded (rejected or expired)", refunded.to_string()),
        (
            "liar's disputes lost / won",
            format!("{} / {}", liar.disputes_lost, liar.disputes_won),
        ),
        (
            "liar's stake left",
            format!("{} of {STAKE}", liar.stake + liar.pending_unstake),
        ),
        (
            "junk commits refused / too late / accepted",
            format!(
                "{} / {} / {}",
                attempts.junk_refused, attempts.junk_too_late, attempts.junk_accepted
            ),
        ),
        ("decoy challenges", attempts.decoys.to_string()),
        (
            "false challenges of honest results",
            attempts.false_challenges.to_string(),
        ),
        (
            "copied votes (never opened)",
            attempts.copied_votes.to_string(),
        ),
        (
            "copier's stake left",
            format!("{} of {STAKE}", copier.stake),
        ),
        (
            "flash-stake votes",
            format!(
                "{} (stake added after opening: {}, weighed in: {} votes)",
                attempts.flash_votes,
                attempts.flash_stake_added,
                attempts.flash_votes - attempts.flash_stake_ignored
            ),
        ),
        ("escrow donations", attempts.donations.to_string()),
        (
            "window shrinks refused",
            attempts.window_shrinks_refused.to_string(),
        ),
        (
            "commitments left unverified by honest watchers",
            unverified.to_string(),
        ),
        ("WRONG OUTPUTS FINAL", wrong_final.to_string()),
        ("HONEST OPERATORS SLASHED", honest_slashed.to_string()),
        (
            "open requests / escrows / disputes / votes",
            format!("{open_requests} / {open_escrows} / {open_disputes} / {open_votes}"),
        ),
        ("seconds", started.elapsed().as_secs().to_string()),
    ];
    println!("\nadversarial run");
    for (what, value) in &rows {
        println!("  {what:<44} {value}");
    }

    assert_eq!(wrong_final, 0, "no wrong output is final");
    assert_eq!(unverified, 0, "every commitment verified inside its window");
    assert_eq!(honest_slashed, 0, "no honest operator lost stake");
    assert_eq!(attempts.junk_accepted, 0, "no junk commitment was accepted");
    assert_eq!(
        (open_requests, open_escrows, open_disputes, open_votes),
        (0, 0, 0, 0),
        "every request, escrow, dispute and vote account is closed"
    );
    assert_eq!(
        attempts.flash_stake_ignored, attempts.flash_votes,
        "no vote weighed stake added after its dispute opened"
    );
    assert!(attempts.window_shrinks_refused > 0);
    // Whoever cheated paid: the liar for every lie caught, the copier
    // for every vote it could not open.
    assert!(attempts.copied_votes == 0 || copier.stake < STAKE);
    assert!(overturned + refunded == 0 || liar.disputes_lost > 0);
    // At full size every adversary got its chance (a handful of requests
    // may give the liar none).
    if requests >= 100 {
        assert!(
            attempts.junk_refused > 0
                && attempts.decoys > 0
                && attempts.false_challenges > 0
                && attempts.copied_votes > 0
                && attempts.flash_votes > 0
                && attempts.donations > 0
                && liar.disputes_lost > 0,
            "every adversary acted: {attempts:?}"
        );
    }
    let other_models: HashSet<Pubkey> = cases
        .iter()
        .map(|case| case.model)
        .filter(|model| *model != cluster.model)
        .collect();
    cluster
        .assert_tokens_conserved_with(&other_models.into_iter().collect::<Vec<_>>())
        .await;
}

/// One request to make: a fixture model, one of its recorded inputs, and
/// the output an honest node computes for it on this machine (Python's
/// recording on the recording CPU class; docs/security.md).
struct Case {
    model: Pubkey,
    rule: ComparisonRule,
    input: Vec<u8>,
    expected: Vec<u8>,
}

impl Case {
    async fn request(&self, cluster: &Cluster) -> Pubkey {
        let new = request::NewRequest {
            model: self.model,
            input: self.input.clone(),
            input_uri: None,
            fee: 10_000,
            nonce: request::fresh_nonce(),
            callback: None,
            max_challenge_window_slots: None,
        };
        request::submit(&cluster.client(&cluster.requester), cluster.tokens, new)
            .await
            .expect("request paid")
    }
}

/// Every recorded case of every fixture model (`models/fixtures.json`),
/// registering the models the cluster has not (it has the digits one).
async fn fixture_cases(cluster: &Cluster) -> Vec<Case> {
    let fixtures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("models/fixtures.json")).unwrap())
            .unwrap();
    let engine = Engine::new(&EngineSettings::default()).expect("ONNX Runtime");
    let publisher = cluster.client(&cluster.publisher);
    let unhex = |value: &serde_json::Value| hex::decode(value.as_str().unwrap()).unwrap();
    let mut cases = Vec::new();
    for fixture in fixtures["fixtures"].as_array().unwrap() {
        let rule = match &fixture["comparison"] {
            value if value == "exact" => "exact".to_string(),
            value if value.get("tolerance").is_some() => format!(
                "tolerance:{}:{}",
                value["tolerance"]["abs"], value["tolerance"]["rel"]
            ),
            value => format!("top-k:{}", value["top_k"]["k"]),
        };
        let rule = model::parse_rule(&rule).unwrap();
        let file = fixture["file"].as_str().unwrap();
        let model = if fixture["name"] == "digits" {
            cluster.model
        } else {
            let listing = model::Listing {
                uri: format!("file://models/{file}"),
                price: 10_000,
                royalty_bps: 1_000,
                comparison: Some(rule),
                challenge_window_override_slots: None,
                max_input_bytes: None,
                max_output_bytes: None,
                views: Vec::new(),
                referee: false,
            };
            let path = repo_root().join("models").join(file);
            let args = model::registration(&engine, &path, listing).expect("registration");
            model::register(&publisher, cluster.tokens, args)
                .await
                .expect("model registered")
        };
        let mut loaded = engine
            .load(&repo_root().join("models").join(file))
            .expect("the fixture loads");
        for case in fixture["cases"].as_array().unwrap() {
            let input = unhex(&case["input_encoding"]);
            let expected = loaded.run(&input).expect("the fixture runs");
            if sibyl_oracle::engine::cpu_as_recorded() {
                assert_eq!(expected, unhex(&case["output_encoding"]), "{file}");
            }
            cases.push(Case {
                model,
                rule,
                input,
                expected,
            });
        }
    }
    cases
}

/// A running node process and where it serves its metrics.
struct RunningNode {
    process: NodeProcess,
    metrics: SocketAddr,
}

/// Starts `sibyl node run` for operator `index`, with its `/metrics`
/// endpoint on a free port; the liar polls more often, to win its share of
/// requests.
fn spawn_node(cluster: &Cluster, index: usize, roles: &[Role], lie_rate: f64) -> RunningNode {
    let mut config = cluster.node_config(index, roles, lie_rate);
    if lie_rate > 0.0 {
        config.node.poll_interval_ms = 40;
    }
    let metrics = crate::cluster::serve_metrics(&mut config);
    let path = cluster.dir.path().join(format!("attack-node-{index}.toml"));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    RunningNode {
        process: NodeProcess::spawn_started(&path),
        metrics,
    }
}

/// How many commitments a node saw close their window without having
/// verified them (`sibyl_unverified_commitments_total`, class 9).
async fn unverified_commitments(node: &RunningNode) -> u64 {
    let text = crate::cluster::metrics_text(node.metrics).await;
    text.lines()
        .find_map(|line| line.strip_prefix("sibyl_unverified_commitments_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .expect("the node counts unverified commitments") as u64
}

/// The publisher tries to shrink its model's window to one slot.
async fn shrink_window(cluster: &Cluster, attempts: &Mutex<Attempts>) {
    let publisher = cluster.client(&cluster.publisher);
    let update = instruction(
        accounts::update_model(cluster.publisher.pubkey(), cluster.model),
        sibyl::instruction::UpdateModel {
            args: UpdateModelArgs {
                challenge_window_override_slots: Some(Some(1)),
                ..Default::default()
            },
        },
    );
    match publisher.send("update_model", &[update], &[]).await {
        Err(err) if err.refused_with(sibyl::errors::SibylError::InvalidWindow) => {
            attempts.lock().unwrap().window_shrinks_refused += 1
        }
        other => panic!("a one-slot window must be refused: {other:?}"),
    }
}

/// The accomplice commits bytes that are no output of the model.
async fn junk_commit(
    cluster: &Cluster,
    attempts: &Mutex<Attempts>,
    request: Pubkey,
    model: Pubkey,
) {
    let accomplice = cluster.client(&cluster.operators[ACCOMPLICE]);
    let Some(state) = cluster.request_state(&request).await else {
        return;
    };
    let commit = instruction(
        accounts::commit_result(accomplice.wallet(), request, model),
        sibyl::instruction::CommitResult {
            sequence: state.sequence,
            output: b"junk, not a tensor".to_vec(),
            whole_output_sha256: [0; 32],
            trace_root: None,
        },
    );
    let result = accomplice.send("commit_result", &[commit], &[]).await;
    let mut attempts = attempts.lock().unwrap();
    match result {
        Err(err) if err.refused_with(sibyl::errors::SibylError::OutputNotCanonical) => {
            attempts.junk_refused += 1
        }
        // An honest node or the liar committed first.
        Err(err) if err.refused_with(sibyl::errors::SibylError::RequestNotPending) => {
            attempts.junk_too_late += 1
        }
        Err(err) => panic!("junk commit: {err}"),
        Ok(_) => attempts.junk_accepted += 1,
    }
}

/// A bystander sends a few base units to the request's escrow.
async fn donate(cluster: &Cluster, attempts: &Mutex<Attempts>, request: Pubkey) {
    let donor = cluster.client(&cluster.publisher);
    let from = cluster.tokens.account_of(&cluster.publisher.pubkey());
    let transfer = anchor_spl::token::spl_token::instruction::transfer(
        &cluster.tokens.token_program,
        &from,
        &pda::escrow(&request),
        &cluster.publisher.pubkey(),
        &[],
        DONATION,
    )
    .unwrap();
    if donor.send("donate", &[transfer], &[]).await.is_ok() {
        attempts.lock().unwrap().donations += 1;
    }
}

/// The staked adversaries, until told to stop: the accomplice's decoy and
/// false challenges (a task of its own, polling fast so as to challenge
/// before the honest watchers), the copier's copied commitments, the
/// flash-stake voter's late stake and its vote for the liar (revealed in
/// time).
async fn adversaries(
    cluster: Arc<Cluster>,
    attempts: Arc<Mutex<Attempts>>,
    stop: watch::Receiver<bool>,
) {
    let challenges = tokio::spawn(challenger(cluster.clone(), attempts.clone(), stop.clone()));
    voters(cluster, attempts, stop).await;
    challenges.await.unwrap();
}

/// The accomplice challenges the liar's wrong commitments with another wrong
/// output (decoys), and every fourth honest commitment falsely.
async fn challenger(
    cluster: Arc<Cluster>,
    attempts: Arc<Mutex<Attempts>>,
    mut stop: watch::Receiver<bool>,
) {
    let accomplice = cluster.client(&cluster.operators[ACCOMPLICE]);
    let liar_operator = pda::operator(&cluster.operators[LIAR].pubkey());
    let honest_server = pda::operator(&cluster.operators[HONEST[0]].pubkey());
    let mut challenged = HashSet::new();
    while !*stop.borrow() {
        let committed = accomplice
            .requests(RequestStatus::Committed, None)
            .await
            .unwrap_or_default();
        for (request, state) in committed {
            let lie = state.operator == liar_operator && faulty::is_chosen(&request, LIE_RATE);
            let honest = state.operator == honest_server && state.sequence % 4 == 0;
            if !(lie || honest) || !challenged.insert(request) {
                continue;
            }
            let challenge = instruction(
                accounts::challenge(
                    accomplice.wallet(),
                    cluster.tokens.account_of(&accomplice.wallet()),
                    accounts::RequestParties::of(request, &state),
                    cluster.tokens,
                ),
                sibyl::instruction::Challenge {
                    sequence: state.sequence,
                    output: faulty::corrupt(&state.output),
                    whole_output_sha256: sibyl::hashing::whole_output_sha256(&faulty::corrupt(
                        &state.output,
                    )),
                },
            );
            if accomplice
                .send("challenge", &[challenge], &[])
                .await
                .is_ok()
            {
                let mut attempts = attempts.lock().unwrap();
                if lie {
                    attempts.decoys += 1;
                } else {
                    attempts.false_challenges += 1;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The copier and the flash-stake voter, in every open dispute.
async fn voters(
    cluster: Arc<Cluster>,
    attempts: Arc<Mutex<Attempts>>,
    mut stop: watch::Receiver<bool>,
) {
    let accomplice = cluster.client(&cluster.operators[ACCOMPLICE]);
    let copier = cluster.client(&cluster.operators[COPIER]);
    let flash = cluster.client(&cluster.operators[FLASH]);
    let liar_operator = pda::operator(&cluster.operators[LIAR].pubkey());
    let flash_operator = pda::operator(&flash.wallet());
    let salt = [0xf1; 32];
    let (mut copied, mut flashed, mut revealed) = (HashSet::new(), HashSet::new(), HashSet::new());
    while !*stop.borrow() {
        let Ok(slot) = accomplice.slot().await else {
            continue;
        };
        let disputes = accomplice
            .program_accounts::<Dispute>("dispute", Vec::new())
            .await
            .unwrap_or_default();
        for (dispute_key, dispute) in disputes {
            if dispute.outcome != DisputeOutcome::Open {
                continue;
            }
            if slot <= dispute.vote_deadline_slot {
                // The flash-stake voter bonds more once the dispute is open,
                // then backs the liar.
                if dispute.operator == liar_operator && flashed.insert(dispute_key) {
                    // A different amount each time: the same transaction
                    // twice in one blockhash would be refused as a duplicate.
                    let amount = FLASH_STAKE + flashed.len() as u64;
                    let before = flash
                        .fetch::<sibyl::state::Operator>(&flash_operator, "operator")
                        .await
                        .ok()
                        .flatten()
                        .map_or(0, |operator| operator.stake);
                    let added = operator::add_stake(&flash, cluster.tokens, amount)
                        .await
                        .is_ok();
                    let commitment = hashing::vote_commitment(
                        &dispute_key,
                        &flash_operator,
                        VoteSide::Operator,
                        &salt,
                    );
                    let vote = instruction(
                        accounts::cast_vote(flash.wallet(), dispute_key),
                        sibyl::instruction::CastVote { commitment },
                    );
                    if flash.send("cast_vote", &[vote], &[]).await.is_ok() {
                        // The vote weighs the stake bonded before the
                        // dispute opened, never the stake just added
                        // (penalties landing meanwhile only lower it).
                        let record: Option<Vote> = flash
                            .fetch(&pda::vote(&dispute_key, &flash_operator), "vote")
                            .await
                            .unwrap_or_default();
                        let mut attempts = attempts.lock().unwrap();
                        attempts.flash_votes += 1;
                        attempts.flash_stake_added += amount * added as u64;
                        if record.is_some_and(|vote| vote.weight <= before) {
                            attempts.flash_stake_ignored += 1;
                        }
                    }
                }
                // The copier commits what an honest voter committed.
                if !copied.contains(&dispute_key) {
                    for index in HONEST {
                        let honest = pda::vote(
                            &dispute_key,
                            &pda::operator(&cluster.operators[index].pubkey()),
                        );
                        let Ok(Some(record)) = copier.fetch::<Vote>(&honest, "vote").await else {
                            continue;
                        };
                        let vote = instruction(
                            accounts::cast_vote(copier.wallet(), dispute_key),
                            sibyl::instruction::CastVote {
                                commitment: record.commitment,
                            },
                        );
                        if copier.send("cast_vote", &[vote], &[]).await.is_ok() {
                            attempts.lock().unwrap().copied_votes += 1;
                        }
                        copied.insert(dispute_key);
                        break;
                    }
                }
            } else if slot <= dispute.reveal_deadline_slot
                && flashed.contains(&dispute_key)
                && revealed.insert(dispute_key)
            {
                let reveal = instruction(
                    accounts::reveal_vote(flash.wallet(), dispute_key, flash_operator),
                    sibyl::instruction::RevealVote {
                        side: VoteSide::Operator,
                        salt,
                        output_hash: [0; 32],
                    },
                );
                let _ = flash.send("reveal_vote", &[reveal], &[]).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Waits until every request is final or refunded (its account closed);
/// returns the final ones.
async fn settle_all(
    cluster: &Cluster,
    sent: &[(&Case, Pubkey)],
    timeout: Duration,
) -> HashMap<Pubkey, InferenceRequest> {
    let client = cluster.client(&cluster.requester);
    let deadline = Instant::now() + timeout;
    loop {
        let open: HashMap<Pubkey, InferenceRequest> = client
            .program_accounts::<InferenceRequest>("request", Vec::new())
            .await
            .unwrap()
            .into_iter()
            .collect();
        let unsettled = sent
            .iter()
            .filter(|(_, request)| {
                open.get(request)
                    .is_some_and(|state| !state.has_final_output())
            })
            .count();
        if unsettled == 0 {
            return open;
        }
        assert!(
            Instant::now() < deadline,
            "{unsettled} requests never settled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the cranks have claimed every vote, which closes every dispute.
async fn wait_disputes_closed(cluster: &Cluster, timeout: Duration) {
    let client = cluster.client(&cluster.requester);
    let deadline = Instant::now() + timeout;
    while count::<Dispute>(&client, "dispute").await > 0 {
        assert!(Instant::now() < deadline, "disputes left open");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn count<T: anchor_lang::AccountDeserialize + anchor_lang::Discriminator>(
    client: &ChainClient,
    what: &'static str,
) -> usize {
    client
        .program_accounts::<T>(what, Vec::new())
        .await
        .unwrap()
        .len()
}

//! Section 7 of the report: one wrong result on each referee model,
//! disputed twice on fresh localnets by `sibyl node run` processes: once
//! registered for the referee (a watcher bisects, no voter), once for the
//! vote (a watcher challenges, two voters decide). Every transaction of
//! each dispute is read back from the ledger.
use super::{
    cost::{self, Lifecycle},
    Network, NodeProcess,
};
use crate::fixtures::Fixture;
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use sibyl::state::{ConfigParams, RequestStatus};
use sibyl_client::pda;
use sibyl_oracle::{config::Role, engine::Engine};
use sibyl_sdk::referee::{commit, Party};
use std::{path::Path, time::Duration};

/// One dispute, as the ledger recorded it.
pub struct Dispute {
    pub lifecycle: Lifecycle,
    /// Transactions from the challenge (or the game's opening) to the one
    /// that decided it, both counted.
    pub to_decision: usize,
    /// Slots from the challenge to the decision.
    pub slots: u64,
    /// Moves the parties played (referee), or votes cast and revealed.
    pub moves: usize,
}

/// One referee model's dispute both ways, and what its game's step costs.
pub struct RefereeDispute {
    pub model: String,
    pub nodes: usize,
    /// Elements of every node's output together.
    pub trace_elements: u64,
    pub referee: Dispute,
    pub vote: Dispute,
    /// Multiply-accumulates the step recomputed on chain (one where the
    /// game bisected a sum to one term).
    pub step_macs: u64,
    /// The heaviest proving transaction (a record or an operand): its
    /// SHA-256 hashes and their estimated compute units with the step's
    /// arithmetic.
    pub proof_hashes: u64,
    pub proof_cu: u64,
    /// The opening's hashes over the committed outputs.
    pub open_hashes: u64,
}

/// Published SBF costs: a SHA-256 syscall is 85 compute units and, per
/// slice hashed, the larger of 10 and half its length: an inner node (a
/// 1-byte tag and two 32-byte children) 127, an element's leaf (a tag and
/// at most 8 bytes) 105. An int8 multiply-accumulate 16–25 (its upper end
/// here).
pub const INNER_CU: u64 = 85 + 10 + 16 + 16;
pub const LEAF_CU: u64 = 85 + 10 + 10;
pub const MAC_CU: u64 = 25;

impl RefereeDispute {
    /// The opening's estimated compute units: a leaf per element, an inner
    /// node per padded pair (counted as inner nodes, the larger).
    pub fn open_cu(&self) -> u64 {
        self.open_hashes * INNER_CU
    }
}

pub async fn measure(
    root: &Path,
    engine: &Engine,
    sibyl: &Path,
    fixture: &Fixture,
    slot: Duration,
    params: ConfigParams,
) -> Result<RefereeDispute> {
    let graph = sibyl_oracle::referee::load(&fixture.path)?;
    let input = &fixture.cases[0].0;
    let party = Party::run(&graph, input, None).map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let values = graph
        .inputs_of(input)
        .and_then(|inputs| graph.run(inputs))
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let trace_elements = graph
        .nodes
        .iter()
        .filter_map(|node| values.get(*node.outputs.first()?)?.as_deref())
        .map(|value| value.data.len() as u64)
        .sum();
    let open_hashes = output_root_hashes(&party.result)?;

    crate::step(&format!("    {}: by the referee", fixture.name));
    let network = Network::start(
        root,
        engine,
        std::slice::from_ref(fixture),
        slot,
        params,
        2,
        1,
    )
    .await?;
    let referee = by_referee(&network, sibyl).await?;
    network.shutdown().await;

    crate::step(&format!("    {}: by vote", fixture.name));
    let by_vote_fixture = Fixture {
        referee: false,
        ..fixture.clone()
    };
    let network = Network::start(
        root,
        engine,
        std::slice::from_ref(&by_vote_fixture),
        slot,
        params,
        4,
        1,
    )
    .await?;
    let vote = by_vote(&network, sibyl).await?;
    network.shutdown().await;

    let (step_macs, proof_hashes, proof_cu) = step_work(&referee.lifecycle);
    Ok(RefereeDispute {
        model: fixture.name.clone(),
        nodes: graph.nodes.len(),
        trace_elements,
        referee,
        vote,
        step_macs,
        proof_hashes,
        proof_cu,
        open_hashes,
    })
}

/// Operator 0 commits a wrong result; operator 1 watches, opens a game,
/// plays it and settles it. Nobody votes.
async fn by_referee(network: &Network, sibyl: &Path) -> Result<Dispute> {
    let model = &network.models[0];
    let nodes = [
        NodeProcess::start(
            sibyl,
            &network.node_config(0, &[Role::Serve], &[model], 1.0)?,
        )?,
        NodeProcess::start(
            sibyl,
            &network.node_config(1, &[Role::Watch, Role::Crank], &[model], 0.0)?,
        )?,
    ];
    let request = network.request(0, model).await?;
    network
        .wait_all(
            &[request],
            &[RequestStatus::Committed],
            Duration::from_secs(60),
        )
        .await?;
    let state = network.request_state(&request).context("the request")?;
    let game = pda::referee_game(&state.model, state.sequence, &network.operators[1].pubkey());
    let mut rent = cost::open_rent(network, &request);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while network.localnet.chain.bank().get_account(&game).is_none() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no game opened");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    rent.push(cost::rent_of(network, "referee game", &game));
    // Settled: the game closes with the request (the commitment rejected).
    while network.localnet.chain.bank().get_account(&game).is_some()
        || network.request_state(&request).is_some()
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the game did not settle"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for node in nodes {
        node.stop();
    }
    cost::close_rent(network, &mut rent);
    let lifecycle = cost::lifecycle(
        network,
        &format!("{}: wrong result, decided by the referee", model.name),
        &[request, game],
        rent,
    )?;
    let opened = position(&lifecycle, "open_referee_game")?;
    // The decision: the last move or proof before the settlement.
    let decided = lifecycle
        .transactions
        .iter()
        .rposition(|tx| {
            !tx.failed
                && (tx.name.contains("play_referee_move")
                    || tx.name.contains("prove_referee")
                    || tx.name.contains("claim_referee_timeout"))
        })
        .context("the game was decided")?;
    let moves = lifecycle
        .transactions
        .iter()
        .filter(|tx| !tx.failed && tx.name.contains("play_referee_move"))
        .count();
    Ok(Dispute {
        to_decision: succeeded_between(&lifecycle, opened, decided),
        slots: lifecycle.transactions[decided].slot - lifecycle.transactions[opened].slot,
        moves,
        lifecycle,
    })
}

/// Operator 0 commits a wrong result; operator 1 watches and challenges;
/// operators 2 and 3 vote (all the eligible stake).
async fn by_vote(network: &Network, sibyl: &Path) -> Result<Dispute> {
    let model = &network.models[0];
    let nodes = [
        NodeProcess::start(
            sibyl,
            &network.node_config(0, &[Role::Serve], &[model], 1.0)?,
        )?,
        NodeProcess::start(
            sibyl,
            &network.node_config(1, &[Role::Watch, Role::Crank], &[model], 0.0)?,
        )?,
        NodeProcess::start(
            sibyl,
            &network.node_config(2, &[Role::Vote], &[model], 0.0)?,
        )?,
        NodeProcess::start(
            sibyl,
            &network.node_config(3, &[Role::Vote], &[model], 0.0)?,
        )?,
    ];
    let request = network.request(0, model).await?;
    network
        .wait_all(
            &[request],
            &[RequestStatus::Challenged],
            Duration::from_secs(60),
        )
        .await?;
    let dispute = pda::dispute_of(&network.request_state(&request).context("the request")?);
    let voters: Vec<Pubkey> = [2, 3]
        .iter()
        .map(|&index| pda::vote(&dispute, &pda::operator(&network.operators[index].pubkey())))
        .collect();
    let mut rent = cost::open_rent(network, &request);
    rent.push(cost::rent_of(network, "dispute", &dispute));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    // Settled, and every vote claimed (its account closed).
    loop {
        let settled = network
            .request_state(&request)
            .is_some_and(|state| state.status == RequestStatus::Overturned);
        let claimed = voters
            .iter()
            .all(|vote| network.localnet.chain.bank().get_account(vote).is_none());
        if settled && claimed {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the dispute did not settle"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for node in nodes {
        node.stop();
    }
    cost::close_rent(network, &mut rent);
    let mut touched = vec![request, dispute];
    touched.extend(&voters);
    let lifecycle = cost::lifecycle(
        network,
        &format!("{}: wrong result, decided by vote", model.name),
        &touched,
        rent,
    )?;
    let challenged = position(&lifecycle, "challenge")?;
    let decided = position(&lifecycle, "resolve_dispute")?;
    let moves = lifecycle
        .transactions
        .iter()
        .filter(|tx| {
            !tx.failed && (tx.name.contains("cast_vote") || tx.name.contains("reveal_vote"))
        })
        .count();
    Ok(Dispute {
        to_decision: succeeded_between(&lifecycle, challenged, decided),
        slots: lifecycle.transactions[decided].slot - lifecycle.transactions[challenged].slot,
        moves,
        lifecycle,
    })
}

/// Transactions that succeeded from `first` to `last`, both counted.
fn succeeded_between(lifecycle: &Lifecycle, first: usize, last: usize) -> usize {
    lifecycle.transactions[first..=last]
        .iter()
        .filter(|tx| !tx.failed)
        .count()
}

fn position(lifecycle: &Lifecycle, name: &str) -> Result<usize> {
    lifecycle
        .transactions
        .iter()
        .position(|tx| !tx.failed && tx.name.contains(name))
        .with_context(|| format!("no {name} transaction"))
}

/// The step's multiply-accumulates (one, where the parties revealed running
/// states: a sum bisected to one term) and the heaviest proving
/// transaction's hashes and estimated compute units, read from the
/// transactions' data: an operand's leaf and its two paths' siblings (the
/// program folds them once), a record's leaf (85 + 10 + half its bytes) and
/// its path.
fn step_work(lifecycle: &Lifecycle) -> (u64, u64, u64) {
    use anchor_lang::{AnchorDeserialize, Discriminator};
    use sibyl::{
        instruction::{PlayRefereeMove, ProveRefereeOperand, ProveRefereeRecord},
        state::Move,
    };
    let data: Vec<&Vec<u8>> = lifecycle
        .transactions
        .iter()
        .filter(|tx| !tx.failed)
        .flat_map(|tx| &tx.sibyl_data)
        .collect();
    let decode = |discriminator: &[u8]| {
        data.iter()
            .filter_map(move |data| data.strip_prefix(discriminator))
            .map(|args| args.to_vec())
            .collect::<Vec<_>>()
    };
    let reduced = decode(PlayRefereeMove::DISCRIMINATOR)
        .iter()
        .filter_map(|args| PlayRefereeMove::deserialize(&mut args.as_slice()).ok())
        .any(|play| matches!(play.play, Move::State(_)));
    let macs = u64::from(reduced);
    let operands = decode(ProveRefereeOperand::DISCRIMINATOR)
        .iter()
        .filter_map(|args| ProveRefereeOperand::deserialize(&mut args.as_slice()).ok())
        .map(|proof| {
            let siblings = (proof.element_proof.len() + proof.item_proof.len()) as u64;
            (1 + siblings, LEAF_CU + siblings * INNER_CU + macs * MAC_CU)
        })
        .collect::<Vec<_>>();
    let records = decode(ProveRefereeRecord::DISCRIMINATOR)
        .iter()
        .filter_map(|args| ProveRefereeRecord::deserialize(&mut args.as_slice()).ok())
        .map(|proof| {
            let siblings = proof.proof.len() as u64;
            let leaf = 85 + 10 + (proof.record.len() as u64).div_ceil(2);
            (1 + siblings, leaf + siblings * INNER_CU)
        })
        .collect::<Vec<_>>();
    let (hashes, cu) = operands
        .into_iter()
        .chain(records)
        .max_by_key(|(_, cu)| *cu)
        .unwrap_or((0, 0));
    (macs, hashes, cu)
}

/// The hashes `open_referee_game` makes over a committed result: one leaf
/// per element and the inner nodes of each padded output tree, and those
/// over the outputs.
fn output_root_hashes(result: &[u8]) -> Result<u64> {
    let tensors = sibyl::encoding::decode(result).map_err(|err| anyhow::anyhow!("{err}"))?;
    let mut hashes = 0u64;
    for tensor in &tensors {
        let count = tensor
            .element_count()
            .map_err(|err| anyhow::anyhow!("{err}"))? as u64;
        let width = 1u64 << commit::depth(count);
        hashes += count + (width - 1);
    }
    let outputs = 1u64 << commit::depth(tensors.len() as u64);
    Ok(hashes + outputs - 1)
}

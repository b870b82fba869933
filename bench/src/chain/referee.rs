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
    /// Multiply-accumulates the step recomputed on chain.
    pub step_macs: u64,
    /// SHA-256 hashes the heaviest proving transaction made, and the
    /// opening's hashes over the committed outputs.
    pub proof_hashes: u64,
    pub open_hashes: u64,
}

/// Published SBF costs: a SHA-256 syscall of a 65-byte inner node or a
/// short leaf is 85 + len/2 compute units; an int8 multiply-accumulate
/// 16–25 (its upper end here).
pub const HASH_CU: u64 = 85 + 65 / 2;
pub const MAC_CU: u64 = 25;

impl RefereeDispute {
    /// The estimated compute units of the heaviest proving transaction's
    /// hashing and arithmetic (deserialization not included).
    pub fn step_cu(&self) -> u64 {
        self.proof_hashes * HASH_CU + self.step_macs * MAC_CU
    }

    pub fn open_cu(&self) -> u64 {
        self.open_hashes * HASH_CU
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
        .run(
            sibyl::encoding::decode(input)
                .map_err(|err| anyhow::anyhow!("{err}"))?
                .iter()
                .map(sibyl_sdk::referee::IntTensor::from_tensor)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| anyhow::anyhow!("{err:?}"))?,
        )
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

    let (step_macs, proof_hashes) = step_work(&referee.lifecycle);
    Ok(RefereeDispute {
        model: fixture.name.clone(),
        nodes: graph.nodes.len(),
        trace_elements,
        referee,
        vote,
        step_macs,
        proof_hashes,
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
        to_decision: decided + 1 - opened,
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
        to_decision: decided + 1 - challenged,
        slots: lifecycle.transactions[decided].slot - lifecycle.transactions[challenged].slot,
        moves,
        lifecycle,
    })
}

fn position(lifecycle: &Lifecycle, name: &str) -> Result<usize> {
    lifecycle
        .transactions
        .iter()
        .position(|tx| !tx.failed && tx.name.contains(name))
        .with_context(|| format!("no {name} transaction"))
}

/// The step's multiply-accumulates (one term of a sum, when the game found
/// a `MatMulInteger`) and the hashes of the heaviest proof: the leaf and
/// every sibling of its two paths, read from the proving transactions.
fn step_work(lifecycle: &Lifecycle) -> (u64, u64) {
    use anchor_lang::{AnchorDeserialize, Discriminator};
    use sibyl::instruction::ProveRefereeOperand;
    let proofs: Vec<ProveRefereeOperand> = lifecycle
        .transactions
        .iter()
        .filter(|tx| !tx.failed)
        .flat_map(|tx| &tx.sibyl_data)
        .filter_map(|data| data.strip_prefix(ProveRefereeOperand::DISCRIMINATOR))
        .filter_map(|mut args| ProveRefereeOperand::deserialize(&mut args).ok())
        .collect();
    // A MatMulInteger term reads A, B and the zero points (two to four
    // operands, one multiply-accumulate); other steps multiply at most once.
    let macs = u64::from(!proofs.is_empty());
    let siblings = proofs
        .iter()
        .map(|proof| (proof.element_proof.len() + proof.item_proof.len()) as u64)
        .max()
        .unwrap_or(0);
    (macs, siblings + 1)
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

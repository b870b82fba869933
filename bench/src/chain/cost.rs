//! Section 4 of the report: what one request costs on chain: every transaction of a happy-path
//! lifecycle and of a disputed one (signatures, fees, size against the
//! 1232-byte packet limit), the rent each lifecycle locks and whether it
//! comes back, account sizes, the largest transactions the protocol can
//! need, and a check that two requests on different models served by
//! different operators write no account in common.
use super::{Network, NodeProcess};
use anchor_lang::{prelude::Pubkey, Discriminator};
use anyhow::{Context, Result};
use sibyl::state::RequestStatus;
use sibyl_client::{accounts, instruction, pda, settlement};
use sibyl_oracle::{
    actions::request::{self, PACKET_LIMIT},
    config::Role,
};
use solana_account::ReadableAccount;
use solana_signature::Signature;
use std::{
    collections::{BTreeSet, HashMap},
    path::Path,
    time::Duration,
};

/// One processed transaction of a lifecycle.
pub struct TxCost {
    pub name: String,
    pub slot: u64,
    /// The runtime refused it (it still paid its fee).
    pub failed: bool,
    pub signer: String,
    pub signatures: usize,
    pub fee: u64,
    pub size: usize,
    pub writable: Vec<Pubkey>,
    /// The data of each of its Sibyl instructions.
    pub sibyl_data: Vec<Vec<u8>>,
}

/// An account a lifecycle creates, its rent and whether it was closed.
pub struct Rent {
    pub account: &'static str,
    pub address: Pubkey,
    pub size: usize,
    pub lamports: u64,
    pub returned: bool,
}

pub struct Lifecycle {
    pub title: String,
    pub transactions: Vec<TxCost>,
    pub rent: Vec<Rent>,
}

pub struct Cost {
    pub happy: Lifecycle,
    pub other_happy: Lifecycle,
    pub dispute: Lifecycle,
    /// Writable accounts the two happy lifecycles share.
    pub shared_writable: Vec<(Pubkey, String)>,
    pub account_sizes: Vec<(&'static str, usize)>,
    pub largest: Vec<(String, usize)>,
}

/// Runs the lifecycles. Operators: 0 serves digits, 1 serves mlp_float,
/// 2 serves int8_matmul wrongly every time, 3 watches it and cranks; then
/// 0, 1, 4 and 5 vote (two thirds of the active stake: a quorum). Requesters 0 and 1 settle and close their own happy-path
/// requests (so that no third party joins them); requester 2 pays for the
/// disputed one.
pub async fn measure(network: &Network, sibyl: &Path, window_slots: u64) -> Result<Cost> {
    let digits = network.model("digits");
    let mlp = network.model("mlp_float");
    let int8 = network.model("int8_matmul");
    let serving = [
        NodeProcess::start(
            sibyl,
            &network.node_config(0, &[Role::Serve], &[digits], 0.0)?,
        )?,
        NodeProcess::start(sibyl, &network.node_config(1, &[Role::Serve], &[mlp], 0.0)?)?,
    ];
    let first = network.request(0, digits).await?;
    let second = network.request(1, mlp).await?;
    let both = [first, second];
    network
        .wait_all(&both, &[RequestStatus::Committed], Duration::from_secs(60))
        .await?;
    let mut rent_first = open_rent(network, &first);
    let mut rent_second = open_rent(network, &second);
    tokio::time::sleep(network.slot * (window_slots as u32 + 4)).await;
    for (requester, request) in [(0, first), (1, second)] {
        settle_and_close(network, requester, request).await?;
    }
    for node in serving {
        node.stop();
    }
    close_rent(network, &mut rent_first);
    close_rent(network, &mut rent_second);
    let happy = lifecycle(network, "happy path: digits", &[first], rent_first)?;
    let other_happy = lifecycle(network, "happy path: mlp_float", &[second], rent_second)?;
    let shared_writable = shared(&happy, &other_happy, network);

    // A wrong result, challenged, voted down, settled, claimed, closed.
    let nodes = [
        NodeProcess::start(
            sibyl,
            &network.node_config(2, &[Role::Serve], &[int8], 1.0)?,
        )?,
        NodeProcess::start(
            sibyl,
            &network.node_config(3, &[Role::Watch, Role::Crank], &[int8], 0.0)?,
        )?,
        NodeProcess::start(sibyl, &network.node_config(0, &[Role::Vote], &[int8], 0.0)?)?,
        NodeProcess::start(sibyl, &network.node_config(1, &[Role::Vote], &[int8], 0.0)?)?,
        NodeProcess::start(sibyl, &network.node_config(4, &[Role::Vote], &[int8], 0.0)?)?,
        NodeProcess::start(sibyl, &network.node_config(5, &[Role::Vote], &[int8], 0.0)?)?,
    ];
    let disputed = network.request(2, int8).await?;
    network
        .wait_all(
            &[disputed],
            &[RequestStatus::Challenged],
            Duration::from_secs(60),
        )
        .await?;
    let dispute = pda::dispute_of(
        &network
            .request_state(&disputed)
            .context("the disputed request")?,
    );
    let mut rent_dispute = open_rent(network, &disputed);
    rent_dispute.push(rent_of(network, "dispute", &dispute));
    let voters: Vec<Pubkey> = [0, 1, 4, 5]
        .iter()
        .map(|&index| pda::vote(&dispute, &pda::operator(&network.operators[index].pubkey())))
        .collect();
    // Each vote account lives from its vote to its claim: watch for them
    // until the dispute settles.
    let mut seen_votes: Vec<Option<Rent>> = voters.iter().map(|_| None).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        for (vote, seen) in voters.iter().zip(seen_votes.iter_mut()) {
            if seen.is_none() && network.localnet.chain.bank().get_account(vote).is_some() {
                *seen = Some(rent_of(network, "vote", vote));
            }
        }
        let settled = network.request_state(&disputed).is_some_and(|state| {
            matches!(
                state.status,
                RequestStatus::Overturned | RequestStatus::Finalized
            )
        });
        if settled && seen_votes.iter().all(Option::is_some) {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the dispute did not settle"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    rent_dispute.extend(seen_votes.into_iter().flatten());
    // Voters claim once the dispute settles; then the requester closes.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while voters
        .iter()
        .any(|vote| network.localnet.chain.bank().get_account(vote).is_some())
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "votes were not claimed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    close(network, 2, disputed).await?;
    for node in nodes {
        node.stop();
    }
    close_rent(network, &mut rent_dispute);
    let mut touched = vec![disputed, dispute];
    touched.extend(&voters);
    let dispute = lifecycle(
        network,
        "dispute: int8_matmul, wrong result overturned",
        &touched,
        rent_dispute,
    )?;

    Ok(Cost {
        account_sizes: account_sizes(network),
        largest: largest_transactions(network),
        happy,
        other_happy,
        dispute,
        shared_writable,
    })
}

/// The rent a committed request holds: the request and its escrow.
pub fn open_rent(network: &Network, request: &Pubkey) -> Vec<Rent> {
    vec![
        rent_of(network, "request", request),
        rent_of(network, "escrow (token account)", &pda::escrow(request)),
    ]
}

pub fn rent_of(network: &Network, account: &'static str, address: &Pubkey) -> Rent {
    let found = network.localnet.chain.bank().get_account(address);
    Rent {
        account,
        address: *address,
        size: found.as_ref().map_or(0, |found| found.data().len()),
        lamports: found.as_ref().map_or(0, |found| found.lamports()),
        returned: false,
    }
}

/// Marks the accounts that no longer exist as returned (closed).
pub fn close_rent(network: &Network, rent: &mut [Rent]) {
    let bank = network.localnet.chain.bank();
    for entry in rent {
        entry.returned = bank.get_account(&entry.address).is_none();
    }
}

async fn settle_and_close(network: &Network, requester: usize, request: Pubkey) -> Result<()> {
    let wallet = &network.requesters[requester];
    let client = network.client(wallet);
    let state = network.request_state(&request).context("the request")?;
    let payees = client.payees(&state).await?;
    let finalize = settlement::finalize(wallet.pubkey(), request, &state, payees, network.tokens);
    client.send("finalize", &finalize.instructions, &[]).await?;
    close(network, requester, request).await
}

async fn close(network: &Network, requester: usize, request: Pubkey) -> Result<()> {
    let wallet = &network.requesters[requester];
    let client = network.client(wallet);
    let close = instruction(
        accounts::close_request(wallet.pubkey(), request),
        sibyl::instruction::CloseRequest {},
    );
    client.send("close_request", &[close], &[]).await?;
    Ok(())
}

/// Every transaction that named one of `addresses`, in order.
pub fn lifecycle(
    network: &Network,
    title: &str,
    addresses: &[Pubkey],
    rent: Vec<Rent>,
) -> Result<Lifecycle> {
    let chain = &network.localnet.chain;
    let mut signatures: Vec<Signature> = Vec::new();
    for address in addresses {
        for signature in chain.signatures_for(address) {
            if !signatures.contains(&signature) {
                signatures.push(signature);
            }
        }
    }
    let mut records: Vec<_> = signatures
        .iter()
        .map(|signature| chain.record(signature).context("a processed transaction"))
        .collect::<Result<_>>()?;
    records.sort_by_key(|record| record.sequence);
    let names = party_names(network);
    let transactions = records
        .into_iter()
        .map(|record| {
            let message = &record.transaction.message;
            let keys = message.static_account_keys();
            let writable = (0..keys.len())
                .filter(|&index| {
                    message.is_maybe_writable_with_reserved_addresses(
                        index,
                        None::<&std::collections::HashSet<Pubkey>>,
                    )
                })
                .map(|index| keys[index])
                .collect();
            TxCost {
                name: instruction_names(&record.transaction),
                slot: record.slot,
                failed: record.meta.status.is_err(),
                signer: names
                    .get(&keys[0])
                    .cloned()
                    .unwrap_or_else(|| keys[0].to_string()),
                signatures: record.transaction.signatures.len(),
                fee: record.meta.fee,
                size: bincode::serialize(&record.transaction).map_or(0, |bytes| bytes.len()),
                writable,
                sibyl_data: message
                    .instructions()
                    .iter()
                    .filter(|instruction| keys[instruction.program_id_index as usize] == sibyl::ID)
                    .map(|instruction| instruction.data.clone())
                    .collect(),
            }
        })
        .collect();
    Ok(Lifecycle {
        title: title.to_string(),
        transactions,
        rent,
    })
}

/// Wallets by name, and their payment-token accounts.
fn party_names(network: &Network) -> HashMap<Pubkey, String> {
    let mut names = wallet_names(network);
    let tokens: Vec<(Pubkey, String)> = names
        .iter()
        .map(|(wallet, name)| {
            (
                network.tokens.account_of(wallet),
                format!("token account of {name}"),
            )
        })
        .collect();
    names.extend(tokens);
    names
}

fn wallet_names(network: &Network) -> HashMap<Pubkey, String> {
    let mut names = HashMap::new();
    names.insert(
        network.authority.pubkey(),
        "the authority (treasury owner)".to_string(),
    );
    for (index, wallet) in network.operators.iter().enumerate() {
        names.insert(wallet.pubkey(), format!("operator {index}"));
    }
    for (index, wallet) in network.requesters.iter().enumerate() {
        names.insert(wallet.pubkey(), format!("requester {index}"));
    }
    for (wallet, model) in network.publishers.iter().zip(&network.models) {
        names.insert(wallet.pubkey(), format!("publisher of {}", model.name));
    }
    names
}

/// The Sibyl instructions a transaction carries, by name.
fn instruction_names(transaction: &solana_transaction::versioned::VersionedTransaction) -> String {
    use sibyl::instruction as ix;
    let known: [(&[u8], &str); 21] = [
        (ix::RequestInference::DISCRIMINATOR, "request_inference"),
        (ix::WriteInput::DISCRIMINATOR, "write_input"),
        (ix::CommitResult::DISCRIMINATOR, "commit_result"),
        (ix::Finalize::DISCRIMINATOR, "finalize"),
        (ix::CloseRequest::DISCRIMINATOR, "close_request"),
        (ix::Challenge::DISCRIMINATOR, "challenge"),
        (ix::CastVote::DISCRIMINATOR, "cast_vote"),
        (ix::ResolveDispute::DISCRIMINATOR, "resolve_dispute"),
        (ix::ClaimVote::DISCRIMINATOR, "claim_vote"),
        (ix::CancelRequest::DISCRIMINATOR, "cancel_request"),
        (ix::ExpireRequest::DISCRIMINATOR, "expire_request"),
        (ix::Arbitrate::DISCRIMINATOR, "arbitrate"),
        (ix::ExpireArbitration::DISCRIMINATOR, "expire_arbitration"),
        (ix::SweepFees::DISCRIMINATOR, "sweep_fees"),
        (ix::RevealVote::DISCRIMINATOR, "reveal_vote"),
        (ix::OpenRefereeGame::DISCRIMINATOR, "open_referee_game"),
        (ix::PlayRefereeMove::DISCRIMINATOR, "play_referee_move"),
        (
            ix::ProveRefereeRecord::DISCRIMINATOR,
            "prove_referee_record",
        ),
        (
            ix::ProveRefereeOperand::DISCRIMINATOR,
            "prove_referee_operand",
        ),
        (
            ix::ClaimRefereeTimeout::DISCRIMINATOR,
            "claim_referee_timeout",
        ),
        (ix::SettleRefereeGame::DISCRIMINATOR, "settle_referee_game"),
    ];
    let message = &transaction.message;
    let keys = message.static_account_keys();
    let names: Vec<&str> = message
        .instructions()
        .iter()
        .filter(|instruction| keys[instruction.program_id_index as usize] == sibyl::ID)
        .filter_map(|instruction| {
            known
                .iter()
                .find(|(discriminator, _)| instruction.data.starts_with(discriminator))
                .map(|(_, name)| *name)
        })
        .collect();
    if names.is_empty() {
        "(other)".to_string()
    } else {
        names.join(" + ")
    }
}

/// Writable accounts both lifecycles' transactions name, with who they are.
fn shared(first: &Lifecycle, second: &Lifecycle, network: &Network) -> Vec<(Pubkey, String)> {
    let set = |lifecycle: &Lifecycle| -> BTreeSet<Pubkey> {
        lifecycle
            .transactions
            .iter()
            .flat_map(|tx| tx.writable.iter().copied())
            .collect()
    };
    let names = party_names(network);
    set(first)
        .intersection(&set(second))
        .map(|key| (*key, describe(network, key, &names)))
        .collect()
}

fn describe(network: &Network, key: &Pubkey, names: &HashMap<Pubkey, String>) -> String {
    if let Some(name) = names.get(key) {
        return name.clone();
    }
    let config = network
        .localnet
        .chain
        .bank()
        .get_account(&pda::config())
        .and_then(|account| {
            use anchor_lang::AccountDeserialize;
            sibyl::state::Config::try_deserialize(&mut account.data()).ok()
        });
    match config {
        Some(config) if config.treasury == *key => {
            "the protocol treasury's token account".to_string()
        }
        _ if *key == pda::config() => "the config account".to_string(),
        _ if *key == pda::stake_vault() => "the stake vault".to_string(),
        _ if *key == pda::bond_vault() => "the bond vault".to_string(),
        _ => key.to_string(),
    }
}

/// Sizes of the long-lived accounts (a lifecycle's own are in its rent table).
fn account_sizes(network: &Network) -> Vec<(&'static str, usize)> {
    let bank = network.localnet.chain.bank();
    let size = |address: &Pubkey| {
        bank.get_account(address)
            .map_or(0, |account| account.data().len())
    };
    vec![
        ("Config", size(&pda::config())),
        (
            "Model (digits; the URI is stored at its length)",
            size(&network.model("digits").address),
        ),
        (
            "Operator",
            size(&pda::operator(&network.operators[0].pubkey())),
        ),
        (
            "stake vault, bond vault (token accounts)",
            size(&pda::stake_vault()),
        ),
    ]
}

/// The largest transaction each input- or output-carrying instruction can
/// need (`sibyl_oracle::actions::request::largest_transactions`), serialized.
fn largest_transactions(network: &Network) -> Vec<(String, usize)> {
    let client = network.client(&network.requesters[0]);
    request::largest_transactions(&client, network.tokens)
        .into_iter()
        .map(|(name, transaction)| {
            (
                name,
                bincode::serialize(&transaction).map_or(0, |bytes| bytes.len()),
            )
        })
        .collect()
}

pub fn tables(cost: &Cost) -> String {
    let mut out = String::new();
    for lifecycle in [&cost.happy, &cost.other_happy, &cost.dispute] {
        out.push_str(&format!("**{}**\n\n| slot | transaction | sent by | signatures | fee (lamports) | size (bytes, limit {PACKET_LIMIT}) |\n|---:|---|---|---:|---:|---:|\n", lifecycle.title));
        let first_slot = lifecycle.transactions.first().map_or(0, |tx| tx.slot);
        for tx in &lifecycle.transactions {
            out.push_str(&format!(
                "| +{} | {}{} | {} | {} | {} | {} |\n",
                tx.slot - first_slot,
                tx.name,
                if tx.failed { " (failed)" } else { "" },
                tx.signer,
                tx.signatures,
                tx.fee,
                tx.size
            ));
        }
        let fees: u64 = lifecycle.transactions.iter().map(|tx| tx.fee).sum();
        let signatures: usize = lifecycle.transactions.iter().map(|tx| tx.signatures).sum();
        out.push_str(&format!(
            "| | **total** | | {signatures} | {fees} ({:.6} SOL) | largest {} |\n\n",
            fees as f64 / 1e9,
            lifecycle
                .transactions
                .iter()
                .map(|tx| tx.size)
                .max()
                .unwrap_or(0)
        ));
        out.push_str("| account | size (bytes) | rent locked (lamports) | returned at close |\n|---|---:|---:|---|\n");
        for rent in &lifecycle.rent {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                rent.account,
                rent.size,
                rent.lamports,
                if rent.returned { "yes" } else { "**no**" }
            ));
        }
        out.push('\n');
    }
    out
}

/// The shared-account check, the account sizes and the largest transactions.
pub fn summary_tables(cost: &Cost) -> String {
    let mut out = String::from("**Writable accounts shared by the two happy-path lifecycles** (different models, operators and requesters): ");
    if cost.shared_writable.is_empty() {
        out.push_str("none.\n\n");
    } else {
        out.push_str(&format!("**{}**\n\n", cost.shared_writable.len()));
        for (key, what) in &cost.shared_writable {
            out.push_str(&format!("- `{key}`: {what}\n"));
        }
        out.push('\n');
    }
    out.push_str("| long-lived account | size (bytes) |\n|---|---:|\n");
    for (name, size) in &cost.account_sizes {
        out.push_str(&format!("| {name} | {size} |\n"));
    }
    out.push_str(&format!(
        "\n| largest transaction of its kind (with the node's compute-budget instructions) | size (bytes) | fits in {PACKET_LIMIT} |\n|---|---:|---|\n"
    ));
    for (name, size) in &cost.largest {
        out.push_str(&format!(
            "| {name} | {size} | {} |\n",
            if *size <= PACKET_LIMIT {
                "yes"
            } else {
                "**no**"
            }
        ));
    }
    out
}

//! A request's story read back from its transactions: the events Sibyl
//! emitted (`emit_cpi!`, so they travel as self-invocations recorded in each
//! transaction's inner instructions). The timeline polls the request account,
//! and a dispute decided within a slot or two can open and close between two
//! readings; the events never miss a step.
use anchor_lang::{prelude::Pubkey, AnchorDeserialize, Discriminator};
use anyhow::Result;
use sibyl::events::{ResultChallenged, ResultCommitted, VoteRevealed};
use sibyl_oracle::chain::ChainClient;

/// One step of a dispute game, in the order it landed.
pub enum Step {
    Committed { slot: u64, event: ResultCommitted },
    Challenged { slot: u64, event: ResultChallenged },
    Voted { slot: u64, event: VoteRevealed },
}

/// The commit, challenge and vote-reveal events of every transaction that touched
/// `request` or `dispute`, oldest first.
pub async fn steps(chain: &ChainClient, addresses: &[Pubkey]) -> Result<Vec<Step>> {
    let mut signatures: Vec<(u64, String)> = Vec::new();
    for address in addresses {
        for (slot, signature) in chain.history(address).await? {
            if !signatures.iter().any(|(_, known)| *known == signature) {
                signatures.push((slot, signature));
            }
        }
    }
    // Oldest first; within a slot the order the history lists them in.
    signatures.reverse();
    signatures.sort_by_key(|(slot, _)| *slot);
    let mut steps = Vec::new();
    for (slot, signature) in signatures {
        for data in chain.sibyl_events(&signature).await? {
            if let Some(event) = decode::<ResultCommitted>(&data) {
                steps.push(Step::Committed { slot, event });
            } else if let Some(event) = decode::<ResultChallenged>(&data) {
                steps.push(Step::Challenged { slot, event });
            } else if let Some(event) = decode::<VoteRevealed>(&data) {
                steps.push(Step::Voted { slot, event });
            }
        }
    }
    Ok(steps)
}

fn decode<E: AnchorDeserialize + Discriminator>(data: &[u8]) -> Option<E> {
    let body = data.strip_prefix(E::DISCRIMINATOR)?;
    E::deserialize(&mut &body[..]).ok()
}

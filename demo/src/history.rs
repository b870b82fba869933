//! A request's story read back from its transactions: the events Sibyl
//! emitted (`emit_cpi!`, so they travel as self-invocations recorded in each
//! transaction's inner instructions). The timeline polls the request account,
//! and a dispute decided within a slot or two can open and close between two
//! readings; the events never miss a step.
use anchor_lang::{event::EVENT_IX_TAG_LE, prelude::Pubkey, AnchorDeserialize, Discriminator};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use sibyl::events::{ResultChallenged, ResultCommitted, VoteRevealed};
use sibyl_oracle::chain::ChainClient;
use solana_rpc_client_api::request::RpcRequest;

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
        let listed: Value = chain
            .rpc()
            .send(
                RpcRequest::GetSignaturesForAddress,
                json!([address.to_string(), {"commitment": "confirmed"}]),
            )
            .await
            .context("getSignaturesForAddress")?;
        for entry in listed.as_array().into_iter().flatten() {
            let (Some(slot), Some(signature)) =
                (entry["slot"].as_u64(), entry["signature"].as_str())
            else {
                continue;
            };
            if !signatures.iter().any(|(_, known)| known == signature) {
                signatures.push((slot, signature.to_string()));
            }
        }
    }
    // Oldest first; within a slot the order the history lists them in.
    signatures.reverse();
    signatures.sort_by_key(|(slot, _)| *slot);
    let mut steps = Vec::new();
    for (slot, signature) in signatures {
        let transaction: Value = chain
            .rpc()
            .send(
                RpcRequest::GetTransaction,
                json!([signature, {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]),
            )
            .await
            .context("getTransaction")?;
        for data in sibyl_events(&transaction) {
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

/// The data of every event Sibyl emitted in a `getTransaction` result.
fn sibyl_events(transaction: &Value) -> Vec<Vec<u8>> {
    let keys: Vec<&str> = transaction["transaction"]["message"]["accountKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let program = sibyl::ID.to_string();
    transaction["meta"]["innerInstructions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["instructions"].as_array().into_iter().flatten())
        .filter(|instruction| {
            instruction["programIdIndex"]
                .as_u64()
                .and_then(|index| keys.get(index as usize))
                == Some(&program.as_str())
        })
        .filter_map(|instruction| bs58::decode(instruction["data"].as_str()?).into_vec().ok())
        .filter_map(|data| data.strip_prefix(EVENT_IX_TAG_LE).map(<[u8]>::to_vec))
        .collect()
}

fn decode<E: AnchorDeserialize + Discriminator>(data: &[u8]) -> Option<E> {
    let body = data.strip_prefix(E::DISCRIMINATOR)?;
    E::deserialize(&mut &body[..]).ok()
}

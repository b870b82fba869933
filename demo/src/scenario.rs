//! One scripted request: pay, follow its timeline, check how it ended.
use crate::{history, parties::Parties};
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use sibyl::state::{InferenceRequest, Model, Operator, RequestStatus, VoteSide};
use sibyl_client::pda;
use sibyl_oracle::testing::TestCluster;
use sibyl_oracle::{
    actions::{
        format_amount,
        request::{self, NewRequest, Progress},
    },
    compare::top_k,
    hex, input, tensor,
};
use std::time::Duration;

/// How a request must end.
pub enum Expect {
    /// Final as committed, the digits model naming this digit.
    Finalized { digit: usize },
    /// Overturned: the faulty operator slashed, and the final output the
    /// correct one (what Python onnxruntime recorded for this input).
    Overturned { output: Vec<u8> },
}

enum Input {
    /// A PNG sample of `models/samples/`, scaled to the digits model's 0..16.
    Png(&'static str),
    /// A canonical input encoding.
    Encoding(Vec<u8>),
}

pub struct Scenario {
    pub title: &'static str,
    model: Pubkey,
    input: Input,
    pub expect: Expect,
}

impl Scenario {
    /// A handwritten digit for the digits model, served honestly by A.
    pub fn digit(title: &'static str, model: Pubkey, sample: &'static str, digit: usize) -> Self {
        Scenario {
            title,
            model,
            input: Input::Png(sample),
            expect: Expect::Finalized { digit },
        }
    }

    /// The first int8 fixture case, which only the faulty operator C serves.
    pub fn int8_served_by_the_faulty_operator(model: Pubkey) -> Result<Self> {
        let fixtures: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string("models/fixtures.json")?)?;
        let case = fixtures["fixtures"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["name"] == "int8_matmul"))
            .and_then(|fixture| fixture["cases"].get(0))
            .context("models/fixtures.json has the int8_matmul cases")?;
        let hex_field = |name: &str| {
            case[name]
                .as_str()
                .and_then(hex::decode)
                .with_context(|| format!("int8 case {name}"))
        };
        Ok(Scenario {
            title: "int8 model: served by the faulty operator C",
            model,
            input: Input::Encoding(hex_field("input_encoding")?),
            expect: Expect::Overturned {
                output: hex_field("output_encoding")?,
            },
        })
    }

    /// Pays for the request, prints its timeline, and says whether it ended
    /// as expected.
    pub async fn run(&self, cluster: &TestCluster, parties: &Parties) -> Result<bool> {
        let client = cluster.client(&parties.requester);
        let model: Model = client.fetch_required(&self.model, "model").await?;
        let input = match &self.input {
            Input::Png(sample) => {
                let png = std::fs::read(format!("models/samples/{sample}.png"))?;
                let spec = model.inputs.first().context("the model has an input")?;
                input::from_png_rounded(&png, spec, 16.0)?
            }
            Input::Encoding(bytes) => bytes.clone(),
        };
        let faulty = pda::operator(&parties.operators[2].pubkey());
        let faulty_stake = stake(&client, &faulty).await?;
        let tokens = client.payment_tokens().await?;
        let new = NewRequest {
            model: self.model,
            input,
            input_uri: None,
            fee: model.price,
            nonce: request::fresh_nonce(),
            callback: None,
            max_challenge_window_slots: None,
        };
        let address = request::submit(&client, tokens, new).await?;
        println!(
            "slot {:>5}  requested    {} tokens escrowed by the requester (request {address})",
            client.slot().await?,
            format_amount(model.price, 6)
        );
        let mut timeline = Timeline::default();
        let last = request::follow(
            &client,
            &address,
            Duration::from_millis(100),
            Duration::from_secs(180),
            |progress| timeline.show(progress, parties),
        )
        .await?;
        let Progress::Final { slot, state } = last else {
            println!("UNEXPECTED: the request did not end with a final result ({last:?})");
            return Ok(false);
        };
        if !timeline.committed
            || (state.status == RequestStatus::Overturned && !timeline.challenged)
        {
            let steps = history::steps(&client, &[address, pda::dispute_of(&state)]).await?;
            timeline.replay(steps, parties);
        }
        let slashed = faulty_stake.saturating_sub(stake(&client, &faulty).await?);
        Ok(self.judge(slot, &state, slashed))
    }

    fn judge(&self, slot: u64, state: &InferenceRequest, slashed: u64) -> bool {
        match &self.expect {
            Expect::Finalized { digit } => {
                let predicted = tensor::decode(&state.output)
                    .ok()
                    .and_then(|tensors| tensors.into_iter().next())
                    .map(|scores| tensor::values_f64(&scores))
                    .and_then(|scores| top_k(&scores, 1).first().map(|&i| (i, scores[i])));
                let Some((class, probability)) = predicted else {
                    println!("UNEXPECTED: the output is not the digits model's");
                    return false;
                };
                println!(
                    "slot {slot:>5}  finalized    predicted digit {class} (p = {probability:.4}); the operator, the publisher and the treasury are paid"
                );
                let ok = state.status == RequestStatus::Finalized && class == *digit;
                if !ok {
                    println!("UNEXPECTED: expected a finalized {digit}");
                }
                ok
            }
            Expect::Overturned { output } => {
                println!(
                    "slot {slot:>5}  overturned   operator C slashed {} tokens; the requester gets the corrected output {}…",
                    format_amount(slashed, 6),
                    &hex::encode(&state.output_hash)[..16]
                );
                let correct = state.output == *output;
                if correct {
                    println!("             the corrected output is byte for byte what Python onnxruntime computed");
                }
                let ok = state.status == RequestStatus::Overturned && correct && slashed > 0;
                if !ok {
                    println!("UNEXPECTED: expected an overturned result with the correct output and a slash");
                }
                ok
            }
        }
    }
}

/// Prints each step of a request's story once, in order, even when several
/// happened between two readings (a commit, its challenge and the first vote
/// can all land within one slot).
#[derive(Default)]
struct Timeline {
    committed: bool,
    window_bucket: Option<u64>,
    challenged: bool,
    votes: Option<(u64, u64, u64)>,
}

impl Timeline {
    fn show(&mut self, progress: &Progress, parties: &Parties) {
        let (slot, state, dispute) = match progress {
            Progress::Committed { slot, state } => (*slot, state, None),
            Progress::Challenged {
                slot,
                state,
                dispute,
            } => (*slot, state, Some(dispute)),
            _ => return,
        };
        self.committed(
            state.committed_slot,
            &state.operator,
            &state.output_hash,
            state.challenge_deadline_slot,
            parties,
        );
        let Some(dispute) = dispute else {
            let left = state.challenge_deadline_slot.saturating_sub(slot);
            if left + 5 < state.challenge_window_slots && self.window_bucket != Some(left / 10) {
                self.window_bucket = Some(left / 10);
                println!("slot {slot:>5}  window       {left} slots left to challenge");
            }
            return;
        };
        self.challenged(
            dispute.opened_slot,
            &dispute.challenger,
            dispute.bond,
            dispute.vote_deadline_slot,
            parties,
        );
        if dispute.vote_count > 0 {
            self.votes(
                slot,
                (
                    dispute.stake_for_operator,
                    dispute.stake_for_challenger,
                    dispute.stake_for_neither,
                ),
            );
        }
    }

    /// Prints what the readings missed (a dispute decided between two of
    /// them), from the request's transactions.
    fn replay(&mut self, steps: Vec<history::Step>, parties: &Parties) {
        let mut votes = (0, 0, 0);
        for step in steps {
            match step {
                history::Step::Committed { slot, event } => self.committed(
                    slot,
                    &event.operator,
                    &event.output_hash,
                    event.challenge_deadline_slot,
                    parties,
                ),
                history::Step::Challenged { slot, event } => self.challenged(
                    slot,
                    &event.challenger,
                    event.bond,
                    event.vote_deadline_slot,
                    parties,
                ),
                history::Step::Voted { slot, event } => {
                    match event.side {
                        VoteSide::Operator => votes.0 += event.weight,
                        VoteSide::Challenger => votes.1 += event.weight,
                        VoteSide::Neither => votes.2 += event.weight,
                    }
                    self.votes(slot, votes);
                }
            }
        }
    }

    fn committed(
        &mut self,
        slot: u64,
        operator: &Pubkey,
        output_hash: &[u8; 32],
        challenge_deadline_slot: u64,
        parties: &Parties,
    ) {
        if !self.committed {
            self.committed = true;
            println!(
                "slot {slot:>5}  committed    by {} · output {}… · challenge window until slot {challenge_deadline_slot}",
                parties.name_of(operator),
                &hex::encode(output_hash)[..16],
            );
        }
    }

    fn challenged(
        &mut self,
        slot: u64,
        challenger: &Pubkey,
        bond: u64,
        vote_deadline_slot: u64,
        parties: &Parties,
    ) {
        if !self.challenged {
            self.challenged = true;
            println!(
                "slot {slot:>5}  challenged   by {} with its own output; bond {} posted; verifiers vote until slot {vote_deadline_slot}",
                parties.name_of(challenger),
                format_amount(bond, 6),
            );
        }
    }

    /// Stake voted for the operator's output, the challenger's, and neither.
    fn votes(&mut self, slot: u64, votes: (u64, u64, u64)) {
        if self.votes != Some(votes) {
            self.votes = Some(votes);
            let neither = if votes.2 > 0 {
                format!(", {} for neither", format_amount(votes.2, 6))
            } else {
                String::new()
            };
            println!(
                "slot {slot:>5}  votes        stake {} for the operator, {} for the challenger{neither}",
                format_amount(votes.0, 6),
                format_amount(votes.1, 6)
            );
        }
    }
}

async fn stake(client: &sibyl_oracle::chain::ChainClient, operator: &Pubkey) -> Result<u64> {
    let state: Operator = client.fetch_required(operator, "operator").await?;
    Ok(state.stake)
}

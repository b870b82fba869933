//! Paying for one inference and following it to its result (requesters).
use crate::chain::{ChainClient, ChainError};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    callback::CallbackSpec,
    hashing,
    instructions::{InputReference, RequestInferenceArgs},
    state::{Dispute, InferenceRequest, Model, RequestStatus},
};
use sibyl_client::{accounts, accounts::Tokens, instruction, pda};
use std::time::Duration;

/// Input bytes carried by `request_inference` itself; the rest follows in
/// `write_input` chunks (each transaction stays under 1232 bytes).
/// 480 leaves room for a callback naming four accounts and a priority fee
/// (see `largest_transactions_fit_in_a_packet`).
pub const FIRST_CHUNK_BYTES: usize = 480;
/// Input bytes per `write_input` or `write_input_buffer`.
pub const CHUNK_BYTES: usize = sibyl::constants::INPUT_CHUNK_BYTES as usize;

/// One inference to pay for.
#[derive(Clone, Debug)]
pub struct NewRequest {
    /// The model account.
    pub model: Pubkey,
    /// A canonical input encoding.
    pub input: Vec<u8>,
    /// Where nodes fetch `input` (which must serve exactly these bytes):
    /// the request then carries its SHA-256 and this URI instead of the
    /// bytes, which are written on chain only if a node demands them.
    pub input_uri: Option<String>,
    /// Fee to escrow, in base units (at least the model's price).
    pub fee: u64,
    /// Makes the request address unique ([`fresh_nonce`]).
    pub nonce: u64,
    /// A consumer program to call with the final result.
    pub callback: Option<CallbackSpec>,
    /// The longest challenge window to accept: the request fails if the
    /// model's is longer.
    pub max_challenge_window_slots: Option<u64>,
}

/// An input past u32 cannot be a request's; the program refuses the
/// saturated length as too large.
fn length(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Pays for `new`, uploading its input in chunks when large (or naming it
/// by reference); returns the request address.
pub async fn submit(
    chain: &ChainClient,
    tokens: Tokens,
    new: NewRequest,
) -> Result<Pubkey, ChainError> {
    let NewRequest {
        model,
        input,
        input_uri,
        fee,
        nonce,
        callback,
        max_challenge_window_slots,
    } = new;
    let requester = chain.wallet();
    let request = pda::request(&requester, nonce);
    let carried = if input_uri.is_some() {
        0
    } else {
        input.len().min(FIRST_CHUNK_BYTES)
    };
    let first = input.get(..carried).unwrap_or_default();
    let input_reference = input_uri.map(|uri| InputReference {
        sha256: hashing::input_hash(&input),
        uri,
    });
    let by_reference = input_reference.is_some();
    let create = instruction(
        accounts::request_inference(
            requester,
            tokens.account_of(&requester),
            model,
            nonce,
            tokens,
        ),
        sibyl::instruction::RequestInference {
            args: RequestInferenceArgs {
                nonce,
                fee,
                input_len: length(input.len()),
                input: first.to_vec(),
                input_reference,
                callback,
                max_challenge_window_slots,
            },
        },
    );
    chain.send("request_inference", &[create], &[]).await?;
    if !by_reference {
        write_input(chain, request, &input, carried, |_| {}).await?;
    }
    Ok(request)
}

/// Writes the rest of a carried input from byte `from` on, one
/// `write_input` per chunk, in order (the program refuses any other),
/// calling `on_chunk` with the bytes written so far after each.
pub async fn write_input(
    chain: &ChainClient,
    request: Pubkey,
    input: &[u8],
    from: usize,
    mut on_chunk: impl FnMut(usize),
) -> Result<(), ChainError> {
    let requester = chain.wallet();
    let mut offset = from;
    for chunk in input.get(from..).unwrap_or_default().chunks(CHUNK_BYTES) {
        let write = instruction(
            accounts::write_input(requester, request),
            sibyl::instruction::WriteInput {
                offset: length(offset),
                data: chunk.to_vec(),
            },
        );
        chain.send("write_input", &[write], &[]).await?;
        offset += chunk.len();
        on_chunk(offset);
    }
    Ok(())
}

/// Writes `input`, the request's demanded referenced input, into this
/// wallet's own input buffer from byte `from` on (what the buffer holds
/// already), one `write_input_buffer` per chunk, in order, calling
/// `on_chunk` with the bytes written so far after each. Anyone holding the
/// bytes may; the first buffer completed becomes the request's input. Ends
/// early, with `Ok(false)`, when another writer completed it first.
pub async fn write_input_buffer(
    chain: &ChainClient,
    request: Pubkey,
    state: &InferenceRequest,
    input: &[u8],
    from: usize,
    mut on_chunk: impl FnMut(usize),
) -> Result<bool, ChainError> {
    let writer = chain.wallet();
    let mut offset = from;
    for chunk in input.get(from..).unwrap_or_default().chunks(CHUNK_BYTES) {
        let write = instruction(
            accounts::write_input_buffer(writer, request, state.model, state.sequence),
            sibyl::instruction::WriteInputBuffer {
                sequence: state.sequence,
                offset: length(offset),
                data: chunk.to_vec(),
            },
        );
        match chain.send("write_input_buffer", &[write], &[]).await {
            Ok(_) => {}
            Err(err) if err.refused_with(sibyl::errors::SibylError::InputAlreadyComplete) => {
                return Ok(false)
            }
            Err(err) => return Err(err),
        }
        offset += chunk.len();
        on_chunk(offset);
    }
    Ok(true)
}

/// How many input bytes this wallet's buffer for `request` holds already
/// (0 when it has none).
pub async fn input_buffer_written(
    chain: &ChainClient,
    request: Pubkey,
    state: &InferenceRequest,
) -> Result<usize, ChainError> {
    let buffer = pda::input_buffer_of(&request, state, &chain.wallet());
    // Lamports someone sent to the address before the first chunk leave it
    // the system program's, with no data: nothing written yet.
    Ok(match chain.owned_account(&buffer, "input buffer").await? {
        Some((owner, data)) if owner == sibyl::ID => data
            .len()
            .saturating_sub(sibyl::state::INPUT_BUFFER_HEADER_LEN),
        _ => 0,
    })
}

/// Closes this wallet's input buffer described by `header`, returning the
/// lamports it held (its rent, back to the wallet).
pub async fn close_input_buffer(
    chain: &ChainClient,
    header: &sibyl::state::InputBufferHeader,
) -> Result<u64, ChainError> {
    let buffer = pda::input_buffer(
        &header.request,
        &header.model,
        header.sequence,
        &header.writer,
    );
    let rent = chain.balance(&buffer).await?;
    let close = sibyl_client::settlement::close_input_buffer(chain.wallet(), header);
    chain.send(close.name, &close.instructions, &[]).await?;
    Ok(rent)
}

/// A fresh nonce: the wall clock in nanoseconds, unique per requester in practice.
pub fn fresh_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// What a requester sees of a request at one moment.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Waiting for an operator (the deadline slot).
    Pending { slot: u64, deadline_slot: u64 },
    /// A node demanded the referenced input on chain: anyone holding it
    /// writes it by `state.input_upload_deadline_slot` (`write_input_buffer`), or the
    /// request is voided and refunded.
    InputDemanded {
        slot: u64,
        state: Box<InferenceRequest>,
    },
    /// A result is committed; the window closes at `challenge_deadline_slot`.
    Committed {
        slot: u64,
        state: Box<InferenceRequest>,
    },
    /// Disputed; verifiers vote until `dispute.vote_deadline_slot`.
    Challenged {
        slot: u64,
        state: Box<InferenceRequest>,
        dispute: Box<Dispute>,
    },
    /// Final (`Finalized` or `Overturned`): the output may be used.
    Final {
        slot: u64,
        state: Box<InferenceRequest>,
    },
    /// The account is gone: cancelled, expired or refunded.
    Closed,
}

impl Progress {
    /// Whether following can stop.
    pub fn is_done(&self) -> bool {
        matches!(self, Progress::Final { .. } | Progress::Closed)
    }
}

/// Where `request` stands now.
pub async fn progress(chain: &ChainClient, request: &Pubkey) -> Result<Progress, ChainError> {
    let slot = chain.slot().await?;
    let Some(state) = chain
        .fetch::<InferenceRequest>(request, "inference request")
        .await?
    else {
        return Ok(Progress::Closed);
    };
    if state.awaiting_demanded_input() {
        return Ok(Progress::InputDemanded {
            slot,
            state: Box::new(state),
        });
    }
    Ok(match state.status {
        RequestStatus::Pending => Progress::Pending {
            slot,
            deadline_slot: state.deadline_slot,
        },
        RequestStatus::Committed => Progress::Committed {
            slot,
            state: Box::new(state),
        },
        RequestStatus::Challenged => {
            let dispute = chain
                .fetch_required(&pda::dispute_of(&state), "dispute")
                .await?;
            Progress::Challenged {
                slot,
                state: Box::new(state),
                dispute: Box::new(dispute),
            }
        }
        RequestStatus::Finalized | RequestStatus::Overturned => Progress::Final {
            slot,
            state: Box::new(state),
        },
    })
}

/// Polls `request` until it is final or closed, calling `on_progress` with
/// every reading; gives up after `timeout`.
pub async fn follow(
    chain: &ChainClient,
    request: &Pubkey,
    poll: Duration,
    timeout: Duration,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Progress, ChainError> {
    let started = tokio::time::Instant::now();
    loop {
        let now = progress(chain, request).await?;
        on_progress(&now);
        if now.is_done() || started.elapsed() > timeout {
            return Ok(now);
        }
        tokio::time::sleep(poll).await;
    }
}

/// The model a request is for.
pub async fn model_of(chain: &ChainClient, state: &InferenceRequest) -> Result<Model, ChainError> {
    chain.fetch_required(&state.model, "model").await
}

/// Solana's packet limit for a serialized transaction.
pub const PACKET_LIMIT: usize = 1232;

/// Each instruction that carries input or output bytes at the largest size
/// the protocol allows, signed by `chain`'s wallet with its compute-budget
/// instructions in front (never sent): what must fit in [`PACKET_LIMIT`].
pub fn largest_transactions(
    chain: &ChainClient,
    tokens: Tokens,
) -> Vec<(String, solana_transaction::Transaction)> {
    use sibyl::{
        callback::CallbackAccount,
        constants::{MAX_CALLBACK_ACCOUNTS, MAX_INPUT_BYTES, MAX_INPUT_URI_LEN, MAX_OUTPUT_BYTES},
    };
    let wallet = chain.wallet();
    let token = tokens.account_of(&wallet);
    let request = pda::request(&wallet, 1);
    let model = Pubkey::new_unique();
    let output = vec![0xa5; MAX_OUTPUT_BYTES as usize];
    let callback = CallbackSpec {
        program: Pubkey::new_unique(),
        accounts: (0..MAX_CALLBACK_ACCOUNTS)
            .map(|_| CallbackAccount {
                pubkey: Pubkey::new_unique(),
                writable: true,
            })
            .collect(),
    };
    let largest = [
        (
            format!("request_inference, first {FIRST_CHUNK_BYTES} input bytes inline, a callback naming {MAX_CALLBACK_ACCOUNTS} accounts"),
            instruction(
                accounts::request_inference(wallet, token, Pubkey::new_unique(), 1, tokens),
                sibyl::instruction::RequestInference {
                    args: RequestInferenceArgs {
                        nonce: u64::MAX,
                        fee: u64::MAX,
                        input_len: MAX_INPUT_BYTES,
                        input: vec![0xa5; FIRST_CHUNK_BYTES],
                        input_reference: None,
                        callback: Some(callback.clone()),
                        max_challenge_window_slots: Some(u64::MAX),
                    },
                },
            ),
        ),
        (
            format!("request_inference by reference, a {MAX_INPUT_URI_LEN}-byte URI, a callback naming {MAX_CALLBACK_ACCOUNTS} accounts"),
            instruction(
                accounts::request_inference(wallet, token, Pubkey::new_unique(), 1, tokens),
                sibyl::instruction::RequestInference {
                    args: RequestInferenceArgs {
                        nonce: u64::MAX,
                        fee: u64::MAX,
                        input_len: MAX_INPUT_BYTES,
                        input: Vec::new(),
                        input_reference: Some(InputReference {
                            sha256: [0xa5; 32],
                            uri: format!("https://{}", "a".repeat(MAX_INPUT_URI_LEN - 8)),
                        }),
                        callback: Some(callback.clone()),
                        max_challenge_window_slots: Some(u64::MAX),
                    },
                },
            ),
        ),
        (
            format!("write_input, {CHUNK_BYTES} bytes"),
            instruction(
                accounts::write_input(wallet, request),
                sibyl::instruction::WriteInput {
                    offset: u32::MAX,
                    data: vec![0xa5; CHUNK_BYTES],
                },
            ),
        ),
        (
            format!("write_input_buffer, {CHUNK_BYTES} bytes"),
            instruction(
                accounts::write_input_buffer(wallet, request, model, u64::MAX),
                sibyl::instruction::WriteInputBuffer {
                    sequence: u64::MAX,
                    offset: u32::MAX,
                    data: vec![0xa5; CHUNK_BYTES],
                },
            ),
        ),
        (
            format!("commit_result, the largest inline output ({MAX_OUTPUT_BYTES} bytes)"),
            instruction(
                accounts::commit_result(wallet, request, model),
                sibyl::instruction::CommitResult {
                    sequence: u64::MAX,
                    output: output.clone(),
                    whole_output_sha256: [0xa5; 32],
                    trace_root: None,
                },
            ),
        ),
        (
            format!("challenge, the largest inline output ({MAX_OUTPUT_BYTES} bytes)"),
            instruction(
                accounts::challenge(
                    wallet,
                    token,
                    accounts::RequestParties {
                        request,
                        requester: wallet,
                        model,
                        operator: pda::operator(&wallet),
                        dispute: pda::dispute(&model, u64::MAX),
                        refund_token: token,
                    },
                    tokens,
                ),
                sibyl::instruction::Challenge {
                    sequence: u64::MAX,
                    output,
                    whole_output_sha256: [0xa5; 32],
                },
            ),
        ),
    ];
    largest
        .into_iter()
        .map(|(name, last)| {
            let mut all = chain.budget_instructions();
            all.push(last);
            let transaction = solana_transaction::Transaction::new_signed_with_payer(
                &all,
                Some(&wallet),
                &[chain.signer()],
                Default::default(),
            );
            (name, transaction)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::SendSettings;
    use solana_keypair::Keypair;
    use std::sync::Arc;

    /// With a priority fee set (one more instruction), every largest
    /// transaction still fits.
    #[test]
    fn largest_transactions_fit_in_a_packet() {
        let settings = SendSettings {
            priority_fee_micro_lamports: 1_000,
            ..SendSettings::default()
        };
        let chain = ChainClient::new(
            "http://127.0.0.1:1",
            "ws://127.0.0.1:1",
            Arc::new(Keypair::new()),
            settings,
        );
        let tokens = Tokens {
            mint: Pubkey::new_unique(),
            token_program: anchor_spl::token::ID,
        };
        let largest = largest_transactions(&chain, tokens);
        assert_eq!(largest.len(), 6);
        for (name, transaction) in largest {
            let size = bincode::serialize(&transaction).unwrap().len();
            eprintln!("{name}: {size} bytes");
            assert!(
                size <= PACKET_LIMIT,
                "{name}: {size} bytes > {PACKET_LIMIT}"
            );
        }
    }
}

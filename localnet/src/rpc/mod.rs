//! Solana JSON-RPC 2.0, answered as Agave answers it: the same result types
//! (from `solana-rpc-client-types`, the ones `RpcClient` decodes), the same
//! encoders (`solana-account-decoder` for accounts, `solana-transaction-status`
//! for transactions and blocks, `jsonParsed` included), the same error codes
//! and messages (`jsonrpc-core`, which Agave's RPC service is built on, plus
//! Agave's `RpcCustomError`), `context.slot` on every contextual result, and
//! `minContextSlot`.
//!
//! One module per family of methods: [`cluster`] (the node and the cluster),
//! [`accounts`], [`tokens`], [`transactions`] and [`blocks`].
mod accounts;
mod blocks;
mod cluster;
mod tokens;
mod transactions;

pub(crate) use accounts::{matches_filter, notified_account};

use crate::chain::Chain;
use anchor_lang::prelude::Pubkey;
use jsonrpc_core::{Error, IoHandler, Params, Value};
use serde::{de::DeserializeOwned, Serialize};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::response::{Response as RpcResponse, RpcResponseContext};
use solana_runtime::bank::Bank;
use solana_signature::Signature;
use solana_transaction_status_client_types::TransactionBinaryEncoding;
use std::{any::type_name, net::SocketAddr, str::FromStr, sync::Arc};

pub use cluster::SOLANA_CORE_VERSION;

/// Largest base58 / base64 transaction text accepted (a 1232-byte packet).
const MAX_BASE58_SIZE: usize = 1683;
const MAX_BASE64_SIZE: usize = 1644;
const PACKET_DATA_SIZE: usize = 1232;

type RpcResult<T> = Result<T, Error>;

/// The JSON-RPC methods this localnet serves; anything else is answered
/// with the standard "Method not found".
pub const SERVED_METHODS: &[&str] = &[
    // cluster
    "getVersion",
    "getHealth",
    "getIdentity",
    "getClusterNodes",
    "getVoteAccounts",
    "getSlot",
    "getBlockHeight",
    "getEpochInfo",
    "getGenesisHash",
    "getLatestBlockhash",
    "isBlockhashValid",
    "getSupply",
    "getMinimumBalanceForRentExemption",
    "getTransactionCount",
    "getEpochSchedule",
    "getSlotLeader",
    "getSlotLeaders",
    // accounts
    "getBalance",
    "getAccountInfo",
    "getMultipleAccounts",
    "getProgramAccounts",
    // tokens
    "getTokenAccountBalance",
    "getTokenAccountsByOwner",
    "getTokenAccountsByDelegate",
    "getTokenSupply",
    "getTokenLargestAccounts",
    // transactions
    "getFeeForMessage",
    "requestAirdrop",
    "sendTransaction",
    "simulateTransaction",
    "getSignatureStatuses",
    "getTransaction",
    "getSignaturesForAddress",
    "getRecentPrioritizationFees",
    // blocks
    "getBlock",
    "getBlocks",
    "getBlocksWithLimit",
    "getBlockTime",
    "getFirstAvailableBlock",
    "minimumLedgerSlot",
    "getRecentPerformanceSamples",
];

/// Where this node serves, as `getClusterNodes` reports it.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub rpc: SocketAddr,
    pub pubsub: SocketAddr,
}

/// How many calls of each method the handler has answered (benchmarks
/// report RPC calls per request from it).
#[derive(Default)]
pub struct RpcCalls(std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>);

impl RpcCalls {
    fn count(&self, method: &'static str) {
        let mut calls = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *calls.entry(method).or_default() += 1;
    }

    /// The calls so far, by method.
    pub fn snapshot(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Builds the JSON-RPC handler over a chain, counting its calls in `calls`.
pub fn handler(chain: Arc<Chain>, endpoints: Endpoints, calls: Arc<RpcCalls>) -> IoHandler {
    let mut methods = Methods {
        io: IoHandler::new(),
        chain,
        calls,
    };
    cluster::register(&mut methods, endpoints);
    accounts::register(&mut methods);
    tokens::register(&mut methods);
    transactions::register(&mut methods);
    blocks::register(&mut methods);
    methods.io
}

/// The handler being built, and the chain its methods answer from.
struct Methods {
    io: IoHandler,
    chain: Arc<Chain>,
    calls: Arc<RpcCalls>,
}

impl Methods {
    /// Serves `name`: its positional parameters (at most `arity`; missing
    /// trailing ones are null, as Agave's typed parameters treat them) are
    /// parsed into `P`, and what `body` answers is the result.
    fn add<P, R>(
        &mut self,
        name: &'static str,
        arity: usize,
        body: impl Fn(&Chain, P) -> RpcResult<R> + Send + Sync + 'static,
    ) where
        P: DeserializeOwned,
        R: Serialize,
    {
        let (chain, calls) = (self.chain.clone(), self.calls.clone());
        self.io.add_sync_method(name, move |params: Params| {
            tracing::debug!(method = name, "JSON-RPC call");
            calls.count(name);
            let args = parse_params(params, arity)?;
            let result = body(&chain, args)?;
            serde_json::to_value(result).map_err(|err| Error::invalid_params(err.to_string()))
        });
    }
}

/// Parses positional parameters, treating missing trailing ones as null.
fn parse_params<T: DeserializeOwned>(params: Params, arity: usize) -> RpcResult<T> {
    let mut values = match params {
        Params::None => Vec::new(),
        Params::Array(values) => values,
        Params::Map(_) => {
            return Err(Error::invalid_params(
                "Invalid parameters: expected an array",
            ))
        }
    };
    if values.len() > arity {
        return Err(Error::invalid_params(format!(
            "Invalid parameters: Expected at most {arity} parameters."
        )));
    }
    if arity == 0 {
        // Methods without parameters parse `()`, which is JSON null.
        return serde_json::from_value(Value::Null)
            .map_err(|err| Error::invalid_params(format!("Invalid params: {err}.")));
    }
    values.resize(arity, Value::Null);
    Params::Array(values).parse()
}

/// The bank to answer from, refusing if it is older than `minContextSlot`.
/// One node, nothing to vote on: every commitment level reads the working bank.
fn context_bank(chain: &Chain, min_context_slot: Option<u64>) -> RpcResult<Arc<Bank>> {
    let bank = chain.bank();
    if let Some(min) = min_context_slot {
        if bank.slot() < min {
            return Err(RpcCustomError::MinContextSlotNotReached {
                context_slot: bank.slot(),
            }
            .into());
        }
    }
    Ok(bank)
}

/// Refuses `processed` where Agave serves only confirmed data (blocks and
/// transaction history).
fn check_is_at_least_confirmed(commitment: Option<CommitmentConfig>) -> RpcResult<()> {
    if commitment.is_some_and(|commitment| !commitment.is_at_least_confirmed()) {
        return Err(Error::invalid_params(
            "Method does not support commitment below `confirmed`",
        ));
    }
    Ok(())
}

fn with_context<T: Serialize>(bank: &Bank, value: T) -> RpcResponse<T> {
    RpcResponse {
        context: RpcResponseContext::new(bank.slot()),
        value,
    }
}

fn parse_pubkey(text: &str) -> RpcResult<Pubkey> {
    Pubkey::from_str(text).map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))
}

fn parse_signature(text: &str) -> RpcResult<Signature> {
    Signature::from_str(text)
        .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))
}

/// Refuses a list longer than Agave accepts for the method.
fn check_input_count(count: usize, max: usize) -> RpcResult<()> {
    if count > max {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {max}"
        )));
    }
    Ok(())
}

/// Decodes a base58/base64 wire transaction (or message) with Agave's size
/// limits and error messages.
fn decode_and_deserialize<T: DeserializeOwned>(
    encoded: String,
    encoding: TransactionBinaryEncoding,
) -> RpcResult<(Vec<u8>, T)> {
    let too_large = |name: &str, max: usize| {
        Error::invalid_params(format!(
            "{name} encoded {} too large: {} bytes (max: encoded/raw {max}/{PACKET_DATA_SIZE})",
            type_name::<T>(),
            encoded.len(),
        ))
    };
    let wire = match encoding {
        TransactionBinaryEncoding::Base58 => {
            if encoded.len() > MAX_BASE58_SIZE {
                return Err(too_large("base58", MAX_BASE58_SIZE));
            }
            bs58::decode(&encoded)
                .into_vec()
                .map_err(|err| Error::invalid_params(format!("invalid base58 encoding: {err:?}")))?
        }
        TransactionBinaryEncoding::Base64 => {
            use base64::Engine;
            if encoded.len() > MAX_BASE64_SIZE {
                return Err(too_large("base64", MAX_BASE64_SIZE));
            }
            base64::engine::general_purpose::STANDARD
                .decode(&encoded)
                .map_err(|err| Error::invalid_params(format!("invalid base64 encoding: {err:?}")))?
        }
    };
    if wire.len() > PACKET_DATA_SIZE {
        return Err(Error::invalid_params(format!(
            "decoded {} too large: {} bytes (max: {} bytes)",
            type_name::<T>(),
            wire.len(),
            PACKET_DATA_SIZE
        )));
    }
    let value = bincode::deserialize(&wire).map_err(|err| {
        Error::invalid_params(format!(
            "failed to deserialize {}: {}",
            type_name::<T>(),
            err
        ))
    })?;
    Ok((wire, value))
}

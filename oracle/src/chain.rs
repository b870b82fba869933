//! Chain access behind one small client: typed account reads, discovery by
//! `getProgramAccounts` filters, and transaction sending with fresh
//! blockhashes, priority fees, retries with backoff and confirmation
//! tracking. Services never build raw JSON.
use crate::program_error::{raised_by, ProgramError, Refusal};
use crate::read_ahead::{FeeRead, FeeReads, LatestBlockhash, BLOCKHASH_REUSE, KEEP_WARM_AFTER};
use anchor_lang::{
    event::EVENT_IX_TAG_LE,
    prelude::{ProgramData, Pubkey},
    solana_program::bpf_loader_upgradeable,
    AccountDeserialize, Discriminator,
};
use anchor_spl::token_2022::spl_token_2022::{
    extension::StateWithExtensions, state::Mint as SplMint,
};
use serde_json::{json, Value};
use sibyl::{
    constants::{
        REQUEST_HEAD_LEN, REQUEST_MODEL_OFFSET, REQUEST_STATUS_OFFSET, VOTE_DISPUTE_OFFSET,
    },
    state::{
        Config, InferenceRequest, InputBufferHeader, Model, Operator, RequestStatus, Vote,
        INPUT_BUFFER_HEADER_LEN, INPUT_BUFFER_TAG, INPUT_BUFFER_WRITER_OFFSET,
    },
};
use sibyl_client::accounts::{Payees, Tokens};
use solana_account::Account;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_instruction::{error::InstructionError, AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::client_error::Error as ClientError;
use solana_rpc_client_api::request::RpcRequest;
use solana_rpc_client_types::{
    config::{
        RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig,
        RpcSimulateTransactionConfig,
    },
    filter::{Memcmp, RpcFilterType},
};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use std::{sync::Arc, time::Duration};

/// A mint as [`ChainClient::mint`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct MintInfo {
    /// The mint and the token program that owns it.
    pub tokens: Tokens,
    pub decimals: u8,
    /// `None`: no more can be minted.
    pub authority: Option<Pubkey>,
}

/// How transactions are sent.
#[derive(Clone, Debug)]
pub struct SendSettings {
    /// The least priority fee paid, in micro-lamports per compute unit.
    pub priority_fee_micro_lamports: u64,
    /// The most priority fee paid: each transaction pays what recent
    /// transactions that wrote the same accounts paid ([`recent_fee`]),
    /// between the least and this.
    pub max_priority_fee_micro_lamports: u64,
    /// The most compute units a transaction may ask for. Each asks for what
    /// a simulation of it consumed, plus a margin ([`with_margin`]), within
    /// this; for all of this when the simulation cannot say.
    pub compute_unit_limit: u32,
    /// How many times a transaction is signed afresh (each only once the
    /// blockhash of the one before expired).
    pub max_attempts: u32,
    /// How long sending goes on while the cluster cannot say whether the
    /// blockhash expired (the RPC endpoint is unreachable, or its block
    /// height stands still); at least three block-height reads.
    pub confirm_timeout: Duration,
    /// Wait before the second attempt; doubles each attempt.
    pub retry_backoff: Duration,
}

impl Default for SendSettings {
    fn default() -> Self {
        Self {
            priority_fee_micro_lamports: 0,
            max_priority_fee_micro_lamports: 100_000,
            compute_unit_limit: 400_000,
            max_attempts: 5,
            confirm_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(500),
        }
    }
}

/// Why a read or a transaction failed, naming what was being done.
/// A transaction's compute budget: its unit limit and its price per unit
/// (micro-lamports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub unit_limit: u32,
    pub unit_price: u64,
}

/// A confirmed transaction and when it was handed to the RPC node.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub signature: Signature,
    /// When the attempt that confirmed was signed (its compute-unit limit,
    /// priority fee and blockhash settled).
    pub signed_at: std::time::Instant,
    /// When `sendTransaction` returned for the attempt that confirmed.
    pub sent_at: std::time::Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{action}: RPC request failed: {source}")]
    Rpc {
        action: String,
        #[source]
        source: Box<ClientError>,
    },
    #[error("{action}: the program refused it: {error}")]
    Program {
        action: String,
        error: Box<ProgramError>,
    },
    #[error("{action}: the transaction failed: {error}")]
    Transaction {
        action: String,
        error: TransactionError,
    },
    #[error("{action}: not confirmed after {attempts} attempt(s); check whether one of these landed before trying again: {}", display_signatures(signatures))]
    NotConfirmed {
        action: String,
        attempts: u32,
        signatures: Vec<Signature>,
    },
    #[error("{what} {address} does not exist on this cluster")]
    AccountMissing { what: &'static str, address: Pubkey },
    #[error("{address} is not a valid {what}: {reason}")]
    AccountInvalid {
        what: &'static str,
        address: Pubkey,
        reason: String,
    },
}

impl ChainError {
    /// The program error this failure carries, if the program refused.
    pub fn program_error(&self) -> Option<&ProgramError> {
        match self {
            ChainError::Program { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether a Sibyl instruction refused with `expected`.
    pub fn refused_with<E: Refusal>(&self, expected: E) -> bool {
        self.program_error().is_some_and(|error| error.is(expected))
    }

    /// Whether a Sibyl instruction refused with any of `expected`.
    pub fn refused_with_any<E: Refusal>(&self, expected: &[E]) -> bool {
        expected.iter().any(|&error| self.refused_with(error))
    }

    /// Whether the transaction may have run past its compute-unit limit. A
    /// builtin program says so (`ComputationalBudgetExceeded`), but an
    /// on-chain program stopped by the meter fails as
    /// `ProgramFailedToComplete`, as one that panics does: only a
    /// simulation with more units tells them apart.
    pub fn may_have_run_out_of_units(&self) -> bool {
        matches!(
            self,
            ChainError::Transaction {
                error: TransactionError::InstructionError(
                    _,
                    InstructionError::ComputationalBudgetExceeded
                        | InstructionError::ProgramFailedToComplete
                ),
                ..
            }
        )
    }

    fn rpc(action: &str, source: ClientError) -> Self {
        ChainError::Rpc {
            action: action.to_string(),
            source: Box::new(source),
        }
    }

    /// `error` of a transaction of `instructions`: a custom code is
    /// attributed to the program of the instruction that failed.
    fn from_transaction(
        action: &str,
        error: TransactionError,
        instructions: &[Instruction],
    ) -> Self {
        match error {
            TransactionError::InstructionError(index, InstructionError::Custom(code)) => {
                let program = instructions
                    .get(usize::from(index))
                    .map(|instruction| instruction.program_id);
                ChainError::Program {
                    action: action.to_string(),
                    error: Box::new(raised_by(program, code)),
                }
            }
            error => ChainError::Transaction {
                action: action.to_string(),
                error,
            },
        }
    }
}

/// RPC, subscriptions' URL and the node's signer, together.
pub struct ChainClient {
    rpc: RpcClient,
    /// The endpoints `rpc` sends through.
    endpoints: Arc<crate::endpoints::Endpoints>,
    /// PubSub URLs, one per RPC endpoint, in the same order.
    ws_urls: Vec<String>,
    signer: Arc<Keypair>,
    settings: SendSettings,
    /// The last blockhash read, with its last valid block height and when
    /// it was read: reused for [`BLOCKHASH_REUSE`] to save a round trip
    /// (longer while it is read again in the background).
    blockhash: std::sync::Mutex<LatestBlockhash>,
    /// The largest compute-unit limit a simulation set for each shape of
    /// transaction: one of a known shape is sent without simulating it
    /// first (the RPC node's preflight still refuses, free of fees, what the
    /// program would refuse); a transaction that may have run out of units
    /// is simulated again at once and, if that asks for more, sent again
    /// with it, which its shape keeps.
    unit_limits: std::sync::Mutex<std::collections::HashMap<Shape, u32>>,
    /// The last priority fee read for each action's steps
    /// ([`ChainClient::fee_at_hand`]).
    fee_reads: std::sync::Mutex<FeeReads>,
}

/// What a transaction's compute-unit use is taken to follow: the action,
/// and each instruction's program, first eight data bytes (an Anchor
/// instruction's discriminator), number of accounts and data length.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Shape {
    action: String,
    instructions: Vec<(Pubkey, [u8; 8], usize, usize)>,
}

impl Shape {
    fn of(action: &str, instructions: &[Instruction]) -> Shape {
        Shape {
            action: action.to_string(),
            instructions: instructions
                .iter()
                .map(|ix| {
                    let mut discriminator = [0; 8];
                    for (to, from) in discriminator.iter_mut().zip(&ix.data) {
                        *to = *from;
                    }
                    (
                        ix.program_id,
                        discriminator,
                        ix.accounts.len(),
                        ix.data.len(),
                    )
                })
                .collect(),
        }
    }
}

/// The most shapes whose limits are kept (outputs of many lengths make
/// many shapes); past it, the cache starts again.
const UNIT_LIMITS_KEPT: usize = 4096;

/// How a signed transaction's delivery ended.
enum Delivery {
    /// It (or an earlier signing) landed; `sent_at` is when it first left.
    Landed {
        signature: Signature,
        sent_at: std::time::Instant,
    },
    /// Its blockhash expired: it (and every earlier signing) cannot land.
    Expired,
    /// Refused in preflight for a blockhash the RPC node does not know.
    Refused,
}

/// What the statuses of the signatures sent show.
enum Seen {
    Nothing,
    /// Processed, not yet at the client's commitment.
    Unconfirmed,
    Landed(Signature),
}

/// How often an unconfirmed transaction is sent again (same signature).
const REBROADCAST: Duration = Duration::from_secs(2);
/// How often the statuses of the signatures sent are read.
const STATUS_POLL: Duration = Duration::from_millis(100);
/// How often the block height is read to tell whether a blockhash expired.
const HEIGHT_CHECK: Duration = Duration::from_secs(1);

fn display_signatures(signatures: &[Signature]) -> String {
    if signatures.is_empty() {
        return "none was sent".to_string();
    }
    signatures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ChainClient {
    /// A client for the cluster at `rpc_url` (confirmed commitment).
    pub fn new(rpc_url: &str, ws_url: &str, signer: Arc<Keypair>, settings: SendSettings) -> Self {
        Self::with_endpoints(
            &[(rpc_url.to_string(), ws_url.to_string())],
            signer,
            settings,
        )
    }

    /// A client for one cluster behind several endpoints, each an RPC URL
    /// and its PubSub URL: the first is used first, and a failing one gives
    /// way to the next ([`crate::endpoints`]).
    pub fn with_endpoints(
        endpoints: &[(String, String)],
        signer: Arc<Keypair>,
        settings: SendSettings,
    ) -> Self {
        let rpc_urls: Vec<String> = endpoints.iter().map(|(rpc, _)| rpc.clone()).collect();
        let failover = crate::endpoints::Endpoints::new(&rpc_urls);
        Self {
            rpc: RpcClient::new_sender(
                failover.sender(),
                solana_rpc_client::rpc_client::RpcClientConfig::with_commitment(
                    CommitmentConfig::confirmed(),
                ),
            ),
            ws_urls: endpoints.iter().map(|(_, ws)| ws.clone()).collect(),
            endpoints: failover,
            signer,
            settings,
            blockhash: Default::default(),
            unit_limits: Default::default(),
            fee_reads: Default::default(),
        }
    }

    /// The underlying RPC client, for reads this type does not wrap.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Leaves an RPC endpoint that lags the others, and comes back to the
    /// first once it caught up ([`crate::endpoints::Endpoints::check`]; at
    /// most once every few seconds, whoever calls).
    pub async fn check_endpoints(&self) {
        self.endpoints.check().await;
    }

    /// The RPC endpoint in use, by its place in the order given.
    pub fn endpoint_in_use(&self) -> usize {
        self.endpoints.in_use_index()
    }

    /// Every PubSub URL, the first endpoint's first.
    pub fn ws_urls(&self) -> &[String] {
        &self.ws_urls
    }

    /// The wallet that signs and pays.
    pub fn signer(&self) -> &Keypair {
        &self.signer
    }

    /// The signer's address.
    pub fn wallet(&self) -> Pubkey {
        self.signer.pubkey()
    }

    /// The current slot.
    pub async fn slot(&self) -> Result<u64, ChainError> {
        self.rpc
            .get_slot()
            .await
            .map_err(|err| ChainError::rpc("reading the slot", err))
    }

    /// The account at `address` as stored, or `None` if it holds nothing:
    /// the one place an account is read.
    async fn account(&self, address: &Pubkey, what: &str) -> Result<Option<Account>, ChainError> {
        Ok(self
            .rpc
            .get_account_with_commitment(address, self.rpc.commitment())
            .await
            .map_err(|err| ChainError::rpc(&format!("reading {what} {address}"), err))?
            .value)
    }

    /// The data of a Sibyl-owned account that is not an Anchor account (an
    /// input buffer), or `None` if the address holds nothing.
    pub async fn raw_account(
        &self,
        address: &Pubkey,
        what: &'static str,
    ) -> Result<Option<Vec<u8>>, ChainError> {
        match self.account(address, what).await? {
            Some(account) if account.owner == sibyl::ID => Ok(Some(account.data)),
            Some(_) => Err(ChainError::AccountInvalid {
                what,
                address: *address,
                reason: "not owned by the Sibyl program".into(),
            }),
            None => Ok(None),
        }
    }

    /// An account's owner and data, whoever owns it (`None`: nothing there).
    pub async fn owned_account(
        &self,
        address: &Pubkey,
        what: &'static str,
    ) -> Result<Option<(Pubkey, Vec<u8>)>, ChainError> {
        Ok(self
            .account(address, what)
            .await?
            .map(|account| (account.owner, account.data)))
    }

    /// The accounts at `addresses` (at most 100), read in one
    /// `getMultipleAccounts`, so all from the same slot.
    async fn accounts(
        &self,
        addresses: &[Pubkey],
        what: &str,
    ) -> Result<Vec<Option<Account>>, ChainError> {
        Ok(self
            .rpc
            .get_multiple_accounts_with_commitment(addresses, self.rpc.commitment())
            .await
            .map_err(|err| ChainError::rpc(&format!("reading {what}"), err))?
            .value)
    }

    /// Whether `program` is deployed: its account is executable (`None`:
    /// no account at its address).
    pub async fn is_executable(&self, program: &Pubkey) -> Result<Option<bool>, ChainError> {
        Ok(self
            .account(program, "program")
            .await?
            .map(|account| account.executable))
    }

    /// The upgrade authority of an upgradeable program: `None` when it has
    /// no ProgramData account (a native build, as on the localnet),
    /// `Some(None)` when it is immutable.
    pub async fn upgrade_authority(
        &self,
        program: &Pubkey,
    ) -> Result<Option<Option<Pubkey>>, ChainError> {
        let address = bpf_loader_upgradeable::get_program_data_address(program);
        Ok(self
            .account(&address, "program data")
            .await?
            .and_then(|account| ProgramData::try_deserialize(&mut &account.data[..]).ok())
            .map(|data| data.upgrade_authority_address))
    }

    /// A mint: its token program, decimals and mint authority. Refuses an
    /// address that holds no initialized SPL Token or Token-2022 mint.
    pub async fn mint(&self, mint: &Pubkey) -> Result<MintInfo, ChainError> {
        let invalid = |reason: String| ChainError::AccountInvalid {
            what: "mint",
            address: *mint,
            reason,
        };
        let account = self
            .account(mint, "mint")
            .await?
            .ok_or(ChainError::AccountMissing {
                what: "mint",
                address: *mint,
            })?;
        if account.owner != anchor_spl::token::ID && account.owner != anchor_spl::token_2022::ID {
            return Err(invalid(format!(
                "owned by {}, not by SPL Token or Token-2022",
                account.owner
            )));
        }
        // SPL Token mints are Token-2022's base state without extensions.
        let state = StateWithExtensions::<SplMint>::unpack(&account.data)
            .map_err(|_| invalid("not an initialized mint".into()))?;
        if !state.base.is_initialized {
            return Err(invalid("not an initialized mint".into()));
        }
        Ok(MintInfo {
            tokens: Tokens {
                mint: *mint,
                token_program: account.owner,
            },
            decimals: state.base.decimals,
            authority: state.base.mint_authority.into(),
        })
    }

    /// The lamports an account of `len` bytes needs to be rent-exempt.
    pub async fn rent_exempt_minimum(&self, len: usize) -> Result<u64, ChainError> {
        self.rpc
            .get_minimum_balance_for_rent_exemption(len)
            .await
            .map_err(|err| ChainError::rpc("reading the rent-exempt minimum", err))
    }

    /// The confirmed transactions that touched `address` (newest first, as
    /// the node lists them), with their slots.
    pub async fn history(&self, address: &Pubkey) -> Result<Vec<(u64, String)>, ChainError> {
        let listed: Value = self
            .rpc
            .send(
                RpcRequest::GetSignaturesForAddress,
                json!([address.to_string(), {"commitment": "confirmed"}]),
            )
            .await
            .map_err(|err| ChainError::rpc(&format!("listing the history of {address}"), err))?;
        Ok(listed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                Some((entry["slot"].as_u64()?, entry["signature"].as_str()?.into()))
            })
            .collect())
    }

    /// The data of every event Sibyl emitted in transaction `signature`
    /// (`emit_cpi!`: self-invocations recorded in its inner instructions),
    /// each starting with its event discriminator.
    pub async fn sibyl_events(&self, signature: &str) -> Result<Vec<Vec<u8>>, ChainError> {
        let transaction: Value = self
            .rpc
            .send(
                RpcRequest::GetTransaction,
                json!([signature, {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]),
            )
            .await
            .map_err(|err| ChainError::rpc(&format!("reading transaction {signature}"), err))?;
        let keys: Vec<&str> = transaction
            .pointer("/transaction/message/accountKeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let program = sibyl::ID.to_string();
        Ok(transaction
            .pointer("/meta/innerInstructions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|group| {
                group
                    .get("instructions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter(|instruction| {
                instruction
                    .get("programIdIndex")
                    .and_then(Value::as_u64)
                    .and_then(|index| keys.get(usize::try_from(index).ok()?))
                    == Some(&program.as_str())
            })
            .filter_map(|instruction| {
                bs58::decode(instruction.get("data")?.as_str()?)
                    .into_vec()
                    .ok()
            })
            .filter_map(|data| data.strip_prefix(EVENT_IX_TAG_LE).map(<[u8]>::to_vec))
            .collect())
    }

    /// An Anchor account, or `None` if the address holds nothing.
    pub async fn fetch<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
        what: &'static str,
    ) -> Result<Option<T>, ChainError> {
        let account = self.account(address, what).await?;
        match account {
            Some(account) if account.owner == sibyl::ID => {
                decode(address, what, &account.data).map(Some)
            }
            Some(_) => Err(ChainError::AccountInvalid {
                what,
                address: *address,
                reason: "not owned by the Sibyl program".into(),
            }),
            None => Ok(None),
        }
    }

    /// An Anchor account that must exist.
    pub async fn fetch_required<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
        what: &'static str,
    ) -> Result<T, ChainError> {
        self.fetch(address, what)
            .await?
            .ok_or(ChainError::AccountMissing {
                what,
                address: *address,
            })
    }

    /// The protocol configuration.
    pub async fn config(&self) -> Result<Config, ChainError> {
        self.fetch_required(&sibyl_client::pda::config(), "protocol config")
            .await
    }

    /// The operator whose node key is `node_key`, if registered.
    pub async fn operator(&self, node_key: &Pubkey) -> Result<Option<Operator>, ChainError> {
        self.fetch(&sibyl_client::pda::operator(node_key), "operator")
            .await
    }

    /// Every Sibyl account of type `T` that also matches `filters`.
    pub async fn program_accounts<T: AccountDeserialize + Discriminator>(
        &self,
        what: &'static str,
        filters: Vec<RpcFilterType>,
    ) -> Result<Vec<(Pubkey, T)>, ChainError> {
        self.program_account_data::<T>(what, filters, None)
            .await?
            .into_iter()
            .map(|(address, data)| decode(&address, what, &data).map(|state| (address, state)))
            .collect()
    }

    /// The data (or `slice` of it) of every Sibyl account of type `T` that
    /// also matches `filters`.
    async fn program_account_data<T: Discriminator>(
        &self,
        what: &'static str,
        mut filters: Vec<RpcFilterType>,
        slice: Option<solana_account_decoder_client_types::UiDataSliceConfig>,
    ) -> Result<Vec<(Pubkey, Vec<u8>)>, ChainError> {
        filters.insert(
            0,
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, T::DISCRIMINATOR)),
        );
        self.program_account_bytes(what, filters, slice).await
    }

    /// The data (or `slice` of it) of every Sibyl account matching
    /// `filters`, whatever its type.
    async fn program_account_bytes(
        &self,
        what: &'static str,
        filters: Vec<RpcFilterType>,
        slice: Option<solana_account_decoder_client_types::UiDataSliceConfig>,
    ) -> Result<Vec<(Pubkey, Vec<u8>)>, ChainError> {
        let accounts = self
            .rpc
            .get_program_ui_accounts_with_config(
                &sibyl::ID,
                RpcProgramAccountsConfig {
                    filters: Some(filters),
                    account_config: RpcAccountInfoConfig {
                        encoding: Some(
                            solana_account_decoder_client_types::UiAccountEncoding::Base64,
                        ),
                        data_slice: slice,
                        commitment: Some(self.rpc.commitment()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .map_err(|err| ChainError::rpc(&format!("listing {what} accounts"), err))?;
        Ok(accounts
            .into_iter()
            .filter_map(|(address, account)| Some((address, account.data.decode()?)))
            .collect())
    }

    /// The input buffers `writer` wrote (their headers only).
    pub async fn input_buffers_of(
        &self,
        writer: &Pubkey,
    ) -> Result<Vec<(Pubkey, InputBufferHeader)>, ChainError> {
        let filters = vec![
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, &INPUT_BUFFER_TAG)),
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                INPUT_BUFFER_WRITER_OFFSET,
                writer.as_ref(),
            )),
        ];
        let header = solana_account_decoder_client_types::UiDataSliceConfig {
            offset: 0,
            length: INPUT_BUFFER_HEADER_LEN,
        };
        Ok(self
            .program_account_bytes("input buffer", filters, Some(header))
            .await?
            .into_iter()
            .filter_map(|(address, data)| {
                let (header, _) = InputBufferHeader::parse(&data)?;
                Some((address, header))
            })
            .collect())
    }

    /// Requests in `status`, for one model or for all.
    pub async fn requests(
        &self,
        status: RequestStatus,
        model: Option<&Pubkey>,
    ) -> Result<Vec<(Pubkey, InferenceRequest)>, ChainError> {
        self.program_accounts("inference request", request_filters(status, model))
            .await
    }

    /// The heads (`REQUEST_HEAD_LEN` bytes: everything but the comparison
    /// rule, the input and the output) of the requests in `status`, for one
    /// model or for all: one `getProgramAccounts` with `dataSlice`, a few
    /// hundred bytes a request however large its input.
    pub async fn request_heads(
        &self,
        status: RequestStatus,
        model: Option<&Pubkey>,
    ) -> Result<Vec<(Pubkey, Vec<u8>)>, ChainError> {
        let head = solana_account_decoder_client_types::UiDataSliceConfig {
            offset: 0,
            length: REQUEST_HEAD_LEN,
        };
        self.program_account_data::<InferenceRequest>(
            "inference request head",
            request_filters(status, model),
            Some(head),
        )
        .await
    }

    /// The requests at `addresses` that still exist, read whole, 100 to a
    /// `getMultipleAccounts`, each with its head (as [`Self::request_heads`]
    /// lists it).
    pub async fn requests_at(
        &self,
        addresses: &[Pubkey],
    ) -> Result<Vec<(Pubkey, InferenceRequest, Vec<u8>)>, ChainError> {
        let mut found = Vec::new();
        for batch in addresses.chunks(100) {
            let accounts = self.accounts(batch, "inference requests").await?;
            for (address, account) in batch.iter().zip(accounts) {
                if let Some(account) = account.filter(|account| account.owner == sibyl::ID) {
                    let head = account
                        .data
                        .get(..REQUEST_HEAD_LEN)
                        .unwrap_or_default()
                        .to_vec();
                    found.push((
                        *address,
                        decode(address, "inference request", &account.data)?,
                        head,
                    ));
                }
            }
        }
        Ok(found)
    }

    /// The SOL balance of `address`, in lamports.
    pub async fn balance(&self, address: &Pubkey) -> Result<u64, ChainError> {
        self.rpc
            .get_balance(address)
            .await
            .map_err(|source| ChainError::rpc("reading a SOL balance", source))
    }

    /// The balance of token account `account` in base units (`None`: it
    /// does not exist).
    pub async fn token_balance(&self, account: &Pubkey) -> Result<Option<u64>, ChainError> {
        match self.account(account, "token account").await? {
            Some(found) => token_amount(account, &found.data).map(Some),
            None => Ok(None),
        }
    }

    /// The balances of `accounts` (at most 100) read in one
    /// `getMultipleAccounts`, so all from the same slot: a sum over them
    /// never straddles a transfer.
    pub async fn token_balances(
        &self,
        accounts: &[Pubkey],
    ) -> Result<Vec<Option<u64>>, ChainError> {
        let found = self.accounts(accounts, "token accounts").await?;
        accounts
            .iter()
            .zip(found)
            .map(|(address, account)| {
                account
                    .map(|account| token_amount(address, &account.data))
                    .transpose()
            })
            .collect()
    }

    /// The payout accounts the operator and the publisher of this request
    /// recorded: what its settlement pays.
    pub async fn payees(&self, state: &InferenceRequest) -> Result<Payees, ChainError> {
        let model: Model = self.fetch_required(&state.model, "model").await?;
        let operator: Operator = self.fetch_required(&state.operator, "operator").await?;
        Ok(Payees::recorded(&operator, &model))
    }

    /// The payment mint named in the protocol config, and the token
    /// program that owns it.
    pub async fn payment_tokens(&self) -> Result<Tokens, ChainError> {
        let config = self.config().await?;
        Ok(self.mint(&config.payment_mint).await?.tokens)
    }

    /// The vote records of `dispute`.
    pub async fn votes_in(&self, dispute: &Pubkey) -> Result<Vec<(Pubkey, Vote)>, ChainError> {
        let filter = RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
            VOTE_DISPUTE_OFFSET,
            dispute.as_ref(),
        ));
        self.program_accounts("vote", vec![filter]).await
    }

    /// Signs `instructions` (with the node's wallet as fee payer and
    /// `extra_signers`), sends and confirms them. Each attempt takes a fresh
    /// blockhash; transport failures and expired blockhashes are retried with
    /// backoff, a refusal by the program is returned at once.
    pub async fn send(
        &self,
        action: &str,
        instructions: &[Instruction],
        extra_signers: &[&Keypair],
    ) -> Result<Signature, ChainError> {
        self.send_receipt(action, instructions, extra_signers)
            .await
            .map(|sent| sent.signature)
    }

    /// [`ChainClient::send`], also telling when the confirmed attempt left
    /// this process (the node measures its own overhead up to that moment).
    ///
    /// A transaction is signed afresh only once every earlier signing of it
    /// can no longer land (its blockhash expired): until then the same
    /// signed bytes are sent again, and every signature sent so far is
    /// watched, so an instruction that is not idempotent (`add_stake`) never
    /// lands twice because a confirmation came late.
    pub async fn send_receipt(
        &self,
        action: &str,
        instructions: &[Instruction],
        extra_signers: &[&Keypair],
    ) -> Result<Sent, ChainError> {
        let budget = self.budget(action, instructions).await?;
        self.send_budgeted(action, instructions, extra_signers, budget)
            .await
    }

    /// The compute budget to send `instructions` with: the unit limit (a
    /// simulation's, once per shape of transaction) and the priority fee.
    /// A program refusal in the simulation is returned as the refusal. It
    /// acts on nothing, so a caller may settle it while it makes the step
    /// durable.
    pub async fn budget(
        &self,
        action: &str,
        instructions: &[Instruction],
    ) -> Result<Budget, ChainError> {
        let writable = writable_accounts(instructions);
        let (limit, price) = tokio::join!(
            self.unit_limit(action, instructions),
            self.priority_fee(action, &writable)
        );
        Ok(Budget {
            unit_limit: limit?,
            unit_price: price,
        })
    }

    /// The compute-unit limit to ask for `instructions`: a simulation's,
    /// once per shape of transaction ([`ChainClient::budget`]).
    pub async fn unit_limit(
        &self,
        action: &str,
        instructions: &[Instruction],
    ) -> Result<u32, ChainError> {
        self.compute_unit_limit(action, instructions, &Shape::of(action, instructions))
            .await
    }

    /// [`ChainClient::send_receipt`] with the budget settled beforehand
    /// ([`ChainClient::budget`]).
    ///
    /// A transaction that may have run out of units (its shape's known
    /// limit was set by a cheaper one: an address that takes more bump
    /// seeds to find, a longer account) is simulated again at once, and
    /// signed afresh, once, with the new limit if that is higher (the shape
    /// keeps it). Nothing of the failed signing can land: it was refused in
    /// preflight, or it landed failed, which changes nothing but its fee.
    pub async fn send_budgeted(
        &self,
        action: &str,
        instructions: &[Instruction],
        extra_signers: &[&Keypair],
        budget: Budget,
    ) -> Result<Sent, ChainError> {
        match self
            .send_with(action, instructions, extra_signers, budget)
            .await
        {
            Err(err) if err.may_have_run_out_of_units() => {
                let shape = Shape::of(action, instructions);
                let limit = self
                    .simulate_unit_limit(action, instructions, &shape)
                    .await?;
                if limit <= budget.unit_limit {
                    return Err(err);
                }
                tracing::info!(
                    action,
                    was = budget.unit_limit,
                    limit,
                    "out of compute units: sending again with a new simulation's limit"
                );
                let budget = Budget {
                    unit_limit: limit,
                    ..budget
                };
                self.send_with(action, instructions, extra_signers, budget)
                    .await
            }
            sent => sent,
        }
    }

    /// Signs and delivers `instructions` with `budget`: the first attempt
    /// with the blockhash read last (if recent), each later one with a
    /// fresh one ([`ChainClient::send_receipt`]).
    async fn send_with(
        &self,
        action: &str,
        instructions: &[Instruction],
        extra_signers: &[&Keypair],
        budget: Budget,
    ) -> Result<Sent, ChainError> {
        let mut all = self.budget_instructions_with(budget.unit_limit, budget.unit_price);
        all.extend_from_slice(instructions);
        let mut signers: Vec<&Keypair> = vec![&self.signer];
        signers.extend_from_slice(extra_signers);
        let mut backoff = self.settings.retry_backoff;
        let mut signatures: Vec<Signature> = Vec::new();
        for attempt in 1..=self.settings.max_attempts.max(1) {
            if attempt > 1 {
                tracing::warn!(action, attempt, "signing again after {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            let (blockhash, last_valid_height) = match self.blockhash(attempt > 1).await {
                Ok(latest) => latest,
                Err(err) => {
                    tracing::warn!(action, %err, "cannot read a blockhash");
                    continue;
                }
            };
            let transaction = Transaction::new_signed_with_payer(
                &all,
                Some(&self.signer.pubkey()),
                &signers,
                blockhash,
            );
            let signed_at = std::time::Instant::now();
            let delivered = self
                .deliver(
                    action,
                    &transaction,
                    last_valid_height,
                    &mut signatures,
                    &all,
                )
                .await?;
            match delivered {
                Delivery::Landed { signature, sent_at } => {
                    return Ok(Sent {
                        signature,
                        signed_at,
                        sent_at,
                    })
                }
                Delivery::Expired => tracing::warn!(
                    action,
                    ?signatures,
                    "not confirmed before its blockhash expired"
                ),
                Delivery::Refused => {}
            }
        }
        Err(ChainError::NotConfirmed {
            action: action.to_string(),
            attempts: self.settings.max_attempts,
            signatures,
        })
    }

    /// The compute-unit limit to ask for `instructions`: what a simulation
    /// (signatures unchecked, at the latest blockhash) consumed, with a
    /// margin, within the configured ceiling. A program refusal in the
    /// simulation is returned as the refusal, with no fee spent; a
    /// simulation the RPC node cannot run leaves the ceiling.
    async fn compute_unit_limit(
        &self,
        action: &str,
        instructions: &[Instruction],
        shape: &Shape,
    ) -> Result<u32, ChainError> {
        if let Some(&known) = self.unit_limits().get(shape) {
            return Ok(known);
        }
        self.simulate_unit_limit(action, instructions, shape).await
    }

    /// [`ChainClient::compute_unit_limit`] from a simulation now, whatever
    /// the shape's known limit; the shape keeps the larger of the two.
    async fn simulate_unit_limit(
        &self,
        action: &str,
        instructions: &[Instruction],
        shape: &Shape,
    ) -> Result<u32, ChainError> {
        let ceiling = self.settings.compute_unit_limit;
        let mut all =
            self.budget_instructions_with(ceiling, self.settings.priority_fee_micro_lamports);
        all.extend_from_slice(instructions);
        let transaction = Transaction::new_with_payer(&all, Some(&self.signer.pubkey()));
        let config = RpcSimulateTransactionConfig {
            sig_verify: false,
            replace_recent_blockhash: true,
            commitment: Some(self.rpc.commitment()),
            ..Default::default()
        };
        let simulated = match self
            .rpc
            .simulate_transaction_with_config(&transaction, config)
            .await
        {
            Ok(response) => response.value,
            Err(err) => {
                tracing::debug!(action, %err, "cannot simulate; asking for the ceiling");
                return Ok(ceiling);
            }
        };
        match simulated.err.map(TransactionError::from) {
            Some(error @ TransactionError::InstructionError(..)) => {
                Err(ChainError::from_transaction(action, error, &all))
            }
            // Anything else (an account in use, a fee the wallet cannot pay
            // yet) is for the real send to meet and report.
            Some(_) => Ok(ceiling),
            None => Ok(match simulated.units_consumed {
                Some(units) => {
                    let limit = with_margin(units).min(ceiling);
                    let mut known = self.unit_limits();
                    if known.len() >= UNIT_LIMITS_KEPT {
                        known.clear();
                    }
                    // The most any transaction of the shape was seen to
                    // need: one that costs more than the last does not fail.
                    let kept = known.entry(shape.clone()).or_insert(limit);
                    *kept = (*kept).max(limit);
                    limit
                }
                None => ceiling,
            }),
        }
    }

    fn unit_limits(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Shape, u32>> {
        self.unit_limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one signed transaction, again every [`REBROADCAST`], until it
    /// or an earlier signing (`signatures`) lands, or it can no longer land.
    async fn deliver(
        &self,
        action: &str,
        transaction: &Transaction,
        last_valid_height: u64,
        signatures: &mut Vec<Signature>,
        instructions: &[Instruction],
    ) -> Result<Delivery, ChainError> {
        // A signed transaction always carries its fee payer's signature first.
        let signature = transaction.signatures.first().copied().unwrap_or_default();
        let config = RpcSendTransactionConfig {
            preflight_commitment: Some(self.rpc.commitment().commitment),
            ..Default::default()
        };
        let mut sent_at: Option<std::time::Instant> = None;
        let mut last_send: Option<tokio::time::Instant> = None;
        let mut height_checked = tokio::time::Instant::now();
        // The last block height read and when it last moved: whether the
        // blockhash expired is known only while the height moves.
        let mut height: Option<u64> = None;
        let mut height_moved = tokio::time::Instant::now();
        loop {
            if last_send.is_none_or(|at| at.elapsed() >= REBROADCAST) {
                last_send = Some(tokio::time::Instant::now());
                match self
                    .rpc
                    .send_transaction_with_config(transaction, config)
                    .await
                {
                    Ok(_) => {
                        if sent_at.is_none() {
                            sent_at = Some(std::time::Instant::now());
                            signatures.push(signature);
                        }
                    }
                    Err(err) => match err.get_transaction_error() {
                        // Refused in preflight: this signing was not
                        // forwarded, so a fresh one cannot land twice.
                        Some(TransactionError::BlockhashNotFound) if sent_at.is_none() => {
                            return Ok(Delivery::Refused)
                        }
                        // A fresh signing refused: final, since every
                        // earlier one is known not to have landed.
                        Some(error) if sent_at.is_none() => {
                            return Err(ChainError::from_transaction(action, error, instructions))
                        }
                        // Sent again after it landed: the statuses tell.
                        Some(_) => {}
                        None => {
                            tracing::warn!(action, %err, "send failed");
                            // It may have been received: watched all the same.
                            if sent_at.is_none() {
                                sent_at = Some(std::time::Instant::now());
                                signatures.push(signature);
                            }
                        }
                    },
                }
            }
            if let Ok(response) = self.rpc.get_signature_statuses(signatures).await {
                if let Seen::Landed(signature) =
                    self.seen(action, signatures, &response.value, instructions)?
                {
                    return Ok(Delivery::Landed {
                        signature,
                        sent_at: sent_at.unwrap_or_else(std::time::Instant::now),
                    });
                }
            }
            if height_checked.elapsed() >= HEIGHT_CHECK {
                height_checked = tokio::time::Instant::now();
                // Past it, neither this signing nor an earlier one (their
                // blockhashes are older) can land any more.
                if let Ok(epoch) = self.rpc.get_epoch_info().await {
                    if height.is_none_or(|height| epoch.block_height > height) {
                        height = Some(epoch.block_height);
                        height_moved = tokio::time::Instant::now();
                    }
                    if epoch.block_height > last_valid_height {
                        return self
                            .after_expiry(
                                action,
                                signatures,
                                sent_at,
                                epoch.absolute_slot,
                                instructions,
                            )
                            .await;
                    }
                }
            }
            // Whether the blockhash expired cannot be known (the endpoint
            // is gone, or its height stands still): stop without signing
            // again, naming what may still land.
            if height_moved.elapsed() > self.settings.confirm_timeout.max(HEIGHT_CHECK * 3) {
                return Err(ChainError::NotConfirmed {
                    action: action.to_string(),
                    attempts: self.settings.max_attempts,
                    signatures: signatures.clone(),
                });
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    /// Once the last signing's blockhash expired (seen at `expired_slot`):
    /// a last look at every signature sent, in the node's full history,
    /// from a node at least as far along (a status read every
    /// [`STATUS_POLL`] may have failed just when one landed, and a
    /// load-balanced endpoint may answer from a node behind). Anything short
    /// of certainty ends in [`ChainError::NotConfirmed`], never a new signing.
    async fn after_expiry(
        &self,
        action: &str,
        signatures: &[Signature],
        sent_at: Option<std::time::Instant>,
        expired_slot: u64,
        instructions: &[Instruction],
    ) -> Result<Delivery, ChainError> {
        let uncertain = || ChainError::NotConfirmed {
            action: action.to_string(),
            attempts: self.settings.max_attempts,
            signatures: signatures.to_vec(),
        };
        for _ in 0..10 {
            let Ok(statuses) = self
                .rpc
                .get_signature_statuses_with_history(signatures)
                .await
            else {
                tokio::time::sleep(STATUS_POLL).await;
                continue;
            };
            if statuses.context.slot < expired_slot {
                tokio::time::sleep(STATUS_POLL).await;
                continue;
            }
            return match self.seen(action, signatures, &statuses.value, instructions)? {
                Seen::Landed(signature) => Ok(Delivery::Landed {
                    signature,
                    sent_at: sent_at.unwrap_or_else(std::time::Instant::now),
                }),
                Seen::Unconfirmed => Err(uncertain()),
                Seen::Nothing => Ok(Delivery::Expired),
            };
        }
        Err(uncertain())
    }

    /// What the statuses of `signatures` show: a failed one as its refusal
    /// (at most one signing of a transaction can land, since a new one is
    /// made only once the last one's blockhash expired).
    fn seen(
        &self,
        action: &str,
        signatures: &[Signature],
        statuses: &[Option<solana_transaction_status_client_types::TransactionStatus>],
        instructions: &[Instruction],
    ) -> Result<Seen, ChainError> {
        let Some((signature, status)) = signatures
            .iter()
            .zip(statuses)
            .find_map(|(signature, status)| Some((*signature, status.as_ref()?)))
        else {
            return Ok(Seen::Nothing);
        };
        if let Some(error) = &status.err {
            return Err(ChainError::from_transaction(
                action,
                error.clone(),
                instructions,
            ));
        }
        Ok(if status.satisfies_commitment(self.rpc.commitment()) {
            Seen::Landed(signature)
        } else {
            Seen::Unconfirmed
        })
    }

    /// A recent blockhash and its last valid block height: the last read
    /// while it is usable ([`LatestBlockhash::usable`]), unless `fresh`.
    async fn blockhash(&self, fresh: bool) -> Result<(Hash, u64), ClientError> {
        if !fresh {
            if let Some(usable) = self.latest_blockhash().usable(std::time::Instant::now()) {
                return Ok(usable);
            }
        }
        let (hash, height) = self
            .rpc
            .get_latest_blockhash_with_commitment(self.rpc.commitment())
            .await?;
        self.latest_blockhash()
            .keep((hash, height, std::time::Instant::now()));
        Ok((hash, height))
    }

    /// Starts reading a newer blockhash in the background if the one read
    /// is past [`BLOCKHASH_REUSE`]: a step calls it when it starts
    /// preparing, so its signature does not wait for the read.
    pub fn refresh_blockhash_ahead(self: &Arc<Self>) {
        let started = self
            .latest_blockhash()
            .start_reading(std::time::Instant::now(), BLOCKHASH_REUSE);
        if let Some(started) = started {
            self.read_blockhash_in_background(started);
        }
    }

    /// A read of the blockhash, started at `started` (its token).
    fn read_blockhash_in_background(self: &Arc<Self>, started: std::time::Instant) {
        let chain = Arc::clone(self);
        tokio::spawn(async move {
            let read = match chain
                .rpc
                .get_latest_blockhash_with_commitment(chain.rpc.commitment())
                .await
            {
                Ok((hash, height)) => Some((hash, height, std::time::Instant::now())),
                Err(err) => {
                    tracing::debug!(%err, "cannot read a blockhash ahead");
                    None
                }
            };
            chain.latest_blockhash().record(started, read);
        });
    }

    fn latest_blockhash(&self) -> std::sync::MutexGuard<'_, LatestBlockhash> {
        self.blockhash
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The compute-budget instructions every transaction starts with.
    pub fn budget_instructions(&self) -> Vec<Instruction> {
        self.budget_instructions_with(self.settings.compute_unit_limit, self.fee_ceiling())
    }

    /// The compute-budget instructions asking for `limit` units at `price`
    /// micro-lamports each (no price instruction for 0).
    fn budget_instructions_with(&self, limit: u32, price: u64) -> Vec<Instruction> {
        use solana_compute_budget_interface::ComputeBudgetInstruction;
        let mut instructions = vec![ComputeBudgetInstruction::set_compute_unit_limit(limit)];
        if price > 0 {
            instructions.push(ComputeBudgetInstruction::set_compute_unit_price(price));
        }
        instructions
    }

    /// The most a transaction pays per compute unit (never below the least).
    fn fee_ceiling(&self) -> u64 {
        self.settings
            .max_priority_fee_micro_lamports
            .max(self.settings.priority_fee_micro_lamports)
    }

    /// The price per compute unit for a transaction that writes `writable`
    /// ([`writable_accounts`]): what recent transactions that wrote the
    /// same accounts paid ([`recent_fee`], from
    /// `getRecentPrioritizationFees`), between the configured least and
    /// most; the least when the RPC node cannot say.
    pub async fn priority_fee(&self, action: &str, writable: &[Pubkey]) -> u64 {
        self.read_priority_fee(action, writable)
            .await
            .unwrap_or(self.settings.priority_fee_micro_lamports)
    }

    /// [`ChainClient::priority_fee`], `None` when the RPC node cannot say.
    async fn read_priority_fee(&self, action: &str, writable: &[Pubkey]) -> Option<u64> {
        let least = self.settings.priority_fee_micro_lamports;
        if least == self.fee_ceiling() {
            return Some(least);
        }
        // The most accounts the method takes.
        let writable = writable.get(..128).unwrap_or(writable);
        match self.rpc.get_recent_prioritization_fees(writable).await {
            Ok(fees) => Some(
                recent_fee(fees.iter().map(|fee| fee.prioritization_fee))
                    .clamp(least, self.fee_ceiling()),
            ),
            Err(err) => {
                tracing::debug!(action, %err, "no recent prioritization fees; paying the least");
                None
            }
        }
    }
}

impl ChainClient {
    /// A fee for a step of `action` without waiting: the last read for the
    /// action, while under [`crate::read_ahead::FEE_REUSE`] old. One past
    /// [`crate::read_ahead::FEE_REFRESH`] is read again in the background
    /// for `writable` (the step's accounts), for the steps after this one.
    /// `None`: read it now ([`ChainClient::read_step_fee`]).
    pub fn fee_at_hand(
        self: &Arc<Self>,
        action: &'static str,
        writable: &[Pubkey],
    ) -> Option<FeeRead> {
        let (at_hand, read_again) = self.fee_reads().at_hand(action, std::time::Instant::now());
        if let Some(started) = read_again {
            self.read_fee_in_background(action, writable.to_vec(), started);
        }
        at_hand
    }

    /// A read of `action`'s fee, started at `started` (its token).
    fn read_fee_in_background(
        self: &Arc<Self>,
        action: &'static str,
        writable: Vec<Pubkey>,
        started: std::time::Instant,
    ) {
        let chain = Arc::clone(self);
        tokio::spawn(async move {
            chain.read_fee(action, &writable, Some(started)).await;
        });
    }

    /// [`ChainClient::priority_fee`] for a step of `action`, kept for the
    /// steps after it ([`ChainClient::fee_at_hand`]) unless the RPC node
    /// could not say.
    pub async fn read_step_fee(&self, action: &'static str, writable: &[Pubkey]) -> FeeRead {
        self.read_fee(action, writable, None).await
    }

    async fn read_fee(
        &self,
        action: &'static str,
        writable: &[Pubkey],
        started: Option<std::time::Instant>,
    ) -> FeeRead {
        let read_at = std::time::Instant::now();
        let read = self
            .read_priority_fee(action, writable)
            .await
            .map(|price| FeeRead { price, read_at });
        self.fee_reads().record(action, started, read, writable);
        read.unwrap_or(FeeRead {
            price: self.settings.priority_fee_micro_lamports,
            read_at,
        })
    }

    /// Reads again, in the background, the blockhash and each action's
    /// priority fee (for the accounts it was last read for) that are
    /// [`KEEP_WARM_AFTER`] old, so that a step after a quiet spell finds
    /// them at hand. A serving node calls it at every tick of its serve
    /// service (at least every `node.poll_interval_ms`).
    pub fn keep_warm(self: &Arc<Self>) {
        let now = std::time::Instant::now();
        let blockhash = self.latest_blockhash().start_reading(now, KEEP_WARM_AFTER);
        if let Some(started) = blockhash {
            self.read_blockhash_in_background(started);
        }
        let stale = self.fee_reads().stale(now, KEEP_WARM_AFTER);
        for (action, writable, started) in stale {
            self.read_fee_in_background(action, writable, started);
        }
    }

    fn fee_reads(&self) -> std::sync::MutexGuard<'_, FeeReads> {
        self.fee_reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The accounts `instructions` write, sorted, each once: what their
/// transaction's priority fee is read for.
pub fn writable_accounts(instructions: &[Instruction]) -> Vec<Pubkey> {
    writable_of(
        instructions
            .iter()
            .flat_map(|instruction| &instruction.accounts),
    )
}

/// The accounts of `metas` marked writable, sorted, each once (as
/// [`writable_accounts`] gives them for instructions on them).
pub fn writable_of<'a>(metas: impl IntoIterator<Item = &'a AccountMeta>) -> Vec<Pubkey> {
    let mut writable: Vec<Pubkey> = metas
        .into_iter()
        .filter(|meta| meta.is_writable)
        .map(|meta| meta.pubkey)
        .collect();
    writable.sort();
    writable.dedup();
    writable
}

/// The price to pay given recent slots' prices (for the accounts written):
/// the 75th percentile of those above zero, 0 when none paid any. A slot
/// where nobody wrote those accounts reports 0, which says nothing about
/// the competition, so zeros are left out.
pub fn recent_fee(fees: impl IntoIterator<Item = u64>) -> u64 {
    let mut paid: Vec<u64> = fees.into_iter().filter(|&fee| fee > 0).collect();
    paid.sort_unstable();
    let rank = (paid.len() * 3).div_ceil(4);
    rank.checked_sub(1)
        .and_then(|index| paid.get(index))
        .copied()
        .unwrap_or(0)
}

/// Units to ask for a transaction a simulation saw consume `units`: a
/// fifth more and 5 000 on top, for state that moves between the
/// simulation and the run (a dispute's tally, a consumer's callback).
pub fn with_margin(units: u64) -> u32 {
    let asked = units.saturating_add(units / 5).saturating_add(5_000);
    u32::try_from(asked).unwrap_or(u32::MAX)
}

/// The `getProgramAccounts` filters for requests in `status` (of `model`).
fn request_filters(status: RequestStatus, model: Option<&Pubkey>) -> Vec<RpcFilterType> {
    let mut filters = vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
        REQUEST_STATUS_OFFSET,
        &[status as u8],
    ))];
    if let Some(model) = model {
        filters.push(RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
            REQUEST_MODEL_OFFSET,
            model.as_ref(),
        )));
    }
    filters
}

fn decode<T: AccountDeserialize>(
    address: &Pubkey,
    what: &'static str,
    data: &[u8],
) -> Result<T, ChainError> {
    T::try_deserialize(&mut &data[..]).map_err(|err| ChainError::AccountInvalid {
        what,
        address: *address,
        reason: err.to_string(),
    })
}

/// The amount a token account holds: SPL Token and Token-2022 accounts
/// both start mint (32), owner (32), amount (u64 LE).
fn token_amount(address: &Pubkey, data: &[u8]) -> Result<u64, ChainError> {
    data.get(64..72)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_le_bytes)
        .ok_or(ChainError::AccountInvalid {
            what: "token account",
            address: *address,
            reason: "shorter than a token account".to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_fee_is_the_upper_quartile_of_what_was_paid() {
        assert_eq!(recent_fee([]), 0);
        assert_eq!(recent_fee([0, 0, 0]), 0, "nobody paid: nothing to outbid");
        assert_eq!(recent_fee([0, 7, 0]), 7);
        assert_eq!(recent_fee([1, 2, 3, 4]), 3);
        assert_eq!(recent_fee([0, 5, 1, 9, 2, 0, 3, 4, 6, 8, 7, 10]), 8);
    }

    #[test]
    fn a_simulated_transaction_gets_a_fifth_and_5000_units_more() {
        assert_eq!(with_margin(0), 5_000);
        assert_eq!(with_margin(100_000), 125_000);
        assert_eq!(with_margin(u64::MAX), u32::MAX);
    }
}

//! Chain access behind one small client: typed account reads, discovery by
//! `getProgramAccounts` filters, and transaction sending with fresh
//! blockhashes, priority fees, retries with backoff and confirmation
//! tracking. Services never build raw JSON.
use crate::program_error::{raised_by, ProgramError, Refusal};
use anchor_lang::{prelude::Pubkey, AccountDeserialize, Discriminator};
use sibyl::{
    constants::{REQUEST_MODEL_OFFSET, REQUEST_STATUS_OFFSET, VOTE_DISPUTE_OFFSET},
    state::{Config, InferenceRequest, Model, Operator, RequestStatus, Vote},
};
use sibyl_client::accounts::{Payees, Tokens};
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_instruction::{error::InstructionError, Instruction};
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::client_error::Error as ClientError;
use solana_rpc_client_types::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig},
    filter::{Memcmp, RpcFilterType},
};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use std::{sync::Arc, time::Duration};

/// How transactions are sent.
#[derive(Clone, Debug)]
pub struct SendSettings {
    /// Priority fee in micro-lamports per compute unit (0: none).
    pub priority_fee_micro_lamports: u64,
    /// Compute-unit limit requested for every transaction.
    pub compute_unit_limit: u32,
    /// How many times a transaction is signed afresh and sent.
    pub max_attempts: u32,
    /// How long one attempt waits for confirmation.
    pub confirm_timeout: Duration,
    /// Wait before the second attempt; doubles each attempt.
    pub retry_backoff: Duration,
}

impl Default for SendSettings {
    fn default() -> Self {
        Self {
            priority_fee_micro_lamports: 0,
            compute_unit_limit: 400_000,
            max_attempts: 5,
            confirm_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(500),
        }
    }
}

/// Why a read or a transaction failed, naming what was being done.
/// A confirmed transaction and when it was handed to the RPC node.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub signature: Signature,
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
    #[error("{action}: not confirmed after {attempts} attempts")]
    NotConfirmed { action: String, attempts: u32 },
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
    ws_url: String,
    signer: Arc<Keypair>,
    settings: SendSettings,
    /// The last blockhash read, with its last valid block height and when
    /// it was read: reused for [`BLOCKHASH_REUSE`] to save a round trip.
    blockhash: std::sync::Mutex<Option<(Hash, u64, std::time::Instant)>>,
}

/// How long a blockhash is reused for new transactions. A blockhash stays
/// valid for 150 blocks (about a minute); a retry always reads a fresh one.
pub const BLOCKHASH_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

impl ChainClient {
    /// A client for the cluster at `rpc_url` (confirmed commitment).
    pub fn new(rpc_url: &str, ws_url: &str, signer: Arc<Keypair>, settings: SendSettings) -> Self {
        Self {
            rpc: RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed()),
            ws_url: ws_url.to_string(),
            signer,
            settings,
            blockhash: Default::default(),
        }
    }

    /// The underlying RPC client, for reads this type does not wrap.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The PubSub (WebSocket) URL.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
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

    /// An Anchor account, or `None` if the address holds nothing.
    pub async fn fetch<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
        what: &'static str,
    ) -> Result<Option<T>, ChainError> {
        let account = self
            .rpc
            .get_account_with_commitment(address, self.rpc.commitment())
            .await
            .map_err(|err| ChainError::rpc(&format!("reading {what} {address}"), err))?
            .value;
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

    /// Every Sibyl account of type `T` that also matches `filters`.
    pub async fn program_accounts<T: AccountDeserialize + Discriminator>(
        &self,
        what: &'static str,
        mut filters: Vec<RpcFilterType>,
    ) -> Result<Vec<(Pubkey, T)>, ChainError> {
        filters.insert(
            0,
            RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, T::DISCRIMINATOR)),
        );
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
                        commitment: Some(self.rpc.commitment()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .map_err(|err| ChainError::rpc(&format!("listing {what} accounts"), err))?;
        accounts
            .into_iter()
            .filter_map(|(address, account)| Some((address, account.data.decode()?)))
            .map(|(address, data)| decode(&address, what, &data).map(|state| (address, state)))
            .collect()
    }

    /// Requests in `status`, for one model or for all.
    pub async fn requests(
        &self,
        status: RequestStatus,
        model: Option<&Pubkey>,
    ) -> Result<Vec<(Pubkey, InferenceRequest)>, ChainError> {
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
        self.program_accounts("inference request", filters).await
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
        let mint = self
            .rpc
            .get_account(&config.payment_mint)
            .await
            .map_err(|source| ChainError::rpc("reading the payment mint", source))?;
        Ok(Tokens {
            mint: config.payment_mint,
            token_program: mint.owner,
        })
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
    pub async fn send_receipt(
        &self,
        action: &str,
        instructions: &[Instruction],
        extra_signers: &[&Keypair],
    ) -> Result<Sent, ChainError> {
        let mut all = self.budget_instructions();
        all.extend_from_slice(instructions);
        let mut signers: Vec<&Keypair> = vec![&self.signer];
        signers.extend_from_slice(extra_signers);
        let mut backoff = self.settings.retry_backoff;
        for attempt in 1..=self.settings.max_attempts.max(1) {
            if attempt > 1 {
                tracing::warn!(action, attempt, "retrying after {backoff:?}");
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
            let config = RpcSendTransactionConfig {
                preflight_commitment: Some(self.rpc.commitment().commitment),
                ..Default::default()
            };
            let sent = match self
                .rpc
                .send_transaction_with_config(&transaction, config)
                .await
            {
                Ok(signature) => Sent {
                    signature,
                    sent_at: std::time::Instant::now(),
                },
                Err(err) => match err.get_transaction_error() {
                    Some(TransactionError::BlockhashNotFound) => continue,
                    Some(error) => return Err(ChainError::from_transaction(action, error, &all)),
                    None => {
                        tracing::warn!(action, %err, "send failed");
                        continue;
                    }
                },
            };
            match self
                .confirm(action, &sent.signature, last_valid_height, &all)
                .await?
            {
                true => return Ok(sent),
                false => {
                    tracing::warn!(action, signature = %sent.signature, "not confirmed in time")
                }
            }
        }
        Err(ChainError::NotConfirmed {
            action: action.to_string(),
            attempts: self.settings.max_attempts,
        })
    }

    /// Waits for `signature`: `Ok(true)` once confirmed, `Ok(false)` once its
    /// blockhash expired or the timeout passed, an error if it failed.
    async fn confirm(
        &self,
        action: &str,
        signature: &Signature,
        last_valid_height: u64,
        instructions: &[Instruction],
    ) -> Result<bool, ChainError> {
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(response) = self.rpc.get_signature_statuses(&[*signature]).await {
                if let Some(Some(status)) = response.value.first() {
                    if let Some(error) = &status.err {
                        return Err(ChainError::from_transaction(
                            action,
                            error.clone(),
                            instructions,
                        ));
                    }
                    if status.satisfies_commitment(self.rpc.commitment()) {
                        return Ok(true);
                    }
                }
            }
            let expired = self
                .rpc
                .get_block_height()
                .await
                .is_ok_and(|height| height > last_valid_height);
            if expired || started.elapsed() > self.settings.confirm_timeout {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A recent blockhash and its last valid block height: the cached one
    /// while younger than [`BLOCKHASH_REUSE`], unless `fresh`.
    async fn blockhash(&self, fresh: bool) -> Result<(Hash, u64), ClientError> {
        let cached = *self.blockhash.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((hash, height, read_at)) = cached {
            if !fresh && read_at.elapsed() < BLOCKHASH_REUSE {
                return Ok((hash, height));
            }
        }
        let (hash, height) = self
            .rpc
            .get_latest_blockhash_with_commitment(self.rpc.commitment())
            .await?;
        *self.blockhash.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((hash, height, std::time::Instant::now()));
        Ok((hash, height))
    }

    /// The compute-budget instructions every transaction starts with.
    pub fn budget_instructions(&self) -> Vec<Instruction> {
        use solana_compute_budget_interface::ComputeBudgetInstruction;
        let mut instructions = vec![ComputeBudgetInstruction::set_compute_unit_limit(
            self.settings.compute_unit_limit,
        )];
        if self.settings.priority_fee_micro_lamports > 0 {
            instructions.push(ComputeBudgetInstruction::set_compute_unit_price(
                self.settings.priority_fee_micro_lamports,
            ));
        }
        instructions
    }
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

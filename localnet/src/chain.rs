//! The chain: a real Agave bank that advances one slot per tick, processes
//! transactions as a validator's banking stage would (one at a time, with
//! logs and inner instructions recorded), and remembers each transaction's
//! outcome for status and history queries.
use crate::native::{consumer_builtin, install_runtime_stubs, sibyl_builtin};
use agave_feature_set::FeatureSet;
use anchor_lang::prelude::Pubkey;
use solana_account::AccountSharedData;
use solana_accounts_db::accounts_db::ACCOUNTS_DB_CONFIG_FOR_TESTING;
use solana_cluster_type::ClusterType;
use solana_fee_calculator::{FeeRateGovernor, DEFAULT_TARGET_LAMPORTS_PER_SIGNATURE};
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_program_runtime::program_cache_entry::ProgramCacheEntry;
use solana_rent::Rent;
use solana_runtime::{
    bank::{Bank, TransactionSimulationResult},
    bank_forks::BankForks,
    genesis_utils::create_genesis_config_with_leader_ex,
    runtime_config::RuntimeConfig,
};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_svm::transaction_processor::ExecutionRecordingConfig;
use solana_svm_timings::ExecuteTimings;
use solana_transaction::{versioned::VersionedTransaction, TransactionVerificationMode};
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::{
    InnerInstruction, InnerInstructions, TransactionStatusMeta,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

/// Lamports the faucet starts with (airdrops come from it).
pub const FAUCET_LAMPORTS: u64 = 500_000_000 * 1_000_000_000;

/// How the chain starts.
#[derive(Clone, Debug, Default)]
pub struct ChainConfig {
    /// Accounts to create at genesis, e.g. funded wallets.
    pub genesis_accounts: Vec<(Pubkey, AccountSharedData)>,
}

/// Why the chain refused a transaction before executing it.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("transaction failed: {0}")]
    Transaction(#[from] TransactionError),
}

/// What happened to one processed transaction, as `getTransaction` reports it.
#[derive(Clone, Debug)]
pub struct TransactionRecord {
    pub slot: u64,
    /// Its place in the order the chain processed transactions (from 0).
    pub sequence: u64,
    /// Wall-clock time of the slot, in Unix seconds.
    pub block_time: i64,
    pub transaction: VersionedTransaction,
    pub meta: TransactionStatusMeta,
    /// The accounts it could write.
    pub writable: Vec<Pubkey>,
    /// Its compute-unit price in micro-lamports (`SetComputeUnitPrice`; 0 without one).
    pub compute_unit_price: u64,
}

/// What subscribers are told about: every slot change and every processed
/// transaction.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A new slot opened; `root` is the slot that just ended.
    Slot { slot: u64, parent: u64, root: u64 },
    /// A transaction was committed in `slot`.
    Transaction {
        slot: u64,
        signature: Signature,
        status: Result<(), TransactionError>,
        logs: Vec<String>,
        /// Every address the transaction named.
        accounts: Vec<Pubkey>,
        /// The addresses it could write.
        writable: Vec<Pubkey>,
    },
}

/// The bank forks, the faucet and the record of processed transactions.
pub struct Chain {
    bank_forks: Arc<RwLock<BankForks>>,
    faucet: Keypair,
    genesis_hash: Hash,
    /// Serializes slot changes and transaction processing.
    processing: Mutex<()>,
    records: RwLock<HashMap<Signature, TransactionRecord>>,
    /// Every address a processed transaction named, with its signatures in order.
    history: RwLock<HashMap<Pubkey, Vec<Signature>>>,
    events: tokio::sync::broadcast::Sender<ChainEvent>,
}

impl Chain {
    /// Creates the genesis bank (all features active, SPL programs loaded,
    /// Sibyl registered as a native program) and moves to slot 1.
    pub async fn start(config: ChainConfig) -> Arc<Chain> {
        install_runtime_stubs().await;
        let rent = Rent::default();
        let faucet = Keypair::new();
        let fee_rate_governor = FeeRateGovernor {
            lamports_per_signature: DEFAULT_TARGET_LAMPORTS_PER_SIGNATURE / 2,
            ..FeeRateGovernor::default()
        };
        let genesis_config = create_genesis_config_with_leader_ex(
            FAUCET_LAMPORTS,
            &faucet.pubkey(),
            &Pubkey::new_unique(),
            &Keypair::new().pubkey(),
            &Pubkey::new_unique(),
            None,
            1_000_000 * 1_000_000_000,
            890_880,
            fee_rate_governor,
            rent.clone(),
            ClusterType::Development,
            &FeatureSet::all_enabled(),
            config.genesis_accounts,
        );
        let bank = Bank::new_from_genesis(
            &genesis_config,
            Arc::new(RuntimeConfig::default()),
            Vec::default(),
            None,
            ACCOUNTS_DB_CONFIG_FOR_TESTING,
            None,
            None,
            Arc::default(),
            None,
            None,
        );
        for (program_id, account) in solana_program_binaries::spl_programs(&rent).iter() {
            bank.store_account(program_id, account);
        }
        for (program_id, account) in solana_program_binaries::core_bpf_programs(&rent, |feature| {
            genesis_config.accounts.contains_key(feature)
        })
        .iter()
        {
            bank.store_account(program_id, account);
        }
        bank.add_builtin(
            sibyl::ID,
            "sibyl",
            ProgramCacheEntry::new_builtin(0, "sibyl".len(), sibyl_builtin()),
        );
        // The example consumer, so integrators can try both consumer paths locally.
        bank.add_builtin(
            example_consumer::ID,
            "example_consumer",
            ProgramCacheEntry::new_builtin(0, "example_consumer".len(), consumer_builtin()),
        );
        bank.set_capitalization_for_tests(bank.calculate_capitalization_for_tests());
        let genesis_hash = genesis_config.hash();
        let bank_forks = BankForks::new_rw_arc(bank);
        let chain = Arc::new(Chain {
            bank_forks,
            faucet,
            genesis_hash,
            processing: Mutex::new(()),
            records: RwLock::new(HashMap::new()),
            history: RwLock::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(4096).0,
        });
        chain.advance_slot();
        chain
    }

    /// The bank transactions go to (all commitment levels read it: one node,
    /// nothing to wait for).
    pub fn bank(&self) -> Arc<Bank> {
        self.bank_forks.read().unwrap().working_bank()
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The faucet's address.
    pub fn faucet(&self) -> Pubkey {
        self.faucet.pubkey()
    }

    /// Slot changes and processed transactions, as they happen.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    /// Ends the current slot (a new blockhash is registered) and opens the
    /// next one, rooting the one that ended.
    pub fn advance_slot(&self) {
        let _guard = self.processing.lock().unwrap();
        let bank = self.bank();
        bank.fill_bank_with_ticks_for_tests();
        bank.freeze();
        let next = Bank::new_from_parent(bank.clone(), *bank.leader(), bank.slot() + 1);
        let slot = next.slot();
        let mut forks = self.bank_forks.write().unwrap();
        forks.insert(next);
        forks.set_root(bank.slot(), None, Some(bank.slot()));
        drop(forks);
        // Nobody listening is fine.
        let _ = self.events.send(ChainEvent::Slot {
            slot,
            parent: bank.slot(),
            root: bank.slot(),
        });
    }

    /// Simulates a signed transaction against the current bank (nothing is
    /// committed); signatures are checked.
    pub fn simulate(&self, transaction: &VersionedTransaction) -> TransactionSimulationResult {
        self.simulate_with(transaction, TransactionVerificationMode::FullVerification)
    }

    /// Simulates without checking signatures (`simulateTransaction`'s default).
    pub fn simulate_unverified(
        &self,
        transaction: &VersionedTransaction,
    ) -> TransactionSimulationResult {
        self.simulate_with(transaction, TransactionVerificationMode::HashOnly)
    }

    fn simulate_with(
        &self,
        transaction: &VersionedTransaction,
        mode: TransactionVerificationMode,
    ) -> TransactionSimulationResult {
        let bank = self.bank();
        match bank.verify_transaction(transaction.clone(), mode) {
            Ok(sanitized) => bank.simulate_transaction_unchecked(&sanitized, true),
            Err(err) => TransactionSimulationResult::new_error(err),
        }
    }

    /// Executes and commits a transaction in the current slot, recording its
    /// logs, inner instructions and balances. A transaction that executed and
    /// failed is committed (its fee is charged) and recorded with its error;
    /// one that could not be executed at all is returned as an error.
    pub fn process(&self, transaction: VersionedTransaction) -> Result<Signature, ChainError> {
        let _guard = self.processing.lock().unwrap();
        let bank = self.bank();
        let signature = transaction.signatures[0];
        let batch = bank.prepare_entry_batch(vec![transaction.clone()])?;
        let (mut results, balances) = bank.load_execute_and_commit_transactions(
            &batch,
            ExecutionRecordingConfig {
                enable_cpi_recording: true,
                enable_log_recording: true,
                enable_return_data_recording: true,
                enable_transaction_balance_recording: true,
            },
            &mut ExecuteTimings::default(),
            Some(100 * 1000),
        );
        drop(batch);
        let committed = results.remove(0)?;
        let (pre_balances, post_balances) = balances
            .map(|collector| {
                let (mut pre, mut post, _, _) = collector.into_vecs();
                (pre.remove(0), post.remove(0))
            })
            .unwrap_or_default();
        let meta = TransactionStatusMeta {
            status: committed.status,
            fee: committed.fee_details.total_fee(),
            pre_balances,
            post_balances,
            inner_instructions: committed.inner_instructions.map(|list| {
                list.into_iter()
                    .enumerate()
                    .filter(|(_, instructions)| !instructions.is_empty())
                    .map(|(index, instructions)| InnerInstructions {
                        index: index as u8,
                        instructions: instructions
                            .into_iter()
                            .map(|inner| InnerInstruction {
                                instruction: inner.instruction,
                                stack_height: Some(inner.stack_height as u32),
                            })
                            .collect(),
                    })
                    .collect()
            }),
            log_messages: committed.log_messages,
            return_data: committed.return_data,
            compute_units_consumed: Some(committed.executed_units),
            ..TransactionStatusMeta::default()
        };
        let message = &transaction.message;
        let accounts = message.static_account_keys().to_vec();
        let writable: Vec<Pubkey> = accounts
            .iter()
            .enumerate()
            .filter(|(index, _)| {
                message.is_maybe_writable_with_reserved_addresses(
                    *index,
                    Some(bank.get_reserved_account_keys()),
                )
            })
            .map(|(_, address)| *address)
            .collect();
        let mut history = self.history.write().unwrap();
        for address in &accounts {
            history.entry(*address).or_default().push(signature);
        }
        drop(history);
        let event = ChainEvent::Transaction {
            slot: bank.slot(),
            signature,
            status: meta.status.clone(),
            logs: meta.log_messages.clone().unwrap_or_default(),
            accounts,
            writable: writable.clone(),
        };
        let mut records = self.records.write().unwrap();
        let compute_unit_price = compute_unit_price(&transaction);
        let record = TransactionRecord {
            slot: bank.slot(),
            sequence: records.len() as u64,
            block_time: bank.clock().unix_timestamp,
            transaction,
            meta,
            writable,
            compute_unit_price,
        };
        records.insert(signature, record);
        drop(records);
        let _ = self.events.send(event);
        Ok(signature)
    }

    /// Signatures of processed transactions that named `address`, oldest first.
    pub fn signatures_for(&self, address: &Pubkey) -> Vec<Signature> {
        self.history
            .read()
            .unwrap()
            .get(address)
            .cloned()
            .unwrap_or_default()
    }

    /// What `getRecentPrioritizationFees` reports here (a simplified
    /// Agave: no floor from the block's own lowest price): for each
    /// of the last 150 slots up to the current one (oldest first), the
    /// lowest compute-unit price among the successful transactions of the
    /// slot that could write each of `accounts`, the highest of those
    /// across the accounts, 0 when none did; with no accounts named, the
    /// lowest price in the slot.
    pub fn recent_prioritization_fees(&self, accounts: &[Pubkey]) -> Vec<(u64, u64)> {
        let current = self.bank().slot();
        let first = current.saturating_sub(149);
        let records = self.records.read().unwrap();
        // Grouped by slot once: a node asks before every transaction, and
        // scanning every landed transaction for each slot and account made
        // each call cost (slots × accounts × transactions).
        let mut landed: std::collections::HashMap<u64, Vec<&TransactionRecord>> =
            std::collections::HashMap::new();
        for record in records
            .values()
            .filter(|record| record.slot >= first && record.meta.status.is_ok())
        {
            landed.entry(record.slot).or_default().push(record);
        }
        let lowest = |slot: u64, wrote: &dyn Fn(&TransactionRecord) -> bool| {
            landed
                .get(&slot)
                .into_iter()
                .flatten()
                .filter(|record| wrote(record))
                .map(|record| record.compute_unit_price)
                .min()
        };
        (first..=current)
            .map(|slot| {
                let fee = if accounts.is_empty() {
                    lowest(slot, &|_| true).unwrap_or(0)
                } else {
                    accounts
                        .iter()
                        .filter_map(|account| {
                            lowest(slot, &|record| record.writable.contains(account))
                        })
                        .max()
                        .unwrap_or(0)
                };
                (slot, fee)
            })
            .collect()
    }

    /// The record of a processed transaction.
    pub fn record(&self, signature: &Signature) -> Option<TransactionRecord> {
        self.records.read().unwrap().get(signature).cloned()
    }

    /// Sends `lamports` from the faucet in a real transfer transaction.
    pub fn airdrop(&self, to: &Pubkey, lamports: u64) -> Result<Signature, ChainError> {
        let bank = self.bank();
        let transfer =
            solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        let transaction = solana_transaction::Transaction::new_signed_with_payer(
            &[transfer],
            Some(&self.faucet.pubkey()),
            &[&self.faucet],
            bank.last_blockhash(),
        );
        self.process(transaction.into())
    }

    /// Creates a payment mint (6 decimals, the faucet as mint authority) and
    /// gives each wallet an associated token account holding `amount` base
    /// units, all in one real transaction. Returns the mint.
    pub fn create_payment_mint(
        &self,
        wallets: &[Pubkey],
        amount: u64,
    ) -> Result<Pubkey, ChainError> {
        use anchor_spl::token_2022::spl_token_2022::instruction as token;
        use anchor_spl::{associated_token, token::ID as TOKEN_PROGRAM};
        let bank = self.bank();
        let faucet = self.faucet.pubkey();
        let mint = Keypair::new();
        let create = vec![
            solana_system_interface::instruction::create_account(
                &faucet,
                &mint.pubkey(),
                bank.get_minimum_balance_for_rent_exemption(82),
                82,
                &TOKEN_PROGRAM,
            ),
            token::initialize_mint2(&TOKEN_PROGRAM, &mint.pubkey(), &faucet, None, 6)
                .expect("valid mint instruction"),
        ];
        self.process_checked(&create, &[&self.faucet, &mint])?;
        // A few wallets a transaction: each account creation is several
        // nested calls, and a transaction's instruction trace is bounded.
        for chunk in wallets.chunks(4) {
            let mut instructions = Vec::new();
            for wallet in chunk {
                let ata = associated_token::get_associated_token_address(wallet, &mint.pubkey());
                instructions.push(
                    associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(
                        &faucet,
                        wallet,
                        &mint.pubkey(),
                        &TOKEN_PROGRAM,
                    ),
                );
                instructions.push(
                    token::mint_to(&TOKEN_PROGRAM, &mint.pubkey(), &ata, &faucet, &[], amount)
                        .expect("valid mint-to instruction"),
                );
            }
            self.process_checked(&instructions, &[&self.faucet])?;
        }
        Ok(mint.pubkey())
    }

    /// Processes `instructions` paid by the faucet; a failed transaction is an error.
    fn process_checked(
        &self,
        instructions: &[solana_instruction::Instruction],
        signers: &[&Keypair],
    ) -> Result<Signature, ChainError> {
        let transaction = solana_transaction::Transaction::new_signed_with_payer(
            instructions,
            Some(&self.faucet.pubkey()),
            signers,
            self.bank().last_blockhash(),
        );
        let signature = self.process(transaction.into())?;
        if let Some(Err(err)) = self.record(&signature).map(|record| record.meta.status) {
            return Err(ChainError::Transaction(err));
        }
        Ok(signature)
    }
}

/// A transaction's compute-unit price: the value of its
/// `SetComputeUnitPrice` instruction (tag 3, then a u64), 0 without one.
fn compute_unit_price(transaction: &VersionedTransaction) -> u64 {
    let message = &transaction.message;
    let keys = message.static_account_keys();
    message
        .instructions()
        .iter()
        .filter(|ix| keys.get(usize::from(ix.program_id_index)) == Some(&COMPUTE_BUDGET_ID))
        .find_map(|ix| match ix.data.as_slice() {
            [3, price @ ..] => price.try_into().ok().map(u64::from_le_bytes),
            _ => None,
        })
        .unwrap_or(0)
}

/// The compute budget program.
const COMPUTE_BUDGET_ID: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

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
    InnerInstruction, InnerInstructions, Reward, TransactionStatusMeta, TransactionTokenBalance,
};
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
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
    /// Its place in its block (from 0).
    pub index: u32,
    /// Wall-clock time of the slot, in Unix seconds.
    pub block_time: i64,
    pub transaction: VersionedTransaction,
    pub meta: TransactionStatusMeta,
    /// The accounts it could write.
    pub writable: Vec<Pubkey>,
    /// Its compute-unit price in micro-lamports (`SetComputeUnitPrice`; 0 without one).
    pub compute_unit_price: u64,
}

/// One block: a slot that ended, with its transactions in the order the
/// chain processed them.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    pub slot: u64,
    pub parent_slot: u64,
    /// The last hash of the slot: what transactions of later slots name.
    pub blockhash: Hash,
    /// The parent's blockhash (the default hash for slot 0, as in Agave).
    pub previous_blockhash: Hash,
    /// Wall-clock time of the slot, in Unix seconds.
    pub block_time: i64,
    pub block_height: u64,
    pub signatures: Vec<Signature>,
    /// What the slot paid out (the leader's share of fees), as Agave records it.
    pub rewards: Vec<Reward>,
    pub num_partitions: Option<u64>,
}

/// Slots `getRecentPrioritizationFees` reports.
const RECENT_FEE_SLOTS: u64 = 150;

/// What one slot's landed transactions paid per compute unit: the least of
/// them all, and the least of those that wrote each account.
#[derive(Default)]
struct SlotFees {
    least: Option<u64>,
    by_account: HashMap<Pubkey, u64>,
}

impl SlotFees {
    fn of(records: &HashMap<Signature, TransactionRecord>, signatures: &[Signature]) -> SlotFees {
        let mut fees = SlotFees::default();
        for record in signatures
            .iter()
            .filter_map(|signature| records.get(signature))
            .filter(|record| record.meta.status.is_ok())
        {
            let price = record.compute_unit_price;
            fees.least = Some(fees.least.map_or(price, |least| least.min(price)));
            for account in &record.writable {
                let least = fees.by_account.entry(*account).or_insert(price);
                *least = (*least).min(price);
            }
        }
        fees
    }

    /// The slot's figure for `accounts`: the most any of them needed (the
    /// least paid to write it), or the least paid at all when none is named.
    fn fee(&self, accounts: &[Pubkey]) -> u64 {
        if accounts.is_empty() {
            return self.least.unwrap_or(0);
        }
        accounts
            .iter()
            .filter_map(|account| self.by_account.get(account))
            .max()
            .copied()
            .unwrap_or(0)
    }
}

/// What `getRecentPerformanceSamples` reports: the work of one sample period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerformanceSample {
    /// The working slot when the sample was taken.
    pub slot: u64,
    pub num_transactions: u64,
    pub num_slots: u64,
    pub sample_period_secs: u16,
}

/// Most performance samples kept (Agave's `PERFORMANCE_SAMPLES_LIMIT`: 12 hours of minutes).
pub const PERFORMANCE_SAMPLES_LIMIT: usize = 720;

/// A simulated transaction: what the bank reports, and the accounts the
/// transaction names (its lookup tables' included).
pub struct Simulation {
    pub result: TransactionSimulationResult,
    pub account_keys: Vec<Pubkey>,
    pub loaded_addresses: solana_message::v0::LoadedAddresses,
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
    /// The working slot's transactions, in order; the lock serializes slot
    /// changes and transaction processing.
    processing: Mutex<Vec<Signature>>,
    records: RwLock<HashMap<Signature, TransactionRecord>>,
    /// Every slot that ended, by slot (the ledger is in memory: none is ever purged).
    blocks: RwLock<BTreeMap<u64, BlockRecord>>,
    /// The last 150 ended slots' prioritization fees.
    slot_fees: RwLock<BTreeMap<u64, SlotFees>>,
    /// Newest first, at most [`PERFORMANCE_SAMPLES_LIMIT`].
    samples: RwLock<VecDeque<PerformanceSample>>,
    /// The slot, transaction count and time of the last sample.
    sampled: Mutex<(u64, u64, std::time::Instant)>,
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
            processing: Mutex::new(Vec::new()),
            records: RwLock::new(HashMap::new()),
            blocks: RwLock::new(BTreeMap::new()),
            slot_fees: RwLock::new(BTreeMap::new()),
            samples: RwLock::new(VecDeque::new()),
            sampled: Mutex::new((0, 0, std::time::Instant::now())),
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

    /// Ends the current slot (a new blockhash is registered), records its
    /// block, and opens the next one, rooting the one that ended.
    pub fn advance_slot(&self) {
        let mut working = self.processing.lock().unwrap();
        let bank = self.bank();
        bank.fill_bank_with_ticks_for_tests();
        bank.freeze();
        let previous_blockhash = if bank.slot() == 0 {
            Hash::default()
        } else {
            self.blocks
                .read()
                .unwrap()
                .get(&bank.parent_slot())
                .map(|parent| parent.blockhash)
                .unwrap_or_default()
        };
        let rewards = bank.get_rewards_and_num_partitions();
        let in_basis_points = bank
            .feature_set
            .is_active(&agave_feature_set::commission_rate_in_basis_points::id());
        let block = BlockRecord {
            slot: bank.slot(),
            parent_slot: bank.parent_slot(),
            blockhash: bank.last_blockhash(),
            previous_blockhash,
            block_time: bank.clock().unix_timestamp,
            block_height: bank.block_height(),
            signatures: std::mem::take(&mut *working),
            rewards: rewards
                .keyed_rewards
                .into_iter()
                .map(|(pubkey, info)| Reward {
                    pubkey: pubkey.to_string(),
                    lamports: info.lamports,
                    post_balance: info.post_balance,
                    reward_type: Some(info.reward_type),
                    // As Agave's transaction status service records it.
                    commission: if in_basis_points {
                        None
                    } else {
                        info.commission_bps.map(|bps| (bps / 100) as u8)
                    },
                    commission_bps: info.commission_bps.filter(|_| in_basis_points),
                })
                .collect(),
            num_partitions: rewards.num_partitions,
        };
        let fees = SlotFees::of(&self.records.read().unwrap(), &block.signatures);
        {
            let mut slot_fees = self.slot_fees.write().unwrap();
            slot_fees.insert(block.slot, fees);
            // `getRecentPrioritizationFees` reports the last 150 slots.
            let keep_from = block.slot.saturating_sub(RECENT_FEE_SLOTS);
            *slot_fees = slot_fees.split_off(&keep_from);
        }
        self.blocks.write().unwrap().insert(block.slot, block);
        let next = Bank::new_from_parent(bank.clone(), *bank.leader(), bank.slot() + 1);
        keep_wall_clock(&next);
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

    /// The block of a slot that ended.
    pub fn block(&self, slot: u64) -> Option<BlockRecord> {
        self.blocks.read().unwrap().get(&slot).cloned()
    }

    /// The slots of the blocks in `range`, in order, at most `limit`.
    pub fn block_slots(&self, range: std::ops::RangeInclusive<u64>, limit: usize) -> Vec<u64> {
        self.blocks
            .read()
            .unwrap()
            .range(range)
            .take(limit)
            .map(|(slot, _)| *slot)
            .collect()
    }

    /// The lowest slot with a block (every block is kept, so slot 0).
    pub fn first_block(&self) -> u64 {
        self.blocks
            .read()
            .unwrap()
            .keys()
            .next()
            .copied()
            .unwrap_or_default()
    }

    /// The newest slot with a block: the last slot that ended (and was rooted).
    pub fn latest_block(&self) -> u64 {
        self.blocks
            .read()
            .unwrap()
            .keys()
            .next_back()
            .copied()
            .unwrap_or_default()
    }

    /// Records the work done since the last sample, as Agave's sample
    /// performance service does once a period: the transactions the bank
    /// counted, the slots, and the seconds that went by.
    pub fn sample_performance(&self) {
        let bank = self.bank();
        let (slot, transactions) = (bank.slot(), bank.transaction_count());
        let now = std::time::Instant::now();
        let mut sampled = self.sampled.lock().unwrap();
        let (last_slot, last_transactions, last_time) = *sampled;
        *sampled = (slot, transactions, now);
        drop(sampled);
        let sample = PerformanceSample {
            slot,
            num_transactions: transactions.saturating_sub(last_transactions),
            num_slots: slot.saturating_sub(last_slot),
            // Rounded: the sampler's timer fires a period apart, give or
            // take a millisecond.
            sample_period_secs: u16::try_from(
                (now.duration_since(last_time).as_millis() + 500) / 1000,
            )
            .unwrap_or(u16::MAX),
        };
        let mut samples = self.samples.write().unwrap();
        samples.push_front(sample);
        samples.truncate(PERFORMANCE_SAMPLES_LIMIT);
    }

    /// The performance samples, newest first.
    pub fn performance_samples(&self) -> Vec<PerformanceSample> {
        self.samples.read().unwrap().iter().copied().collect()
    }

    /// Simulates a transaction against the working bank, nothing committed,
    /// as Agave's RPC does: the transaction is sanitized first (its address
    /// lookup tables loaded; an error here is the caller's), then, with
    /// `sig_verify`, a bad signature is the simulation's error.
    /// `inner_instructions` records the calls it made.
    pub fn simulate(
        &self,
        transaction: &VersionedTransaction,
        sig_verify: bool,
        inner_instructions: bool,
    ) -> Result<Simulation, TransactionError> {
        let bank = self.bank();
        let sanitized =
            bank.verify_transaction(transaction.clone(), TransactionVerificationMode::HashOnly)?;
        let account_keys: Vec<Pubkey> =
            sanitized.message().account_keys().iter().copied().collect();
        let loaded_addresses = sanitized.get_loaded_addresses();
        // Signatures are checked only when asked: the node simulates every
        // transaction it sends, unsigned checks off.
        let bad_signature = if sig_verify {
            sanitized.verify().err()
        } else {
            None
        };
        let result = match bad_signature {
            Some(err) => TransactionSimulationResult::new_error(err),
            None => bank.simulate_transaction_unchecked(&sanitized, inner_instructions),
        };
        Ok(Simulation {
            result,
            account_keys,
            loaded_addresses,
        })
    }

    /// Executes and commits a transaction in the current slot, recording its
    /// logs, inner instructions and balances. A transaction that executed and
    /// failed is committed (its fee is charged) and recorded with its error;
    /// one that could not be executed at all is returned as an error.
    pub fn process(&self, transaction: VersionedTransaction) -> Result<Signature, ChainError> {
        let mut working = self.processing.lock().unwrap();
        let bank = self.bank();
        let signature = transaction.signatures[0];
        let batch = bank.prepare_entry_batch(vec![transaction.clone()])?;
        let (accounts, writable, loaded_addresses) = {
            let message = batch.sanitized_transactions()[0].message();
            let keys = message.account_keys();
            let accounts: Vec<Pubkey> = keys.iter().copied().collect();
            let writable = (0..keys.len())
                .filter(|index| message.is_writable(*index))
                .filter_map(|index| keys.get(index).copied())
                .collect::<Vec<Pubkey>>();
            let loaded = batch.sanitized_transactions()[0].get_loaded_addresses();
            (accounts, writable, loaded)
        };
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
        let (pre_balances, post_balances, pre_token_balances, post_token_balances) = balances
            .map(|collector| {
                let (mut pre, mut post, mut token_pre, mut token_post) = collector.into_vecs();
                (
                    pre.remove(0),
                    post.remove(0),
                    Some(token_balances(token_pre.remove(0))),
                    Some(token_balances(token_post.remove(0))),
                )
            })
            .unwrap_or_default();
        let meta = TransactionStatusMeta {
            status: committed.status,
            fee: committed.fee_details.total_fee(),
            pre_balances,
            post_balances,
            pre_token_balances,
            post_token_balances,
            loaded_addresses,
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
            // As Agave's transaction status service records them: no rewards.
            rewards: Some(Vec::new()),
            ..TransactionStatusMeta::default()
        };
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
            index: u32::try_from(working.len()).unwrap_or(u32::MAX),
            block_time: bank.clock().unix_timestamp,
            transaction,
            meta,
            writable,
            compute_unit_price,
        };
        records.insert(signature, record);
        drop(records);
        working.push(signature);
        drop(working);
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
        // Each ended slot's figures were kept when it ended (as Agave's fee
        // cache keeps them), so a query costs the slots times the accounts
        // asked about, not the transactions of 150 slots. The working
        // slot's lock is held (taken first, as slot changes take it), so no
        // slot ends in between.
        let working = self.processing.lock().unwrap();
        let current = self.bank().slot();
        let first = current.saturating_sub(RECENT_FEE_SLOTS - 1);
        let working_fees = SlotFees::of(&self.records.read().unwrap(), &working);
        let slot_fees = self.slot_fees.read().unwrap();
        (first..=current)
            .map(|slot| {
                let fees = if slot == current {
                    Some(&working_fees)
                } else {
                    slot_fees.get(&slot)
                };
                (slot, fees.map_or(0, |fees| fees.fee(accounts)))
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

/// Sets a new bank's clock to the wall clock (never backwards). A validator's
/// clock follows the timestamps its voters send; with no votes here, Agave's
/// estimate would drift from real time (faster with short slots).
fn keep_wall_clock(bank: &Bank) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let clock = bank.clock();
    if now > clock.unix_timestamp {
        bank.set_sysvar_for_tests(&solana_sysvar::clock::Clock {
            unix_timestamp: now,
            ..clock
        });
    }
}

/// Token balances as a transaction's status meta reports them (the amount
/// with its mint's decimals, as Agave's ledger stores it).
pub fn token_balances(
    balances: Vec<solana_svm::transaction_balances::SvmTokenInfo>,
) -> Vec<TransactionTokenBalance> {
    balances
        .into_iter()
        .map(|balance| TransactionTokenBalance {
            account_index: balance.account_index,
            mint: balance.mint.to_string(),
            ui_token_amount: solana_account_decoder::parse_token::token_amount_to_ui_amount_v3(
                balance.amount,
                &solana_account_decoder::parse_account_data::SplTokenAdditionalDataV2::with_decimals(
                    balance.decimals,
                ),
            ),
            owner: balance.owner.to_string(),
            program_id: balance.program_id.to_string(),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn landed(price: u64, writable: &[Pubkey], ok: bool) -> (Signature, TransactionRecord) {
        // Distinct enough for a test: the price and the first account.
        let mut bytes = [0u8; 64];
        bytes[..8].copy_from_slice(&price.to_le_bytes());
        bytes[8..40].copy_from_slice(writable[0].as_ref());
        let signature = Signature::from(bytes);
        let meta = TransactionStatusMeta {
            status: if ok {
                Ok(())
            } else {
                Err(solana_transaction_error::TransactionError::AccountInUse)
            },
            ..TransactionStatusMeta::default()
        };
        let record = TransactionRecord {
            slot: 1,
            sequence: 0,
            index: 0,
            block_time: 0,
            transaction: VersionedTransaction::default(),
            meta,
            writable: writable.to_vec(),
            compute_unit_price: price,
        };
        (signature, record)
    }

    #[test]
    fn a_slot_reports_the_least_paid_per_account_and_the_most_over_those_asked() {
        let (vault, model, quiet) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let records: HashMap<Signature, TransactionRecord> = [
            landed(5_000, &[vault], true),
            landed(7_000, &[vault, model], true),
            landed(9_000, &[model], true),
            // Failed: it paid, but what it paid says nothing of what lands.
            landed(1, &[model], false),
        ]
        .into_iter()
        .collect();
        let signatures: Vec<Signature> = records.keys().copied().collect();
        let fees = SlotFees::of(&records, &signatures);
        assert_eq!(fees.fee(&[vault]), 5_000);
        assert_eq!(fees.fee(&[model]), 7_000);
        assert_eq!(fees.fee(&[vault, model, quiet]), 7_000);
        assert_eq!(fees.fee(&[quiet]), 0);
        assert_eq!(fees.fee(&[]), 5_000, "no account named: the least of all");
        // Only the slot's own transactions count.
        assert_eq!(SlotFees::of(&records, &signatures[..0]).fee(&[vault]), 0);
    }
}

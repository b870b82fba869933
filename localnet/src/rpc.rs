//! Solana JSON-RPC 2.0, answered as Agave answers it: the same result types
//! (from `solana-rpc-client-types`, the ones `RpcClient` decodes), the same
//! error codes and messages (`jsonrpc-core`, which Agave's RPC service is
//! built on, plus Agave's `RpcCustomError`), base58/base64 encodings,
//! `context.slot` on every contextual result, and `minContextSlot`.
use crate::chain::Chain;
use anchor_lang::prelude::Pubkey;
use jsonrpc_core::{Error, IoHandler, Params, Value};
use serde::{de::DeserializeOwned, Serialize};
use solana_account_decoder::{encode_ui_account, UiAccount, UiAccountEncoding};
use solana_account_decoder_client_types::token::UiTokenAmount;
use solana_hash::Hash;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::{
    config::{
        RpcAccountInfoConfig, RpcContextConfig, RpcEncodingConfigWrapper, RpcProgramAccountsConfig,
        RpcRequestAirdropConfig, RpcSendTransactionConfig, RpcSignatureStatusConfig,
        RpcSignaturesForAddressConfig, RpcSimulateTransactionConfig, RpcTransactionConfig,
    },
    filter::RpcFilterType,
    response::{
        OptionalContext, Response as RpcResponse, RpcBlockhash,
        RpcConfirmedTransactionStatusWithSignature, RpcKeyedAccount, RpcPrioritizationFee,
        RpcResponseContext, RpcSimulateTransactionResult, RpcVersionInfo,
    },
};
use solana_runtime::bank::{Bank, TransactionSimulationResult};
use solana_signature::Signature;
use solana_transaction::{
    versioned::{TransactionVersion, VersionedTransaction},
    TransactionVerificationMode,
};
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction,
    EncodedTransactionWithStatusMeta, TransactionBinaryEncoding, TransactionConfirmationStatus,
    TransactionStatus, UiCompiledInstruction, UiMessage, UiRawMessage, UiTransaction,
    UiTransactionEncoding,
};
use std::{any::type_name, str::FromStr, sync::Arc};

/// The Agave release whose RPC behaviour this server reproduces.
pub const SOLANA_CORE_VERSION: &str = "4.2.2";
/// Most accounts `getMultipleAccounts` takes, as in Agave.
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
/// Most signatures `getSignatureStatuses` takes, as in Agave.
const MAX_SIGNATURE_STATUSES: usize = 256;
/// Most accounts `getRecentPrioritizationFees` takes (Agave's limit).
const MAX_PRIORITIZATION_FEE_ACCOUNTS: usize = 128;
/// Largest base58 / base64 transaction text accepted (a 1232-byte packet).
const MAX_BASE58_SIZE: usize = 1683;
const MAX_BASE64_SIZE: usize = 1644;
const PACKET_DATA_SIZE: usize = 1232;

type RpcResult<T> = Result<T, Error>;

/// The JSON-RPC methods this localnet serves; anything else is answered
/// with the standard "Method not found".
pub const SERVED_METHODS: &[&str] = &[
    "getVersion",
    "getHealth",
    "getSlot",
    "getBlockHeight",
    "getEpochInfo",
    "getGenesisHash",
    "getLatestBlockhash",
    "isBlockhashValid",
    "getFeeForMessage",
    "getBalance",
    "getAccountInfo",
    "getMultipleAccounts",
    "getProgramAccounts",
    "getMinimumBalanceForRentExemption",
    "requestAirdrop",
    "sendTransaction",
    "simulateTransaction",
    "getSignatureStatuses",
    "getTransaction",
    "getSignaturesForAddress",
    "getTokenAccountBalance",
    "getRecentPrioritizationFees",
];

/// Builds the JSON-RPC handler over a chain.
pub fn handler(chain: Arc<Chain>) -> IoHandler {
    let mut io = IoHandler::new();
    macro_rules! method {
        ($name:literal, $arity:literal, $body:expr) => {{
            let chain = chain.clone();
            io.add_sync_method($name, move |params: Params| {
                let args = parse_params(params, $arity)?;
                let result = $body(&chain, args)?;
                serde_json::to_value(result).map_err(|err| Error::invalid_params(err.to_string()))
            });
        }};
    }
    method!(
        "getVersion",
        0,
        |_: &Chain, (): ()| RpcResult::Ok(version())
    );
    method!("getHealth", 0, |_: &Chain, (): ()| RpcResult::Ok("ok"));
    method!(
        "getSlot",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            RpcResult::Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.slot())
        }
    );
    method!("getBlockHeight", 1, |c: &Chain,
                                  (config,): (
        Option<RpcContextConfig>,
    )| {
        RpcResult::Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.block_height())
    });
    method!("getEpochInfo", 1, |c: &Chain,
                                (config,): (
        Option<RpcContextConfig>,
    )| {
        RpcResult::Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.get_epoch_info())
    });
    method!("getGenesisHash", 0, |c: &Chain, (): ()| RpcResult::Ok(
        c.genesis_hash().to_string()
    ));
    method!("getLatestBlockhash", 1, |c: &Chain,
                                      (config,): (
        Option<RpcContextConfig>,
    )| {
        let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
        let blockhash = bank.last_blockhash();
        let last_valid_block_height = bank
            .get_blockhash_last_valid_block_height(&blockhash)
            .expect("the bank's own blockhash is in its queue");
        RpcResult::Ok(with_context(
            &bank,
            RpcBlockhash {
                blockhash: blockhash.to_string(),
                last_valid_block_height,
            },
        ))
    });
    method!("isBlockhashValid", 2, |c: &Chain,
                                    (blockhash, config): (
        String,
        Option<RpcContextConfig>
    )| {
        let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
        let hash = Hash::from_str(&blockhash)
            .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))?;
        RpcResult::Ok(with_context(&bank, bank.is_blockhash_valid(&hash)))
    });
    method!("getFeeForMessage", 2, |c: &Chain,
                                    (data, config): (
        String,
        Option<RpcContextConfig>
    )| {
        let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
        let (_, message) = decode_and_deserialize::<solana_message::VersionedMessage>(
            data,
            TransactionBinaryEncoding::Base64,
        )?;
        RpcResult::Ok(with_context(&bank, fee_for_message(&bank, message)))
    });
    method!("getBalance", 2, |c: &Chain,
                              (address, config): (
        String,
        Option<RpcContextConfig>
    )| {
        let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
        let address = parse_pubkey(&address)?;
        RpcResult::Ok(with_context(&bank, bank.get_balance(&address)))
    });
    method!("getAccountInfo", 2, |c: &Chain,
                                  (address, config): (
        String,
        Option<RpcAccountInfoConfig>
    )| {
        let config = config.unwrap_or_default();
        let bank = context_bank(c, config.min_context_slot)?;
        let address = parse_pubkey(&address)?;
        let account = ui_account(&bank, &address, &config)?;
        RpcResult::Ok(with_context(&bank, account))
    });
    method!("getMultipleAccounts", 2, |c: &Chain,
                                       (addresses, config): (
        Vec<String>,
        Option<RpcAccountInfoConfig>
    )| {
        check_input_count(addresses.len(), MAX_MULTIPLE_ACCOUNTS)?;
        let config = config.unwrap_or_default();
        let bank = context_bank(c, config.min_context_slot)?;
        let accounts = addresses
            .iter()
            .map(|address| ui_account(&bank, &parse_pubkey(address)?, &config))
            .collect::<RpcResult<Vec<_>>>()?;
        RpcResult::Ok(with_context(&bank, accounts))
    });
    method!("getProgramAccounts", 2, |c: &Chain,
                                      (program, config): (
        String,
        Option<RpcProgramAccountsConfig>
    )| {
        let config = config.unwrap_or_default();
        let bank = context_bank(c, config.account_config.min_context_slot)?;
        let program = parse_pubkey(&program)?;
        let filters = config.filters.unwrap_or_default();
        for filter in &filters {
            filter
                .verify()
                .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))?;
        }
        let mut accounts = bank.get_program_accounts(&program).map_err(|err| {
            Error::from(RpcCustomError::ScanError {
                message: err.to_string(),
            })
        })?;
        accounts.retain(|(_, account)| {
            use solana_account::ReadableAccount;
            filters
                .iter()
                .all(|filter| matches_filter(filter, account.data()))
        });
        if config.sort_results.unwrap_or(true) {
            accounts.sort_by_key(|(address, _)| *address);
        }
        let keyed = accounts
            .iter()
            .map(|(address, account)| {
                Ok(RpcKeyedAccount {
                    pubkey: address.to_string(),
                    account: encode(address, account, &config.account_config)?,
                })
            })
            .collect::<RpcResult<Vec<_>>>()?;
        RpcResult::Ok(if config.with_context.unwrap_or(false) {
            OptionalContext::Context(with_context(&bank, keyed))
        } else {
            OptionalContext::NoContext(keyed)
        })
    });
    method!(
        "getMinimumBalanceForRentExemption",
        2,
        |c: &Chain, (len, _config): (usize, Option<RpcContextConfig>)| {
            RpcResult::Ok(c.bank().get_minimum_balance_for_rent_exemption(len))
        }
    );
    method!("requestAirdrop", 3, |c: &Chain,
                                  (address, lamports, _config): (
        String,
        u64,
        Option<RpcRequestAirdropConfig>
    )| {
        let address = parse_pubkey(&address)?;
        c.airdrop(&address, lamports)
            .map(|signature| signature.to_string())
            .map_err(|err| Error {
                code: jsonrpc_core::ErrorCode::InternalError,
                message: err.to_string(),
                data: None,
            })
    });
    method!("sendTransaction", 2, |c: &Chain,
                                   (data, config): (
        String,
        Option<RpcSendTransactionConfig>
    )| {
        send_transaction(c, data, config.unwrap_or_default())
    });
    method!("getRecentPrioritizationFees", 1, |c: &Chain,
                                               (addresses,): (
        Option<Vec<String>>,
    )| {
        let addresses = addresses.unwrap_or_default();
        check_input_count(addresses.len(), MAX_PRIORITIZATION_FEE_ACCOUNTS)?;
        let accounts = addresses
            .iter()
            .map(|text| {
                Pubkey::from_str(text)
                    .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))
            })
            .collect::<RpcResult<Vec<_>>>()?;
        RpcResult::Ok(
            c.recent_prioritization_fees(&accounts)
                .into_iter()
                .map(|(slot, prioritization_fee)| RpcPrioritizationFee {
                    slot,
                    prioritization_fee,
                })
                .collect::<Vec<_>>(),
        )
    });
    method!("simulateTransaction", 2, |c: &Chain,
                                       (data, config): (
        String,
        Option<RpcSimulateTransactionConfig>
    )| {
        simulate_transaction(c, data, config.unwrap_or_default())
    });
    method!("getSignatureStatuses", 2, |c: &Chain,
                                        (signatures, _config): (
        Vec<String>,
        Option<RpcSignatureStatusConfig>
    )| {
        check_input_count(signatures.len(), MAX_SIGNATURE_STATUSES)?;
        let bank = c.bank();
        let statuses = signatures
            .iter()
            .map(|text| {
                let signature = Signature::from_str(text)
                    .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))?;
                Ok(c.record(&signature).map(|record| {
                    let (confirmations, confirmation_status) = confirmation(record.slot, &bank);
                    TransactionStatus {
                        slot: record.slot,
                        confirmations,
                        status: record.meta.status.clone(),
                        err: record.meta.status.err(),
                        confirmation_status: Some(confirmation_status),
                    }
                }))
            })
            .collect::<RpcResult<Vec<_>>>()?;
        RpcResult::Ok(with_context(&bank, statuses))
    });
    method!("getTransaction", 2, |c: &Chain,
                                  (signature, config): (
        String,
        Option<RpcEncodingConfigWrapper<RpcTransactionConfig>>
    )| {
        let config = config
            .map(|wrapper| wrapper.convert_to_current())
            .unwrap_or_default();
        let signature = parse_signature(&signature)?;
        c.record(&signature)
            .map(|record| encode_transaction(record, &config))
            .transpose()
    });
    method!("getSignaturesForAddress", 2, |c: &Chain,
                                           (address, config): (
        String,
        Option<RpcSignaturesForAddressConfig>
    )| {
        let config = config.unwrap_or_default();
        let address = parse_pubkey(&address)?;
        let limit = config.limit.unwrap_or(MAX_SIGNATURES_FOR_ADDRESS);
        if limit == 0 || limit > MAX_SIGNATURES_FOR_ADDRESS {
            return Err(Error::invalid_params(format!(
                "Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}"
            )));
        }
        let before = config.before.as_deref().map(parse_signature).transpose()?;
        let until = config.until.as_deref().map(parse_signature).transpose()?;
        let bank = c.bank();
        // Newest first; `before` and `until` are exclusive bounds.
        let mut newest_first = c.signatures_for(&address);
        newest_first.reverse();
        let start = before
            .and_then(|before| {
                newest_first
                    .iter()
                    .position(|s| *s == before)
                    .map(|i| i + 1)
            })
            .unwrap_or(0);
        let statuses = newest_first[start..]
            .iter()
            .take_while(|signature| Some(**signature) != until)
            .take(limit)
            .filter_map(|signature| c.record(signature).map(|record| (signature, record)))
            .map(|(signature, record)| {
                let (_, confirmation_status) = confirmation(record.slot, &bank);
                RpcConfirmedTransactionStatusWithSignature {
                    signature: signature.to_string(),
                    slot: record.slot,
                    err: record.meta.status.clone().err().map(Into::into),
                    memo: None,
                    block_time: Some(record.block_time),
                    confirmation_status: Some(confirmation_status),
                    transaction_index: None,
                }
            })
            .collect::<Vec<_>>();
        RpcResult::Ok(statuses)
    });
    method!("getTokenAccountBalance", 2, |c: &Chain,
                                          (address, config): (
        String,
        Option<RpcContextConfig>
    )| {
        let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
        let address = parse_pubkey(&address)?;
        RpcResult::Ok(with_context(&bank, token_amount(&bank, &address)?))
    });
    io
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

/// Agave's largest page of `getSignaturesForAddress`.
const MAX_SIGNATURES_FOR_ADDRESS: usize = 1000;

/// How settled a transaction in `slot` is: the slot the localnet works on is
/// confirmed; every earlier slot is rooted, hence finalized.
fn confirmation(slot: u64, bank: &Bank) -> (Option<usize>, TransactionConfirmationStatus) {
    if slot < bank.slot() {
        (None, TransactionConfirmationStatus::Finalized)
    } else {
        (Some(0), TransactionConfirmationStatus::Confirmed)
    }
}

fn parse_signature(text: &str) -> RpcResult<Signature> {
    Signature::from_str(text)
        .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))
}

fn encode_transaction(
    record: crate::chain::TransactionRecord,
    config: &RpcTransactionConfig,
) -> RpcResult<EncodedConfirmedTransactionWithStatusMeta> {
    let version = match &record.transaction.message {
        solana_message::VersionedMessage::Legacy(_) => None,
        _ => {
            let supported = config.max_supported_transaction_version;
            if supported.is_none() {
                return Err(RpcCustomError::UnsupportedTransactionVersion(0).into());
            }
            Some(TransactionVersion::Number(0))
        }
    };
    let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Json);
    let transaction = match encoding.into_binary_encoding() {
        Some(binary) => {
            let wire = bincode::serialize(&record.transaction)
                .map_err(|err| Error::invalid_params(err.to_string()))?;
            EncodedTransaction::Binary(
                match binary {
                    TransactionBinaryEncoding::Base58 => bs58::encode(wire).into_string(),
                    TransactionBinaryEncoding::Base64 => {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.encode(wire)
                    }
                },
                binary,
            )
        }
        // `json` and `jsonParsed` are both answered with the raw JSON message.
        None => EncodedTransaction::Json(json_transaction(&record.transaction)),
    };
    Ok(EncodedConfirmedTransactionWithStatusMeta {
        slot: record.slot,
        transaction: EncodedTransactionWithStatusMeta {
            transaction,
            meta: Some(record.meta.into()),
            version,
        },
        block_time: Some(record.block_time),
        transaction_index: None,
    })
}

fn json_transaction(transaction: &VersionedTransaction) -> UiTransaction {
    let message = &transaction.message;
    let header = message.header();
    UiTransaction {
        signatures: transaction
            .signatures
            .iter()
            .map(ToString::to_string)
            .collect(),
        message: UiMessage::Raw(UiRawMessage {
            header: *header,
            account_keys: message
                .static_account_keys()
                .iter()
                .map(ToString::to_string)
                .collect(),
            recent_blockhash: message.recent_blockhash().to_string(),
            instructions: message
                .instructions()
                .iter()
                .map(|instruction| UiCompiledInstruction::from(instruction, None))
                .collect(),
            address_table_lookups: message
                .address_table_lookups()
                .map(|lookups| lookups.iter().map(Into::into).collect()),
            transaction_config: None,
        }),
    }
}

/// The balance of an SPL Token or Token-2022 account, with its mint's decimals.
fn token_amount(bank: &Bank, address: &Pubkey) -> RpcResult<UiTokenAmount> {
    use solana_account::ReadableAccount;
    let not_token = || Error::invalid_params("Invalid param: not a Token account");
    let account = bank
        .get_account(address)
        .ok_or_else(|| Error::invalid_params("Invalid param: could not find account"))?;
    let token_programs = [anchor_spl::token::ID, anchor_spl::token_2022::ID];
    if !token_programs.contains(account.owner()) || account.data().len() < 165 {
        return Err(not_token());
    }
    let data = account.data();
    let mint = Pubkey::try_from(&data[0..32]).map_err(|_| not_token())?;
    let amount = u64::from_le_bytes(data[64..72].try_into().expect("8 bytes"));
    let mint_account = bank
        .get_account(&mint)
        .ok_or_else(|| Error::invalid_params("Invalid param: could not find mint"))?;
    let decimals = *mint_account.data().get(44).ok_or_else(not_token)?;
    let ui_amount = amount as f64 / 10f64.powi(decimals as i32);
    Ok(UiTokenAmount {
        ui_amount: Some(ui_amount),
        decimals,
        amount: amount.to_string(),
        ui_amount_string: ui_amount_string(amount, decimals),
    })
}

/// `amount / 10^decimals` as a decimal string without trailing zeros.
fn ui_amount_string(amount: u64, decimals: u8) -> String {
    if decimals == 0 {
        return amount.to_string();
    }
    let digits = format!("{amount:0>width$}", width = decimals as usize + 1);
    let (whole, fraction) = digits.split_at(digits.len() - decimals as usize);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// Parses positional parameters, treating missing trailing ones as null (as
/// Agave's typed parameters do).
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

fn version() -> RpcVersionInfo {
    RpcVersionInfo {
        solana_core: SOLANA_CORE_VERSION.to_string(),
        feature_set: Some(feature_set_id()),
    }
}

/// A u32 that identifies the active feature set (as `getVersion` reports):
/// the first bytes of a hash over the sorted ids of every known feature.
fn feature_set_id() -> u32 {
    let mut ids: Vec<_> = agave_feature_set::FEATURE_NAMES.keys().copied().collect();
    ids.sort();
    let bytes: Vec<&[u8]> = ids.iter().map(|id| id.as_ref()).collect();
    let hash = solana_sha256_hasher::hashv(&bytes).to_bytes();
    u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]])
}

/// The bank to answer from, refusing if it is older than `minContextSlot`.
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

fn with_context<T: Serialize>(bank: &Bank, value: T) -> RpcResponse<T> {
    RpcResponse {
        context: RpcResponseContext::new(bank.slot()),
        value,
    }
}

fn parse_pubkey(text: &str) -> RpcResult<Pubkey> {
    Pubkey::from_str(text).map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))
}

fn ui_account(
    bank: &Bank,
    address: &Pubkey,
    config: &RpcAccountInfoConfig,
) -> RpcResult<Option<UiAccount>> {
    bank.get_account(address)
        .map(|account| encode(address, &account, config))
        .transpose()
}

fn encode(
    address: &Pubkey,
    account: &solana_account::AccountSharedData,
    config: &RpcAccountInfoConfig,
) -> RpcResult<UiAccount> {
    use solana_account::ReadableAccount;
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) && account.data().len() > 128
    {
        return Err(Error::invalid_params(
            "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
        ));
    }
    Ok(encode_ui_account(
        address,
        account,
        encoding,
        None,
        config.data_slice,
    ))
}

/// Whether account data passes a `getProgramAccounts` / `programSubscribe` filter.
pub(crate) fn matches_filter(filter: &RpcFilterType, data: &[u8]) -> bool {
    match filter {
        RpcFilterType::DataSize(size) => data.len() as u64 == *size,
        RpcFilterType::Memcmp(memcmp) => memcmp.bytes_match(data),
        RpcFilterType::TokenAccountState => {
            // An initialized SPL Token account (165 bytes, state byte 1 or 2).
            data.len() >= 165 && matches!(data[108], 1 | 2)
        }
    }
}

fn fee_for_message(bank: &Bank, message: solana_message::VersionedMessage) -> Option<u64> {
    let sanitized = match message {
        solana_message::VersionedMessage::Legacy(legacy) => {
            solana_message::SanitizedMessage::try_from_legacy_message(
                legacy,
                bank.get_reserved_account_keys(),
            )
            .ok()?
        }
        _ => return None,
    };
    bank.get_fee_for_message(&sanitized)
}

/// Decodes a base58/base64 wire transaction (or message) with Agave's size
/// limits and error messages.
fn decode_and_deserialize<T: DeserializeOwned>(
    encoded: String,
    encoding: TransactionBinaryEncoding,
) -> RpcResult<(Vec<u8>, T)> {
    let wire = match encoding {
        TransactionBinaryEncoding::Base58 => {
            if encoded.len() > MAX_BASE58_SIZE {
                return Err(Error::invalid_params(format!(
                    "base58 encoded {} too large: {} bytes (max: encoded/raw {}/{})",
                    type_name::<T>(),
                    encoded.len(),
                    MAX_BASE58_SIZE,
                    PACKET_DATA_SIZE
                )));
            }
            bs58::decode(encoded)
                .into_vec()
                .map_err(|err| Error::invalid_params(format!("invalid base58 encoding: {err:?}")))?
        }
        TransactionBinaryEncoding::Base64 => {
            use base64::Engine;
            if encoded.len() > MAX_BASE64_SIZE {
                return Err(Error::invalid_params(format!(
                    "base64 encoded {} too large: {} bytes (max: encoded/raw {}/{})",
                    type_name::<T>(),
                    encoded.len(),
                    MAX_BASE64_SIZE,
                    PACKET_DATA_SIZE
                )));
            }
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
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

fn binary_encoding(
    encoding: Option<UiTransactionEncoding>,
) -> RpcResult<TransactionBinaryEncoding> {
    let encoding = encoding.unwrap_or(UiTransactionEncoding::Base58);
    encoding.into_binary_encoding().ok_or_else(|| {
        Error::invalid_params(format!(
            "unsupported encoding: {encoding}. Supported encodings: base58, base64"
        ))
    })
}

fn simulation_result(result: TransactionSimulationResult) -> RpcSimulateTransactionResult {
    RpcSimulateTransactionResult {
        err: result.result.err().map(Into::into),
        logs: Some(result.logs),
        accounts: None,
        units_consumed: Some(result.units_consumed),
        loaded_accounts_data_size: Some(result.loaded_accounts_data_size),
        return_data: result.return_data.map(Into::into),
        inner_instructions: None,
        replacement_blockhash: None,
        fee: result.fee,
        pre_balances: result.pre_balances,
        post_balances: result.post_balances,
        pre_token_balances: None,
        post_token_balances: None,
        loaded_addresses: None,
    }
}

fn send_transaction(
    chain: &Chain,
    data: String,
    config: RpcSendTransactionConfig,
) -> RpcResult<String> {
    let encoding = binary_encoding(config.encoding)?;
    let (_, transaction) = decode_and_deserialize::<VersionedTransaction>(data, encoding)?;
    let bank = context_bank(chain, config.min_context_slot)?;
    let signature = *transaction.signatures.first().ok_or_else(|| {
        Error::invalid_params("invalid transaction: Transaction has no signatures")
    })?;
    if let Err(err) = bank.verify_transaction(
        transaction.clone(),
        TransactionVerificationMode::FullVerification,
    ) {
        return Err(match err {
            solana_transaction_error::TransactionError::SignatureFailure => {
                RpcCustomError::TransactionSignatureVerificationFailure.into()
            }
            other => Error::invalid_params(format!("invalid transaction: {other}")),
        });
    }
    if !config.skip_preflight {
        let simulation = chain.simulate(&transaction);
        if let Err(err) = simulation.result.clone() {
            return Err(RpcCustomError::SendTransactionPreflightFailure {
                message: format!("Transaction simulation failed: {err}"),
                result: simulation_result(simulation),
            }
            .into());
        }
    }
    chain.process(transaction).map_err(|err| Error {
        code: jsonrpc_core::ErrorCode::ServerError(-32002),
        message: format!("Transaction failed: {err}"),
        data: None,
    })?;
    Ok(signature.to_string())
}

fn simulate_transaction(
    chain: &Chain,
    data: String,
    config: RpcSimulateTransactionConfig,
) -> RpcResult<RpcResponse<RpcSimulateTransactionResult>> {
    let encoding = binary_encoding(config.encoding)?;
    let (_, mut transaction) = decode_and_deserialize::<VersionedTransaction>(data, encoding)?;
    let bank = context_bank(chain, config.min_context_slot)?;
    if config.sig_verify && config.replace_recent_blockhash {
        return Err(Error::invalid_params(
            "sigVerify may not be used with replaceRecentBlockhash",
        ));
    }
    let mut replacement = None;
    if config.replace_recent_blockhash {
        let blockhash = bank.last_blockhash();
        transaction.message.set_recent_blockhash(blockhash);
        replacement = Some(RpcBlockhash {
            blockhash: blockhash.to_string(),
            last_valid_block_height: bank
                .get_blockhash_last_valid_block_height(&blockhash)
                .unwrap_or_default(),
        });
    }
    if config.sig_verify {
        bank.verify_transaction(
            transaction.clone(),
            TransactionVerificationMode::FullVerification,
        )
        .map_err(|_| Error::from(RpcCustomError::TransactionSignatureVerificationFailure))?;
    }
    let simulation = chain.simulate_unverified(&transaction);
    let mut result = simulation_result(simulation);
    result.replacement_blockhash = replacement;
    Ok(with_context(&bank, result))
}

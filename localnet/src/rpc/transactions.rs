//! Transactions: fees, airdrops, sending and simulating, statuses, history
//! and prioritization fees.
use super::{
    accounts::encoded_account, check_input_count, check_is_at_least_confirmed, context_bank,
    decode_and_deserialize, parse_pubkey, parse_signature, with_context, Methods, RpcResult,
};
use crate::chain::{token_balances, Chain, Simulation, TransactionRecord};
use anchor_lang::prelude::Pubkey;
use jsonrpc_core::{Error, ErrorCode};
use solana_account_decoder::UiAccountEncoding;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::{
    config::{
        RpcContextConfig, RpcEncodingConfigWrapper, RpcRequestAirdropConfig,
        RpcSendTransactionConfig, RpcSignatureStatusConfig, RpcSignaturesForAddressConfig,
        RpcSimulateTransactionConfig, RpcTransactionConfig,
    },
    response::{
        RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcPrioritizationFee,
        RpcSimulateTransactionResult,
    },
};
use solana_runtime::bank::Bank;
use solana_transaction::{versioned::VersionedTransaction, TransactionVerificationMode};
use solana_transaction_status::{
    map_inner_instructions, parse_ui_inner_instructions, ConfirmedTransactionWithStatusMeta,
    EncodeError, EncodedConfirmedTransactionWithStatusMeta, TransactionWithStatusMeta,
    VersionedTransactionWithStatusMeta,
};
use solana_transaction_status_client_types::{
    TransactionBinaryEncoding, TransactionConfirmationStatus, TransactionStatus, UiLoadedAddresses,
    UiTransactionEncoding,
};
use std::collections::HashMap;

/// Most signatures `getSignatureStatuses` takes, as in Agave.
const MAX_SIGNATURE_STATUSES: usize = 256;
/// Most accounts `getRecentPrioritizationFees` takes (Agave's limit).
const MAX_PRIORITIZATION_FEE_ACCOUNTS: usize = 128;
/// Agave's largest page of `getSignaturesForAddress`.
const MAX_SIGNATURES_FOR_ADDRESS: usize = 1000;

pub(super) fn register(methods: &mut Methods) {
    methods.add(
        "getFeeForMessage",
        2,
        |c: &Chain, (data, config): (String, Option<RpcContextConfig>)| {
            let (_, message) = decode_and_deserialize::<solana_message::VersionedMessage>(
                data,
                TransactionBinaryEncoding::Base64,
            )?;
            let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
            Ok(with_context(&bank, fee_for_message(&bank, message)?))
        },
    );
    methods.add(
        "requestAirdrop",
        3,
        |c: &Chain,
         (address, lamports, _config): (String, u64, Option<RpcRequestAirdropConfig>)| {
            let address = parse_pubkey(&address)?;
            c.airdrop(&address, lamports)
                .map(|signature| signature.to_string())
                .map_err(|err| Error {
                    code: ErrorCode::InternalError,
                    message: err.to_string(),
                    data: None,
                })
        },
    );
    methods.add(
        "sendTransaction",
        2,
        |c: &Chain, (data, config): (String, Option<RpcSendTransactionConfig>)| {
            send_transaction(c, data, config.unwrap_or_default())
        },
    );
    methods.add(
        "simulateTransaction",
        2,
        |c: &Chain, (data, config): (String, Option<RpcSimulateTransactionConfig>)| {
            simulate_transaction(c, data, config.unwrap_or_default())
        },
    );
    methods.add(
        "getSignatureStatuses",
        2,
        |c: &Chain, (signatures, _config): (Vec<String>, Option<RpcSignatureStatusConfig>)| {
            check_input_count(signatures.len(), MAX_SIGNATURE_STATUSES)?;
            let bank = c.bank();
            let statuses = signatures
                .iter()
                .map(|text| {
                    let signature = parse_signature(text)?;
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
            Ok(with_context(&bank, statuses))
        },
    );
    methods.add(
        "getTransaction",
        2,
        |c: &Chain,
         (signature, config): (
            String,
            Option<RpcEncodingConfigWrapper<RpcTransactionConfig>>,
        )| {
            let config = config
                .map(|wrapper| wrapper.convert_to_current())
                .unwrap_or_default();
            check_is_at_least_confirmed(config.commitment)?;
            let signature = parse_signature(&signature)?;
            c.record(&signature)
                .map(|record| encode_confirmed_transaction(record, &config))
                .transpose()
        },
    );
    methods.add(
        "getSignaturesForAddress",
        2,
        |c: &Chain, (address, config): (String, Option<RpcSignaturesForAddressConfig>)| {
            signatures_for_address(c, &parse_pubkey(&address)?, config.unwrap_or_default())
        },
    );
    methods.add(
        "getRecentPrioritizationFees",
        1,
        |c: &Chain, (addresses,): (Option<Vec<String>>,)| {
            let addresses = addresses.unwrap_or_default();
            check_input_count(addresses.len(), MAX_PRIORITIZATION_FEE_ACCOUNTS)?;
            let accounts = addresses
                .iter()
                .map(|text| parse_pubkey(text))
                .collect::<RpcResult<Vec<_>>>()?;
            Ok(c.recent_prioritization_fees(&accounts)
                .into_iter()
                .map(|(slot, prioritization_fee)| RpcPrioritizationFee {
                    slot,
                    prioritization_fee,
                })
                .collect::<Vec<_>>())
        },
    );
}

/// How settled a transaction in `slot` is: the slot the localnet works on is
/// confirmed; every earlier slot is rooted, hence finalized.
fn confirmation(slot: u64, bank: &Bank) -> (Option<usize>, TransactionConfirmationStatus) {
    if slot < bank.slot() {
        (None, TransactionConfirmationStatus::Finalized)
    } else {
        (Some(0), TransactionConfirmationStatus::Confirmed)
    }
}

/// A processed transaction with its status meta, as one entry of a block
/// or of `getTransaction` (Agave's own encoder, `jsonParsed` included).
pub(super) fn with_meta(record: TransactionRecord) -> VersionedTransactionWithStatusMeta {
    VersionedTransactionWithStatusMeta {
        transaction: record.transaction,
        meta: record.meta,
    }
}

/// What an encoder refuses, as Agave answers it.
pub(super) fn encode_error(err: EncodeError) -> Error {
    match err {
        EncodeError::UnsupportedTransactionVersion(version) => {
            RpcCustomError::UnsupportedTransactionVersion(version).into()
        }
    }
}

fn encode_confirmed_transaction(
    record: TransactionRecord,
    config: &RpcTransactionConfig,
) -> RpcResult<EncodedConfirmedTransactionWithStatusMeta> {
    let confirmed = ConfirmedTransactionWithStatusMeta {
        slot: record.slot,
        block_time: Some(record.block_time),
        index: record.index,
        tx_with_meta: TransactionWithStatusMeta::Complete(with_meta(record)),
    };
    confirmed
        .encode(
            config.encoding.unwrap_or(UiTransactionEncoding::Json),
            config.max_supported_transaction_version,
        )
        .map_err(encode_error)
}

fn signatures_for_address(
    chain: &Chain,
    address: &Pubkey,
    config: RpcSignaturesForAddressConfig,
) -> RpcResult<Vec<RpcConfirmedTransactionStatusWithSignature>> {
    let limit = config.limit.unwrap_or(MAX_SIGNATURES_FOR_ADDRESS);
    if limit == 0 || limit > MAX_SIGNATURES_FOR_ADDRESS {
        return Err(Error::invalid_params(format!(
            "Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}"
        )));
    }
    let before = config.before.as_deref().map(parse_signature).transpose()?;
    let until = config.until.as_deref().map(parse_signature).transpose()?;
    check_is_at_least_confirmed(config.commitment)?;
    let bank = context_bank(chain, config.min_context_slot)?;
    // Newest first; `before` and `until` are exclusive bounds, and must be
    // in the address's history (Agave without long-term storage).
    let mut newest_first = chain.signatures_for(address);
    newest_first.reverse();
    for bound in before.iter().chain(&until) {
        if !newest_first.contains(bound) {
            return Err(RpcCustomError::FilterTransactionNotFound {
                signature: bound.to_string(),
            }
            .into());
        }
    }
    let start = before
        .and_then(|before| newest_first.iter().position(|s| *s == before))
        .map_or(0, |i| i + 1);
    Ok(newest_first[start..]
        .iter()
        .take_while(|signature| Some(**signature) != until)
        .take(limit)
        .filter_map(|signature| chain.record(signature).map(|record| (signature, record)))
        .map(|(signature, record)| {
            let (_, confirmation_status) = confirmation(record.slot, &bank);
            RpcConfirmedTransactionStatusWithSignature {
                signature: signature.to_string(),
                slot: record.slot,
                err: record.meta.status.clone().err().map(Into::into),
                memo: None,
                block_time: Some(record.block_time),
                confirmation_status: Some(confirmation_status),
                transaction_index: Some(record.index),
            }
        })
        .collect())
}

/// A message's fee, its lookup tables loaded (legacy and v0 alike), as
/// Agave 4.2 computes it; a message that does not sanitize is refused.
fn fee_for_message(
    bank: &Bank,
    message: solana_message::VersionedMessage,
) -> RpcResult<Option<u64>> {
    let invalid = |err: &dyn std::fmt::Display| {
        Error::invalid_params(format!("invalid transaction message: {err}"))
    };
    let sanitized = solana_message::SanitizedVersionedMessage::try_from(message)
        .map_err(|err| invalid(&err))?;
    let sanitized = solana_message::SanitizedMessage::try_new(
        sanitized,
        bank,
        bank.get_reserved_account_keys(),
    )
    .map_err(|err| invalid(&err))?;
    Ok(bank.get_fee_for_message(&sanitized))
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

fn send_transaction(
    chain: &Chain,
    data: String,
    config: RpcSendTransactionConfig,
) -> RpcResult<String> {
    let encoding = binary_encoding(config.encoding)?;
    let (_, transaction) = decode_and_deserialize::<VersionedTransaction>(data, encoding)?;
    context_bank(chain, config.min_context_slot)?;
    let signature = *transaction.signatures.first().ok_or_else(|| {
        Error::invalid_params("invalid transaction: Transaction has no signatures")
    })?;
    if config.skip_preflight {
        // Unchecked, it goes straight to the bank; one the bank cannot
        // execute at all is answered below rather than dropped.
        invalid_transaction_if_unsanitary(chain, &transaction)?;
    } else {
        let simulation = chain
            .simulate(&transaction, true, false)
            .map_err(invalid_transaction)?
            .result;
        if let Err(err) = simulation.result {
            // Agave's preflight failure: the simulation without balances.
            return Err(RpcCustomError::SendTransactionPreflightFailure {
                message: format!("Transaction simulation failed: {err}"),
                result: RpcSimulateTransactionResult {
                    err: Some(err.into()),
                    logs: Some(simulation.logs),
                    accounts: None,
                    units_consumed: Some(simulation.units_consumed),
                    loaded_accounts_data_size: Some(simulation.loaded_accounts_data_size),
                    return_data: simulation.return_data.map(Into::into),
                    inner_instructions: None,
                    replacement_blockhash: None,
                    fee: simulation.fee,
                    pre_balances: None,
                    post_balances: None,
                    pre_token_balances: None,
                    post_token_balances: None,
                    loaded_addresses: None,
                },
            }
            .into());
        }
    }
    chain.process(transaction).map_err(|err| Error {
        code: ErrorCode::ServerError(-32002),
        message: format!("Transaction failed: {err}"),
        data: None,
    })?;
    Ok(signature.to_string())
}

/// Agave's answer to a transaction that does not sanitize (bad lookup
/// tables, malformed message): invalid parameters.
fn invalid_transaction(err: solana_transaction_error::TransactionError) -> Error {
    Error::invalid_params(format!("invalid transaction: {err}"))
}

/// With `skipPreflight`, a bad signature is still refused (a validator's
/// signature verification stage drops it; here the sender is told).
fn invalid_transaction_if_unsanitary(
    chain: &Chain,
    transaction: &VersionedTransaction,
) -> RpcResult<()> {
    match chain.bank().verify_transaction(
        transaction.clone(),
        TransactionVerificationMode::FullVerification,
    ) {
        Ok(_) => Ok(()),
        Err(solana_transaction_error::TransactionError::SignatureFailure) => {
            Err(RpcCustomError::TransactionSignatureVerificationFailure.into())
        }
        Err(other) => Err(invalid_transaction(other)),
    }
}

fn simulate_transaction(
    chain: &Chain,
    data: String,
    config: RpcSimulateTransactionConfig,
) -> RpcResult<solana_rpc_client_types::response::Response<RpcSimulateTransactionResult>> {
    let encoding = binary_encoding(config.encoding)?;
    let (_, mut transaction) = decode_and_deserialize::<VersionedTransaction>(data, encoding)?;
    let bank = context_bank(chain, config.min_context_slot)?;
    let mut replacement = None;
    if config.replace_recent_blockhash {
        if config.sig_verify {
            return Err(Error::invalid_params(
                "sigVerify may not be used with replaceRecentBlockhash",
            ));
        }
        let blockhash = bank.last_blockhash();
        transaction.message.set_recent_blockhash(blockhash);
        replacement = Some(RpcBlockhash {
            blockhash: blockhash.to_string(),
            last_valid_block_height: bank
                .get_blockhash_last_valid_block_height(&blockhash)
                .expect("the bank's own blockhash is in its queue"),
        });
    }
    let Simulation {
        result: simulation,
        account_keys,
        loaded_addresses,
    } = chain
        .simulate(&transaction, config.sig_verify, config.inner_instructions)
        .map_err(invalid_transaction)?;
    let accounts = match config.accounts {
        None => None,
        Some(wanted) => {
            let encoding = wanted.encoding.unwrap_or(UiAccountEncoding::Base64);
            if matches!(
                encoding,
                UiAccountEncoding::Binary | UiAccountEncoding::Base58
            ) {
                return Err(Error::invalid_params("base58 encoding not supported"));
            }
            if wanted.addresses.len() > account_keys.len() {
                return Err(Error::invalid_params(format!(
                    "Too many accounts provided; max {}",
                    account_keys.len()
                )));
            }
            if simulation.result.is_err() {
                Some(vec![None; wanted.addresses.len()])
            } else {
                let post_simulation: HashMap<Pubkey, solana_account::AccountSharedData> =
                    simulation
                        .post_simulation_accounts
                        .iter()
                        .cloned()
                        .collect();
                Some(
                    wanted
                        .addresses
                        .iter()
                        .map(|address| {
                            encoded_account(
                                &bank,
                                &parse_pubkey(address)?,
                                encoding,
                                None,
                                Some(&post_simulation),
                            )
                        })
                        .collect::<RpcResult<Vec<_>>>()?,
                )
            }
        }
    };
    let keys = solana_message::AccountKeys::new(&account_keys, None);
    let token_balances_of = |balances: Option<Vec<_>>| {
        balances.map(|balances| {
            token_balances(balances)
                .into_iter()
                .map(Into::into)
                .collect()
        })
    };
    Ok(with_context(
        &bank,
        RpcSimulateTransactionResult {
            err: simulation.result.err().map(Into::into),
            logs: Some(simulation.logs),
            accounts,
            units_consumed: Some(simulation.units_consumed),
            loaded_accounts_data_size: Some(simulation.loaded_accounts_data_size),
            return_data: simulation.return_data.map(Into::into),
            inner_instructions: simulation.inner_instructions.map(|inner| {
                map_inner_instructions(inner)
                    .map(|instructions| parse_ui_inner_instructions(instructions, &keys))
                    .collect()
            }),
            replacement_blockhash: replacement,
            fee: simulation.fee,
            pre_balances: simulation.pre_balances,
            post_balances: simulation.post_balances,
            pre_token_balances: token_balances_of(simulation.pre_token_balances),
            post_token_balances: token_balances_of(simulation.post_token_balances),
            loaded_addresses: Some(UiLoadedAddresses::from(&loaded_addresses)),
        },
    ))
}

//! Accounts: balances, account data in every encoding, program scans.
use super::{
    check_input_count, context_bank, parse_pubkey, tokens, with_context, Methods, RpcResult,
};
use crate::chain::Chain;
use anchor_lang::prelude::Pubkey;
use jsonrpc_core::{Error, ErrorCode};
use solana_account::{AccountSharedData, ReadableAccount};
use solana_account_decoder::{
    encode_ui_account, parse_token::is_known_spl_token_id, UiAccount, UiAccountEncoding,
    UiDataSliceConfig, MAX_BASE58_BYTES,
};
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::{
    config::{RpcAccountInfoConfig, RpcContextConfig, RpcProgramAccountsConfig},
    filter::RpcFilterType,
    response::{OptionalContext, RpcKeyedAccount},
};
use solana_runtime::bank::Bank;
use std::collections::HashMap;

/// Most accounts `getMultipleAccounts` takes, as in Agave.
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
/// Most filters `getProgramAccounts` takes, as in Agave.
pub(super) const MAX_GET_PROGRAM_ACCOUNT_FILTERS: usize = 4;

pub(super) fn register(methods: &mut Methods) {
    methods.add(
        "getBalance",
        2,
        |c: &Chain, (address, config): (String, Option<RpcContextConfig>)| {
            let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
            let address = parse_pubkey(&address)?;
            Ok(with_context(&bank, bank.get_balance(&address)))
        },
    );
    methods.add(
        "getAccountInfo",
        2,
        |c: &Chain, (address, config): (String, Option<RpcAccountInfoConfig>)| {
            let config = config.unwrap_or_default();
            let bank = context_bank(c, config.min_context_slot)?;
            let address = parse_pubkey(&address)?;
            let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
            let account = encoded_account(&bank, &address, encoding, config.data_slice, None)?;
            Ok(with_context(&bank, account))
        },
    );
    methods.add(
        "getMultipleAccounts",
        2,
        |c: &Chain, (addresses, config): (Vec<String>, Option<RpcAccountInfoConfig>)| {
            check_input_count(addresses.len(), MAX_MULTIPLE_ACCOUNTS)?;
            let config = config.unwrap_or_default();
            let bank = context_bank(c, config.min_context_slot)?;
            let encoding = config.encoding.unwrap_or(UiAccountEncoding::Base64);
            let accounts = addresses
                .iter()
                .map(|address| {
                    encoded_account(
                        &bank,
                        &parse_pubkey(address)?,
                        encoding,
                        config.data_slice,
                        None,
                    )
                })
                .collect::<RpcResult<Vec<_>>>()?;
            Ok(with_context(&bank, accounts))
        },
    );
    methods.add(
        "getProgramAccounts",
        2,
        |c: &Chain, (program, config): (String, Option<RpcProgramAccountsConfig>)| {
            program_accounts(c, &parse_pubkey(&program)?, config.unwrap_or_default())
        },
    );
}

fn program_accounts(
    chain: &Chain,
    program: &Pubkey,
    config: RpcProgramAccountsConfig,
) -> RpcResult<OptionalContext<Vec<RpcKeyedAccount>>> {
    let bank = context_bank(chain, config.account_config.min_context_slot)?;
    let filters = config.filters.unwrap_or_default();
    if filters.len() > MAX_GET_PROGRAM_ACCOUNT_FILTERS {
        return Err(Error::invalid_params(format!(
            "Too many filters provided; max {MAX_GET_PROGRAM_ACCOUNT_FILTERS}"
        )));
    }
    for filter in &filters {
        filter
            .verify()
            .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))?;
    }
    let encoding = config
        .account_config
        .encoding
        .unwrap_or(UiAccountEncoding::Binary);
    let data_slice = config.account_config.data_slice;
    let accounts = scan(
        &bank,
        program,
        &filters,
        config.sort_results.unwrap_or(true),
    )?;
    let keyed = if is_known_spl_token_id(program) && encoding == UiAccountEncoding::JsonParsed {
        tokens::parsed_token_accounts(&bank, accounts)
    } else {
        accounts
            .into_iter()
            .map(|(address, account)| {
                Ok(RpcKeyedAccount {
                    pubkey: address.to_string(),
                    account: encode_account(&address, &account, encoding, data_slice)?,
                })
            })
            .collect::<RpcResult<Vec<_>>>()?
    };
    Ok(if config.with_context.unwrap_or(false) {
        OptionalContext::Context(with_context(&bank, keyed))
    } else {
        OptionalContext::NoContext(keyed)
    })
}

/// The accounts `program` owns that pass every filter, by address when `sorted`.
pub(super) fn scan(
    bank: &Bank,
    program: &Pubkey,
    filters: &[RpcFilterType],
    sorted: bool,
) -> RpcResult<Vec<(Pubkey, AccountSharedData)>> {
    let mut accounts = bank.get_program_accounts(program).map_err(|err| {
        Error::from(RpcCustomError::ScanError {
            message: err.to_string(),
        })
    })?;
    accounts.retain(|(_, account)| {
        account.owner() == program
            && filters
                .iter()
                .all(|filter| matches_filter(filter, account.data()))
    });
    if sorted {
        accounts.sort_by_key(|(address, _)| *address);
    }
    Ok(accounts)
}

/// An account as Agave's RPC encodes it (`get_encoded_account`): a token
/// account or mint asked for as `jsonParsed` is parsed with its mint's
/// decimals, looked up in `overwrites` first (a simulation's accounts).
pub(super) fn encoded_account(
    bank: &Bank,
    address: &Pubkey,
    encoding: UiAccountEncoding,
    data_slice: Option<UiDataSliceConfig>,
    overwrites: Option<&HashMap<Pubkey, AccountSharedData>>,
) -> RpcResult<Option<UiAccount>> {
    let account = overwrites
        .and_then(|overwrites| overwrites.get(address).cloned())
        .or_else(|| bank.get_account(address));
    account
        .map(|account| {
            if is_known_spl_token_id(account.owner()) && encoding == UiAccountEncoding::JsonParsed {
                Ok(tokens::parsed_token_account(
                    bank, address, &account, overwrites,
                ))
            } else {
                encode_account(address, &account, encoding, data_slice)
            }
        })
        .transpose()
}

/// An account as a PubSub notification carries it (Agave's
/// `filter_account_result`): `jsonParsed` token accounts with their mint's
/// decimals; no size limit on base58.
pub(crate) fn notified_account(
    bank: &Bank,
    address: &Pubkey,
    account: &AccountSharedData,
    encoding: UiAccountEncoding,
    data_slice: Option<UiDataSliceConfig>,
) -> UiAccount {
    if is_known_spl_token_id(account.owner()) && encoding == UiAccountEncoding::JsonParsed {
        tokens::parsed_token_account(bank, address, account, None)
    } else {
        encode_ui_account(address, account, encoding, None, data_slice)
    }
}

/// An account in `encoding`, refusing base58 for more than 128 bytes as
/// Agave does (`encode_account`).
pub(super) fn encode_account(
    address: &Pubkey,
    account: &AccountSharedData,
    encoding: UiAccountEncoding,
    data_slice: Option<UiDataSliceConfig>,
) -> RpcResult<UiAccount> {
    let len = account.data().len();
    let encoded_len = data_slice
        .map(|slice| slice.length.min(len.saturating_sub(slice.offset)))
        .unwrap_or(len);
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) && encoded_len > MAX_BASE58_BYTES
    {
        return Err(Error {
            code: ErrorCode::InvalidRequest,
            message: format!(
                "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding."
            ),
            data: None,
        });
    }
    Ok(encode_ui_account(
        address, account, encoding, None, data_slice,
    ))
}

/// Whether account data passes a `getProgramAccounts` / `programSubscribe`
/// filter, as Agave's `filter_allows` decides.
pub(crate) fn matches_filter(filter: &RpcFilterType, data: &[u8]) -> bool {
    match filter {
        RpcFilterType::DataSize(size) => data.len() as u64 == *size,
        RpcFilterType::Memcmp(memcmp) => memcmp.bytes_match(data),
        RpcFilterType::TokenAccountState => is_token_account(data),
    }
}

/// An initialized token account, SPL Token's or Token-2022's with
/// extensions (`spl_generic_token::token_2022::Account::valid_account_data`).
pub(super) fn is_token_account(data: &[u8]) -> bool {
    /// The size of an SPL Token account and of a multisig, and where the
    /// account's state byte is (0: uninitialized).
    const ACCOUNT_LEN: usize = 165;
    const MULTISIG_LEN: usize = 355;
    const STATE_OFFSET: usize = 108;
    /// Token-2022's account-type byte for an account (after the base state).
    const ACCOUNT_TYPE_ACCOUNT: u8 = 2;
    let initialized = data.get(STATE_OFFSET).is_some_and(|state| *state != 0);
    let with_extensions = data.len() > ACCOUNT_LEN
        && data.len() != MULTISIG_LEN
        && data.get(ACCOUNT_LEN) == Some(&ACCOUNT_TYPE_ACCOUNT);
    initialized && (data.len() == ACCOUNT_LEN || with_extensions)
}

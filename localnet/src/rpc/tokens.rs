//! SPL Token and Token-2022: balances, a wallet's token accounts, supply and
//! largest holders, and `jsonParsed` accounts with their mint's decimals
//! (Agave's `parsed_token_accounts`).
use super::{
    accounts::{encode_account, scan, MAX_GET_PROGRAM_ACCOUNT_FILTERS},
    context_bank, parse_pubkey, with_context, Methods, RpcResult,
};
use crate::chain::Chain;
use anchor_lang::prelude::Pubkey;
use jsonrpc_core::Error;
use solana_account::{AccountSharedData, ReadableAccount};
use solana_account_decoder::{
    encode_ui_account,
    parse_account_data::{AccountAdditionalDataV3, SplTokenAdditionalDataV2},
    parse_token::{get_token_account_mint, is_known_spl_token_id, token_amount_to_ui_amount_v3},
    UiAccount, UiAccountData, UiAccountEncoding,
};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_types::{
    config::{RpcAccountInfoConfig, RpcContextConfig, RpcTokenAccountsFilter},
    filter::{Memcmp, RpcFilterType},
    response::{RpcKeyedAccount, RpcTokenAccountBalance},
};
use solana_runtime::bank::Bank;
use spl_token_2022_interface::{
    extension::{
        interest_bearing_mint::InterestBearingConfig, scaled_ui_amount::ScaledUiAmountConfig,
        BaseStateWithExtensions, StateWithExtensions,
    },
    state::{Account as TokenAccount, Mint},
};
use std::collections::HashMap;

/// How many holders `getTokenLargestAccounts` lists (Agave's `NUM_LARGEST_ACCOUNTS`).
const NUM_LARGEST_ACCOUNTS: usize = 20;
/// Where a token account keeps its owner and its delegate (a `COption`:
/// a 4-byte tag, then the key).
const OWNER_OFFSET: usize = 32;
const DELEGATE_OFFSET: usize = 72;
/// The native mint (wrapped SOL), which has no account to read decimals from.
const NATIVE_MINT: Pubkey = anchor_lang::pubkey!("So11111111111111111111111111111111111111112");
const NATIVE_MINT_DECIMALS: u8 = 9;

pub(super) fn register(methods: &mut Methods) {
    methods.add(
        "getTokenAccountBalance",
        2,
        |c: &Chain, (address, config): (String, Option<RpcContextConfig>)| {
            let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
            let address = parse_pubkey(&address)?;
            let not_token = || Error::invalid_params("Invalid param: not a Token account");
            let account = bank
                .get_account(&address)
                .ok_or_else(|| Error::invalid_params("Invalid param: could not find account"))?;
            if !is_known_spl_token_id(account.owner()) {
                return Err(not_token());
            }
            let token = StateWithExtensions::<TokenAccount>::unpack(account.data())
                .map_err(|_| not_token())?;
            let (_, mint_data) = mint_owner_and_data(&bank, &token.base.mint)?;
            Ok(with_context(
                &bank,
                token_amount_to_ui_amount_v3(token.base.amount, &mint_data),
            ))
        },
    );
    methods.add(
        "getTokenSupply",
        2,
        |c: &Chain, (mint, _commitment): (String, Option<CommitmentConfig>)| {
            let mint = parse_pubkey(&mint)?;
            let bank = c.bank();
            let account = bank
                .get_account(&mint)
                .ok_or_else(|| Error::invalid_params("Invalid param: could not find account"))?;
            if !is_known_spl_token_id(account.owner()) {
                return Err(Error::invalid_params("Invalid param: not a Token mint"));
            }
            let not_a_mint = || Error::invalid_params("Invalid param: mint could not be unpacked");
            let supply = StateWithExtensions::<Mint>::unpack(account.data())
                .map_err(|_| not_a_mint())?
                .base
                .supply;
            let mint_data = mint_data(&bank, account.data()).map_err(|_| not_a_mint())?;
            Ok(with_context(
                &bank,
                token_amount_to_ui_amount_v3(supply, &mint_data),
            ))
        },
    );
    methods.add(
        "getTokenLargestAccounts",
        2,
        |c: &Chain, (mint, _commitment): (String, Option<CommitmentConfig>)| {
            let mint = parse_pubkey(&mint)?;
            let bank = c.bank();
            let (program, mint_data) = mint_owner_and_data(&bank, &mint)?;
            if !is_known_spl_token_id(&program) {
                return Err(Error::invalid_params("Invalid param: not a Token mint"));
            }
            let holders = scan(
                &bank,
                &program,
                &[mint_filter(&mint), RpcFilterType::TokenAccountState],
                false,
            )?;
            let mut balances: Vec<(u64, Pubkey)> = holders
                .iter()
                .map(|(address, account)| {
                    let amount = StateWithExtensions::<TokenAccount>::unpack(account.data())
                        .map(|token| token.base.amount)
                        .unwrap_or(0);
                    (amount, *address)
                })
                .collect();
            balances.sort_by(|a, b| b.cmp(a));
            balances.truncate(NUM_LARGEST_ACCOUNTS);
            Ok(with_context(
                &bank,
                balances
                    .into_iter()
                    .map(|(amount, address)| RpcTokenAccountBalance {
                        address: address.to_string(),
                        amount: token_amount_to_ui_amount_v3(amount, &mint_data),
                    })
                    .collect::<Vec<_>>(),
            ))
        },
    );
    methods.add(
        "getTokenAccountsByOwner",
        3,
        |c: &Chain,
         (owner, filter, config): (
            String,
            RpcTokenAccountsFilter,
            Option<RpcAccountInfoConfig>,
        )| {
            let owner = parse_pubkey(&owner)?;
            token_accounts(
                c,
                filter,
                config.unwrap_or_default(),
                vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                    OWNER_OFFSET,
                    owner.to_bytes().to_vec(),
                ))],
            )
        },
    );
    methods.add(
        "getTokenAccountsByDelegate",
        3,
        |c: &Chain,
         (delegate, filter, config): (
            String,
            RpcTokenAccountsFilter,
            Option<RpcAccountInfoConfig>,
        )| {
            let delegate = parse_pubkey(&delegate)?;
            // `COption::Some(delegate)`: the tag 1 (u32), then the key.
            let mut some_delegate = 1u32.to_le_bytes().to_vec();
            some_delegate.extend_from_slice(&delegate.to_bytes());
            token_accounts(
                c,
                filter,
                config.unwrap_or_default(),
                vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                    DELEGATE_OFFSET,
                    some_delegate,
                ))],
            )
        },
    );
}

/// The token accounts `filter` (a mint or a token program) and `by` (an
/// owner or a delegate) select, as `getTokenAccountsByOwner` and
/// `getTokenAccountsByDelegate` list them.
fn token_accounts(
    chain: &Chain,
    filter: RpcTokenAccountsFilter,
    config: RpcAccountInfoConfig,
    mut by: Vec<RpcFilterType>,
) -> RpcResult<solana_rpc_client_types::response::Response<Vec<RpcKeyedAccount>>> {
    // Agave checks the filter's key before choosing the bank.
    let key = match &filter {
        RpcTokenAccountsFilter::Mint(key) | RpcTokenAccountsFilter::ProgramId(key) => {
            parse_pubkey(key)?
        }
    };
    let bank = context_bank(chain, config.min_context_slot)?;
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    let (program, mint) = match filter {
        RpcTokenAccountsFilter::Mint(_) => {
            let mint = key;
            let (program, _) = mint_owner_and_data(&bank, &mint)?;
            if !is_known_spl_token_id(&program) {
                return Err(Error::invalid_params("Invalid param: not a Token mint"));
            }
            (program, Some(mint))
        }
        RpcTokenAccountsFilter::ProgramId(_) => {
            let program = key;
            if !is_known_spl_token_id(&program) {
                return Err(Error::invalid_params(
                    "Invalid param: unrecognized Token program id",
                ));
            }
            (program, None)
        }
    };
    by.extend(mint.as_ref().map(mint_filter));
    by.push(RpcFilterType::TokenAccountState);
    debug_assert!(by.len() <= MAX_GET_PROGRAM_ACCOUNT_FILTERS);
    let accounts = scan(&bank, &program, &by, true)?;
    let keyed = if encoding == UiAccountEncoding::JsonParsed {
        parsed_token_accounts(&bank, accounts)
    } else {
        accounts
            .into_iter()
            .map(|(address, account)| {
                Ok(RpcKeyedAccount {
                    pubkey: address.to_string(),
                    account: encode_account(&address, &account, encoding, config.data_slice)?,
                })
            })
            .collect::<RpcResult<Vec<_>>>()?
    };
    Ok(with_context(&bank, keyed))
}

fn mint_filter(mint: &Pubkey) -> RpcFilterType {
    RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, mint.to_bytes().to_vec()))
}

/// One token account or mint as `jsonParsed`, with its mint's decimals
/// (and interest or scaling configuration), the mint read from `overwrites`
/// first.
pub(super) fn parsed_token_account(
    bank: &Bank,
    address: &Pubkey,
    account: &AccountSharedData,
    overwrites: Option<&HashMap<Pubkey, AccountSharedData>>,
) -> UiAccount {
    let additional_data = get_token_account_mint(account.data())
        .and_then(|mint| {
            overwrites
                .and_then(|overwrites| overwrites.get(&mint).cloned())
                .or_else(|| bank.get_account(&mint))
        })
        .and_then(|mint| mint_data(bank, mint.data()).ok())
        .map(|data| AccountAdditionalDataV3 {
            spl_token_additional_data: Some(data),
        });
    encode_ui_account(
        address,
        account,
        UiAccountEncoding::JsonParsed,
        additional_data,
        None,
    )
}

/// Token accounts as `jsonParsed`, leaving out any that does not parse
/// (Agave's `get_parsed_token_accounts`).
pub(super) fn parsed_token_accounts(
    bank: &Bank,
    accounts: Vec<(Pubkey, AccountSharedData)>,
) -> Vec<RpcKeyedAccount> {
    let mut mints: HashMap<Pubkey, Option<AccountAdditionalDataV3>> = HashMap::new();
    accounts
        .into_iter()
        .filter_map(|(address, account)| {
            let additional_data = get_token_account_mint(account.data()).and_then(|mint| {
                *mints.entry(mint).or_insert_with(|| {
                    mint_owner_and_data(bank, &mint)
                        .ok()
                        .map(|(_, data)| AccountAdditionalDataV3 {
                            spl_token_additional_data: Some(data),
                        })
                })
            });
            let encoded = encode_ui_account(
                &address,
                &account,
                UiAccountEncoding::JsonParsed,
                additional_data,
                None,
            );
            matches!(encoded.data, UiAccountData::Json(_)).then(|| RpcKeyedAccount {
                pubkey: address.to_string(),
                account: encoded,
            })
        })
        .collect()
}

/// The token program that owns `mint`, and what parsing amounts of it
/// needs (`get_mint_owner_and_additional_data`).
fn mint_owner_and_data(
    bank: &Bank,
    mint: &Pubkey,
) -> RpcResult<(Pubkey, SplTokenAdditionalDataV2)> {
    if *mint == NATIVE_MINT {
        return Ok((
            anchor_spl::token::ID,
            SplTokenAdditionalDataV2::with_decimals(NATIVE_MINT_DECIMALS),
        ));
    }
    let account = bank
        .get_account(mint)
        .ok_or_else(|| Error::invalid_params("Invalid param: could not find mint"))?;
    Ok((*account.owner(), mint_data(bank, account.data())?))
}

/// A mint's decimals, and its interest-bearing or scaled-amount
/// configuration (Token-2022) with the bank's clock.
fn mint_data(bank: &Bank, data: &[u8]) -> RpcResult<SplTokenAdditionalDataV2> {
    let mint = StateWithExtensions::<Mint>::unpack(data)
        .map_err(|_| Error::invalid_params("Invalid param: Token mint could not be unpacked"))?;
    let now = bank.clock().unix_timestamp;
    Ok(SplTokenAdditionalDataV2 {
        decimals: mint.base.decimals,
        interest_bearing_config: mint
            .get_extension::<InterestBearingConfig>()
            .map(|config| (*config, now))
            .ok(),
        scaled_ui_amount_config: mint
            .get_extension::<ScaledUiAmountConfig>()
            .map(|config| (*config, now))
            .ok(),
    })
}

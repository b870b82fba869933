//! The node and the cluster: version, health, identity, contact and vote
//! accounts, slots and blockhashes, supply and rent.
use super::{context_bank, parse_pubkey, with_context, Endpoints, Methods, RpcResult};
use crate::chain::Chain;
use jsonrpc_core::Error;
use solana_hash::Hash;
use solana_rpc_client_types::{
    config::{RpcContextConfig, RpcGetVoteAccountsConfig, RpcSupplyConfig},
    response::{
        RpcBlockhash, RpcContactInfo, RpcIdentity, RpcSupply, RpcVersionInfo, RpcVoteAccountInfo,
        RpcVoteAccountStatus,
    },
};
use std::str::FromStr;

/// The Agave release whose RPC behaviour this server reproduces.
pub const SOLANA_CORE_VERSION: &str = "4.2.2";

/// Most slots `getSlotLeaders` lists (Agave's `MAX_GET_SLOT_LEADERS`).
const MAX_GET_SLOT_LEADERS: u64 = 5000;
/// Agave's `DELINQUENT_VALIDATOR_SLOT_DISTANCE`.
const DELINQUENT_VALIDATOR_SLOT_DISTANCE: u64 = 128;
/// Agave's `MAX_RPC_VOTE_ACCOUNT_INFO_EPOCH_CREDITS_HISTORY`.
const MAX_EPOCH_CREDITS_HISTORY: usize = 5;

pub(super) fn register(methods: &mut Methods, endpoints: Endpoints) {
    methods.add("getVersion", 0, |_: &Chain, (): ()| Ok(version()));
    methods.add("getHealth", 0, |_: &Chain, (): ()| Ok("ok"));
    methods.add("getIdentity", 0, |c: &Chain, (): ()| {
        Ok(RpcIdentity {
            identity: c.bank().leader_id().to_string(),
        })
    });
    methods.add("getClusterNodes", 0, move |c: &Chain, (): ()| {
        // The one node: it serves RPC and PubSub, and has no gossip, TPU or
        // repair sockets (transactions come in over RPC only).
        Ok(vec![RpcContactInfo {
            pubkey: c.bank().leader_id().to_string(),
            gossip: None,
            tvu: None,
            tpu: None,
            tpu_quic: None,
            tpu_forwards: None,
            tpu_forwards_quic: None,
            tpu_vote: None,
            serve_repair: None,
            rpc: Some(endpoints.rpc),
            pubsub: Some(endpoints.pubsub),
            version: Some(SOLANA_CORE_VERSION.to_string()),
            client_id: Some("Agave".to_string()),
            feature_set: Some(feature_set_id()),
            shred_version: None,
        }])
    });
    methods.add(
        "getVoteAccounts",
        1,
        |c: &Chain, (config,): (Option<RpcGetVoteAccountsConfig>,)| {
            vote_accounts(c, config.unwrap_or_default())
        },
    );
    methods.add(
        "getSlot",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.slot())
        },
    );
    methods.add(
        "getBlockHeight",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.block_height())
        },
    );
    methods.add(
        "getEpochInfo",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.get_epoch_info())
        },
    );
    methods.add("getGenesisHash", 0, |c: &Chain, (): ()| {
        Ok(c.genesis_hash().to_string())
    });
    methods.add(
        "getLatestBlockhash",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
            let blockhash = bank.last_blockhash();
            let last_valid_block_height = bank
                .get_blockhash_last_valid_block_height(&blockhash)
                .expect("the bank's own blockhash is in its queue");
            Ok(with_context(
                &bank,
                RpcBlockhash {
                    blockhash: blockhash.to_string(),
                    last_valid_block_height,
                },
            ))
        },
    );
    methods.add(
        "isBlockhashValid",
        2,
        |c: &Chain, (blockhash, config): (String, Option<RpcContextConfig>)| {
            let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
            let hash = Hash::from_str(&blockhash)
                .map_err(|err| Error::invalid_params(format!("Invalid param: {err:?}")))?;
            Ok(with_context(&bank, bank.is_blockhash_valid(&hash)))
        },
    );
    methods.add(
        "getSupply",
        1,
        |c: &Chain, (config,): (Option<RpcSupplyConfig>,)| {
            let config = config.unwrap_or_default();
            let bank = c.bank();
            // Agave's own rule: locked stake and the listed foundation accounts.
            let non_circulating =
                solana_runtime::non_circulating_supply::calculate_non_circulating_supply(&bank)
                    .map_err(|err| Error::invalid_params(format!("Scan failed: {err}")))?;
            let total = bank.capitalization();
            let non_circulating_accounts = if config.exclude_non_circulating_accounts_list {
                Vec::new()
            } else {
                non_circulating
                    .accounts
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            };
            Ok(with_context(
                &bank,
                RpcSupply {
                    total,
                    circulating: total.saturating_sub(non_circulating.lamports),
                    non_circulating: non_circulating.lamports,
                    non_circulating_accounts,
                },
            ))
        },
    );
    methods.add(
        "getMinimumBalanceForRentExemption",
        2,
        |c: &Chain, (len, _config): (usize, Option<RpcContextConfig>)| {
            if len as u64 > solana_system_interface::MAX_PERMITTED_DATA_LENGTH {
                return Err(Error::invalid_request());
            }
            Ok(c.bank().get_minimum_balance_for_rent_exemption(len))
        },
    );
    methods.add(
        "getTransactionCount",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            Ok(context_bank(c, config.and_then(|c| c.min_context_slot))?.transaction_count())
        },
    );
    methods.add("getEpochSchedule", 0, |c: &Chain, (): ()| {
        Ok(c.bank().epoch_schedule().clone())
    });
    // One node leads every slot.
    methods.add(
        "getSlotLeader",
        1,
        |c: &Chain, (config,): (Option<RpcContextConfig>,)| {
            let bank = context_bank(c, config.and_then(|c| c.min_context_slot))?;
            Ok(bank.leader_id().to_string())
        },
    );
    methods.add(
        "getSlotLeaders",
        2,
        |c: &Chain, (start, limit): (u64, u64)| {
            if limit > MAX_GET_SLOT_LEADERS {
                return Err(Error::invalid_params(format!(
                    "Invalid limit; max {MAX_GET_SLOT_LEADERS}"
                )));
            }
            let bank = c.bank();
            // The schedule is known as far as a validator's is: to the end
            // of the leader-schedule epoch.
            let epoch = bank.epoch_schedule().get_epoch(start);
            let last = bank.get_leader_schedule_epoch(bank.slot());
            if epoch > last {
                return Err(Error::invalid_params(format!(
                    "Invalid slot range: leader schedule for epoch {epoch} is unavailable"
                )));
            }
            let leader = bank.leader_id().to_string();
            Ok(vec![leader; limit as usize])
        },
    );
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

/// The cluster's vote accounts. The one validator sends no vote
/// transactions (it confirms and roots every slot by itself), so its
/// `lastVote` and `rootSlot` are the last rooted slot. Any other vote
/// account (one created by a transaction) never votes. Agave's rule decides
/// which are delinquent: a last vote older than the delinquent distance.
fn vote_accounts(
    chain: &Chain,
    config: RpcGetVoteAccountsConfig,
) -> RpcResult<RpcVoteAccountStatus> {
    let only = config
        .vote_pubkey
        .as_deref()
        .map(parse_pubkey)
        .transpose()?;
    let bank = chain.bank();
    let in_basis_points = bank
        .feature_set
        .is_active(&agave_feature_set::commission_rate_in_basis_points::id());
    let epoch_vote_accounts = bank
        .epoch_vote_accounts(bank.epoch())
        .ok_or_else(Error::invalid_request)?;
    let delinquent_distance = config
        .delinquent_slot_distance
        .unwrap_or(DELINQUENT_VALIDATOR_SLOT_DISTANCE);
    let rooted = bank.slot().saturating_sub(1);
    let (current, delinquent): (Vec<RpcVoteAccountInfo>, Vec<RpcVoteAccountInfo>) = bank
        .vote_accounts()
        .iter()
        .filter(|(address, _)| only.is_none_or(|only| only == **address))
        .map(|(address, (stake, account))| {
            let state = account.vote_state_view();
            let ours = state.node_pubkey() == bank.leader_id();
            let credits = state.num_epoch_credits();
            RpcVoteAccountInfo {
                vote_pubkey: address.to_string(),
                node_pubkey: state.node_pubkey().to_string(),
                activated_stake: *stake,
                commission: if in_basis_points {
                    let bps = state.inflation_rewards_commission();
                    bps.div_ceil(100).min(u16::from(u8::MAX)) as u8
                } else {
                    state.commission()
                },
                inflation_rewards_commission_bps: Some(if in_basis_points {
                    state.inflation_rewards_commission()
                } else {
                    u16::from(state.commission()) * 100
                }),
                epoch_vote_account: epoch_vote_accounts.contains_key(address),
                epoch_credits: state
                    .epoch_credits_iter()
                    .skip(credits.saturating_sub(MAX_EPOCH_CREDITS_HISTORY))
                    .map(Into::into)
                    .collect(),
                last_vote: if ours {
                    rooted
                } else {
                    state.last_voted_slot().unwrap_or(0)
                },
                root_slot: if ours {
                    rooted
                } else {
                    state.root_slot().unwrap_or(0)
                },
            }
        })
        .partition(|info| {
            if bank.slot() >= delinquent_distance {
                info.last_vote > bank.slot() - delinquent_distance
            } else {
                info.last_vote > 0
            }
        });
    let delinquent = if config.keep_unstaked_delinquents.unwrap_or_default() {
        delinquent
    } else {
        delinquent
            .into_iter()
            .filter(|info| info.activated_stake > 0)
            .collect()
    };
    Ok(RpcVoteAccountStatus {
        current,
        delinquent,
    })
}

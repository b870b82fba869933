//! Blocks: every slot that ended, with its transactions and rewards, in
//! Agave's encodings; block ranges, times, the ledger's first slot, and
//! performance samples.
use super::{
    check_is_at_least_confirmed,
    transactions::{encode_error, with_meta},
    Methods, RpcResult,
};
use crate::chain::{Chain, PERFORMANCE_SAMPLES_LIMIT};
use jsonrpc_core::Error;
use solana_rpc_client_api::custom_error::RpcCustomError;
use solana_rpc_client_types::{
    config::{RpcBlockConfig, RpcBlocksConfigWrapper, RpcContextConfig, RpcEncodingConfigWrapper},
    response::RpcPerfSample,
};
use solana_transaction_status::{
    BlockEncodingOptions, ConfirmedBlock, UiConfirmedBlock, VersionedConfirmedBlock,
};
use solana_transaction_status_client_types::{TransactionDetails, UiTransactionEncoding};

/// The widest range `getBlocks` takes and the most `getBlocksWithLimit`
/// lists (Agave's `MAX_GET_CONFIRMED_BLOCKS_RANGE`).
const MAX_GET_CONFIRMED_BLOCKS_RANGE: u64 = 500_000;

pub(super) fn register(methods: &mut Methods) {
    methods.add(
        "getBlock",
        2,
        |c: &Chain, (slot, config): (u64, Option<RpcEncodingConfigWrapper<RpcBlockConfig>>)| {
            let config = config
                .map(|wrapper| wrapper.convert_to_current())
                .unwrap_or_default();
            check_is_at_least_confirmed(config.commitment)?;
            block(c, slot, config)
        },
    );
    methods.add(
        "getBlocks",
        3,
        |c: &Chain,
         (start, wrapper, config): (
            u64,
            Option<RpcBlocksConfigWrapper>,
            Option<RpcContextConfig>,
        )| {
            let (end, wrapped_config) = wrapper.map(|w| w.unzip()).unwrap_or_default();
            let config = config.or(wrapped_config).unwrap_or_default();
            check_is_at_least_confirmed(config.commitment)?;
            check_min_context_slot(c, config.min_context_slot)?;
            let end = end
                .unwrap_or_else(|| start.saturating_add(MAX_GET_CONFIRMED_BLOCKS_RANGE))
                .min(c.latest_block());
            if end < start {
                return Ok(Vec::new());
            }
            if end - start > MAX_GET_CONFIRMED_BLOCKS_RANGE {
                return Err(Error::invalid_params(format!(
                    "Slot range too large; max {MAX_GET_CONFIRMED_BLOCKS_RANGE}"
                )));
            }
            Ok(c.block_slots(start..=end, usize::MAX))
        },
    );
    methods.add(
        "getBlocksWithLimit",
        3,
        |c: &Chain, (start, limit, config): (u64, usize, Option<RpcContextConfig>)| {
            let config = config.unwrap_or_default();
            check_is_at_least_confirmed(config.commitment)?;
            if limit as u64 > MAX_GET_CONFIRMED_BLOCKS_RANGE {
                return Err(Error::invalid_params(format!(
                    "Limit too large; max {MAX_GET_CONFIRMED_BLOCKS_RANGE}"
                )));
            }
            check_min_context_slot(c, config.min_context_slot)?;
            let latest = c.latest_block();
            if start > latest {
                return Ok(Vec::new());
            }
            Ok(c.block_slots(start..=latest, limit))
        },
    );
    methods.add("getBlockTime", 1, |c: &Chain, (slot,): (u64,)| {
        // The working slot has no block yet, but a bank and so a time (as in Agave).
        let working = c.bank();
        c.block(slot)
            .map(|block| block.block_time)
            .or_else(|| (working.slot() == slot).then(|| working.clock().unix_timestamp))
            .map(Some)
            .ok_or_else(|| RpcCustomError::BlockNotAvailable { slot }.into())
    });
    methods.add("getFirstAvailableBlock", 0, |c: &Chain, (): ()| {
        RpcResult::Ok(c.first_block())
    });
    methods.add("minimumLedgerSlot", 0, |c: &Chain, (): ()| {
        RpcResult::Ok(c.first_block())
    });
    methods.add(
        "getRecentPerformanceSamples",
        1,
        |c: &Chain, (limit,): (Option<usize>,)| {
            let limit = limit.unwrap_or(PERFORMANCE_SAMPLES_LIMIT);
            if limit > PERFORMANCE_SAMPLES_LIMIT {
                return Err(Error::invalid_params(format!(
                    "Invalid limit; max {PERFORMANCE_SAMPLES_LIMIT}"
                )));
            }
            Ok(c.performance_samples()
                .into_iter()
                .take(limit)
                .map(|sample| RpcPerfSample {
                    slot: sample.slot,
                    num_transactions: sample.num_transactions,
                    // No votes here: every transaction is a non-vote one.
                    num_non_vote_transactions: Some(sample.num_transactions),
                    num_slots: sample.num_slots,
                    sample_period_secs: sample.sample_period_secs,
                })
                .collect::<Vec<_>>())
        },
    );
}

/// Refuses a `minContextSlot` beyond the newest block (every block is
/// rooted, so it is the highest root Agave compares with).
fn check_min_context_slot(chain: &Chain, min_context_slot: Option<u64>) -> RpcResult<()> {
    let latest = chain.latest_block();
    match min_context_slot {
        Some(min) if latest < min => Err(RpcCustomError::MinContextSlotNotReached {
            context_slot: latest,
        }
        .into()),
        _ => Ok(()),
    }
}

/// A block that ended, in the encoding and detail asked for. The working
/// slot has no block yet (it is not complete), as on a validator.
fn block(chain: &Chain, slot: u64, config: RpcBlockConfig) -> RpcResult<Option<UiConfirmedBlock>> {
    let block = chain
        .block(slot)
        .ok_or_else(|| Error::from(RpcCustomError::BlockNotAvailable { slot }))?;
    let transactions = block
        .signatures
        .iter()
        .filter_map(|signature| chain.record(signature))
        .map(with_meta)
        .collect();
    let confirmed = ConfirmedBlock::from(VersionedConfirmedBlock {
        previous_blockhash: block.previous_blockhash.to_string(),
        blockhash: block.blockhash.to_string(),
        parent_slot: block.parent_slot,
        transactions,
        rewards: block.rewards,
        num_partitions: block.num_partitions,
        block_time: Some(block.block_time),
        block_height: Some(block.block_height),
    });
    confirmed
        .encode_with_options(
            config.encoding.unwrap_or(UiTransactionEncoding::Json),
            BlockEncodingOptions {
                transaction_details: config
                    .transaction_details
                    .unwrap_or(TransactionDetails::Full),
                show_rewards: config.rewards.unwrap_or(true),
                max_supported_transaction_version: config.max_supported_transaction_version,
            },
        )
        .map(Some)
        .map_err(encode_error)
}

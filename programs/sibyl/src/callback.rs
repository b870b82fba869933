//! Delivering a request's final result to the consumer program named at
//! request time: a CPI into its `sibyl_callback` instruction, signed by
//! Sibyl's callback authority PDA, with the request account and the
//! accounts the consumer named.
pub use sibyl_sdk::callback::*;

use crate::{errors::SibylError, state::InferenceRequest};
use anchor_lang::{
    prelude::*,
    solana_program::{
        instruction::{AccountMeta, Instruction},
        program::invoke_signed,
    },
};

/// The last slot in which a result settleable from `settleable_slot` must
/// deliver its callback: `CALLBACK_GRACE_SLOTS` later.
pub fn grace_end(settleable_slot: u64) -> u64 {
    settleable_slot.saturating_add(CALLBACK_GRACE_SLOTS)
}

/// Calls the request's consumer, if it named one, after the request's final
/// state has been written. `remaining` must be the consumer program, Sibyl's
/// callback authority, then the named accounts in order; it may be empty
/// after slot `grace_end` (see [`grace_end`]).
/// Returns the event to emit, if a callback was due.
pub fn deliver<'info>(
    request: &Account<'info, InferenceRequest>,
    remaining: &[AccountInfo<'info>],
    grace_end: u64,
    slot: u64,
) -> Result<Option<crate::events::CallbackInvoked>> {
    if !request.has_callback() {
        return Ok(None);
    }
    let skipped = |skipped| {
        Some(crate::events::CallbackInvoked {
            request: request.key(),
            program: request.callback_program,
            skipped,
        })
    };
    if remaining.is_empty() {
        require!(slot > grace_end, SibylError::CallbackAccountsMissing);
        return Ok(skipped(true));
    }
    let (authority, bump) = Pubkey::find_program_address(&[CALLBACK_AUTHORITY_SEED], &crate::ID);
    let named = request.callback_account_count as usize;
    require!(
        remaining.len() == 2 + named
            && remaining[0].key() == request.callback_program
            && remaining[1].key() == authority
            && remaining[2..]
                .iter()
                .zip(&request.callback_accounts[..named])
                .all(|(info, expected)| info.key() == *expected),
        SibylError::CallbackAccountsMismatch
    );
    // The consumer reads the request account: write its final state first.
    request.exit(&crate::ID)?;
    let mut data = CALLBACK_DISCRIMINATOR.to_vec();
    CallbackData {
        request: request.key(),
        model_hash: request.model_hash,
        output_hash: request.output_hash,
        status: request.status,
    }
    .serialize(&mut data)?;
    let mut accounts = vec![
        AccountMeta::new_readonly(authority, true),
        AccountMeta::new_readonly(request.key(), false),
    ];
    accounts.extend(request.callback_metas());
    let instruction = Instruction {
        program_id: request.callback_program,
        accounts,
        data,
    };
    let mut infos = vec![remaining[1].clone(), request.to_account_info()];
    infos.extend(remaining[2..].iter().cloned());
    infos.push(remaining[0].clone());
    invoke_signed(&instruction, &infos, &[&[CALLBACK_AUTHORITY_SEED, &[bump]]])?;
    Ok(skipped(false))
}

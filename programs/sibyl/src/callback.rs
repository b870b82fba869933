//! Delivering a request's final result to the consumer program named at
//! request time: a CPI into its `sibyl_callback` instruction, signed by
//! Sibyl's callback authority PDA, with the request account and the
//! accounts the consumer named.
use crate::{
    constants::MAX_CALLBACK_ACCOUNTS,
    errors::SibylError,
    state::{InferenceRequest, RequestStatus},
};
use anchor_lang::{
    prelude::*,
    solana_program::{
        instruction::{AccountMeta, Instruction},
        program::invoke_signed,
    },
};

/// Seeds of the Sibyl PDA that signs every callback.
pub const CALLBACK_AUTHORITY_SEED: &[u8] = b"callback";

/// Anchor's instruction discriminator of `sibyl_callback`
/// (`sha256("global:sibyl_callback")[..8]`), which the consumer implements.
pub const CALLBACK_DISCRIMINATOR: [u8; 8] = [97, 132, 94, 18, 4, 209, 55, 250];

/// The address of Sibyl's callback authority.
pub fn callback_authority() -> Pubkey {
    Pubkey::find_program_address(&[CALLBACK_AUTHORITY_SEED], &crate::ID).0
}

/// The arguments Sibyl passes to a consumer's `sibyl_callback` instruction.
/// Accounts: Sibyl's callback authority (signer), the request (read-only),
/// then the accounts the consumer named at request time, in order.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CallbackData {
    /// The request account (also the second account).
    pub request: Pubkey,
    /// The model that produced the output.
    pub model_hash: [u8; 32],
    /// The final output's hash.
    pub output_hash: [u8; 32],
    /// `Finalized`, or `Overturned` when the challenger's correction stood.
    pub status: RequestStatus,
}

/// Slots after a result could first be settled during which its callback
/// is mandatory; afterwards a settlement may leave the callback accounts
/// out, so a consumer that always fails cannot hold the fee hostage.
pub const CALLBACK_GRACE_SLOTS: u64 = 150;

/// A consumer program to call with the final result, and its accounts.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CallbackSpec {
    /// The consumer program (it implements `sibyl_callback`).
    pub program: Pubkey,
    /// Accounts passed after the callback authority and the request, at most
    /// [`MAX_CALLBACK_ACCOUNTS`].
    pub accounts: Vec<CallbackAccount>,
}

/// One account a consumer wants in its callback.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CallbackAccount {
    pub pubkey: Pubkey,
    pub writable: bool,
}

impl CallbackSpec {
    /// A real program other than Sibyl, and no more accounts than allowed.
    pub fn validate(&self) -> Result<()> {
        require!(
            self.program != crate::ID
                && self.program != Pubkey::default()
                && self.accounts.len() <= MAX_CALLBACK_ACCOUNTS,
            SibylError::InvalidCallback
        );
        Ok(())
    }
}

impl InferenceRequest {
    /// Whether a consumer asked to be called back.
    pub fn has_callback(&self) -> bool {
        self.callback_program != Pubkey::default()
    }

    /// Records `spec` in the request.
    pub fn set_callback(&mut self, spec: &CallbackSpec) {
        self.callback_program = spec.program;
        self.callback_account_count = spec.accounts.len() as u8;
        for (i, account) in spec.accounts.iter().enumerate() {
            self.callback_accounts[i] = account.pubkey;
            if account.writable {
                self.callback_writable |= 1 << i;
            }
        }
    }

    /// The accounts the consumer named, as account metas (writable as named).
    pub fn callback_metas(&self) -> impl Iterator<Item = AccountMeta> + '_ {
        (0..self.callback_account_count as usize).map(|i| {
            let pubkey = self.callback_accounts[i];
            if self.callback_writable & (1 << i) != 0 {
                AccountMeta::new(pubkey, false)
            } else {
                AccountMeta::new_readonly(pubkey, false)
            }
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_discriminator_is_anchors_for_sibyl_callback() {
        let hash = solana_sha256_hasher::hashv(&[b"global:sibyl_callback"]).to_bytes();
        assert_eq!(CALLBACK_DISCRIMINATOR, hash[..8]);
    }
}

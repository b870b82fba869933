//! The callback contract between Sibyl and a consumer program: Sibyl
//! calls the consumer's `sibyl_callback` instruction with [`CallbackData`],
//! signed by [`callback_authority`], once a request it named is final.
use crate::{
    constants::MAX_CALLBACK_ACCOUNTS,
    result::{request_state, ConsumerError},
    state::{InferenceRequest, RequestStatus},
};
use anchor_lang::{prelude::*, solana_program::instruction::AccountMeta};

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
    pub fn is_valid(&self) -> bool {
        self.program != crate::ID
            && self.program != Pubkey::default()
            && self.accounts.len() <= MAX_CALLBACK_ACCOUNTS
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

/// Checks a callback before acting on it: the first account is Sibyl's
/// callback authority and signed; the request is a Sibyl request that named
/// `program_id` (the consumer's own id) as its callback; and `named` are
/// exactly the accounts it named, in order. Together these stop another
/// program that Sibyl called from passing Sibyl's signature on to you with
/// a request or accounts of its choosing.
///
/// # Example
///
/// ```
/// use anchor_lang::prelude::*;
/// use sibyl_sdk::{read_final_result, verify_callback, CallbackData};
///
/// #[derive(Accounts)]
/// pub struct SibylCallback<'info> {
///     /// CHECK: checked by `verify_callback`.
///     pub callback_authority: UncheckedAccount<'info>,
///     /// CHECK: checked by `verify_callback` and `read_final_result`.
///     pub request: UncheckedAccount<'info>,
///     /// CHECK: the one account this consumer named at request time.
///     #[account(mut)]
///     pub ledger: UncheckedAccount<'info>,
/// }
///
/// pub fn sibyl_callback(ctx: Context<SibylCallback>, data: CallbackData) -> Result<()> {
///     let accounts = &ctx.accounts;
///     verify_callback(
///         &accounts.callback_authority,
///         &accounts.request,
///         ctx.program_id,
///         &[&accounts.ledger],
///     )?;
///     let trusted_model = [7u8; 32];
///     let result = read_final_result(&accounts.request, &trusted_model, None)?;
///     msg!("final output {:?}", result.output_hash);
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// # Warning
///
/// A genuine callback can still be replayed by a program Sibyl called back,
/// so act on each request at most once. And never fail a callback for a
/// business reason: it runs inside Sibyl's settlement, which would fail too
/// (until `CALLBACK_GRACE_SLOTS` pass and the settlement leaves you out).
pub fn verify_callback(
    authority: &AccountInfo,
    request: &AccountInfo,
    program_id: &Pubkey,
    named: &[&AccountInfo],
) -> Result<()> {
    require!(
        authority.is_signer && authority.key() == callback_authority(),
        ConsumerError::NotCallbackAuthority
    );
    let state = request_state(request)?;
    require_keys_eq!(
        state.callback_program,
        *program_id,
        ConsumerError::NotThisConsumer
    );
    let expected = &state.callback_accounts[..state.callback_account_count as usize];
    require!(
        expected.len() == named.len()
            && expected
                .iter()
                .zip(named)
                .all(|(key, info)| info.key() == *key),
        ConsumerError::CallbackAccountsMismatch
    );
    Ok(())
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

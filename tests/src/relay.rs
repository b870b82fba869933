//! A hostile consumer for tests: when Sibyl calls it back, it passes Sibyl's
//! signature on to another consumer's `sibyl_callback`, with a request and
//! accounts of its own choosing (signer privileges extend to nested calls).
//! `sibyl_sdk::verify_callback` must refuse what it relays.
use anchor_lang::{
    prelude::*,
    solana_program::{
        entrypoint::ProgramResult,
        instruction::{AccountMeta, Instruction},
        program::invoke,
    },
};
use sibyl::callback::{CallbackData, CALLBACK_DISCRIMINATOR};

/// The relay's program id.
pub const ID: Pubkey = pubkey!("CqAtoUwUfTQoZtLLhyfHNKeHiGReHYUYzAQH34yZLxqY");

/// Accounts Sibyl passes it: the callback authority (signer), its own
/// request, then what its requester named: the victim program, the victim's
/// request, and the two accounts to hand the victim (writable).
pub fn process(_program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    let [authority, _own_request, victim, victim_request, first, second] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    let mut forwarded = CallbackData::deserialize(&mut &data[8..])?;
    forwarded.request = victim_request.key();
    let mut payload = CALLBACK_DISCRIMINATOR.to_vec();
    forwarded.serialize(&mut payload)?;
    let relayed = Instruction {
        program_id: victim.key(),
        accounts: vec![
            AccountMeta::new_readonly(authority.key(), true),
            AccountMeta::new_readonly(victim_request.key(), false),
            AccountMeta::new(first.key(), false),
            AccountMeta::new(second.key(), false),
        ],
        data: payload,
    };
    invoke(
        &relayed,
        &[
            authority.clone(),
            victim_request.clone(),
            first.clone(),
            second.clone(),
            victim.clone(),
        ],
    )
}

//! Sibyl's Rust client: every PDA, and for every instruction the accounts it
//! takes, built from the keys a caller knows. `accounts::*` return the
//! program's own `sibyl::accounts::*` structs (so a test can change one field
//! before sending); [`instruction`] turns accounts and arguments into an
//! `Instruction`; [`settlement`] composes the settlements whoever settles
//! sends.
pub mod accounts;
pub mod referee;
pub mod settlement;

pub use sibyl_sdk::pda;

use anchor_lang::{InstructionData, ToAccountMetas};
use solana_instruction::Instruction;

/// A Sibyl instruction from its accounts and its data (`sibyl::instruction::*`).
pub fn instruction(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: sibyl::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

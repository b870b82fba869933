//! What a transaction returned, and assertions on the named errors.
use crate::events::Events;
use anchor_lang::error::ERROR_CODE_OFFSET;
use sibyl::errors::SibylError;
use solana_instruction::error::InstructionError;
use solana_transaction_error::TransactionError;

/// A processed transaction's events, or the runtime's error.
pub type TxResult = Result<Events, TransactionError>;

fn custom_code(result: &TxResult) -> Option<u32> {
    match result {
        Err(TransactionError::InstructionError(_, InstructionError::Custom(code))) => Some(*code),
        _ => None,
    }
}

/// Asserts that the transaction failed with this Sibyl error.
#[track_caller]
pub fn assert_sibyl_error(result: TxResult, expected: SibylError) {
    let expected_code = ERROR_CODE_OFFSET + expected as u32;
    assert_eq!(
        custom_code(&result),
        Some(expected_code),
        "expected SibylError::{expected:?} ({expected_code}), got {result:?}"
    );
}

/// Asserts that the transaction failed with this Anchor framework error
/// (seeds, account ownership, discriminator...).
#[track_caller]
pub fn assert_anchor_error(result: TxResult, expected: anchor_lang::error::ErrorCode) {
    let expected_code = expected as u32;
    assert_eq!(
        custom_code(&result),
        Some(expected_code),
        "expected anchor ErrorCode::{expected:?} ({expected_code}), got {result:?}"
    );
}

/// Asserts that the transaction failed with this error of any Anchor
/// `#[error_code]` enum (a consumer's, or `sibyl_sdk::ConsumerError`).
#[track_caller]
pub fn assert_error<E: Into<u32> + std::fmt::Debug + Copy>(result: TxResult, expected: E) {
    let expected_code: u32 = expected.into();
    assert_eq!(
        custom_code(&result),
        Some(expected_code),
        "expected {expected:?} ({expected_code}), got {result:?}"
    );
}

//! Program refusals: which program raised one, its code, and the name and
//! message the committed IDL gives it, so that the node and the CLI say
//! `FeeBelowPrice: …` instead of `0x1774`. Code compares refusals with
//! typed errors ([`ProgramError::is`]), never with their names.
use anchor_lang::prelude::Pubkey;
use sibyl::errors::SibylError;
use std::{collections::HashMap, sync::OnceLock};

/// One named program error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramError {
    /// The program of the instruction that failed (a code below 100 under
    /// Sibyl comes from a token program it called).
    pub program: Option<Pubkey>,
    pub code: u32,
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for ProgramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.code, self.message)?;
        match self.program {
            Some(program) if program != sibyl::ID => write!(f, " [raised by program {program}]"),
            _ => Ok(()),
        }
    }
}

/// An error a Sibyl instruction can fail with: one of Sibyl's own, or one
/// of Anchor's framework errors (an account missing, a constraint).
pub trait Refusal: Copy + Into<u32> {}
impl Refusal for SibylError {}
impl Refusal for anchor_lang::error::ErrorCode {}

impl ProgramError {
    /// Whether this is `expected`, raised by a Sibyl instruction.
    pub fn is<E: Refusal>(&self, expected: E) -> bool {
        self.program.is_none_or(|program| program == sibyl::ID) && self.code == expected.into()
    }
}

fn table() -> &'static HashMap<u32, ProgramError> {
    static TABLE: OnceLock<HashMap<u32, ProgramError>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The committed IDL; `names_every_sibyl_error_from_the_idl` checks
        // that it parses and names every SibylError.
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/sibyl.json")).unwrap_or_default();
        idl.get("errors")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|error| {
                Some(ProgramError {
                    program: None,
                    code: u32::try_from(error.get("code")?.as_u64()?).ok()?,
                    name: error.get("name")?.as_str()?.to_string(),
                    message: error
                        .get("msg")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                })
            })
            .map(|error| (error.code, error))
            .collect()
    })
}

/// The error with this custom code raised by `program`'s instruction.
pub fn raised_by(program: Option<Pubkey>, code: u32) -> ProgramError {
    ProgramError {
        program,
        ..describe(code)
    }
}

/// The Sibyl error with this custom code, or one of Anchor's framework codes.
pub fn describe(code: u32) -> ProgramError {
    if let Some(error) = table().get(&code) {
        return error.clone();
    }
    // Codes below 100 come from the token program a Sibyl instruction called;
    // the Anchor codes users meet most are named, the rest by range.
    let (name, message) = match code {
        1 => ("InsufficientFunds", "the token account's balance is too low for this payment, stake or bond"),
        3 => ("MintMismatch", "a token account is not for the payment mint"),
        4 => ("OwnerMismatch", "a token account belongs to someone else"),
        17 => ("AccountFrozen", "a token account is frozen"),
        0..=99 => ("TokenProgram", "the token program refused the transfer"),
        2006 => ("ConstraintSeeds", "an account is not the address Sibyl derives for it"),
        3007 => ("AccountOwnedByWrongProgram", "an account is owned by the wrong program"),
        3012 => ("AccountNotInitialized", "an account the instruction needs does not exist (for a payment: your token account for the payment mint)"),
        2000..=2999 => ("AnchorConstraint", "an account constraint was violated"),
        3000..=3999 => ("AnchorAccount", "an account is missing, closed or of the wrong type"),
        100..=1999 => ("AnchorInstruction", "the instruction data or IDL was refused"),
        _ => ("Unknown", "not a Sibyl, Anchor or token program error code"),
    };
    ProgramError {
        program: None,
        code,
        name: name.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_sibyl_error_from_the_idl() {
        let code: u32 = sibyl::errors::SibylError::FeeBelowPrice.into();
        let error = describe(code);
        assert_eq!(error.name, "FeeBelowPrice");
        assert!(!error.message.is_empty());
        assert_eq!(describe(3012).name, "AccountNotInitialized");
        assert_eq!(describe(3013).name, "AnchorAccount");
        assert_eq!(describe(1).name, "InsufficientFunds");
        // Every SibylError, first to last (codes are consecutive), is in
        // the table, so the committed IDL parsed and is current.
        let (first, last): (u32, u32) = (
            SibylError::MathOverflow.into(),
            SibylError::PayoutAccountRefuses.into(),
        );
        for code in first..=last {
            let name = &table().get(&code).expect("every code named").name;
            assert!(!name.is_empty(), "{code}");
        }
        assert_eq!(describe(last).name, "PayoutAccountRefuses");
    }

    #[test]
    fn a_refusal_is_matched_by_its_typed_error_and_its_program() {
        let code: u32 = SibylError::AlreadyVoted.into();
        let sibyl_refusal = raised_by(Some(sibyl::ID), code);
        assert!(sibyl_refusal.is(SibylError::AlreadyVoted));
        assert!(!sibyl_refusal.is(SibylError::DisputeNotOpen));
        // The same code raised by another program is not Sibyl's error.
        let other = raised_by(Some(Pubkey::new_unique()), code);
        assert!(!other.is(SibylError::AlreadyVoted));
        assert!(other.to_string().contains("raised by program"));
        let missing = raised_by(Some(sibyl::ID), 3012);
        assert!(missing.is(anchor_lang::error::ErrorCode::AccountNotInitialized));
    }
}

//! Names and messages for the program's error codes, read from the committed
//! IDL so that the node and the CLI say `FeeBelowPrice: …` instead of `0x1774`.
use std::{collections::HashMap, sync::OnceLock};

/// One named program error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramError {
    pub code: u32,
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for ProgramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.code, self.message)
    }
}

fn table() -> &'static HashMap<u32, ProgramError> {
    static TABLE: OnceLock<HashMap<u32, ProgramError>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/sibyl.json")).expect("committed IDL");
        idl["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|error| {
                Some(ProgramError {
                    code: error["code"].as_u64()? as u32,
                    name: error["name"].as_str()?.to_string(),
                    message: error["msg"].as_str().unwrap_or_default().to_string(),
                })
            })
            .map(|error| (error.code, error))
            .collect()
    })
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
    }
}

use anchor_lang::prelude::*;

/// The bounty's own rules (Sibyl's read-helper errors are `sibyl_sdk::ConsumerError`).
#[error_code]
pub enum BountyError {
    #[msg("The bounty has been won already")]
    AlreadyWon,
    #[msg("The result was paid for by someone else than the claimant")]
    ClaimantNotRequester,
    #[msg("The verified result does not show the target digit as the top class with enough confidence (a top-k model's scores are not verified, so only a bounty without a probability floor can be won with one)")]
    NotTargetDigit,
    #[msg("A probability threshold is at most 10000 bps, and a digit at most 9")]
    InvalidBounty,
    #[msg("The callback is for another request than the account passed")]
    CallbackRequestMismatch,
}

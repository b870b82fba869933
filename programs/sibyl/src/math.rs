//! Checked arithmetic for amounts, slots and basis-point splits. Every split
//! assigns its remainder explicitly so that tokens are conserved to the base unit.
use crate::{constants::BPS_DENOMINATOR, errors::SibylError};
use anchor_lang::prelude::*;

/// `a + b`, or [`SibylError::MathOverflow`].
pub fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| error!(SibylError::MathOverflow))
}

/// `a - b`, or [`SibylError::MathOverflow`] when `b > a`.
pub fn sub(a: u64, b: u64) -> Result<u64> {
    a.checked_sub(b)
        .ok_or_else(|| error!(SibylError::MathOverflow))
}

/// `floor(amount * part / whole)` computed in 128 bits; zero when `whole` is zero.
pub fn pro_rata(amount: u64, part: u64, whole: u64) -> Result<u64> {
    if whole == 0 {
        return Ok(0);
    }
    let scaled = (amount as u128)
        .checked_mul(part as u128)
        .ok_or_else(|| error!(SibylError::MathOverflow))?
        / whole as u128;
    u64::try_from(scaled).map_err(|_| error!(SibylError::MathOverflow))
}

/// `floor(amount * bps / 10000)`.
pub fn bps_of(amount: u64, bps: u16) -> Result<u64> {
    pro_rata(amount, bps as u64, BPS_DENOMINATOR)
}

/// `value * bps >= threshold_bps * total` without overflow: "value is at least
/// `threshold_bps` of `total`".
pub fn reaches_bps(value: u64, total: u64, threshold_bps: u16) -> bool {
    (value as u128) * (BPS_DENOMINATOR as u128) >= (threshold_bps as u128) * (total as u128)
}

/// How a request's fee is divided when a result is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeSplit {
    /// To the protocol treasury.
    pub protocol_fee: u64,
    /// To the model's publisher.
    pub royalty: u64,
    /// To whoever produced the accepted output: the remainder, so the parts sum to the fee.
    pub payee: u64,
}

/// Splits `fee` into protocol fee, royalty and the payee's remainder.
pub fn split_fee(fee: u64, protocol_fee_bps: u16, royalty_bps: u16) -> Result<FeeSplit> {
    let protocol_fee = bps_of(fee, protocol_fee_bps)?;
    let royalty = bps_of(fee, royalty_bps)?;
    let payee = sub(sub(fee, protocol_fee)?, royalty)?;
    Ok(FeeSplit {
        protocol_fee,
        royalty,
        payee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_fee_conserves_every_base_unit() {
        for fee in [0u64, 1, 7, 999, 1_000_003, u64::MAX / 3] {
            let split = split_fee(fee, 250, 1_000).unwrap();
            assert_eq!(split.protocol_fee + split.royalty + split.payee, fee);
        }
        let split = split_fee(1_000_000, 250, 1_000).unwrap();
        assert_eq!(
            (split.protocol_fee, split.royalty, split.payee),
            (25_000, 100_000, 875_000)
        );
    }

    #[test]
    fn split_fee_rejects_parts_above_the_whole() {
        assert!(split_fee(100, 9_000, 2_000).is_err());
    }

    #[test]
    fn pro_rata_handles_extremes() {
        assert_eq!(pro_rata(u64::MAX, u64::MAX, u64::MAX).unwrap(), u64::MAX);
        assert_eq!(pro_rata(10, 1, 3).unwrap(), 3);
        assert_eq!(pro_rata(10, 5, 0).unwrap(), 0);
        assert!(pro_rata(u64::MAX, 2, 1).is_err());
    }

    #[test]
    fn reaches_bps_is_exact_at_the_boundary() {
        assert!(reaches_bps(6_667, 10_000, 6_667));
        assert!(!reaches_bps(6_666, 10_000, 6_667));
        assert!(reaches_bps(0, 0, 6_667));
        assert!(reaches_bps(u64::MAX, u64::MAX, 10_000));
    }

    #[test]
    fn add_and_sub_are_checked() {
        assert!(add(u64::MAX, 1).is_err());
        assert!(sub(0, 1).is_err());
        assert_eq!(add(2, 3).unwrap(), 5);
    }
}

//! What users and operators do, as library functions over a
//! [`ChainClient`](crate::chain::ChainClient): the `sibyl` command line
//! prints around them, and the tests drive the same code.
pub mod migrate;
pub mod model;
pub mod operator;
pub mod plan;
pub mod protocol;
pub mod request;

/// Token amount in base units from a decimal string (`"1.5"` with 6
/// decimals is 1 500 000); more fractional digits than the mint has is an error.
pub fn parse_amount(text: &str, decimals: u8) -> Result<u64, String> {
    let invalid = || format!("`{text}` is not a token amount with at most {decimals} decimals");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > decimals as usize
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    let scale = 10u64.checked_pow(decimals as u32).ok_or_else(invalid)?;
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: u64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<width$}", width = decimals as usize)
            .parse()
            .map_err(|_| invalid())?
    };
    whole
        .checked_mul(scale)
        .and_then(|units| units.checked_add(fraction))
        .ok_or_else(invalid)
}

/// Base units as a decimal string with the mint's decimals.
pub fn format_amount(units: u64, decimals: u8) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u64.pow(decimals as u32);
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = decimals as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_format_with_the_mint_decimals() {
        assert_eq!(parse_amount("1.5", 6), Ok(1_500_000));
        assert_eq!(parse_amount("2", 6), Ok(2_000_000));
        assert_eq!(parse_amount(".25", 2), Ok(25));
        assert!(parse_amount("1.1234567", 6).is_err());
        assert!(parse_amount("-1", 6).is_err());
        assert!(parse_amount("abc", 6).is_err());
        assert!(parse_amount("99999999999999999999", 6).is_err());
        assert_eq!(format_amount(1_500_000, 6), "1.500000");
        assert_eq!(format_amount(7, 0), "7");
    }
}

//! Money: which ISO 4217 currencies an event may be priced in, and amounts
//! (always integer minor units) written out with each currency's own number
//! of decimals — 1050 USD is 10.50, 1500 JPY is 1500, 1234 KWD is 1.234.

use iso_currency::Currency;

/// The currency named by `code` (upper case, as stored), if tickets can be
/// priced in it: an ISO 4217 code with a minor unit that is neither a fund
/// (BOV, CLF, …) nor a special code (gold XAU, testing XTS, "no currency"
/// XXX, …).
pub fn currency(code: &str) -> Option<Currency> {
    Currency::from_code(code).filter(|c| c.exponent().is_some() && !c.is_fund() && !c.is_special())
}

/// Decimals of `code`'s minor unit; 2 for a code we do not know (none is
/// stored since events are validated, but a row older than that may be).
pub fn minor_digits(code: &str) -> u32 {
    currency(code)
        .and_then(Currency::exponent)
        .map_or(2, u32::from)
}

/// `minor` minor units of `code` as people read them: the amount with the
/// currency's decimals, then the code ("10.50 USD", "1500 JPY",
/// "1.234 KWD", "-0.05 EUR"). No grouping: the same in every language.
pub fn format(minor: i64, code: &str) -> String {
    format!("{} {code}", decimal(minor, code))
}

/// `minor` minor units of `code` as a plain decimal number, for machines
/// and spreadsheets: "10.50", "1500", "1.234", "-0.05".
pub fn decimal(minor: i64, code: &str) -> String {
    let digits = minor_digits(code);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(digits);
    let width = digits as usize;
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
}

/// A price typed by a person ("25", "25.5", "25.50" for EUR; "1500" for
/// JPY) in minor units: no sign, no more decimals than the currency has, at
/// most 100,000,000 minor units (the most a ticket may cost).
pub fn parse(text: &str, code: &str) -> Option<i32> {
    let digits = minor_digits(code) as usize;
    let (whole, fraction) = match text.trim().split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text.trim(), ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || fraction.len() > digits {
        return None;
    }
    if !all_digits(whole) || !all_digits(fraction) || (text.contains('.') && fraction.is_empty()) {
        return None;
    }
    let scale = 10i64.pow(digits as u32);
    let padded = format!("{fraction:0<digits$}");
    let minor = whole.parse::<i64>().ok()? * scale + padded.parse::<i64>().unwrap_or(0);
    (minor <= 100_000_000).then_some(minor as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_prices_become_minor_units_of_their_currency() {
        assert_eq!(parse("25", "EUR"), Some(2500));
        assert_eq!(parse(" 25.5 ", "EUR"), Some(2550));
        assert_eq!(parse("0.05", "EUR"), Some(5));
        assert_eq!(parse("1500", "JPY"), Some(1500));
        assert_eq!(parse("1.234", "KWD"), Some(1234));
        for bad in [
            "",
            "-5",
            "1.234",
            "1.",
            ".5",
            "1,50",
            "1e3",
            "abc",
            "1000001.00",
            "25 EUR",
        ] {
            assert_eq!(parse(bad, "EUR"), None, "{bad}");
        }
        assert_eq!(parse("15.5", "JPY"), None);
    }

    #[test]
    fn amounts_use_each_currencys_minor_units() {
        assert_eq!(format(1050, "USD"), "10.50 USD");
        assert_eq!(format(5, "EUR"), "0.05 EUR");
        assert_eq!(format(-5, "EUR"), "-0.05 EUR");
        assert_eq!(format(0, "EUR"), "0.00 EUR");
        assert_eq!(format(1500, "JPY"), "1500 JPY");
        assert_eq!(format(1234, "KWD"), "1.234 KWD");
        assert_eq!(format(7, "BHD"), "0.007 BHD");
        assert_eq!(format(100_000_000, "ISK"), "100000000 ISK");
        assert_eq!(format(i64::MIN, "USD"), "-92233720368547758.08 USD");
        // Unknown (legacy) codes keep two decimals.
        assert_eq!(format(1050, "ABC"), "10.50 ABC");
    }

    #[test]
    fn only_real_currencies_with_a_minor_unit_are_accepted() {
        for code in ["EUR", "USD", "JPY", "KWD", "GBP", "CHF"] {
            assert!(currency(code).is_some(), "{code}");
        }
        for code in ["XYZ", "usd", "XXX", "XTS", "XAU", "BOV", "EU", "EURO", ""] {
            assert!(currency(code).is_none(), "{code}");
        }
    }
}

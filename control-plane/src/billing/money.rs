//! Money on the API: decimal strings in US dollars, exact.

use crate::error::{DomainError, DomainResult};
use aihub_contract::money::{decimal_to_nanos, nanos_to_decimal};
use rust_decimal::Decimal;
use std::str::FromStr;

/// `nanos` as a decimal string with at least two decimal places and no
/// trailing zeros beyond them (`"29.00"`, `"0.000150"` → `"0.00015"`).
pub fn format(nanos: i64) -> String {
    let mut d = nanos_to_decimal(nanos).normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

/// Parses an amount the API received: a decimal string (or number) with at
/// most `max_places` decimal places, more than zero. `field` names it in
/// the error.
pub fn parse_positive(raw: &str, field: &str, max_places: u32) -> DomainResult<i64> {
    let d = Decimal::from_str(raw.trim()).map_err(|_| {
        DomainError::invalid(format!("{field}: expected an amount such as \"20.00\""))
    })?;
    if d <= Decimal::ZERO {
        return Err(DomainError::invalid(format!(
            "{field}: must be more than zero"
        )));
    }
    if d.normalize().scale() > max_places {
        return Err(DomainError::invalid(format!(
            "{field}: at most {max_places} decimal places"
        )));
    }
    super::ledger::exact_nanos(d)
        .ok_or_else(|| DomainError::invalid(format!("{field}: the amount is too large")))
}

/// Like [`parse_positive`], but zero is accepted too (a custom fee of 0).
pub fn parse_non_negative(raw: &str, field: &str, max_places: u32) -> DomainResult<i64> {
    match Decimal::from_str(raw.trim()) {
        Ok(d) if d.is_zero() => Ok(0),
        _ => parse_positive(raw, field, max_places),
    }
}

/// `a × num / den`, rounded half away from zero, exact in between.
pub fn prorate(a: i64, num: i64, den: i64) -> i64 {
    if den == 0 {
        return 0;
    }
    let p = i128::from(a) * i128::from(num);
    let d = i128::from(den);
    let q = p / d;
    let r = p % d;
    let q = if 2 * r.abs() >= d.abs() {
        q + p.signum() * d.signum()
    } else {
        q
    };
    i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN })
}

/// `a × part / whole` rounded up (for `a`, `part` ≥ 0), exact in between:
/// the gateway's rule for the share of a request's cost beyond an allowance.
pub fn share_up(a: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 || part <= 0 || a <= 0 {
        return 0;
    }
    let p = i128::from(a) * i128::from(part);
    let w = i128::from(whole);
    i64::try_from((p + w - 1) / w).unwrap_or(i64::MAX)
}

/// Rounds nano-units to whole cents, half to even.
pub fn to_cents(nanos: i64) -> i64 {
    let d = nanos_to_decimal(nanos)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
    decimal_to_nanos(d).unwrap_or(nanos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_with_two_places_at_least() {
        assert_eq!(format(29_000_000_000), "29.00");
        assert_eq!(format(150_000), "0.00015");
        assert_eq!(format(-1_250_000_000), "-1.25");
        assert_eq!(format(0), "0.00");
        assert_eq!(format(1), "0.000000001");
    }

    #[test]
    fn parses_exact_amounts_only() {
        assert_eq!(
            parse_positive("20.00", "amount", 2).unwrap(),
            20_000_000_000
        );
        assert_eq!(parse_positive("5", "amount", 2).unwrap(), 5_000_000_000);
        assert!(parse_positive("0", "amount", 2).is_err());
        assert!(parse_positive("-3", "amount", 2).is_err());
        assert!(parse_positive("1.005", "amount", 2).is_err());
        assert!(parse_positive("abc", "amount", 2).is_err());
        assert!(parse_positive("1e400", "amount", 2).is_err());
        assert!(parse_positive("79228162514264337593543950335", "amount", 2).is_err());
        assert_eq!(parse_non_negative("0.0", "price", 2).unwrap(), 0);
        assert_eq!(
            parse_non_negative("1.50", "price", 2).unwrap(),
            1_500_000_000
        );
        assert!(parse_non_negative("-1", "price", 2).is_err());
    }

    #[test]
    fn prorates_exactly() {
        assert_eq!(prorate(29_000_000_000, 15, 30), 14_500_000_000);
        assert_eq!(prorate(10, 1, 3), 3);
        assert_eq!(prorate(10, 2, 3), 7);
        assert_eq!(prorate(-10, 2, 3), -7);
        assert_eq!(share_up(10, 1, 3), 4);
        assert_eq!(share_up(9, 1, 3), 3);
        assert_eq!(share_up(9, 0, 3), 0);
        assert_eq!(to_cents(14_505_000_000), 14_500_000_000);
        assert_eq!(to_cents(14_515_000_000), 14_520_000_000);
    }

    proptest! {
        #[test]
        fn segments_of_a_whole_sum_to_the_whole(a in 0i64..1_000_000_000_000, cut in 1i64..1000) {
            // Prorating a fee over two parts of a month never loses or makes
            // more than one nano-unit.
            let total = 1000;
            let s = prorate(a, cut.min(total), total) + prorate(a, total - cut.min(total), total);
            prop_assert!((s - a).abs() <= 1);
        }

        #[test]
        fn format_round_trips(n in any::<i64>().prop_filter("positive", |n| *n > 0)) {
            prop_assert_eq!(parse_positive(&format(n), "x", 9).unwrap(), n);
        }
    }
}

//! Model prices: validation and the business plan's defaults.

use crate::error::{DomainError, DomainResult};
use aihub_contract::money::Prices;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Largest accepted price per million tokens (a typo guard, not a policy).
const MAX_PRICE: i64 = 1_000_000;
/// Most decimals kept in a price per million tokens.
const MAX_SCALE: u32 = 9;

/// The default price per million tokens of a model, used for input, output
/// and cached tokens when the operator gives none.
///
/// The business plan quotes USD per 1,000 tokens (gpt-4o 0.015, gpt-4o-mini
/// 0.00015, claude-3.5-sonnet 0.003, llama-3.1-70b 0.001, gemini-1.5-pro
/// 0.0025, anything else 0.001); per million is that × 1,000. Names match by
/// prefix, most specific first, so `gpt-4o-mini-2024-07-18` is a mini.
pub fn default_price_per_million(model: &str) -> Decimal {
    const TABLE: &[(&str, i64, u32)] = &[
        // (name prefix, mantissa, scale): price = mantissa × 10^-scale
        ("gpt-4o-mini", 15, 2),
        ("gpt-4o", 15, 0),
        ("claude-3.5-sonnet", 3, 0),
        ("claude-3-5-sonnet", 3, 0),
        ("llama-3.1-70b", 1, 0),
        ("gemini-1.5-pro", 25, 1),
    ];
    let name = model.trim().to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(prefix, _, _)| name.starts_with(prefix))
        .map(|&(_, m, s)| Decimal::new(m, s))
        .unwrap_or_else(|| Decimal::new(1, 0))
}

/// The default [`Prices`] of a model.
pub fn default_prices(model: &str) -> Prices {
    let p = default_price_per_million(model);
    Prices {
        input_per_million: p,
        output_per_million: p,
        cached_per_million: p,
    }
}

/// Parses an operator-given price per million tokens.
pub fn parse_price(field: &str, raw: &str) -> DomainResult<Decimal> {
    let bad = || {
        DomainError::invalid(format!(
            "{field}: expected a decimal from 0 to {MAX_PRICE} with at most {MAX_SCALE} decimals, got '{raw}'"
        ))
    };
    let d = Decimal::from_str(raw.trim()).map_err(|_| bad())?;
    check_price(d).ok_or_else(bad)
}

/// Checks a price and normalises it (`1.50` → `1.5`); `None` when it is
/// negative, too large or too precise.
pub fn check_price(d: Decimal) -> Option<Decimal> {
    let d = d.normalize();
    if d.is_sign_negative() && !d.is_zero() || d > Decimal::from(MAX_PRICE) || d.scale() > MAX_SCALE
    {
        return None;
    }
    Some(d)
}

/// Reads a price stored as decimal text.
pub fn stored_price(raw: &str) -> DomainResult<Decimal> {
    Decimal::from_str(raw)
        .map_err(|e| DomainError::Internal(format!("stored price '{raw}' is not a decimal: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn business_plan_defaults_per_million() {
        assert_eq!(default_price_per_million("gpt-4o"), dec("15"));
        assert_eq!(default_price_per_million("gpt-4o-2024-08-06"), dec("15"));
        assert_eq!(default_price_per_million("gpt-4o-mini"), dec("0.15"));
        assert_eq!(
            default_price_per_million("GPT-4o-mini-2024-07-18"),
            dec("0.15")
        );
        assert_eq!(default_price_per_million("claude-3.5-sonnet"), dec("3"));
        assert_eq!(
            default_price_per_million("claude-3-5-sonnet-20241022"),
            dec("3")
        );
        assert_eq!(default_price_per_million("llama-3.1-70b"), dec("1"));
        assert_eq!(default_price_per_million("gemini-1.5-pro"), dec("2.5"));
        assert_eq!(default_price_per_million("mistral-large"), dec("1"));
        let p = default_prices("gpt-4o-mini");
        assert_eq!(p.input_per_million, p.output_per_million);
        assert_eq!(p.cached_per_million, dec("0.15"));
    }

    #[test]
    fn prices_are_checked() {
        assert_eq!(parse_price("input", " 2.50 ").unwrap(), dec("2.5"));
        assert_eq!(parse_price("input", "0").unwrap(), dec("0"));
        for bad in ["-1", "abc", "", "10000000", "0.0000000001"] {
            let e = parse_price("input", bad).unwrap_err().to_string();
            assert!(e.starts_with("input: expected a decimal"), "{bad}: {e}");
        }
    }
}

/// One row of a price list: a public model and its new prices.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedPrice {
    /// Public model name.
    pub model: String,
    /// Per million prompt tokens.
    pub input_per_million: Decimal,
    /// Per million completion tokens.
    pub output_per_million: Decimal,
    /// Per million cached prompt tokens (default: the input price).
    #[serde(default)]
    pub cached_per_million: Option<Decimal>,
}

/// A price list as JSON: `{"prices": [ROW…]}` or the bare array.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum JsonList {
    Wrapped { prices: Vec<ListedPrice> },
    Bare(Vec<ListedPrice>),
}

/// The most rows a price list may have.
pub const MAX_LISTED: usize = 10_000;

/// Reads a price list: JSON (`{"prices": [{"model", "input_per_million",
/// "output_per_million", "cached_per_million"?}…]}` or the bare array) or
/// CSV with the header `model,input_per_million,output_per_million[,cached_per_million]`.
/// Every row is checked; a bad one is refused with its row number, as is a
/// model listed twice.
pub fn parse_price_list(body: &[u8], csv_format: bool) -> DomainResult<Vec<ListedPrice>> {
    let rows: Vec<ListedPrice> = if csv_format {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(body);
        let mut rows = Vec::new();
        for (i, record) in reader.deserialize::<ListedPrice>().enumerate() {
            rows.push(record.map_err(|e| {
                DomainError::invalid(format!(
                    "price list row {}: {e} (expected the columns model,input_per_million,output_per_million[,cached_per_million])",
                    i + 1
                ))
            })?);
        }
        rows
    } else {
        match serde_json::from_slice::<JsonList>(body) {
            Ok(JsonList::Wrapped { prices }) | Ok(JsonList::Bare(prices)) => prices,
            Err(_) => {
                return Err(DomainError::invalid(
                    "price list: expected JSON {\"prices\": [{\"model\", \"input_per_million\", \"output_per_million\", \"cached_per_million\"?}…]} with prices as decimal strings",
                ))
            }
        }
    };
    if rows.is_empty() || rows.len() > MAX_LISTED {
        return Err(DomainError::invalid(format!(
            "price list: expected 1 to {MAX_LISTED} rows, got {}",
            rows.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        if !seen.insert(r.model.trim().to_string()) {
            return Err(DomainError::invalid(format!(
                "price list row {n}: the model '{}' is listed twice",
                r.model.trim()
            )));
        }
        for (field, d) in [
            ("input_per_million", Some(r.input_per_million)),
            ("output_per_million", Some(r.output_per_million)),
            ("cached_per_million", r.cached_per_million),
        ] {
            if let Some(d) = d {
                if check_price(d).is_none() {
                    return Err(DomainError::invalid(format!(
                        "price list row {n}: {field}: expected a non-negative decimal of at most 9 decimals, got {d}"
                    )));
                }
            }
        }
    }
    Ok(rows)
}

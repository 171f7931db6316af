//! Exact money: prices are [`Decimal`]s per million tokens, amounts are
//! integer nano-units (10⁻⁹ of the currency).
//!
//! A request's cost is computed exactly in `Decimal` and rounded once, half
//! away from zero, to a whole nano-unit. With prices quoted to at most three
//! decimals per million tokens (0.001 USD/M) no rounding happens at all.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Nano-units per currency unit.
pub const NANOS_PER_UNIT: i64 = 1_000_000_000;

/// Per-million-token prices of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Prices {
    /// Price of one million prompt tokens that were not served from cache.
    pub input_per_million: Decimal,
    /// Price of one million completion tokens (reasoning tokens included).
    pub output_per_million: Decimal,
    /// Price of one million prompt tokens served from the provider's cache.
    pub cached_per_million: Decimal,
}

/// Token counts as the upstream reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenCounts {
    /// All prompt tokens, cached ones included.
    pub prompt: u64,
    /// All completion tokens, reasoning ones included.
    pub completion: u64,
    /// Prompt tokens served from cache (a subset of `prompt`).
    pub cached: u64,
    /// Completion tokens spent on reasoning (a subset of `completion`).
    pub reasoning: u64,
}

impl TokenCounts {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }
}

impl Prices {
    /// The exact cost of `tokens` in nano-units.
    pub fn cost_nanos(&self, tokens: &TokenCounts) -> i64 {
        let cached = tokens.cached.min(tokens.prompt);
        let uncached = tokens.prompt - cached;
        let units = Decimal::from(uncached) * self.input_per_million
            + Decimal::from(cached) * self.cached_per_million
            + Decimal::from(tokens.completion) * self.output_per_million;
        // units is "tokens × price per million"; nanos = units × 10⁹ / 10⁶.
        let nanos = (units * Decimal::from(1_000))
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        i64::try_from(nanos).unwrap_or(i64::MAX)
    }
}

/// Converts nano-units to a decimal amount of the currency.
pub fn nanos_to_decimal(nanos: i64) -> Decimal {
    Decimal::new(nanos, 9).normalize()
}

/// Converts a decimal amount of the currency to nano-units, rounding half away
/// from zero; `None` when it does not fit.
pub fn decimal_to_nanos(amount: Decimal) -> Option<i64> {
    let scaled = (amount * Decimal::from(NANOS_PER_UNIT))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(scaled).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn business_plan_price_is_exact() {
        // gpt-4o-mini: 0.00015 USD per 1,000 tokens = 0.15 per million.
        let p = Prices {
            input_per_million: dec("0.15"),
            output_per_million: dec("0.15"),
            cached_per_million: dec("0.15"),
        };
        let t = TokenCounts {
            prompt: 1000,
            completion: 0,
            cached: 0,
            reasoning: 0,
        };
        assert_eq!(p.cost_nanos(&t), 150_000);
        assert_eq!(nanos_to_decimal(p.cost_nanos(&t)), dec("0.00015"));
    }

    #[test]
    fn cached_tokens_use_cached_price() {
        let p = Prices {
            input_per_million: dec("2.5"),
            output_per_million: dec("10"),
            cached_per_million: dec("1.25"),
        };
        let t = TokenCounts {
            prompt: 100,
            completion: 10,
            cached: 40,
            reasoning: 0,
        };
        // 60 × 2.5 + 40 × 1.25 + 10 × 10 = 150 + 50 + 100 = 300 units/M = 300 µ.
        assert_eq!(p.cost_nanos(&t), 300_000);
    }

    #[test]
    fn rounds_half_away_from_zero_once() {
        let p = Prices {
            input_per_million: dec("0.0005"),
            ..Prices::default()
        };
        let t = TokenCounts {
            prompt: 1,
            ..TokenCounts::default()
        };
        // 0.0005 / 10⁶ = 0.5 nano → 1.
        assert_eq!(p.cost_nanos(&t), 1);
    }

    #[test]
    fn decimal_round_trip() {
        assert_eq!(decimal_to_nanos(dec("29.00")), Some(29 * NANOS_PER_UNIT));
        assert_eq!(nanos_to_decimal(1), dec("0.000000001"));
    }
}

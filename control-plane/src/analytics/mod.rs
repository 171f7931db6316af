//! Analytics (issue 9): where developers' money and latency go, and how the
//! operator's business does, read from rollups rather than raw usage rows.
//!
//! - [`rollup`]: the embedded default's rollup tables, kept as rows arrive;
//! - [`store`]: reads of those tables, or of ClickHouse's materialized
//!   rollups (`config/clickhouse/schema.sql`), behind one interface;
//! - [`report`]: the API's answers (developer overview, trends, costs,
//!   performance; operator revenue, margin, developers, models, providers,
//!   the monthly report).
//!
//! Periods are whole days in the caller's time zone; rollups are kept per
//! UTC hour and UTC day ([`Period`], [`parts`]).

pub mod backfill;
pub mod report;
pub mod retention;
pub mod rollup;
pub mod store;

use crate::error::{DomainError, DomainResult};
use aihub_contract::usage::UsageRow;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

/// One hour, ms.
pub const HOUR_MS: i64 = 3_600_000;
/// One day, ms.
pub const DAY_MS: i64 = 86_400_000;

/// The summable measures of a set of usage rows (rollup columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measures {
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_nanos: i64,
    pub latency_sum: i64,
    pub ttft_sum: i64,
    pub ttft_count: i64,
    pub s2xx: i64,
    pub s4xx: i64,
    pub s429: i64,
    pub s5xx: i64,
    pub fallbacks: i64,
    pub batch_requests: i64,
}

impl Measures {
    /// Column names, in [`Measures::values`] order (the same in SQL and
    /// ClickHouse).
    pub const COLUMNS: [&'static str; 16] = [
        "requests",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "cost_nanos",
        "latency_sum",
        "ttft_sum",
        "ttft_count",
        "s2xx",
        "s4xx",
        "s429",
        "s5xx",
        "fallbacks",
        "batch_requests",
    ];

    /// One row's measures.
    pub fn of_row(r: &UsageRow) -> Measures {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let flag = |b: bool| i64::from(b);
        Measures {
            requests: 1,
            errors: flag(r.status >= 400),
            prompt_tokens: n(r.prompt_tokens),
            completion_tokens: n(r.completion_tokens),
            cached_tokens: n(r.cached_tokens),
            reasoning_tokens: n(r.reasoning_tokens),
            cost_nanos: r.cost_nanos,
            latency_sum: i64::from(r.latency_ms),
            ttft_sum: r.ttft_ms.map_or(0, i64::from),
            ttft_count: flag(r.ttft_ms.is_some()),
            s2xx: flag(r.status < 400),
            s4xx: flag((400..500).contains(&r.status) && r.status != 429),
            s429: flag(r.status == 429),
            s5xx: flag(r.status >= 500),
            fallbacks: flag(r.attempts > 1),
            batch_requests: flag(!r.batch_id.is_empty()),
        }
    }

    /// Values in [`Measures::COLUMNS`] order.
    pub fn values(&self) -> [i64; 16] {
        [
            self.requests,
            self.errors,
            self.prompt_tokens,
            self.completion_tokens,
            self.cached_tokens,
            self.reasoning_tokens,
            self.cost_nanos,
            self.latency_sum,
            self.ttft_sum,
            self.ttft_count,
            self.s2xx,
            self.s4xx,
            self.s429,
            self.s5xx,
            self.fallbacks,
            self.batch_requests,
        ]
    }

    /// From values in [`Measures::COLUMNS`] order (missing ones 0).
    pub fn from_values(v: &[i64]) -> Measures {
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        Measures {
            requests: g(0),
            errors: g(1),
            prompt_tokens: g(2),
            completion_tokens: g(3),
            cached_tokens: g(4),
            reasoning_tokens: g(5),
            cost_nanos: g(6),
            latency_sum: g(7),
            ttft_sum: g(8),
            ttft_count: g(9),
            s2xx: g(10),
            s4xx: g(11),
            s429: g(12),
            s5xx: g(13),
            fallbacks: g(14),
            batch_requests: g(15),
        }
    }

    /// Adds `o`.
    pub fn add(&mut self, o: &Measures) {
        let mut v = self.values();
        for (a, b) in v.iter_mut().zip(o.values()) {
            *a += b;
        }
        *self = Measures::from_values(&v);
    }

    /// Prompt + completion tokens.
    pub fn tokens(&self) -> i64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// `a / b`, 0 when `b` is 0.
    fn ratio(a: i64, b: i64) -> f64 {
        if b == 0 {
            0.0
        } else {
            a as f64 / b as f64
        }
    }

    /// Errors per request.
    pub fn error_rate(&self) -> f64 {
        round(Self::ratio(self.errors, self.requests), 4)
    }

    /// Mean latency (ms), `None` without requests.
    pub fn avg_latency(&self) -> Option<f64> {
        (self.requests > 0).then(|| round(Self::ratio(self.latency_sum, self.requests), 1))
    }

    /// Mean time to first token (ms), `None` without streamed requests.
    pub fn avg_ttft(&self) -> Option<f64> {
        (self.ttft_count > 0).then(|| round(Self::ratio(self.ttft_sum, self.ttft_count), 1))
    }
}

impl<'a> std::iter::Sum<&'a Measures> for Measures {
    fn sum<I: Iterator<Item = &'a Measures>>(iter: I) -> Measures {
        let mut total = Measures::default();
        for m in iter {
            total.add(m);
        }
        total
    }
}

/// `v` rounded to `places` decimals.
pub fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// Growth factor of the embedded default's latency histogram buckets.
pub const BUCKET_GROWTH: f64 = 1.05;
/// The bound on a histogram percentile's relative error: half a bucket.
pub const HISTOGRAM_ERROR: f64 = 0.025;
/// The error documented for ClickHouse's t-digest (of rank).
pub const TDIGEST_ERROR: f64 = 0.01;

/// The histogram bucket of a value in ms: `floor(ln(max(v, 1)) / ln 1.05)`.
pub fn bucket_of(v: i64) -> i64 {
    let v = v.max(1) as f64;
    (v.ln() / BUCKET_GROWTH.ln()).floor() as i64
}

/// The value a bucket stands for: its geometric middle, within
/// [`HISTOGRAM_ERROR`] of every value in it.
pub fn bucket_value(b: i64) -> f64 {
    BUCKET_GROWTH.powf(b as f64 + 0.5)
}

/// Percentiles p50, p90, p95, p99 of a histogram (`(bucket, count)`, any
/// order), by nearest rank; `None` when empty.
pub fn histogram_percentiles(hist: &mut [(i64, i64)]) -> Option<[f64; 4]> {
    hist.sort_unstable();
    let total: i64 = hist.iter().map(|(_, n)| n).sum();
    if total <= 0 {
        return None;
    }
    let mut out = [0.0; 4];
    for (slot, q) in out.iter_mut().zip([0.5, 0.9, 0.95, 0.99]) {
        let rank = ((q * total as f64).ceil() as i64).max(1);
        let mut seen = 0;
        for (b, n) in hist.iter() {
            seen += n;
            if seen >= rank {
                *slot = round(bucket_value(*b), 0);
                break;
            }
        }
    }
    Some(out)
}

/// A checked period: the local days `from..=to` in `tz`, as the UTC
/// milliseconds `[start_ms, end_ms)` (each local midnight taken at the UTC
/// hour it falls in).
#[derive(Debug, Clone)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The UTC hour in which local midnight of `d` in `tz` falls.
fn midnight_ms(d: NaiveDate, tz: Tz) -> i64 {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    let t = match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.timestamp_millis(),
        // No local midnight (a DST gap at midnight): the first hour after.
        None => tz
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map_or(naive.and_utc().timestamp_millis(), |t| t.timestamp_millis()),
    };
    t.div_euclid(HOUR_MS) * HOUR_MS
}

/// Today in `tz`.
pub fn today(tz: Tz, now_ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// Parses a time zone name (`UTC` when absent).
pub fn parse_tz(tz: Option<&str>) -> DomainResult<Tz> {
    match tz.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            DomainError::invalid(format!(
                "tz: '{}' is not an IANA time zone (e.g. UTC, Asia/Shanghai)",
                name.chars().take(60).collect::<String>()
            ))
        }),
    }
}

fn parse_date(v: Option<&str>, field: &str) -> DomainResult<Option<NaiveDate>> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                DomainError::invalid(format!("{field}: expected a date like 2026-11-01"))
            })
        })
        .transpose()
}

impl Period {
    /// From the `from`, `to`, `tz` parameters: defaults to the seven days
    /// ending today in `tz`; at most 366 days.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        tz: Option<&str>,
        now_ms: i64,
    ) -> DomainResult<Period> {
        let tz = parse_tz(tz)?;
        let to = parse_date(to, "to")?.unwrap_or_else(|| today(tz, now_ms));
        let from = parse_date(from, "from")?.unwrap_or(to - chrono::Duration::days(6));
        if to < from {
            return Err(DomainError::invalid("to: must not be before from"));
        }
        if (to - from).num_days() >= 366 {
            return Err(DomainError::invalid("from, to: at most 366 days at once"));
        }
        Ok(Period::of(from, to, tz))
    }

    /// The period of local days `from..=to` in `tz`.
    pub fn of(from: NaiveDate, to: NaiveDate, tz: Tz) -> Period {
        Period {
            from,
            to,
            tz,
            start_ms: midnight_ms(from, tz),
            end_ms: midnight_ms(to + chrono::Duration::days(1), tz),
        }
    }

    /// A calendar month (`YYYY-MM`) in `tz`.
    pub fn month(month: &str, tz: Tz) -> DomainResult<Period> {
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|_| DomainError::invalid("month: expected a month like 2026-11"))?;
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first);
        Ok(Period::of(first, next - chrono::Duration::days(1), tz))
    }

    /// Number of days.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same length just before.
    pub fn previous(&self) -> Period {
        let len = chrono::Duration::days(self.days());
        Period::of(self.from - len, self.to - len, self.tz)
    }

    /// Local days with their start (UTC ms), in order.
    pub fn day_buckets(&self) -> Vec<(NaiveDate, i64)> {
        let mut out = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            out.push((d, midnight_ms(d, self.tz)));
            d += chrono::Duration::days(1);
        }
        out
    }

    /// `"2026-11-19"`
    pub fn date(d: NaiveDate) -> String {
        d.format("%Y-%m-%d").to_string()
    }

    /// The local time of `ms`, formatted.
    pub fn local(&self, ms: i64, fmt: &str) -> String {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.tz)
            .format(fmt)
            .to_string()
    }

    /// The `period` object of every answer.
    pub fn json(&self) -> Value {
        json!({
            "from": Self::date(self.from),
            "to": Self::date(self.to),
            "tz": self.tz.name(),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
        })
    }

    /// The month (in `tz`) of today, as a period from its first day to its
    /// last, and the number of days elapsed (today included).
    pub fn this_month(tz: Tz, now_ms: i64) -> (Period, i64, i64) {
        let today = today(tz, now_ms);
        let name = format!("{:04}-{:02}", today.year(), today.month());
        let month = Period::month(&name, tz).unwrap_or_else(|_| Period::of(today, today, tz));
        let elapsed = (today - month.from).num_days() + 1;
        let days = month.days();
        (month, elapsed, days)
    }
}

/// Which rollup grain covers a part of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    /// The SQL rollups' `grain` value.
    pub fn code(self) -> &'static str {
        match self {
            Grain::Hour => "h",
            Grain::Day => "d",
        }
    }
}

/// `[start, end)` (hour-aligned) as the fewest rollup reads: whole UTC days
/// from the daily rollup, the hours before and after from the hourly one.
pub fn parts(start: i64, end: i64) -> Vec<(Grain, i64, i64)> {
    let first_day = (start + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
    let last_day = end.div_euclid(DAY_MS) * DAY_MS;
    if first_day >= last_day {
        return vec![(Grain::Hour, start, end)];
    }
    let mut out = Vec::new();
    if start < first_day {
        out.push((Grain::Hour, start, first_day));
    }
    out.push((Grain::Day, first_day, last_day));
    if last_day < end {
        out.push((Grain::Hour, last_day, end));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_percentile_is_within_the_bucket_error_of_the_exact_one() {
        let values: Vec<i64> = (1..=2000).map(|i| (i * i) % 7919 + 1).collect();
        let mut hist = std::collections::BTreeMap::new();
        for v in &values {
            *hist.entry(bucket_of(*v)).or_insert(0i64) += 1;
        }
        let mut h: Vec<(i64, i64)> = hist.into_iter().collect();
        let got = histogram_percentiles(&mut h).unwrap();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for (est, q) in got.iter().zip([0.5, 0.9, 0.95, 0.99]) {
            let rank = (q * sorted.len() as f64).ceil() as usize;
            let exact = sorted[rank - 1] as f64;
            assert!(
                (est - exact).abs() <= exact * HISTOGRAM_ERROR + 0.5,
                "q{q}: {est} vs {exact}"
            );
        }
    }

    #[test]
    fn parts_use_whole_days_and_hours_at_the_edges() {
        let day = DAY_MS;
        assert_eq!(parts(0, day * 2), vec![(Grain::Day, 0, day * 2)]);
        assert_eq!(
            parts(day - HOUR_MS * 8, day * 3 - HOUR_MS * 8),
            vec![
                (Grain::Hour, day - HOUR_MS * 8, day),
                (Grain::Day, day, day * 2),
                (Grain::Hour, day * 2, day * 3 - HOUR_MS * 8)
            ]
        );
        assert_eq!(
            parts(HOUR_MS, HOUR_MS * 5),
            vec![(Grain::Hour, HOUR_MS, HOUR_MS * 5)]
        );
    }

    #[test]
    fn local_days_start_at_local_midnight() {
        let p = Period::parse(
            Some("2026-11-01"),
            Some("2026-11-02"),
            Some("Asia/Shanghai"),
            0,
        )
        .unwrap();
        // 2026-11-01 00:00 +08:00 = 2026-10-31 16:00 UTC.
        assert_eq!(p.start_ms, 1_793_462_400_000);
        assert_eq!(p.end_ms - p.start_ms, 2 * DAY_MS);
        assert_eq!(
            p.previous().to,
            NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
        );
        assert!(Period::parse(Some("x"), None, None, 0).is_err());
        assert!(Period::parse(None, None, Some("Mars/Base"), 0).is_err());
        assert!(Period::parse(Some("2026-01-02"), Some("2026-01-01"), None, 0).is_err());
    }
}

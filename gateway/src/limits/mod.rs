//! Rate limits and quotas: the decisions the `rate_limit` and `quota`
//! plugins ask for, and the two places the state can live.
//!
//! - **In process** ([`local`]), the embedded default: rate limits are
//!   `governor` GCRA limiters, quotas are counters in memory. Each gateway
//!   enforces alone.
//! - **Redis** ([`shared`]), when `redis.url` is set: every decision is one
//!   Lua script run atomically on the Redis server, so any number of
//!   gateways enforce one limit. When Redis cannot be reached within its
//!   timeout, the gateway decides in process instead (and counts it in
//!   `aihub_gateway_limit_store_errors_total`) rather than refusing traffic.
//!
//! **Rate limits** are GCRA over one minute: a limit of N per minute lets a
//! burst of N through at once, then one more every 60/N seconds. A burst of
//! requests arriving over `t` seconds is therefore let through N + ⌊t·N/60⌋
//! times — the documented tolerance. The checks of one request are all or
//! nothing: when one refuses, the others are left as they were.
//!
//! **Quotas** (tokens and spend, per key and per account, total and per UTC
//! month) reserve before forwarding and settle after: see [`Reservation`] for
//! the bound on how far concurrent requests can overshoot. A scope's
//! counters never fall below the control plane's usage base for it (each
//! counter is the larger of the two), so a quota set on a key already in use
//! counts what it used, and a Redis that lost its data starts from the
//! control plane's figures, without ever counting a request twice.

pub mod local;
pub mod shared;

use aihub_contract::calendar::Month;
use aihub_contract::snapshot::{UsageBase, UsageScope};
use std::time::Duration;

/// The window every rate limit is expressed over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute (estimated at admission).
    Tokens,
}

impl RateKind {
    /// Short name in bucket names and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RateKind::Requests => "requests",
            RateKind::Tokens => "tokens",
        }
    }
}

/// One rate limit a request must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCheck {
    /// What it counts.
    pub kind: RateKind,
    /// Key or account.
    pub scope: UsageScope,
    /// Key id or developer id.
    pub id: String,
    /// Allowed per minute (at least 1).
    pub limit: u64,
    /// What this request costs (1 request, or its estimated tokens).
    pub cost: u64,
}

impl RateCheck {
    /// A stable name for the bucket.
    pub fn bucket(&self) -> String {
        let scope = match self.scope {
            UsageScope::Key => "k",
            UsageScope::Developer => "d",
        };
        format!("{scope}:{}:{}", self.id, self.kind.as_str())
    }
}

/// One limit after a decision: what the `x-ratelimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// The limit.
    pub limit: u64,
    /// What is left right now.
    pub remaining: u64,
    /// Until the limit is whole again.
    pub reset: Duration,
}

/// The answer to a set of rate checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateDecision {
    /// Every check passed and was counted; states in the checks' order.
    Allowed(Vec<RateState>),
    /// Check `index` refused; nothing was counted.
    Refused {
        /// Which check.
        index: usize,
        /// When it would pass.
        retry_after: Duration,
        /// Its state.
        state: RateState,
    },
    /// Check `index` can never pass: the request costs more than its limit.
    TooLarge {
        /// Which check.
        index: usize,
    },
}

/// Which quota a scope hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Tokens, whole life.
    TokensTotal,
    /// Tokens this month.
    TokensMonth,
    /// Spend, whole life.
    CostTotal,
    /// Spend this month.
    CostMonth,
}

/// The quotas of one scope (key or account) a request is admitted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCheck {
    /// Key or account.
    pub scope: UsageScope,
    /// Its id.
    pub id: String,
    /// Where its counters start when this gateway (or Redis) has none.
    pub base: Option<UsageBase>,
    /// Limits; `None` = none of that kind.
    pub tokens_total: Option<u64>,
    /// Tokens per month.
    pub tokens_month: Option<u64>,
    /// Spend, whole life, nano-units.
    pub cost_total: Option<i64>,
    /// Spend per month, nano-units.
    pub cost_month: Option<i64>,
}

/// A request asking to be admitted against quotas.
///
/// **The bound.** A scope admits a request only while its used plus
/// reserved amounts leave room for at least the request's prompt
/// (`min_tokens`, `min_cost_nanos`), and then reserves the request's whole
/// estimate (`tokens`: prompt estimate + `max_tokens`, or a default), capped
/// at what is left. Settling replaces the reservation with the real usage.
/// So usage can pass a quota only by what requests *in flight at the moment
/// it was reached* use beyond their reservations: at most, per scope, the
/// sum over those requests of (actual − reserved). A request with
/// `max_tokens` reserves all it can use unless the cap cut it.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// The request (reservation id).
    pub request_id: String,
    /// The current UTC month.
    pub month: Month,
    /// Smallest usage the request will have (its prompt estimate).
    pub min_tokens: u64,
    /// Its estimated usage.
    pub tokens: u64,
    /// Cost of `min_tokens`, nano-units.
    pub min_cost_nanos: i64,
    /// Cost of `tokens`, nano-units.
    pub cost_nanos: i64,
    /// Scopes to admit against.
    pub checks: Vec<QuotaCheck>,
}

/// The answer to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Reserved: tokens and cost per check, in the checks' order.
    Admitted(Vec<(u64, i64)>),
    /// Check `index` has no room.
    Refused {
        /// Which check.
        index: usize,
        /// Which of its quotas.
        kind: QuotaKind,
        /// The room is taken by requests in flight, not spent: retrying
        /// when they finish can succeed.
        in_flight: bool,
    },
}

/// What a finished request used, to settle its reservation with.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The request (reservation id).
    pub request_id: String,
    /// The UTC month of the reservation.
    pub month: Month,
    /// Scopes with what each had reserved.
    pub scopes: Vec<(QuotaCheck, (u64, i64))>,
    /// Real tokens.
    pub tokens: u64,
    /// Real cost, nano-units.
    pub cost_nanos: i64,
}

/// Where a decision was made, so its follow-up (refund, settle) goes to
/// the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// In process.
    Local,
    /// Redis.
    Redis,
}

/// Rate limits and quotas, in Redis when configured, else in process.
pub struct Limits {
    local: local::LocalLimits,
    redis: Option<shared::RedisLimits>,
    store_errors: prometheus::IntCounter,
}

impl Limits {
    /// In-process only.
    pub fn local(store_errors: prometheus::IntCounter) -> Self {
        Limits {
            local: local::LocalLimits::default(),
            redis: None,
            store_errors,
        }
    }

    /// Shared through Redis, falling back to in process.
    pub fn with_redis(redis: shared::RedisLimits, store_errors: prometheus::IntCounter) -> Self {
        Limits {
            redis: Some(redis),
            ..Self::local(store_errors)
        }
    }

    /// The in-process store (tests and diagnostics).
    pub fn local_store(&self) -> &local::LocalLimits {
        &self.local
    }

    fn fell_back(&self, what: &str, e: &shared::StoreError) {
        self.store_errors.inc();
        if !matches!(e, shared::StoreError::Down) {
            tracing::warn!(error = %e, "{what}: Redis unavailable, deciding in process");
        }
    }

    /// Checks rate limits; all pass and are counted, or none is.
    pub async fn admit(&self, checks: &[RateCheck]) -> (RateDecision, Decider) {
        if let Some(r) = &self.redis {
            match r.admit(checks).await {
                Ok(d) => return (d, Decider::Redis),
                Err(e) => self.fell_back("rate limit", &e),
            }
        }
        (self.local.admit(checks), Decider::Local)
    }

    /// Gives back rate-limit checks that passed.
    pub async fn refund(&self, checks: &[RateCheck], at: Decider) {
        match (at, &self.redis) {
            (Decider::Redis, Some(r)) => {
                if let Err(e) = r.refund(checks).await {
                    self.fell_back("rate-limit refund", &e);
                }
            }
            _ => self.local.refund(checks),
        }
    }

    /// Admits against quotas and reserves the estimate.
    pub async fn reserve(&self, r: &Reservation) -> (QuotaDecision, Decider) {
        if let Some(redis) = &self.redis {
            match redis.reserve(r).await {
                Ok(d) => return (d, Decider::Redis),
                Err(e) => self.fell_back("quota", &e),
            }
        }
        (self.local.reserve(r), Decider::Local)
    }

    /// Replaces a reservation with the real usage.
    pub async fn settle(&self, s: &Settlement, at: Decider) {
        match (at, &self.redis) {
            (Decider::Redis, Some(r)) => {
                if let Err(e) = r.settle(s).await {
                    self.fell_back("quota settle", &e);
                }
            }
            _ => self.local.settle(s),
        }
    }
}

/// Formats a duration as OpenAI's rate-limit headers do: `1s`, `6m0s`, `20ms`.
pub fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        let s = format!("{secs:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let whole = d.as_secs();
    let (h, m, s) = (whole / 3600, (whole % 3600) / 60, whole % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else {
        format!("{m}m{s}s")
    }
}

/// Seconds for `retry-after`: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// Seeds for a scope's counters: the base when it is for `month`, else only
/// its totals.
pub(crate) fn seed(base: Option<&UsageBase>, month: &str) -> (u64, i64, u64, i64) {
    match base {
        None => (0, 0, 0, 0),
        Some(b) if b.month == month => (
            b.tokens_total,
            b.cost_nanos_total,
            b.tokens_month,
            b.cost_nanos_month,
        ),
        Some(b) => (b.tokens_total, b.cost_nanos_total, 0, 0),
    }
}

/// Room left under `limit` after `used + reserved`, or `None` when there is no limit.
fn room_u(limit: Option<u64>, used: u64, reserved: u64) -> Option<u64> {
    limit.map(|l| l.saturating_sub(used.saturating_add(reserved)))
}

fn room_i(limit: Option<i64>, used: i64, reserved: i64) -> Option<i64> {
    limit.map(|l| (l - used.saturating_add(reserved)).max(0))
}

/// The counters of one scope, as both stores keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tokens, whole life.
    pub tokens_total: u64,
    /// Spend, whole life.
    pub cost_total: i64,
    /// Tokens this month.
    pub tokens_month: u64,
    /// Spend this month.
    pub cost_month: i64,
    /// Tokens reserved by requests in flight.
    pub reserved_tokens: u64,
    /// Spend reserved by requests in flight.
    pub reserved_cost: i64,
}

/// The admission rule for one scope (shared by the local store, the Redis
/// script mirrors it): `Err((kind, in_flight))` when a quota has no room
/// for the request's minimum (`in_flight`: there would be without the
/// reservations of requests in progress), else what to reserve.
pub fn admit_scope(
    c: &Counters,
    check: &QuotaCheck,
    r: &Reservation,
) -> Result<(u64, i64), (QuotaKind, bool)> {
    let fits = |room: u64, min: u64| room > 0 && room >= min;
    let fits_i = |room: i64, min: i64| room > 0 && room >= min;
    let tok = [
        (QuotaKind::TokensTotal, check.tokens_total, c.tokens_total),
        (QuotaKind::TokensMonth, check.tokens_month, c.tokens_month),
    ];
    let mut reserve_tokens = r.tokens;
    for (kind, limit, used) in tok {
        if let Some(room) = room_u(limit, used, c.reserved_tokens) {
            if !fits(room, r.min_tokens) {
                let unreserved = room_u(limit, used, 0).unwrap_or(0);
                return Err((kind, fits(unreserved, r.min_tokens)));
            }
            reserve_tokens = reserve_tokens.min(room);
        }
    }
    let cost = [
        (QuotaKind::CostTotal, check.cost_total, c.cost_total),
        (QuotaKind::CostMonth, check.cost_month, c.cost_month),
    ];
    let mut reserve_cost = r.cost_nanos;
    for (kind, limit, used) in cost {
        if let Some(room) = room_i(limit, used, c.reserved_cost) {
            if !fits_i(room, r.min_cost_nanos) {
                let unreserved = room_i(limit, used, 0).unwrap_or(0);
                return Err((kind, fits_i(unreserved, r.min_cost_nanos)));
            }
            reserve_cost = reserve_cost.min(room);
        }
    }
    Ok((reserve_tokens, reserve_cost))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reset_formats_like_openai() {
        assert_eq!(format_reset(Duration::from_millis(20)), "20ms");
        assert_eq!(format_reset(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_reset(Duration::from_secs(1)), "1s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
        assert_eq!(format_reset(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    fn check(tokens_month: Option<u64>, cost_month: Option<i64>) -> QuotaCheck {
        QuotaCheck {
            scope: UsageScope::Key,
            id: "k".into(),
            base: None,
            tokens_total: None,
            tokens_month,
            cost_total: None,
            cost_month,
        }
    }

    fn reservation(min_tokens: u64, tokens: u64) -> Reservation {
        Reservation {
            request_id: "r".into(),
            month: aihub_contract::calendar::month_of(0),
            min_tokens,
            tokens,
            min_cost_nanos: 0,
            cost_nanos: 0,
            checks: vec![],
        }
    }

    #[test]
    fn admits_while_the_prompt_fits_and_caps_the_reservation() {
        let c = Counters {
            tokens_month: 900,
            reserved_tokens: 50,
            ..Counters::default()
        };
        // 50 left: a 40-token prompt fits, the 300 estimate is capped at 50.
        assert_eq!(
            admit_scope(&c, &check(Some(1000), None), &reservation(40, 300)),
            Ok((50, 0))
        );
        // A 60-token prompt does not fit, but only because of what is in flight.
        assert_eq!(
            admit_scope(&c, &check(Some(1000), None), &reservation(60, 300)),
            Err((QuotaKind::TokensMonth, true))
        );
        // No limit: the whole estimate is reserved.
        assert_eq!(
            admit_scope(&c, &check(None, None), &reservation(60, 300)),
            Ok((300, 0))
        );
        // A spent budget refuses even a free request.
        let spent = Counters {
            cost_month: 10,
            ..Counters::default()
        };
        assert_eq!(
            admit_scope(&spent, &check(None, Some(10)), &reservation(1, 1)),
            Err((QuotaKind::CostMonth, false))
        );
    }

    #[test]
    fn seeds_only_from_the_same_month() {
        let b = UsageBase {
            scope: UsageScope::Key,
            id: "k".into(),
            month: "2026-10".into(),
            tokens_month: 5,
            cost_nanos_month: 6,
            tokens_total: 50,
            cost_nanos_total: 60,
        };
        assert_eq!(seed(Some(&b), "2026-10"), (50, 60, 5, 6));
        assert_eq!(seed(Some(&b), "2026-11"), (50, 60, 0, 0));
        assert_eq!(seed(None, "2026-11"), (0, 0, 0, 0));
    }
}

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
//! the bound on how far concurrent requests can overshoot. **Funds** (an
//! account's plan allowance and credit, [`admit_funds`]) are one more scope
//! reserved and settled the same way, with their own rule. A scope's
//! counters never fall below the control plane's usage base for it (each
//! counter is the larger of the two), so a quota set on a key already in use
//! counts what it used, and a Redis that lost its data starts from the
//! control plane's figures, without ever counting a request twice.

pub mod local;
pub mod shared;

use aihub_contract::calendar::Month;
use aihub_contract::snapshot::{Funds, UsageBase, UsageScope};
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
        format!(
            "{}:{}:{}",
            scope_letter(self.scope),
            self.id,
            self.kind.as_str()
        )
    }
}

/// The scope's letter in bucket and hash names.
pub(crate) fn scope_letter(s: UsageScope) -> &'static str {
    match s {
        UsageScope::Key => "k",
        UsageScope::Developer => "d",
        UsageScope::Funds => "f",
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
    /// The account's plan allowance is used up and its credit cannot pay
    /// for the request (see [`admit_funds`]).
    Funds,
}

/// The quotas of one scope (key or account) a request is admitted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCheck {
    /// Key, account, or the account's funds.
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
    /// The account's plan allowance and spend limit: set for the
    /// [`UsageScope::Funds`] scope only, which is then admitted by
    /// [`admit_funds`] and settled by [`funds_charge`] (the four limits
    /// above are unused).
    pub funds: Option<Funds>,
}

impl QuotaCheck {
    /// The funds scope of developer `id`.
    pub fn funds(id: &str, base: Option<UsageBase>, funds: Funds) -> Self {
        QuotaCheck {
            scope: UsageScope::Funds,
            id: id.to_string(),
            base,
            tokens_total: None,
            tokens_month: None,
            cost_total: None,
            cost_month: None,
            funds: Some(funds),
        }
    }
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
///
/// **Funds** ([`admit_funds`]) follow the same idea with money: a request
/// reserves the allowance tokens it may use and the price of the rest of its
/// estimate, capped at the money left; settling charges the part of its real
/// usage beyond the allowance ([`funds_charge`]). So the money spent beyond
/// the spend limit is at most the sum, over the requests in flight when the
/// money ran out, of (actual beyond-allowance cost − reserved cost); with
/// `max_tokens` set that is only the prompt estimate's error (and, for an
/// invoiced account, without a spend limit, nothing is limited).
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
    ///
    /// With Redis, what it allows is also counted in process, so that a
    /// gateway that falls back (Redis slow or down) starts from what it has
    /// itself admitted rather than from nothing.
    pub async fn admit(&self, checks: &[RateCheck]) -> (RateDecision, Decider) {
        if let Some(r) = &self.redis {
            match r.admit(checks).await {
                Ok(d) => {
                    if matches!(d, RateDecision::Allowed(_)) {
                        self.local.shadow_admit(checks);
                    }
                    return (d, Decider::Redis);
                }
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
                self.local.refund(checks);
            }
            _ => self.local.refund(checks),
        }
    }

    /// Admits against quotas and reserves the estimate.
    ///
    /// With Redis, its reservations are mirrored in process (and settled
    /// there too): should Redis stop answering, this gateway goes on from
    /// what it has spent and holds, so a prepaid balance it has used up is
    /// not spent a second time from the in-process counters. A Redis
    /// admission is also confirmed in process, where requests this gateway
    /// admitted while Redis was away are still held; refused there, the
    /// Redis reservation is released at once.
    pub async fn reserve(&self, r: &Reservation) -> (QuotaDecision, Decider) {
        if let Some(redis) = &self.redis {
            match redis.reserve(r).await {
                Ok(QuotaDecision::Admitted(amounts)) => {
                    if let Err(refused) = self.local.confirm(r, &amounts) {
                        let release = Settlement {
                            request_id: r.request_id.clone(),
                            month: r.month.clone(),
                            scopes: r.checks.iter().cloned().zip(amounts).collect(),
                            tokens: 0,
                            cost_nanos: 0,
                        };
                        if let Err(e) = redis.settle(&release).await {
                            self.fell_back("quota release", &e);
                        }
                        return (refused, Decider::Redis);
                    }
                    return (QuotaDecision::Admitted(amounts), Decider::Redis);
                }
                Ok(d) => return (d, Decider::Redis),
                Err(e) => self.fell_back("quota", &e),
            }
        }
        (self.local.reserve(r), Decider::Local)
    }

    /// Replaces a reservation with the real usage, in process and in Redis
    /// whichever decided: usage admitted in process while Redis was away
    /// reaches Redis as soon as it answers again (Redis settles a request it
    /// holds no reservation for as usage alone).
    pub async fn settle(&self, s: &Settlement, at: Decider) {
        if let Some(r) = &self.redis {
            if let Err(e) = r.settle(s).await {
                if at == Decider::Redis {
                    self.fell_back("quota settle", &e);
                }
            }
        }
        self.local.settle(s);
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

/// `ceil(a × part / whole)` for `0 ≤ part ≤ whole`: the price of `part` of
/// `whole` tokens costing `a` (all of `a` when `part == whole`, 0 when
/// `whole == 0`). The Redis scripts compute the same.
pub fn share(a: i64, part: u64, whole: u64) -> i64 {
    if a <= 0 || part == 0 || whole == 0 {
        return 0;
    }
    if part >= whole {
        return a;
    }
    let n = i128::from(a) * i128::from(part);
    let d = i128::from(whole);
    i64::try_from((n + d - 1) / d).unwrap_or(i64::MAX)
}

/// The admission rule of an account's funds (the Redis script mirrors it).
/// The counters are those of the [`UsageScope::Funds`] scope:
/// `tokens_month` the account's tokens this month, `cost_total` what usage
/// beyond the allowance has been charged, `reserved_*` what requests in
/// flight hold. With `tok_room` the allowance left and `money_room` the
/// spend limit left (unlimited when there is none):
///
/// - while the allowance has room for the prompt (`min_tokens`), admit and
///   reserve the estimate's tokens up to `tok_room`, plus the price of the
///   rest of the estimate (proportionally, rounded up) capped at
///   `money_room`;
/// - else, without a spend limit (usage beyond the allowance is invoiced),
///   admit and reserve what is left of the allowance;
/// - else while the money left pays for the prompt (`min_cost_nanos`), admit
///   and reserve what is left of the allowance and the estimate's price
///   capped at `money_room`;
/// - else refuse with [`QuotaKind::Funds`], `in_flight` when it would have
///   been admitted without the reservations of requests in progress.
pub fn admit_funds(
    c: &Counters,
    funds: &Funds,
    r: &Reservation,
) -> Result<(u64, i64), (QuotaKind, bool)> {
    let est_cost = r.cost_nanos.max(0);
    let decide = |reserved_tokens: u64, reserved_cost: i64| -> Option<(u64, i64)> {
        let tok_room = funds
            .allowance_tokens_monthly
            .saturating_sub(c.tokens_month.saturating_add(reserved_tokens));
        let money_room = funds.spend_limit_nanos.map(|l| {
            l.saturating_sub(c.cost_total.saturating_add(reserved_cost))
                .max(0)
        });
        let take_tokens = r.tokens.min(tok_room);
        if tok_room > 0 && tok_room >= r.min_tokens {
            let beyond = share(est_cost, r.tokens - take_tokens, r.tokens);
            return Some((take_tokens, money_room.map_or(0, |m| beyond.min(m))));
        }
        match money_room {
            None => Some((take_tokens, 0)),
            Some(m) if m > 0 && m >= r.min_cost_nanos => Some((take_tokens, est_cost.min(m))),
            Some(_) => None,
        }
    };
    match decide(c.reserved_tokens, c.reserved_cost) {
        Some(amounts) => Ok(amounts),
        None => Err((QuotaKind::Funds, decide(0, 0).is_some())),
    }
}

/// What settling a request charges an account's funds: the part of its
/// real usage (`tokens`, costing `cost_nanos`) beyond the monthly
/// `allowance`, given the month's tokens `used_before` it, priced
/// proportionally and rounded up (all of the cost when all of it is beyond,
/// nothing when it used no tokens).
pub fn funds_charge(allowance: u64, used_before: u64, tokens: u64, cost_nanos: i64) -> i64 {
    let over = used_before
        .saturating_add(tokens)
        .saturating_sub(allowance)
        .min(tokens);
    share(cost_nanos, over, tokens)
}

/// Settles a request's real usage into a scope's counters (the reservation
/// itself is released by the caller).
pub(crate) fn apply_usage(c: &mut Counters, check: &QuotaCheck, tokens: u64, cost_nanos: i64) {
    match &check.funds {
        Some(f) => {
            let charge = funds_charge(
                f.allowance_tokens_monthly,
                c.tokens_month,
                tokens,
                cost_nanos,
            );
            c.tokens_month = c.tokens_month.saturating_add(tokens);
            c.cost_total = c.cost_total.saturating_add(charge);
            c.cost_month = c.cost_month.saturating_add(charge);
        }
        None => {
            c.tokens_total = c.tokens_total.saturating_add(tokens);
            c.cost_total = c.cost_total.saturating_add(cost_nanos);
            c.tokens_month = c.tokens_month.saturating_add(tokens);
            c.cost_month = c.cost_month.saturating_add(cost_nanos);
        }
    }
}

/// The admission rule of any scope: [`admit_funds`] for funds, else
/// [`admit_scope`].
pub fn admit(
    c: &Counters,
    check: &QuotaCheck,
    r: &Reservation,
) -> Result<(u64, i64), (QuotaKind, bool)> {
    match &check.funds {
        Some(f) => admit_funds(c, f, r),
        None => admit_scope(c, check, r),
    }
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
            funds: None,
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

    fn funds(allowance: u64, spend_limit: Option<i64>) -> Funds {
        Funds {
            plan: "Free".into(),
            allowance_tokens_monthly: allowance,
            spend_limit_nanos: spend_limit,
        }
    }

    /// A prompt of 40 tokens, 300 with the completion, at 10 nano-units a token.
    fn priced() -> Reservation {
        Reservation {
            min_cost_nanos: 400,
            cost_nanos: 3000,
            ..reservation(40, 300)
        }
    }

    fn used(tokens_month: u64, cost_total: i64) -> Counters {
        Counters {
            tokens_month,
            cost_total,
            ..Counters::default()
        }
    }

    #[test]
    fn funds_reserve_the_allowance_first_and_price_the_rest() {
        let r = priced();
        // 100 tokens of allowance left: they are reserved, the other 200
        // tokens of the estimate are priced (2000) and reserved from the money.
        assert_eq!(
            admit_funds(&used(900, 0), &funds(1000, Some(10_000)), &r),
            Ok((100, 2000))
        );
        // ...capped at the money left, even when nothing is left.
        assert_eq!(
            admit_funds(&used(900, 9_500), &funds(1000, Some(10_000)), &r),
            Ok((100, 500))
        );
        assert_eq!(
            admit_funds(&used(900, 10_000), &funds(1000, Some(10_000)), &r),
            Ok((100, 0))
        );
        // Invoiced beyond the allowance: no money is reserved.
        assert_eq!(
            admit_funds(&used(900, 0), &funds(1000, None), &r),
            Ok((100, 0))
        );
        // The whole estimate fits in the allowance: no money either.
        assert_eq!(
            admit_funds(&used(0, 0), &funds(1000, Some(0)), &r),
            Ok((300, 0))
        );
        // Rounded up: 1 token beyond of 3 costing 10 is 4.
        let tiny = Reservation {
            min_cost_nanos: 1,
            cost_nanos: 10,
            ..reservation(1, 3)
        };
        assert_eq!(
            admit_funds(&used(998, 0), &funds(1000, Some(100)), &tiny),
            Ok((2, 4))
        );
    }

    #[test]
    fn funds_past_the_allowance_pay_from_credit_or_refuse() {
        let r = priced();
        // Allowance used up: the credit pays, capped at what is left.
        assert_eq!(
            admit_funds(&used(1000, 8_000), &funds(1000, Some(10_000)), &r),
            Ok((0, 2000))
        );
        assert_eq!(
            admit_funds(&used(1000, 0), &funds(1000, Some(10_000)), &r),
            Ok((0, 3000))
        );
        // 20 tokens left do not hold the 40-token prompt: the credit pays
        // for the whole estimate, the 20 are reserved too.
        assert_eq!(
            admit_funds(&used(980, 0), &funds(1000, Some(10_000)), &r),
            Ok((20, 3000))
        );
        // Invoiced: always admitted, nothing reserved once the allowance is used.
        assert_eq!(
            admit_funds(&used(5000, 1 << 40), &funds(1000, None), &r),
            Ok((0, 0))
        );
        // Empty balance: refused, spent.
        assert_eq!(
            admit_funds(&used(1000, 10_000), &funds(1000, Some(10_000)), &r),
            Err((QuotaKind::Funds, false))
        );
        assert_eq!(
            admit_funds(&used(0, 0), &funds(0, Some(0)), &r),
            Err((QuotaKind::Funds, false))
        );
        // Less left than the prompt costs: refused, spent.
        assert_eq!(
            admit_funds(&used(1000, 9_700), &funds(1000, Some(10_000)), &r),
            Err((QuotaKind::Funds, false))
        );
    }

    #[test]
    fn funds_held_by_requests_in_flight_refuse_as_in_flight() {
        let r = priced();
        // The money left is reserved.
        let c = Counters {
            reserved_cost: 1_000,
            ..used(1000, 9_000)
        };
        assert_eq!(
            admit_funds(&c, &funds(1000, Some(10_000)), &r),
            Err((QuotaKind::Funds, true))
        );
        // The allowance left is reserved and there is no credit.
        let c = Counters {
            reserved_tokens: 100,
            ..used(900, 0)
        };
        assert_eq!(
            admit_funds(&c, &funds(1000, Some(0)), &r),
            Err((QuotaKind::Funds, true))
        );
        // Both reserved by others, but the money left would not hold the
        // prompt anyway: spent.
        let c = Counters {
            reserved_cost: 100,
            ..used(1000, 9_800)
        };
        assert_eq!(
            admit_funds(&c, &funds(1000, Some(10_000)), &r),
            Err((QuotaKind::Funds, false))
        );
    }

    #[test]
    fn settling_charges_only_usage_beyond_the_allowance() {
        // Straddling: 100 of the 300 tokens were in the allowance.
        assert_eq!(funds_charge(1000, 900, 300, 3000), 2000);
        // All inside, all beyond, and beyond already.
        assert_eq!(funds_charge(1000, 0, 300, 3000), 0);
        assert_eq!(funds_charge(1000, 700, 300, 3000), 0);
        assert_eq!(funds_charge(1000, 1000, 300, 3000), 3000);
        assert_eq!(funds_charge(0, 0, 300, 3000), 3000);
        assert_eq!(funds_charge(1000, 5000, 300, 3001), 3001);
        // Rounded up; nothing for no tokens.
        assert_eq!(funds_charge(1000, 999, 3, 10), 7);
        assert_eq!(funds_charge(1000, 2000, 0, 10), 0);
        // No overflow with large costs.
        assert_eq!(funds_charge(1, 0, 2, i64::MAX - 1), i64::MAX / 2);

        let mut c = used(900, 50);
        let check = QuotaCheck::funds("dev", None, funds(1000, Some(10_000)));
        apply_usage(&mut c, &check, 300, 3000);
        assert_eq!(
            (c.tokens_month, c.cost_total, c.cost_month),
            (1200, 2050, 2000)
        );
        assert_eq!(c.tokens_total, 0);
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

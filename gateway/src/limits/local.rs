//! The in-process store: `governor` GCRA limiters for rate limits, a map of
//! counters for quotas.
//!
//! `governor` keeps one quota per limiter, so there is one keyed limiter per
//! (kind, limit) pair and keys with equal limits share it. Its state lives
//! in [`RefundableStore`], a keyed store like governor's own except that a
//! passed check can be given back: that is how one refusing check leaves
//! the others of the same request as they were.

use super::{
    admit_scope, seed, Counters, QuotaDecision, RateCheck, RateDecision, RateKind, RateState,
    Reservation, Settlement, WINDOW,
};
use aihub_contract::snapshot::UsageScope;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A keyed GCRA state store whose passed checks can be refunded. Clones
/// share the cells: the limiter owns one, [`LocalLimits`] keeps another to
/// refund through.
#[derive(Default, Clone)]
pub struct RefundableStore {
    cells: Arc<DashMap<String, AtomicU64>>,
}

impl StateStore for RefundableStore {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let cell = match self.cells.get(key) {
            Some(c) => c,
            None => self.cells.entry(key.clone()).or_default().downgrade(),
        };
        // 0 means "never measured", as in governor's own store.
        let mut prev = cell.load(Ordering::Acquire);
        loop {
            let (result, next) = f((prev != 0).then(|| Nanos::from(prev)))?;
            match cell.compare_exchange_weak(
                prev,
                next.as_u64().max(1),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(result),
                Err(now) => prev = now,
            }
        }
    }
}

impl RefundableStore {
    /// Gives back `nanos` of a key's theoretical arrival time.
    fn refund(&self, key: &str, nanos: u64) {
        if let Some(cell) = self.cells.get(key) {
            let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_sub(nanos).max(1))
            });
        }
    }
}

type Limiter = RateLimiter<String, RefundableStore, DefaultClock, StateInformationMiddleware>;

/// In-process rate limits and quotas.
pub struct LocalLimits {
    clock: DefaultClock,
    limiters: DashMap<(RateKind, u32), (Arc<Limiter>, RefundableStore)>,
    quotas: Mutex<HashMap<(UsageScope, String), ScopeCounters>>,
}

#[derive(Debug, Default)]
struct ScopeCounters {
    month: String,
    counters: Counters,
}

impl Default for LocalLimits {
    fn default() -> Self {
        LocalLimits {
            clock: DefaultClock::default(),
            limiters: DashMap::new(),
            quotas: Mutex::new(HashMap::new()),
        }
    }
}

fn limit_u32(limit: u64) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(limit).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// Time one cell of a limit takes to come back.
fn interval(limit: NonZeroU32) -> Duration {
    WINDOW / limit.get()
}

impl LocalLimits {
    fn limiter(&self, kind: RateKind, limit: NonZeroU32) -> Arc<Limiter> {
        self.limiters
            .entry((kind, limit.get()))
            .or_insert_with(|| {
                let store = RefundableStore::default();
                let limiter =
                    RateLimiter::new(Quota::per_minute(limit), store.clone(), self.clock.clone());
                (Arc::new(limiter), store)
            })
            .0
            .clone()
    }

    fn refund_one(&self, check: &RateCheck) {
        let limit = limit_u32(check.limit);
        let cost = u32::try_from(check.cost).unwrap_or(u32::MAX).max(1);
        let nanos = interval(limit).as_nanos() as u64 * u64::from(cost);
        if let Some(entry) = self.limiters.get(&(check.kind, limit.get())) {
            entry.1.refund(&check.bucket(), nanos);
        }
    }

    /// Checks every limit; all pass and are counted, or none is.
    pub fn admit(&self, checks: &[RateCheck]) -> RateDecision {
        let mut states = Vec::with_capacity(checks.len());
        for (index, check) in checks.iter().enumerate() {
            let limit = limit_u32(check.limit);
            let limiter = self.limiter(check.kind, limit);
            let cost = u32::try_from(check.cost).unwrap_or(u32::MAX).max(1);
            let n = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
            let outcome = limiter.check_key_n(&check.bucket(), n);
            let refused = match outcome {
                Ok(Ok(snapshot)) => {
                    let remaining = u64::from(snapshot.remaining_burst_capacity());
                    let used = u64::from(limit.get()).saturating_sub(remaining);
                    states.push(RateState {
                        limit: check.limit,
                        remaining,
                        reset: interval(limit) * u32::try_from(used).unwrap_or(u32::MAX),
                    });
                    continue;
                }
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    RateDecision::Refused {
                        index,
                        retry_after: wait,
                        state: RateState {
                            limit: check.limit,
                            remaining: 0,
                            reset: wait + interval(limit) * cost,
                        },
                    }
                }
                Err(_) => RateDecision::TooLarge { index },
            };
            for done in &checks[..index] {
                self.refund_one(done);
            }
            return refused;
        }
        RateDecision::Allowed(states)
    }

    /// Gives back checks that passed (the request was refused later).
    pub fn refund(&self, checks: &[RateCheck]) {
        for c in checks {
            self.refund_one(c);
        }
    }

    fn with_scope<T>(
        map: &mut HashMap<(UsageScope, String), ScopeCounters>,
        check: &super::QuotaCheck,
        month: &str,
        f: impl FnOnce(&mut Counters) -> T,
    ) -> T {
        let entry = map
            .entry((check.scope, check.id.clone()))
            .or_insert_with(|| {
                let (tt, ct, tm, cm) = seed(check.base.as_ref(), month);
                ScopeCounters {
                    month: month.to_string(),
                    counters: Counters {
                        tokens_total: tt,
                        cost_total: ct,
                        tokens_month: tm,
                        cost_month: cm,
                        ..Counters::default()
                    },
                }
            });
        if entry.month != month {
            entry.month = month.to_string();
            entry.counters.tokens_month = 0;
            entry.counters.cost_month = 0;
        }
        // Never below what the control plane knows was used.
        let (tt, ct, tm, cm) = seed(check.base.as_ref(), month);
        let c = &mut entry.counters;
        c.tokens_total = c.tokens_total.max(tt);
        c.cost_total = c.cost_total.max(ct);
        c.tokens_month = c.tokens_month.max(tm);
        c.cost_month = c.cost_month.max(cm);
        f(&mut entry.counters)
    }

    /// Admits a request against its quotas and reserves its estimate.
    pub fn reserve(&self, r: &Reservation) -> QuotaDecision {
        let mut map = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        let mut amounts = Vec::with_capacity(r.checks.len());
        for (index, check) in r.checks.iter().enumerate() {
            let decided =
                Self::with_scope(&mut map, check, &r.month.name, |c| admit_scope(c, check, r));
            match decided {
                Ok(a) => amounts.push(a),
                Err((kind, in_flight)) => {
                    return QuotaDecision::Refused {
                        index,
                        kind,
                        in_flight,
                    }
                }
            }
        }
        for (check, (t, c)) in r.checks.iter().zip(&amounts) {
            Self::with_scope(&mut map, check, &r.month.name, |counters| {
                counters.reserved_tokens += t;
                counters.reserved_cost += c;
            });
        }
        QuotaDecision::Admitted(amounts)
    }

    /// Replaces a reservation with what the request really used.
    pub fn settle(&self, s: &Settlement) {
        let mut map = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        for (check, (t, c)) in &s.scopes {
            Self::with_scope(&mut map, check, &s.month.name, |counters| {
                counters.reserved_tokens = counters.reserved_tokens.saturating_sub(*t);
                counters.reserved_cost = (counters.reserved_cost - c).max(0);
                counters.tokens_total += s.tokens;
                counters.cost_total += s.cost_nanos;
                counters.tokens_month += s.tokens;
                counters.cost_month += s.cost_nanos;
            });
        }
    }

    /// A scope's counters (tests and diagnostics).
    pub fn counters(&self, scope: UsageScope, id: &str) -> Option<Counters> {
        let map = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(scope, id.to_string()))
            .map(|s| s.counters.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rpm(id: &str, limit: u64) -> RateCheck {
        RateCheck {
            kind: RateKind::Requests,
            scope: UsageScope::Key,
            id: id.into(),
            limit,
            cost: 1,
        }
    }

    #[test]
    fn a_burst_of_the_limit_passes_then_refusals() {
        let l = LocalLimits::default();
        for i in 0..5 {
            match l.admit(&[rpm("a", 5)]) {
                RateDecision::Allowed(s) => assert_eq!(s[0].remaining, 4 - i),
                other => panic!("refused early: {other:?}"),
            }
        }
        match l.admit(&[rpm("a", 5)]) {
            RateDecision::Refused {
                index, retry_after, ..
            } => {
                assert_eq!(index, 0);
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(12));
            }
            other => panic!("not refused: {other:?}"),
        }
        // Another key with the same limit is separate.
        assert!(matches!(l.admit(&[rpm("b", 5)]), RateDecision::Allowed(_)));
    }

    #[test]
    fn a_refusal_consumes_no_other_check() {
        let l = LocalLimits::default();
        // The account allows 1, the key 3: the second request is refused by
        // the account and must not use up the key.
        let both = |n| {
            [
                rpm("key", 3),
                RateCheck {
                    scope: UsageScope::Developer,
                    ..rpm(n, 1)
                },
            ]
        };
        assert!(matches!(l.admit(&both("dev")), RateDecision::Allowed(_)));
        for _ in 0..3 {
            assert!(matches!(
                l.admit(&both("dev")),
                RateDecision::Refused { index: 1, .. }
            ));
        }
        // The key still has 2 of its 3.
        match l.admit(&[rpm("key", 3)]) {
            RateDecision::Allowed(s) => assert_eq!(s[0].remaining, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counters_never_fall_below_the_control_planes_base() {
        use crate::limits::{QuotaCheck, QuotaDecision, Reservation};
        use aihub_contract::calendar::month_of;
        use aihub_contract::snapshot::UsageBase;
        let l = LocalLimits::default();
        let now = 1_795_629_600_000;
        let check = |used: u64| QuotaCheck {
            scope: UsageScope::Key,
            id: "k".into(),
            base: Some(UsageBase {
                scope: UsageScope::Key,
                id: "k".into(),
                month: month_of(now).name,
                tokens_month: used,
                cost_nanos_month: 0,
                tokens_total: used,
                cost_nanos_total: 0,
            }),
            tokens_total: Some(100),
            tokens_month: None,
            cost_total: None,
            cost_month: None,
        };
        let r = |c| Reservation {
            request_id: "r".into(),
            month: month_of(now),
            min_tokens: 10,
            tokens: 10,
            min_cost_nanos: 0,
            cost_nanos: 0,
            checks: vec![c],
        };
        assert!(matches!(
            l.reserve(&r(check(0))),
            QuotaDecision::Admitted(_)
        ));
        // A fresher base (the key had been used before its quota) wins.
        assert!(matches!(
            l.reserve(&r(check(95))),
            QuotaDecision::Refused {
                in_flight: false,
                ..
            }
        ));
        assert_eq!(l.counters(UsageScope::Key, "k").unwrap().tokens_total, 95);
        // An older, smaller one changes nothing.
        assert!(matches!(
            l.reserve(&r(check(3))),
            QuotaDecision::Refused { .. }
        ));
        assert_eq!(l.counters(UsageScope::Key, "k").unwrap().tokens_total, 95);
    }

    #[test]
    fn a_request_larger_than_the_limit_is_too_large() {
        let l = LocalLimits::default();
        let c = RateCheck {
            kind: RateKind::Tokens,
            cost: 101,
            ..rpm("k", 100)
        };
        assert_eq!(l.admit(&[c]), RateDecision::TooLarge { index: 0 });
    }
}

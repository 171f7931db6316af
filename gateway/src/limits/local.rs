//! The in-process store: `governor` GCRA limiters for rate limits, a map of
//! counters for quotas.
//!
//! `governor` keeps one quota per limiter, so there is one keyed limiter per
//! (kind, limit) pair and keys with equal limits share it. Its state lives
//! in [`RefundableStore`], a keyed store like governor's own except that a
//! passed check can be given back: that is how one refusing check leaves
//! the others of the same request as they were.

use super::{
    admit, apply_usage, seed, Counters, QuotaDecision, RateCheck, RateDecision, RateKind,
    RateState, Reservation, Settlement, WINDOW,
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

/// A check's cost in cells (at least one).
fn cells(check: &RateCheck) -> u32 {
    u32::try_from(check.cost).unwrap_or(u32::MAX).max(1)
}

/// What a limiter answers for some cells.
type Taken = Result<
    Result<
        governor::middleware::StateSnapshot,
        governor::NotUntil<<DefaultClock as Clock>::Instant>,
    >,
    governor::InsufficientCapacity,
>;

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
        let nanos = interval(limit).as_nanos() as u64 * u64::from(cells(check));
        if let Some(entry) = self.limiters.get(&(check.kind, limit.get())) {
            entry.1.refund(&check.bucket(), nanos);
        }
    }

    /// Checks every limit; all pass and are counted, or none is.
    pub fn admit(&self, checks: &[RateCheck]) -> RateDecision {
        let mut states = Vec::with_capacity(checks.len());
        for (index, check) in checks.iter().enumerate() {
            let limit = limit_u32(check.limit);
            let refused = match self.take(check, limit) {
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
                            // Until the whole limit is back (as the headers
                            // promise and the Redis store answers): the wait
                            // for these cells plus the rest of the window.
                            reset: wait
                                + interval(limit) * limit.get().saturating_sub(cells(check)),
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

    /// Counts checks another store allowed (Redis), so this one can take
    /// over from there; a check already over its limit here counts nothing.
    pub fn shadow_admit(&self, checks: &[RateCheck]) {
        for check in checks {
            let _ = self.take(check, limit_u32(check.limit));
        }
    }

    /// Takes a check's cells from its limiter, if they are there.
    fn take(&self, check: &RateCheck, limit: NonZeroU32) -> Taken {
        let n = NonZeroU32::new(cells(check)).unwrap_or(NonZeroU32::MIN);
        self.limiter(check.kind, limit)
            .check_key_n(&check.bucket(), n)
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
            let decided = Self::with_scope(&mut map, check, &r.month.name, |c| admit(c, check, r));
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
        Self::hold(&mut map, r, &amounts);
        QuotaDecision::Admitted(amounts)
    }

    /// Confirms what another store (Redis) admitted against the counters
    /// here and holds its amounts, so the settlement finds them here too.
    /// Refuses when this gateway's own admissions (some made here while
    /// Redis was away, which Redis has not seen yet) leave no room.
    pub fn confirm(&self, r: &Reservation, amounts: &[(u64, i64)]) -> Result<(), QuotaDecision> {
        let mut map = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        for (index, check) in r.checks.iter().enumerate() {
            let decided = Self::with_scope(&mut map, check, &r.month.name, |c| admit(c, check, r));
            if let Err((kind, in_flight)) = decided {
                return Err(QuotaDecision::Refused {
                    index,
                    kind,
                    in_flight,
                });
            }
        }
        Self::hold(&mut map, r, amounts);
        Ok(())
    }

    fn hold(
        map: &mut HashMap<(UsageScope, String), ScopeCounters>,
        r: &Reservation,
        amounts: &[(u64, i64)],
    ) {
        for (check, (t, c)) in r.checks.iter().zip(amounts) {
            Self::with_scope(map, check, &r.month.name, |counters| {
                counters.reserved_tokens += t;
                counters.reserved_cost += c;
            });
        }
    }

    /// Replaces a reservation with what the request really used.
    pub fn settle(&self, s: &Settlement) {
        let mut map = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        for (check, (t, c)) in &s.scopes {
            Self::with_scope(&mut map, check, &s.month.name, |counters| {
                counters.reserved_tokens = counters.reserved_tokens.saturating_sub(*t);
                counters.reserved_cost = (counters.reserved_cost - c).max(0);
                apply_usage(counters, check, s.tokens, s.cost_nanos.max(0));
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
                index,
                retry_after,
                state,
            } => {
                assert_eq!(index, 0);
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(12));
                // All five were taken: the limit is whole again four
                // intervals (48 s) after the next request fits.
                assert_eq!(state.reset, retry_after + Duration::from_secs(48));
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
            funds: None,
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

    mod funds {
        use super::*;
        use crate::limits::{QuotaCheck, QuotaKind};
        use aihub_contract::calendar::month_of;
        use aihub_contract::snapshot::{Funds, UsageBase};

        pub const NOW: i64 = 1_795_629_600_000; // 2026-11-25

        pub fn check(
            allowance: u64,
            spend_limit: Option<i64>,
            base: Option<(u64, i64)>,
        ) -> QuotaCheck {
            QuotaCheck::funds(
                "dev",
                base.map(|(tokens_month, cost_total)| UsageBase {
                    scope: UsageScope::Funds,
                    id: "dev".into(),
                    month: month_of(NOW).name,
                    tokens_month,
                    cost_nanos_month: 0,
                    tokens_total: 0,
                    cost_nanos_total: cost_total,
                }),
                Funds {
                    plan: "Free".into(),
                    allowance_tokens_monthly: allowance,
                    spend_limit_nanos: spend_limit,
                },
            )
        }

        /// 40 prompt tokens, 300 in all, 10 nano-units a token.
        pub fn reservation(id: &str, checks: Vec<QuotaCheck>) -> Reservation {
            Reservation {
                request_id: id.into(),
                month: month_of(NOW),
                min_tokens: 40,
                tokens: 300,
                min_cost_nanos: 400,
                cost_nanos: 3000,
                checks,
            }
        }

        pub fn settle(
            l: &LocalLimits,
            id: &str,
            scopes: Vec<(QuotaCheck, (u64, i64))>,
            tokens: u64,
        ) {
            l.settle(&Settlement {
                request_id: id.into(),
                month: month_of(NOW),
                scopes,
                tokens,
                cost_nanos: tokens as i64 * 10,
            });
        }

        pub fn admitted(d: QuotaDecision) -> Vec<(u64, i64)> {
            match d {
                QuotaDecision::Admitted(a) => a,
                other => panic!("refused: {other:?}"),
            }
        }

        #[test]
        fn a_request_straddling_the_allowance_pays_for_its_part_beyond() {
            let l = LocalLimits::default();
            let c = check(1000, Some(10_000), Some((900, 0)));
            let a = admitted(l.reserve(&reservation("r1", vec![c.clone()])));
            assert_eq!(a, vec![(100, 2000)]);
            // It used 250 tokens: 100 inside the allowance, 150 charged.
            settle(&l, "r1", vec![(c.clone(), a[0])], 250);
            let n = l.counters(UsageScope::Funds, "dev").unwrap();
            assert_eq!(
                (
                    n.tokens_month,
                    n.cost_total,
                    n.cost_month,
                    n.reserved_tokens,
                    n.reserved_cost
                ),
                (1150, 1500, 1500, 0, 0)
            );
            // The next one is paid from credit alone.
            assert_eq!(
                admitted(l.reserve(&reservation("r2", vec![c]))),
                vec![(0, 3000)]
            );
        }

        #[test]
        fn an_invoiced_account_is_admitted_and_charged_beyond_its_allowance() {
            let l = LocalLimits::default();
            let c = check(100, None, None);
            for i in 0..3 {
                let id = format!("r{i}");
                let a = admitted(l.reserve(&reservation(&id, vec![c.clone()])));
                assert_eq!(a, vec![(if i == 0 { 100 } else { 0 }, 0)]);
                settle(&l, &id, vec![(c.clone(), a[0])], 300);
            }
            let n = l.counters(UsageScope::Funds, "dev").unwrap();
            assert_eq!((n.tokens_month, n.cost_total), (900, 8000));
        }

        #[test]
        fn an_empty_balance_refuses_and_leaves_other_scopes_alone() {
            let l = LocalLimits::default();
            let key = QuotaCheck {
                scope: UsageScope::Key,
                id: "key".into(),
                base: None,
                tokens_total: Some(1_000_000),
                tokens_month: None,
                cost_total: None,
                cost_month: None,
                funds: None,
            };
            let broke = check(1000, Some(5_000), Some((1000, 5_000)));
            assert_eq!(
                l.reserve(&reservation("r1", vec![key.clone(), broke])),
                QuotaDecision::Refused {
                    index: 1,
                    kind: QuotaKind::Funds,
                    in_flight: false
                }
            );
            // The key reserved nothing for the refused request.
            assert_eq!(
                l.counters(UsageScope::Key, "key").unwrap().reserved_tokens,
                0
            );
            // A top-up (a higher spend limit) lets it in at once.
            let topped = check(1000, Some(8_000), Some((1000, 5_000)));
            assert_eq!(
                admitted(l.reserve(&reservation("r2", vec![key, topped]))),
                vec![(300, 3000), (0, 3000)]
            );
        }

        #[test]
        fn credit_held_by_requests_in_flight_refuses_as_in_flight() {
            let l = LocalLimits::default();
            let c = check(0, Some(3_500), None);
            let a = admitted(l.reserve(&reservation("r1", vec![c.clone()])));
            assert_eq!(a, vec![(0, 3000)]);
            // 500 left, the prompt costs 400... but a second takes it; the third waits.
            assert_eq!(
                admitted(l.reserve(&reservation("r2", vec![c.clone()]))),
                vec![(0, 500)]
            );
            assert_eq!(
                l.reserve(&reservation("r3", vec![c.clone()])),
                QuotaDecision::Refused {
                    index: 0,
                    kind: QuotaKind::Funds,
                    in_flight: true
                }
            );
            // The first used 100 tokens (1000): the rest comes back.
            settle(&l, "r1", vec![(c.clone(), a[0])], 100);
            assert_eq!(
                admitted(l.reserve(&reservation("r3", vec![c]))),
                vec![(0, 2000)]
            );
        }
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

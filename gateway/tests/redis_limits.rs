//! The Redis store of rate limits and quotas against a real Redis (the
//! run's, or a private `redis-server`): the same rules as the in-process
//! store, decided by one script per call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aihub_contract::calendar::month_of;
use aihub_contract::snapshot::{Funds, UsageBase, UsageScope};
use aihub_gateway::limits::local::LocalLimits;
use aihub_gateway::limits::shared::RedisLimits;
use aihub_gateway::limits::{
    Decider, Limits, QuotaCheck, QuotaDecision, QuotaKind, RateCheck, RateDecision, RateKind,
    Reservation, Settlement,
};
use aihub_testkit::redis::TestRedis;
use std::sync::Arc;
use std::time::Duration;

async fn store() -> (TestRedis, RedisLimits) {
    let redis = TestRedis::start().await.unwrap();
    let limits = RedisLimits::new(
        &redis.url,
        &redis.prefix,
        Duration::from_secs(2),
        Duration::from_secs(900),
    )
    .unwrap();
    (redis, limits)
}

fn rpm(scope: UsageScope, id: &str, limit: u64) -> RateCheck {
    RateCheck {
        kind: RateKind::Requests,
        scope,
        id: id.into(),
        limit,
        cost: 1,
    }
}

#[tokio::test]
async fn rate_checks_are_all_or_nothing_and_refundable() {
    let (_redis, r) = store().await;
    let key = rpm(UsageScope::Key, "key_1", 3);
    let account = rpm(UsageScope::Developer, "dev_1", 1);
    match r.admit(&[key.clone(), account.clone()]).await.unwrap() {
        RateDecision::Allowed(states) => {
            assert_eq!(states[0].remaining, 2);
            assert_eq!(states[1].remaining, 0);
        }
        other => panic!("{other:?}"),
    }
    // The account refuses; the key must not be charged for it.
    for _ in 0..3 {
        match r.admit(&[key.clone(), account.clone()]).await.unwrap() {
            RateDecision::Refused {
                index, retry_after, ..
            } => {
                assert_eq!(index, 1);
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
            }
            other => panic!("{other:?}"),
        }
    }
    match r.admit(std::slice::from_ref(&key)).await.unwrap() {
        RateDecision::Allowed(states) => assert_eq!(states[0].remaining, 1),
        other => panic!("{other:?}"),
    }
    // A refund gives the cell back.
    r.refund(std::slice::from_ref(&key)).await.unwrap();
    match r.admit(std::slice::from_ref(&key)).await.unwrap() {
        RateDecision::Allowed(states) => assert_eq!(states[0].remaining, 1),
        other => panic!("{other:?}"),
    }
    // Tokens: a request larger than the whole limit can never pass.
    let tokens = RateCheck {
        kind: RateKind::Tokens,
        cost: 500,
        ..rpm(UsageScope::Key, "key_1", 100)
    };
    assert_eq!(
        r.admit(&[tokens]).await.unwrap(),
        RateDecision::TooLarge { index: 0 }
    );
}

fn key_quota(base: Option<UsageBase>, month_tokens: u64) -> QuotaCheck {
    QuotaCheck {
        scope: UsageScope::Key,
        id: "key_q".into(),
        base,
        tokens_total: None,
        tokens_month: Some(month_tokens),
        cost_total: Some(1_000_000),
        cost_month: None,
        funds: None,
    }
}

fn reservation(id: &str, check: QuotaCheck, now_ms: i64) -> Reservation {
    Reservation {
        request_id: id.into(),
        month: month_of(now_ms),
        min_tokens: 10,
        tokens: 40,
        min_cost_nanos: 100,
        cost_nanos: 400,
        checks: vec![check],
    }
}

#[tokio::test]
async fn quotas_reserve_settle_and_seed_from_the_control_plane_like_in_process() {
    let (_redis, r) = store().await;
    let local = LocalLimits::default();
    let now = 1_795_629_600_000; // 2026-11-25
    let base = UsageBase {
        scope: UsageScope::Key,
        id: "key_q".into(),
        month: month_of(now).name,
        tokens_month: 60,
        cost_nanos_month: 600,
        tokens_total: 500,
        cost_nanos_total: 5_000,
    };
    let check = key_quota(Some(base), 100);
    // 40 tokens left this month: the first request reserves its 40...
    let first = reservation("req_1", check.clone(), now);
    let a = r.reserve(&first).await.unwrap();
    assert_eq!(a, local.reserve(&first));
    assert_eq!(a, QuotaDecision::Admitted(vec![(40, 400)]));
    // ...and nothing is left for a second one while it is in flight.
    let second = reservation("req_2", check.clone(), now);
    let b = r.reserve(&second).await.unwrap();
    assert_eq!(b, local.reserve(&second));
    assert_eq!(
        b,
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::TokensMonth,
            in_flight: true,
        }
    );
    // The first used only 15: settling frees the rest for the second.
    let settle = Settlement {
        request_id: "req_1".into(),
        month: month_of(now),
        scopes: vec![(check.clone(), (40, 400))],
        tokens: 15,
        cost_nanos: 150,
    };
    r.settle(&settle).await.unwrap();
    local.settle(&settle);
    let c = r.reserve(&second).await.unwrap();
    assert_eq!(c, local.reserve(&second));
    assert_eq!(c, QuotaDecision::Admitted(vec![(25, 400)]));
    // Next month starts from zero; the totals carry on.
    let next = month_of(now).end_ms + 1000;
    let d = r
        .reserve(&reservation("req_3", check.clone(), next))
        .await
        .unwrap();
    assert_eq!(d, QuotaDecision::Admitted(vec![(40, 400)]));
    // A spent total budget refuses even at the start of a month, and says
    // it is spent (50 nano-units left, the prompt alone costs 100).
    let broke = QuotaCheck {
        cost_total: Some(5_150 + 50),
        ..check
    };
    assert_eq!(
        r.reserve(&reservation("req_4", broke, next)).await.unwrap(),
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::CostTotal,
            in_flight: false,
        }
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_not_waited_for() {
    let mut redis = TestRedis::start().await.unwrap();
    if !redis.is_private() {
        // The run's shared Redis must not be stopped; the private case covers it.
        return;
    }
    let r = RedisLimits::new(
        &redis.url,
        &redis.prefix,
        Duration::from_millis(200),
        Duration::from_secs(900),
    )
    .unwrap();
    let check = rpm(UsageScope::Key, "k", 5);
    assert!(r.admit(std::slice::from_ref(&check)).await.is_ok());
    redis.stop();
    assert!(r.admit(std::slice::from_ref(&check)).await.is_err());
    // Marked down: the next call fails at once instead of waiting again.
    assert!(matches!(
        r.admit(&[check]).await,
        Err(aihub_gateway::limits::shared::StoreError::Down)
    ));
}

const NOW: i64 = 1_795_629_600_000; // 2026-11-25

/// The funds scope of `dev`, with a base of (tokens this month, charged ever).
fn funds(allowance: u64, spend_limit: Option<i64>, base: Option<(u64, i64)>) -> QuotaCheck {
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
fn priced(id: &str, checks: Vec<QuotaCheck>) -> Reservation {
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

fn settlement(id: &str, check: &QuotaCheck, reserved: (u64, i64), tokens: u64) -> Settlement {
    Settlement {
        request_id: id.into(),
        month: month_of(NOW),
        scopes: vec![(check.clone(), reserved)],
        tokens,
        cost_nanos: tokens as i64 * 10,
    }
}

fn admitted(d: &QuotaDecision) -> (u64, i64) {
    match d {
        QuotaDecision::Admitted(a) => a[0],
        other => panic!("refused: {other:?}"),
    }
}

/// The funds hash's (tm, ct, cm, rt, rc).
async fn funds_hash(redis: &TestRedis, id: &str) -> (u64, i64, i64, u64, i64) {
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let v: Vec<Option<i64>> = redis::cmd("HMGET")
        .arg(format!("{}q:f:{id}", redis.prefix))
        .arg("tm")
        .arg("ct")
        .arg("cm")
        .arg("rt")
        .arg("rc")
        .query_async(&mut conn)
        .await
        .unwrap();
    let g = |i: usize| v[i].unwrap_or(0);
    (g(0) as u64, g(1), g(2), g(3) as u64, g(4))
}

#[tokio::test]
async fn funds_admit_and_settle_like_in_process() {
    let (redis, r) = store().await;
    let local = LocalLimits::default();
    // 100 tokens of the allowance left, 10,000 of credit.
    let c = funds(1000, Some(10_000), Some((900, 0)));
    let both = |d: QuotaDecision, l: QuotaDecision| {
        assert_eq!(d, l);
        d
    };
    // Straddling the allowance: 100 tokens reserved, the other 200 priced.
    let q = priced("r1", vec![c.clone()]);
    let a = both(r.reserve(&q).await.unwrap(), local.reserve(&q));
    assert_eq!(admitted(&a), (100, 2000));
    // It used 250 tokens: 100 inside the allowance, 150 charged (1500).
    let s = settlement("r1", &c, admitted(&a), 250);
    r.settle(&s).await.unwrap();
    local.settle(&s);
    let n = local.counters(UsageScope::Funds, "dev").unwrap();
    let hash = funds_hash(&redis, "dev").await;
    assert_eq!(hash, (1150, 1500, 1500, 0, 0));
    assert_eq!(
        hash,
        (
            n.tokens_month,
            n.cost_total,
            n.cost_month,
            n.reserved_tokens,
            n.reserved_cost
        )
    );
    // Past the allowance the credit pays: 8,500 left, three requests
    // reserve 3,000, 3,000 and 2,500; a fourth finds it all held.
    for (id, want) in [("r2", 3000), ("r3", 3000), ("r4", 2500)] {
        let q = priced(id, vec![c.clone()]);
        let a = both(r.reserve(&q).await.unwrap(), local.reserve(&q));
        assert_eq!(admitted(&a), (0, want));
    }
    let q = priced("r5", vec![c.clone()]);
    let refused = QuotaDecision::Refused {
        index: 0,
        kind: QuotaKind::Funds,
        in_flight: true,
    };
    assert_eq!(
        both(r.reserve(&q).await.unwrap(), local.reserve(&q)),
        refused
    );
    // They used all they reserved and a little more: the balance is spent.
    for (id, reserved, tokens) in [("r2", 3000, 300), ("r3", 3000, 300), ("r4", 2500, 260)] {
        let s = settlement(id, &c, (0, reserved), tokens);
        r.settle(&s).await.unwrap();
        local.settle(&s);
    }
    assert_eq!(
        funds_hash(&redis, "dev").await,
        (2010, 10_100, 10_100, 0, 0)
    );
    let spent = QuotaDecision::Refused {
        index: 0,
        kind: QuotaKind::Funds,
        in_flight: false,
    };
    assert_eq!(both(r.reserve(&q).await.unwrap(), local.reserve(&q)), spent);
    // An invoiced account (no spend limit) is admitted all the same.
    let invoiced = funds(1000, None, None);
    let q = priced("r6", vec![invoiced]);
    let a = both(r.reserve(&q).await.unwrap(), local.reserve(&q));
    assert_eq!(admitted(&a), (0, 0));
    // Next month the allowance is whole again; the charges stay.
    let next = month_of(NOW).end_ms + 1000;
    let q = Reservation {
        month: month_of(next),
        ..priced("r7", vec![funds(1000, Some(10_000), None)])
    };
    let a = both(r.reserve(&q).await.unwrap(), local.reserve(&q));
    assert_eq!(admitted(&a), (300, 0));
}

#[tokio::test]
async fn a_refusing_funds_scope_reserves_nothing_anywhere() {
    let (redis, r) = store().await;
    let key = key_quota(None, 1_000_000);
    let broke = funds(0, Some(100), None);
    let q = priced("r1", vec![key.clone(), broke]);
    assert_eq!(
        r.reserve(&q).await.unwrap(),
        QuotaDecision::Refused {
            index: 1,
            kind: QuotaKind::Funds,
            in_flight: false,
        }
    );
    // The key's hash holds no reservation for it.
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let rt: Option<i64> = redis::cmd("HGET")
        .arg(format!("{}q:k:key_q", redis.prefix))
        .arg("rt")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(rt.unwrap_or(0), 0);
}

#[tokio::test]
async fn a_fresh_base_or_a_top_up_takes_effect_at_once() {
    let (redis, r) = store().await;
    // The gateway charged 2,000 of a 5,000 limit...
    let c = funds(0, Some(5_000), None);
    let q = priced("r1", vec![c.clone()]);
    let a = admitted(&r.reserve(&q).await.unwrap());
    r.settle(&settlement("r1", &c, a, 200)).await.unwrap();
    assert_eq!(funds_hash(&redis, "dev").await.1, 2000);
    // ...and the control plane has posted 5,000 of charges (other
    // gateways, batches): its base wins and the balance is spent.
    let posted = funds(0, Some(5_000), Some((0, 5_000)));
    assert_eq!(
        r.reserve(&priced("r2", vec![posted])).await.unwrap(),
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::Funds,
            in_flight: false,
        }
    );
    // An older, smaller base changes nothing.
    assert_eq!(
        r.reserve(&priced("r3", vec![funds(0, Some(5_000), Some((0, 1_000)))]))
            .await
            .unwrap(),
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::Funds,
            in_flight: false,
        }
    );
    // A top-up of 1,000 raises the spend limit: admitted at once, with the
    // reservation capped at the 1,000.
    let topped = funds(0, Some(6_000), Some((0, 5_000)));
    assert_eq!(
        r.reserve(&priced("r4", vec![topped])).await.unwrap(),
        QuotaDecision::Admitted(vec![(0, 1000)])
    );
}

/// Two "gateways" on one Redis.
async fn two_gateways() -> (TestRedis, Arc<RedisLimits>, Arc<RedisLimits>) {
    let (redis, a) = store().await;
    let b = RedisLimits::new(
        &redis.url,
        &redis.prefix,
        Duration::from_secs(5),
        Duration::from_secs(900),
    )
    .unwrap();
    (redis, Arc::new(a), Arc::new(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_spend_beyond_the_limit_when_reservations_hold() {
    let (redis, a, b) = two_gateways().await;
    const LIMIT: i64 = 50_000;
    let c = funds(0, Some(LIMIT), None);
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            // Estimates of 700..1600, prompts a quarter of them.
            let est = 700 + (i * 37) % 900;
            let q = Reservation {
                request_id: format!("req_{i}"),
                month: month_of(NOW),
                min_tokens: 10,
                tokens: 40,
                min_cost_nanos: est as i64 / 4,
                cost_nanos: est as i64,
                checks: vec![c.clone()],
            };
            match store.reserve(&q).await.unwrap() {
                QuotaDecision::Admitted(amounts) => {
                    // It used exactly what it reserved.
                    let reserved = amounts[0];
                    let s = Settlement {
                        request_id: q.request_id.clone(),
                        month: q.month.clone(),
                        scopes: vec![(c, reserved)],
                        tokens: 40,
                        cost_nanos: reserved.1,
                    };
                    store.settle(&s).await.unwrap();
                    Some(reserved.1)
                }
                QuotaDecision::Refused { kind, .. } => {
                    assert_eq!(kind, QuotaKind::Funds);
                    None
                }
            }
        }));
    }
    let mut charged_by_requests = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Some(c) => charged_by_requests += c,
            None => refused += 1,
        }
    }
    let (tm, ct, cm, rt, rc) = funds_hash(&redis, "dev").await;
    assert_eq!((rt, rc), (0, 0), "every reservation released");
    assert_eq!(ct, charged_by_requests);
    assert_eq!(cm, ct);
    assert!(ct <= LIMIT, "charged {ct} beyond the limit {LIMIT}");
    // 200 requests of 700+ cannot all fit: some were refused, and what is
    // left is less than the largest prompt's price.
    assert!(refused > 0);
    assert!(LIMIT - ct < 1600 / 4, "left {} unspent", LIMIT - ct);
    assert_eq!(tm, 40 * (200 - refused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overspend_stays_within_what_requests_in_flight_used_beyond_their_reservations()
{
    let (redis, a, b) = two_gateways().await;
    const LIMIT: i64 = 20_000;
    // 100 tokens of allowance, then credit.
    let c = funds(100, Some(LIMIT), None);
    let n = 120u64;
    // Every request reserves before any settles, so all admitted requests
    // are in flight when the money runs out.
    let barrier = Arc::new(tokio::sync::Barrier::new(n as usize));
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (c, barrier) = (c.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let q = Reservation {
                request_id: format!("req_{i}"),
                month: month_of(NOW),
                min_tokens: 10,
                tokens: 50,
                min_cost_nanos: 100,
                cost_nanos: 500,
                checks: vec![c.clone()],
            };
            let decision = store.reserve(&q).await.unwrap();
            barrier.wait().await;
            let QuotaDecision::Admitted(amounts) = decision else {
                return None;
            };
            // The prompt estimate was short: each used 30 tokens more than
            // estimated, at the same 10 a token.
            let tokens = 80;
            let s = Settlement {
                request_id: q.request_id.clone(),
                month: q.month.clone(),
                scopes: vec![(c, amounts[0])],
                tokens,
                cost_nanos: tokens as i64 * 10,
            };
            store.settle(&s).await.unwrap();
            Some(amounts[0])
        }));
    }
    let mut reserved = Vec::new();
    for t in tasks {
        if let Some(r) = t.await.unwrap() {
            reserved.push(r);
        }
    }
    let (tm, ct, _, rt, rc) = funds_hash(&redis, "dev").await;
    assert_eq!((rt, rc), (0, 0));
    assert_eq!(tm, 80 * reserved.len() as u64);
    // Money reserved never passed the limit...
    let reserved_cost: i64 = reserved.iter().map(|r| r.1).sum();
    assert!(reserved_cost <= LIMIT);
    // ...and what was charged beyond it is within the bound: the sum over
    // the requests in flight (all admitted ones) of their actual cost
    // beyond the allowance minus the cost they reserved. The allowance's
    // 100 tokens went to whichever settled first.
    let beyond_allowance = (tm - 100) as i64 * 10;
    assert_eq!(ct, beyond_allowance);
    let bound = beyond_allowance - reserved_cost;
    assert!(ct > LIMIT, "the test should overspend, charged {ct}");
    assert!(
        ct - LIMIT <= bound,
        "overspent {} beyond the bound {bound}",
        ct - LIMIT
    );
    // Spent: the next request is refused, and not as in flight.
    let q = Reservation {
        request_id: "late".into(),
        month: month_of(NOW),
        min_tokens: 10,
        tokens: 50,
        min_cost_nanos: 100,
        cost_nanos: 500,
        checks: vec![c],
    };
    assert_eq!(
        a.reserve(&q).await.unwrap(),
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::Funds,
            in_flight: false,
        }
    );
}

#[tokio::test]
async fn funds_charges_are_exact_beyond_the_doubles_of_lua() {
    let (redis, r) = store().await;
    let local = LocalLimits::default();
    // Two of three tokens beyond a 1-token allowance, costing a little over
    // 9·10^15: cost × 2 passes 2^53, the script must still round exactly.
    let c = funds(1, None, None);
    let cost = 9_000_000_000_000_001;
    let q = Reservation {
        request_id: "big".into(),
        month: month_of(NOW),
        min_tokens: 1,
        tokens: 3,
        min_cost_nanos: 1,
        cost_nanos: cost,
        checks: vec![c.clone()],
    };
    let a = r.reserve(&q).await.unwrap();
    assert_eq!(a, local.reserve(&q));
    let s = Settlement {
        tokens: 3,
        cost_nanos: cost,
        ..settlement("big", &c, admitted(&a), 3)
    };
    r.settle(&s).await.unwrap();
    local.settle(&s);
    let want = 6_000_000_000_000_001; // ⌈2 × cost / 3⌉
    assert_eq!(
        local.counters(UsageScope::Funds, "dev").unwrap().cost_total,
        want
    );
    assert_eq!(funds_hash(&redis, "dev").await.1, want);
    // Reserving prices the same way: 2 of 3 estimated tokens beyond.
    let limited = QuotaCheck {
        id: "dev_2".into(),
        ..funds(1, Some(i64::MAX / 2), None)
    };
    let q = Reservation {
        request_id: "big2".into(),
        checks: vec![limited],
        ..q
    };
    let a = r.reserve(&q).await.unwrap();
    assert_eq!(a, local.reserve(&q));
    assert_eq!(a, QuotaDecision::Admitted(vec![(1, want)]));
}

#[tokio::test]
async fn a_gateway_falling_back_from_redis_does_not_spend_the_balance_again() {
    let mut redis = TestRedis::start().await.unwrap();
    if !redis.is_private() {
        // The run's shared Redis must not be stopped; the private case covers it.
        return;
    }
    let store = RedisLimits::new(
        &redis.url,
        &redis.prefix,
        Duration::from_millis(200),
        Duration::from_secs(900),
    )
    .unwrap();
    let limits = Limits::with_redis(store, prometheus::IntCounter::new("e", "e").unwrap());
    // A balance of 9,000: three requests reserving (and using) 3,000 each,
    // decided by Redis.
    let c = funds(0, Some(9_000), None);
    let rate = rpm(UsageScope::Key, "k", 4);
    for i in 0..3 {
        let (d, at) = limits.admit(std::slice::from_ref(&rate)).await;
        assert!(matches!(d, RateDecision::Allowed(_)), "{d:?}");
        assert_eq!(at, Decider::Redis);
        let q = priced(&format!("r{i}"), vec![c.clone()]);
        let (d, at) = limits.reserve(&q).await;
        assert_eq!(at, Decider::Redis);
        let s = settlement(&format!("r{i}"), &c, admitted(&d), 300);
        limits.settle(&s, at).await;
    }
    // One decided in process during a blip: Redis learns of it when settled.
    let q = priced("r3", vec![funds(0, Some(12_000), None)]);
    let d = limits.local_store().reserve(&q);
    let s = settlement("r3", &q.checks[0], admitted(&d), 300);
    limits.settle(&s, Decider::Local).await;
    assert_eq!(funds_hash(&redis, "dev").await.1, 12_000);
    // Redis goes away: the gateway decides in process, from what it spent.
    redis.stop();
    let c = funds(0, Some(12_000), None);
    let (d, at) = limits.reserve(&priced("r4", vec![c.clone()])).await;
    assert_eq!(at, Decider::Local);
    assert_eq!(
        d,
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::Funds,
            in_flight: false,
        }
    );
    let n = limits
        .local_store()
        .counters(UsageScope::Funds, "dev")
        .unwrap();
    assert_eq!((n.cost_total, n.reserved_cost), (12_000, 0));
    // And the key's four requests a minute: three were used through Redis.
    let (d, at) = limits.admit(std::slice::from_ref(&rate)).await;
    assert_eq!(at, Decider::Local);
    assert!(matches!(d, RateDecision::Allowed(_)), "{d:?}");
    let (d, _) = limits.admit(&[rate]).await;
    assert!(matches!(d, RateDecision::Refused { .. }), "{d:?}");
}

#[tokio::test]
async fn requests_admitted_in_process_during_a_blip_still_hold_their_room_when_redis_answers() {
    let (redis, store) = store().await;
    let limits = Limits::with_redis(store, prometheus::IntCounter::new("e", "e").unwrap());
    // A balance of 6,000: two requests of 3,000 were admitted in process
    // while Redis did not answer, and are still running; Redis has not
    // seen them.
    let c = funds(0, Some(6_000), None);
    for id in ["a", "b"] {
        let d = limits.local_store().reserve(&priced(id, vec![c.clone()]));
        assert_eq!(admitted(&d), (0, 3_000));
    }
    // Redis is back and would admit a third; the gateway does not, and the
    // reservation Redis made is released.
    let (d, at) = limits.reserve(&priced("c", vec![c.clone()])).await;
    assert_eq!(at, Decider::Redis);
    assert_eq!(
        d,
        QuotaDecision::Refused {
            index: 0,
            kind: QuotaKind::Funds,
            in_flight: true,
        }
    );
    assert_eq!(funds_hash(&redis, "dev").await, (0, 0, 0, 0, 0));
    // When they finish, their usage reaches Redis and the balance is spent.
    for id in ["a", "b"] {
        limits
            .settle(&settlement(id, &c, (0, 3_000), 300), Decider::Local)
            .await;
    }
    assert_eq!(funds_hash(&redis, "dev").await.1, 6_000);
    let (d, at) = limits.reserve(&priced("d", vec![c])).await;
    assert_eq!(at, Decider::Redis);
    assert!(
        matches!(
            d,
            QuotaDecision::Refused {
                in_flight: false,
                ..
            }
        ),
        "{d:?}"
    );
}

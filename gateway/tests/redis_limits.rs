//! The Redis store of rate limits and quotas against a real Redis (the
//! run's, or a private `redis-server`): the same rules as the in-process
//! store, decided by one script per call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aihub_contract::calendar::month_of;
use aihub_contract::snapshot::{UsageBase, UsageScope};
use aihub_gateway::limits::local::LocalLimits;
use aihub_gateway::limits::shared::RedisLimits;
use aihub_gateway::limits::{
    QuotaCheck, QuotaDecision, QuotaKind, RateCheck, RateDecision, RateKind, Reservation,
    Settlement,
};
use aihub_testkit::redis::TestRedis;
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

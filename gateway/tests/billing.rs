//! Admission by money through the real binaries: a Free developer is
//! refused once the plan's 1,000 tokens are used, until credit arrives or
//! the plan is upgraded; 500 concurrent requests against an almost empty
//! balance spend exactly the balance, and reconciliation agrees afterwards.
//! Runs on the embedded setup and, in CI's second pass, with PostgreSQL,
//! ClickHouse (the charger reads the gateways' rows there) and Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::{StubConfig, StubUpstream};
use common::Stack;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Completion tokens cost $2,000 per million (2,000,000 nano-units each);
/// prompts are free, so the gateway's prompt estimate costs nothing and a
/// request with `max_tokens` = its completion reserves exactly its cost.
async fn stack() -> (Stack, StubUpstream) {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start_with(&[
        ("AIHUB_BILLING__DEFAULT_PLAN", "free"),
        ("AIHUB_BILLING__CHARGE_INTERVAL_MS", "200"),
        ("AIHUB_BILLING__CLOSE_MONTHS", "false"),
    ])
    .await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model(
        "gpt-4o-mini",
        "primary",
        &[
            "--input-price-per-million",
            "0",
            "--output-price-per-million",
            "2000",
        ],
    );
    s.start_gateway().await;
    (s, up)
}

fn chat(words: u32) -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": words,
           "messages": [{"role": "user", "content": format!("hello there [[stub words={words}]]")}]})
}

/// Costs nothing and is refused while the account has no funds at all.
fn probe() -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 1,
           "messages": [{"role": "user", "content": "probe [[stub status=500]]"}]})
}

/// Sends `body`, again while the answer is `429 quota_reserved`: with
/// Redis, a request's settlement lands just after its answer, so the next
/// request of a sequence can find the room still reserved for a moment.
async fn send_settled(s: &Stack, key: &str, body: &Value) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.post("/v1/chat/completions", key, body.clone()).await;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status != 429 || v["error"]["code"] != "quota_reserved" || Instant::now() > deadline {
            return (status, v);
        }
    }
}

async fn error_of(resp: reqwest::Response) -> (String, String) {
    let v: Value = resp.json().await.unwrap();
    (
        v["error"]["code"].as_str().unwrap_or_default().to_string(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn billing(s: &Stack, token: &str) -> Value {
    let resp = s
        .client
        .get(s.url("/api/v1/developer/billing"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Waits until `n` answered requests' usage rows are stored.
async fn rows_stored(s: &Stack, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = s.usage_rows().await;
        if rows.iter().filter(|r| r.status == 200).count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "usage rows never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_free_developer_is_refused_after_the_included_tokens_until_credit_or_an_upgrade() {
    let (s, _up) = stack().await;
    let (dev, _key_id, key, token) = s
        .developer_session(s.gw_port, "free@example.com", &[])
        .await;
    // The Free plan's 100 requests/min stay out of the way.
    s.aihub(&["admin", "set-limits", &dev, "--rate-limit", "0"]);
    s.wait_for_status(s.gw_port, &key, &probe(), 500).await;
    // 52 tokens a request (2 prompt + 50 completion).
    let body = chat(50);
    let mut ok = 0u64;
    let refusal = loop {
        let (status, v) = send_settled(&s, &key, &body).await;
        match status {
            200 => ok += 1,
            429 => break v,
            other => panic!("unexpected {other}: {v}"),
        }
        assert!(ok < 100, "never refused");
    };
    let used = ok * 52;
    assert!((948..=1052).contains(&used), "{used} tokens used of 1,000");
    let code = refusal["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = refusal["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(code, "insufficient_balance");
    assert!(
        message.contains("1,000 tokens your Free plan includes") && message.contains("credit"),
        "{message}"
    );
    // Refused before any upstream call, and again.
    let again = s.post("/v1/chat/completions", &key, body.clone()).await;
    assert_eq!(again.status(), 429);

    // Everything charged so far (the request that crossed the allowance
    // pays for its tokens beyond it, invoiced), then $1.00 of credit:
    // exactly ten more requests ($0.10 each).
    rows_stored(&s, ok as usize).await;
    s.reconciled(None).await;
    s.aihub(&["admin", "billing", "grant", &dev, "1.00"]);
    s.wait_for_status(s.gw_port, &key, &body, 200).await;
    let mut paid = 1;
    loop {
        let (status, v) = send_settled(&s, &key, &body).await;
        match status {
            200 => paid += 1,
            429 => {
                assert_eq!(v["error"]["code"], "insufficient_balance");
                break;
            }
            other => panic!("unexpected {other}: {v}"),
        }
        assert!(paid < 50, "credit never ran out");
    }
    assert_eq!(paid, 10, "$1.00 buys ten $0.10 requests");
    rows_stored(&s, ok as usize + 10).await;
    s.reconciled(None).await;
    let b = billing(&s, &token).await;
    assert_eq!(b["balance"]["total"], "0.00");
    assert_eq!(b["allowance"]["used_tokens"].as_u64().unwrap(), used + 520);

    // An upgrade: 100,000 tokens included, at once.
    s.aihub(&["admin", "billing", "set-plan", &dev, "developer"]);
    s.wait_for_status(s.gw_port, &key, &body, 200).await;
}

#[tokio::test]
async fn concurrent_requests_spend_an_almost_empty_balance_exactly_and_reconcile() {
    let (s, _up) = stack().await;
    let (dev, _key_id, key, token) = s
        .developer_session(s.gw_port, "burst@example.com", &[])
        .await;
    // Pay as you go: no included tokens, everything from credit.
    s.aihub(&["admin", "billing", "set-plan", &dev, "payg"]);
    s.aihub(&["admin", "set-limits", &dev, "--rate-limit", "0"]);
    let (code, _) = error_of(s.wait_for_status(s.gw_port, &key, &probe(), 429).await).await;
    assert_eq!(code, "insufficient_balance");
    // Twenty requests' worth: 20 × 5 tokens × 2,000,000 nano-units.
    s.aihub(&["admin", "billing", "grant", &dev, "0.20"]);
    s.wait_for_status(s.gw_port, &key, &probe(), 500).await;

    const CONCURRENCY: usize = 500;
    let sends = (0..CONCURRENCY).map(|_| s.post("/v1/chat/completions", &key, chat(5)));
    let mut ok = 0;
    for r in futures::future::join_all(sends).await {
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                let (code, _) = error_of(r).await;
                assert!(
                    code == "insufficient_balance" || code == "quota_reserved",
                    "{code}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Reservations equal costs here, so the documented bound (what requests
    // in flight use beyond their reservations) is zero: exactly the balance.
    assert_eq!(ok, 20, "admitted {ok} requests for twenty requests' credit");
    let after = s.post("/v1/chat/completions", &key, chat(5)).await;
    assert_eq!(error_of(after).await.0, "insufficient_balance");

    rows_stored(&s, ok).await;
    let report = s.reconciled(None).await;
    assert_eq!(report["charged"], "0.20");
    let b = billing(&s, &token).await;
    assert_eq!(b["balance"]["total"], "0.00");
    assert_eq!(b["month_usage"]["charged"], "0.20");
    assert_eq!(
        b["upcoming_invoice"]["total"], "0.00",
        "nothing owed beyond the credit: {b}"
    );
}

#[tokio::test]
async fn a_price_agreed_with_an_enterprise_developer_is_what_its_requests_cost() {
    let (s, _up) = stack().await;
    let (dev, _key_id, key, token) = s
        .developer_session(s.gw_port, "corp@example.com", &[])
        .await;
    // Enterprise: usage invoiced, not limited by credit; $4,000 per million
    // completion tokens instead of the catalog's $2,000.
    s.aihub(&["admin", "billing", "set-plan", &dev, "enterprise"]);
    s.aihub(&[
        "admin",
        "billing",
        "set-price",
        &dev,
        "gpt-4o-mini",
        "--input",
        "0",
        "--output",
        "4000",
    ]);
    s.wait_for_status(s.gw_port, &key, &probe(), 500).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = 0;
    loop {
        let r = s.post("/v1/chat/completions", &key, chat(5)).await;
        assert_eq!(r.status(), 200);
        answered += 1;
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let row = s.wait_usage_row(&id).await;
        // Until the gateway has the change: the catalog's price.
        assert!(
            row.cost_nanos == 20_000_000 || row.cost_nanos == 10_000_000,
            "{}",
            row.cost_nanos
        );
        if row.cost_nanos == 20_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the agreed price never applied");
    }
    rows_stored(&s, answered).await;
    s.reconciled(None).await;
    let b = billing(&s, &token).await;
    assert_eq!(b["plan"]["id"], "enterprise");
    assert_eq!(b["custom_prices"][0]["output_per_million"], "4000");
    assert_eq!(
        b["balance"]["total"], "0.00",
        "invoiced, not paid from credit"
    );
    // No included tokens: every request's cost is charged, at the agreed price.
    assert_eq!(b["month_usage"]["charged"], b["month_usage"]["cost"]);
    // The answered requests and the probe (refusals before the key was
    // known leave no row).
    assert_eq!(b["month_usage"]["requests"], answered + 1);
}

#[tokio::test]
async fn a_model_offered_to_some_plans_serves_only_their_developers() {
    let (s, _up) = stack().await;
    let (dev, _key_id, key, _token) = s
        .developer_session(s.gw_port, "planned@example.com", &[])
        .await;
    let admin = s.operator_token(s.gw_port, "olive@example.com").await;
    // The new key has reached the gateway.
    s.wait_for_status(s.gw_port, &key, &chat(1), 200).await;
    let models: Value = s
        .client
        .get(s.url("/api/v1/admin/models"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = models["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(models["data"][0]["name"], "gpt-4o-mini");
    let listed = |s: &Stack| {
        let req = s.client.get(s.url("/v1/models")).bearer_auth(&key).send();
        async move {
            let v: Value = req.await.unwrap().json().await.unwrap();
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(&s).await, ["gpt-4o-mini"]);

    // Offered to the Developer plan only: the Free developer is told it
    // does not exist, and does not see it listed.
    let changed = s
        .client
        .patch(s.url(&format!("/api/v1/admin/models/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"plans": ["developer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let refused = s.wait_for_status(s.gw_port, &key, &chat(1), 404).await;
    let (code, _) = error_of(refused).await;
    assert_eq!(code, "model_not_found");
    assert!(listed(&s).await.is_empty());

    // On that plan: served and listed.
    s.aihub(&["admin", "billing", "set-plan", &dev, "developer"]);
    s.wait_for_status(s.gw_port, &key, &chat(1), 200).await;
    assert_eq!(listed(&s).await, ["gpt-4o-mini"]);
}

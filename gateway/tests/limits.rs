//! End-to-end: key scopes, IP allow-lists, rate limits and quotas as
//! developers set them through the management API, enforced by real
//! gateways (in process, or through a real Redis shared by two gateways).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::redis::TestRedis;
use aihub_testkit::upstream::{StubConfig, StubUpstream};
use common::{burst, check_burst, prime, Stack};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn chat(content: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
}

/// A developer who can log in, with one key; returns (dev id, key id,
/// secret, access token).
async fn developer(s: &Stack, email: &str, account: &[&str]) -> (String, String, String, String) {
    developer_at(s, s.gw_port, email, account).await
}

/// [`developer`], logging in through the gateway on `port`.
async fn developer_at(
    s: &Stack,
    port: u16,
    email: &str,
    account: &[&str],
) -> (String, String, String, String) {
    // Unless the test is about them, account limits stay out of the way.
    let generous = ["--rate-limit", "100000", "--quota-limit", "1000000000"];
    let account = if account.is_empty() {
        &generous[..]
    } else {
        account
    };
    s.developer_session(port, email, account).await
}

async fn update_key(s: &Stack, token: &str, key_id: &str, body: Value) -> Value {
    let resp = s
        .client
        .put(s.url(&format!("/api/v1/developer/keys/{key_id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "PUT key: {v}");
    v
}

/// See [`Stack::wait_for_status`].
async fn wait_for(s: &Stack, port: u16, key: &str, body: &Value, status: u16) -> reqwest::Response {
    s.wait_for_status(port, key, body, status).await
}

/// Like [`wait_for`], until the error code is `code`.
async fn wait_for_code(s: &Stack, key: &str, body: &Value, status: u16, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = wait_for(s, s.gw_port, key, body, status).await;
        let got = error_code(resp).await;
        if got == code {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never answered {code} (last {got})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn error_code(resp: reqwest::Response) -> String {
    let v: Value = resp.json().await.unwrap();
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

async fn stack() -> (Stack, StubUpstream) {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.start_gateway().await;
    (s, up)
}

#[tokio::test]
async fn scopes_and_ip_allow_lists_refuse_with_clear_errors() {
    let (s, _up) = stack().await;
    let (_, key_id, key, token) = developer(&s, "scopes@example.com", &[]).await;
    let port = s.gw_port;
    wait_for(&s, port, &key, &chat("hi"), 200).await;

    update_key(
        &s,
        &token,
        &key_id,
        json!({"allowed_endpoints": ["embeddings"]}),
    )
    .await;
    let resp = wait_for(&s, port, &key, &chat("hi"), 403).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "endpoint_not_allowed");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'chat'"));
    // Embeddings are still allowed.
    let emb = s
        .post(
            "/v1/embeddings",
            &key,
            json!({"model": "gpt-4o-mini", "input": "x"}),
        )
        .await;
    assert_ne!(emb.status(), 403, "embeddings must pass the scope check");

    // An allow-list without this client's address refuses it...
    update_key(
        &s,
        &token,
        &key_id,
        json!({"allowed_endpoints": null, "ip_allowlist": ["203.0.113.0/24"]}),
    )
    .await;
    wait_for_code(&s, &key, &chat("hi"), 403, "ip_not_allowed").await;
    // ...and one with it lets it through.
    update_key(
        &s,
        &token,
        &key_id,
        json!({"ip_allowlist": ["203.0.113.0/24", "127.0.0.1"]}),
    )
    .await;
    wait_for(&s, port, &key, &chat("hi"), 200).await;
}

#[tokio::test]
async fn a_burst_of_three_times_the_limit_lets_the_limit_through() {
    let (s, _up) = stack().await;
    let (_, key_id, key, token) = developer(&s, "burst@example.com", &[]).await;
    update_key(
        &s,
        &token,
        &key_id,
        json!({"limits": {"requests_per_minute": 10}}),
    )
    .await;
    prime(&s, s.gw_port, &key, 10).await;
    let (resps, elapsed) = burst(&s, &[s.gw_port], &key, 29).await;
    check_burst(&resps, elapsed, 10, 1);
}

#[tokio::test]
async fn two_gateways_share_one_limit_through_redis() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    let redis = TestRedis::start().await.unwrap();
    let env = [
        ("AIHUB_GW_REDIS__URL", redis.url.as_str()),
        ("AIHUB_GW_REDIS__KEY_PREFIX", redis.prefix.as_str()),
    ];
    let (_gw_a, port_a) = s.start_extra_gateway("gw-a", &env).await;
    let (_gw_b, port_b) = s.start_extra_gateway("gw-b", &env).await;
    let (_, key_id, key, token) = developer_at(&s, port_a, "shared@example.com", &[]).await;
    let put = s
        .client
        .put(format!(
            "http://127.0.0.1:{port_a}/api/v1/developer/keys/{key_id}"
        ))
        .bearer_auth(&token)
        .json(&json!({"limits": {"requests_per_minute": 10}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    prime(&s, port_a, &key, 10).await;
    prime(&s, port_b, &key, 10).await;
    let (resps, elapsed) = burst(&s, &[port_a, port_b], &key, 28).await;
    // Alone, each gateway would let 10 through: together they let 10.
    check_burst(&resps, elapsed, 10, 2);
}

#[tokio::test]
async fn concurrent_requests_overshoot_a_quota_by_at_most_what_is_in_flight() {
    let (s, _up) = stack().await;
    let (_, key_id, key, token) = developer(&s, "quota@example.com", &[]).await;
    // Each request: 2 prompt words + 5 completion words = 7 tokens.
    const PER_REQUEST: u64 = 7;
    const QUOTA: u64 = 100;
    const CONCURRENCY: usize = 8;
    // Know when the quota has reached the gateway without using any of it:
    // a probe the upstream fails (no usage) is refused once a 1-token quota
    // applies, and passes to the upstream again once the real one does.
    let probe = json!({"model": "gpt-4o-mini", "messages": [{"role": "user",
        "content": "a probe with a prompt of some length [[stub status=500]]"}]});
    update_key(
        &s,
        &token,
        &key_id,
        json!({"limits": {"token_quota_total": 1}}),
    )
    .await;
    wait_for_code(&s, &key, &probe, 429, "insufficient_quota").await;
    update_key(
        &s,
        &token,
        &key_id,
        json!({"limits": {"token_quota_total": QUOTA}}),
    )
    .await;
    wait_for(&s, s.gw_port, &key, &probe, 500).await;
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hello there [[stub words=5]]"}]});
    let mut ok = 0u64;
    let mut refused = None;
    for _round in 0..40 {
        let sends = (0..CONCURRENCY).map(|_| s.post("/v1/chat/completions", &key, body.clone()));
        let mut any_refused = false;
        for r in futures::future::join_all(sends).await {
            match r.status().as_u16() {
                200 => ok += 1,
                429 => any_refused = true,
                other => panic!("unexpected {other}"),
            }
        }
        if any_refused {
            // Nothing is in flight now: one more request tells whether the
            // quota is really spent or was only reserved by the round.
            let r = s.post("/v1/chat/completions", &key, body.clone()).await;
            match r.status().as_u16() {
                200 => ok += 1,
                429 => {
                    refused = Some(r);
                    break;
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    let refused = refused.expect("the quota never refused");
    let v: Value = refused.json().await.unwrap();
    assert_eq!(v["error"]["code"], "insufficient_quota");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("token quota"));
    let used = ok * PER_REQUEST;
    assert!(
        used >= QUOTA - PER_REQUEST,
        "refused too early: {used} of {QUOTA} tokens used"
    );
    assert!(
        used <= QUOTA + CONCURRENCY as u64 * PER_REQUEST,
        "overshot the in-flight bound: {used} tokens for a quota of {QUOTA}"
    );
    // Exhausted: the next request is refused too, and the usage rows agree.
    let again = s.post("/v1/chat/completions", &key, body.clone()).await;
    assert_eq!(again.status(), 429);
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = s.usage_rows().await;
        if rows.iter().filter(|r| r.status == 200).count() as u64 >= ok {
            break rows;
        }
        assert!(Instant::now() < deadline, "usage rows never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let metered: u64 = rows
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.prompt_tokens + r.completion_tokens)
        .sum();
    assert_eq!(metered, used);
    // Refused requests are recorded, and cost nothing.
    assert!(rows
        .iter()
        .filter(|r| r.status == 429)
        .all(|r| r.prompt_tokens + r.completion_tokens == 0 && r.cost_nanos == 0));
}

#[tokio::test]
async fn the_account_limit_binds_all_keys_together() {
    let (s, _up) = stack().await;
    let (dev, _, key, _) = developer(&s, "account@example.com", &["--rate-limit", "4"]).await;
    let other = s.aihub(&["admin", "create-key", "--developer", &dev]);
    let other = other["secret"].as_str().unwrap().to_string();
    wait_for(&s, s.gw_port, &other, &chat("x"), 200).await;
    let mut ok = 1;
    let mut last = None;
    for i in 0..8 {
        let k = if i % 2 == 0 { &key } else { &other };
        let r = s.post("/v1/chat/completions", k, chat("x")).await;
        if r.status() == 200 {
            ok += 1;
        } else {
            last = Some(r);
        }
    }
    assert!(
        (4..=5).contains(&ok),
        "{ok} let through an account limit of 4"
    );
    let r = last.expect("some refused");
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("your account"));
}

#[tokio::test]
async fn a_regenerated_key_keeps_its_old_secret_only_for_the_grace_period() {
    let (s, _up) = stack().await;
    let (_, key_id, old, token) = developer(&s, "grace@example.com", &[]).await;
    wait_for(&s, s.gw_port, &old, &chat("x"), 200).await;
    let resp: Value = s
        .client
        .post(s.url(&format!("/api/v1/developer/keys/{key_id}/regenerate")))
        .bearer_auth(&token)
        .json(&json!({"grace_seconds": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = resp["secret"].as_str().unwrap().to_string();
    let grace_end = resp["grace_expires_at_ms"].as_i64().unwrap();
    wait_for(&s, s.gw_port, &new, &chat("x"), 200).await;
    // Within the grace both work (this runs well inside the 2 s).
    let during = s
        .post("/v1/chat/completions", &old, chat("x"))
        .await
        .status();
    let now = now_ms();
    if now < grace_end {
        assert_eq!(during, 200, "the old secret must work during its grace");
    }
    // After it, the old one is refused and the new one still works.
    wait_for(&s, s.gw_port, &old, &chat("x"), 401).await;
    assert!(now_ms() >= grace_end - 50);
    assert_eq!(
        s.post("/v1/chat/completions", &new, chat("x"))
            .await
            .status(),
        200
    );
    // Deleting the key refuses it at once (within the change stream's second).
    let del = s
        .client
        .delete(s.url(&format!("/api/v1/developer/keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    wait_for(&s, s.gw_port, &new, &chat("x"), 401).await;
}

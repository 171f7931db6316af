//! Many instances on one PostgreSQL, Redis and ClickHouse: three real
//! gateways (two following one control plane, one the other) and two real
//! control planes, with load sent through all of them. Limits, quotas, usage
//! totals and the ledger must hold exactly as on one instance, a revoked key
//! must be refused by every gateway, and each webhook delivery must be made
//! by one instance only.
//!
//! Several control planes share PostgreSQL only (SQLite is for one
//! machine), so this runs in the production pass of `.ci/test`; the embedded
//! pass says it skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::procs::TestEnv;
use aihub_testkit::upstream::{StubConfig, StubUpstream};
use common::hooks::{log_lines, receiver, wait_delivered};
use common::{burst, check_burst, prime, Stack};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn chat(content: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
}

/// A management API call through the gateway on `port`; its JSON.
async fn api(
    s: &Stack,
    port: u16,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let resp = s
        .client
        .request(method.clone(), format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn set_key_limits(s: &Stack, port: u16, token: &str, key_id: &str, limits: Value) {
    api(
        s,
        port,
        token,
        reqwest::Method::PUT,
        &format!("/api/v1/developer/keys/{key_id}"),
        json!({ "limits": limits }),
    )
    .await;
}

#[tokio::test]
async fn three_gateways_and_two_control_planes_behave_as_one() {
    if TestEnv::from_env().database_url.is_none() {
        eprintln!(
            "skipped: several control planes need PostgreSQL (AIHUB_TEST_DATABASE_URL is not set; \
             the production pass of .ci/test sets it)"
        );
        return;
    }
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let s = Stack::start_with(&[
        ("AIHUB_BILLING__CHARGE_INTERVAL_MS", "200"),
        ("AIHUB_WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true"),
        (
            "AIHUB_ACCOUNTS__REQUIRE_EMAIL_VERIFICATION_FOR_KEYS",
            "false",
        ),
    ])
    .await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    let (_cp2, cp2_port) = s.start_extra_control_plane().await;
    let (_g1, p1) = s.start_extra_gateway_on("gw-1", s.cp_port, &[]).await;
    let (_g2, p2) = s.start_extra_gateway_on("gw-2", cp2_port, &[]).await;
    let (_g3, p3) = s.start_extra_gateway_on("gw-3", s.cp_port, &[]).await;
    let ports = [p1, p2, p3];

    // 1. One rate limit across all gateways: set through the second control
    //    plane, enforced by the three gateways together.
    let (_, key_id, key, token) = s
        .developer_session(p2, "limits@example.com", &["--rate-limit", "100000"])
        .await;
    set_key_limits(&s, p2, &token, &key_id, json!({"requests_per_minute": 10})).await;
    for port in ports {
        prime(&s, port, &key, 10).await;
    }
    let (resps, elapsed) = burst(&s, &ports, &key, 27).await;
    check_burst(&resps, elapsed, 10, ports.len());

    // 2. One token quota across all gateways: concurrent rounds spread over
    //    the three overshoot by at most what is in flight, as on one.
    let (_, key_id, key, token) = s
        .developer_session(
            p1,
            "quota@example.com",
            &["--rate-limit", "100000", "--quota-limit", "1000000000"],
        )
        .await;
    const PER_REQUEST: u64 = 7;
    const QUOTA: u64 = 100;
    const CONCURRENCY: usize = 9;
    // A probe the upstream fails costs nothing: refused under a 1-token
    // quota, passed to the upstream again once the real one applies.
    let probe = json!({"model": "gpt-4o-mini", "messages": [{"role": "user",
        "content": "a probe with a prompt of some length [[stub status=500]]"}]});
    set_key_limits(&s, p1, &token, &key_id, json!({"token_quota_total": 1})).await;
    for port in ports {
        s.wait_for_status(port, &key, &probe, 429).await;
    }
    set_key_limits(&s, p1, &token, &key_id, json!({"token_quota_total": QUOTA})).await;
    for port in ports {
        s.wait_for_status(port, &key, &probe, 500).await;
    }
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hello there [[stub words=5]]"}]});
    let post = |port: u16| {
        s.client
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let mut ok = 0u64;
    let mut exhausted = false;
    for round in 0..40 {
        let answers =
            futures::future::join_all((0..CONCURRENCY).map(|i| post(ports[i % ports.len()]))).await;
        let mut any_refused = false;
        for r in answers {
            match r.unwrap().status().as_u16() {
                200 => ok += 1,
                429 => any_refused = true,
                other => panic!("unexpected {other}"),
            }
        }
        if any_refused {
            // Nothing in flight: one more request tells spent from reserved.
            match post(ports[round % ports.len()])
                .await
                .unwrap()
                .status()
                .as_u16()
            {
                200 => ok += 1,
                429 => {
                    exhausted = true;
                    break;
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert!(exhausted, "the quota never refused");
    let used = ok * PER_REQUEST;
    assert!(
        used >= QUOTA - PER_REQUEST,
        "refused too early: {used} of {QUOTA} tokens"
    );
    assert!(
        used <= QUOTA + CONCURRENCY as u64 * PER_REQUEST,
        "overshot the in-flight bound: {used} tokens for a quota of {QUOTA}"
    );
    for port in ports {
        assert_eq!(post(port).await.unwrap().status(), 429, "gateway {port}");
    }

    // 3. Usage: every answered request, through any gateway, plain or
    //    streamed, is one row with the tokens its answer reported.
    let (dev, key_id, key, _token) = s
        .developer_session(p3, "usage@example.com", &["--rate-limit", "100000"])
        .await;
    let sends = (0..30).map(|i| {
        let stream = i % 3 == 0;
        let mut body = chat(&format!("request {i} [[stub words={}]]", 3 + i % 5));
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        let url = format!(
            "http://127.0.0.1:{}/v1/chat/completions",
            ports[i % ports.len()]
        );
        let req = s.client.post(url).bearer_auth(&key).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
            let text = resp.text().await.unwrap();
            let usage = if stream {
                common::sse_data(&text)
                    .into_iter()
                    .filter(|d| d != "[DONE]")
                    .map(|d| serde_json::from_str::<Value>(&d).unwrap())
                    .find(|v| v["usage"].is_object())
                    .expect("a usage chunk")["usage"]
                    .clone()
            } else {
                serde_json::from_str::<Value>(&text).unwrap()["usage"].clone()
            };
            (id, usage["total_tokens"].as_u64().unwrap())
        }
    });
    // The new key reaches each gateway within moments; wait for it there
    // (the first answer of each counts like the others).
    let mut answered: BTreeMap<String, u64> = BTreeMap::new();
    for port in ports {
        let resp = s.wait_for_status(port, &key, &chat("warm up"), 200).await;
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let v: Value = resp.json().await.unwrap();
        answered.insert(id, v["usage"]["total_tokens"].as_u64().unwrap());
    }
    answered.extend(futures::future::join_all(sends).await);
    assert_eq!(answered.len(), 30 + ports.len(), "request ids are unique");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows: Vec<_> = s
            .usage_rows()
            .await
            .into_iter()
            .filter(|r| r.developer_id == dev)
            .collect();
        if rows.len() >= answered.len() {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} rows arrived",
            rows.len(),
            answered.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut per_request: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.key_id, key_id);
        per_request
            .entry(r.request_id.as_str())
            .or_default()
            .push(r.prompt_tokens + r.completion_tokens);
    }
    for (id, tokens) in &answered {
        assert_eq!(
            per_request.get(id.as_str()),
            Some(&vec![*tokens]),
            "request {id}: one row with the answer's {tokens} tokens"
        );
    }
    assert_eq!(
        per_request.len(),
        answered.len(),
        "no row without an answer"
    );
    let instances: BTreeSet<&str> = rows.iter().map(|r| r.gateway_id.as_str()).collect();
    assert_eq!(
        instances,
        ["gw-1", "gw-2", "gw-3"].into_iter().collect(),
        "every gateway served and metered"
    );

    // 4. The ledger: two chargers (one per control plane) take turns; every
    //    row is charged once and the books agree.
    let report = s.reconciled(None).await;
    assert_eq!(report["ok"], true, "{report}");

    // 5. A key revoked on one control plane is refused by every gateway.
    s.aihub(&["admin", "disable-key", &key_id]);
    for port in ports {
        s.wait_for_status(port, &key, &chat("after revocation"), 401)
            .await;
    }

    // 6. Webhooks: both control planes run delivery workers; each event is
    //    delivered once, whichever instance made it.
    let (_, _, _, token) = s.developer_session(p1, "hooks@example.com", &[]).await;
    let dir = s.dir.path().to_path_buf();
    let secret_file = dir.join("whsec-multi");
    let log = dir.join("received-multi.jsonl");
    let (_rx, rx_port) = receiver(&dir, &secret_file, &log, 0).await;
    let endpoint = api(
        &s,
        p2,
        &token,
        reqwest::Method::POST,
        "/api/v1/developer/webhooks",
        json!({"url": format!("http://127.0.0.1:{rx_port}/hook"),
               "event_types": ["api_key.created"]}),
    )
    .await;
    std::fs::write(&secret_file, endpoint["secret"].as_str().unwrap()).unwrap();
    for i in 0..8 {
        api(
            &s,
            ports[i % ports.len()],
            &token,
            reqwest::Method::POST,
            "/api/v1/developer/keys",
            json!({ "name": format!("hooked-{i}") }),
        )
        .await;
    }
    let events = api(
        &s,
        p3,
        &token,
        reqwest::Method::GET,
        "/api/v1/developer/events?type=api_key.created",
        Value::Null,
    )
    .await;
    let ids: Vec<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 8, "{events}");
    wait_delivered(&log, &ids).await;
    // Deliveries made after the last one was seen would show up as extra
    // lines: check once more after every endpoint's queue is empty.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let deliveries = api(
            &s,
            p1,
            &token,
            reqwest::Method::GET,
            &format!(
                "/api/v1/developer/webhooks/{}/deliveries",
                endpoint["id"].as_str().unwrap()
            ),
            Value::Null,
        )
        .await;
        let pending = deliveries["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] != "succeeded")
            .count();
        if pending == 0 && deliveries["data"].as_array().unwrap().len() == ids.len() {
            // One attempt each: no instance sent a delivery another had.
            assert!(
                deliveries["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|d| d["attempts"] == 1),
                "{deliveries}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never all succeeded: {deliveries}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = log_lines(&log);
    for id in &ids {
        let seen = lines
            .iter()
            .filter(|l| l["webhook_id"] == id.as_str())
            .count();
        assert_eq!(seen, 1, "event {id} was delivered {seen} times: {lines:#?}");
    }
    assert!(lines.iter().all(|l| l["verified"] == true), "{lines:#?}");
}

//! End-to-end: the real control plane and gateway binaries, stand-in
//! providers, and real HTTP clients. Run on whichever backend `.ci/test`
//! selects (SQLite or PostgreSQL; usage via the control plane or ClickHouse).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::upstream::{StubConfig, StubUpstream};
use common::{sse_data, Stack};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// gpt-4o-mini's default price: 0.15 USD per million tokens = 150 nano-USD a token.
const MINI_NANOS_PER_TOKEN: i64 = 150;

fn chat(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

async fn stack_with(
    up: &StubUpstream,
    kind: &str,
    model: &str,
    upstream_model: &str,
) -> (Stack, String, String, String) {
    let mut s = Stack::start().await;
    s.add_provider("primary", kind, &up.base_url(), "sk-upstream-secret");
    s.add_model(model, "primary", &["--upstream-model", upstream_model]);
    let (dev, key_id, key) = s.developer_with_key("dev@example.com", &[]);
    s.start_gateway().await;
    (s, dev, key_id, key)
}

/// Sends a chat request with `key` until the gateway answers `status`
/// (configuration changes reach it through the change stream).
async fn wait_for_status(s: &Stack, key: &str, status: u16, what: &str) {
    eprintln!("waiting for {what}");
    s.wait_for_status(s.gw_port, key, &chat("gpt-4o-mini", "x"), status)
        .await;
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn chat_is_forwarded_and_metered_exactly() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let (s, dev, key_id, key) = stack_with(&up, "openai", "gpt-4o-mini", "stub-mini").await;

    let resp = s
        .post(
            "/v1/chat/completions",
            &key,
            chat("gpt-4o-mini", "one two three [[stub words=7 cached=1]]"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    assert!(rid.starts_with("req_"), "{rid}");
    for h in resp.headers().keys() {
        assert!(
            !h.as_str().starts_with("openai-"),
            "provider header leaked: {h}"
        );
    }
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(body["usage"]["completion_tokens"], 7);

    // The provider saw its own key, the upstream model name and our request id.
    let seen = up.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer sk-upstream-secret")
    );
    assert_eq!(seen.body["model"], "stub-mini");
    assert_eq!(seen.header("x-request-id"), Some(rid.as_str()));

    let row = s.wait_usage_row(&rid).await;
    assert_eq!(row.developer_id, dev);
    assert_eq!(row.key_id, key_id);
    assert_eq!(row.model, "gpt-4o-mini");
    assert_eq!(row.endpoint, "chat.completions");
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens, row.cached_tokens),
        (3, 7, 1)
    );
    assert_eq!(row.cost_nanos, 10 * MINI_NANOS_PER_TOKEN);
    assert_eq!((row.status, row.attempts, row.stream), (200, 1, false));
    assert_eq!(row.error, "");
    assert_eq!(row.gateway_id, "gw-test");
    assert_eq!(row.ip, "127.0.0.1");
    // Exactly one row for one request.
    assert_eq!(s.wait_usage_rows(1).await.len(), 1);
}

#[tokio::test]
async fn streams_are_metered_and_usage_chunk_only_shown_when_asked() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let (s, _, _, key) = stack_with(&up, "openai", "gpt-4o-mini", "stub-mini").await;

    // The client does not ask for usage: the gateway asks on its own behalf
    // and removes the usage chunk from the client's stream.
    let mut req = chat("gpt-4o-mini", "alpha beta [[stub words=5]]");
    req["stream"] = json!(true);
    let resp = s.post("/v1/chat/completions", &key, req.clone()).await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    let text = resp.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(
        data.iter().all(|d| !d.contains("\"usage\":{")),
        "usage leaked: {text}"
    );
    let content: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content.split_whitespace().count(), 5);
    assert_eq!(
        up.last_request().unwrap().body["stream_options"]["include_usage"],
        true
    );
    let row = s.wait_usage_row(&rid).await;
    assert_eq!((row.prompt_tokens, row.completion_tokens), (2, 5));
    assert!(row.stream);
    assert!(row.ttft_ms.is_some());
    assert_eq!(row.cost_nanos, 7 * MINI_NANOS_PER_TOKEN);

    // The client asks: it gets the usage chunk.
    req["stream_options"] = json!({"include_usage": true});
    let resp = s.post("/v1/chat/completions", &key, req).await;
    let rid2 = request_id(&resp);
    let data = sse_data(&resp.text().await.unwrap());
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    let row = s.wait_usage_row(&rid2).await;
    assert_eq!(row.completion_tokens, 5);
    assert_eq!(s.wait_usage_rows(2).await.len(), 2);
}

#[tokio::test]
async fn anthropic_is_translated_both_ways() {
    let up = StubUpstream::start(StubConfig::named("claude")).unwrap();
    let (s, _, _, key) = stack_with(
        &up,
        "anthropic",
        "claude-3.5-sonnet",
        "claude-3-5-sonnet-latest",
    )
    .await;

    let mut req = json!({"model": "claude-3.5-sonnet", "messages": [
        {"role": "system", "content": "sys prompt"},
        {"role": "user", "content": "hello there [[stub words=4]]"}
    ]});
    let resp = s.post("/v1/chat/completions", &key, req.clone()).await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "claude-3.5-sonnet");
    assert_eq!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        4
    );
    let seen = up.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-upstream-secret"));
    assert!(seen.header("anthropic-version").is_some());
    assert_eq!(seen.body["system"], "sys prompt");
    assert_eq!(seen.body["model"], "claude-3-5-sonnet-latest");
    let row = s.wait_usage_row(&rid).await;
    // Anthropic counts the system prompt as input: 2 + 2 words.
    assert_eq!((row.prompt_tokens, row.completion_tokens), (4, 4));
    // claude-3.5-sonnet: 3 USD per million = 3,000 nano-USD a token.
    assert_eq!(row.cost_nanos, 8 * 3_000);

    req["stream"] = json!(true);
    let resp = s.post("/v1/chat/completions", &key, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let rid = request_id(&resp);
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    let row = s.wait_usage_row(&rid).await;
    assert_eq!((row.prompt_tokens, row.completion_tokens), (4, 4));
    assert!(row.stream);
}

#[tokio::test]
async fn failing_deployment_falls_back_and_is_charged_once() {
    let bad = StubUpstream::start(StubConfig {
        fail_status: Some(503),
        ..StubConfig::named("bad")
    })
    .unwrap();
    let good = StubUpstream::start(StubConfig::named("good")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("bad", "openai", &bad.base_url(), "k1");
    s.add_provider("good", "openai", &good.base_url(), "k2");
    // Nothing listens on this port: a connection error.
    let dead = format!("http://127.0.0.1:{}/v1", aihub_testkit::procs::free_port());
    s.add_provider("dead", "openai", &dead, "k3");
    let bad_dep = s.add_model("gpt-4o-mini", "bad", &["--priority", "0"]);
    s.add_model("gpt-4o-mini", "dead", &["--priority", "1"]);
    let good_dep = s.add_model("gpt-4o-mini", "good", &["--priority", "2"]);
    let (_, _, key) = s.developer_with_key("f@example.com", &[]);
    s.start_gateway().await;

    let resp = s
        .post(
            "/v1/chat/completions",
            &key,
            chat("gpt-4o-mini", "x y [[stub words=3]]"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["system_fingerprint"], "good");
    assert_eq!(bad.request_count(), 1);
    assert_eq!(good.request_count(), 1);
    let rows = s.wait_usage_rows(1).await;
    assert_eq!(rows[0].request_id, rid);
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].deployment_id, good_dep);
    assert_eq!(rows[0].cost_nanos, 5 * MINI_NANOS_PER_TOKEN);
    let metrics = s.metrics().await;
    let bad_errors = metrics
        .lines()
        .find(|l| l.starts_with("aihub_gateway_upstream_errors_total") && l.contains(&bad_dep))
        .unwrap_or_else(|| panic!("no upstream error counted for {bad_dep}:\n{metrics}"));
    assert!(
        bad_errors.contains("status_5xx") && bad_errors.ends_with(" 1"),
        "{bad_errors}"
    );
    assert!(metrics.contains("aihub_gateway_fallbacks_total{model=\"gpt-4o-mini\"} 1"));

    // When every deployment fails the client gets the last upstream error.
    good.set_fail_status(Some(500));
    let resp = s
        .post("/v1/chat/completions", &key, chat("gpt-4o-mini", "x"))
        .await;
    assert_eq!(resp.status(), 500);
    let rows = s.wait_usage_rows(2).await;
    let failed = rows.iter().find(|r| r.request_id != rid).unwrap();
    assert_eq!(
        (failed.status, failed.cost_nanos, failed.prompt_tokens),
        (500, 0, 0)
    );
}

#[tokio::test]
async fn provider_credential_errors_fall_back_and_never_reach_the_client() {
    let refused = StubUpstream::start(StubConfig {
        fail_status: Some(401),
        ..StubConfig::named("refused")
    })
    .unwrap();
    let good = StubUpstream::start(StubConfig::named("good")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider(
        "refused",
        "openai",
        &refused.base_url(),
        "sk-wrong-upstream-key",
    );
    s.add_provider("good", "openai", &good.base_url(), "sk-right");
    s.add_model("gpt-4o-mini", "refused", &["--priority", "0"]);
    s.add_model("gpt-4o-mini", "good", &["--priority", "1"]);
    s.add_model("gpt-4o", "refused", &[]);
    let (_, _, key) = s.developer_with_key("cred@example.com", &[]);
    s.start_gateway().await;

    // With another deployment, the request is served there.
    let resp = s
        .post("/v1/chat/completions", &key, chat("gpt-4o-mini", "x"))
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["system_fingerprint"], "good");

    // Without one, the client gets a neutral 502, not the provider's text.
    let resp = s
        .post("/v1/chat/completions", &key, chat("gpt-4o", "x"))
        .await;
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "upstream_error");
    // The provider was asked (and answered 401 with its own message) both times.
    assert_eq!(refused.request_count(), 2);
    assert!(!text.contains("sk-wrong"), "{text}");
    assert!(
        !text.to_lowercase().contains("stub"),
        "provider text leaked: {text}"
    );
}

#[tokio::test]
async fn refusals_use_openai_error_shape() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "sk-upstream-secret");
    s.add_model("gpt-4o-mini", "primary", &["--upstream-model", "stub-mini"]);
    let (_, _, key) = s.developer_with_key("dev@example.com", &[]);
    // A small limit, so the refused body still fits the socket buffers and the
    // client reads the answer instead of a reset.
    s.gateway_env
        .push(("AIHUB_GW_SERVER__MAX_BODY_BYTES".into(), "100000".into()));
    s.start_gateway().await;

    async fn expect(resp: reqwest::Response, status: u16, code: &str) {
        let got = resp.status();
        let has_id = resp.headers().contains_key("x-request-id");
        let headers = format!("{:?}", resp.headers());
        let text = resp.text().await.unwrap();
        // Said in full when it fails: it did once under load, for an
        // answer not yet known (CI 2026-11-26).
        assert!(
            has_id,
            "no x-request-id on the {got} answer expected as {status} {code}: {headers} {text}"
        );
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{got} answer is not JSON ({e}): {text}"));
        assert_eq!(got, status, "expected {status} {code}, got {got}: {v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let c = &s.client;
    expect(
        c.post(s.url("/v1/chat/completions"))
            .json(&chat("gpt-4o-mini", "x"))
            .send()
            .await
            .unwrap(),
        401,
        "missing_api_key",
    )
    .await;
    let wrong = format!("{}x", &key[..key.len() - 1]);
    expect(
        s.post("/v1/chat/completions", &wrong, chat("gpt-4o-mini", "x"))
            .await,
        401,
        "invalid_api_key",
    )
    .await;
    expect(
        c.post(s.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .body("{not json")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    expect(
        s.post("/v1/chat/completions", &key, json!({"messages": []}))
            .await,
        400,
        "missing_required_parameter",
    )
    .await;
    expect(
        s.post("/v1/chat/completions", &key, chat("no-such-model", "x"))
            .await,
        404,
        "model_not_found",
    )
    .await;
    let big = "word ".repeat(30_000);
    expect(
        s.post("/v1/chat/completions", &key, chat("gpt-4o-mini", &big))
            .await,
        413,
        "request_too_large",
    )
    .await;
    expect(
        c.get(s.url("/internal/v1/snapshot")).send().await.unwrap(),
        404,
        "unknown_url",
    )
    .await;
    expect(
        c.get(s.url("/v1/nothing"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        404,
        "unknown_url",
    )
    .await;
    // None of these reached the provider.
    assert_eq!(up.request_count(), 0);
    // Each refusal is counted under its code.
    let metrics = s.metrics().await;
    for code in [
        "missing_api_key",
        "invalid_api_key",
        "invalid_json",
        "model_not_found",
    ] {
        let line = format!("aihub_gateway_rejections_total{{code=\"{code}\"}} 1");
        assert!(metrics.contains(&line), "no '{line}' in:\n{metrics}");
    }
}

#[tokio::test]
async fn large_bodies_are_served_and_metered_like_small_ones() {
    // Above Pingora's 64 KiB body buffer the gateway forwards with its own
    // client; the plugins, fallback and metering must behave the same.
    let bad = StubUpstream::start(StubConfig {
        fail_status: Some(502),
        ..StubConfig::named("bad")
    })
    .unwrap();
    let good = StubUpstream::start(StubConfig::named("good")).unwrap();
    let claude = StubUpstream::start(StubConfig::named("claude")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("bad", "openai", &bad.base_url(), "k1");
    s.add_provider("good", "openai", &good.base_url(), "k2");
    s.add_provider("claude", "anthropic", &claude.base_url(), "k3");
    s.add_model("gpt-4o-mini", "bad", &["--priority", "0"]);
    s.add_model("gpt-4o-mini", "good", &["--priority", "1"]);
    s.add_model("claude-3.5-sonnet", "claude", &[]);
    let (_, _, key) = s.developer_with_key("big@example.com", &[]);
    s.start_gateway().await;

    let words = 30_000; // about 150 KB of JSON
    let prompt = format!("{} [[stub words=9]]", "lorem ".repeat(words));
    let resp = s
        .post("/v1/chat/completions", &key, chat("gpt-4o-mini", &prompt))
        .await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["system_fingerprint"], "good");
    assert_eq!(
        good.last_request().unwrap().body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .len(),
        prompt.len()
    );
    let row = s.wait_usage_row(&rid).await;
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens, row.attempts),
        (words as u64, 9, 2)
    );
    assert_eq!(row.cost_nanos, (words as i64 + 9) * MINI_NANOS_PER_TOKEN);

    // Streamed, through the Anthropic translation, usage chunk removed.
    let mut req = chat("claude-3.5-sonnet", &prompt);
    req["stream"] = json!(true);
    let resp = s.post("/v1/chat/completions", &key, req).await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(data.iter().all(|d| !d.contains("\"usage\"")));
    let row = s.wait_usage_row(&rid).await;
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens),
        (words as u64, 9)
    );
    assert!(row.stream && row.ttft_ms.is_some());
}

#[tokio::test]
async fn key_scopes_and_revocation_reach_the_gateway() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.add_model("gpt-4o", "primary", &[]);
    let (dev, key_id, key) =
        s.developer_with_key("scoped@example.com", &["--models", "gpt-4o-mini"]);
    s.start_gateway().await;

    let models: Value = s
        .client
        .get(s.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["gpt-4o-mini"]);
    let resp = s
        .post("/v1/chat/completions", &key, chat("gpt-4o", "x"))
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        s.post("/v1/chat/completions", &key, chat("gpt-4o-mini", "x"))
            .await
            .status(),
        200
    );

    // A key created after start works once the change stream delivers it.
    let fresh = s.aihub(&["admin", "create-key", "--developer", &dev]);
    let fresh_secret = fresh["secret"].as_str().unwrap().to_string();
    wait_for_status(&s, &fresh_secret, 200, "a new key accepted").await;

    // Disabling the key stops it on the gateway.
    let t0 = Instant::now();
    s.aihub(&["admin", "disable-key", &key_id]);
    wait_for_status(&s, &key, 401, "a disabled key refused").await;
    eprintln!("revocation reached the gateway after {:?}", t0.elapsed());

    // Suspending the developer refuses the other key too.
    s.aihub(&["admin", "suspend-developer", &dev]);
    wait_for_status(&s, &fresh_secret, 403, "a suspended developer refused").await;
}

#[tokio::test]
async fn client_disconnect_mid_stream_is_still_metered() {
    let up = StubUpstream::start(StubConfig {
        chunk_delay_ms: 30,
        ..StubConfig::named("slow")
    })
    .unwrap();
    let (s, _, _, key) = stack_with(&up, "openai", "gpt-4o-mini", "stub-mini").await;
    let mut req = chat("gpt-4o-mini", "some prompt words here [[stub words=200]]");
    req["stream"] = json!(true);
    let mut resp = s.post("/v1/chat/completions", &key, req).await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(&resp);
    let mut received = String::new();
    while received.matches("\"content\"").count() < 4 {
        let chunk = resp.chunk().await.unwrap().expect("stream ended early");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(resp);
    let row = s.wait_usage_row(&rid).await;
    assert_eq!(row.error, "client_disconnected");
    assert!(row.completion_tokens >= 3, "{row:?}");
    assert!(row.completion_tokens < 200, "{row:?}");
    assert!(row.prompt_tokens > 0);
    assert!(row.cost_nanos > 0);
}

#[tokio::test]
async fn spooled_rows_survive_a_crash_and_ship_once() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let (mut s, _, _, key) = stack_with(&up, "openai", "gpt-4o-mini", "stub-mini").await;
    let first = s
        .post("/v1/chat/completions", &key, chat("gpt-4o-mini", "warm up"))
        .await;
    assert_eq!(first.status(), 200);
    s.wait_usage_rows(1).await;

    // Make the usage store unreachable: stop the control plane (embedded
    // setup; the gateway then also serves from its last snapshot), or point
    // the gateway at a ClickHouse port where nothing listens.
    if s.clickhouse.is_none() {
        s.stop_control_plane();
    } else {
        s.gateway().kill();
        s.clickhouse_url_override = Some(format!(
            "http://127.0.0.1:{}",
            aihub_testkit::procs::free_port()
        ));
        s.start_gateway().await;
    }
    let mut ids = vec![];
    for i in 0..5 {
        let resp = s
            .post(
                "/v1/chat/completions",
                &key,
                chat("gpt-4o-mini", &format!("request {i}")),
            )
            .await;
        assert_eq!(resp.status(), 200);
        ids.push(request_id(&resp));
    }
    // Crash the gateway at once: the rows of the five answers are on disk
    // already (spool.durability).
    s.gateway().kill();
    s.gw = None;

    if s.clickhouse.is_none() {
        // The gateway comes back while the control plane is still away and
        // serves from the snapshot it kept on disk.
        s.start_gateway().await;
        let resp = s
            .post(
                "/v1/chat/completions",
                &key,
                chat("gpt-4o-mini", "after crash"),
            )
            .await;
        assert_eq!(resp.status(), 200);
        ids.push(request_id(&resp));
        s.start_control_plane().await;
    } else {
        s.clickhouse_url_override = None;
        s.start_gateway().await;
    }
    let rows = s.wait_usage_rows(1 + ids.len()).await;
    for id in &ids {
        assert_eq!(
            rows.iter().filter(|r| &r.request_id == id).count(),
            1,
            "{id}"
        );
    }
}

#[tokio::test]
async fn portal_and_management_api_share_the_gateway_host() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let (s, _, _, _) = stack_with(&up, "openai", "gpt-4o-mini", "stub-mini").await;
    let resp = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("AI Hub"));
    let resp = s.client.get(s.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = s.metrics().await;
    assert!(metrics.contains("aihub_gateway_config_version"));
}

#[tokio::test]
async fn official_openai_python_sdk_works_unmodified() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "sk-upstream");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.add_model("text-embedding-3-small", "primary", &[]);
    let (_, _, key) = s.developer_with_key("sdk@example.com", &[]);
    s.start_gateway().await;
    let Some(python) = s.env.python.clone() else {
        panic!("AIHUB_TEST_PYTHON is not set: run the suite through `bash .ci/test`, which creates the SDK venv");
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_sdk.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("AIHUB_BASE_URL", s.url("/v1"))
        .env("AIHUB_API_KEY", &key)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "SDK script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chat_completion_tokens"], 6);
    assert_eq!(report["stream_words"], 4);
    assert_eq!(report["stream_usage_completion_tokens"], 4);
    assert_eq!(report["embeddings"], 2);
    assert!(report["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "gpt-4o-mini"));
    // chat, two streams, embeddings: four metered requests (models is free).
    let rows = s.wait_usage_rows(4).await;
    assert!(
        rows.iter().all(|r| r.prompt_tokens > 0 && r.cost_nanos > 0),
        "{rows:#?}"
    );
    assert!(rows.iter().any(|r| r.endpoint == "embeddings"));
    assert!(
        rows.iter().all(|r| r.user_agent.contains("OpenAI")),
        "{rows:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_and_ships_their_usage() {
    let up = StubUpstream::start(StubConfig {
        latency_ms: 400,
        ..StubConfig::named("slowish")
    })
    .unwrap();
    let (mut s, _, _, key) = stack_with(&up, "openai", "gpt-4o-mini", "stub-mini").await;
    let client = s.client.clone();
    let url = s.url("/v1/chat/completions");
    let inflight = tokio::spawn(async move {
        let resp = client
            .post(url)
            .bearer_auth(key)
            .json(&chat("gpt-4o-mini", "finish me [[stub words=3]]"))
            .send()
            .await
            .unwrap();
        let rid = request_id(&resp);
        (resp.status().as_u16(), rid, resp.text().await.unwrap())
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.request_count() == 0 {
        assert!(
            Instant::now() < deadline,
            "request never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut gw = s.gw.take().unwrap();
    let exit = tokio::task::spawn_blocking(move || gw.terminate(Duration::from_secs(20)))
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "gateway exited with {exit}");
    let (status, rid, body) = inflight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let row = s.wait_usage_row(&rid).await;
    assert_eq!(row.completion_tokens, 3);
}

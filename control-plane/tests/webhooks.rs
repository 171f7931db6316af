//! Webhooks and events over real HTTP, against a local receiver: endpoint
//! CRUD and validation, the private-address policy, key events delivered
//! signed (Standard Webhooks + X-AIHub-Signature), retries with the same
//! webhook-id, 410 disabling an endpoint, test sends, secret rotation,
//! replay and recover, the events list, the SSE stream, isolation between
//! developers, deliveries surviving a restart, a slow endpoint holding back
//! only itself, and long-failing endpoints disabled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::hub::{call, developer_session, expect_error, login, parts, PASSWORD};
use common::{eventually, spawn_app_with, start_on, Backend, TestApp};
use figment::providers::Serialized;
use figment::Figment;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_selected_backend!(
    endpoints_are_created_listed_changed_and_deleted_with_validation,
    private_addresses_are_refused_unless_allowed,
    key_events_reach_a_subscribed_endpoint_signed,
    failed_attempts_are_retried_with_the_same_webhook_id,
    gone_disables_the_endpoint_and_tells_the_developer,
    test_sends_and_secret_rotation,
    replay_and_recover_send_again,
    events_are_listed_filtered_paged_and_fetched,
    the_event_stream_delivers_new_events_and_resumes,
    other_developers_get_404_everywhere,
    deliveries_survive_a_restart,
    a_slow_endpoint_holds_back_only_itself,
    an_endpoint_failing_for_too_long_is_disabled,
);

const HOOKS: &str = "/api/v1/developer/webhooks";
const KEYS: &str = "/api/v1/developer/keys";
const WAIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ receiver

/// A request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    headers: HashMap<String, String>,
    body: Bytes,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    got: Vec<Got>,
    /// Answer 500 to this many more requests.
    fail_next: usize,
    /// Answer this status to every request (after `fail_next`).
    status: Option<u16>,
}

/// A local webhook receiver recording requests.
#[derive(Clone)]
struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<ReceiverState>> = Arc::default();
        let s = state.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let mut st = s.lock().unwrap();
                    st.got.push(Got {
                        headers: headers
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                            .collect(),
                        body,
                    });
                    let code = if st.fail_next > 0 {
                        st.fail_next -= 1;
                        500
                    } else {
                        st.status.unwrap_or(200)
                    };
                    (AxStatus::from_u16(code).unwrap(), "ok")
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            state,
            url: format!("http://{addr}/hook"),
        }
    }

    fn got(&self) -> Vec<Got> {
        self.state.lock().unwrap().got.clone()
    }

    fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    fn answer(&self, status: Option<u16>) {
        self.state.lock().unwrap().status = status;
    }

    /// Waits until `n` requests arrived; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        eventually(&format!("{n} webhook requests"), WAIT, || async {
            let got = self.got();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

// ------------------------------------------------------------------ helpers

fn allow_private(f: Figment) -> Figment {
    f.merge(Serialized::default("webhooks.allow_private_networks", true))
        .merge(Serialized::default(
            "webhooks.retry_delays_ms",
            vec![200u64, 200, 200],
        ))
}

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, allow_private).await
}

async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    parts(call(app, method, path, Some(token), body).await).await
}

async fn endpoint(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, e) = api(app, Method::POST, HOOKS, token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    e
}

async fn create_key(app: &TestApp, token: &str, name: &str) -> Value {
    let (status, key) = api(app, Method::POST, KEYS, token, Some(json!({"name": name}))).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn key_bytes(secret: &str) -> Vec<u8> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

/// The Standard Webhooks signatures in `got` that `secret` produced.
fn standard_signature_ok(got: &Got, secret: &str) -> bool {
    let signed = format!(
        "{}.{}.{}",
        got.header("webhook-id"),
        got.header("webhook-timestamp"),
        std::str::from_utf8(&got.body).unwrap()
    );
    let expected = format!(
        "v1,{}",
        STANDARD.encode(hmac(&key_bytes(secret), signed.as_bytes()))
    );
    got.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

fn aihub_signature_ok(got: &Got, secret: &str) -> bool {
    got.header("x-aihub-signature")
        == format!(
            "sha256={}",
            hex::encode(hmac(&key_bytes(secret), &got.body))
        )
}

/// Waits for a delivery to reach `status`; returns it with its attempts.
async fn delivery_when(app: &TestApp, token: &str, delivery_id: &str, status: &str) -> Value {
    eventually(
        &format!("delivery {delivery_id} {status}"),
        WAIT,
        || async {
            let (s, d) = api(
                app,
                Method::GET,
                &format!("/api/v1/developer/webhook-deliveries/{delivery_id}"),
                token,
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{d}");
            (d["status"] == status).then_some(d)
        },
    )
    .await
}

/// The endpoint's deliveries (newest first), waiting for at least `n`.
async fn deliveries(app: &TestApp, token: &str, endpoint_id: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} deliveries"), WAIT, || async {
        let (s, body) = api(
            app,
            Method::GET,
            &format!("{HOOKS}/{endpoint_id}/deliveries"),
            token,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let data = body["data"].as_array().unwrap().clone();
        (data.len() >= n).then_some(data)
    })
    .await
}

// ------------------------------------------------------------------ tests

async fn endpoints_are_created_listed_changed_and_deleted_with_validation(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "crud@example.com", true).await;
    let receiver = Receiver::start().await;

    // The catalog.
    let (s, types) = api(
        &app,
        Method::GET,
        "/api/v1/developer/event-types",
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = types["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    for t in [
        "api_key.created",
        "api_key.updated",
        "api_key.regenerated",
        "api_key.deleted",
        "api.usage_alert",
        "api.error",
        "billing.payment",
        "invoice.finalized",
        "task.completed",
        "task.failed",
        "batch.completed",
        "webhook.test",
        "webhook.endpoint_disabled",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    assert!(types["data"][0]["example"].is_object());
    assert!(types["data"][0]["description"].is_string());

    // Defaults; the secret is shown on creation.
    let e = endpoint(&app, &token, json!({"url": receiver.url})).await;
    assert!(e["id"].as_str().unwrap().starts_with("we_"));
    assert_eq!(e["event_types"], json!(["*"]));
    assert_eq!(e["max_retries"], 3);
    assert_eq!(e["enabled"], true);
    assert_eq!(e["disabled_reason"], Value::Null);
    assert_eq!(e["description"], "");
    let secret = e["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let hint = e["secret_hint"].as_str().unwrap();
    assert!(hint.starts_with("whsec_") && secret.starts_with(hint.trim_end_matches('…')));
    assert_eq!(e["previous_secret_expires_at_ms"], Value::Null);
    assert_eq!(e["failing_since_ms"], Value::Null);
    assert!(e["created_at_ms"].as_i64().unwrap() > 0);

    let e2 = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "description": "billing", "event_types": ["api_key.created", "api.error"], "max_retries": 0}),
    )
    .await;
    assert_eq!(e2["event_types"], json!(["api_key.created", "api.error"]));
    assert_eq!(e2["max_retries"], 0);

    // Listed newest first, without secrets.
    let (s, list) = api(&app, Method::GET, HOOKS, &token, None).await;
    assert_eq!(s, StatusCode::OK);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], e2["id"]);
    assert!(data.iter().all(|x| x.get("secret").is_none()));
    let (s, one) = api(
        &app,
        Method::GET,
        &format!("{HOOKS}/{}", id(&e)),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(one.get("secret").is_none());
    assert_eq!(one["url"], receiver.url);
    let (s, sec) = api(
        &app,
        Method::GET,
        &format!("{HOOKS}/{}/secret", id(&e)),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sec["secret"], secret);

    // Changes; disabling is "manual", enabling clears it.
    let path = format!("{HOOKS}/{}", id(&e));
    let (s, u) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"description": "all", "event_types": ["api_key.deleted"], "max_retries": 7, "enabled": false})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["description"], "all");
    assert_eq!(u["event_types"], json!(["api_key.deleted"]));
    assert_eq!(u["max_retries"], 7);
    assert_eq!(u["enabled"], false);
    assert_eq!(u["disabled_reason"], "manual");
    let (_, u) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(u["enabled"], true);
    assert_eq!(u["disabled_reason"], Value::Null);
    assert_eq!(u["description"], "all");

    // Validation.
    for (body, what) in [
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "ftp://example.com/hook"}), "url"),
        (
            json!({"url": receiver.url, "event_types": ["nope.nothing"]}),
            "event_types",
        ),
        (
            json!({"url": receiver.url, "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": receiver.url, "max_retries": 8}),
            "max_retries",
        ),
        (
            json!({"url": receiver.url, "max_retries": -1}),
            "max_retries",
        ),
        (json!({"url": receiver.url, "surprise": 1}), "surprise"),
        (json!({}), "url"),
    ] {
        let resp = call(&app, Method::POST, HOOKS, Some(&token), Some(body.clone())).await;
        let msg = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(msg.contains(what), "{body}: {msg}");
    }
    let resp = call(
        &app,
        Method::PUT,
        &path,
        Some(&token),
        Some(json!({"url": "gopher://x"})),
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Idempotency-Key: the same answer (and secret) again.
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url(HOOKS))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("idem-1", json!({"url": receiver.url})).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("idem-1", json!({"url": receiver.url})).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    let other = send("idem-1", json!({"url": receiver.url, "description": "x"}))
        .await
        .unwrap();
    expect_error(other, StatusCode::CONFLICT, "idempotency_conflict").await;

    // 20 per developer.
    for _ in 4..=20 {
        endpoint(&app, &token, json!({"url": receiver.url})).await;
    }
    let resp = call(
        &app,
        Method::POST,
        HOOKS,
        Some(&token),
        Some(json!({"url": receiver.url})),
    )
    .await;
    let msg = expect_error(resp, StatusCode::CONFLICT, "conflict").await;
    assert!(msg.contains("20"), "{msg}");

    // Deleting: gone from the list and the routes; room for another.
    let (s, _) = api(&app, Method::DELETE, &path, &token, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api(&app, Method::GET, &path, &token, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api(&app, Method::DELETE, &path, &token, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = api(&app, Method::GET, HOOKS, &token, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 19);
    endpoint(&app, &token, json!({"url": receiver.url})).await;
    app.stop().await;
}

async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (_, token) = developer_session(&app, "private@example.com", true).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://10.0.0.1/hook",
    ] {
        let resp = call(
            &app,
            Method::POST,
            HOOKS,
            Some(&token),
            Some(json!({"url": url})),
        )
        .await;
        let msg = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(msg.starts_with("url"), "{url}: {msg}");
    }
    // A public literal address is accepted (nothing is sent on creation).
    endpoint(&app, &token, json!({"url": "https://93.184.216.34/hook"})).await;
    app.stop().await;
}

async fn key_events_reach_a_subscribed_endpoint_signed(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "signed@example.com", true).await;
    let receiver = Receiver::start().await;
    let e = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "event_types": ["api_key.created", "api_key.regenerated", "api_key.deleted"]}),
    )
    .await;
    let secret = e["secret"].as_str().unwrap().to_string();

    let key = create_key(&app, &token, "signed").await;
    let kid = id(&key);
    // Not subscribed: no delivery.
    let (s, _) = api(
        &app,
        Method::PUT,
        &format!("{KEYS}/{kid}"),
        &token,
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api(
        &app,
        Method::POST,
        &format!("{KEYS}/{kid}/regenerate"),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api(&app, Method::DELETE, &format!("{KEYS}/{kid}"), &token, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let got = receiver.wait_for(3).await;
    let mut types: Vec<String> = got
        .iter()
        .map(|g| g.header("x-aihub-event").to_string())
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["api_key.created", "api_key.deleted", "api_key.regenerated"]
    );
    for g in &got {
        let body = g.json();
        assert_eq!(g.header("webhook-id"), body["id"].as_str().unwrap());
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(g.header("x-aihub-event"), body["type"].as_str().unwrap());
        assert_eq!(body["data"]["id"], kid);
        assert!(body["data"].get("secret").is_none());
        assert!(body["created_at_ms"].as_i64().unwrap() > 0);
        let ts: i64 = g.header("webhook-timestamp").parse().unwrap();
        assert!((ts - common::unix_now()).abs() < 60);
        assert!(standard_signature_ok(g, &secret), "{:?}", g.headers);
        assert!(aihub_signature_ok(g, &secret), "{:?}", g.headers);
        assert_eq!(g.header("content-type"), "application/json");
        assert_eq!(g.header("user-agent"), "AIHub-Webhook/1.0");
    }
    // Recorded as succeeded, one attempt each.
    let ds = deliveries(&app, &token, &id(&e), 3).await;
    assert_eq!(ds.len(), 3);
    assert!(ds.iter().all(|d| d["attempts"].is_number()));
    for d in &ds {
        let d = delivery_when(&app, &token, d["id"].as_str().unwrap(), "succeeded").await;
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(d["last_status_code"], 200);
        assert_eq!(d["next_attempt_at_ms"], Value::Null);
        assert!(d["finished_at_ms"].as_i64().is_some());
        assert_eq!(d["attempts"][0]["status_code"], 200);
    }
    // Nothing more arrives (the update was not subscribed).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 3);
    app.stop().await;
}

async fn failed_attempts_are_retried_with_the_same_webhook_id(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "retry@example.com", true).await;
    let receiver = Receiver::start().await;
    receiver.fail_next(2);
    let e = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "event_types": ["api_key.created"]}),
    )
    .await;
    create_key(&app, &token, "retried").await;
    let ds = deliveries(&app, &token, &id(&e), 1).await;
    let d = delivery_when(&app, &token, ds[0]["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 3);
    let (_, full) = api(
        &app,
        Method::GET,
        &format!("/api/v1/developer/webhook-deliveries/{}", id(&d)),
        &token,
        None,
    )
    .await;
    let attempts = full["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(attempts[2]["error"], Value::Null);
    assert_eq!(attempts[2]["response_body"], "ok");
    assert!(attempts[0]["id"].as_str().unwrap().starts_with("wa_"));
    assert!(attempts[0]["duration_ms"].as_i64().is_some());
    assert!(attempts[0]["attempted_at_ms"].as_i64() <= attempts[1]["attempted_at_ms"].as_i64());
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|g| g.header("webhook-id") == d["event_id"].as_str().unwrap()));
    // The endpoint is healthy again.
    let (_, ep) = api(
        &app,
        Method::GET,
        &format!("{HOOKS}/{}", id(&e)),
        &token,
        None,
    )
    .await;
    assert_eq!(ep["failing_since_ms"], Value::Null);
    app.stop().await;
}

async fn gone_disables_the_endpoint_and_tells_the_developer(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev_id, token) = developer_session(&app, "gone@example.com", true).await;
    let receiver = Receiver::start().await;
    receiver.answer(Some(410));
    let e = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "event_types": ["api_key.created"]}),
    )
    .await;
    create_key(&app, &token, "gone").await;
    let path = format!("{HOOKS}/{}", id(&e));
    let ep = eventually("the endpoint disabled", WAIT, || async {
        let (_, ep) = api(&app, Method::GET, &path, &token, None).await;
        (ep["enabled"] == false).then_some(ep)
    })
    .await;
    assert_eq!(ep["disabled_reason"], "gone");
    let ds = deliveries(&app, &token, &id(&e), 1).await;
    assert_eq!(ds[0]["status"], "failed");
    assert_eq!(ds[0]["attempts"], 1);
    assert_eq!(ds[0]["last_status_code"], 410);
    // An event for it, and an email.
    let (_, events) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events?type=webhook.endpoint_disabled",
        &token,
        None,
    )
    .await;
    let ev = &events["data"][0];
    assert_eq!(ev["data"]["endpoint_id"], e["id"]);
    assert_eq!(ev["data"]["reason"], "gone");
    assert_eq!(ev["data"]["url"], receiver.url);
    let row = sqlx::query(
        "SELECT kind, subject FROM outbound_emails WHERE developer_id = $1 AND kind = 'webhook_disabled'",
    )
    .bind(&dev_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let subject: String = row.try_get("subject").unwrap();
    assert!(subject.contains("disabled"), "{subject}");
    // Test sends to a disabled endpoint are refused; enabling clears the reason.
    let resp = call(
        &app,
        Method::POST,
        &format!("{path}/test"),
        Some(&token),
        None,
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "conflict").await;
    let (_, ep) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(ep["enabled"], true);
    assert_eq!(ep["disabled_reason"], Value::Null);
    app.stop().await;
}

async fn test_sends_and_secret_rotation(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "test-send@example.com", true).await;
    let receiver = Receiver::start().await;
    let e = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "event_types": ["api.error"]}),
    )
    .await;
    let path = format!("{HOOKS}/{}", id(&e));
    let old = e["secret"].as_str().unwrap().to_string();

    let (s, r) = api(&app, Method::POST, &format!("{path}/test"), &token, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["delivery"]["status"], "succeeded");
    assert_eq!(r["delivery"]["attempts"], 1);
    assert_eq!(r["delivery"]["event_type"], "webhook.test");
    assert_eq!(r["delivery"]["endpoint_id"], e["id"]);
    assert_eq!(r["attempt"]["status_code"], 200);
    assert_eq!(r["attempt"]["response_body"], "ok");
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-aihub-event"), "webhook.test");
    assert_eq!(got[0].json()["data"]["endpoint_id"], e["id"]);
    assert_eq!(
        got[0].header("webhook-id"),
        r["delivery"]["event_id"].as_str().unwrap()
    );
    assert!(standard_signature_ok(&got[0], &old));
    // It is a real event of the developer.
    let (s, ev) = api(
        &app,
        Method::GET,
        &format!(
            "/api/v1/developer/events/{}",
            r["delivery"]["event_id"].as_str().unwrap()
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ev["type"], "webhook.test");

    // Any catalog type, subscribed or not; a failing receiver is reported.
    receiver.fail_next(1);
    let (s, r) = api(
        &app,
        Method::POST,
        &format!("{path}/test"),
        &token,
        Some(json!({"event_type": "api_key.created"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["attempt"]["status_code"], 500);
    assert!(r["attempt"]["error"].as_str().unwrap().contains("500"));
    assert_eq!(r["delivery"]["status"], "pending");
    assert!(r["delivery"]["next_attempt_at_ms"].as_i64().is_some());
    assert_eq!(receiver.got()[1].header("x-aihub-event"), "api_key.created");
    let resp = call(
        &app,
        Method::POST,
        &format!("{path}/test"),
        Some(&token),
        Some(json!({"event_type": "nope"})),
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    receiver.wait_for(3).await; // the retry of the failed test

    // Rotation with a grace: both secrets sign.
    let (s, rot) = api(
        &app,
        Method::POST,
        &format!("{path}/secret/rotate"),
        &token,
        Some(json!({"grace_seconds": 3600})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{rot}");
    let new = rot["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let until = rot["previous_secret_expires_at_ms"].as_i64().unwrap();
    assert!(until > common::unix_now() * 1000 + 3_500_000);
    let (_, ep) = api(&app, Method::GET, &path, &token, None).await;
    assert_eq!(ep["previous_secret_expires_at_ms"], until);
    let (_, sec) = api(&app, Method::GET, &format!("{path}/secret"), &token, None).await;
    assert_eq!(sec["secret"], new);
    let n = receiver.got().len();
    let (s, _) = api(&app, Method::POST, &format!("{path}/test"), &token, None).await;
    assert_eq!(s, StatusCode::OK);
    let g = receiver.got()[n].clone();
    assert_eq!(g.header("webhook-signature").split(' ').count(), 2);
    assert!(standard_signature_ok(&g, &new));
    assert!(standard_signature_ok(&g, &old));
    assert!(aihub_signature_ok(&g, &new));

    // Without a grace: only the new one.
    let (_, rot) = api(
        &app,
        Method::POST,
        &format!("{path}/secret/rotate"),
        &token,
        Some(json!({"grace_seconds": 0})),
    )
    .await;
    assert_eq!(rot["previous_secret_expires_at_ms"], Value::Null);
    let newest = rot["secret"].as_str().unwrap().to_string();
    let (s, _) = api(&app, Method::POST, &format!("{path}/test"), &token, None).await;
    assert_eq!(s, StatusCode::OK);
    let g = receiver.got()[n + 1].clone();
    assert_eq!(g.header("webhook-signature").split(' ').count(), 1);
    assert!(standard_signature_ok(&g, &newest));
    assert!(!standard_signature_ok(&g, &new));
    let resp = call(
        &app,
        Method::POST,
        &format!("{path}/secret/rotate"),
        Some(&token),
        Some(json!({"grace_seconds": 604_801})),
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A rotation with no body uses the default day.
    let (s, rot) = api(
        &app,
        Method::POST,
        &format!("{path}/secret/rotate"),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        rot["previous_secret_expires_at_ms"].as_i64().unwrap()
            > common::unix_now() * 1000 + 86_000_000
    );
    app.stop().await;
}

async fn replay_and_recover_send_again(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "replay@example.com", true).await;
    let receiver = Receiver::start().await;
    receiver.answer(Some(503));
    let e = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "event_types": ["api_key.created"], "max_retries": 0}),
    )
    .await;
    let other = Receiver::start().await;
    let e2 = endpoint(
        &app,
        &token,
        json!({"url": other.url, "event_types": ["api_key.deleted"]}),
    )
    .await;
    let since = common::unix_now() * 1000 - 1000;
    create_key(&app, &token, "replayed").await;
    let ds = deliveries(&app, &token, &id(&e), 1).await;
    let d = delivery_when(&app, &token, ds[0]["id"].as_str().unwrap(), "failed").await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(d["last_status_code"], 503);
    let event_id = d["event_id"].as_str().unwrap().to_string();

    // Recover: failed deliveries since then go again, with a fresh budget.
    receiver.answer(None);
    let (s, r) = api(
        &app,
        Method::POST,
        &format!("{HOOKS}/{}/recover", id(&e)),
        &token,
        Some(json!({"since_ms": since})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["requeued"], 1);
    let d = delivery_when(&app, &token, &id(&d), "succeeded").await;
    assert_eq!(
        d["attempts"].as_array().unwrap().len(),
        2,
        "attempt history kept"
    );
    assert_eq!(d["attempts"][1]["status_code"], 200);
    let (_, full) = api(
        &app,
        Method::GET,
        &format!("/api/v1/developer/webhook-deliveries/{}", id(&d)),
        &token,
        None,
    )
    .await;
    assert_eq!(full["attempts"].as_array().unwrap().len(), 2);
    // The list counts attempts since the budget restarted.
    let listed = deliveries(&app, &token, &id(&e), 1).await;
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["status"], "succeeded");
    // Nothing left to recover.
    let (_, r) = api(
        &app,
        Method::POST,
        &format!("{HOOKS}/{}/recover", id(&e)),
        &token,
        Some(json!({"since_ms": since})),
    )
    .await;
    assert_eq!(r["requeued"], 0);

    // Replay to one endpoint (even one not subscribed to the type).
    let (s, r) = api(
        &app,
        Method::POST,
        &format!("/api/v1/developer/events/{event_id}/replay"),
        &token,
        Some(json!({"endpoint_id": id(&e2)})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let replayed = r["data"].as_array().unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0]["endpoint_id"], e2["id"]);
    assert_eq!(replayed[0]["event_id"], event_id.as_str());
    delivery_when(&app, &token, &id(&replayed[0]), "succeeded").await;
    let got = other.wait_for(1).await;
    assert_eq!(got[0].header("webhook-id"), event_id);

    // Replay to every subscribed endpoint: only `e`.
    let (s, r) = api(
        &app,
        Method::POST,
        &format!("/api/v1/developer/events/{event_id}/replay"),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let replayed = r["data"].as_array().unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0]["endpoint_id"], e["id"]);
    assert_eq!(replayed[0]["status"], "pending");
    delivery_when(&app, &token, &id(&replayed[0]), "succeeded").await;
    let got = receiver.got();
    assert!(got.len() >= 3);
    assert!(got.iter().all(|g| g.header("webhook-id") == event_id));
    let (_, list) = api(
        &app,
        Method::GET,
        &format!("{HOOKS}/{}/deliveries", id(&e)),
        &token,
        None,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

async fn events_are_listed_filtered_paged_and_fetched(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "events@example.com", true).await;
    let before = common::unix_now() * 1000 - 1;
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(create_key(&app, &token, &format!("k{i}")).await);
    }
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("{KEYS}/{}", id(&keys[0])),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let (s, all) = api(&app, Method::GET, "/api/v1/developer/events", &token, None).await;
    assert_eq!(s, StatusCode::OK);
    let data = all["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(all["has_more"], false);
    assert_eq!(data[0]["type"], "api_key.deleted");
    assert_eq!(data[3]["type"], "api_key.created");
    assert_eq!(data[3]["data"]["id"], keys[0]["id"]);
    assert!(data[0]["id"].as_str().unwrap().starts_with("evt_"));
    assert!(data[0]["created_at_ms"].as_i64().unwrap() >= before);

    // Type filter (comma-separated).
    let (_, f) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events?type=api_key.deleted",
        &token,
        None,
    )
    .await;
    assert_eq!(f["data"].as_array().unwrap().len(), 1);
    let (_, f) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events?type=api_key.deleted,api_key.created",
        &token,
        None,
    )
    .await;
    assert_eq!(f["data"].as_array().unwrap().len(), 4);
    let (_, f) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events?type=api.error",
        &token,
        None,
    )
    .await;
    assert_eq!(f["data"].as_array().unwrap().len(), 0);

    // Paging.
    let (_, p1) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events?limit=3",
        &token,
        None,
    )
    .await;
    assert_eq!(p1["data"].as_array().unwrap().len(), 3);
    assert_eq!(p1["has_more"], true);
    let last = p1["data"][2]["id"].as_str().unwrap();
    let (_, p2) = api(
        &app,
        Method::GET,
        &format!("/api/v1/developer/events?limit=3&starting_after={last}"),
        &token,
        None,
    )
    .await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 1);
    assert_eq!(p2["has_more"], false);
    assert_eq!(p2["data"][0]["id"], data[3]["id"]);
    for bad in ["limit=0", "limit=101", "limit=x"] {
        let resp = call(
            &app,
            Method::GET,
            &format!("/api/v1/developer/events?{bad}"),
            Some(&token),
            None,
        )
        .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    // Time window.
    let t = data[1]["created_at_ms"].as_i64().unwrap();
    let (_, w) = api(
        &app,
        Method::GET,
        &format!("/api/v1/developer/events?since_ms={}", t + 100_000),
        &token,
        None,
    )
    .await;
    assert_eq!(w["data"].as_array().unwrap().len(), 0);
    let (_, w) = api(
        &app,
        Method::GET,
        &format!(
            "/api/v1/developer/events?since_ms={before}&until_ms={}",
            before
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(w["data"].as_array().unwrap().len(), 0);
    let (_, w) = api(
        &app,
        Method::GET,
        &format!(
            "/api/v1/developer/events?until_ms={}",
            common::unix_now() * 1000 + 60_000
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(w["data"].as_array().unwrap().len(), 4);

    // One event.
    let (s, one) = api(
        &app,
        Method::GET,
        &format!(
            "/api/v1/developer/events/{}",
            data[0]["id"].as_str().unwrap()
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one, data[0]);
    let (s, _) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events/evt_nope",
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Reads SSE messages (id, event, data), skipping comments.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> SseReader {
        let mut req = app
            .client
            .get(app.url("/api/v1/developer/events/stream"))
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        SseReader {
            resp,
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> (String, String, Value) {
        let read = async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let mut id = String::new();
                    let mut event = String::new();
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if !data.is_empty() {
                        return (id, event, serde_json::from_str(&data).unwrap());
                    }
                    continue;
                }
                let chunk = self.resp.chunk().await.unwrap().expect("stream ended");
                self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("no SSE event in time")
    }
}

async fn the_event_stream_delivers_new_events_and_resumes(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "stream@example.com", true).await;
    let (_, other) = developer_session(&app, "stream-other@example.com", true).await;
    // An event before connecting is not sent without Last-Event-ID.
    create_key(&app, &token, "before").await;
    let mut stream = SseReader::open(&app, &token, None).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    create_key(&app, &other, "not mine").await;
    let key = create_key(&app, &token, "live").await;
    let (eid, event, data) = stream.next().await;
    assert_eq!(event, "api_key.created");
    assert!(eid.starts_with("evt_"));
    assert_eq!(data["id"], eid.as_str());
    assert_eq!(data["type"], "api_key.created");
    assert_eq!(data["data"]["id"], key["id"]);
    drop(stream);

    // While away: two more; resuming sends them first, oldest first.
    let (s, _) = api(
        &app,
        Method::DELETE,
        &format!("{KEYS}/{}", id(&key)),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let k2 = create_key(&app, &token, "later").await;
    let mut stream = SseReader::open(&app, &token, Some(&eid)).await;
    let (id1, ev1, d1) = stream.next().await;
    assert_eq!(ev1, "api_key.deleted");
    assert_eq!(d1["data"]["id"], key["id"]);
    let (id2, ev2, d2) = stream.next().await;
    assert_eq!(ev2, "api_key.created");
    assert_eq!(d2["data"]["id"], k2["id"]);
    assert!(id1 < id2);
    // Then live again.
    let k3 = create_key(&app, &token, "after resume").await;
    let (_, _, d3) = stream.next().await;
    assert_eq!(d3["data"]["id"], k3["id"]);
    // The query parameter works too.
    let resp = app
        .client
        .get(app.url(&format!(
            "/api/v1/developer/events/stream?last_event_id={id1}"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut q = SseReader {
        resp,
        buf: String::new(),
    };
    let (first, _, _) = q.next().await;
    assert_eq!(first, id2);
    // Unauthenticated: 401.
    let resp = app
        .client
        .get(app.url("/api/v1/developer/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    drop(stream);
    drop(q);
    // Shutting down ends open streams (the app stops promptly).
    let _open = SseReader::open(&app, &token, None).await;
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stops with a stream open");
}

async fn other_developers_get_404_everywhere(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "owner@example.com", true).await;
    let (_, intruder) = developer_session(&app, "intruder@example.com", true).await;
    let receiver = Receiver::start().await;
    let e = endpoint(&app, &token, json!({"url": receiver.url})).await;
    let (s, r) = api(
        &app,
        Method::POST,
        &format!("{HOOKS}/{}/test", id(&e)),
        &token,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let did = id(&r["delivery"]);
    let evt = r["delivery"]["event_id"].as_str().unwrap().to_string();
    let eid = id(&e);
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{HOOKS}/{eid}"), None),
        (
            Method::PUT,
            format!("{HOOKS}/{eid}"),
            Some(json!({"description": "mine"})),
        ),
        (Method::DELETE, format!("{HOOKS}/{eid}"), None),
        (Method::GET, format!("{HOOKS}/{eid}/secret"), None),
        (Method::POST, format!("{HOOKS}/{eid}/secret/rotate"), None),
        (Method::POST, format!("{HOOKS}/{eid}/test"), None),
        (Method::GET, format!("{HOOKS}/{eid}/deliveries"), None),
        (
            Method::POST,
            format!("{HOOKS}/{eid}/recover"),
            Some(json!({"since_ms": 0})),
        ),
        (
            Method::GET,
            format!("/api/v1/developer/webhook-deliveries/{did}"),
            None,
        ),
        (Method::GET, format!("/api/v1/developer/events/{evt}"), None),
        (
            Method::POST,
            format!("/api/v1/developer/events/{evt}/replay"),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let resp = call(&app, method.clone(), &path, Some(&intruder), body).await;
        expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Replaying one's own event to another's endpoint: 404 too.
    let mine = create_key(&app, &intruder, "mine").await;
    let _ = mine;
    let (_, evs) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events",
        &intruder,
        None,
    )
    .await;
    let own = evs["data"][0]["id"].as_str().unwrap().to_string();
    let resp = call(
        &app,
        Method::POST,
        &format!("/api/v1/developer/events/{own}/replay"),
        Some(&intruder),
        Some(json!({"endpoint_id": eid})),
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    // Lists show nothing of the other's.
    let (_, list) = api(&app, Method::GET, HOOKS, &intruder, None).await;
    assert_eq!(list["data"], json!([]));
    let (_, evs) = api(
        &app,
        Method::GET,
        "/api/v1/developer/events",
        &intruder,
        None,
    )
    .await;
    assert!(evs["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["id"] != evt.as_str()));
    // And the owner's endpoint is untouched.
    let (s, ep) = api(&app, Method::GET, &format!("{HOOKS}/{eid}"), &token, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ep["description"], "");
    // No bearer: 401.
    let resp = call(&app, Method::GET, HOOKS, None, None).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.stop().await;
}

async fn deliveries_survive_a_restart(backend: Backend) {
    let configure = |f: Figment| {
        f.merge(Serialized::default("webhooks.allow_private_networks", true))
            .merge(Serialized::default(
                "webhooks.retry_delays_ms",
                vec![1000u64],
            ))
    };
    let Some(app) = spawn_app_with(backend, configure).await else {
        return;
    };
    let (_, token) = developer_session(&app, "restart@example.com", true).await;
    // A port nobody listens on (yet).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let e = endpoint(
        &app,
        &token,
        json!({"url": url, "event_types": ["api_key.created"], "max_retries": 7}),
    )
    .await;
    create_key(&app, &token, "survivor").await;
    let ds = deliveries(&app, &token, &id(&e), 1).await;
    let did = id(&ds[0]);
    eventually("a failed first attempt", WAIT, || async {
        let (_, d) = api(
            &app,
            Method::GET,
            &format!("/api/v1/developer/webhook-deliveries/{did}"),
            &token,
            None,
        )
        .await;
        (!d["attempts"].as_array().unwrap().is_empty() && d["status"] == "pending").then_some(())
    })
    .await;
    let database = app.shutdown().await;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let receiver = Receiver::serve(listener);
    let app = start_on(database, configure).await;
    let token = {
        let s = login(&app, "restart@example.com", PASSWORD).await;
        s["access_token"].as_str().unwrap().to_string()
    };
    let d = delivery_when(&app, &token, &did, "succeeded").await;
    assert!(d["attempts"].as_array().unwrap().len() >= 2);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("webhook-id"), d["event_id"].as_str().unwrap());
    app.stop().await;
}

async fn a_slow_endpoint_holds_back_only_itself(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "slow@example.com", true).await;
    // A receiver that never answers (the attempt timeout is 30 s) and a healthy one.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = arrived.clone();
    let slow_app = axum::Router::new().route(
        "/hook",
        post(move || {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<&'static str>()
        }),
    );
    tokio::spawn(async move { axum::serve(hanging, slow_app).await.unwrap() });
    let fast = Receiver::start().await;
    endpoint(
        &app,
        &token,
        json!({"url": format!("http://{hanging_addr}/hook"), "event_types": ["api_key.created"]}),
    )
    .await;
    endpoint(
        &app,
        &token,
        json!({"url": fast.url, "event_types": ["api_key.created"]}),
    )
    .await;
    for i in 0..10 {
        create_key(&app, &token, &format!("k{i}")).await;
    }
    // Every event reaches the healthy endpoint while the slow one still holds
    // its attempts open, and the slow one never has more than its share.
    fast.wait_for(10).await;
    let per_endpoint = 4; // webhooks.per_endpoint_concurrency's default
    let slow_seen = arrived.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=per_endpoint).contains(&slow_seen),
        "the slow endpoint had {slow_seen} requests open"
    );
    app.stop().await;
}

async fn an_endpoint_failing_for_too_long_is_disabled(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "failing@example.com", true).await;
    let receiver = Receiver::start().await;
    receiver.answer(Some(503));
    let e = endpoint(
        &app,
        &token,
        json!({"url": receiver.url, "event_types": ["api_key.created"], "max_retries": 0}),
    )
    .await;
    // One failure is not enough.
    create_key(&app, &token, "first").await;
    let first = deliveries(&app, &token, &id(&e), 1).await;
    delivery_when(&app, &token, &id(&first[0]), "failed").await;
    let path = format!("{HOOKS}/{}", id(&e));
    let (_, ep) = api(&app, Method::GET, &path, &token, None).await;
    assert_eq!(ep["enabled"], true);
    assert!(ep["failing_since_ms"].is_i64(), "{ep}");
    // Failing since longer than webhooks.disable_after_failing_hours (120):
    // the next failure disables it.
    let long_ago = aihub_control_plane::db::now_ms() - 121 * 3_600_000;
    sqlx::query("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2")
        .bind(long_ago)
        .bind(id(&e))
        .execute(app.db.pool())
        .await
        .unwrap();
    create_key(&app, &token, "second").await;
    let ep = eventually("the endpoint disabled", WAIT, || async {
        let (_, ep) = api(&app, Method::GET, &path, &token, None).await;
        (ep["enabled"] == false).then_some(ep)
    })
    .await;
    assert_eq!(ep["disabled_reason"], "failing");
    // A success would have ended the streak instead: re-enable, answer 200.
    receiver.answer(None);
    api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"enabled": true})),
    )
    .await;
    create_key(&app, &token, "third").await;
    eventually("a success", WAIT, || async {
        let (_, ep) = api(&app, Method::GET, &path, &token, None).await;
        (ep["failing_since_ms"].is_null() && ep["enabled"] == true).then_some(())
    })
    .await;
    app.stop().await;
}

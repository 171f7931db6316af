//! End-to-end: webhooks from the real control plane to a receiver that
//! verifies every delivery with the `standardwebhooks` package — through
//! failures, retries and a control plane killed with deliveries pending.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hooks::{receiver, wait_delivered};
use common::Stack;
use serde_json::{json, Value};

async fn api(s: &Stack, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = s
        .client
        .request(method.clone(), s.url(path))
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

#[tokio::test]
async fn key_events_reach_a_standard_webhooks_receiver_through_retries_and_a_crash() {
    let mut s = Stack::start_with(&[
        ("AIHUB_WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true"),
        ("AIHUB_WEBHOOKS__TIMEOUT_SECS", "1"),
        (
            "AIHUB_WEBHOOKS__RETRY_DELAYS_MS",
            "[300, 300, 1000, 2000, 4000, 8000, 8000]",
        ),
        (
            "AIHUB_ACCOUNTS__REQUIRE_EMAIL_VERIFICATION_FOR_KEYS",
            "false",
        ),
    ])
    .await;
    s.start_gateway().await;
    let (_, _, _, token) = s
        .developer_session(s.gw_port, "hooks@example.com", &[])
        .await;
    let dir = s.dir.path().to_path_buf();
    let secret_file = dir.join("whsec");
    let log = dir.join("received.jsonl");
    // The receiver fails the first two requests it gets.
    let (mut rx, port) = receiver(&dir, &secret_file, &log, 2).await;

    let endpoint = api(
        &s,
        &token,
        reqwest::Method::POST,
        "/api/v1/developer/webhooks",
        json!({"url": format!("http://127.0.0.1:{port}/hook"),
               "event_types": ["api_key.created", "api_key.regenerated", "api_key.deleted"],
               "max_retries": 7}),
    )
    .await;
    std::fs::write(&secret_file, endpoint["secret"].as_str().unwrap()).unwrap();

    // Create, regenerate and delete a key through the management API.
    let key = api(
        &s,
        &token,
        reqwest::Method::POST,
        "/api/v1/developer/keys",
        json!({"name": "hooked"}),
    )
    .await;
    let key_id = key["id"].as_str().unwrap();
    api(
        &s,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/developer/keys/{key_id}/regenerate"),
        json!({}),
    )
    .await;
    let resp = s
        .client
        .delete(s.url(&format!("/api/v1/developer/keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let events = api(
        &s,
        &token,
        reqwest::Method::GET,
        "/api/v1/developer/events?type=api_key.created,api_key.regenerated,api_key.deleted",
        Value::Null,
    )
    .await;
    let ids: Vec<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{events}");
    let lines = wait_delivered(&log, &ids).await;

    // Every request verified with the standardwebhooks package and with
    // the business plan's signature.
    for l in &lines {
        assert_eq!(l["verified"], true, "{l}");
        assert_eq!(l["aihub_signature_ok"], true, "{l}");
        assert_eq!(l["user_agent"], "AIHub-Webhook/1.0");
        assert_eq!(l["body"]["type"], l["event"]);
        assert_eq!(l["body"]["id"], l["webhook_id"]);
    }
    let types: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["api_key.created", "api_key.deleted", "api_key.regenerated"]
            .into_iter()
            .collect()
    );
    // The two refused requests came again with the same id after the backoff.
    let refused: Vec<&Value> = lines.iter().filter(|l| l["answered"] == 500).collect();
    assert_eq!(refused.len(), 2);
    for r in refused {
        assert!(lines
            .iter()
            .any(|l| l["webhook_id"] == r["webhook_id"] && l["answered"] == 204));
    }
    // The attempts are visible in the API.
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let deliveries = api(
        &s,
        &token,
        reqwest::Method::GET,
        &format!("/api/v1/developer/webhooks/{endpoint_id}/deliveries"),
        Value::Null,
    )
    .await;
    let attempts: i64 = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .sum();
    assert_eq!(attempts, lines.len() as i64);

    // A crash with a delivery pending loses nothing: the receiver is down
    // when the event happens, the control plane is killed, both come back.
    rx.kill();
    let key = api(
        &s,
        &token,
        reqwest::Method::POST,
        "/api/v1/developer/keys",
        json!({"name": "during the outage"}),
    )
    .await;
    let pending = api(
        &s,
        &token,
        reqwest::Method::GET,
        "/api/v1/developer/events?type=api_key.created&limit=1",
        Value::Null,
    )
    .await;
    let pending_id = pending["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(pending["data"][0]["data"]["id"], key["id"]);
    s.cp.as_mut().unwrap().kill();
    let log2 = dir.join("received-after-crash.jsonl");
    let (_rx2, port2) = receiver(&dir, &secret_file, &log2, 0).await;
    assert_ne!(port, port2);
    // The endpoint moves to the new receiver's port while the control plane is down.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&s.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2")
        .bind(format!("http://127.0.0.1:{port2}/hook"))
        .bind(endpoint_id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    s.start_control_plane().await;
    let lines = wait_delivered(&log2, std::slice::from_ref(&pending_id)).await;
    assert!(lines.iter().all(|l| l["verified"] == true));
}

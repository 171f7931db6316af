//! End-to-end: batch traffic. The control plane's batch workers send batch
//! items through the gateway as a developer's key without its secret, with
//! an `x-aihub-batch` mark signed with the shared secret. The real gateway
//! must run them as that key, bill them at the mark's discount and name the
//! batch in the usage row, and refuse every mark that is forged, stale, made
//! for another request or names a key that is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::signing::{self, BATCH_HEADER};
use aihub_testkit::upstream::{StubConfig, StubUpstream};
use common::{Stack, SECRET};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CHAT: &str = "/v1/chat/completions";
const BATCH: &str = "batch_e2e-01";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Three prompt tokens, six completion tokens (the stub's rules).
fn chat() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three [[stub words=6]]"}]})
}

/// A mark for `key_id` on a chat completion, made now, 50 % off.
fn mark(key_id: &str) -> String {
    signing::sign_batch(
        SECRET.as_bytes(),
        now_secs(),
        key_id,
        BATCH,
        ITEM.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        50,
        "POST",
        CHAT,
    )
}

/// Each mark names another item (so another request id).
static ITEM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Sends the chat request to `path` with only a batch mark.
async fn send_marked(s: &Stack, path: &str, mark: &str) -> reqwest::Response {
    s.client
        .post(s.url(path))
        .header(BATCH_HEADER, mark)
        .json(&chat())
        .send()
        .await
        .unwrap()
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Asserts an OpenAI-shaped refusal.
async fn expect_refused(resp: reqwest::Response, status: u16, code: &str, what: &str) {
    assert_eq!(resp.status(), status, "{what}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert_eq!(
        body["error"]["type"], "authentication_error",
        "{what}: {body}"
    );
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn signed_batch_items_run_as_the_key_at_the_discount_and_bad_marks_are_refused() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "sk-upstream");
    // 3 and 5 nano-units a token: 3 × 3 + 6 × 5 = 39 at list price, so half
    // of it (19.5) shows the rounding (half away from zero: 20).
    s.add_model(
        "gpt-4o-mini",
        "primary",
        &[
            "--input-price-per-million",
            "0.003",
            "--output-price-per-million",
            "0.005",
        ],
    );
    s.start_gateway().await;
    let generous = ["--rate-limit", "100000", "--quota-limit", "1000000000"];
    let (dev, key_id, key, token) = s
        .developer_session(s.gw_port, "batch@example.com", &generous)
        .await;
    let other = s.aihub(&["admin", "create-key", "--developer", &dev]);
    let (other_id, other_key) = (
        other["id"].as_str().unwrap().to_string(),
        other["secret"].as_str().unwrap().to_string(),
    );

    // A normal request of the same size, at list price (answered once the
    // change stream has brought the key; refusals before leave no rows).
    let normal = s.wait_for_status(s.gw_port, &key, &chat(), 200).await;
    let normal_rid = request_id(&normal);
    s.wait_for_status(s.gw_port, &other_key, &chat(), 200).await;

    // The batch item: no key, only the mark.
    let batch = send_marked(&s, CHAT, &mark(&key_id)).await;
    assert_eq!(batch.status(), 200);
    let batch_rid = request_id(&batch);
    let body: Value = batch.json().await.unwrap();
    assert_eq!(
        (
            &body["usage"]["prompt_tokens"],
            &body["usage"]["completion_tokens"]
        ),
        (&json!(3), &json!(6))
    );
    // The provider never sees the mark.
    let seen = up.last_request().unwrap();
    assert_eq!(seen.header(BATCH_HEADER), None);
    assert_eq!(seen.header("authorization"), Some("Bearer sk-upstream"));

    let normal_row = s.wait_usage_row(&normal_rid).await;
    let batch_row = s.wait_usage_row(&batch_rid).await;
    assert_eq!(normal_row.cost_nanos, 39);
    assert_eq!(normal_row.batch_id, "");
    assert_eq!(batch_row.batch_id, BATCH);
    assert_eq!(batch_row.key_id, key_id);
    assert_eq!(batch_row.developer_id, dev);
    assert_eq!(
        (batch_row.prompt_tokens, batch_row.completion_tokens),
        (normal_row.prompt_tokens, normal_row.completion_tokens)
    );
    assert_eq!((batch_row.status, batch_row.error.as_str()), (200, ""));
    // Half of 39, rounded half away from zero.
    assert_eq!(batch_row.cost_nanos, 20);

    // Refusals, in OpenAI's error shape.
    let forged = signing::sign_batch(
        b"not-the-shared-secret-0123456789-abcdefgh",
        now_secs(),
        &key_id,
        BATCH,
        900,
        50,
        "POST",
        CHAT,
    );
    expect_refused(
        send_marked(&s, CHAT, &forged).await,
        401,
        "invalid_batch_signature",
        "forged",
    )
    .await;
    let stale = signing::sign_batch(
        SECRET.as_bytes(),
        now_secs() - 301,
        &key_id,
        BATCH,
        900,
        50,
        "POST",
        CHAT,
    );
    expect_refused(
        send_marked(&s, CHAT, &stale).await,
        401,
        "invalid_batch_signature",
        "stale",
    )
    .await;
    let for_embeddings = signing::sign_batch(
        SECRET.as_bytes(),
        now_secs(),
        &key_id,
        BATCH,
        900,
        50,
        "POST",
        "/v1/embeddings",
    );
    expect_refused(
        send_marked(&s, CHAT, &for_embeddings).await,
        401,
        "invalid_batch_signature",
        "signed for another path",
    )
    .await;
    let bigger_discount = mark(&key_id).replace(",discount=50,", ",discount=100,");
    expect_refused(
        send_marked(&s, CHAT, &bigger_discount).await,
        401,
        "invalid_batch_signature",
        "discount raised",
    )
    .await;
    expect_refused(
        send_marked(&s, CHAT, &mark("key_no_such_key")).await,
        401,
        "invalid_api_key",
        "unknown key id",
    )
    .await;

    // A request with a key is authenticated by the key; the mark is ignored.
    let both = s
        .client
        .post(s.url(CHAT))
        .bearer_auth(&other_key)
        .header(BATCH_HEADER, mark(&key_id))
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 200);
    let both_row = s.wait_usage_row(&request_id(&both)).await;
    assert_eq!(
        (
            both_row.key_id.as_str(),
            both_row.batch_id.as_str(),
            both_row.cost_nanos
        ),
        (other_id.as_str(), "", 39)
    );
    let bad_key = s
        .client
        .post(s.url(CHAT))
        .bearer_auth("ahub_not-a-key")
        .header(BATCH_HEADER, mark(&key_id))
        .json(&chat())
        .send()
        .await
        .unwrap();
    expect_refused(bad_key, 401, "invalid_api_key", "bad key with a good mark").await;
    // Refused requests leave no usage rows: normal, other key, batch, both.
    assert_eq!(s.wait_usage_rows(4).await.len(), 4);

    // Deleting the key refuses its marks once the change reaches the gateway.
    let del = s
        .client
        .delete(s.url(&format!("/api/v1/developer/keys/{key_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = send_marked(&s, CHAT, &mark(&key_id)).await;
        if resp.status() == 401 {
            expect_refused(resp, 401, "invalid_api_key", "deleted key").await;
            break;
        }
        assert_eq!(resp.status(), 200, "before the deletion arrives");
        assert!(
            Instant::now() < deadline,
            "the deleted key's marks were never refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The developer's other key still works, by secret and by mark.
    assert_eq!(s.post(CHAT, &other_key, chat()).await.status(), 200);
    let resp = send_marked(&s, CHAT, &mark(&other_id)).await;
    assert_eq!(resp.status(), 200);
    let row = s.wait_usage_row(&request_id(&resp)).await;
    assert_eq!(
        (row.key_id.as_str(), row.batch_id.as_str(), row.cost_nanos),
        (other_id.as_str(), BATCH, 20)
    );
}

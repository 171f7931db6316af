//! Batches through the real binaries: the official OpenAI Python SDK
//! uploads a JSONL file, creates a batch, polls it and downloads the output
//! and error files; every item went through the gateway as the creating
//! key, metered at the batch discount.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::{StubConfig, StubUpstream};
use common::Stack;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A JSONL batch input of `n` chat requests, each answering `words` words
/// after `delay_ms`.
fn input(n: usize, words: u32, delay_ms: u32) -> String {
    (0..n)
        .map(|i| {
            json!({"custom_id": format!("req-{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4o-mini", "max_tokens": words,
                            "messages": [{"role": "user",
                                          "content": format!("item {i} [[stub words={words} delay_ms={delay_ms}]]")}]}})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Uploads `jsonl` and creates a batch with it, through the gateway.
async fn submit(s: &Stack, key: &str, jsonl: String) -> String {
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::text(jsonl).file_name("in.jsonl"),
        );
    let f: Value = s
        .client
        .post(s.url("/v1/files"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file_id = f["id"].as_str().unwrap_or_else(|| panic!("upload: {f}"));
    let b: Value = s
        .client
        .post(s.url("/v1/batches"))
        .bearer_auth(key)
        .json(&json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["status"], "in_progress", "{b}");
    b["id"].as_str().unwrap().to_string()
}

/// The batch as the API shows it now (`None` while the control plane is away).
async fn batch(s: &Stack, key: &str, id: &str) -> Option<Value> {
    let r = s
        .client
        .get(s.url(&format!("/v1/batches/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

/// Polls the batch until `done` holds (20 s at most).
async fn wait_batch(s: &Stack, key: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(b) = batch(s, key, id).await {
            if done(&b) {
                return b;
            }
        }
        assert!(Instant::now() < deadline, "batch {id} never got there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stack() -> (Stack, StubUpstream) {
    stack_with(&[]).await
}

async fn stack_with(cp_env: &[(&str, &str)]) -> (Stack, StubUpstream) {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start_with(cp_env).await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model(
        "gpt-4o-mini",
        "primary",
        &[
            "--input-price-per-million",
            "1000",
            "--output-price-per-million",
            "2000",
        ],
    );
    s.start_gateway().await;
    (s, up)
}

#[tokio::test]
async fn the_official_python_sdk_runs_a_batch_end_to_end() {
    let (s, _up) = stack().await;
    let (dev, _, key) = s.developer_with_key("batch@example.com", &[]);
    let Some(python) = s.env.python.clone() else {
        panic!("AIHUB_TEST_PYTHON is not set: run the suite through `bash .ci/test`");
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_batch.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("AIHUB_BASE_URL", s.url("/v1"))
        .env("AIHUB_API_KEY", &key)
        .env("AIHUB_ITEMS", "20")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "SDK script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["file_purpose"], "batch");
    assert_eq!(r["created_status"], "in_progress");
    assert_eq!(r["status"], "completed");
    assert_eq!(
        r["counts"],
        serde_json::json!({"total": 21, "completed": 20, "failed": 1})
    );
    assert_eq!(r["metadata"]["job"], "sdk-test");
    let ids: Vec<String> = r["output_custom_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("req-{i}")).collect();
    assert_eq!(ids, expected, "one output line per input line, in order");
    assert_eq!(r["output_status_codes"], serde_json::json!([200]));
    assert_eq!(r["error_custom_ids"], serde_json::json!(["bad-model"]));
    assert_eq!(r["error_status_codes"], serde_json::json!([404]));
    assert!(r["listed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| *b == r["batch_id"]));
    assert_eq!(r["bad_status"], "failed");
    assert_eq!(
        r["bad_errors"],
        serde_json::json!([["duplicate_custom_id", 2], ["invalid_json", 3]])
    );
    assert_eq!(r["deleted"], true);

    // Every item was metered once, as the key, at half price, marked with
    // the batch.
    let batch_id = r["batch_id"].as_str().unwrap();
    let rows = s.wait_usage_rows(21).await;
    let mine: Vec<_> = rows.iter().filter(|row| row.batch_id == batch_id).collect();
    assert_eq!(mine.len(), 21);
    assert!(mine.iter().all(|row| row.developer_id == dev));
    for row in mine.iter().filter(|row| row.status == 200) {
        // Full price: prompt × $1,000/M + completion × $2,000/M; half of it.
        let full = row.prompt_tokens as i64 * 1_000_000 + row.completion_tokens as i64 * 2_000_000;
        assert_eq!(row.cost_nanos * 2, full, "{row:?}");
    }
}

#[tokio::test]
async fn a_batch_interrupted_by_killing_the_control_plane_completes_once_after_restart() {
    // Items in flight when it dies are held for twice the request timeout.
    let (mut s, _up) = stack_with(&[("AIHUB_BATCHES__REQUEST_TIMEOUT_MS", "2000")]).await;
    let (_, _, key) = s.developer_with_key("crash@example.com", &[]);
    const N: usize = 2000;
    let id = submit(&s, &key, input(N, 2, 2)).await;
    // Kill it mid-way, without warning.
    wait_batch(&s, &key, &id, |b| {
        b["request_counts"]["completed"].as_i64().unwrap_or(0) >= 200
    })
    .await;
    s.kill_control_plane();
    s.start_control_plane().await;
    let b = wait_batch(&s, &key, &id, |b| b["status"] == "completed").await;
    assert_eq!(
        b["request_counts"],
        json!({"total": N, "completed": N, "failed": 0}),
        "{b}"
    );
    // One output line per item, none twice.
    let out = s
        .client
        .get(s.url(&format!(
            "/v1/files/{}/content",
            b["output_file_id"].as_str().unwrap()
        )))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), N);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "an item answered twice");
    // Metered and charged once each: one usage row per item (an item sent
    // again after the crash reuses its request id), and the books agree.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = s.usage_rows().await;
        let mut mine: Vec<&str> = rows
            .iter()
            .filter(|r| r.batch_id == id)
            .map(|r| r.request_id.as_str())
            .collect();
        mine.sort_unstable();
        mine.dedup();
        if mine.len() >= N {
            assert_eq!(mine.len(), N);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage rows never arrived ({} of {N})",
            mine.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.reconciled(Some(N as i64)).await;
}

#[tokio::test]
async fn two_developers_batches_both_make_progress() {
    // Eight items in flight at most, four for one developer.
    let (s, _up) = stack_with(&[
        ("AIHUB_BATCHES__MAX_CONCURRENCY", "8"),
        ("AIHUB_BATCHES__PER_DEVELOPER_CONCURRENCY", "4"),
    ])
    .await;
    let (_, _, big) = s.developer_with_key("big@example.com", &[]);
    let (_, _, small) = s.developer_with_key("small@example.com", &[]);
    let big_id = submit(&s, &big, input(300, 2, 20)).await;
    let small_id = submit(&s, &small, input(20, 2, 20)).await;
    wait_batch(&s, &small, &small_id, |b| b["status"] == "completed").await;
    // The small batch finished while the big one, queued first, still runs.
    let b = batch(&s, &big, &big_id).await.unwrap();
    assert_eq!(b["status"], "in_progress", "{b}");
    assert!(b["request_counts"]["completed"].as_i64().unwrap() < 300);
    let b = wait_batch(&s, &big, &big_id, |b| b["status"] == "completed").await;
    if b["request_counts"]["completed"] != 300 {
        let errors = s
            .client
            .get(s.url(&format!(
                "/v1/files/{}/content",
                b["error_file_id"].as_str().unwrap_or("none")
            )))
            .bearer_auth(&big)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!("{b}\n{errors}");
    }
}

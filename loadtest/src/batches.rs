//! Tasks and batches (DESIGN §3 "async task creation, p95"; batch
//! throughput for the capacity row).
//!
//! - **Task creation**: `POST /api/v1/developer/tasks` (`batch_generate`,
//!   several prompts) through the gateway with a developer's access token and
//!   a fresh `Idempotency-Key` on every request, open loop at a fixed rate;
//!   latency counts from each scheduled send time. The control plane is
//!   restarted with its batch worker off for this phase
//!   (`AIHUB_BATCHES__RUN_WORKER=false`, the setting of API-only control
//!   planes when scaled out), so the figure is the creation path itself —
//!   validation, the task, its batch and items written in one transaction,
//!   the idempotency record — not creation competing with a worker draining
//!   the thousands of items it just queued. The items stay queued.
//! - **Batch throughput**: one large batch through OpenAI's Batches API
//!   (multipart upload to `/v1/files`, `POST /v1/batches`, poll
//!   `GET /v1/batches/{id}`) with an API key, the worker sending every item
//!   through the gateway to the stand-in provider. The control plane is
//!   restarted with the worker settings printed next to the figure.

use crate::load::{self, Stats};
use crate::systems::AiHub;
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the task-creation phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStats {
    /// Tasks created per second (open loop).
    pub rate: u32,
    /// Prompts (items) per task.
    pub prompts_per_task: usize,
    /// Latency from each scheduled send to its `201`, and errors.
    pub latency: Stats,
    /// How the control plane ran during the phase.
    pub worker: &'static str,
}

/// What the batch phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct BatchStats {
    /// Items in the batch.
    pub items: u64,
    /// Final status.
    pub status: String,
    /// `request_counts.completed`.
    pub completed: u64,
    /// `request_counts.failed`.
    pub failed: u64,
    /// Seconds to upload the input file.
    pub upload_s: f64,
    /// Seconds `POST /v1/batches` took (every line validated, items queued).
    pub create_s: f64,
    /// Seconds from sending `POST /v1/batches` to seeing the batch final.
    pub to_completion_s: f64,
    /// Items finished per second over `to_completion_s`.
    pub items_per_s: f64,
    /// Items finished per second between 10 % and 90 % done (steady state).
    pub steady_items_per_s: Option<f64>,
    /// The gateway's arrival-to-last-byte time for the batch's requests,
    /// p95, as the upper bound of its histogram bucket (ms).
    pub gateway_p95_ms_le: Option<f64>,
    /// The worker's settings during the run.
    pub settings: BTreeMap<&'static str, String>,
    /// The first line of the error file, if any item failed.
    pub first_error: Option<String>,
    /// The control plane's last warnings, when the batch did not finish.
    pub control_plane_warnings: Vec<String>,
}

/// An HTTP client for the harness's own requests (no proxy, a large pool).
pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// The body of a `batch_generate` task of `prompts` prompts.
pub(crate) fn task_body(prompts: usize) -> Value {
    let prompts: Vec<String> = (0..prompts)
        .map(|i| format!("Prompt {i}: write one short sentence [[stub words=16]]"))
        .collect();
    json!({
        "type": "batch_generate",
        "input": {"model": "gpt-4o-mini", "prompts": prompts, "options": {"max_tokens": 32}},
    })
}

/// The task-creation phase. Restarts the control plane with its batch
/// worker off. `None` when this build has no task API.
pub async fn task_creation(
    aihub: &mut AiHub,
    rate: u32,
    prompts: usize,
    duration: Duration,
) -> anyhow::Result<Option<TaskStats>> {
    eprintln!("task creation: restarting the control plane with its batch worker off…");
    aihub
        .restart_control_plane(&[("AIHUB_BATCHES__RUN_WORKER", "false")])
        .await?;
    let email = "tasks-load@example.com";
    let Some(token) = crate::report::developer_token(aihub, email, "Task Load").await? else {
        return Ok(None);
    };
    // Tasks run as one of the developer's keys.
    aihub.admin(&["admin", "create-key", "--developer", email])?;
    let url = format!("{}/api/v1/developer/tasks", aihub.url);
    let body = serde_json::to_vec(&task_body(prompts))?;
    let client = client()?;
    let send = {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        let body = body.clone();
        move |idempotency_key: String| {
            client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("idempotency-key", idempotency_key)
                .body(body.clone())
                .send()
        }
    };
    // Warm the connections, the gateway's route and the database.
    for i in 0..20 {
        let resp = send(format!("loadtest-warm-{i}")).await?;
        let status = resp.status();
        if status.as_u16() == 404 && i == 0 {
            return Ok(None);
        }
        if status.as_u16() != 201 {
            bail!(
                "task creation: POST /api/v1/developer/tasks answered {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    }
    eprintln!(
        "task creation: batch_generate × {prompts} prompts, {rate}/s for {} s via the gateway…",
        duration.as_secs()
    );
    let first_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let latency = load::open_loop(rate, duration, |i| {
        let request = send(format!("loadtest-task-{i}"));
        let first_error = first_error.clone();
        async move {
            match request.await {
                Ok(r) if r.status().as_u16() == 201 => {
                    // The whole answer, as a client would read it.
                    r.bytes().await.is_ok()
                }
                Ok(r) => {
                    let why = format!("{} {}", r.status(), r.text().await.unwrap_or_default());
                    remember(&first_error, why);
                    false
                }
                Err(e) => {
                    remember(&first_error, e.to_string());
                    false
                }
            }
        }
    })
    .await;
    if let Some(e) = first_error.lock().ok().and_then(|e| e.clone()) {
        eprintln!("task creation: first error: {e}");
    }
    Ok(Some(TaskStats {
        rate,
        prompts_per_task: prompts,
        latency,
        worker: "batch worker off (control plane restarted with AIHUB_BATCHES__RUN_WORKER=false, as API-only control planes run); items stay queued",
    }))
}

/// Keeps the first of several failures (its first 300 characters).
pub(crate) fn remember(slot: &std::sync::Mutex<Option<String>>, why: String) {
    if let Ok(mut s) = slot.lock() {
        if s.is_none() {
            *s = Some(why.chars().take(300).collect());
        }
    }
}

/// The JSONL input of the batch: `n` chat completions.
fn batch_input(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 220);
    for i in 0..n {
        let line = json!({
            "custom_id": format!("item-{i}"),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "max_tokens": 32,
                "messages": [{"role": "user", "content": format!("Item {i}: one short sentence please [[stub words=16]]")}],
            },
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The gateway's request-duration histogram for model endpoints (control
/// plane, health and model-list routes left out), summed over endpoints:
/// cumulative count per bucket bound (seconds).
async fn duration_buckets(ops_url: &str) -> Option<BTreeMap<String, f64>> {
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()
        .ok()?
        .get(format!("{ops_url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut buckets = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("aihub_gateway_request_duration_seconds_bucket{"))
    {
        if ["control_plane", "health", "models", "not_found"]
            .iter()
            .any(|e| line.contains(&format!("endpoint=\"{e}\"")))
        {
            continue;
        }
        let Some(le) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else {
            continue;
        };
        let Some(n) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        *buckets.entry(le.to_string()).or_insert(0.0) += n;
    }
    Some(buckets)
}

/// p95 from the difference of two histogram snapshots: the upper bound (ms)
/// of the first bucket holding 95 % of the observations.
fn p95_between(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Option<f64> {
    let mut bounds: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            (bound, n - before.get(le).copied().unwrap_or(0.0))
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = bounds.last()?.1;
    if total <= 0.0 {
        return None;
    }
    bounds
        .iter()
        .find(|(_, n)| *n >= 0.95 * total)
        .map(|(b, _)| b * 1000.0)
}

/// The batch phase. Restarts the control plane with the given worker
/// settings. `None` when this build has no Batches API.
pub async fn batch_throughput(
    aihub: &mut AiHub,
    items: u64,
    max_concurrency: usize,
    per_developer: usize,
    poll_ms: u64,
) -> anyhow::Result<Option<BatchStats>> {
    let mut settings = BTreeMap::new();
    settings.insert("max_concurrency", max_concurrency.to_string());
    settings.insert("per_developer_concurrency", per_developer.to_string());
    settings.insert("poll_ms", poll_ms.to_string());
    eprintln!(
        "batch throughput: restarting the control plane (batch worker: max_concurrency {max_concurrency}, per_developer_concurrency {per_developer}, poll_ms {poll_ms})…"
    );
    let (max_s, per_s, poll_s) = (
        max_concurrency.to_string(),
        per_developer.to_string(),
        poll_ms.to_string(),
    );
    aihub
        .restart_control_plane(&[
            ("AIHUB_BATCHES__MAX_CONCURRENCY", max_s.as_str()),
            ("AIHUB_BATCHES__PER_DEVELOPER_CONCURRENCY", per_s.as_str()),
            ("AIHUB_BATCHES__POLL_MS", poll_s.as_str()),
        ])
        .await?;
    let client = client()?;
    let key = aihub.key.clone();
    // The Batches API through the gateway, once the control plane answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client
            .get(format!("{}/v1/batches?limit=1", aihub.url))
            .bearer_auth(&key)
            .send()
            .await;
        match r.as_ref().map(|r| r.status().as_u16()) {
            Ok(200) => break,
            Ok(404) => return Ok(None),
            _ if Instant::now() > deadline => {
                bail!("batch throughput: GET /v1/batches did not answer 200: {r:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }

    eprintln!("batch throughput: uploading {items} requests…");
    let input = batch_input(items);
    let started = Instant::now();
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::bytes(input)
                .file_name("loadtest.jsonl")
                .mime_str("application/jsonl")?,
        );
    let file: Value = checked(
        client
            .post(format!("{}/v1/files", aihub.url))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await?,
        "POST /v1/files",
    )
    .await?;
    let upload_s = started.elapsed().as_secs_f64();
    let file_id = file["id"].as_str().context("file id")?;

    let before = duration_buckets(&aihub.ops_url).await;
    let sent = Instant::now();
    let batch: Value = checked(
        client
            .post(format!("{}/v1/batches", aihub.url))
            .bearer_auth(&key)
            .json(&json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
            .send()
            .await?,
        "POST /v1/batches",
    )
    .await?;
    let create_s = sent.elapsed().as_secs_f64();
    let id = batch["id"].as_str().context("batch id")?.to_string();
    eprintln!("batch throughput: {id} created in {create_s:.2} s, polling…");

    // Poll until final, or until nothing moves for a minute.
    let mut last = batch;
    let mut last_done = -1i64;
    let mut moved_at = Instant::now();
    let (mut t10, mut t90) = (None, None);
    let total = items as f64;
    loop {
        let status = last["status"].as_str().unwrap_or_default();
        if matches!(status, "completed" | "failed" | "expired" | "cancelled") {
            break;
        }
        let done = last["request_counts"]["completed"].as_i64().unwrap_or(0)
            + last["request_counts"]["failed"].as_i64().unwrap_or(0);
        let now = sent.elapsed().as_secs_f64();
        if t10.is_none() && done as f64 >= 0.1 * total {
            t10 = Some((now, done));
        }
        if t90.is_none() && done as f64 >= 0.9 * total {
            t90 = Some((now, done));
        }
        if done != last_done {
            last_done = done;
            moved_at = Instant::now();
        } else if moved_at.elapsed() > Duration::from_secs(60) {
            eprintln!("batch throughput: no progress for a minute at {done}/{items}; giving up");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = checked(
            client
                .get(format!("{}/v1/batches/{id}", aihub.url))
                .bearer_auth(&key)
                .send()
                .await?,
            "GET /v1/batches/{id}",
        )
        .await?;
    }
    let to_completion_s = sent.elapsed().as_secs_f64();
    let after = duration_buckets(&aihub.ops_url).await;
    let completed = last["request_counts"]["completed"].as_u64().unwrap_or(0);
    let failed = last["request_counts"]["failed"].as_u64().unwrap_or(0);
    let steady_items_per_s = match (t10, t90) {
        (Some((a, da)), Some((b, db))) if b > a => Some((db - da) as f64 / (b - a)),
        _ => None,
    };
    let mut first_error = None;
    if let (Some(f), true) = (last["error_file_id"].as_str(), failed > 0) {
        if let Ok(r) = client
            .get(format!("{}/v1/files/{f}/content", aihub.url))
            .bearer_auth(&key)
            .send()
            .await
        {
            let text = r.text().await.unwrap_or_default();
            first_error = text.lines().next().map(|l| l.chars().take(300).collect());
        }
    }
    let status = last["status"].as_str().unwrap_or_default().to_string();
    let control_plane_warnings = if status == "completed" && failed == 0 {
        Vec::new()
    } else {
        let w = aihub.control_plane_warnings(5);
        for line in &w {
            eprintln!("batch throughput: control plane: {line}");
        }
        w
    };
    Ok(Some(BatchStats {
        items,
        status,
        completed,
        failed,
        upload_s,
        create_s,
        to_completion_s,
        items_per_s: (completed + failed) as f64 / to_completion_s,
        steady_items_per_s,
        gateway_p95_ms_le: match (before, after) {
            (Some(b), Some(a)) => p95_between(&b, &a),
            _ => None,
        },
        settings,
        first_error,
        control_plane_warnings,
    }))
}

async fn checked(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{what} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_from_histogram_difference() {
        let before: BTreeMap<String, f64> = [("0.001", 10.0), ("0.005", 10.0), ("+Inf", 10.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        // 100 new observations: 90 under 1 ms, 8 more under 5 ms, 2 above.
        let after: BTreeMap<String, f64> = [("0.001", 100.0), ("0.005", 108.0), ("+Inf", 110.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(p95_between(&before, &after), Some(5.0));
        assert_eq!(p95_between(&after, &after), None);
    }

    #[test]
    fn batch_input_is_one_request_per_line() {
        let input = batch_input(3);
        let lines: Vec<Value> = input
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["custom_id"], "item-2");
        assert_eq!(lines[0]["url"], "/v1/chat/completions");
    }
}

//! The webhook target of DESIGN §3: events delivered to a local receiver,
//! sustained per minute, and how long each took from the event to its
//! arrival (p95).
//!
//! Events come from the real path: a developer's `PUT /api/v1/developer/keys/{id}`
//! through the gateway at a fixed rate (`oha`), each emitting `api_key.updated`
//! in its transaction; `endpoints` endpoints subscribed to that type point at
//! a receiver in this process, which answers 204 and records
//! `arrival − event.created_at_ms` for every delivery. On this machine the
//! management API emits about 900 events a second, so two endpoints (each
//! event delivered twice) are what it takes to offer 100,000 deliveries a
//! minute.

use crate::load::{self, OhaRun};
use crate::systems::AiHub;
use anyhow::Context;
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookStats {
    /// Key updates that succeeded (= events emitted).
    pub events: u64,
    /// Endpoints each event went to.
    pub endpoints: u32,
    /// Deliveries the receiver got (events × endpoints when all arrived).
    pub delivered: u64,
    /// Deliveries per minute, from the first event to the last arrival.
    pub per_minute: f64,
    /// Event → arrival, median.
    pub p50_ms: f64,
    /// Event → arrival, 95th percentile.
    pub p95_ms: f64,
    /// Event → arrival, worst.
    pub max_ms: f64,
}

impl WebhookStats {
    /// The report's figure: deliveries a minute, p95 and the counts.
    pub fn measured(&self) -> String {
        format!(
            "{:.0} deliveries/min, p95 {:.0} ms (p50 {:.0}, max {:.0}; {} of {} events × {} endpoints)",
            self.per_minute,
            self.p95_ms,
            self.p50_ms,
            self.max_ms,
            self.delivered,
            self.events,
            self.endpoints
        )
    }
}

#[derive(Default)]
struct Seen {
    /// (created_at_ms, arrived_ms)
    times: Vec<(i64, i64)>,
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64
}

/// Runs the scenario as the developer `email` (registered here; one run
/// per developer, so no earlier run's endpoints receive its events), or
/// answers `None` when this build has no webhooks API.
pub async fn webhooks(
    oha: &Path,
    aihub: &AiHub,
    email: &str,
    rate: u32,
    endpoints: u32,
    duration: Duration,
) -> anyhow::Result<Option<WebhookStats>> {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let arrived = now_ms();
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    if let Some(created) = v["created_at_ms"].as_i64() {
                        if let Ok(mut s) = record.lock() {
                            s.times.push((created, arrived));
                        }
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver = format!("http://{}/hook", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::builder().no_proxy().build()?;
    let Some(token) = crate::report::developer_token(aihub, email, "Hook Load").await? else {
        return Ok(None);
    };
    for n in 0..endpoints.max(1) {
        let created = client
            .post(format!("{}/api/v1/developer/webhooks", aihub.url))
            .bearer_auth(&token)
            .json(&json!({"url": format!("{receiver}?endpoint={n}"), "event_types": ["api_key.updated"]}))
            .send()
            .await?;
        if created.status().as_u16() == 404 {
            return Ok(None);
        }
        anyhow::ensure!(
            created.status().is_success(),
            "webhooks: creating the endpoint failed: {}",
            created.text().await?
        );
    }
    let key = aihub.admin(&["admin", "create-key", "--developer", email])?;
    let key_id = key["id"].as_str().context("key id")?;

    eprintln!(
        "webhook delivery: key updates at {rate}/s → events → {endpoints} endpoints on a local receiver…"
    );
    let url = format!("{}/api/v1/developer/keys/{key_id}", aihub.url);
    let started = now_ms();
    let load = load::oha(
        oha,
        &OhaRun {
            url: &url,
            body: r#"{"name":"webhook load"}"#,
            bearer: Some(&token),
            rate: Some(rate),
            connections: 32,
            duration,
            method: "PUT",
        },
    )?;
    let events = load.total.saturating_sub(load.errors);
    let expected = events * u64::from(endpoints.max(1));
    // Wait for the deliveries to arrive (or stop growing for 10 s).
    let mut last = 0;
    let mut still_since = Instant::now();
    loop {
        let n = seen.lock().map(|s| s.times.len()).unwrap_or(0) as u64;
        if n >= expected {
            break;
        }
        if n != last {
            last = n;
            still_since = Instant::now();
        } else if still_since.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.abort();
    let times = seen.lock().map(|s| s.times.clone()).unwrap_or_default();
    let mut lat: Vec<i64> = times.iter().map(|(c, a)| (a - c).max(0)).collect();
    lat.sort_unstable();
    let first = times.iter().map(|t| t.0).min().unwrap_or(started);
    let last_arrival = times.iter().map(|t| t.1).max().unwrap_or(first);
    let span_ms = (last_arrival - first).max(1) as f64;
    Ok(Some(WebhookStats {
        events,
        endpoints: endpoints.max(1),
        delivered: times.len() as u64,
        per_minute: times.len() as f64 * 60_000.0 / span_ms,
        p50_ms: percentile(&lat, 0.50),
        p95_ms: percentile(&lat, 0.95),
        max_ms: lat.last().copied().unwrap_or(0) as f64,
    }))
}

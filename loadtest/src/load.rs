//! Load generation. Non-streaming load comes from `oha` (a well-kept load
//! generator from crates.io): open-loop at a fixed rate with latency
//! correction, so latency counts from each request's scheduled send time and
//! queueing is not hidden; or closed-loop for the maximum. Streaming time to
//! first token needs the first body chunk's arrival, which `oha` does not
//! report, so a small open-loop probe measures it directly.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Latency distribution of one run, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Successful requests per second achieved.
    pub rps: f64,
    /// Requests that failed (connection errors or non-2xx).
    pub errors: u64,
    /// Requests made.
    pub total: u64,
}

/// Installs `oha` into `cache/tools` if it is not on PATH.
pub fn ensure_oha(cache: &Path) -> anyhow::Result<PathBuf> {
    if let Some(p) = crate::systems::which("oha") {
        return Ok(p);
    }
    let root = cache.join("tools");
    let bin = root.join("bin/oha");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!("installing oha into {} (once)…", root.display());
    let status = Command::new("cargo")
        .args(["install", "oha", "--locked", "--version", "^1.9", "--root"])
        .arg(&root)
        .status()
        .context("running cargo install oha")?;
    if !status.success() {
        bail!("cargo install oha failed");
    }
    Ok(bin)
}

/// One `oha` run.
pub struct OhaRun<'a> {
    /// URL to send to.
    pub url: &'a str,
    /// JSON body.
    pub body: &'a str,
    /// Bearer token, if any.
    pub bearer: Option<&'a str>,
    /// Fixed rate (open loop), or `None` for closed loop.
    pub rate: Option<u32>,
    /// Concurrent connections.
    pub connections: u32,
    /// Duration.
    pub duration: Duration,
    /// HTTP method.
    pub method: &'a str,
}

#[derive(Deserialize)]
struct OhaSummary {
    #[serde(rename = "successRate", default)]
    success_rate: f64,
    #[serde(rename = "requestsPerSec", default)]
    requests_per_sec: f64,
}

#[derive(Deserialize)]
struct OhaOutput {
    summary: OhaSummary,
    #[serde(rename = "latencyPercentiles", default)]
    percentiles: std::collections::HashMap<String, Option<f64>>,
    #[serde(rename = "statusCodeDistribution", default)]
    status_codes: std::collections::HashMap<String, u64>,
    #[serde(rename = "errorDistribution", default)]
    errors: std::collections::HashMap<String, u64>,
}

/// Runs `oha` and reads its JSON summary.
pub fn oha(bin: &Path, run: &OhaRun<'_>) -> anyhow::Result<Stats> {
    let mut cmd = Command::new(bin);
    // -w: requests still in flight at the deadline finish and count, rather
    // than being reported as errors.
    cmd.arg("--no-tui")
        .arg("-w")
        .args(["--output-format", "json"])
        .args(["-z", &format!("{}ms", run.duration.as_millis())])
        .args(["-c", &run.connections.to_string()])
        .args(["-m", run.method])
        .args(["-H", "content-type: application/json"]);
    if let Some(token) = run.bearer {
        cmd.args(["-H", &format!("authorization: Bearer {token}")]);
    }
    if run.method != "GET" && !run.body.is_empty() {
        cmd.args(["-d", run.body]);
    }
    if let Some(rate) = run.rate {
        cmd.args(["-q", &rate.to_string(), "--latency-correction"]);
    }
    cmd.arg(run.url);
    let out = cmd.output().context("running oha")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let o: OhaOutput = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "reading oha's output: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let pct = |k: &str| o.percentiles.get(k).copied().flatten().unwrap_or(f64::NAN) * 1000.0;
    let ok: u64 = o
        .status_codes
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .map(|(_, n)| *n)
        .sum();
    let non_2xx: u64 = o
        .status_codes
        .iter()
        .filter(|(code, _)| !code.starts_with('2'))
        .map(|(_, n)| *n)
        .sum();
    let failed: u64 = o.errors.values().sum();
    let total = ok + non_2xx + failed;
    Ok(Stats {
        p50_ms: pct("p50"),
        p90_ms: pct("p90"),
        p95_ms: pct("p95"),
        p99_ms: pct("p99"),
        p999_ms: pct("p99.9"),
        rps: o.summary.requests_per_sec * o.summary.success_rate.clamp(0.0, 1.0),
        errors: non_2xx + failed,
        total,
    })
}

/// Percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The distribution of `latencies` (ms, any order) with `errors` failures
/// out of `total` requests over `elapsed_s` seconds.
pub fn summarize(mut latencies: Vec<f64>, errors: u64, total: u64, elapsed_s: f64) -> Stats {
    latencies.sort_by(|a, b| a.total_cmp(b));
    Stats {
        p50_ms: percentile(&latencies, 50.0),
        p90_ms: percentile(&latencies, 90.0),
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        p999_ms: percentile(&latencies, 99.9),
        rps: latencies.len() as f64 / elapsed_s.max(1e-9),
        errors,
        total,
    }
}

/// Closed-loop driver: `n` requests `make(0..n)`, `concurrency` at a time
/// (each worker sends its next request when the previous one answered).
/// Answers each request's latency in ms (`None` when `make` said it
/// failed), by index, and the seconds the whole run took.
pub async fn closed_loop<F, Fut>(n: u64, concurrency: usize, make: F) -> (Vec<Option<f64>>, f64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let make = std::sync::Arc::new(make);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let make = make.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let sent = Instant::now();
                let ok = make(i).await;
                done.push((i, ok.then(|| sent.elapsed().as_secs_f64() * 1000.0)));
            }
            done
        }));
    }
    let mut out = vec![None; n as usize];
    for w in workers {
        if let Ok(done) = w.await {
            for (i, latency) in done {
                out[i as usize] = latency;
            }
        }
    }
    (out, started.elapsed().as_secs_f64())
}

/// Open-loop driver for requests `oha` cannot make (e.g. a different
/// `Idempotency-Key` on every request): starts `make(i)` at `rate` per
/// second for `duration` without waiting for earlier ones; latency counts
/// from each request's scheduled send time to its answer, so queueing is
/// not hidden. `make` answers whether the request succeeded; percentiles
/// are over the successful ones, failures are counted as errors.
pub async fn open_loop<F, Fut>(rate: u32, duration: Duration, make: F) -> Stats
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let n = (rate as f64 * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let request = make(i);
        tasks.push(tokio::spawn(async move {
            request.await.then(|| scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok(Some(d)) => latencies.push(d.as_secs_f64() * 1000.0),
            _ => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Stats {
        p50_ms: percentile(&latencies, 50.0),
        p90_ms: percentile(&latencies, 90.0),
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        p999_ms: percentile(&latencies, 99.9),
        rps: latencies.len() as f64 / elapsed,
        errors,
        total: n,
    }
}

/// Open-loop streaming probe: `rate` streamed chat requests per second for
/// `duration`; time to first token counts from each scheduled send time to
/// the first body chunk that carries content.
pub async fn stream_ttft(
    url: &str,
    body: &str,
    bearer: Option<&str>,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(512)
        .build()?;
    let n = (rate as f64 * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            let mut resp = resp;
            let mut first = None;
            while let Ok(Some(chunk)) = resp.chunk().await {
                if first.is_none() && chunk.windows(9).any(|w| w == b"\"content\"") {
                    first = Some(scheduled.elapsed());
                }
            }
            first
        }));
    }
    let mut ttfts = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok(Some(d)) => ttfts.push(d.as_secs_f64() * 1000.0),
            _ => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    ttfts.sort_by(|a, b| a.total_cmp(b));
    Ok(Stats {
        p50_ms: percentile(&ttfts, 50.0),
        p90_ms: percentile(&ttfts, 90.0),
        p95_ms: percentile(&ttfts, 95.0),
        p99_ms: percentile(&ttfts, 99.0),
        p999_ms: percentile(&ttfts, 99.9),
        rps: ttfts.len() as f64 / elapsed,
        errors,
        total: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_values() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 99.9), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}

//! The analytics scale check (DESIGN §3 "usage statistics over 10 million
//! usage rows, p95 under 50 ms"; issue 9).
//!
//! For each usage store — `embedded` (SQLite, rows through the control
//! plane's own ingest route, which keeps its rollup tables as it stores
//! them) and `clickhouse` (PostgreSQL for the control plane, rows straight
//! into `usage_records`, whose materialized views fill the rollups) — the
//! scenario starts a fresh AI Hub (control plane + gateway), creates the
//! measured developer accounts and an operator, loads `rows` generated usage
//! rows over the last 30 days, logs in, and measures every analytics and
//! usage route through the gateway at a fixed concurrency (closed loop).
//!
//! The rows ([`Generator`]) are deterministic for a seed: `developers`
//! developers with a Zipf-like share of traffic (exponent 0.9: with 10
//! million rows and 10,000 developers the heaviest has about 640,000 rows,
//! the 10th 80,000, the 1,000th 1,300), 1–5 keys each, five models on two
//! providers, ~35 % of chat rows streamed (with a time to first token),
//! ~2 % errors (400, 404, 429, 500, 502, 503), ~1.5 % fallbacks (two
//! attempts), log-normal tokens and latencies, costs from tokens at the
//! models' prices, a daily rhythm and slight growth over the month. Five
//! developers at ranks 1, 10, 100, 1,000 and 5,000 are real accounts whose
//! ids and keys the rows use.
//!
//! The billing charger is held back during the scenario (its first round
//! runs at start, on an empty table, the next an hour later, the longest
//! interval allowed; a run longer than that says so in its note; the
//! control plane is not restarted after loading, since a fresh one would
//! start charging every loaded row at once): in production it
//! keeps pace with rows as they arrive, while here 30 days arrive in
//! minutes, and a catch-up of millions of charges would compete with the
//! reads measured.

use crate::batches::remember;
use crate::load::{self, Stats};
use crate::systems::{AiHub, Setup, Stub, SECRET};
use aihub_contract::usage::{IngestResult, UsageBatch, UsageRow};
use aihub_testkit::{clickhouse, procs};
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// DESIGN §3's goal for usage statistics, p95 in ms.
pub const GOAL_P95_MS: f64 = 50.0;
/// Zipf exponent of the developers' shares of traffic.
const ZIPF_S: f64 = 0.9;
/// Ranks (0-based) of the developers that are real accounts.
const MEASURED_RANKS: [usize; 5] = [0, 9, 99, 999, 4999];
pub(crate) const PASSWORD: &str = "Load-Test-Passw0rd";
const DAY_MS: i64 = 86_400_000;

/// Where usage rows are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    /// SQLite, rows through the control plane's ingest route.
    Embedded,
    /// PostgreSQL for the control plane, rows in ClickHouse.
    ClickHouse,
}

impl Store {
    /// `embedded` or `clickhouse`.
    pub fn name(self) -> &'static str {
        match self {
            Store::Embedded => "embedded",
            Store::ClickHouse => "clickhouse",
        }
    }
}

/// The scenario's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Usage rows generated per store.
    pub rows: u64,
    /// Developers the rows belong to.
    pub developers: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Stores to run, in order.
    pub stores: Vec<Store>,
    /// Requests per route.
    pub requests: u64,
    /// Requests in flight at once (closed loop).
    pub concurrency: usize,
    /// Rows per ingest request (embedded) or per INSERT (ClickHouse: × 40).
    pub batch_rows: usize,
    /// Ingest requests in flight at once.
    pub ingest_concurrency: usize,
    /// Gateway worker threads.
    pub threads: usize,
    /// Where the temporary directory (SQLite database) goes.
    pub temp_in: Option<PathBuf>,
    /// Loading stops when the control plane's directory grows beyond this.
    pub max_disk_bytes: u64,
    /// Leave the ClickHouse store's databases in place for inspection.
    pub keep: bool,
}

/// How the rows were loaded.
#[derive(Debug, Clone, Serialize)]
pub struct LoadStats {
    /// Rows sent.
    pub rows: u64,
    /// Rows the store reports as newly stored (embedded) or counts (ClickHouse).
    pub stored: u64,
    /// Seconds from the first row sent to the last stored.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_s: f64,
    /// Rows per request / INSERT.
    pub batch_rows: usize,
    /// Requests / INSERTs in flight at once.
    pub concurrency: usize,
    /// Ingest requests sent again after a 5xx (embedded).
    pub retries: u64,
    /// Bytes on disk after loading, per part (`sqlite`, `postgres`,
    /// `clickhouse usage_records`, `clickhouse rollups`).
    pub disk_bytes: Vec<(String, u64)>,
}

/// One route measured.
#[derive(Debug, Clone, Serialize)]
pub struct RouteStats {
    /// Short name, e.g. `developer/analytics/trends (hour, by model)`.
    pub name: String,
    /// Whether an operator calls it (else the measured developers).
    pub admin: bool,
    /// The query variants cycled through.
    pub variants: Vec<String>,
    /// `false` when the route answered 404 (not in this build).
    pub available: bool,
    /// All requests.
    pub latency: Stats,
    /// The heaviest developer's requests (developer routes).
    pub heaviest: Option<Stats>,
    /// The other developers' requests (developer routes).
    pub others: Option<Stats>,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// One store's run.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRun {
    /// Which store.
    pub store: Store,
    /// Rows generated.
    pub rows: u64,
    /// Developers.
    pub developers: usize,
    /// Seed.
    pub seed: u64,
    /// The measured developers: rank (1-based), rows in the data set, id.
    pub measured: Vec<(usize, u64, String)>,
    /// Loading.
    pub load: LoadStats,
    /// Requests per route and concurrency.
    pub requests: u64,
    /// Closed-loop concurrency.
    pub concurrency: usize,
    /// Every route.
    pub routes: Vec<RouteStats>,
    /// Why the run stopped, if it did.
    pub error: Option<String>,
    /// The run outlasted the charger's hour: its second round, charging
    /// the loaded rows, fell within loading or measuring.
    pub charger_ran: bool,
}

// ---------------------------------------------------------------------------
// The generator.

/// SplitMix64: small, fast, and the same everywhere.
pub(crate) struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(stream.wrapping_add(0x9e37_79b9_7f4a_7c15))))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Log-normal with the given median.
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

/// A model of the data set.
struct Model {
    name: &'static str,
    endpoint: &'static str,
    /// Share of traffic.
    share: f64,
    /// Prices in nano-units per token (= price per million / 1000).
    input: u64,
    output: u64,
    cached: u64,
    prompt_median: f64,
    completion_median: f64,
    /// Fixed part of the latency and time per completion token, ms.
    base_ms: f64,
    ms_per_token: f64,
    /// Share of requests streamed.
    stream_share: f64,
}

const MODELS: [Model; 5] = [
    Model {
        name: "gpt-4o-mini",
        endpoint: "chat.completions",
        share: 0.42,
        input: 150,
        output: 600,
        cached: 75,
        prompt_median: 600.0,
        completion_median: 180.0,
        base_ms: 250.0,
        ms_per_token: 8.0,
        stream_share: 0.35,
    },
    Model {
        name: "gpt-4o",
        endpoint: "chat.completions",
        share: 0.18,
        input: 2500,
        output: 10_000,
        cached: 1250,
        prompt_median: 1200.0,
        completion_median: 300.0,
        base_ms: 400.0,
        ms_per_token: 18.0,
        stream_share: 0.4,
    },
    Model {
        name: "claude-3-5-sonnet",
        endpoint: "chat.completions",
        share: 0.14,
        input: 3000,
        output: 15_000,
        cached: 300,
        prompt_median: 1500.0,
        completion_median: 350.0,
        base_ms: 450.0,
        ms_per_token: 20.0,
        stream_share: 0.45,
    },
    Model {
        name: "llama-3.1-70b",
        endpoint: "completions",
        share: 0.10,
        input: 600,
        output: 600,
        cached: 600,
        prompt_median: 800.0,
        completion_median: 200.0,
        base_ms: 300.0,
        ms_per_token: 10.0,
        stream_share: 0.3,
    },
    Model {
        name: "text-embedding-3-small",
        endpoint: "embeddings",
        share: 0.16,
        input: 20,
        output: 0,
        cached: 20,
        prompt_median: 300.0,
        completion_median: 0.0,
        base_ms: 60.0,
        ms_per_token: 0.0,
        stream_share: 0.0,
    },
];

const USER_AGENTS: [&str; 5] = [
    "OpenAI/Python 1.54.3",
    "OpenAI/NodeJS 4.71.1",
    "langchain-openai/0.2.9",
    "curl/8.5.0",
    "Go-http-client/2.0",
];

/// A developer of the data set.
#[derive(Debug, Clone)]
struct Dev {
    id: String,
    keys: Vec<String>,
    favourite: usize,
    ip: String,
    user_agent: &'static str,
}

/// A deployment rows may name: (deployment id, provider id).
pub type Deployment = (String, String);

/// Deterministic usage rows: row `i` depends only on the seed and `i`, so
/// chunks can be generated anywhere, in any order.
pub struct Generator {
    seed: u64,
    now_ms: i64,
    span_ms: i64,
    devs: Vec<Dev>,
    cdf: Vec<f64>,
    share_cdf: Vec<f64>,
    /// Per model: the primary deployment and the fallback.
    deployments: Vec<[Deployment; 2]>,
}

/// Keys a developer of rank `rank` has (1 to 5).
fn key_count(seed: u64, rank: usize) -> usize {
    if rank == 0 {
        5
    } else {
        1 + (mix(seed ^ (rank as u64).wrapping_mul(31)) % 5) as usize
    }
}

/// The Zipf-like weights' cumulative distribution.
pub(crate) fn zipf_cdf(n: usize) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (0..n)
        .map(|k| {
            acc += 1.0 / ((k + 1) as f64).powf(ZIPF_S);
            acc
        })
        .collect();
    for c in cdf.iter_mut() {
        *c /= acc;
    }
    cdf
}

/// Expected share of rows of the developer at `rank`.
fn share_of(cdf: &[f64], rank: usize) -> f64 {
    cdf[rank] - if rank == 0 { 0.0 } else { cdf[rank - 1] }
}

impl Generator {
    /// A generator for `developers` developers over the `days` days before
    /// `now_ms`; `real` replaces the ids and keys of some ranks with real
    /// accounts'; `deployments` are per model of [`MODELS`] (primary,
    /// fallback), or synthetic ids when empty.
    pub fn new(
        seed: u64,
        developers: usize,
        days: i64,
        now_ms: i64,
        real: &[(usize, String, Vec<String>)],
        deployments: Vec<[Deployment; 2]>,
    ) -> Generator {
        let developers = developers.max(1);
        let devs = (0..developers)
            .map(|rank| {
                let h = mix(seed ^ (rank as u64).wrapping_mul(0x1000_0000_01b3));
                let (id, keys) = match real.iter().find(|r| r.0 == rank) {
                    Some((_, id, keys)) => (id.clone(), keys.clone()),
                    None => (
                        format!("dev_lt{rank:05}"),
                        (0..key_count(seed, rank))
                            .map(|k| format!("key_lt{rank:05}_{k}"))
                            .collect(),
                    ),
                };
                Dev {
                    id,
                    keys,
                    favourite: (h % MODELS.len() as u64) as usize,
                    ip: format!(
                        "10.{}.{}.{}",
                        (h >> 8) & 0xff,
                        (h >> 16) & 0xff,
                        (h >> 24) & 0xff
                    ),
                    user_agent: USER_AGENTS[((h >> 32) % USER_AGENTS.len() as u64) as usize],
                }
            })
            .collect();
        let mut acc = 0.0;
        let share_cdf = MODELS
            .iter()
            .map(|m| {
                acc += m.share;
                acc
            })
            .collect();
        let deployments = if deployments.len() == MODELS.len() {
            deployments
        } else {
            MODELS
                .iter()
                .map(|m| {
                    [
                        (format!("dep_lt_{}_a", m.name), "prov_lt_a".to_string()),
                        (format!("dep_lt_{}_b", m.name), "prov_lt_b".to_string()),
                    ]
                })
                .collect()
        };
        Generator {
            seed,
            now_ms,
            span_ms: days * DAY_MS,
            devs,
            cdf: zipf_cdf(developers),
            share_cdf,
            deployments,
        }
    }

    /// Expected rows of the developer at `rank` among `rows`.
    pub fn expected_rows(&self, rank: usize, rows: u64) -> u64 {
        (share_of(&self.cdf, rank) * rows as f64).round() as u64
    }

    fn pick_ts(&self, r: &mut Rng) -> i64 {
        // A daily rhythm (busiest around 16:00 UTC) and slight growth over
        // the period, by rejection.
        loop {
            let back = (r.unit() * self.span_ms as f64) as i64;
            let ts = self.now_ms - 1 - back;
            let hour = (ts.rem_euclid(DAY_MS) / 3_600_000) as f64;
            let daily = 0.5 * (1.0 + (2.0 * std::f64::consts::PI * (hour - 10.0) / 24.0).sin());
            let growth = 0.8 + 0.2 * (1.0 - back as f64 / self.span_ms as f64);
            if r.unit() < (0.3 + 0.7 * daily) * growth {
                return ts;
            }
        }
    }

    /// Row `i`.
    pub fn row(&self, i: u64) -> UsageRow {
        let mut r = Rng::new(self.seed, i);
        let u = r.unit();
        let rank = self
            .cdf
            .partition_point(|&c| c <= u)
            .min(self.devs.len() - 1);
        let dev = &self.devs[rank];
        let key_i = ((dev.keys.len() as f64) * r.unit().powi(2)) as usize;
        let key = &dev.keys[key_i.min(dev.keys.len() - 1)];
        let m_i = if r.unit() < 0.4 {
            dev.favourite
        } else {
            let u = r.unit() * self.share_cdf[MODELS.len() - 1];
            self.share_cdf
                .partition_point(|&c| c <= u)
                .min(MODELS.len() - 1)
        };
        let m = &MODELS[m_i];
        let ts_ms = self.pick_ts(&mut r);
        let chat = m.endpoint != "embeddings";
        let stream = chat && r.unit() < m.stream_share;
        let u = r.unit();
        let (status, error): (u16, &str) = if u < 0.005 {
            (400, "invalid_request")
        } else if u < 0.006 {
            (404, "model_not_found")
        } else if u < 0.014 {
            (429, "rate_limited")
        } else if u < 0.016 {
            (500, "upstream_error")
        } else if u < 0.018 {
            (502, "upstream_error")
        } else if u < 0.020 {
            (503, "upstream_unavailable")
        } else {
            (200, "")
        };
        let [primary, fallback] = &self.deployments[m_i];
        let mut row = UsageRow {
            request_id: format!("req_lt{:x}_{i:09}", self.seed),
            ts_ms,
            developer_id: dev.id.clone(),
            key_id: key.clone(),
            endpoint: m.endpoint.to_string(),
            method: "POST".into(),
            model: m.name.to_string(),
            stream,
            status,
            error: error.to_string(),
            attempts: 1,
            ip: dev.ip.clone(),
            user_agent: dev.user_agent.to_string(),
            gateway_id: format!("gw-{}", 1 + (r.next() % 2)),
            ..UsageRow::default()
        };
        match status {
            200 => {
                let fell_back = r.unit() < 0.015;
                let (dep, prov) = if fell_back { fallback } else { primary };
                row.deployment_id = dep.clone();
                row.provider_id = prov.clone();
                row.attempts = if fell_back { 2 } else { 1 };
                let prompt = r.lognormal(m.prompt_median, 0.9).clamp(1.0, 120_000.0) as u64;
                let completion = if chat {
                    r.lognormal(m.completion_median, 0.8).clamp(1.0, 8_000.0) as u64
                } else {
                    0
                };
                let cached = if chat && r.unit() < 0.25 {
                    (prompt as f64 * (0.3 + 0.6 * r.unit())) as u64
                } else {
                    0
                };
                row.prompt_tokens = prompt;
                row.completion_tokens = completion;
                row.cached_tokens = cached;
                let mut cost =
                    (prompt - cached) * m.input + cached * m.cached + completion * m.output;
                let generation = completion as f64 * m.ms_per_token * r.lognormal(1.0, 0.25);
                let mut latency = if stream {
                    let ttft = r.lognormal(m.base_ms * 0.8, 0.5);
                    row.ttft_ms = Some(ttft.clamp(1.0, 60_000.0) as u32);
                    ttft + generation
                } else {
                    r.lognormal(m.base_ms, 0.45) + generation
                };
                if fell_back {
                    // The failed first attempt.
                    latency += r.lognormal(m.base_ms, 0.5);
                }
                if !stream && r.unit() < 0.01 {
                    row.batch_id = format!("batch_lt{rank:05}_{}", ts_ms / DAY_MS);
                    cost /= 2;
                }
                row.cost_nanos = cost as i64;
                row.latency_ms = latency.clamp(1.0, 600_000.0) as u32;
                if let Some(t) = row.ttft_ms {
                    row.latency_ms = row.latency_ms.max(t);
                }
            }
            500..=599 => {
                row.deployment_id = fallback.0.clone();
                row.provider_id = fallback.1.clone();
                row.attempts = 2;
                row.latency_ms = r.lognormal(m.base_ms * 2.0, 0.7).clamp(1.0, 120_000.0) as u32;
            }
            _ => {
                row.latency_ms = r.lognormal(4.0, 0.5).clamp(1.0, 1_000.0) as u32;
            }
        }
        row
    }
}

// ---------------------------------------------------------------------------
// Loading.

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(600))
        .build()?)
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Prints progress every tenth of the rows.
fn progress(what: &str, done: u64, total: u64, started: Instant) {
    let tenth = (total / 10).max(1);
    if done / tenth != done.saturating_sub(1) / tenth || done == total {
        let s = started.elapsed().as_secs_f64();
        eprintln!(
            "  {what}: {done} of {total} rows, {:.0} s, {:.0} rows/s",
            s,
            done as f64 / s.max(1e-9)
        );
    }
}

/// Posts the rows to the control plane's ingest route (`POST
/// /internal/v1/usage`, signed like the gateway's usage sink), `batch`
/// rows per request, `concurrency` requests at a time.
async fn ingest_embedded(
    generator: Arc<Generator>,
    cp_url: &str,
    rows: u64,
    batch: usize,
    concurrency: usize,
    dir: &Path,
    max_disk: u64,
) -> anyhow::Result<(u64, f64, u64)> {
    let client = client()?;
    let next = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let url = format!("{cp_url}{}", aihub_contract::routes::USAGE);
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (generator, client, url) = (generator.clone(), client.clone(), url.clone());
        let (next, stored, sent, retries) =
            (next.clone(), stored.clone(), sent.clone(), retries.clone());
        let dir = dir.to_path_buf();
        workers.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                if first >= rows {
                    return anyhow::Ok(());
                }
                let last = (first + batch as u64).min(rows);
                let generator = generator.clone();
                let body = tokio::task::spawn_blocking(move || {
                    serde_json::to_vec(&UsageBatch {
                        rows: (first..last).map(|i| generator.row(i)).collect(),
                    })
                })
                .await??;
                let path = aihub_contract::routes::USAGE;
                // Like the gateway's spool: a batch the control plane could
                // not store (5xx, e.g. SQLite busy) is sent again after a
                // pause; rows are deduplicated by request id.
                let mut attempt = 0u32;
                let result: IngestResult = loop {
                    attempt += 1;
                    let sig = aihub_contract::signing::sign(
                        SECRET.as_bytes(),
                        unix_ms() / 1000,
                        "POST",
                        path,
                        &body,
                    );
                    let resp = client
                        .post(&url)
                        .header(aihub_contract::signing::HEADER, sig)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .context("posting usage rows to the control plane")?;
                    let status = resp.status();
                    if status.is_success() {
                        break resp.json().await?;
                    }
                    let text = resp.text().await.unwrap_or_default();
                    if !status.is_server_error() || attempt >= 10 {
                        bail!("the ingest route answered {status} (attempt {attempt}): {text}");
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                };
                stored.fetch_add(result.inserted, Ordering::Relaxed);
                let done = sent.fetch_add(last - first, Ordering::Relaxed) + (last - first);
                progress("ingest", done, rows, started);
                if (first / batch as u64).is_multiple_of(10) {
                    let used = dir_bytes(&dir);
                    if used > max_disk {
                        bail!(
                            "stopped at {done} rows: the control plane's directory holds {:.1} GB (over --analytics-max-disk-gb; SQLite's write-ahead log alone {:.1} GB)",
                            used as f64 / 1e9,
                            std::fs::metadata(dir.join("aihub.db-wal")).map_or(0, |m| m.len()) as f64 / 1e9
                        );
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok((
        stored.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        retries.load(Ordering::Relaxed),
    ))
}

/// The columns sent to ClickHouse (every field of the row; the
/// MATERIALIZED columns are left to the server).
const CH_COLUMNS: &str = "request_id, ts_ms, developer_id, key_id, endpoint, method, model, \
    deployment_id, provider_id, prompt_tokens, completion_tokens, cached_tokens, \
    reasoning_tokens, cost_nanos, latency_ms, ttft_ms, status, stream, attempts, ip, \
    user_agent, error, gateway_id, batch_id";

fn tsv_field(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// One row as a TabSeparated line.
fn tsv_line(out: &mut String, r: &UsageRow) {
    use std::fmt::Write as _;
    for (i, s) in [
        r.request_id.as_str(),
        "",
        &r.developer_id,
        &r.key_id,
        &r.endpoint,
        &r.method,
        &r.model,
        &r.deployment_id,
        &r.provider_id,
    ]
    .iter()
    .enumerate()
    {
        if i == 1 {
            let _ = write!(out, "{}\t", r.ts_ms);
            continue;
        }
        tsv_field(out, s);
        out.push('\t');
    }
    let _ = write!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}\t",
        r.prompt_tokens,
        r.completion_tokens,
        r.cached_tokens,
        r.reasoning_tokens,
        r.cost_nanos,
        r.latency_ms
    );
    match r.ttft_ms {
        Some(t) => {
            let _ = write!(out, "{t}\t");
        }
        None => out.push_str("\\N\t"),
    }
    let _ = write!(
        out,
        "{}\t{}\t{}\t",
        r.status,
        u8::from(r.stream),
        r.attempts
    );
    for (i, s) in [&r.ip, &r.user_agent, &r.error, &r.gateway_id, &r.batch_id]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push('\t');
        }
        tsv_field(out, s);
    }
    out.push('\n');
}

/// Inserts the rows straight into `database.usage_records` over ClickHouse's
/// HTTP interface, `batch` rows per INSERT (TabSeparated).
async fn ingest_clickhouse(
    generator: Arc<Generator>,
    url: &str,
    database: &str,
    rows: u64,
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let client = client()?;
    let next = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let query = format!("INSERT INTO {database}.usage_records ({CH_COLUMNS}) FORMAT TabSeparated");
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (generator, client, url, query) = (
            generator.clone(),
            client.clone(),
            url.trim_end_matches('/').to_string(),
            query.clone(),
        );
        let (next, sent) = (next.clone(), sent.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                if first >= rows {
                    return anyhow::Ok(());
                }
                let last = (first + batch as u64).min(rows);
                let generator = generator.clone();
                let body = tokio::task::spawn_blocking(move || {
                    let mut out = String::with_capacity((last - first) as usize * 260);
                    for i in first..last {
                        tsv_line(&mut out, &generator.row(i));
                    }
                    out
                })
                .await?;
                let resp = client
                    .post(format!("{url}/"))
                    .query(&[("query", query.as_str())])
                    .body(body)
                    .send()
                    .await
                    .context("inserting usage rows into ClickHouse")?;
                let status = resp.status();
                if !status.is_success() {
                    bail!(
                        "ClickHouse answered {status}: {}",
                        resp.text().await.unwrap_or_default().trim()
                    );
                }
                let done = sent.fetch_add(last - first, Ordering::Relaxed) + (last - first);
                progress("insert", done, rows, started);
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// `s` without terminal colour codes (the control plane's log lines).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn psql(server: &str, sql: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("psql")
        .arg(server)
        .args(["-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .context("running psql (apt-get install postgresql-client)")?;
    if !out.status.success() {
        bail!(
            "psql `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The PostgreSQL and ClickHouse databases of a ClickHouse run, dropped
/// when it ends.
struct ProductionDbs {
    pg_server: String,
    pg_name: String,
    ch_url: String,
    ch_name: String,
}

impl ProductionDbs {
    async fn create() -> anyhow::Result<ProductionDbs> {
        let (Some(pg_server), Some(ch_url)) = (procs::database_url(), procs::clickhouse_url())
        else {
            bail!(
                "the clickhouse store needs AIHUB_TEST_DATABASE_URL (PostgreSQL) and AIHUB_TEST_CLICKHOUSE_URL"
            );
        };
        let pg_name = procs::unique_name("aihub_lt_analytics");
        psql(&pg_server, &format!("CREATE DATABASE {pg_name}"))?;
        let ch_name = procs::unique_name("aihub_lt_analytics");
        let dbs = ProductionDbs {
            pg_server,
            pg_name,
            ch_url,
            ch_name,
        };
        clickhouse::apply_schema(&dbs.ch_url, &dbs.ch_name).await?;
        Ok(dbs)
    }

    fn pg_url(&self) -> String {
        procs::postgres_database_url(&self.pg_server, &self.pg_name)
    }

    async fn drop_all(&self) {
        if let Err(e) = clickhouse::drop_database(&self.ch_url, &self.ch_name).await {
            eprintln!(
                "analytics: dropping ClickHouse database {}: {e}",
                self.ch_name
            );
        }
        if let Err(e) = psql(
            &self.pg_server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.pg_name),
        )
        .or_else(|_| {
            psql(
                &self.pg_server,
                &format!("DROP DATABASE IF EXISTS {}", self.pg_name),
            )
        }) {
            eprintln!(
                "analytics: dropping PostgreSQL database {}: {e}",
                self.pg_name
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Accounts and catalog.

/// A real account whose id the rows use.
struct Account {
    rank: usize,
    email: String,
    id: String,
    keys: Vec<String>,
}

/// Registers the models of the data set on two providers (the stub twice),
/// creates the measured developers (with their keys) and an operator.
/// Answers the accounts, the deployments per model, and the operator's email.
fn setup_accounts(
    aihub: &AiHub,
    stub: &Stub,
    developers: usize,
    seed: u64,
) -> anyhow::Result<(Vec<Account>, Vec<[Deployment; 2]>, String)> {
    aihub.admin(&[
        "admin",
        "add-provider",
        "--name",
        "stub-b",
        "--kind",
        "openai",
        "--base-url",
        &stub.base_url(),
        "--api-key",
        "sk-stub",
    ])?;
    for m in &MODELS {
        let (i, o, c) = (
            format!("{}", m.input as f64 / 1000.0),
            format!("{}", m.output as f64 / 1000.0),
            format!("{}", m.cached as f64 / 1000.0),
        );
        for (provider, priority) in [("stub", "0"), ("stub-b", "1")] {
            if m.name == "gpt-4o-mini" && provider == "stub" {
                continue; // AiHub::start added it.
            }
            aihub.admin(&[
                "admin",
                "add-model",
                "--name",
                m.name,
                "--provider",
                provider,
                "--upstream-model",
                "stub-mini",
                "--input-price-per-million",
                &i,
                "--output-price-per-million",
                &o,
                "--cached-price-per-million",
                &c,
                "--priority",
                priority,
            ])?;
        }
    }
    let listed = aihub.admin(&["admin", "list-models"])?;
    let mut deployments = Vec::new();
    for m in &MODELS {
        let model = listed["models"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == m.name))
            .with_context(|| format!("model {} is not listed", m.name))?;
        let mut deps: Vec<(i64, Deployment)> = model["deployments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        (
                            d["priority"].as_i64().unwrap_or(0),
                            (
                                d["id"].as_str().unwrap_or_default().to_string(),
                                d["provider_id"].as_str().unwrap_or_default().to_string(),
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        deps.sort_by_key(|d| d.0);
        let primary = deps.first().map(|d| d.1.clone()).context("no deployment")?;
        let fallback = deps.last().map(|d| d.1.clone()).unwrap_or(primary.clone());
        deployments.push([primary, fallback]);
    }

    let mut accounts = Vec::new();
    for rank in MEASURED_RANKS.into_iter().filter(|r| *r < developers) {
        let email = format!("analytics-rank{}@example.com", rank + 1);
        let dev = aihub.admin(&[
            "admin",
            "create-developer",
            "--email",
            &email,
            "--name",
            &format!("Analytics rank {}", rank + 1),
            "--password",
            PASSWORD,
        ])?;
        let id = dev["id"].as_str().context("developer id")?.to_string();
        let mut keys = Vec::new();
        for k in 0..key_count(seed, rank) {
            let key = aihub.admin(&[
                "admin",
                "create-key",
                "--developer",
                &id,
                "--name",
                &format!("key-{}", k + 1),
            ])?;
            keys.push(key["id"].as_str().context("key id")?.to_string());
        }
        accounts.push(Account {
            rank,
            email,
            id,
            keys,
        });
    }
    let operator = "analytics-operator@example.com".to_string();
    aihub.admin(&[
        "admin",
        "create-operator",
        "--email",
        &operator,
        "--password",
        PASSWORD,
        "--name",
        "Analytics Operator",
    ])?;
    Ok((accounts, deployments, operator))
}

pub(crate) async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
) -> anyhow::Result<String> {
    let resp: Value = client
        .post(format!("{base}/api/v1/developer/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    resp["access_token"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{email}: login failed: {resp}"))
}

// ---------------------------------------------------------------------------
// Measuring.

/// `YYYY-MM-DD` of a day number since 1970-01-01.
fn date_of(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The `from`/`to` query of the last `days` days (UTC), today included.
fn period(days: i64) -> String {
    let today = unix_ms().div_euclid(DAY_MS);
    format!("from={}&to={}", date_of(today - days + 1), date_of(today))
}

/// Routes and their query variants (each with both periods; hourly
/// trends with the 7-day one).
fn routes() -> Vec<(&'static str, bool, &'static str, Vec<&'static str>)> {
    vec![
        (
            "developer/usage (group_by model|key|day)",
            false,
            "/api/v1/developer/usage",
            vec!["group_by=model", "group_by=key", "group_by=day"],
        ),
        (
            "developer/analytics/overview",
            false,
            "/api/v1/developer/analytics/overview",
            vec![""],
        ),
        (
            "developer/analytics/trends (day, by model)",
            false,
            "/api/v1/developer/analytics/trends",
            vec!["interval=day&group_by=model"],
        ),
        (
            "developer/analytics/trends (hour, by model)",
            false,
            "/api/v1/developer/analytics/trends",
            vec!["interval=hour&group_by=model"],
        ),
        (
            "developer/analytics/costs",
            false,
            "/api/v1/developer/analytics/costs",
            vec![""],
        ),
        (
            "developer/analytics/performance",
            false,
            "/api/v1/developer/analytics/performance",
            vec![""],
        ),
        (
            "admin/analytics/overview",
            true,
            "/api/v1/admin/analytics/overview",
            vec![""],
        ),
        (
            "admin/analytics/revenue (group_by day|plan|model)",
            true,
            "/api/v1/admin/analytics/revenue",
            vec!["group_by=day", "group_by=plan", "group_by=model"],
        ),
        (
            "admin/analytics/margin",
            true,
            "/api/v1/admin/analytics/margin",
            vec![""],
        ),
        (
            "admin/analytics/developers",
            true,
            "/api/v1/admin/analytics/developers",
            vec![""],
        ),
        (
            "admin/analytics/models",
            true,
            "/api/v1/admin/analytics/models",
            vec![""],
        ),
        (
            "admin/analytics/providers",
            true,
            "/api/v1/admin/analytics/providers",
            vec![""],
        ),
    ]
}

/// Measures every route: `requests` each, `concurrency` at a time; developer
/// routes cycle over the developers (tokens) and the variants × periods.
async fn measure(
    base: &str,
    developer_tokens: &[String],
    operator_token: &str,
    requests: u64,
    concurrency: usize,
) -> anyhow::Result<Vec<RouteStats>> {
    let client = client()?;
    let periods = [period(7), period(30)];
    let mut out = Vec::new();
    for (name, admin, path, variants) in routes() {
        let mut urls = Vec::new();
        for v in &variants {
            // Hourly trends answer periods of up to 7 days (168 points).
            let hourly = v.contains("interval=hour");
            for p in periods.iter().take(if hourly { 1 } else { periods.len() }) {
                let q = if v.is_empty() {
                    p.clone()
                } else {
                    format!("{v}&{p}")
                };
                urls.push(format!("{base}{path}?{q}"));
            }
        }
        let tokens: Vec<String> = if admin {
            vec![operator_token.to_string()]
        } else {
            developer_tokens.to_vec()
        };
        // Request i: token i % tokens, url (i / tokens) % urls.
        let pick = {
            let (urls, tokens) = (urls.clone(), tokens.clone());
            move |i: u64| {
                let t = (i % tokens.len() as u64) as usize;
                let u = ((i / tokens.len() as u64) % urls.len() as u64) as usize;
                (urls[u].clone(), tokens[t].clone(), t)
            }
        };
        // Warm-up: every (token, url) once; a 404 means the route is not in
        // this build.
        let mut available = true;
        let mut first_error = None;
        for i in 0..(tokens.len() * urls.len()) as u64 {
            let (url, token, _) = pick(i);
            let resp = client.get(&url).bearer_auth(&token).send().await?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if status.as_u16() == 404 {
                available = false;
                first_error = Some(format!(
                    "404 {}",
                    text.chars().take(200).collect::<String>()
                ));
                break;
            }
            if !status.is_success() && first_error.is_none() {
                first_error = Some(format!(
                    "{status} {}",
                    text.chars().take(300).collect::<String>()
                ));
            }
        }
        if !available {
            eprintln!("  {name}: 404 (not in this build)");
            out.push(RouteStats {
                name: name.to_string(),
                admin,
                variants: urls.iter().map(|u| u.replace(base, "")).collect(),
                available,
                latency: Stats::default(),
                heaviest: None,
                others: None,
                first_error,
            });
            continue;
        }
        let errors: Arc<std::sync::Mutex<Option<String>>> = Arc::new(std::sync::Mutex::new(None));
        let (latencies, elapsed) = {
            let (client, pick, errors) = (client.clone(), pick.clone(), errors.clone());
            load::closed_loop(requests, concurrency, move |i| {
                let (url, token, _) = pick(i);
                let request = client.get(url).bearer_auth(token).send();
                let errors = errors.clone();
                async move {
                    match request.await {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        Ok(r) => {
                            let why =
                                format!("{} {}", r.status(), r.text().await.unwrap_or_default());
                            remember(&errors, why);
                            false
                        }
                        Err(e) => {
                            remember(&errors, e.to_string());
                            false
                        }
                    }
                }
            })
            .await
        };
        let split = |keep: &dyn Fn(usize) -> bool| {
            let mut ok = Vec::new();
            let (mut errs, mut total) = (0, 0);
            for (i, l) in latencies.iter().enumerate() {
                if !keep(pick(i as u64).2) {
                    continue;
                }
                total += 1;
                match l {
                    Some(ms) => ok.push(*ms),
                    None => errs += 1,
                }
            }
            load::summarize(ok, errs, total, elapsed)
        };
        let latency = split(&|_| true);
        let (heaviest, others) = if admin {
            (None, None)
        } else {
            (Some(split(&|t| t == 0)), Some(split(&|t| t != 0)))
        };
        let first_error = errors.lock().ok().and_then(|e| e.clone()).or(first_error);
        eprintln!(
            "  {name}: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms{}, {} errors of {}",
            latency.p50_ms,
            latency.p95_ms,
            latency.p99_ms,
            heaviest
                .as_ref()
                .map(|h| format!(" (heaviest developer p95 {:.1} ms)", h.p95_ms))
                .unwrap_or_default(),
            latency.errors,
            latency.total
        );
        if let Some(e) = &first_error {
            eprintln!("    first error: {e}");
        }
        out.push(RouteStats {
            name: name.to_string(),
            admin,
            variants: urls.iter().map(|u| u.replace(base, "")).collect(),
            available,
            latency,
            heaviest,
            others,
            first_error,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The scenario.

/// Runs the scenario on every store of `opts`.
pub async fn run(stub: &Stub, opts: &Options) -> anyhow::Result<Vec<StoreRun>> {
    let mut runs = Vec::new();
    for &store in &opts.stores {
        match run_store(stub, opts, store).await {
            Ok(run) => runs.push(run),
            Err(e) => {
                // Recorded as a MISS; the other store still runs.
                let error = format!("{e:#}").chars().take(1500).collect::<String>();
                eprintln!("analytics ({}): failed: {error}", store.name());
                runs.push(StoreRun {
                    store,
                    rows: opts.rows,
                    developers: opts.developers,
                    seed: opts.seed,
                    measured: Vec::new(),
                    load: LoadStats {
                        rows: opts.rows,
                        stored: 0,
                        seconds: 0.0,
                        rows_per_s: 0.0,
                        batch_rows: opts.batch_rows,
                        concurrency: opts.ingest_concurrency,
                        retries: 0,
                        disk_bytes: Vec::new(),
                    },
                    requests: opts.requests,
                    concurrency: opts.concurrency,
                    routes: Vec::new(),
                    error: Some(error),
                    charger_ran: false,
                });
            }
        }
    }
    Ok(runs)
}

async fn run_store(stub: &Stub, opts: &Options, store: Store) -> anyhow::Result<StoreRun> {
    eprintln!(
        "analytics ({}): {} rows, {} developers…",
        store.name(),
        opts.rows,
        opts.developers
    );
    let dbs = match store {
        Store::Embedded => None,
        Store::ClickHouse => Some(ProductionDbs::create().await?),
    };
    let result = run_on(stub, opts, store, dbs.as_ref()).await;
    if let Some(dbs) = &dbs {
        if opts.keep {
            eprintln!(
                "analytics: kept ClickHouse database {} and PostgreSQL database {} (--analytics-keep)",
                dbs.ch_name, dbs.pg_name
            );
        } else {
            dbs.drop_all().await;
        }
    }
    result
}

async fn run_on(
    stub: &Stub,
    opts: &Options,
    store: Store,
    dbs: Option<&ProductionDbs>,
) -> anyhow::Result<StoreRun> {
    let mut setup = Setup {
        database_url: dbs.map(ProductionDbs::pg_url),
        env: vec![(
            // The charger waits an hour (the longest allowed) after its first round (see the module
            // documentation).
            "AIHUB_BILLING__CHARGE_INTERVAL_MS".into(),
            "3600000".into(),
        )],
        temp_in: opts.temp_in.clone(),
    };
    if let Some(dbs) = dbs {
        setup
            .env
            .push(("AIHUB_CLICKHOUSE__URL".into(), dbs.ch_url.clone()));
        setup
            .env
            .push(("AIHUB_CLICKHOUSE__DATABASE".into(), dbs.ch_name.clone()));
        setup
            .env
            .push(("AIHUB_CLICKHOUSE__TABLE".into(), "usage_records".into()));
    }
    let aihub = AiHub::start_with(stub, opts.threads, &setup).await?;
    let cp_started = Instant::now();
    let (accounts, deployments, operator) =
        setup_accounts(&aihub, stub, opts.developers, opts.seed)?;
    let real: Vec<(usize, String, Vec<String>)> = accounts
        .iter()
        .map(|a| (a.rank, a.id.clone(), a.keys.clone()))
        .collect();
    let generator = Arc::new(Generator::new(
        opts.seed,
        opts.developers,
        30,
        unix_ms(),
        &real,
        deployments,
    ));

    let (stored, seconds, batch_rows, concurrency, retries) = match (store, dbs) {
        (Store::ClickHouse, Some(dbs)) => {
            let batch = opts.batch_rows * 40;
            // Two INSERTs in flight: one generated while the other is stored.
            let concurrency = 2;
            let seconds = ingest_clickhouse(
                generator.clone(),
                &dbs.ch_url,
                &dbs.ch_name,
                opts.rows,
                batch,
                concurrency,
            )
            .await?;
            let n = clickhouse::query(
                &dbs.ch_url,
                &format!("SELECT count() FROM {}.usage_records", dbs.ch_name),
            )
            .await?;
            (
                n.trim().parse().unwrap_or(0),
                seconds,
                batch,
                concurrency,
                0,
            )
        }
        _ => {
            let (stored, seconds, retries) = match ingest_embedded(
                generator.clone(),
                &aihub.cp_url,
                opts.rows,
                opts.batch_rows,
                opts.ingest_concurrency,
                aihub.dir(),
                opts.max_disk_bytes,
            )
            .await
            {
                Ok(done) => done,
                Err(e) => {
                    let warnings: Vec<String> = aihub
                        .control_plane_warnings(3)
                        .iter()
                        .map(|w| strip_ansi(w))
                        .collect();
                    bail!(
                        "{e:#}; the control plane's last warnings: {}",
                        if warnings.is_empty() {
                            "none".to_string()
                        } else {
                            warnings.join(" | ")
                        }
                    );
                }
            };
            (
                stored,
                seconds,
                opts.batch_rows,
                opts.ingest_concurrency,
                retries,
            )
        }
    };
    let rows_per_s = opts.rows as f64 / seconds.max(1e-9);
    eprintln!(
        "analytics ({}): {} rows stored in {seconds:.1} s ({rows_per_s:.0} rows/s)",
        store.name(),
        stored
    );
    let mut disk_bytes = Vec::new();
    match dbs {
        None => {
            // The database and its write-ahead log separately: the log
            // grows while readers keep a checkpoint from completing.
            for file in ["aihub.db", "aihub.db-wal"] {
                let n = std::fs::metadata(aihub.dir().join(file)).map_or(0, |m| m.len());
                disk_bytes.push((format!("sqlite {file}"), n));
            }
            disk_bytes.push(("temp dir total".to_string(), dir_bytes(aihub.dir())));
        }
        Some(dbs) => {
            // Let ClickHouse finish merging what was just inserted (up to 2
            // minutes), as it would have long done in production.
            let quiet_by = Instant::now() + Duration::from_secs(120);
            while Instant::now() < quiet_by {
                let n = clickhouse::query(
                    &dbs.ch_url,
                    &format!(
                        "SELECT count() FROM system.merges WHERE database = '{}'",
                        dbs.ch_name
                    ),
                )
                .await
                .unwrap_or_default();
                if n.trim() == "0" {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let sizes = clickhouse::query(
                &dbs.ch_url,
                &format!(
                    "SELECT table, sum(bytes) FROM system.parts WHERE database = '{}' AND active GROUP BY table ORDER BY table",
                    dbs.ch_name
                ),
            )
            .await
            .unwrap_or_default();
            let mut rollups = 0u64;
            for line in sizes.lines() {
                let mut f = line.split('\t');
                let (Some(table), Some(n)) = (f.next(), f.next().and_then(|n| n.parse().ok()))
                else {
                    continue;
                };
                if table == "usage_records" {
                    disk_bytes.push(("clickhouse usage_records".into(), n));
                } else {
                    rollups += n;
                }
            }
            disk_bytes.push(("clickhouse rollups".into(), rollups));
            if let Ok(n) = psql(
                &dbs.pg_server,
                &format!("SELECT pg_database_size('{}')", dbs.pg_name),
            ) {
                disk_bytes.push(("postgres".into(), n.parse().unwrap_or(0)));
            }
        }
    }
    for (what, n) in &disk_bytes {
        eprintln!("  on disk: {what} {:.1} MB", *n as f64 / 1e6);
    }

    // Sessions last 15 minutes: log in once the data is there.
    let client = client()?;
    let mut tokens = Vec::new();
    for a in &accounts {
        tokens.push(login(&client, &aihub.url, &a.email).await?);
    }
    let operator_token = login(&client, &aihub.url, &operator).await?;
    eprintln!(
        "analytics ({}): {} requests per route, {} at a time, via the gateway…",
        store.name(),
        opts.requests,
        opts.concurrency
    );
    let routes = measure(
        &aihub.url,
        &tokens,
        &operator_token,
        opts.requests,
        opts.concurrency,
    )
    .await?;
    let measured = accounts
        .iter()
        .map(|a| {
            (
                a.rank + 1,
                generator.expected_rows(a.rank, opts.rows),
                a.id.clone(),
            )
        })
        .collect();
    let charger_ran = cp_started.elapsed() > Duration::from_secs(3600);
    drop(aihub);
    Ok(StoreRun {
        store,
        rows: opts.rows,
        developers: opts.developers,
        seed: opts.seed,
        measured,
        load: LoadStats {
            rows: opts.rows,
            stored,
            seconds,
            rows_per_s,
            batch_rows,
            concurrency,
            retries,
            disk_bytes,
        },
        requests: opts.requests,
        concurrency: opts.concurrency,
        routes,
        error: None,
        charger_ran,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator() -> Generator {
        Generator::new(
            7,
            10_000,
            30,
            1_764_000_000_000,
            &[(0, "dev_real".into(), vec!["key_real".into()])],
            Vec::new(),
        )
    }

    #[test]
    fn rows_are_deterministic_and_plausible() {
        let g = generator();
        assert_eq!(g.row(12_345), generator().row(12_345));
        let rows: Vec<UsageRow> = (0..50_000).map(|i| g.row(i)).collect();
        let errors = rows.iter().filter(|r| r.status >= 400).count() as f64 / rows.len() as f64;
        assert!((0.015..0.025).contains(&errors), "error share {errors}");
        let heaviest =
            rows.iter().filter(|r| r.developer_id == "dev_real").count() as f64 / rows.len() as f64;
        assert!(
            (0.05..0.08).contains(&heaviest),
            "heaviest share {heaviest}"
        );
        assert!(rows
            .iter()
            .all(|r| r.ts_ms < 1_764_000_000_000 && r.ts_ms >= 1_764_000_000_000 - 30 * DAY_MS));
        assert!(rows.iter().any(|r| r.ttft_ms.is_some() && r.stream));
        assert!(rows.iter().any(|r| r.attempts == 2 && r.status == 200));
        assert!(rows
            .iter()
            .filter(|r| r.developer_id == "dev_real")
            .all(|r| r.key_id == "key_real"));
        assert!(rows
            .iter()
            .filter(|r| r.status == 200)
            .all(|r| r.cost_nanos > 0 || r.prompt_tokens == 0));
        let ids: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids.len(), rows.len());
    }

    #[test]
    fn zipf_shares() {
        let g = generator();
        let top = g.expected_rows(0, 10_000_000);
        assert!((500_000..800_000).contains(&top), "{top}");
        assert!(g.expected_rows(9_999, 10_000_000) > 100);
    }

    #[test]
    fn tsv_has_every_column() {
        let row = generator().row(3);
        let mut line = String::new();
        tsv_line(&mut line, &row);
        assert_eq!(
            line.trim_end_matches('\n').split('\t').count(),
            CH_COLUMNS.split(',').count()
        );
    }

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_417), "2025-11-25");
        assert_eq!(date_of(11_016), "2000-02-29");
    }
}

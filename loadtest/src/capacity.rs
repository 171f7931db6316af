//! The business plan's capacity (issue 12): 10,000+ developer accounts
//! (1,000,000 as a stretch), 100,000+ requests a day, 1,000+ concurrent
//! batch tasks, 10,000+ webhook events a minute (100,000 as a stretch),
//! each measured on a fresh AI Hub (SQLite) with its p95 and PASS or MISS.
//!
//! - **Accounts.** The accounts are seeded in bulk: one template account
//!   is created by the product (`aihub admin create-developer --password`,
//!   so its password hash, plan, subscription and limits are the real
//!   ones), then, with the control plane stopped, `sqlite3` copies it into
//!   N rows of `developers` (email verified), `subscriptions` and
//!   `plan_changes`, and inserts the API keys (secrets generated and
//!   hashed by `aihub_contract::keys`, as the gateway looks them up) with
//!   one `config_changes` row each, so gateways fetch them through the
//!   change stream once the control plane is back. Then, with that many
//!   accounts present, the developer management API (profile, keys list,
//!   key creation, usage summary) for developers spread over the whole
//!   population and the operator's developer list, search and detail are
//!   measured through the gateway, open loop; fresh signups and logins
//!   (argon2) are reported next to them.
//! - **Requests a day.** N requests through the gateway at a fixed rate
//!   (compressed time), spread over the seeded keys with Zipf-like shares:
//!   70 % chat, 20 % streamed chat (read to the end), 10 % embeddings,
//!   against the stand-in provider; the same mix is sent directly to the
//!   provider for the overhead. Then every answer's `x-request-id` is
//!   looked up in `usage_records` once the gateway's spool is empty (a
//!   missing or an extra row is a MISS), and `aihub admin billing
//!   reconcile` must agree.
//! - **Concurrent batch tasks.** `batch_generate` tasks created by many
//!   developers at once (open loop, their access tokens) with the batch
//!   worker running at the product's settings; the tasks pending or
//!   running are counted in the database while it runs (peak), then until
//!   every task is final.
//! - **Webhooks.** The webhook scenario ([`crate::webhooks`]) at the
//!   business plan's 10,000 a minute, and at 100,000 a minute (the full
//!   run reuses its webhook row's figures for that one).

use crate::analytics::{self, Rng, PASSWORD};
use crate::batches::{client, remember, task_body};
use crate::load::{self, Stats};
use crate::report::{verdict, Row, Verdict};
use crate::systems::{AiHub, Setup, Stub};
use crate::webhooks::{self, now_ms as unix_ms, WebhookStats};
use aihub_contract::keys::KeySecret;
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// DESIGN §3: developer management API, p95 (brief: 200 ms).
const MANAGEMENT_P95_MS: f64 = 20.0;
/// DESIGN §3: async task creation, p95 (brief: 100 ms).
const TASK_CREATE_P95_MS: f64 = 10.0;
/// DESIGN §3: the gateway's overhead (p99 there; p95 of a mixed replay here).
const GATEWAY_OVERHEAD_MS: f64 = 1.0;
/// The business plan's figures.
const PLAN_ACCOUNTS: u64 = 10_000;
const PLAN_REQUESTS_A_DAY: u64 = 100_000;
const PLAN_TASKS: u64 = 1_000;
const PLAN_WEBHOOKS_PER_MIN: f64 = 10_000.0;
const STRETCH_WEBHOOKS_PER_MIN: f64 = 100_000.0;
/// Brief: webhook sending p95 under 1 s; DESIGN: 200 ms.
const BRIEF_WEBHOOK_P95_MS: f64 = 1_000.0;
const DESIGN_WEBHOOK_P95_MS: f64 = 200.0;
/// Seeded ids: the prefix, then 28 hex digits (32 like the product's).
const DEV_PREFIX: &str = "dev_00ca";
const KEY_PREFIX: &str = "key_00ca";
const EMBED_MODEL: &str = "text-embedding-3-small";
const EMBED_BODY: &str =
    r#"{"model":"text-embedding-3-small","input":"The quick brown fox jumps over the lazy dog"}"#;

/// A capacity scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Accounts and the management API with them.
    Accounts,
    /// A day's requests in compressed time.
    Requests,
    /// Concurrent batch tasks.
    Tasks,
    /// Webhook events a minute.
    Webhooks,
}

impl Scenario {
    /// Parses a `--capacity-scenarios` entry.
    pub fn parse(s: &str) -> anyhow::Result<Scenario> {
        Ok(match s.trim() {
            "accounts" => Scenario::Accounts,
            "requests" => Scenario::Requests,
            "tasks" => Scenario::Tasks,
            "webhooks" => Scenario::Webhooks,
            other => {
                bail!("--capacity-scenarios: expected accounts, requests, tasks or webhooks, got '{other}'")
            }
        })
    }
}

/// The phase's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Which scenarios run.
    pub scenarios: Vec<Scenario>,
    /// Developer accounts seeded.
    pub accounts: u64,
    /// API keys seeded (spread over the accounts).
    pub keys: u64,
    /// Developers whose tokens the management API is measured with.
    pub mgmt_developers: u64,
    /// Requests per management route.
    pub mgmt_requests: u64,
    /// Requests per second per management route (open loop).
    pub mgmt_rate: u32,
    /// Fresh signups (and their logins) measured.
    pub signups: u64,
    /// Requests replayed through the gateway.
    pub requests: u64,
    /// Their rate per second.
    pub rate: u32,
    /// Tasks created.
    pub tasks: u64,
    /// Tasks created per second (open loop).
    pub task_rate: u32,
    /// Prompts per task.
    pub task_prompts: usize,
    /// Developers creating them.
    pub task_developers: u64,
    /// Longest wait for every task to be final.
    pub task_timeout_s: u64,
    /// Key updates per second of the 10,000-a-minute webhook run (one endpoint).
    pub webhook_business_rate: u32,
    /// Key updates per second of the 100,000-a-minute run.
    pub webhook_rate: u32,
    /// Endpoints of the 100,000-a-minute run.
    pub webhook_endpoints: u32,
    /// Seconds of each webhook run.
    pub webhook_seconds: u64,
    /// Gateway worker threads.
    pub threads: usize,
    /// Seed of the key and mix choices.
    pub seed: u64,
    /// `oha` (the webhook scenario's load).
    #[serde(skip)]
    pub oha: PathBuf,
    /// Where the temporary directory goes.
    #[serde(skip)]
    pub temp_in: Option<PathBuf>,
}

/// Latency of one management route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteStats {
    /// `METHOD /path`.
    pub name: String,
    /// An operator's route.
    pub operator: bool,
    /// Open loop, from each scheduled send to the whole answer.
    pub latency: Stats,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// How the accounts were seeded.
#[derive(Debug, Clone, Serialize)]
pub struct Seeded {
    /// Developer accounts seeded (besides the template and test accounts).
    pub accounts: u64,
    /// API keys seeded.
    pub keys: u64,
    /// Seconds the bulk insert took (control plane stopped).
    pub seconds: f64,
    /// Seconds until the gateway authenticated the last seeded key.
    pub gateway_s: f64,
    /// The SQLite database's size after seeding.
    pub database_bytes: u64,
}

/// The management API with the accounts present.
#[derive(Debug, Clone, Serialize)]
pub struct AccountsStats {
    /// Developers logged in and cycled over (spread over the population).
    pub developers: u64,
    /// Per route.
    pub routes: Vec<RouteStats>,
    /// Fresh signups, closed loop, two at a time.
    pub signup: Stats,
    /// Their logins, closed loop, two at a time.
    pub login: Stats,
}

/// The day's requests replayed.
#[derive(Debug, Clone, Serialize)]
pub struct RequestsStats {
    /// Requests sent.
    pub requests: u64,
    /// Per second.
    pub rate: u32,
    /// Keys used.
    pub keys: u64,
    /// Requests per kind (chat, stream, embeddings).
    pub mix: BTreeMap<String, u64>,
    /// Through the gateway (to the last byte).
    pub latency: Stats,
    /// The same mix sent straight to the stand-in provider.
    pub direct: Stats,
    /// p95 through the gateway minus p95 direct.
    pub overhead_p95_ms: f64,
    /// p99 through the gateway minus p99 direct.
    pub overhead_p99_ms: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Answers that carried an `x-request-id` (successful ones).
    pub request_ids: u64,
    /// Of those, ids without a usage row.
    pub missing_rows: u64,
    /// Usage rows of the seeded keys during the replay.
    pub rows_for_keys: u64,
    /// Rows beyond one per answered id (a doubled or unknown row).
    pub extra_rows: i64,
    /// Requests the billing charger counted for the seeded developers
    /// during the replay (after minus before).
    pub charged_requests: Option<u64>,
    /// Seconds from the last answer until every row was stored.
    pub drain_s: f64,
    /// `aihub admin billing reconcile` agreed.
    pub reconcile_ok: bool,
    /// Its last report.
    pub reconcile: Value,
    /// Seconds until it agreed (the charger catching up), or gave up.
    pub reconcile_s: f64,
}

/// The concurrent tasks.
#[derive(Debug, Clone, Serialize)]
pub struct TasksStats {
    /// Tasks created.
    pub tasks: u64,
    /// Developers creating them.
    pub developers: u64,
    /// Prompts per task.
    pub prompts: usize,
    /// Created per second (open loop).
    pub rate: u32,
    /// Creation, from each scheduled send to the 201.
    pub create: Stats,
    /// The first failed creation.
    pub first_error: Option<String>,
    /// Most tasks pending or running at once (counted every 100 ms).
    pub peak_concurrent: u64,
    /// Seconds from the first creation until every task was final.
    pub to_final_s: f64,
    /// Final statuses.
    pub statuses: BTreeMap<String, u64>,
    /// Why the first failed task failed.
    pub failed_error: Option<String>,
    /// The batch worker's settings.
    pub worker: &'static str,
}

/// Everything the phase measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CapacityRun {
    /// The settings.
    pub options: Option<Options>,
    /// The bulk seeding.
    pub seeded: Option<Seeded>,
    /// Accounts scenario.
    pub accounts: Option<AccountsStats>,
    /// Requests scenario.
    pub requests: Option<RequestsStats>,
    /// Tasks scenario.
    pub tasks: Option<TasksStats>,
    /// Webhooks at 10,000 a minute.
    pub webhooks_business: Option<WebhookStats>,
    /// Webhooks at 100,000 a minute.
    pub webhooks_stretch: Option<WebhookStats>,
    /// The stretch figures are the full run's webhook row's.
    pub webhooks_stretch_reused: bool,
    /// Scenarios that failed, and why.
    pub errors: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// Helpers.

/// Runs SQL (and `sqlite3` dot-commands) on a SQLite database with the
/// `sqlite3` shell; answers its output (rows one a line, columns `|`).
async fn sqlite(db: &Path, sql: &str) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sqlite3")
        .arg("-batch")
        .arg("-bail")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running sqlite3 (apt-get install sqlite3)")?;
    let mut stdin = child.stdin.take().context("sqlite3's stdin")?;
    stdin
        .write_all(format!(".timeout 30000\n{sql}\n").as_bytes())
        .await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!("sqlite3: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The numbers of `sqlite3` output, one a line.
fn numbers(out: &str) -> Vec<u64> {
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn dev_id(i: u64) -> String {
    format!("{DEV_PREFIX}{i:028x}")
}

fn dev_email(i: u64) -> String {
    format!("capacity-{i}@example.com")
}

/// Reads a whole answer; `None` (the failure remembered) unless it is 2xx.
async fn answer(
    sent: reqwest::Result<reqwest::Response>,
    first_error: &Mutex<Option<String>>,
) -> Option<(reqwest::header::HeaderMap, axum::body::Bytes)> {
    match sent {
        Ok(r) if r.status().is_success() => {
            let headers = r.headers().clone();
            match r.bytes().await {
                Ok(b) => Some((headers, b)),
                Err(e) => {
                    remember(first_error, e.to_string());
                    None
                }
            }
        }
        Ok(r) => {
            let why = format!("{} {}", r.status(), r.text().await.unwrap_or_default());
            remember(first_error, why);
            None
        }
        Err(e) => {
            remember(first_error, e.to_string());
            None
        }
    }
}

/// Open loop over `n` requests at `rate` per second: `make(i)` builds
/// request i. Answers the latency and the first failure.
async fn measure<F>(rate: u32, n: u64, make: F) -> (Stats, Option<String>)
where
    F: Fn(u64) -> reqwest::RequestBuilder,
{
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let duration = Duration::from_secs_f64(n as f64 / f64::from(rate.max(1)));
    let stats = load::open_loop(rate, duration, |i| {
        let sent = make(i).send();
        let first_error = first_error.clone();
        async move { answer(sent.await, &first_error).await.is_some() }
    })
    .await;
    let first = first_error.lock().ok().and_then(|e| e.clone());
    (stats, first)
}

// ---------------------------------------------------------------------------
// Seeding.

/// A seeded API key.
struct SeededKey {
    /// Index of its owner among the seeded accounts.
    owner: u64,
    secret: String,
}

/// Creates the template account, stops the control plane, copies the
/// template into `accounts` accounts and inserts `keys` keys, starts the
/// control plane again and waits until the gateway knows the last key.
async fn seed(
    aihub: &mut AiHub,
    db: &Path,
    accounts: u64,
    keys: u64,
) -> anyhow::Result<(Seeded, Vec<SeededKey>)> {
    let template = aihub.admin(&[
        "admin",
        "create-developer",
        "--email",
        "capacity-template@example.com",
        "--name",
        "Capacity Template",
        "--password",
        PASSWORD,
        // Far above what the load sends: the gateway enforces account limits.
        "--rate-limit",
        "100000000",
        "--quota-limit",
        "1000000000000",
    ])?;
    let template = template["id"]
        .as_str()
        .context("template developer id")?
        .to_string();
    let keys = keys.min(accounts);
    let now = unix_ms();
    let mut seeded = Vec::with_capacity(keys as usize);
    let mut key_rows = String::new();
    for j in 0..keys {
        let owner = j * accounts / keys.max(1);
        let secret = KeySecret::generate();
        let _ = write!(
            key_rows,
            "{}('{KEY_PREFIX}{j:028x}', '{}', 'capacity-{j}', '{}', '{}', 1, NULL, {now}, {now})",
            if j == 0 { "" } else { ",\n" },
            dev_id(owner),
            secret.display_prefix(),
            secret.hash()
        );
        seeded.push(SeededKey {
            owner,
            secret: secret.expose().to_string(),
        });
    }
    let keys_sql = if keys == 0 {
        String::new()
    } else {
        format!(
            "INSERT INTO api_keys (id, developer_id, name, display_prefix, secret_hash, enabled, expires_at, created_at, updated_at) VALUES\n{key_rows};\n\
             INSERT INTO config_changes (entity, entity_id, created_at) SELECT 'key', id, created_at FROM api_keys WHERE id GLOB '{KEY_PREFIX}*';\n"
        )
    };
    let sql = format!(
        "BEGIN;\n\
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {accounts})\n\
         INSERT INTO developers (id, email, password_hash, full_name, developer_type, role, api_quota_limit, api_rate_limit, is_active, email_verified, language, created_at, updated_at)\n\
         SELECT printf('{DEV_PREFIX}%028x', i), printf('capacity-%d@example.com', i), t.password_hash, printf('Capacity Developer %d', i), 'individual', 'developer', t.api_quota_limit, t.api_rate_limit, 1, 1, 'en', t.created_at, t.created_at FROM n, developers t WHERE t.id = '{template}';\n\
         INSERT INTO subscriptions (developer_id, plan_id, updated_at) SELECT d.id, s.plan_id, s.updated_at FROM developers d, subscriptions s WHERE d.id GLOB '{DEV_PREFIX}*' AND s.developer_id = '{template}';\n\
         INSERT INTO plan_changes (id, developer_id, plan_id, price_nanos, effective_at, created_at) SELECT 'pch_' || substr(d.id, 5), d.id, p.plan_id, p.price_nanos, p.effective_at, p.created_at FROM developers d, plan_changes p WHERE d.id GLOB '{DEV_PREFIX}*' AND p.developer_id = '{template}';\n\
         {keys_sql}\
         COMMIT;\n\
         SELECT count(*) FROM developers WHERE id GLOB '{DEV_PREFIX}*';\n\
         SELECT count(*) FROM subscriptions WHERE developer_id GLOB '{DEV_PREFIX}*';\n"
    );
    eprintln!(
        "capacity: seeding {accounts} developer accounts and {keys} keys (control plane stopped)…"
    );
    aihub.stop_control_plane()?;
    let started = Instant::now();
    let out = sqlite(db, &sql).await;
    let seconds = started.elapsed().as_secs_f64();
    aihub.start_control_plane(&[]).await?;
    let counts = numbers(&out?);
    anyhow::ensure!(
        counts == [accounts, accounts],
        "seeding: expected {accounts} accounts with subscriptions, sqlite3 counted {counts:?}"
    );
    // The gateway fetches the keys through the change stream.
    let started = Instant::now();
    if let Some(last) = seeded.last() {
        let client = client()?;
        loop {
            let r = client
                .post(format!("{}/v1/chat/completions", aihub.url))
                .bearer_auth(&last.secret)
                .header("content-type", "application/json")
                .body(crate::CHAT_BODY)
                .send()
                .await;
            if matches!(&r, Ok(r) if r.status().is_success()) {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the gateway did not accept the last seeded key within 60 s: {r:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let database_bytes = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    Ok((
        Seeded {
            accounts,
            keys,
            seconds,
            gateway_s: started.elapsed().as_secs_f64(),
            database_bytes,
        },
        seeded,
    ))
}

/// Logs in each of `emails`, one after the other.
async fn login_all(
    client: &reqwest::Client,
    base: &str,
    emails: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(emails.len());
    for email in emails {
        tokens.push(analytics::login(client, base, email).await?);
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------
// Accounts.

async fn accounts(aihub: &AiHub, opts: &Options) -> anyhow::Result<AccountsStats> {
    let client = client()?;
    let base = aihub.url.clone();
    let n = opts.accounts.max(1);
    let m = opts.mgmt_developers.clamp(1, n);
    // Spread over the population: the first, the last and between.
    let picked: Vec<u64> = (0..m).map(|k| k * (n - 1) / (m - 1).max(1)).collect();
    let emails: Vec<String> = picked.iter().map(|&i| dev_email(i)).collect();
    eprintln!("capacity: logging in {m} of the {n} developers and an operator…");
    let tokens = Arc::new(login_all(&client, &base, &emails).await?);
    let operator = "capacity-operator@example.com";
    aihub.admin(&[
        "admin",
        "create-operator",
        "--email",
        operator,
        "--password",
        PASSWORD,
        "--name",
        "Capacity Operator",
    ])?;
    let op_token = analytics::login(&client, &base, operator).await?;

    type Make = Box<dyn Fn(u64) -> reqwest::RequestBuilder>;
    let seed = opts.seed;
    let dev_get = |path: &'static str| -> Make {
        let (client, base, tokens) = (client.clone(), base.clone(), tokens.clone());
        Box::new(move |i| {
            client
                .get(format!("{base}{path}"))
                .bearer_auth(&tokens[(i % tokens.len() as u64) as usize])
        })
    };
    let op_get = |url: Box<dyn Fn(u64) -> String>| -> Make {
        let (client, base, token) = (client.clone(), base.clone(), op_token.clone());
        Box::new(move |i| client.get(format!("{base}{}", url(i))).bearer_auth(&token))
    };
    let random = move |i: u64| Rng::new(seed, i).next() % n;
    let create_key: Make = {
        let (client, base, tokens) = (client.clone(), base.clone(), tokens.clone());
        Box::new(move |i| {
            client
                .post(format!("{base}/api/v1/developer/keys"))
                .bearer_auth(&tokens[(i % tokens.len() as u64) as usize])
                .header("idempotency-key", format!("capacity-key-{i}"))
                .json(&json!({"name": format!("capacity mgmt {i}")}))
        })
    };
    let routes: Vec<(&str, bool, Make)> = vec![
        (
            "GET /api/v1/developer/profile",
            false,
            dev_get("/api/v1/developer/profile"),
        ),
        (
            "GET /api/v1/developer/keys",
            false,
            dev_get("/api/v1/developer/keys"),
        ),
        ("POST /api/v1/developer/keys", false, create_key),
        (
            "GET /api/v1/developer/usage",
            false,
            dev_get("/api/v1/developer/usage"),
        ),
        (
            "GET /api/v1/admin/developers (first page)",
            true,
            op_get(Box::new(|_| {
                "/api/v1/admin/developers?limit=20".to_string()
            })),
        ),
        (
            "GET /api/v1/admin/developers?q= (search by email)",
            true,
            op_get(Box::new(move |i| {
                format!(
                    "/api/v1/admin/developers?limit=20&q=capacity-{}%40",
                    random(i)
                )
            })),
        ),
        (
            "GET /api/v1/admin/developers/{id}",
            true,
            op_get(Box::new(move |i| {
                format!("/api/v1/admin/developers/{}", dev_id(random(i)))
            })),
        ),
    ];
    let mut out = Vec::new();
    for (name, operator, make) in routes {
        // Warm the route (connections, caches); the warm-up keys are created too.
        for w in 0..5 {
            if let Ok(r) = make(u64::MAX - w).send().await {
                let _ = r.bytes().await;
            }
        }
        let (latency, first_error) = measure(opts.mgmt_rate, opts.mgmt_requests, &make).await;
        eprintln!(
            "  {name}: p50 {:.1} ms, p95 {:.1} ms, {} errors of {}{}",
            latency.p50_ms,
            latency.p95_ms,
            latency.errors,
            latency.total,
            first_error
                .as_ref()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default()
        );
        out.push(RouteStats {
            name: name.to_string(),
            operator,
            latency,
            first_error,
        });
    }

    // Fresh signups and their logins (argon2 hashing and verifying).
    eprintln!("capacity: {} fresh signups and logins…", opts.signups);
    let signup_email = |i: u64| format!("capacity-signup-{i}@example.com");
    let (lat, secs) = {
        let (client, base) = (client.clone(), base.clone());
        load::closed_loop(opts.signups, 2, move |i| {
            let sent = client
                .post(format!("{base}/api/v1/developer/register"))
                .json(&json!({"email": signup_email(i), "password": PASSWORD, "full_name": "Capacity Signup", "developer_type": "individual"}))
                .send();
            async move { matches!(sent.await, Ok(r) if r.status().is_success()) }
        })
        .await
    };
    let signup = summary(lat, secs);
    let (lat, secs) = {
        let (client, base) = (client.clone(), base.clone());
        load::closed_loop(opts.signups, 2, move |i| {
            let sent = client
                .post(format!("{base}/api/v1/developer/login"))
                .json(&json!({"email": signup_email(i), "password": PASSWORD}))
                .send();
            async move { matches!(sent.await, Ok(r) if r.status().is_success()) }
        })
        .await
    };
    let login = summary(lat, secs);
    Ok(AccountsStats {
        developers: m,
        routes: out,
        signup,
        login,
    })
}

/// [`load::summarize`] of a [`load::closed_loop`] run.
fn summary(latencies: Vec<Option<f64>>, seconds: f64) -> Stats {
    let total = latencies.len() as u64;
    let ok: Vec<f64> = latencies.into_iter().flatten().collect();
    let errors = total - ok.len() as u64;
    load::summarize(ok, errors, total, seconds)
}

// ---------------------------------------------------------------------------
// Requests a day.

/// Kind of request i of the mix: 70 % chat, 20 % streamed, 10 % embeddings.
fn kind_of(seed: u64, i: u64) -> &'static str {
    match Rng::new(seed ^ 0x6b69_6e64, i).next() % 100 {
        0..=69 => "chat",
        70..=89 => "stream",
        _ => "embeddings",
    }
}

fn request_for(
    client: &reqwest::Client,
    base: &str,
    kind: &str,
    bearer: Option<&str>,
) -> reqwest::RequestBuilder {
    let (path, body) = match kind {
        "stream" => ("/chat/completions", crate::STREAM_BODY),
        "embeddings" => ("/embeddings", EMBED_BODY),
        _ => ("/chat/completions", crate::CHAT_BODY),
    };
    let mut r = client
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    r
}

async fn requests(
    aihub: &AiHub,
    stub: &Stub,
    db: &Path,
    keys: &[SeededKey],
    opts: &Options,
) -> anyhow::Result<RequestsStats> {
    anyhow::ensure!(!keys.is_empty(), "no seeded keys (--capacity-keys 0)");
    let client = client()?;
    let seed = opts.seed;
    let cdf = analytics::zipf_cdf(keys.len());
    let n_keys = keys.len();
    let key_of = move |i: u64| {
        let u = Rng::new(seed, i).unit();
        cdf.partition_point(|c| *c < u).min(n_keys - 1)
    };
    let mut mix = BTreeMap::new();
    for i in 0..opts.requests {
        *mix.entry(kind_of(seed, i).to_string()).or_insert(0) += 1;
    }

    // The same mix straight to the provider, a fifth as long.
    let direct_n = (opts.requests / 5).max(u64::from(opts.rate) * 5);
    eprintln!(
        "capacity: {direct_n} requests of the mix straight to the stand-in provider at {}/s…",
        opts.rate
    );
    let (direct, _) = {
        let (client, base) = (client.clone(), stub.base_url());
        measure(opts.rate, direct_n, move |i| {
            request_for(&client, &base, kind_of(seed, i), None)
        })
        .await
    };

    let charged_sql = format!(
        "SELECT COALESCE(SUM(requests), 0) FROM billing_usage WHERE developer_id GLOB '{DEV_PREFIX}*';"
    );
    let charged_before = sqlite(db, &charged_sql)
        .await
        .ok()
        .and_then(|o| numbers(&o).first().copied());
    eprintln!(
        "capacity: replaying {} requests at {}/s over {} keys through the gateway…",
        opts.requests,
        opts.rate,
        keys.len()
    );
    let ids: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(Vec::with_capacity(opts.requests as usize)));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let start_ms = unix_ms();
    let duration = Duration::from_secs_f64(opts.requests as f64 / f64::from(opts.rate.max(1)));
    let latency = {
        let base = format!("{}/v1", aihub.url);
        let secrets: Vec<&str> = keys.iter().map(|k| k.secret.as_str()).collect();
        load::open_loop(opts.rate, duration, |i| {
            let key = secrets[key_of(i)];
            let sent = request_for(&client, &base, kind_of(seed, i), Some(key)).send();
            let (ids, first_error) = (ids.clone(), first_error.clone());
            async move {
                let Some((headers, _)) = answer(sent.await, &first_error).await else {
                    return false;
                };
                if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
                    if let Ok(mut ids) = ids.lock() {
                        ids.push(id.to_string());
                    }
                }
                true
            }
        })
        .await
    };
    let end_ms = unix_ms();
    let first_error = first_error.lock().ok().and_then(|e| e.clone());
    eprintln!(
        "  p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} errors of {}{}",
        latency.p50_ms,
        latency.p95_ms,
        latency.p99_ms,
        latency.errors,
        latency.total,
        first_error
            .as_ref()
            .map(|e| format!("; first: {e}"))
            .unwrap_or_default()
    );
    let ids = ids.lock().map(|v| v.clone()).unwrap_or_default();

    // Every answer's usage row, once the spool has shipped.
    eprintln!(
        "capacity: waiting for the usage rows of {} answers…",
        ids.len()
    );
    let drained = Instant::now();
    let mut sql = String::from("CREATE TEMP TABLE sent (id TEXT PRIMARY KEY);\n");
    for chunk in ids.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .filter(|id| !id.contains('\''))
            .map(|id| format!("('{id}')"))
            .collect();
        if !values.is_empty() {
            let _ = writeln!(
                sql,
                "INSERT OR IGNORE INTO sent VALUES {};",
                values.join(",")
            );
        }
    }
    let _ = write!(
        sql,
        "SELECT count(*) FROM sent s WHERE NOT EXISTS (SELECT 1 FROM usage_records u WHERE u.request_id = s.id);\n\
         SELECT count(*) FROM usage_records WHERE key_id GLOB '{KEY_PREFIX}*' AND ts_ms >= {} AND ts_ms <= {};\n",
        start_ms - 1_000,
        end_ms + 1_000
    );
    let (mut missing, mut rows, mut last_missing, mut moved) =
        (u64::MAX, 0, u64::MAX, Instant::now());
    loop {
        let depth =
            crate::report::gateway_metric(&aihub.ops_url, "aihub_gateway_spool_depth_rows").await;
        if depth == Some(0.0) {
            let counts = numbers(&sqlite(db, &sql).await?);
            if let [m, r] = counts[..] {
                (missing, rows) = (m, r);
            }
            if missing == 0 {
                break;
            }
        }
        if missing != last_missing {
            (last_missing, moved) = (missing, Instant::now());
        } else if moved.elapsed() > Duration::from_secs(30) {
            eprintln!("  {missing} rows still missing after 30 s without progress");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_s = drained.elapsed().as_secs_f64();

    // The charger catches up; then reconciliation must agree.
    eprintln!("capacity: aihub admin billing reconcile…");
    let started = Instant::now();
    let (reconcile_ok, reconcile) = loop {
        let (ok, report, stderr) = aihub.admin_report(&["admin", "billing", "reconcile"])?;
        if ok || started.elapsed() > Duration::from_secs(180) {
            let report = if report.is_null() {
                json!({"stderr": stderr.trim()})
            } else {
                report
            };
            break (ok, report);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let reconcile_s = started.elapsed().as_secs_f64();
    let charged_after = sqlite(db, &charged_sql)
        .await
        .ok()
        .and_then(|o| numbers(&o).first().copied());
    let charged = match (charged_before, charged_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    let found = ids.len() as u64 - missing.min(ids.len() as u64);
    Ok(RequestsStats {
        requests: opts.requests,
        rate: opts.rate,
        keys: keys.len() as u64,
        mix,
        overhead_p95_ms: latency.p95_ms - direct.p95_ms,
        overhead_p99_ms: latency.p99_ms - direct.p99_ms,
        latency,
        direct,
        first_error,
        request_ids: ids.len() as u64,
        missing_rows: missing.min(ids.len() as u64),
        rows_for_keys: rows,
        extra_rows: rows as i64 - found as i64,
        charged_requests: charged,
        drain_s,
        reconcile_ok,
        reconcile,
        reconcile_s,
    })
}

// ---------------------------------------------------------------------------
// Concurrent tasks.

/// Tasks of the seeded developers per status.
async fn task_statuses(db: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let out = sqlite(
        db,
        &format!("SELECT status, count(*) FROM tasks WHERE developer_id GLOB '{DEV_PREFIX}*' GROUP BY status;"),
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (status, n) = l.split_once('|')?;
            Some((status.to_string(), n.trim().parse().ok()?))
        })
        .collect())
}

fn unfinished(statuses: &BTreeMap<String, u64>) -> u64 {
    ["pending", "running"]
        .iter()
        .filter_map(|s| statuses.get(*s))
        .sum()
}

async fn tasks(
    aihub: &AiHub,
    db: &Path,
    keys: &[SeededKey],
    opts: &Options,
) -> anyhow::Result<TasksStats> {
    anyhow::ensure!(!keys.is_empty(), "no seeded keys (--capacity-keys 0)");
    let client = client()?;
    // Developers with a key (tasks run as one of their keys), spread.
    let d = opts.task_developers.clamp(1, keys.len() as u64);
    let emails: Vec<String> = (0..d)
        .map(|t| dev_email(keys[(t * keys.len() as u64 / d) as usize].owner))
        .collect();
    eprintln!("capacity: logging in {d} developers for the tasks…");
    let tokens = Arc::new(login_all(&client, &aihub.url, &emails).await?);
    let url = format!("{}/api/v1/developer/tasks", aihub.url);
    let body = serde_json::to_vec(&task_body(opts.task_prompts))?;

    // Count pending and running tasks while they are created and run.
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (peak, stop, db) = (peak.clone(), stop.clone(), db.to_path_buf());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = task_statuses(&db).await {
                    peak.fetch_max(unfinished(&s), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    eprintln!(
        "capacity: {} batch_generate tasks × {} prompts by {d} developers at {}/s…",
        opts.tasks, opts.task_prompts, opts.task_rate
    );
    let started = Instant::now();
    let (create, first_error) = measure(opts.task_rate, opts.tasks, |i| {
        client
            .post(&url)
            .bearer_auth(&tokens[(i % tokens.len() as u64) as usize])
            .header("content-type", "application/json")
            .header("idempotency-key", format!("capacity-task-{i}"))
            .body(body.clone())
    })
    .await;
    eprintln!(
        "  created: p50 {:.2} ms, p95 {:.2} ms, {} errors of {}{}",
        create.p50_ms,
        create.p95_ms,
        create.errors,
        create.total,
        first_error
            .as_ref()
            .map(|e| format!("; first: {e}"))
            .unwrap_or_default()
    );
    // Until every task is final, or nothing moves for two minutes.
    let deadline = started + Duration::from_secs(opts.task_timeout_s);
    let (mut last, mut moved) = (u64::MAX, Instant::now());
    let statuses = loop {
        let s = task_statuses(db).await?;
        let left = unfinished(&s);
        peak.fetch_max(left, Ordering::Relaxed);
        if left == 0 {
            break s;
        }
        if left != last {
            (last, moved) = (left, Instant::now());
        }
        if Instant::now() > deadline || moved.elapsed() > Duration::from_secs(120) {
            eprintln!("  {left} tasks still pending or running; giving up");
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let to_final_s = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = poller.await;
    let failed_error = if statuses.get("failed").copied().unwrap_or(0) > 0 {
        sqlite(
            db,
            &format!("SELECT error FROM tasks WHERE developer_id GLOB '{DEV_PREFIX}*' AND status = 'failed' LIMIT 1;"),
        )
        .await
        .ok()
        .map(|e| e.trim().chars().take(300).collect())
    } else {
        None
    };
    Ok(TasksStats {
        tasks: opts.tasks,
        developers: d,
        prompts: opts.task_prompts,
        rate: opts.task_rate,
        create,
        first_error,
        peak_concurrent: peak.load(Ordering::Relaxed),
        to_final_s,
        statuses,
        failed_error,
        worker: "the product's batch worker settings (max_concurrency 64, per_developer_concurrency 8), worker running during creation",
    })
}

// ---------------------------------------------------------------------------
// The phase.

/// Runs the capacity phase on a fresh AI Hub. `reuse_stretch`: the full
/// run's webhook figures, used for the 100,000-a-minute row instead of a
/// second run.
pub async fn run(
    stub: &Stub,
    opts: &Options,
    reuse_stretch: Option<WebhookStats>,
) -> anyhow::Result<CapacityRun> {
    let mut run = CapacityRun {
        options: Some(opts.clone()),
        ..CapacityRun::default()
    };
    let setup = Setup {
        temp_in: opts.temp_in.clone(),
        ..Setup::default()
    };
    eprintln!("capacity: starting a fresh AI Hub (SQLite)…");
    let mut aihub = AiHub::start_with(stub, opts.threads, &setup).await?;
    let db = aihub
        .sqlite_file()
        .context("the capacity phase seeds the embedded (SQLite) database")?;
    aihub.admin(&[
        "admin",
        "add-model",
        "--name",
        EMBED_MODEL,
        "--provider",
        "stub",
        "--upstream-model",
        "stub-embed",
    ])?;
    let wants = |s: Scenario| opts.scenarios.contains(&s);
    let mut keys = Vec::new();
    if wants(Scenario::Accounts) || wants(Scenario::Requests) || wants(Scenario::Tasks) {
        match seed(&mut aihub, &db, opts.accounts, opts.keys).await {
            Ok((seeded, k)) => {
                eprintln!(
                    "capacity: seeded {} accounts and {} keys in {:.1} s; the gateway had the keys {:.1} s later",
                    seeded.accounts, seeded.keys, seeded.seconds, seeded.gateway_s
                );
                run.seeded = Some(seeded);
                keys = k;
            }
            Err(e) => {
                let why = format!("seeding: {e:#}");
                eprintln!("capacity: {why}");
                for s in ["accounts", "requests", "tasks"] {
                    run.errors.insert(s.into(), why.clone());
                }
            }
        }
    }
    let seeded = run.seeded.is_some();
    if wants(Scenario::Accounts) && seeded {
        match accounts(&aihub, opts).await {
            Ok(a) => run.accounts = Some(a),
            Err(e) => {
                run.errors.insert("accounts".into(), format!("{e:#}"));
            }
        }
    }
    if wants(Scenario::Requests) && seeded {
        match requests(&aihub, stub, &db, &keys, opts).await {
            Ok(r) => run.requests = Some(r),
            Err(e) => {
                run.errors.insert("requests".into(), format!("{e:#}"));
            }
        }
    }
    if wants(Scenario::Tasks) && seeded {
        match tasks(&aihub, &db, &keys, opts).await {
            Ok(t) => run.tasks = Some(t),
            Err(e) => {
                run.errors.insert("tasks".into(), format!("{e:#}"));
            }
        }
    }
    if wants(Scenario::Webhooks) {
        let seconds = Duration::from_secs(opts.webhook_seconds);
        match webhooks::webhooks(
            &opts.oha,
            &aihub,
            "capacity-hooks-10k@example.com",
            opts.webhook_business_rate,
            1,
            seconds,
        )
        .await
        {
            Ok(w) => run.webhooks_business = w,
            Err(e) => {
                run.errors.insert("webhooks".into(), format!("{e:#}"));
            }
        }
        if let Some(w) = reuse_stretch {
            run.webhooks_stretch = Some(w);
            run.webhooks_stretch_reused = true;
        } else {
            match webhooks::webhooks(
                &opts.oha,
                &aihub,
                "capacity-hooks-100k@example.com",
                opts.webhook_rate,
                opts.webhook_endpoints,
                seconds,
            )
            .await
            {
                Ok(w) => run.webhooks_stretch = w,
                Err(e) => {
                    run.errors
                        .insert("webhooks (stretch)".into(), format!("{e:#}"));
                }
            }
        }
    }
    for (what, why) in &run.errors {
        eprintln!("capacity: {what} failed: {why}");
    }
    drop(aihub);
    Ok(run)
}

// ---------------------------------------------------------------------------
// The report's rows.

fn failed_row(what: &str, goal: &str, why: &str) -> Row {
    Row {
        what: what.to_string(),
        measured: "failed".into(),
        goal: goal.to_string(),
        verdict: Verdict::Miss,
        note: Some(format!(
            "FAILED: {}",
            why.chars().take(600).collect::<String>()
        )),
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn route_list(routes: &[&RouteStats]) -> String {
    routes
        .iter()
        .map(|r| {
            format!(
                "{} p95 {:.1} ms (p50 {:.1}; {} errors of {}{})",
                r.name,
                r.latency.p95_ms,
                r.latency.p50_ms,
                r.latency.errors,
                r.latency.total,
                r.first_error
                    .as_ref()
                    .map(|e| format!(", first: {e}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The worst route of a group: one row.
fn routes_row(what: String, routes: &[&RouteStats], seeded: &Seeded, opts: &Options) -> Row {
    let worst = routes
        .iter()
        .max_by(|a, b| a.latency.p95_ms.total_cmp(&b.latency.p95_ms));
    let errors: u64 = routes.iter().map(|r| r.latency.errors).sum();
    let total: u64 = routes.iter().map(|r| r.latency.total).sum();
    let measured = match worst {
        Some(w) => format!(
            "{:.1} ms worst p95 ({}); {errors} errors of {total}",
            w.latency.p95_ms,
            w.name
                .trim_start_matches("GET ")
                .trim_start_matches("POST ")
        ),
        None => "—".into(),
    };
    let ok = worst.is_some_and(|w| w.latency.p95_ms < MANAGEMENT_P95_MS)
        && routes.iter().all(|r| r.latency.p95_ms < MANAGEMENT_P95_MS)
        && errors == 0
        && seeded.accounts >= PLAN_ACCOUNTS.min(opts.accounts);
    Row {
        what,
        measured,
        goal: format!("< {MANAGEMENT_P95_MS:.0} ms (brief: 200 ms)"),
        verdict: verdict(ok),
        note: Some(format!(
            "{} accounts seeded in {:.1} s ({} keys; database {:.0} MB), business plan 10,000+, stretch 1,000,000 (--capacity-accounts 1000000); open loop at {}/s per route, {} requests each, {} developers spread over the population; {}",
            thousands(seeded.accounts),
            seeded.seconds,
            seeded.keys,
            seeded.database_bytes as f64 / 1e6,
            opts.mgmt_rate,
            opts.mgmt_requests,
            opts.mgmt_developers,
            route_list(routes)
        )),
    }
}

fn webhook_row(
    what: String,
    w: &WebhookStats,
    per_min: f64,
    p95: f64,
    goal: String,
    note: String,
) -> Row {
    let all = w.delivered >= w.events * u64::from(w.endpoints);
    Row {
        what,
        measured: w.measured(),
        goal,
        verdict: verdict(w.per_minute >= per_min && w.p95_ms < p95 && all),
        note: Some(note),
    }
}

/// The phase's rows, next to the targets.
pub(crate) fn rows(run: &CapacityRun) -> Vec<Row> {
    let mut rows = Vec::new();
    let Some(opts) = &run.options else {
        return rows;
    };
    let wants = |s: Scenario| opts.scenarios.contains(&s);
    let error = |s: &str| run.errors.get(s);
    let accounts = thousands(opts.accounts);

    // Accounts.
    if wants(Scenario::Accounts) {
        let goal = format!("< {MANAGEMENT_P95_MS:.0} ms (brief: 200 ms)");
        match (&run.accounts, &run.seeded, error("accounts")) {
            (Some(a), Some(seeded), _) => {
                let dev: Vec<&RouteStats> = a.routes.iter().filter(|r| !r.operator).collect();
                let op: Vec<&RouteStats> = a.routes.iter().filter(|r| r.operator).collect();
                rows.push(routes_row(
                    format!("capacity: {accounts} accounts, developer management API p95"),
                    &dev,
                    seeded,
                    opts,
                ));
                rows.push(routes_row(
                    format!("capacity: {accounts} accounts, operator developer list/search p95"),
                    &op,
                    seeded,
                    opts,
                ));
                rows.push(Row {
                    what: "capacity: fresh signup / login p95 (argon2)".into(),
                    measured: format!(
                        "{:.0} / {:.0} ms ({} + {} errors of {})",
                        a.signup.p95_ms, a.login.p95_ms, a.signup.errors, a.login.errors, a.signup.total
                    ),
                    goal: "no §3 figure (brief: 200 ms)".into(),
                    verdict: if a.signup.errors + a.login.errors == 0 {
                        Verdict::Info
                    } else {
                        Verdict::Miss
                    },
                    note: Some(format!(
                        "closed loop, two at a time, through the gateway: register then log in {} fresh accounts; the password hash (argon2) is slow by design",
                        a.signup.total
                    )),
                });
            }
            (_, _, Some(why)) => rows.push(failed_row(
                &format!("capacity: {accounts} accounts, management API p95"),
                &goal,
                why,
            )),
            _ => {}
        }
    }

    // Requests a day.
    if wants(Scenario::Requests) {
        let what = format!(
            "capacity: {} requests (a day's 100,000+) at {}/s",
            thousands(opts.requests),
            thousands(u64::from(opts.rate))
        );
        let goal = format!(
            "0 errors, 1 usage row each, reconciled, p95 overhead < {GATEWAY_OVERHEAD_MS:.0} ms"
        );
        match (&run.requests, error("requests")) {
            (Some(r), _) => {
                let rows_ok =
                    r.missing_rows == 0 && r.extra_rows == 0 && r.request_ids == r.latency.total;
                let ok = r.latency.errors == 0
                    && rows_ok
                    && r.reconcile_ok
                    && r.overhead_p95_ms < GATEWAY_OVERHEAD_MS
                    && r.requests >= PLAN_REQUESTS_A_DAY.min(opts.requests);
                let mix: Vec<String> = r.mix.iter().map(|(k, n)| format!("{k} {n}")).collect();
                rows.push(Row {
                    what,
                    measured: format!(
                        "p95 {:.2} ms (+{:.2} over direct), {} errors; {} of {} rows, {} extra; reconcile {}",
                        r.latency.p95_ms,
                        r.overhead_p95_ms,
                        r.latency.errors,
                        r.request_ids - r.missing_rows,
                        r.request_ids,
                        r.extra_rows,
                        if r.reconcile_ok { "ok" } else { "differs" }
                    ),
                    goal,
                    verdict: verdict(ok),
                    note: Some(format!(
                        "open loop through the gateway over {} seeded keys (Zipf-like shares), mix {}; latency to the last byte: p50 {:.2}, p95 {:.2}, p99 {:.2} ms (direct p95 {:.2}, p99 {:.2}; overhead p99 {:.2} ms); usage rows looked up by each answer's x-request-id after the spool emptied ({:.1} s), {} rows of the seeded keys in the window, {} requests charged; reconcile {} after {:.0} s{}{}",
                        r.keys,
                        mix.join(", "),
                        r.latency.p50_ms,
                        r.latency.p95_ms,
                        r.latency.p99_ms,
                        r.direct.p95_ms,
                        r.direct.p99_ms,
                        r.overhead_p99_ms,
                        r.drain_s,
                        r.rows_for_keys,
                        r.charged_requests.map(|n| n.to_string()).unwrap_or("?".into()),
                        if r.reconcile_ok { "agreed" } else { "found differences" },
                        r.reconcile_s,
                        if r.reconcile_ok {
                            String::new()
                        } else {
                            format!(": {}", r.reconcile.to_string().chars().take(400).collect::<String>())
                        },
                        r.first_error
                            .as_deref()
                            .map_or_else(String::new, |e| format!("; first error: {e}"))
                    )),
                });
            }
            (None, Some(why)) => rows.push(failed_row(&what, &goal, why)),
            _ => {}
        }
    }

    // Concurrent tasks.
    if wants(Scenario::Tasks) {
        let what = format!(
            "capacity: 1,000+ concurrent batch tasks ({} × {} prompts)",
            thousands(opts.tasks),
            opts.task_prompts
        );
        let goal = "≥ 1,000 at once, all complete, 0 failed".to_string();
        match (&run.tasks, error("tasks")) {
            (Some(t), _) => {
                let completed = t.statuses.get("completed").copied().unwrap_or(0);
                let failed = t.statuses.get("failed").copied().unwrap_or(0);
                let left = unfinished(&t.statuses);
                let statuses: Vec<String> =
                    t.statuses.iter().map(|(k, n)| format!("{k} {n}")).collect();
                rows.push(Row {
                    what,
                    measured: format!(
                        "peak {} pending/running; {} completed in {:.1} s, {} failed, {} unfinished",
                        t.peak_concurrent, completed, t.to_final_s, failed, left
                    ),
                    goal,
                    verdict: verdict(
                        t.peak_concurrent >= PLAN_TASKS
                            && completed == t.tasks
                            && failed == 0
                            && left == 0
                            && t.create.errors == 0,
                    ),
                    note: Some(format!(
                        "{} developers create the tasks at {}/s (open loop, their access tokens, a new Idempotency-Key each); {}; pending and running tasks counted in the database every 100 ms; final statuses: {}{}",
                        t.developers,
                        t.rate,
                        t.worker,
                        statuses.join(", "),
                        t.failed_error
                            .as_ref()
                            .map(|e| format!("; first failure: {e}"))
                            .unwrap_or_default()
                    )),
                });
                rows.push(Row {
                    what: "capacity: task creation p95 while 1,000+ run".into(),
                    measured: format!(
                        "{:.2} ms (p50 {:.2}, p99 {:.2}; {} errors of {})",
                        t.create.p95_ms,
                        t.create.p50_ms,
                        t.create.p99_ms,
                        t.create.errors,
                        t.create.total
                    ),
                    goal: format!("< {TASK_CREATE_P95_MS:.0} ms (brief: 100 ms)"),
                    verdict: verdict(t.create.p95_ms < TASK_CREATE_P95_MS && t.create.errors == 0),
                    note: Some(format!(
                        "from each scheduled send to the 201, batch worker running{}",
                        t.first_error
                            .as_deref()
                            .map_or_else(String::new, |e| format!("; first error: {e}"))
                    )),
                });
            }
            (None, Some(why)) => rows.push(failed_row(&what, &goal, why)),
            _ => {}
        }
    }

    // Webhooks.
    if wants(Scenario::Webhooks) {
        let business_goal = format!(
            "≥ 10,000/min, p95 < {:.0} s (brief; DESIGN: {DESIGN_WEBHOOK_P95_MS:.0} ms)",
            BRIEF_WEBHOOK_P95_MS / 1000.0
        );
        let what = "capacity: webhooks, 10,000 events/min (business plan)".to_string();
        match (&run.webhooks_business, error("webhooks")) {
            (Some(w), _) => rows.push(webhook_row(
                what,
                w,
                PLAN_WEBHOOKS_PER_MIN,
                BRIEF_WEBHOOK_P95_MS,
                business_goal,
                format!(
                    "key updates at {}/s, one endpoint, {} s (the webhook scenario's path); DESIGN's 200 ms: {}",
                    opts.webhook_business_rate,
                    opts.webhook_seconds,
                    if w.p95_ms < DESIGN_WEBHOOK_P95_MS { "met" } else { "missed" }
                ),
            )),
            (None, Some(why)) => rows.push(failed_row(&what, &business_goal, why)),
            _ => {}
        }
        let stretch_goal =
            format!("≥ 100,000/min, p95 < {DESIGN_WEBHOOK_P95_MS:.0} ms (DESIGN; brief 1 s)");
        let what = "capacity: webhooks, 100,000 events/min (stretch)".to_string();
        match (&run.webhooks_stretch, error("webhooks (stretch)")) {
            (Some(w), _) => rows.push(webhook_row(
                what,
                w,
                STRETCH_WEBHOOKS_PER_MIN,
                DESIGN_WEBHOOK_P95_MS,
                stretch_goal,
                if run.webhooks_stretch_reused {
                    "the full run's webhook delivery figures (see that row)".to_string()
                } else {
                    format!(
                        "key updates at {}/s, {} endpoints, {} s",
                        opts.webhook_rate, opts.webhook_endpoints, opts.webhook_seconds
                    )
                },
            )),
            (None, Some(why)) => rows.push(failed_row(&what, &stretch_goal, why)),
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_look_like_the_products() {
        assert_eq!(dev_id(255).len(), "dev_".len() + 32);
        assert!(dev_id(255).ends_with("ff"));
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn mix_is_mostly_chat() {
        let n = 10_000;
        let chat = (0..n).filter(|&i| kind_of(7, i) == "chat").count();
        assert!((6_500..7_500).contains(&chat), "{chat}");
    }
}

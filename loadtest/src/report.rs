//! The report: one row per DESIGN §3 target (figure, goal, PASS or MISS),
//! then every scenario's distribution per system.

use crate::load::{self, OhaRun, Stats};
use crate::systems::{rss_bytes, AiHub};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The system name of the gateway measured alone: its usage rows are
/// spooled as always but shipped after its runs ([`crate::systems::AiHub::start_deferred_gateway`]).
pub const DEFERRED: &str = "aihub-deferred";

/// One scenario measured on several systems.
pub struct Scenario {
    /// What ran.
    pub name: String,
    /// Its open-loop rate, if any.
    pub rate: Option<u32>,
    /// Stats per system (`direct`, `nginx`, `aihub`, [`DEFERRED`], `litellm`).
    pub results: BTreeMap<String, Stats>,
}

impl Scenario {
    /// A scenario's results.
    pub fn new(name: String, rate: Option<u32>, results: BTreeMap<String, Stats>) -> Self {
        Scenario {
            name,
            rate,
            results,
        }
    }

    fn overhead_p(&self, system: &str, f: impl Fn(&Stats) -> f64) -> Option<f64> {
        Some(f(self.results.get(system)?) - f(self.results.get("direct")?))
    }
}

/// Memory over a soak.
pub struct Soak {
    /// Minutes run.
    pub minutes: u64,
    /// RSS after each minute, bytes.
    pub rss: Vec<u64>,
    /// p99 of each minute, ms.
    pub p99_ms: Vec<f64>,
    /// Errors over the soak.
    pub errors: u64,
}

/// Everything measured.
pub struct Report {
    seconds: u64,
    proxy_threads: usize,
    connections: u32,
    /// Scenarios in run order.
    pub scenarios: Vec<Scenario>,
    /// Gateway RSS before load.
    pub rss_idle: Option<u64>,
    /// Gateway peak RSS per open-loop rate.
    pub rss_under_load: BTreeMap<u32, u64>,
    /// `GET /api/v1/developer/profile` through the gateway, if the API exists.
    pub management_api: Option<Stats>,
    /// Webhook delivery, if the webhooks API exists.
    pub webhooks: Option<crate::webhooks::WebhookStats>,
    /// The soak, when asked for.
    pub soak: Option<Soak>,
    /// Task creation, if the task API exists.
    pub tasks: Option<crate::batches::TaskStats>,
    /// One large batch through the Batches API, if it exists.
    pub batch: Option<crate::batches::BatchStats>,
    /// Usage rows the gateway shipped during the run (proves metering ran).
    pub stats_rows_shipped: Option<f64>,
    /// Usage rows the deferred gateway shipped once restarted after its runs.
    pub deferred_rows_shipped: Option<f64>,
    /// The analytics scale check, one run per usage store.
    pub analytics: Vec<crate::analytics::StoreRun>,
    /// Only the analytics check ran (`--analytics-only`): no other rows.
    pub only_analytics: bool,
    /// The capacity phase (issue 12), when it ran.
    pub capacity: Option<crate::capacity::CapacityRun>,
    /// Only the capacity phase ran (`--capacity-only`): no other rows.
    pub only_capacity: bool,
    /// Only the gateway scenarios ran (`--gateway-only`).
    pub only_gateway: bool,
}

pub(crate) enum Verdict {
    Pass,
    Miss,
    NotYet(&'static str),
    /// A figure reported next to the targets, with no §3 goal of its own.
    Info,
}

/// One row of the report.
pub(crate) struct Row {
    pub what: String,
    pub measured: String,
    pub goal: String,
    pub verdict: Verdict,
    /// How it was measured, printed under the table and in the JSON.
    pub note: Option<String>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub(crate) fn verdict(ok: bool) -> Verdict {
    if ok {
        Verdict::Pass
    } else {
        Verdict::Miss
    }
}

/// The gateways' `spool.durability` in this run: the harness's gateways
/// inherit `AIHUB_GW_SPOOL__DURABILITY` (default `write`); running once per
/// value measures what durability costs (loadtest/README.md).
pub fn spool_durability() -> String {
    std::env::var("AIHUB_GW_SPOOL__DURABILITY").unwrap_or_else(|_| "write".into())
}

impl Report {
    /// An empty report for runs of `seconds`.
    pub fn new(seconds: u64, proxy_threads: usize, connections: u32) -> Self {
        Report {
            seconds,
            proxy_threads,
            connections,
            scenarios: Vec::new(),
            rss_idle: None,
            rss_under_load: BTreeMap::new(),
            management_api: None,
            webhooks: None,
            soak: None,
            tasks: None,
            batch: None,
            stats_rows_shipped: None,
            deferred_rows_shipped: None,
            analytics: Vec::new(),
            only_analytics: false,
            capacity: None,
            only_capacity: false,
            only_gateway: false,
        }
    }

    /// Why a control-plane scenario has no figure: left out by
    /// `--gateway-only`, or `missing` (its API is not in this build).
    fn not_run(&self, missing: &'static str) -> Verdict {
        Verdict::NotYet(if self.only_gateway {
            "left out (--gateway-only)"
        } else {
            missing
        })
    }

    /// The analytics check's rows: per store, the load, then one row per route.
    fn analytics_rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        if self.analytics.is_empty() {
            rows.push(Row {
                what: "usage statistics over 10 million rows, p95".into(),
                measured: "—".into(),
                goal: "< 50 ms".into(),
                verdict: self.not_run("left out (--analytics-rows 0)"),
                note: None,
            });
        }
        let goal = crate::analytics::GOAL_P95_MS;
        for run in &self.analytics {
            let store = run.store.name();
            let l = &run.load;
            let disk: Vec<String> = l
                .disk_bytes
                .iter()
                .map(|(what, n)| {
                    if *n >= 1_000_000_000 {
                        format!("{what} {:.2} GB", *n as f64 / 1e9)
                    } else {
                        format!("{what} {:.0} MB", *n as f64 / 1e6)
                    }
                })
                .collect();
            let measured: Vec<String> = run
                .measured
                .iter()
                .map(|(rank, rows, _)| format!("rank {rank} (~{rows} rows)"))
                .collect();
            rows.push(Row {
                what: format!("analytics data load, {store} ({} rows)", run.rows),
                measured: format!(
                    "{:.0} rows/s, {:.0} s{}, {}",
                    l.rows_per_s,
                    l.seconds,
                    if l.retries > 0 {
                        format!(" ({} batches retried after a 5xx)", l.retries)
                    } else {
                        String::new()
                    },
                    disk.join(", ")
                ),
                goal: "no §3 figure (10M rows to measure)".into(),
                verdict: if l.stored >= l.rows && run.error.is_none() {
                    Verdict::Info
                } else {
                    Verdict::Miss
                },
                note: Some(format!(
                    "{}{}",
                    run.error
                        .as_ref()
                        .map(|e| format!("FAILED: {e}; "))
                        .unwrap_or_default(),
                    format_args!(
                    "{} rows over the last 30 days, {} developers (Zipf-like, seed {}), {} stored; {} rows per {}, {} at a time; routes measured via the gateway, {} requests each, {} in flight (closed loop), cycling over the developers at {} and both periods (7 and 30 days); {}",
                    l.rows,
                    run.developers,
                    run.seed,
                    l.stored,
                    l.batch_rows,
                    if run.store == crate::analytics::Store::Embedded {
                        "POST /internal/v1/usage"
                    } else {
                        "INSERT into usage_records"
                    },
                    l.concurrency,
                    run.requests,
                    run.concurrency,
                    measured.join(", "),
                    if run.charger_ran {
                        "the run outlasted the billing charger's hour: its second round, charging the loaded rows, ran during it"
                    } else {
                        "the billing charger held back"
                    }
                ))),
            });
            for r in &run.routes {
                let what = format!("usage statistics p95, {store}: {}", r.name);
                if !r.available {
                    rows.push(Row {
                        what,
                        measured: "—".into(),
                        goal: format!("< {goal:.0} ms"),
                        verdict: Verdict::NotYet("the route answers 404 in this build, issue 9"),
                        note: None,
                    });
                    continue;
                }
                let s = &r.latency;
                let heaviest = r
                    .heaviest
                    .as_ref()
                    .map(|h| format!("; heaviest {:.1}", h.p95_ms))
                    .unwrap_or_default();
                rows.push(Row {
                    what,
                    measured: format!(
                        "{:.1} ms (p50 {:.1}, p99 {:.1}{heaviest}; {} errors of {})",
                        s.p95_ms, s.p50_ms, s.p99_ms, s.errors, s.total
                    ),
                    goal: format!("< {goal:.0} ms"),
                    verdict: verdict(s.p95_ms < goal && s.errors == 0),
                    note: r.first_error.as_ref().map(|e| format!("first error: {e}")),
                });
            }
        }
        rows
    }

    fn rows(&self) -> Vec<Row> {
        if self.only_analytics {
            return self.analytics_rows();
        }
        if self.only_capacity {
            return self.capacity_rows();
        }
        let mut rows = Vec::new();
        for s in self
            .scenarios
            .iter()
            .filter(|s| s.name.starts_with("non-streaming"))
        {
            let rate = s.rate.unwrap_or(0);
            for (system, label) in [
                ("aihub", ""),
                (DEFERRED, ", gateway alone (usage shipped after the run)"),
            ] {
                let Some(ours) = s.overhead_p(system, |x| x.p99_ms) else {
                    continue;
                };
                let errors = s.results.get(system).map(|x| x.errors).unwrap_or(0);
                rows.push(Row {
                    what: format!("gateway overhead, non-streaming, p99, {rate} req/s{label}"),
                    measured: format!("{ours:.3} ms ({errors} errors)"),
                    goal: "< 1 ms".into(),
                    verdict: verdict(ours < 1.0 && errors == 0),
                    note: None,
                });
                if let Some(hop) = s.overhead_p("nginx", |x| x.p99_ms) {
                    // A hop that adds (almost) nothing makes the ratio
                    // meaningless; compare against at least 0.05 ms.
                    let ratio = ours / hop.max(0.05);
                    rows.push(Row {
                        what: format!("overhead vs bare nginx hop, p99, {rate} req/s{label}"),
                        measured: format!("{ratio:.2}× (AI Hub {ours:.3} ms, nginx {hop:.3} ms)"),
                        goal: "≤ 1.5×".into(),
                        verdict: verdict(ratio <= 1.5),
                        note: None,
                    });
                }
            }
        }
        if let Some(s) = self
            .scenarios
            .iter()
            .find(|s| s.name.starts_with("streaming"))
        {
            if let Some(oh) = s.overhead_p("aihub", |x| x.p99_ms) {
                rows.push(Row {
                    what: "streaming: added time to first token, p99".into(),
                    measured: format!("{oh:.3} ms"),
                    goal: "< 1 ms".into(),
                    verdict: verdict(oh < 1.0),
                    note: None,
                });
            }
        }
        if let Some(idle) = self.rss_idle {
            rows.push(Row {
                what: "gateway memory, idle (RSS)".into(),
                measured: format!("{:.1} MB", mb(idle)),
                goal: "< 60 MB".into(),
                verdict: verdict(mb(idle) < 60.0),
                note: None,
            });
        }
        if let Some((rate, peak)) = self.rss_under_load.iter().next_back() {
            rows.push(Row {
                what: format!("gateway memory at {rate} req/s (peak RSS)"),
                measured: format!("{:.1} MB", mb(*peak)),
                goal: "< 200 MB".into(),
                verdict: verdict(mb(*peak) < 200.0),
                note: None,
            });
        }
        match &self.soak {
            Some(soak) if soak.rss.len() >= 2 => {
                let first = soak.rss[0] as f64;
                let last = soak.rss[soak.rss.len() - 1] as f64;
                let growth = (last - first) / first * 100.0;
                rows.push(Row {
                    what: format!("memory over a {}-minute soak", soak.minutes),
                    measured: format!(
                        "{:.1} → {:.1} MB ({growth:+.1}%), {} errors",
                        mb(soak.rss[0]),
                        mb(soak.rss[soak.rss.len() - 1]),
                        soak.errors
                    ),
                    goal: "flat (growth < 10% after the first minute)".into(),
                    verdict: verdict(growth < 10.0),
                    note: None,
                });
            }
            _ => rows.push(Row {
                what: "memory flat over a 10-minute soak".into(),
                measured: "—".into(),
                goal: "flat".into(),
                verdict: Verdict::NotYet("run with --soak-minutes 10"),
                note: None,
            }),
        }
        match &self.management_api {
            Some(s) => rows.push(Row {
                what: "developer management API, p95 (GET profile via the gateway)".into(),
                measured: format!("{:.2} ms ({} errors)", s.p95_ms, s.errors),
                goal: "< 20 ms".into(),
                verdict: verdict(s.p95_ms < 20.0 && s.errors == 0),
                note: None,
            }),
            None => rows.push(Row {
                what: "developer management API, p95".into(),
                measured: "—".into(),
                goal: "< 20 ms".into(),
                verdict: self.not_run("the accounts API (issue 4) is not in this build"),
                note: None,
            }),
        }
        match &self.webhooks {
            Some(w) => rows.push(Row {
                what: "webhook delivery to a local receiver (event → arrival)".into(),
                measured: w.measured(),
                goal: "100,000 events/min, p95 < 200 ms".into(),
                verdict: verdict(
                    w.per_minute >= 100_000.0
                        && w.p95_ms < 200.0
                        && w.delivered >= w.events * u64::from(w.endpoints),
                ),
                note: None,
            }),
            None => rows.push(Row {
                what: "webhook delivery to a local receiver".into(),
                measured: "—".into(),
                goal: "100,000 events/min, p95 < 200 ms".into(),
                verdict: self.not_run("the webhooks API (issue 6) is not in this build"),
                note: None,
            }),
        }
        match &self.tasks {
            Some(t) => rows.push(Row {
                what: format!(
                    "async task creation, p95 (batch_generate × {}, {}/s via the gateway)",
                    t.prompts_per_task, t.rate
                ),
                measured: format!(
                    "{:.2} ms (p50 {:.2}, p99 {:.2}; {} errors of {})",
                    t.latency.p95_ms,
                    t.latency.p50_ms,
                    t.latency.p99_ms,
                    t.latency.errors,
                    t.latency.total
                ),
                goal: "< 10 ms (brief: 100 ms)".into(),
                verdict: verdict(t.latency.p95_ms < 10.0 && t.latency.errors == 0),
                note: Some(format!(
                    "open loop, latency from each scheduled send to the 201, a new Idempotency-Key per request; {}",
                    t.worker
                )),
            }),
            None => rows.push(Row {
                what: "async task creation, p95".into(),
                measured: "—".into(),
                goal: "< 10 ms (brief: 100 ms)".into(),
                verdict: self.not_run("the task API (issue 8) is not in this build"),
                note: None,
            }),
        }
        match &self.batch {
            Some(b) => {
                let settings: Vec<String> =
                    b.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let steady = b
                    .steady_items_per_s
                    .map(|r| format!("; {r:.0} items/s between 10 % and 90 % done"))
                    .unwrap_or_default();
                let gateway = b
                    .gateway_p95_ms_le
                    .map(|p| {
                        format!("; per item in the gateway (arrival to last byte) p95 ≤ {p} ms")
                    })
                    .unwrap_or_default();
                let first_error = b
                    .first_error
                    .as_ref()
                    .map(|e| format!("; first error: {e}"))
                    .unwrap_or_default();
                let stuck = if b.status == "completed" {
                    String::new()
                } else {
                    format!(
                        "; not final after a minute without progress at {} of {}; the control plane's last warnings: {}",
                        b.completed + b.failed,
                        b.items,
                        if b.control_plane_warnings.is_empty() {
                            "none".to_string()
                        } else {
                            b.control_plane_warnings.join(" | ")
                        }
                    )
                };
                rows.push(Row {
                    what: format!("batch throughput ({} items, Batches API, stand-in provider)", b.items),
                    measured: format!(
                        "{:.0} items/s, {:.1} s, {} ({} failed)",
                        b.items_per_s, b.to_completion_s, b.status, b.failed
                    ),
                    goal: "no §3 figure (informs capacity)".into(),
                    verdict: if b.status == "completed" && b.failed == 0 {
                        Verdict::Info
                    } else {
                        Verdict::Miss
                    },
                    note: Some(format!(
                        "batch worker {}; upload {:.2} s, POST /v1/batches (validate + queue) {:.2} s, then until completed; items/s counted from POST /v1/batches to completed{steady}{gateway}{first_error}{stuck}",
                        settings.join(", "),
                        b.upload_s,
                        b.create_s
                    )),
                });
            }
            None => rows.push(Row {
                what: "batch throughput".into(),
                measured: "—".into(),
                goal: "no §3 figure (informs capacity)".into(),
                verdict: self.not_run("the Batches API (issue 8) is not in this build"),
                note: None,
            }),
        }
        rows.extend(self.analytics_rows());
        rows.extend(self.capacity_rows());
        rows
    }

    /// The capacity phase's rows (`src/capacity.rs`).
    fn capacity_rows(&self) -> Vec<Row> {
        match &self.capacity {
            Some(run) => crate::capacity::rows(run),
            None => vec![Row {
                what: "capacity: 10,000+ accounts, 100,000+ requests a day, 1,000+ concurrent tasks, 10,000+ webhook events/min".into(),
                measured: "—".into(),
                goal: "holds".into(),
                verdict: self.not_run("left out (--skip-capacity)"),
                note: None,
            }],
        }
    }

    /// The printed report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nAI Hub load test — {} s per run, {} proxy threads, {} connections, spool.durability {}, everything on this machine ({} cores)\n",
            self.seconds,
            self.proxy_threads,
            self.connections,
            spool_durability(),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        let _ = writeln!(
            out,
            "{:<66} {:<44} {:<32} result",
            "target (DESIGN §3)", "measured", "goal"
        );
        let rows = self.rows();
        for r in &rows {
            let v = match r.verdict {
                Verdict::Pass => "PASS".to_string(),
                Verdict::Miss => "MISS".to_string(),
                Verdict::NotYet(why) => format!("n/a ({why})"),
                Verdict::Info => "info".to_string(),
            };
            let _ = writeln!(out, "{:<66} {:<44} {:<32} {v}", r.what, r.measured, r.goal);
        }
        let notes: Vec<&Row> = rows.iter().filter(|r| r.note.is_some()).collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\nhow:");
            for r in notes {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    r.what,
                    r.note.as_deref().unwrap_or_default()
                );
            }
        }
        for s in &self.scenarios {
            let _ = writeln!(out, "\n{}", s.name);
            let _ = writeln!(
                out,
                "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>12}",
                "system",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "p99.9 ms",
                "Δp50 ms",
                "req/s",
                "errors",
                "Δp99 vs direct"
            );
            for (name, st) in &s.results {
                let dp50 = s.overhead_p(name, |x| x.p50_ms).unwrap_or(f64::NAN);
                let dp99 = s.overhead_p(name, |x| x.p99_ms).unwrap_or(f64::NAN);
                let _ = writeln!(
                    out,
                    "  {:<14} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>10.0} {:>8} {:>12.3}",
                    name,
                    st.p50_ms,
                    st.p90_ms,
                    st.p99_ms,
                    st.p999_ms,
                    dp50,
                    st.rps,
                    st.errors,
                    dp99
                );
            }
            if let (Some(ours), Some(peer)) = (
                s.overhead_p("aihub", |x| x.p50_ms),
                s.overhead_p("litellm", |x| x.p50_ms),
            ) {
                // Floored like the ratio to the bare hop: an overhead at or
                // below zero (within the run's noise) gives no ratio.
                let _ = writeln!(
                    out,
                    "  LiteLLM adds {peer:.3} ms at p50, AI Hub {ours:.3} ms: {:.0}× less overhead{}",
                    peer / ours.max(0.05),
                    if ours < 0.05 { " (AI Hub's floored at 0.05 ms)" } else { "" }
                );
            }
        }
        if let Some(n) = self.stats_rows_shipped {
            let _ = writeln!(
                out,
                "\nusage rows metered and shipped by the gateway during the run: {n:.0}"
            );
        }
        if let Some(n) = self.deferred_rows_shipped {
            let _ = writeln!(
                out,
                "usage rows of {DEFERRED} (spooled during its runs), shipped after them: {n:.0}"
            );
        }
        out
    }

    /// The machine-readable report.
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows()
            .into_iter()
            .map(|r| {
                let (result, note) = match r.verdict {
                    Verdict::Pass => ("PASS", r.note),
                    Verdict::Miss => ("MISS", r.note),
                    Verdict::NotYet(why) => ("N/A", Some(why.to_string())),
                    Verdict::Info => ("INFO", r.note),
                };
                json!({"target": r.what, "measured": r.measured, "goal": r.goal, "result": result, "note": note})
            })
            .collect();
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|s| json!({"name": s.name, "rate": s.rate, "results": s.results}))
            .collect();
        json!({
            "seconds_per_run": self.seconds,
            "proxy_threads": self.proxy_threads,
            "connections": self.connections,
            "spool_durability": spool_durability(),
            "targets": rows,
            "scenarios": scenarios,
            "rss_idle_bytes": self.rss_idle,
            "rss_under_load_bytes": self.rss_under_load,
            "management_api": self.management_api,
            "webhooks": self.webhooks,
            "task_creation": self.tasks,
            "batch_throughput": self.batch,
            "analytics": self.analytics,
            "capacity": self.capacity,
            "usage_rows_shipped": self.stats_rows_shipped,
            "deferred_usage_rows_shipped": self.deferred_rows_shipped,
            "soak": self.soak.as_ref().map(|s| json!({"minutes": s.minutes, "rss_bytes": s.rss, "p99_ms": s.p99_ms, "errors": s.errors})),
        })
    }
}

/// Registers a developer through the gateway and logs in; `None` when this
/// build has no accounts API.
pub async fn developer_token(
    aihub: &AiHub,
    email: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let password = "Load-Test-Passw0rd";
    let register = client
        .post(format!("{}/api/v1/developer/register", aihub.url))
        .json(&json!({"email": email, "password": password, "full_name": name, "developer_type": "individual"}))
        .send()
        .await?;
    if register.status().as_u16() == 404 {
        return Ok(None);
    }
    let login: Value = client
        .post(format!("{}/api/v1/developer/login", aihub.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .json()
        .await?;
    match login["access_token"].as_str() {
        Some(t) => Ok(Some(t.to_string())),
        None => {
            eprintln!("{email}: login failed: {login}");
            Ok(None)
        }
    }
}

/// Measures `GET /api/v1/developer/profile` through the gateway, if the
/// accounts API exists in this build.
pub async fn management_api(
    oha: &Path,
    aihub: &AiHub,
    duration: Duration,
) -> anyhow::Result<Option<Stats>> {
    let Some(token) = developer_token(aihub, "mgmt-load@example.com", "Load Test").await? else {
        return Ok(None);
    };
    let token = token.as_str();
    let url = format!("{}/api/v1/developer/profile", aihub.url);
    eprintln!("developer management API, 200 req/s…");
    Ok(Some(load::oha(
        oha,
        &OhaRun {
            url: &url,
            body: "",
            bearer: Some(token),
            rate: Some(200),
            connections: 16,
            duration,
            method: "GET",
        },
    )?))
}

/// Runs `minutes` one-minute open-loop runs, recording RSS after each.
pub fn soak(
    oha: &Path,
    url: &str,
    key: &str,
    rate: u32,
    connections: u32,
    minutes: u64,
    pid: u32,
) -> anyhow::Result<Soak> {
    let mut soak = Soak {
        minutes,
        rss: Vec::new(),
        p99_ms: Vec::new(),
        errors: 0,
    };
    for minute in 0..minutes {
        let s = load::oha(
            oha,
            &OhaRun {
                url,
                body: crate::CHAT_BODY,
                bearer: Some(key),
                rate: Some(rate),
                connections,
                duration: Duration::from_secs(60),
                method: "POST",
            },
        )?;
        soak.errors += s.errors;
        soak.p99_ms.push(s.p99_ms);
        if let Some(rss) = rss_bytes(pid) {
            soak.rss.push(rss);
        }
        eprintln!(
            "soak minute {}: p99 {:.3} ms, rss {:.1} MB",
            minute + 1,
            s.p99_ms,
            mb(soak.rss.last().copied().unwrap_or(0))
        );
    }
    Ok(soak)
}

/// Reads one counter from the gateway's metrics (summed over labels).
pub async fn gateway_metric(ops_url: &str, name: &str) -> Option<f64> {
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
    let total = text
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Some(total)
}

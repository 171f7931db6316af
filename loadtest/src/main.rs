//! `aihub-loadtest`: measures every DESIGN §3 target on this machine and
//! prints one row per target with the figure, the goal and PASS or MISS.
//!
//! One run starts everything it needs on free ports — the stand-in provider,
//! AI Hub (control plane + gateway), a bare nginx hop and LiteLLM's proxy —
//! sends the same load to each in turn (directly to the provider, through
//! nginx, through AI Hub, through LiteLLM), and stops them all.
//!
//! ```text
//! cargo run --release -p aihub-loadtest                 # the full report (~12 min, then analytics)
//! cargo run --release -p aihub-loadtest -- --quick      # shorter runs, same rows
//! cargo run --release -p aihub-loadtest -- --soak-minutes 10
//! cargo run --release -p aihub-loadtest -- --analytics-only --quick   # analytics scale check
//! cargo run --release -p aihub-loadtest -- --capacity-only          # the business plan's capacity
//! ```

mod analytics;
mod batches;
mod capacity;
mod load;
mod report;
mod systems;
mod webhooks;

use anyhow::Context;
use clap::Parser;
use load::{OhaRun, Stats};
use report::{Report, Scenario};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use systems::{rss_bytes, AiHub, LiteLlm, Nginx, Stub};

#[derive(Parser)]
#[command(
    name = "aihub-loadtest",
    about = "AI Hub's load tests against DESIGN §3"
)]
struct Cli {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Shorter runs (5 s) for a quick look; same rows.
    #[arg(long)]
    quick: bool,
    /// Open-loop rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    rates: Vec<u32>,
    /// Worker threads of the gateway (and worker processes of nginx).
    #[arg(long, default_value_t = 2)]
    proxy_threads: usize,
    /// Connections the load generator keeps open.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Rate for the streaming time-to-first-token probe.
    #[arg(long, default_value_t = 200)]
    stream_rate: u32,
    /// Rate at which every system, LiteLLM included, is compared side by side.
    #[arg(long, default_value_t = 50)]
    peer_rate: u32,
    /// Key updates (events) per second of the webhook scenario.
    #[arg(long, default_value_t = 1700)]
    webhook_rate: u32,
    /// Endpoints each event of the webhook scenario is delivered to.
    #[arg(long, default_value_t = 2)]
    webhook_endpoints: u32,
    /// Tasks created per second in the task-creation scenario (open loop).
    #[arg(long, default_value_t = 100)]
    task_rate: u32,
    /// Prompts (items) per `batch_generate` task created.
    #[arg(long, default_value_t = 10)]
    task_prompts: usize,
    /// Items in the batch-throughput scenario (--quick: at most 2,000).
    #[arg(long, default_value_t = 10_000)]
    batch_items: u64,
    /// The batch worker's `max_concurrency` during the batch scenario.
    #[arg(long, default_value_t = 64)]
    batch_concurrency: usize,
    /// The batch worker's `per_developer_concurrency` during the batch
    /// scenario (one developer's batch: the default 8 would measure the
    /// fairness setting, not capacity).
    #[arg(long, default_value_t = 64)]
    batch_per_developer: usize,
    /// The batch worker's `poll_ms` during the batch scenario.
    #[arg(long, default_value_t = 20)]
    batch_poll_ms: u64,
    /// Leave LiteLLM out.
    #[arg(long)]
    skip_litellm: bool,
    /// Only the gateway scenarios (open loop, peer comparison, closed loop,
    /// streaming): no management API, webhook, batch, task or analytics run.
    #[arg(long)]
    gateway_only: bool,
    /// Also run a soak at the first rate for this many minutes, sampling memory.
    #[arg(long)]
    soak_minutes: Option<u64>,
    /// Do not build the release binaries first.
    #[arg(long)]
    no_build: bool,
    /// Run only the analytics scale check (usage statistics over many rows).
    #[arg(long)]
    analytics_only: bool,
    /// Usage rows generated per store for the analytics scale check
    /// (default 10,000,000; --quick: 200,000; 0 leaves the check out).
    #[arg(long)]
    analytics_rows: Option<u64>,
    /// Developers the generated rows belong to (Zipf-like shares).
    #[arg(long, default_value_t = 10_000)]
    analytics_developers: usize,
    /// Usage stores to check: embedded (SQLite, rows through the control
    /// plane), clickhouse (PostgreSQL + ClickHouse from AIHUB_TEST_DATABASE_URL
    /// and AIHUB_TEST_CLICKHOUSE_URL), both, or auto (both when those are set).
    #[arg(long, default_value = "auto", value_parser = ["auto", "embedded", "clickhouse", "both"])]
    analytics_store: String,
    /// Seed of the row generator.
    #[arg(long, default_value_t = 42)]
    analytics_seed: u64,
    /// Requests per analytics route (--quick: at most 100).
    #[arg(long, default_value_t = 300)]
    analytics_requests: u64,
    /// Analytics requests in flight at once (closed loop).
    #[arg(long, default_value_t = 4)]
    analytics_concurrency: usize,
    /// Rows per ingest request (embedded); ClickHouse INSERTs take 40 times as many.
    #[arg(long, default_value_t = 5_000)]
    analytics_batch_rows: usize,
    /// Ingest requests in flight at once, like as many gateways' usage
    /// shippers (SQLite has one writer: more adds no throughput, and makes
    /// its write-ahead log grow). ClickHouse always has two INSERTs in flight.
    #[arg(long, default_value_t = 1)]
    analytics_ingest_concurrency: usize,
    /// Loading stops (the store's run is a MISS) when the embedded control
    /// plane's directory grows beyond this many GB, to keep the disk.
    #[arg(long, default_value_t = 30)]
    analytics_max_disk_gb: u64,
    /// Keep the ClickHouse store's databases (PostgreSQL and ClickHouse)
    /// after the analytics check instead of dropping them; their names are
    /// printed.
    #[arg(long)]
    analytics_keep: bool,
    /// Where the analytics check's temporary directory (the SQLite database,
    /// several GB at 10 million rows) goes; default: the system's.
    #[arg(long)]
    analytics_dir: Option<PathBuf>,
    /// Run only the capacity phase (the business plan's capacity: accounts,
    /// requests a day, concurrent batch tasks, webhook events a minute).
    #[arg(long, conflicts_with = "analytics_only")]
    capacity_only: bool,
    /// Leave the capacity phase out of the full run.
    #[arg(long, conflicts_with = "capacity_only")]
    skip_capacity: bool,
    /// Capacity scenarios to run: accounts, requests, tasks, webhooks.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "accounts,requests,tasks,webhooks"
    )]
    capacity_scenarios: Vec<String>,
    /// Developer accounts seeded for the capacity phase (business plan:
    /// 10,000+; stretch: 1,000,000).
    #[arg(long, default_value_t = 10_000)]
    capacity_accounts: u64,
    /// API keys seeded, spread over the accounts (the requests replay uses
    /// them with Zipf-like shares; tasks run as them).
    #[arg(long, default_value_t = 1_000)]
    capacity_keys: u64,
    /// Developers (spread over the accounts) the management API is measured as.
    #[arg(long, default_value_t = 20)]
    capacity_mgmt_developers: u64,
    /// Requests per management route (--quick: at most 100).
    #[arg(long, default_value_t = 300)]
    capacity_mgmt_requests: u64,
    /// Requests per second per management route (open loop).
    #[arg(long, default_value_t = 100)]
    capacity_mgmt_rate: u32,
    /// Fresh signups and logins measured (--quick: at most 6).
    #[arg(long, default_value_t = 20)]
    capacity_signups: u64,
    /// Requests replayed through the gateway (business plan: 100,000+ a
    /// day; --quick: at most 20,000).
    #[arg(long, default_value_t = 100_000)]
    capacity_requests: u64,
    /// Their rate per second (compressed time).
    #[arg(long, default_value_t = 1_000)]
    capacity_rate: u32,
    /// Batch tasks created at once (business plan: 1,000+ concurrent).
    #[arg(long, default_value_t = 1_500)]
    capacity_tasks: u64,
    /// Tasks created per second (open loop).
    #[arg(long, default_value_t = 200)]
    capacity_task_rate: u32,
    /// Prompts per task.
    #[arg(long, default_value_t = 10)]
    capacity_task_prompts: usize,
    /// Developers creating the tasks.
    #[arg(long, default_value_t = 100)]
    capacity_task_developers: u64,
    /// Longest wait, seconds, for every task to be final.
    #[arg(long, default_value_t = 900)]
    capacity_task_timeout: u64,
    /// Key updates per second of the 10,000-events-a-minute webhook run
    /// (one endpoint); the 100,000 run uses --webhook-rate and
    /// --webhook-endpoints.
    #[arg(long, default_value_t = 170)]
    capacity_webhook_rate: u32,
    /// Where report.json goes.
    #[arg(long, default_value = "loadtest/out")]
    out: PathBuf,
}

/// The system name of the gateway measured with its usage shipping deferred.
const DEFERRED: &str = report::DEFERRED;

const CHAT_BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello there, how are you today? [[stub words=16]]"}]}"#;
const STREAM_BODY: &str = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Stream a short answer please [[stub words=16]]"}]}"#;

fn cache_dir() -> PathBuf {
    std::env::var_os("AIHUB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/aihub")
        })
}

fn build_release() -> anyhow::Result<()> {
    eprintln!("building release binaries…");
    let status = std::process::Command::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "aihub-gateway",
            "-p",
            "aihub-control-plane",
            "-p",
            "aihub-testkit",
            "--bins",
        ])
        .status()
        .context("running cargo build")?;
    anyhow::ensure!(status.success(), "cargo build --release failed");
    Ok(())
}

/// Samples a process's RSS until stopped; returns the peak.
fn sample_rss(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let peak = AtomicU64::new(0);
        while !flag.load(Ordering::Relaxed) {
            if let Some(rss) = rss_bytes(pid) {
                peak.fetch_max(rss, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        peak.load(Ordering::Relaxed)
    });
    (stop, handle)
}

struct Targets {
    direct: String,
    nginx: String,
    aihub: String,
    litellm: Option<(String, String)>,
    key: String,
}

impl Targets {
    fn list(&self) -> Vec<(&'static str, &str, Option<&str>)> {
        let mut v = vec![
            ("direct", self.direct.as_str(), None),
            ("nginx", self.nginx.as_str(), None),
            ("aihub", self.aihub.as_str(), Some(self.key.as_str())),
        ];
        if let Some((url, key)) = &self.litellm {
            v.push(("litellm", url.as_str(), Some(key.as_str())));
        }
        v
    }
}

impl Cli {
    /// The analytics check's settings; `None` when it is left out.
    fn analytics(&self) -> anyhow::Result<Option<analytics::Options>> {
        let rows = self
            .analytics_rows
            .unwrap_or(if self.quick { 200_000 } else { 10_000_000 });
        if rows == 0 || self.gateway_only {
            return Ok(None);
        }
        use analytics::Store;
        let production = aihub_testkit::procs::clickhouse_url().is_some()
            && aihub_testkit::procs::database_url().is_some();
        let stores = match self.analytics_store.as_str() {
            "embedded" => vec![Store::Embedded],
            "clickhouse" => vec![Store::ClickHouse],
            "both" => vec![Store::Embedded, Store::ClickHouse],
            _ if production => vec![Store::Embedded, Store::ClickHouse],
            _ => vec![Store::Embedded],
        };
        if stores.contains(&Store::ClickHouse) && !production {
            anyhow::bail!(
                "--analytics-store {} needs AIHUB_TEST_DATABASE_URL (PostgreSQL) and AIHUB_TEST_CLICKHOUSE_URL",
                self.analytics_store
            );
        }
        Ok(Some(analytics::Options {
            rows,
            developers: self.analytics_developers,
            seed: self.analytics_seed,
            stores,
            requests: if self.quick {
                self.analytics_requests.min(100)
            } else {
                self.analytics_requests
            },
            concurrency: self.analytics_concurrency,
            batch_rows: self.analytics_batch_rows,
            ingest_concurrency: self.analytics_ingest_concurrency,
            threads: self.proxy_threads,
            temp_in: self.analytics_dir.clone(),
            max_disk_bytes: self.analytics_max_disk_gb.saturating_mul(1_000_000_000),
            keep: self.analytics_keep,
        }))
    }
}

impl Cli {
    /// The capacity phase's settings; `None` when it is left out.
    fn capacity(&self, oha: PathBuf, seconds: u64) -> anyhow::Result<Option<capacity::Options>> {
        if self.skip_capacity || (self.gateway_only && !self.capacity_only) {
            return Ok(None);
        }
        let scenarios = self
            .capacity_scenarios
            .iter()
            .map(|s| capacity::Scenario::parse(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quick = |n: u64, max: u64| if self.quick { n.min(max) } else { n };
        Ok(Some(capacity::Options {
            scenarios,
            accounts: self.capacity_accounts.max(1),
            keys: self.capacity_keys,
            mgmt_developers: self.capacity_mgmt_developers,
            mgmt_requests: quick(self.capacity_mgmt_requests, 100),
            mgmt_rate: self.capacity_mgmt_rate,
            signups: quick(self.capacity_signups, 6),
            requests: quick(self.capacity_requests, 20_000),
            rate: self.capacity_rate,
            tasks: self.capacity_tasks,
            task_rate: self.capacity_task_rate,
            task_prompts: self.capacity_task_prompts,
            task_developers: self.capacity_task_developers,
            task_timeout_s: self.capacity_task_timeout,
            webhook_business_rate: self.capacity_webhook_rate,
            webhook_rate: self.webhook_rate,
            webhook_endpoints: self.webhook_endpoints,
            webhook_seconds: seconds,
            threads: self.proxy_threads,
            seed: self.analytics_seed,
            oha,
            temp_in: self.analytics_dir.clone(),
        }))
    }
}

fn write_report(report: &Report, out: &std::path::Path) -> anyhow::Result<()> {
    let text = report.render();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    std::fs::create_dir_all(out)?;
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report.to_json())?)?;
    writeln!(stdout, "JSON report: {}", path.display())?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let seconds = if cli.quick { 5 } else { cli.seconds };
    let run_for = Duration::from_secs(seconds);
    let cache = cache_dir();
    let analytics_opts = cli.analytics()?;
    if !cli.no_build {
        build_release()?;
    }
    if cli.analytics_only {
        let Some(opts) = analytics_opts else {
            anyhow::bail!("--analytics-only with --analytics-rows 0 measures nothing");
        };
        let stub = Stub::start(2).await?;
        let mut report = Report::new(seconds, cli.proxy_threads, cli.connections);
        report.only_analytics = true;
        report.analytics = analytics::run(&stub, &opts).await?;
        drop(stub);
        return write_report(&report, &cli.out);
    }
    let oha_bin = load::ensure_oha(&cache)?;
    let capacity_opts = cli.capacity(oha_bin.clone(), seconds)?;
    if cli.capacity_only {
        let Some(opts) = capacity_opts else {
            anyhow::bail!("--capacity-only with --skip-capacity measures nothing");
        };
        let stub = Stub::start(2).await?;
        let mut report = Report::new(seconds, cli.proxy_threads, cli.connections);
        report.only_capacity = true;
        report.capacity = Some(capacity::run(&stub, &opts, None).await?);
        drop(stub);
        return write_report(&report, &cli.out);
    }
    let litellm_venv = if cli.skip_litellm {
        None
    } else {
        Some(systems::litellm_venv(&cache)?)
    };

    eprintln!(
        "starting the stand-in provider, nginx, AI Hub{}…",
        if litellm_venv.is_some() {
            " and LiteLLM"
        } else {
            ""
        }
    );
    let stub = Stub::start(2).await?;
    let nginx = Nginx::start(&stub.addr, cli.proxy_threads).await?;
    let mut aihub = AiHub::start(&stub, cli.proxy_threads).await?;
    let litellm = match &litellm_venv {
        Some(venv) => Some(LiteLlm::start(venv, &stub.base_url()).await?),
        None => None,
    };
    let targets = Targets {
        direct: format!("{}/chat/completions", stub.base_url()),
        nginx: format!("{}/v1/chat/completions", nginx.url),
        aihub: format!("{}/v1/chat/completions", aihub.url),
        litellm: litellm
            .as_ref()
            .map(|l| (format!("{}/v1/chat/completions", l.url), l.key.clone())),
        key: aihub.key.clone(),
    };
    let gw_pid = aihub.gateway.id();
    // The gateway alone: a second gateway whose usage rows are spooled as
    // usual but shipped only after the rate runs, so the usage store's
    // ingest (the embedded control plane's SQLite here) does not share
    // these two cores with it while it is measured.
    let deferred = aihub.start_deferred_gateway(cli.proxy_threads).await?;
    let deferred_url = format!("{}/v1/chat/completions", deferred.url);
    let mut report = Report::new(seconds, cli.proxy_threads, cli.connections);

    // Warm every path (connection pools, caches) before measuring.
    let warm = targets.list().into_iter().chain([(
        DEFERRED,
        deferred_url.as_str(),
        Some(targets.key.as_str()),
    )]);
    for (_, url, bearer) in warm {
        load::oha(
            &oha_bin,
            &OhaRun {
                url,
                body: CHAT_BODY,
                bearer,
                rate: Some(200),
                connections: 16,
                duration: Duration::from_secs(2),
                method: "POST",
            },
        )?;
    }
    std::thread::sleep(Duration::from_secs(1));
    report.rss_idle = rss_bytes(gw_pid);

    // Open-loop runs at fixed rates: direct, nginx, AI Hub (LiteLLM only at
    // the peer rate below: it saturates far below these rates).
    for &rate in &cli.rates {
        let mut results = BTreeMap::new();
        // The deferred gateway first: the runs before it (the previous
        // rate's) leave the control plane's ingest and charger time to
        // finish, so it is measured as alone as it can be here.
        let systems = [(DEFERRED, deferred_url.as_str(), Some(targets.key.as_str()))]
            .into_iter()
            .chain(targets.list().into_iter().filter(|t| t.0 != "litellm"));
        for (name, url, bearer) in systems {
            eprintln!("non-streaming, {rate} req/s, {name}…");
            let sampler = (name == "aihub").then(|| sample_rss(gw_pid));
            let stats = load::oha(
                &oha_bin,
                &OhaRun {
                    url,
                    body: CHAT_BODY,
                    bearer,
                    rate: Some(rate),
                    connections: cli.connections,
                    duration: run_for,
                    method: "POST",
                },
            )?;
            if let Some((stop, handle)) = sampler {
                stop.store(true, Ordering::Relaxed);
                let peak = handle.join().unwrap_or(0);
                report.rss_under_load.insert(rate, peak);
            }
            results.insert(name.to_string(), stats);
        }
        report.scenarios.push(Scenario::new(
            format!("non-streaming at {rate} req/s"),
            Some(rate),
            results,
        ));
    }

    eprintln!("shipping the deferred gateway's usage rows…");
    report.deferred_rows_shipped = Some(aihub.ship_deferred(deferred).await?);

    // Every system side by side at a rate LiteLLM can sustain.
    let mut peer = BTreeMap::new();
    for (name, url, bearer) in targets.list() {
        eprintln!("peer comparison, {} req/s, {name}…", cli.peer_rate);
        peer.insert(
            name.to_string(),
            load::oha(
                &oha_bin,
                &OhaRun {
                    url,
                    body: CHAT_BODY,
                    bearer,
                    rate: Some(cli.peer_rate),
                    connections: 16,
                    duration: run_for,
                    method: "POST",
                },
            )?,
        );
    }
    report.scenarios.push(Scenario::new(
        format!("peer comparison at {} req/s", cli.peer_rate),
        Some(cli.peer_rate),
        peer,
    ));

    // Closed loop: the most each path serves.
    let mut max = BTreeMap::new();
    for (name, url, bearer) in targets.list() {
        eprintln!("closed-loop maximum, {name}…");
        max.insert(
            name.to_string(),
            load::oha(
                &oha_bin,
                &OhaRun {
                    url,
                    body: CHAT_BODY,
                    bearer,
                    rate: None,
                    connections: cli.connections,
                    duration: run_for,
                    method: "POST",
                },
            )?,
        );
    }
    report
        .scenarios
        .push(Scenario::new("closed-loop maximum".into(), None, max));

    // Streaming: time to first token.
    let mut ttft: BTreeMap<String, Stats> = BTreeMap::new();
    for (name, url, bearer) in targets.list() {
        let rate = if name == "litellm" {
            cli.peer_rate
        } else {
            cli.stream_rate
        };
        eprintln!("streaming time to first token, {rate} req/s, {name}…");
        ttft.insert(
            name.to_string(),
            load::stream_ttft(url, STREAM_BODY, bearer, rate, run_for).await?,
        );
    }
    report.scenarios.push(Scenario::new(
        format!(
            "streaming TTFT at {} req/s (LiteLLM at {})",
            cli.stream_rate, cli.peer_rate
        ),
        Some(cli.stream_rate),
        ttft,
    ));

    // `--gateway-only` stops here: the control plane's scenarios below.
    report.only_gateway = cli.gateway_only;
    if !cli.gateway_only {
        // The developer management API, when it exists.
        report.management_api = report::management_api(&oha_bin, &aihub, run_for).await?;
        report.webhooks = webhooks::webhooks(
            &oha_bin,
            &aihub,
            "hooks-load@example.com",
            cli.webhook_rate,
            cli.webhook_endpoints,
            run_for,
        )
        .await?;

        if let Some(minutes) = cli.soak_minutes {
            let rate = cli.rates.first().copied().unwrap_or(1000);
            eprintln!("soak: {rate} req/s for {minutes} min through AI Hub…");
            report.soak = Some(report::soak(
                &oha_bin,
                &targets.aihub,
                &targets.key,
                rate,
                cli.connections,
                minutes,
                gw_pid,
            )?);
        }

        // Batches, then task creation: each restarts the control plane with its
        // own batch worker settings, so they run after everything else. The
        // task phase turns the worker off and leaves its items queued, so it
        // comes last.
        let batch_items = if cli.quick {
            cli.batch_items.min(2_000)
        } else {
            cli.batch_items
        };
        report.batch = batches::batch_throughput(
            &mut aihub,
            batch_items,
            cli.batch_concurrency,
            cli.batch_per_developer,
            cli.batch_poll_ms,
        )
        .await?;
        report.tasks =
            batches::task_creation(&mut aihub, cli.task_rate, cli.task_prompts, run_for).await?;
    }

    report.stats_rows_shipped =
        report::gateway_metric(&aihub.ops_url, "aihub_gateway_usage_rows_shipped_total").await;
    drop(litellm);
    drop(aihub);
    drop(nginx);

    // The capacity phase starts AI Hub afresh (its own seeded accounts);
    // its 100,000-a-minute webhook row reuses the webhook scenario's figures.
    if let Some(opts) = capacity_opts {
        report.capacity = Some(capacity::run(&stub, &opts, report.webhooks.clone()).await?);
    }

    // The analytics scale check starts AI Hub afresh per store, with its
    // own data, once everything else has stopped.
    if let Some(opts) = analytics_opts {
        report.analytics = analytics::run(&stub, &opts).await?;
    }
    drop(stub);

    write_report(&report, &cli.out)
}

//! `aihub-loadtest`: measures every DESIGN §3 target on this machine and
//! prints one row per target with the figure, the goal and PASS or MISS.
//!
//! One run starts everything it needs on free ports — the stand-in provider,
//! AI Hub (control plane + gateway), a bare nginx hop and LiteLLM's proxy —
//! sends the same load to each in turn (directly to the provider, through
//! nginx, through AI Hub, through LiteLLM), and stops them all.
//!
//! ```text
//! cargo run --release -p aihub-loadtest                 # the full report (~6 min)
//! cargo run --release -p aihub-loadtest -- --quick      # shorter runs, same rows
//! cargo run --release -p aihub-loadtest -- --soak-minutes 10
//! ```

mod batches;
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
    /// Also run a soak at the first rate for this many minutes, sampling memory.
    #[arg(long)]
    soak_minutes: Option<u64>,
    /// Do not build the release binaries first.
    #[arg(long)]
    no_build: bool,
    /// Where report.json goes.
    #[arg(long, default_value = "loadtest/out")]
    out: PathBuf,
}

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let seconds = if cli.quick { 5 } else { cli.seconds };
    let run_for = Duration::from_secs(seconds);
    let cache = cache_dir();
    if !cli.no_build {
        build_release()?;
    }
    let oha_bin = load::ensure_oha(&cache)?;
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
    let mut report = Report::new(seconds, cli.proxy_threads, cli.connections);

    // Warm every path (connection pools, caches) before measuring.
    for (_, url, bearer) in targets.list() {
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
        for (name, url, bearer) in targets.list().into_iter().filter(|t| t.0 != "litellm") {
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

    // The developer management API, when it exists.
    report.management_api = report::management_api(&oha_bin, &aihub, run_for).await?;
    report.webhooks = webhooks::webhooks(
        &oha_bin,
        &aihub,
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

    report.stats_rows_shipped =
        report::gateway_metric(&aihub.ops_url, "aihub_gateway_usage_rows_shipped_total").await;
    drop(litellm);
    drop(aihub);
    drop(nginx);
    drop(stub);

    let text = report.render();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    std::fs::create_dir_all(&cli.out)?;
    let path = cli.out.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report.to_json())?)?;
    writeln!(stdout, "JSON report: {}", path.display())?;
    Ok(())
}

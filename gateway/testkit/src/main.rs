//! `aihub-stub-upstream`: the stand-in model provider as a process, for the
//! load harness and manual runs. Prints `listening on ADDR` once ready.

use std::io::Write as _;
use std::net::SocketAddr;

use aihub_testkit::upstream::{serve, StubConfig};
use anyhow::Context as _;
use clap::Parser;

/// A stand-in OpenAI/Anthropic-compatible provider with deterministic usage.
#[derive(Debug, Parser)]
#[command(name = "aihub-stub-upstream", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Name reported as `system_fingerprint` and `x-stub-upstream`.
    #[arg(long, default_value = "stub")]
    name: String,
    /// Delay before response headers, milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between stream chunks, milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Answer every request with this HTTP status and an error body.
    #[arg(long)]
    fail_status: Option<u16>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("building the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let config = StubConfig {
        name: args.name,
        fail_status: args.fail_status,
        latency_ms: args.latency_ms,
        chunk_delay_ms: args.chunk_delay_ms,
        // Nothing reads the record in a separate process.
        record: false,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()?;
    drop(stdout);
    serve(listener, config, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

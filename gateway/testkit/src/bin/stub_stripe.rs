//! `aihub-stub-stripe`: the Stripe stand-in as a process, for the portal's
//! browser tests and manual runs. Prints `listening on http://127.0.0.1:PORT`
//! once ready.

use std::io::Write as _;

use aihub_testkit::stripe::{serve, StripeConfig};
use anyhow::Context as _;
use clap::Parser;

/// A stand-in for Stripe Checkout: sessions, the hosted payment page and
/// signed webhook events.
#[derive(Debug, Parser)]
#[command(name = "aihub-stub-stripe", version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The secret API key clients must send as `Authorization: Bearer …`.
    #[arg(long, default_value = "sk_test_stub")]
    secret_key: String,
    /// Where webhook events are POSTed (none sent when absent).
    #[arg(long)]
    webhook_url: Option<String>,
    /// The webhook endpoint's signing secret.
    #[arg(long, default_value = "whsec_test_stub")]
    webhook_secret: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    let config = StripeConfig {
        secret_key: args.secret_key,
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}")?;
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

//! `aihub-gateway`: AI Hub's data plane. Configuration from
//! `config/gateway.toml` defaults, `--config FILE` and `AIHUB_GW_*` variables.

use aihub_gateway::config::GatewayConfig;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: measured here, the gateway
/// spends about a quarter less CPU per request with it (126 vs 157-180 µs at
/// 2,000 req/s), most of the difference being glibc's malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "aihub-gateway", version, about = "AI Hub gateway (data plane)")]
struct Cli {
    /// Configuration file (TOML), merged over the defaults.
    #[arg(long, env = "AIHUB_GW_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match GatewayConfig::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aihub-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        eprintln!("aihub-gateway: configuration is valid");
        return ExitCode::SUCCESS;
    }
    init_logging(&config.log.level, config.log.format == "json");
    if let Err(e) = aihub_gateway::run(config) {
        eprintln!("aihub-gateway: {e:#}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

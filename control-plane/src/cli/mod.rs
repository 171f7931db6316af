//! The `aihub` command line: `serve`, `up`, `migrate` and `admin …`.

mod admin;
mod analytics;
mod billing;
pub(crate) mod up;

use crate::config::Config;
use crate::db::Db;
use crate::server::{shutdown_signal, Application};
use crate::telemetry;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

pub use admin::AdminCommand;

/// AI Hub control plane.
#[derive(Debug, Parser)]
#[command(name = "aihub", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file layered over the built-in defaults.
    #[arg(long, global = true, env = "AIHUB_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text (admin commands).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane (applies migrations first).
    Serve,
    /// Run everything on one machine: control plane plus gateway, SQLite,
    /// a generated shared secret.
    Up,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Operator commands, working directly on the database.
    #[command(subcommand)]
    Admin(Box<AdminCommand>),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            telemetry::init(&config.log);
            serve(config).await
        }
        Command::Up => {
            telemetry::init(&config.log);
            up::run(config).await
        }
        Command::Migrate => {
            telemetry::init(&config.log);
            let db = connect(&config).await?;
            db.migrate().await.context("cannot apply migrations")?;
            db.close().await;
            Output::new(cli.json).emit(
                &serde_json::json!({"migrated": true}),
                "database is up to date",
            )
        }
        Command::Admin(cmd) => {
            // Keep stdout for results and stderr for real problems only.
            telemetry::init(&crate::config::LogConfig {
                level: "warn".into(),
                format: config.log.format,
            });
            let db = connect(&config).await?;
            let result = admin::run(&db, &config, *cmd, &Output::new(cli.json)).await;
            db.close().await;
            result
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(&config).await?;
    tracing::info!(
        listen = %app.local_addr()?,
        database = %crate::config::redact_url(&config.database.url),
        "control plane listening"
    );
    app.run_until(shutdown_signal()).await
}

/// Opens the configured database.
pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    Db::connect(&config.database).await.with_context(|| {
        format!(
            "cannot open database {}",
            crate::config::redact_url(&config.database.url)
        )
    })
}

/// Where command results go: one JSON object, or text for people.
pub struct Output {
    json: bool,
}

impl Output {
    /// Text unless `json`.
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Prints `value` as one JSON line, or `text`.
    pub fn emit(&self, value: &serde_json::Value, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{value}")?;
        } else {
            writeln!(out, "{text}")?;
        }
        out.flush()?;
        Ok(())
    }
}

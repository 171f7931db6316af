//! The `aihub` command line: `serve`, `up`, `migrate` and `admin …` on
//! this machine's database; `login`, `logout`, `whoami` and `keys …` as a
//! developer against a running AI Hub ([`client`]).

mod admin;
mod analytics;
mod billing;
pub mod client;
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
    /// Print one JSON object on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// AI Hub's address, for the developer commands (default: the one
    /// `login` saved).
    #[arg(long, global = true, env = "AIHUB_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Where `login` keeps the session (default
    /// `~/.config/aihub/credentials.json`).
    #[arg(long, global = true, env = "AIHUB_CREDENTIALS", value_name = "PATH")]
    pub credentials: Option<PathBuf>,
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
    /// Sign in to a running AI Hub as a developer and save the session.
    /// The password comes from `AIHUB_PASSWORD` or the first line of stdin.
    Login {
        /// Your account's email address.
        #[arg(long, env = "AIHUB_EMAIL")]
        email: String,
    },
    /// End the saved session.
    Logout,
    /// Show who the saved session belongs to.
    Whoami,
    /// Your API keys.
    #[command(subcommand)]
    Keys(client::KeysCommand),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let conn = client::Connection {
        server: cli.server.clone(),
        credentials: cli.credentials.clone(),
    };
    let out = Output::new(cli.json);
    // The developer commands talk to a running AI Hub and need no
    // configuration file; the others read it.
    let config = || Config::load(cli.config.as_deref());
    match cli.command {
        Command::Login { email } => client::login(&conn, &email, &out).await,
        Command::Logout => client::logout(&conn, &out).await,
        Command::Whoami => client::whoami(&conn, &out).await,
        Command::Keys(cmd) => client::keys(&conn, cmd, &out).await,
        Command::Serve => {
            let config = config()?;
            telemetry::init(&config.log);
            serve(config).await
        }
        Command::Up => {
            let config = config()?;
            telemetry::init(&config.log);
            up::run(config).await
        }
        Command::Migrate => {
            let config = config()?;
            telemetry::init(&config.log);
            let db = connect(&config).await?;
            db.migrate().await.context("cannot apply migrations")?;
            db.close().await;
            out.emit(
                &serde_json::json!({"migrated": true}),
                "database is up to date",
            )
        }
        Command::Admin(cmd) => {
            let config = config()?;
            // Keep stdout for results and stderr for real problems only.
            telemetry::init(&crate::config::LogConfig {
                level: "warn".into(),
                format: config.log.format,
            });
            let db = connect(&config).await?;
            let result = admin::run(&db, &config, *cmd, &out).await;
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

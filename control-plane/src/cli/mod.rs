//! The `aihub` command line: `serve`, `up`, `migrate` and `admin …` on
//! this machine's database; `login`, `logout`, `whoami`, `keys …`,
//! `usage`, `billing`, `invoices …`, `batch …`, `tasks …`, `webhooks …`
//! and `events tail` as a developer against a running AI Hub ([`client`]);
//! `completions` for shells.

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
#[command(
    name = "aihub",
    version,
    about,
    propagate_version = true,
    after_help = client::EXIT_CODES_HELP
)]
pub struct Cli {
    /// Configuration file layered over the built-in defaults.
    #[arg(long, global = true, env = "AIHUB_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print JSON on stdout instead of text: one object per command (one
    /// per line for `events tail`).
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
    Serve {
        /// Only check the configuration (defaults, file, environment) as
        /// `serve` would, print whether it is valid, and exit: 0 valid, 1 not.
        #[arg(long)]
        check: bool,
    },
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
    /// Your usage over a period, broken down by model, key or day.
    Usage(client::UsageArgs),
    /// Your plan, credit balance, token allowance and next invoice.
    Billing,
    /// Your invoices (`aihub invoices` lists them).
    Invoices {
        #[command(subcommand)]
        command: Option<client::InvoicesCommand>,
    },
    /// Batches (OpenAI's Batches API, with an API key): submit a JSONL
    /// file, follow it, download the results.
    Batch(client::BatchArgs),
    /// Background tasks: batch generation, file processing, exports.
    #[command(subcommand)]
    Tasks(client::TasksCommand),
    /// Webhook endpoints and their deliveries.
    #[command(subcommand)]
    Webhooks(client::WebhooksCommand),
    /// Your events, live.
    #[command(subcommand)]
    Events(client::EventsCommand),
    /// Print a shell completion script, e.g.
    /// `aihub completions bash > ~/.local/share/bash-completion/completions/aihub`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
        Command::Usage(args) => client::usage(&conn, args, &out).await,
        Command::Billing => client::billing(&conn, &out).await,
        Command::Invoices { command } => client::invoices(&conn, command, &out).await,
        Command::Batch(args) => client::batch(&conn, args, &out).await,
        Command::Tasks(cmd) => client::tasks(&conn, cmd, &out).await,
        Command::Webhooks(cmd) => client::webhooks(&conn, cmd, &out).await,
        Command::Events(cmd) => client::events(&conn, cmd, &out).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "aihub", &mut script);
            out.raw(&script)
        }
        Command::Serve { check: true } => {
            let config = config()?;
            config.require_shared_secret()?;
            config.require_token_secret()?;
            config.listen_addr()?;
            out.emit(
                &serde_json::json!({"valid": true}),
                "aihub: configuration is valid",
            )
        }
        Command::Serve { check: false } => {
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

    /// Whether the output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Writes bytes as they are (a download, CSV, a script).
    pub fn raw(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        quiet_pipe(out.write_all(bytes).and_then(|()| out.flush()))
    }

    /// Prints `value` as one JSON line, or `text`.
    pub fn emit(&self, value: &serde_json::Value, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let written = if self.json {
            writeln!(out, "{value}")
        } else {
            writeln!(out, "{text}")
        };
        quiet_pipe(written.and_then(|()| out.flush()))
    }
}

/// A reader that stopped reading (`aihub … | head`) is not an error.
fn quiet_pipe(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

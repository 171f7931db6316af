//! `aihub admin …`: operator commands on the database. Each prints one JSON
//! object with `--json`, text otherwise; each writes all or nothing.

use super::Output;
use crate::catalog::{self, prices::parse_price, NewDeployment, NewProvider};
use crate::db::Db;
use crate::developers::{
    self, AccountLimits, Developer, DeveloperType, Email, Language, NewDeveloper, Password, Role,
};
use crate::keys::{self, Expiry, NewKey};
use aihub_contract::money::Prices;
use aihub_contract::snapshot::ProviderKind;
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an operator account (role admin, active, email verified).
    CreateOperator {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Password: 10 to 128 characters, a letter and a digit or symbol.
        #[arg(long, env = "AIHUB_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Full name.
        #[arg(long, default_value = "Operator")]
        name: String,
        /// Support staff: sees every operator page, changes nothing.
        #[arg(long)]
        read_only: bool,
    },
    /// Create a developer account.
    CreateDeveloper {
        /// Email (stored lower-case, unique).
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Company name.
        #[arg(long)]
        company: Option<String>,
        /// Account type.
        #[arg(long = "type", value_enum, default_value_t = DevType::Individual)]
        developer_type: DevType,
        /// Password (10 to 128 characters, a letter and a digit or symbol); without one the account
        /// cannot log in until a password is set.
        #[arg(long)]
        password: Option<String>,
        /// Requests per minute, all keys together (0 = unlimited; default: the plan's).
        #[arg(long)]
        rate_limit: Option<u64>,
        /// A hard cap of tokens per calendar month (UTC), all keys together
        /// (0 = none, the default: the plan's included tokens and credit apply).
        #[arg(long)]
        quota_limit: Option<u64>,
    },
    /// Change a developer's account limits; gateways apply them within a second.
    SetLimits {
        /// Id or email.
        developer: String,
        /// Requests per minute, all keys together (0 = unlimited).
        #[arg(long, required_unless_present = "quota_limit")]
        rate_limit: Option<u64>,
        /// Tokens per calendar month (UTC), all keys together (0 = unlimited).
        #[arg(long)]
        quota_limit: Option<u64>,
    },
    /// Issue an API key; its secret is printed once and never stored.
    CreateKey {
        /// Owner, by id (`dev_…`) or email.
        #[arg(long)]
        developer: String,
        /// Label.
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated models the key may use (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// Days until the key expires (default 365).
        #[arg(long, conflicts_with = "no_expiry")]
        expires_in_days: Option<u32>,
        /// The key never expires.
        #[arg(long)]
        no_expiry: bool,
    },
    /// Disable a key (refused by every gateway within a second).
    DisableKey {
        /// Key id (`key_…`).
        key_id: String,
    },
    /// Delete a key.
    DeleteKey {
        /// Key id (`key_…`).
        key_id: String,
    },
    /// Suspend a developer: all their keys are refused.
    SuspendDeveloper {
        /// Id or email.
        developer: String,
    },
    /// Reactivate a suspended developer.
    ActivateDeveloper {
        /// Id or email.
        developer: String,
    },
    /// Register an upstream provider.
    AddProvider {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// Protocol.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Base URL, e.g. https://api.openai.com/v1.
        #[arg(long)]
        base_url: String,
        /// Upstream API key (empty for local servers).
        #[arg(
            long,
            env = "AIHUB_PROVIDER_API_KEY",
            hide_env_values = true,
            default_value = ""
        )]
        api_key: String,
    },
    /// Add a deployment of a public model on a provider, creating the model
    /// (with the default price table unless prices are given) when missing.
    AddModel {
        /// Public model name.
        #[arg(long)]
        name: String,
        /// Provider, by name or id.
        #[arg(long)]
        provider: String,
        /// Model name at the provider (default: the public name).
        #[arg(long)]
        upstream_model: Option<String>,
        /// Price of a million prompt tokens (requires --output-price-per-million).
        #[arg(long, requires = "output_price_per_million")]
        input_price_per_million: Option<String>,
        /// Price of a million completion tokens (requires --input-price-per-million).
        #[arg(long, requires = "input_price_per_million")]
        output_price_per_million: Option<String>,
        /// Price of a million cached prompt tokens (default: the input price).
        #[arg(long, requires = "input_price_per_million")]
        cached_price_per_million: Option<String>,
        /// Relative weight within its priority group.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// Lower priorities are tried first; higher ones are fallbacks.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// Per-attempt upstream timeout in milliseconds.
        #[arg(long, default_value_t = catalog::models::DEFAULT_TIMEOUT_MS)]
        timeout_ms: u64,
        /// What the provider charges you for a million prompt tokens on this
        /// deployment (margin reports; requires --upstream-output-price-per-million).
        #[arg(long, requires = "upstream_output_price_per_million")]
        upstream_input_price_per_million: Option<String>,
        /// What the provider charges you for a million completion tokens.
        #[arg(long, requires = "upstream_input_price_per_million")]
        upstream_output_price_per_million: Option<String>,
        /// What the provider charges you for a million cached prompt tokens
        /// (default: the upstream input price).
        #[arg(long, requires = "upstream_input_price_per_million")]
        upstream_cached_price_per_million: Option<String>,
    },
    /// List models, prices and deployments.
    ListModels,
    /// List a developer's keys (never their secrets).
    ListKeys {
        /// Id or email.
        #[arg(long)]
        developer: String,
    },
    /// Billing: plans, credit, redemption codes, month close, reconciliation.
    #[command(subcommand)]
    Billing(super::billing::BillingCommand),
    /// Analytics rollups: rebuild, ClickHouse backfill, retention.
    #[command(subcommand)]
    Analytics(super::analytics::AnalyticsCommand),
}

/// `--type`
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DevType {
    /// A person.
    Individual,
    /// A company.
    Enterprise,
}

/// `--kind`
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// OpenAI or any OpenAI-compatible server.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

/// Runs one admin command (migrations are applied first, so a fresh
/// database works straight away).
pub async fn run(
    db: &Db,
    config: &crate::config::Config,
    cmd: AdminCommand,
    out: &Output,
) -> anyhow::Result<()> {
    db.migrate().await.context("cannot apply migrations")?;
    match cmd {
        AdminCommand::CreateOperator {
            email,
            password,
            name,
            read_only,
        } => {
            let email = Email::parse(&email)?;
            let password = Password::new(password, Some(&email))?;
            let dev = developers::create_developer(
                db,
                NewDeveloper {
                    email,
                    full_name: name,
                    company_name: None,
                    developer_type: DeveloperType::Individual,
                    role: Role::Admin,
                    password: Some(password),
                    email_verified: true,
                    language: Language::En,
                },
            )
            .await?;
            if read_only {
                let mut c = db.pool().acquire().await?;
                developers::set_read_only(&mut c, &dev.id, true).await?;
            }
            out.emit(
                &json!({"id": dev.id, "email": dev.email, "role": "admin", "read_only": read_only}),
                &format!("operator {} created (id {})", dev.email, dev.id),
            )
        }
        AdminCommand::CreateDeveloper {
            email,
            name,
            company,
            developer_type,
            password,
            rate_limit,
            quota_limit,
        } => {
            let developer_type = match developer_type {
                DevType::Individual => DeveloperType::Individual,
                DevType::Enterprise => DeveloperType::Enterprise,
            };
            let email = Email::parse(&email)?;
            let password = password
                .map(|p| Password::new(p, Some(&email)))
                .transpose()?;
            let dev = developers::create_developer_with_limits(
                db,
                NewDeveloper {
                    email,
                    full_name: name,
                    company_name: company,
                    developer_type,
                    role: Role::Developer,
                    password,
                    email_verified: false,
                    language: Language::En,
                },
                AccountLimits {
                    rate_limit,
                    quota_limit,
                },
            )
            .await?;
            out.emit(
                &developer_json(&dev),
                &format!(
                    "developer {} created (id {}), {}",
                    dev.email,
                    dev.id,
                    limits_text(&dev)
                ),
            )
        }
        AdminCommand::SetLimits {
            developer,
            rate_limit,
            quota_limit,
        } => {
            let dev = developers::set_limits(
                db,
                &developer,
                AccountLimits {
                    rate_limit,
                    quota_limit,
                },
            )
            .await?;
            out.emit(
                &developer_json(&dev),
                &format!("developer {}: {}", dev.email, limits_text(&dev)),
            )
        }
        AdminCommand::CreateKey {
            developer,
            name,
            models,
            expires_in_days,
            no_expiry,
        } => {
            let expiry = match (expires_in_days, no_expiry) {
                (_, true) => Expiry::Never,
                (Some(d), false) => Expiry::InDays(d),
                (None, false) => Expiry::Default,
            };
            let created = keys::create_key(
                db,
                NewKey {
                    developer,
                    name,
                    allowed_models: models,
                    expiry,
                },
            )
            .await?;
            let k = &created.key;
            let secret = created.secret.expose();
            out.emit(
                &json!({
                    "id": k.id,
                    "secret": secret,
                    "display_prefix": k.display_prefix,
                    "developer_id": k.developer_id,
                    "name": k.name,
                    "expires_at_ms": k.expires_at_ms,
                    "allowed_models": k.allowed_models,
                }),
                &format!(
                    "key {} created for {}\n\n    {secret}\n\nStore this secret now: it is not kept and cannot be shown again.",
                    k.id, k.developer_id
                ),
            )
        }
        AdminCommand::DisableKey { key_id } => {
            let k = keys::disable_key(db, &key_id).await?;
            out.emit(
                &json!({"id": k.id, "enabled": false}),
                &format!("key {} disabled", k.id),
            )
        }
        AdminCommand::DeleteKey { key_id } => {
            let k = keys::delete_key(db, &key_id).await?;
            out.emit(
                &json!({"id": k.id, "deleted": true}),
                &format!("key {} deleted", k.id),
            )
        }
        AdminCommand::SuspendDeveloper { developer } => {
            let d = developers::set_active(db, &developer, false).await?;
            out.emit(
                &json!({"id": d.id, "email": d.email, "active": false}),
                &format!("developer {} suspended", d.email),
            )
        }
        AdminCommand::ActivateDeveloper { developer } => {
            let d = developers::set_active(db, &developer, true).await?;
            out.emit(
                &json!({"id": d.id, "email": d.email, "active": true}),
                &format!("developer {} active", d.email),
            )
        }
        AdminCommand::AddProvider {
            name,
            kind,
            base_url,
            api_key,
        } => {
            let kind = match kind {
                Kind::Openai => ProviderKind::Openai,
                Kind::Anthropic => ProviderKind::Anthropic,
            };
            let secret = super::up::server_token_secret(config)?;
            let vault = catalog::KeyVault::new(secret.expose().as_bytes());
            let p = catalog::add_provider(
                db,
                &vault,
                NewProvider {
                    name,
                    kind,
                    base_url,
                    api_key,
                },
            )
            .await?;
            out.emit(
                &json!({"id": p.id, "name": p.name, "kind": p.kind, "base_url": p.base_url}),
                &format!("provider {} added (id {})", p.name, p.id),
            )
        }
        AdminCommand::AddModel {
            name,
            provider,
            upstream_model,
            input_price_per_million,
            output_price_per_million,
            cached_price_per_million,
            weight,
            priority,
            timeout_ms,
            upstream_input_price_per_million,
            upstream_output_price_per_million,
            upstream_cached_price_per_million,
        } => {
            let prices = price_triple(
                "",
                input_price_per_million,
                output_price_per_million,
                cached_price_per_million,
            )?;
            let upstream_prices = price_triple(
                "upstream ",
                upstream_input_price_per_million,
                upstream_output_price_per_million,
                upstream_cached_price_per_million,
            )?;
            let added = catalog::add_model(
                db,
                NewDeployment {
                    model: name.clone(),
                    provider,
                    upstream_model,
                    prices,
                    weight,
                    priority,
                    timeout_ms,
                    upstream_prices,
                },
            )
            .await?;
            let p = &added.prices;
            out.emit(
                &json!({
                    "model_id": added.model_id,
                    "model_created": added.model_created,
                    "deployment_id": added.deployment_id,
                    "prices": p,
                }),
                &format!(
                    "{} {name} (id {}), deployment {} added\nprices per million tokens: input {}, output {}, cached {}",
                    if added.model_created { "model created:" } else { "model" },
                    added.model_id,
                    added.deployment_id,
                    p.input_per_million,
                    p.output_per_million,
                    p.cached_per_million
                ),
            )
        }
        AdminCommand::ListModels => {
            let models = catalog::list_models(db).await?;
            let mut text = String::new();
            if models.is_empty() {
                text.push_str("no models yet: add one with `aihub admin add-model`");
            }
            for m in &models {
                text.push_str(&format!(
                    "{}  {}  input {} / output {} / cached {} per million{}\n",
                    m.id,
                    m.name,
                    m.prices.input_per_million,
                    m.prices.output_per_million,
                    m.prices.cached_per_million,
                    if m.enabled { "" } else { "  (disabled)" }
                ));
                for d in &m.deployments {
                    text.push_str(&format!(
                        "    {}  {} as {}  weight {} priority {} timeout {} ms{}\n",
                        d.id,
                        d.provider_name,
                        d.upstream_model,
                        d.weight,
                        d.priority,
                        d.timeout_ms,
                        if d.enabled { "" } else { "  (disabled)" }
                    ));
                }
            }
            out.emit(&json!({"models": models}), text.trim_end())
        }
        AdminCommand::ListKeys { developer } => {
            let keys = keys::list_keys(db, &developer).await?;
            let mut text = String::new();
            if keys.is_empty() {
                text.push_str("no keys");
            }
            for k in &keys {
                text.push_str(&format!(
                    "{}  {}  {}  {}{}\n",
                    k.id,
                    k.display_prefix,
                    k.name,
                    if k.enabled { "enabled" } else { "disabled" },
                    match k.expires_at_ms {
                        Some(ms) => format!("  expires {}", rfc3339(ms)),
                        None => "  never expires".into(),
                    }
                ));
            }
            out.emit(&json!({"keys": keys}), text.trim_end())
        }
        AdminCommand::Billing(cmd) => super::billing::run(db, config, cmd, out).await,
        AdminCommand::Analytics(cmd) => super::analytics::run(db, config, cmd, out).await,
    }
}

/// What the developer commands print.
fn developer_json(dev: &Developer) -> serde_json::Value {
    json!({
        "id": dev.id,
        "email": dev.email,
        "full_name": dev.full_name,
        "company_name": dev.company_name,
        "developer_type": dev.developer_type,
        "active": dev.is_active,
        "rate_limit": dev.api_rate_limit,
        "quota_limit": dev.api_quota_limit,
    })
}

/// `rate limit 100/min, quota 1000 tokens/month` (0 = unlimited).
fn limits_text(dev: &Developer) -> String {
    let show = |n: i64, unit: &str| {
        if n > 0 {
            format!("{n} {unit}")
        } else {
            "unlimited".to_string()
        }
    };
    format!(
        "rate limit {}, quota {}",
        show(dev.api_rate_limit, "requests/min"),
        show(dev.api_quota_limit, "tokens/month")
    )
}

/// A unix-ms time as `2026-01-31T12:00:00Z`.
fn rfc3339(ms: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Prices from `--…-price-per-million` options: none, or input and output
/// (cached defaulting to input).
fn price_triple(
    what: &str,
    input: Option<String>,
    output: Option<String>,
    cached: Option<String>,
) -> anyhow::Result<Option<Prices>> {
    let (Some(i), Some(o)) = (input, output) else {
        return Ok(None);
    };
    let input = parse_price(&format!("{what}input price per million"), &i)?;
    let output = parse_price(&format!("{what}output price per million"), &o)?;
    let cached = match cached {
        Some(c) => parse_price(&format!("{what}cached price per million"), &c)?,
        None => input,
    };
    Ok(Some(Prices {
        input_per_million: input,
        output_per_million: output,
        cached_per_million: cached,
    }))
}

//! `aihub keys list|create|update|regenerate|delete`.

use super::{cell, data, joined_or_all, table, time_ms, Api, ClientError, Connection};
use crate::cli::Output;
use clap::{ArgAction, Subcommand};
use serde_json::{json, Map, Value};

/// `aihub keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List your API keys (never their secrets).
    List,
    /// Create an API key; its secret is printed this once.
    Create {
        /// A name to recognise it by.
        name: String,
        /// Allow only this model (repeat for several); default: every model.
        #[arg(long = "model", value_name = "MODEL")]
        models: Vec<String>,
        /// Expire after this many days (default: the server's default lifetime).
        #[arg(long, conflicts_with = "never_expires")]
        expires_in_days: Option<u32>,
        /// Never expire.
        #[arg(long)]
        never_expires: bool,
    },
    /// Change a key: name, on/off, models, endpoints, addresses, limits.
    /// Options not given stay as they are; a limit set to `none` is removed.
    Update(Box<UpdateArgs>),
    /// Replace a key's secret; the new one is printed this once.
    Regenerate {
        /// The key's id (`key_…`).
        id: String,
        /// Keep the old secret working this many seconds more (default 0).
        #[arg(long, value_name = "SECONDS")]
        grace_seconds: Option<u32>,
    },
    /// Delete an API key; gateways refuse it within a second.
    Delete {
        /// The key's id (`key_…`).
        id: String,
    },
}

/// `aihub keys update ID …`
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The key's id (`key_…`).
    id: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// Turn the key on.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Turn the key off (requests with it are refused until enabled).
    #[arg(long)]
    disable: bool,
    /// Allow only these models (repeat or comma-separate).
    #[arg(
        long = "model",
        value_name = "MODEL",
        value_delimiter = ',',
        conflicts_with = "all_models"
    )]
    models: Vec<String>,
    /// Allow every model again.
    #[arg(long)]
    all_models: bool,
    /// Allow only these endpoints: chat, completions, embeddings, batches, files.
    #[arg(
        long = "endpoint",
        value_name = "ENDPOINT",
        value_delimiter = ',',
        conflicts_with = "all_endpoints"
    )]
    endpoints: Vec<String>,
    /// Allow every endpoint again.
    #[arg(long)]
    all_endpoints: bool,
    /// Accept requests only from these IPs or CIDR ranges.
    #[arg(
        long = "allow-ip",
        value_name = "IP_OR_CIDR",
        value_delimiter = ',',
        conflicts_with = "any_ip"
    )]
    ips: Vec<String>,
    /// Accept requests from any address again.
    #[arg(long)]
    any_ip: bool,
    /// Expire this many days from now.
    #[arg(long, value_name = "DAYS", conflicts_with = "never_expires")]
    expires_in_days: Option<u32>,
    /// Never expire.
    #[arg(long)]
    never_expires: bool,
    /// Requests per minute (`none`: no limit of the key's own).
    #[arg(long, value_name = "N|none", value_parser = parse_count)]
    rpm: Option<Value>,
    /// Tokens per minute (`none` removes it).
    #[arg(long, value_name = "N|none", value_parser = parse_count)]
    tpm: Option<Value>,
    /// Tokens in total (`none` removes it).
    #[arg(long, value_name = "N|none", value_parser = parse_count)]
    token_quota_total: Option<Value>,
    /// Tokens per calendar month (`none` removes it).
    #[arg(long, value_name = "N|none", value_parser = parse_count)]
    token_quota_monthly: Option<Value>,
    /// Spending cap in total, in the account's currency, e.g. `25.00` (`none` removes it).
    #[arg(long, value_name = "AMOUNT|none", value_parser = parse_amount)]
    budget_total: Option<Value>,
    /// Spending cap per calendar month (`none` removes it).
    #[arg(long, value_name = "AMOUNT|none", value_parser = parse_amount)]
    budget_monthly: Option<Value>,
    /// Remove every limit of the key's own.
    #[arg(long, action = ArgAction::SetTrue)]
    no_limits: bool,
}

fn parse_count(s: &str) -> Result<Value, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Value::Null);
    }
    s.parse::<u64>()
        .map(|n| json!(n))
        .map_err(|_| format!("expected a whole number or `none`, got `{s}`"))
}

fn parse_amount(s: &str) -> Result<Value, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Value::Null);
    }
    s.parse::<rust_decimal::Decimal>()
        .ok()
        .filter(|d| !d.is_sign_negative())
        .map(|d| json!(d.to_string()))
        .ok_or_else(|| format!("expected an amount like 25.00 or `none`, got `{s}`"))
}

/// The fields of a key's row in the table.
fn row(k: &Value) -> Vec<String> {
    vec![
        cell(&k["id"]),
        cell(&k["name"]),
        cell(&k["display_prefix"]),
        if k["enabled"].as_bool() == Some(true) {
            "enabled"
        } else {
            "disabled"
        }
        .to_string(),
        joined_or_all(&k["allowed_models"]),
        time_ms(&k["expires_at_ms"]),
        time_ms(&k["last_used_at_ms"]),
    ]
}

const HEADER: [&str; 7] = [
    "ID",
    "NAME",
    "KEY",
    "STATUS",
    "MODELS",
    "EXPIRES",
    "LAST USED",
];

/// `aihub keys …`
pub async fn keys(conn: &Connection, cmd: KeysCommand, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    match cmd {
        KeysCommand::List => {
            let list = api.get("/api/v1/developer/keys", &[]).await?;
            let rows: Vec<Vec<String>> = data(&list).iter().map(row).collect();
            out.emit(&list, &table(&HEADER, &rows))
        }
        KeysCommand::Create {
            name,
            models,
            expires_in_days,
            never_expires,
        } => {
            let mut body = json!({"name": name});
            if !models.is_empty() {
                body["allowed_models"] = json!(models);
            }
            if never_expires {
                body["expires_in_days"] = Value::Null;
            } else if let Some(d) = expires_in_days {
                body["expires_in_days"] = json!(d);
            }
            let key = api
                .call(reqwest::Method::POST, "/api/v1/developer/keys", Some(body))
                .await?;
            out.emit(&key, &with_secret("created", &key))
        }
        KeysCommand::Update(args) => {
            let id = args.id.clone();
            let body = update_body(&mut api, *args).await?;
            let key = api
                .call(
                    reqwest::Method::PUT,
                    &format!("/api/v1/developer/keys/{id}"),
                    Some(body),
                )
                .await?;
            out.emit(
                &key,
                &format!("updated {id}\n{}", table(&HEADER, &[row(&key)])),
            )
        }
        KeysCommand::Regenerate { id, grace_seconds } => {
            let body = grace_seconds.map(|g| json!({"grace_seconds": g}));
            let key = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/developer/keys/{id}/regenerate"),
                    body,
                )
                .await?;
            let mut text = with_secret("regenerated", &key);
            if key["grace_expires_at_ms"].is_i64() {
                text.push_str(&format!(
                    "\nThe old secret keeps working until {} UTC.",
                    time_ms(&key["grace_expires_at_ms"])
                ));
            }
            out.emit(&key, &text)
        }
        KeysCommand::Delete { id } => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/developer/keys/{id}"),
                None,
            )
            .await?;
            out.emit(&json!({"deleted": id}), &format!("deleted {id}"))
        }
    }
}

fn with_secret(what: &str, key: &Value) -> String {
    format!(
        "{what} {} ({})\n{}\nStore this secret now: it is not shown again.",
        cell(&key["id"]),
        cell(&key["name"]),
        cell(&key["secret"])
    )
}

/// The `PUT` body: only what was asked for. Limits are replaced as a
/// whole by the API, so single limits are merged into the key's current
/// ones.
async fn update_body(api: &mut Api, a: UpdateArgs) -> anyhow::Result<Value> {
    let mut body = Map::new();
    if let Some(n) = a.name {
        body.insert("name".into(), json!(n));
    }
    if a.enable || a.disable {
        body.insert("enabled".into(), json!(a.enable));
    }
    if a.all_models {
        body.insert("allowed_models".into(), Value::Null);
    } else if !a.models.is_empty() {
        body.insert("allowed_models".into(), json!(a.models));
    }
    if a.all_endpoints {
        body.insert("allowed_endpoints".into(), Value::Null);
    } else if !a.endpoints.is_empty() {
        body.insert("allowed_endpoints".into(), json!(a.endpoints));
    }
    if a.any_ip {
        body.insert("ip_allowlist".into(), Value::Null);
    } else if !a.ips.is_empty() {
        body.insert("ip_allowlist".into(), json!(a.ips));
    }
    if a.never_expires {
        body.insert("expires_at_ms".into(), Value::Null);
    } else if let Some(days) = a.expires_in_days {
        let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
        let at = now.timestamp_millis() + i64::from(days) * 86_400_000;
        body.insert("expires_at_ms".into(), json!(at));
    }
    let changes: Vec<(&str, Value)> = [
        ("requests_per_minute", a.rpm),
        ("tokens_per_minute", a.tpm),
        ("token_quota_total", a.token_quota_total),
        ("token_quota_monthly", a.token_quota_monthly),
        ("budget_total", a.budget_total),
        ("budget_monthly", a.budget_monthly),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    if a.no_limits {
        if !changes.is_empty() {
            return Err(ClientError::refused(
                "invalid_arguments",
                "--no-limits removes every limit: give no other limit with it",
            )
            .into());
        }
        body.insert("limits".into(), Value::Null);
    } else if !changes.is_empty() {
        let list = api.get("/api/v1/developer/keys", &[]).await?;
        let current = data(&list)
            .iter()
            .find(|k| k["id"] == a.id.as_str())
            .ok_or_else(|| ClientError {
                status: 404,
                code: "not_found".into(),
                message: format!("no key {} among yours", a.id),
            })?;
        let mut limits = current["limits"].as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            limits.insert(k.into(), v);
        }
        body.insert("limits".into(), Value::Object(limits));
    }
    if body.is_empty() {
        return Err(ClientError::refused(
            "invalid_arguments",
            "nothing to change: give at least one option (see `aihub keys update --help`)",
        )
        .into());
    }
    Ok(Value::Object(body))
}

//! API keys: issuing (the secret is shown once and stored only as its
//! SHA-256), disabling, deleting, listing, and the gateway's view of them.
//! What developers do with their own keys through the API (with audit
//! entries and domain events) is in [`owned`].
//!
//! **Grace secrets.** Regenerating a key with a grace period keeps the
//! replaced secret's hash in `api_key_previous_secrets` until the grace
//! ends. Gateways see it as one more [`KeyEntry`] with the id
//! `<key_id>:grace` ([`GRACE_SUFFIX`]), the key's owner and models, and
//! `expires_at_ms` = the end of the grace (or the key's own expiry when
//! sooner). It authenticates as the same developer; usage rows of requests
//! made with it carry the key id with the suffix (the per-key statistics
//! count them with the key). Disabling or deleting the key ends it too.
//! The grace entry carries the key's scopes, limits and allow-list.
//!
//! **Permissions and limits.** A key may be narrowed to endpoint families
//! (`allowed_endpoints`), given its own rate limits, token quotas and
//! budgets ([`KeyLimits`]; a key's requests per minute and monthly tokens can
//! never exceed its account's), and an IP allow-list (CIDRs, stored
//! normalised). `metadata` is free-form text for its owner (Stripe's rules:
//! at most 16 pairs, keys up to 40 characters, values up to 500).

pub mod owned;

use crate::db::{self, get_bool, Db, Entity};
use crate::developers;
use crate::error::{DomainError, DomainResult};
use aihub_contract::keys::KeySecret;
use aihub_contract::money;
use aihub_contract::snapshot::{EndpointScope, KeyEntry, KeyLimits};
use ipnet::IpNet;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Keys expire a year after creation unless told otherwise (business plan).
pub const DEFAULT_EXPIRY_DAYS: u32 = 365;
const MAX_EXPIRY_DAYS: u32 = 36_500;
const MAX_NAME_LEN: usize = 100;
const MAX_MODELS: usize = 256;
const DAY_MS: i64 = 86_400_000;
const MAX_IP_RULES: usize = 100;
const MAX_METADATA_PAIRS: usize = 16;
const MAX_METADATA_KEY_LEN: usize = 40;
const MAX_METADATA_VALUE_LEN: usize = 500;
/// Budgets are given in currency units with at most this many decimals.
const MAX_BUDGET_DECIMALS: u32 = 6;

pub use aihub_contract::keys::GRACE_SUFFIX;

/// Records a change of key `id` for the gateways, and of its grace entry
/// when it has one (whose models, owner and standing follow the key's).
pub async fn record_key_change(
    conn: &mut AnyConnection,
    backend: db::Backend,
    id: &str,
) -> DomainResult<()> {
    db::record_change(&mut *conn, backend, Entity::Key, id).await?;
    let grace = sqlx::query("SELECT key_id FROM api_key_previous_secrets WHERE key_id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if grace.is_some() {
        db::record_change(
            &mut *conn,
            backend,
            Entity::Key,
            &format!("{id}{GRACE_SUFFIX}"),
        )
        .await?;
    }
    Ok(())
}

/// When a new key stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// [`DEFAULT_EXPIRY_DAYS`] after creation.
    Default,
    /// This many days after creation.
    InDays(u32),
    /// Never.
    Never,
}

/// Input of [`create_key`].
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Owner, by id or email.
    pub developer: String,
    /// A label for people; defaults to "default".
    pub name: Option<String>,
    /// Models the key may call; `None` = all.
    pub allowed_models: Option<Vec<String>>,
    /// Expiry.
    pub expiry: Expiry,
}

/// An API key's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// `key_…`
    pub id: String,
    /// Owner.
    pub developer_id: String,
    /// Label.
    pub name: String,
    /// Safe display form of the secret.
    pub display_prefix: String,
    /// Whether it can authenticate (unless expired).
    pub enabled: bool,
    /// Expiry, unix ms; `None` = never.
    pub expires_at_ms: Option<i64>,
    /// Allowed models; `None` = all.
    pub allowed_models: Option<Vec<String>>,
    /// Endpoint families the key may call; `None` = all.
    pub allowed_endpoints: Option<Vec<EndpointScope>>,
    /// The key's own rate limits, quotas and budgets.
    pub limits: KeyLimits,
    /// Client networks (normalised CIDRs) the key may be used from; `None` = any.
    pub ip_allowlist: Option<Vec<String>>,
    /// The owner's notes about the key.
    pub metadata: BTreeMap<String, String>,
    /// Last request seen through usage ingest, unix ms.
    pub last_used_at_ms: Option<i64>,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
}

/// A key just created: the only moment its secret exists in clear.
pub struct CreatedKey {
    /// Metadata.
    pub key: ApiKey,
    /// The secret, to show once.
    pub secret: KeySecret,
}

macro_rules! columns {
    () => {
        "id, developer_id, name, display_prefix, enabled, expires_at, allowed_models, \
         allowed_endpoints, rpm_limit, tpm_limit, token_quota_total, token_quota_monthly, \
         budget_total_nanos, budget_monthly_nanos, ip_allowlist, metadata, \
         last_used_at, created_at"
    };
}

/// The columns [`limits_from_row`] and friends read, unqualified.
macro_rules! limit_columns {
    () => {
        "allowed_endpoints, rpm_limit, tpm_limit, token_quota_total, token_quota_monthly, \
         budget_total_nanos, budget_monthly_nanos, ip_allowlist"
    };
}

pub(crate) fn parse_models(raw: Option<String>) -> DomainResult<Option<Vec<String>>> {
    raw.map(|json| {
        serde_json::from_str::<Vec<String>>(&json)
            .map_err(|e| DomainError::Internal(format!("allowed_models is not a JSON list: {e}")))
    })
    .transpose()
}

fn parse_json_list<T: serde::de::DeserializeOwned>(
    column: &str,
    raw: Option<String>,
) -> DomainResult<Option<Vec<T>>> {
    raw.map(|json| {
        serde_json::from_str::<Vec<T>>(&json)
            .map_err(|e| DomainError::Internal(format!("{column} is not a valid JSON list: {e}")))
    })
    .transpose()
}

fn positive_u64(row: &AnyRow, column: &str) -> DomainResult<Option<u64>> {
    let v: Option<i64> = row.try_get(column)?;
    Ok(v.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0))
}

fn limits_from_row(row: &AnyRow) -> DomainResult<KeyLimits> {
    Ok(KeyLimits {
        requests_per_minute: positive_u64(row, "rpm_limit")?,
        tokens_per_minute: positive_u64(row, "tpm_limit")?,
        token_quota_total: positive_u64(row, "token_quota_total")?,
        token_quota_monthly: positive_u64(row, "token_quota_monthly")?,
        budget_total_nanos: row.try_get("budget_total_nanos")?,
        budget_monthly_nanos: row.try_get("budget_monthly_nanos")?,
    })
}

fn parse_metadata(raw: &str) -> DomainResult<BTreeMap<String, String>> {
    serde_json::from_str(raw)
        .map_err(|e| DomainError::Internal(format!("metadata is not a JSON object: {e}")))
}

pub(crate) fn from_row(row: &AnyRow) -> DomainResult<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        developer_id: row.try_get("developer_id")?,
        name: row.try_get("name")?,
        display_prefix: row.try_get("display_prefix")?,
        enabled: get_bool(row, "enabled")?,
        expires_at_ms: row.try_get("expires_at")?,
        allowed_models: parse_models(row.try_get("allowed_models")?)?,
        allowed_endpoints: parse_json_list("allowed_endpoints", row.try_get("allowed_endpoints")?)?,
        limits: limits_from_row(row)?,
        ip_allowlist: parse_json_list("ip_allowlist", row.try_get("ip_allowlist")?)?,
        metadata: parse_metadata(&row.try_get::<String, _>("metadata")?)?,
        last_used_at_ms: row.try_get("last_used_at")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

/// A key name: 1 to [`MAX_NAME_LEN`] printable characters, trimmed.
pub(crate) fn clean_name(raw: &str) -> DomainResult<String> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_LEN || n.chars().any(char::is_control) {
        return Err(DomainError::invalid(format!(
            "name: expected 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    Ok(n.to_string())
}

/// When a key created at `now` with `expiry` stops working.
pub(crate) fn expires_at(expiry: Expiry, now: i64) -> DomainResult<Option<i64>> {
    match expiry {
        Expiry::Default => Ok(Some(now + i64::from(DEFAULT_EXPIRY_DAYS) * DAY_MS)),
        Expiry::InDays(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => {
            Ok(Some(now + i64::from(d) * DAY_MS))
        }
        Expiry::InDays(d) => Err(DomainError::invalid(format!(
            "expires in days: expected 1 to {MAX_EXPIRY_DAYS}, got {d}"
        ))),
        Expiry::Never => Ok(None),
    }
}

pub(crate) fn clean_models(models: Option<Vec<String>>) -> DomainResult<Option<Vec<String>>> {
    let Some(models) = models else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for m in models {
        let m = m.trim().to_string();
        if m.is_empty() || m.len() > 128 || m.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::invalid(format!(
                "models: expected model names without spaces, got '{m}'"
            )));
        }
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(DomainError::invalid(
            "models: expected at least one model name (leave the option out to allow all models)",
        ));
    }
    if out.len() > MAX_MODELS {
        return Err(DomainError::invalid(format!(
            "models: expected at most {MAX_MODELS} names"
        )));
    }
    Ok(Some(out))
}

/// Endpoint scopes by their API names: deduplicated, in documentation order,
/// never an empty list (`None` allows all).
pub fn clean_endpoints(raw: Option<Vec<String>>) -> DomainResult<Option<Vec<EndpointScope>>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let names = || {
        EndpointScope::ALL
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen = Vec::new();
    for name in &raw {
        let scope = EndpointScope::parse(name.trim()).ok_or_else(|| {
            DomainError::invalid(format!(
                "allowed_endpoints: expected some of {}, got '{name}'",
                names()
            ))
        })?;
        if !seen.contains(&scope) {
            seen.push(scope);
        }
    }
    if seen.is_empty() {
        return Err(DomainError::invalid(format!(
            "allowed_endpoints: expected at least one of {} (null allows all)",
            names()
        )));
    }
    Ok(Some(
        EndpointScope::ALL
            .into_iter()
            .filter(|e| seen.contains(e))
            .collect(),
    ))
}

/// The fields of the API's `limits` object.
const LIMIT_FIELDS: [&str; 6] = [
    "requests_per_minute",
    "tokens_per_minute",
    "token_quota_total",
    "token_quota_monthly",
    "budget_total",
    "budget_monthly",
];

fn limit_count(field: &str, v: Option<&Value>) -> DomainResult<Option<u64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .filter(|n| *n >= 1 && i64::try_from(*n).is_ok())
            .map(Some)
            .ok_or_else(|| {
                DomainError::invalid(format!(
                    "limits.{field}: expected a whole number of at least 1, or null; got {n}"
                ))
            }),
    }
}

/// A budget in currency units (a JSON string or number, exact decimal,
/// more than 0, at most 6 decimals) as nano-units.
fn limit_budget(field: &str, v: Option<&Value>) -> DomainResult<Option<i64>> {
    let bad = |got: &dyn std::fmt::Display| {
        DomainError::invalid(format!(
            "limits.{field}: expected an amount above 0 with at most {MAX_BUDGET_DECIMALS}              decimals, as a string (\"12.50\") or number, or null; got {got}"
        ))
    };
    let text = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(bad(other)),
    };
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| bad(&format!("'{text}'")))?
        .normalize();
    if amount <= Decimal::ZERO || amount.scale() > MAX_BUDGET_DECIMALS {
        return Err(bad(&format!("'{text}'")));
    }
    // Checked before multiplying: Decimal arithmetic panics on overflow.
    let max_units = Decimal::from(i64::MAX / money::NANOS_PER_UNIT);
    if amount > max_units {
        return Err(bad(&format!("'{text}' (at most {max_units})")));
    }
    money::decimal_to_nanos(amount)
        .map(Some)
        .ok_or_else(|| bad(&format!("'{text}' (too large)")))
}

/// Reads the API's `limits` object (absent fields = unset).
pub fn parse_limits(raw: &Value) -> DomainResult<KeyLimits> {
    let Some(obj) = raw.as_object() else {
        return Err(DomainError::invalid(
            "limits: expected an object (or null to remove every limit)",
        ));
    };
    if let Some(unknown) = obj.keys().find(|k| !LIMIT_FIELDS.contains(&k.as_str())) {
        return Err(DomainError::invalid(format!(
            "limits.{unknown}: unknown field; expected some of {}",
            LIMIT_FIELDS.join(", ")
        )));
    }
    let count = |f: &str| limit_count(f, obj.get(f));
    let budget = |f: &str| limit_budget(f, obj.get(f));
    Ok(KeyLimits {
        requests_per_minute: count("requests_per_minute")?,
        tokens_per_minute: count("tokens_per_minute")?,
        token_quota_total: count("token_quota_total")?,
        token_quota_monthly: count("token_quota_monthly")?,
        budget_total_nanos: budget("budget_total")?,
        budget_monthly_nanos: budget("budget_monthly")?,
    })
}

/// The API's `limits` object: budgets as decimal strings of currency units,
/// with at least two decimals like every amount of the API (`"5.00"`).
pub fn limits_json(limits: &KeyLimits) -> Value {
    let budget = |n: Option<i64>| n.map(crate::billing::money::format);
    json!({
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "token_quota_total": limits.token_quota_total,
        "token_quota_monthly": limits.token_quota_monthly,
        "budget_total": budget(limits.budget_total_nanos),
        "budget_monthly": budget(limits.budget_monthly_nanos),
    })
}

/// An account limit as the gateway and the API see it: `None` = unlimited
/// (a stored value of 0 or less).
pub fn account_limit(stored: i64) -> Option<u64> {
    u64::try_from(stored).ok().filter(|n| *n > 0)
}

/// A key's limits may only narrow its account's: requests per minute up to
/// `api_rate_limit`, monthly tokens up to `api_quota_limit`.
pub fn check_within_account(limits: &KeyLimits, owner: &developers::Developer) -> DomainResult<()> {
    let checks = [
        (
            "requests_per_minute",
            limits.requests_per_minute,
            account_limit(owner.api_rate_limit),
        ),
        (
            "token_quota_monthly",
            limits.token_quota_monthly,
            account_limit(owner.api_quota_limit),
        ),
    ];
    for (field, mine, account) in checks {
        if let (Some(mine), Some(account)) = (mine, account) {
            if mine > account {
                return Err(DomainError::invalid(format!(
                    "limits.{field}: at most {account} (your account's limit), got {mine}"
                )));
            }
        }
    }
    Ok(())
}

/// Client networks: each a CIDR or a bare address (which becomes a /32 or
/// /128), stored normalised (host bits cleared), deduplicated, 1 to 100.
pub fn clean_ip_allowlist(raw: Option<Vec<String>>) -> DomainResult<Option<Vec<String>>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for entry in &raw {
        let text = entry.trim();
        let net = IpNet::from_str(text)
            .or_else(|_| std::net::IpAddr::from_str(text).map(IpNet::from))
            .map_err(|_| {
                DomainError::invalid(format!(
                    "ip_allowlist: expected IP addresses or CIDR networks                      (203.0.113.0/24, 2001:db8::/32), got '{entry}'"
                ))
            })?;
        let normalised = net.trunc().to_string();
        if !out.contains(&normalised) {
            out.push(normalised);
        }
    }
    if out.is_empty() || out.len() > MAX_IP_RULES {
        return Err(DomainError::invalid(format!(
            "ip_allowlist: expected 1 to {MAX_IP_RULES} networks (null allows any address)"
        )));
    }
    Ok(Some(out))
}

/// Metadata (Stripe's rules): at most 16 pairs, keys of 1 to 40 characters,
/// string values of at most 500.
pub fn clean_metadata(raw: Map<String, Value>) -> DomainResult<BTreeMap<String, String>> {
    if raw.len() > MAX_METADATA_PAIRS {
        return Err(DomainError::invalid(format!(
            "metadata: expected at most {MAX_METADATA_PAIRS} pairs, got {}",
            raw.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let len = k.chars().count();
        if len == 0 || len > MAX_METADATA_KEY_LEN || k.chars().any(char::is_control) {
            return Err(DomainError::invalid(format!(
                "metadata: keys must be 1 to {MAX_METADATA_KEY_LEN} printable characters, got '{k}'"
            )));
        }
        match v {
            Value::String(s) if s.chars().count() <= MAX_METADATA_VALUE_LEN => {
                out.insert(k, s);
            }
            _ => {
                return Err(DomainError::invalid(format!(
                    "metadata.{k}: expected a string of at most {MAX_METADATA_VALUE_LEN} characters"
                )))
            }
        }
    }
    Ok(out)
}

/// A list or map as the JSON text stored in a column.
pub(crate) fn to_json_text<T: Serialize>(v: &T) -> DomainResult<String> {
    serde_json::to_string(v).map_err(|e| DomainError::Internal(e.to_string()))
}

/// Issues a key for a developer. The returned secret is not stored anywhere.
pub async fn create_key(db: &Db, new: NewKey) -> DomainResult<CreatedKey> {
    let name = match new.name.as_deref().map(str::trim) {
        None | Some("") => "default".to_string(),
        Some(n) => clean_name(n)?,
    };
    let models = clean_models(new.allowed_models)?;
    let models_json = models
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    let now = db::now_ms();
    let expires_at = expires_at(new.expiry, now)?;
    let secret = KeySecret::generate();
    let id = db::new_id("key_");

    let mut tx = db.begin_write().await?;
    let developer = developers::resolve(&mut tx, &new.developer).await?;
    sqlx::query(
        "INSERT INTO api_keys (id, developer_id, name, display_prefix, secret_hash, enabled, \
         expires_at, allowed_models, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(&developer.id)
    .bind(&name)
    .bind(secret.display_prefix())
    .bind(secret.hash())
    .bind(true)
    .bind(expires_at)
    .bind(models_json)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    db::record_change(&mut tx, db.backend(), Entity::Key, &id).await?;
    let key = fetch(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(CreatedKey { key, secret })
}

pub(crate) async fn fetch(conn: &mut AnyConnection, id: &str) -> DomainResult<ApiKey> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(DomainError::NotFound(format!("no key with id '{id}'"))),
    }
}

/// Disables a key: it stops authenticating on every gateway within a second.
pub async fn disable_key(db: &Db, id: &str) -> DomainResult<ApiKey> {
    let mut tx = db.begin_write().await?;
    fetch(&mut tx, id).await?;
    sqlx::query("UPDATE api_keys SET enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(false)
        .bind(db::now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    record_key_change(&mut tx, db.backend(), id).await?;
    let key = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(key)
}

/// Deletes a key (kept for usage history, never shown or accepted again).
pub async fn delete_key(db: &Db, id: &str) -> DomainResult<ApiKey> {
    let mut tx = db.begin_write().await?;
    let mut key = fetch(&mut tx, id).await?;
    let now = db::now_ms();
    sqlx::query("UPDATE api_keys SET enabled = $1, deleted_at = $2, updated_at = $2 WHERE id = $3")
        .bind(false)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    record_key_change(&mut tx, db.backend(), id).await?;
    tx.commit().await?;
    key.enabled = false;
    Ok(key)
}

/// A developer's keys (deleted ones left out), newest first.
pub async fn list_keys(db: &Db, developer: &str) -> DomainResult<Vec<ApiKey>> {
    let mut conn = db.pool().acquire().await?;
    let dev = developers::resolve(&mut conn, developer).await?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE developer_id = $1 AND deleted_at IS NULL \
          ORDER BY created_at DESC, id DESC"
    ))
    .bind(&dev.id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

macro_rules! entry_columns {
    () => {
        concat!(
            "id, secret_hash, developer_id, expires_at, allowed_models, ",
            limit_columns!()
        )
    };
}

fn entry_from_row(row: &AnyRow) -> DomainResult<KeyEntry> {
    Ok(KeyEntry {
        id: row.try_get("id")?,
        hash: row.try_get("secret_hash")?,
        developer_id: row.try_get("developer_id")?,
        expires_at_ms: row.try_get("expires_at")?,
        allowed_models: parse_models(row.try_get("allowed_models")?)?,
        allowed_endpoints: parse_json_list("allowed_endpoints", row.try_get("allowed_endpoints")?)?,
        limits: limits_from_row(row)?,
        ip_allowlist: parse_json_list("ip_allowlist", row.try_get("ip_allowlist")?)?,
    })
}

/// The grace entry's columns: the previous secret, everything else the key's.
macro_rules! grace_columns {
    () => {
        "k.id AS id, p.secret_hash AS secret_hash, k.developer_id AS developer_id, \
         k.expires_at AS expires_at, p.expires_at AS grace_expires_at, \
         k.allowed_models AS allowed_models, k.allowed_endpoints AS allowed_endpoints, \
         k.rpm_limit AS rpm_limit, k.tpm_limit AS tpm_limit, \
         k.token_quota_total AS token_quota_total, \
         k.token_quota_monthly AS token_quota_monthly, \
         k.budget_total_nanos AS budget_total_nanos, \
         k.budget_monthly_nanos AS budget_monthly_nanos, k.ip_allowlist AS ip_allowlist"
    };
}

/// Every key that can authenticate (expired ones included: the gateway
/// checks `expires_at_ms` itself), and the grace entries of regenerated
/// keys whose grace has not ended.
pub async fn active_entries(conn: &mut AnyConnection) -> DomainResult<Vec<KeyEntry>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM api_keys WHERE enabled AND deleted_at IS NULL ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = rows
        .iter()
        .map(entry_from_row)
        .collect::<DomainResult<Vec<_>>>()?;
    let graces = sqlx::query(concat!(
        "SELECT ",
        grace_columns!(),
        " FROM api_key_previous_secrets p JOIN api_keys k ON k.id = p.key_id \
          WHERE k.enabled AND k.deleted_at IS NULL AND p.expires_at > $1 ORDER BY k.id"
    ))
    .bind(db::now_ms())
    .fetch_all(&mut *conn)
    .await?;
    for row in &graces {
        out.push(grace_from_row(row)?);
    }
    Ok(out)
}

fn grace_from_row(row: &AnyRow) -> DomainResult<KeyEntry> {
    let mut entry = entry_from_row(row)?;
    let grace_end: i64 = row.try_get("grace_expires_at")?;
    entry.id = format!("{}{GRACE_SUFFIX}", entry.id);
    entry.expires_at_ms = Some(entry.expires_at_ms.map_or(grace_end, |e| e.min(grace_end)));
    Ok(entry)
}

/// The gateway's view of one key (or of a `<key_id>:grace` entry); `None`
/// when it is disabled, deleted, unknown or its grace is over.
pub async fn active_entry(conn: &mut AnyConnection, id: &str) -> DomainResult<Option<KeyEntry>> {
    if let Some(key_id) = id.strip_suffix(GRACE_SUFFIX) {
        let row = sqlx::query(concat!(
            "SELECT ",
            grace_columns!(),
            " FROM api_key_previous_secrets p JOIN api_keys k ON k.id = p.key_id \
              WHERE k.id = $1 AND k.enabled AND k.deleted_at IS NULL AND p.expires_at > $2"
        ))
        .bind(key_id)
        .bind(db::now_ms())
        .fetch_optional(&mut *conn)
        .await?;
        return row.as_ref().map(grace_from_row).transpose();
    }
    let row = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM api_keys WHERE id = $1 AND enabled AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// Moves `last_used_at` forward. Telemetry, not configuration: it records no
/// change (gateways do not need it, and it would flood the change stream).
pub async fn touch_last_used(conn: &mut AnyConnection, id: &str, at_ms: i64) -> DomainResult<()> {
    let id = aihub_contract::keys::base_key_id(id);
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1 \
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
    )
    .bind(at_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn model_lists_are_trimmed_deduplicated_and_never_empty() {
        assert_eq!(clean_models(None).unwrap(), None);
        assert_eq!(
            clean_models(Some(vec![
                " gpt-4o".into(),
                "gpt-4o".into(),
                "claude".into()
            ]))
            .unwrap(),
            Some(vec!["gpt-4o".to_string(), "claude".to_string()])
        );
        assert!(clean_models(Some(vec![])).is_err());
        assert!(clean_models(Some(vec!["".into()])).is_err());
        assert!(clean_models(Some(vec!["a b".into()])).is_err());
    }

    #[test]
    fn endpoints_are_known_deduplicated_and_ordered() {
        assert_eq!(clean_endpoints(None).unwrap(), None);
        assert_eq!(
            clean_endpoints(Some(vec!["files".into(), "chat".into(), "chat".into()])).unwrap(),
            Some(vec![EndpointScope::Chat, EndpointScope::Files])
        );
        assert!(clean_endpoints(Some(vec![])).is_err());
        let e = clean_endpoints(Some(vec!["images".into()])).unwrap_err();
        assert!(e.to_string().contains("allowed_endpoints"), "{e}");
    }

    #[test]
    fn limits_parse_counts_and_exact_budgets() {
        let l = parse_limits(&json!({
            "requests_per_minute": 60,
            "budget_total": "12.5",
            "budget_monthly": 0.000001,
            "token_quota_monthly": null
        }))
        .unwrap();
        assert_eq!(l.requests_per_minute, Some(60));
        assert_eq!(l.budget_total_nanos, Some(12_500_000_000));
        assert_eq!(l.budget_monthly_nanos, Some(1_000));
        assert_eq!(l.token_quota_monthly, None);
        assert_eq!(
            limits_json(&l)["budget_total"],
            json!("12.50"),
            "budgets read back exactly, with at least two decimals"
        );
        assert_eq!(limits_json(&l)["budget_monthly"], json!("0.000001"));
        assert_eq!(parse_limits(&json!({})).unwrap(), KeyLimits::default());
        for (bad, field) in [
            (
                json!({"requests_per_minute": 0}),
                "limits.requests_per_minute",
            ),
            (json!({"tokens_per_minute": -1}), "limits.tokens_per_minute"),
            (
                json!({"token_quota_total": 1.5}),
                "limits.token_quota_total",
            ),
            (json!({"budget_total": "1.0000001"}), "limits.budget_total"),
            (json!({"budget_total": "0"}), "limits.budget_total"),
            (json!({"budget_monthly": "-3"}), "limits.budget_monthly"),
            (json!({"budget_monthly": "abc"}), "limits.budget_monthly"),
            (json!({"budget_monthly": true}), "limits.budget_monthly"),
            (
                json!({"budget_monthly": "99999999999999999999999999"}),
                "limits.budget_monthly",
            ),
            (json!({"budget_total": 1e30}), "limits.budget_total"),
            (
                json!({"token_quota_total": u64::MAX}),
                "limits.token_quota_total",
            ),
            (json!({"rpm": 5}), "limits.rpm"),
            (json!([1]), "limits"),
        ] {
            let e = parse_limits(&bad).unwrap_err().to_string();
            assert!(e.contains(field), "{bad}: {e}");
        }
        // Trailing zeros beyond six decimals change nothing.
        assert_eq!(
            parse_limits(&json!({"budget_total": "2.50000000"}))
                .unwrap()
                .budget_total_nanos,
            Some(2_500_000_000)
        );
    }

    #[test]
    fn ip_allowlists_are_normalised() {
        assert_eq!(
            clean_ip_allowlist(Some(vec![
                "203.0.113.7/24".into(),
                "198.51.100.1".into(),
                "2001:db8::1".into(),
                "2001:db8:ffff::/32".into(),
                "203.0.113.0/24".into(),
            ]))
            .unwrap(),
            Some(vec![
                "203.0.113.0/24".to_string(),
                "198.51.100.1/32".to_string(),
                "2001:db8::1/128".to_string(),
                "2001:db8::/32".to_string(),
            ])
        );
        assert!(clean_ip_allowlist(Some(vec![])).is_err());
        assert!(clean_ip_allowlist(Some(vec!["10.0.0.0/33".into()])).is_err());
        assert!(clean_ip_allowlist(Some(vec!["example.com".into()])).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(clean_ip_allowlist(Some(many)).is_err());
    }

    #[test]
    fn metadata_follows_stripes_rules() {
        let ok = json!({"team": "search", "cost_center": ""});
        let m = clean_metadata(ok.as_object().unwrap().clone()).unwrap();
        assert_eq!(m["team"], "search");
        let too_many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(clean_metadata(too_many).is_err());
        for bad in [
            json!({"": "v"}),
            json!({"k".repeat(41): "v"}),
            json!({"k": "v".repeat(501)}),
            json!({"k": 1}),
        ] {
            let e = clean_metadata(bad.as_object().unwrap().clone()).unwrap_err();
            assert!(e.to_string().contains("metadata"), "{e}");
        }
    }
}

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

pub mod owned;

use crate::db::{self, get_bool, Db, Entity};
use crate::developers;
use crate::error::{DomainError, DomainResult};
use aihub_contract::keys::KeySecret;
use aihub_contract::snapshot::KeyEntry;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Keys expire a year after creation unless told otherwise (business plan).
pub const DEFAULT_EXPIRY_DAYS: u32 = 365;
const MAX_EXPIRY_DAYS: u32 = 36_500;
const MAX_NAME_LEN: usize = 100;
const MAX_MODELS: usize = 256;
const DAY_MS: i64 = 86_400_000;

/// Suffix of the gateway entry of a regenerated key's previous secret.
pub const GRACE_SUFFIX: &str = ":grace";

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
         last_used_at, created_at"
    };
}

pub(crate) fn parse_models(raw: Option<String>) -> DomainResult<Option<Vec<String>>> {
    raw.map(|json| {
        serde_json::from_str::<Vec<String>>(&json)
            .map_err(|e| DomainError::Internal(format!("allowed_models is not a JSON list: {e}")))
    })
    .transpose()
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
        "id, secret_hash, developer_id, expires_at, allowed_models"
    };
}

fn entry_from_row(row: &AnyRow) -> DomainResult<KeyEntry> {
    Ok(KeyEntry {
        id: row.try_get("id")?,
        hash: row.try_get("secret_hash")?,
        developer_id: row.try_get("developer_id")?,
        expires_at_ms: row.try_get("expires_at")?,
        allowed_models: parse_models(row.try_get("allowed_models")?)?,
        allowed_endpoints: None,
        limits: Default::default(),
        ip_allowlist: None,
    })
}

macro_rules! grace_columns {
    () => {
        "k.id AS id, p.secret_hash AS secret_hash, k.developer_id AS developer_id, \
         k.expires_at AS expires_at, p.expires_at AS grace_expires_at, \
         k.allowed_models AS allowed_models"
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
    let id = id.strip_suffix(GRACE_SUFFIX).unwrap_or(id);
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
}

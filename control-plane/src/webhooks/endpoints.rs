//! A developer's webhook endpoints (`we_…`): create, list, change, delete
//! (soft: `deleted_at`; pending deliveries fail with "endpoint deleted"),
//! the signing secret and its rotation. Another developer's endpoint is
//! "not found", like an unknown one.

use super::catalog;
use super::secrets::{Sealer, SigningSecret};
use crate::db::{self, get_bool};
use crate::error::{DomainError, DomainResult};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Endpoints per developer (deleted ones do not count).
pub const MAX_PER_DEVELOPER: i64 = 20;
/// Highest `max_retries`.
pub const MAX_RETRIES: i64 = 7;
/// Default `max_retries`.
pub const DEFAULT_RETRIES: i64 = 3;
/// Longest grace of a rotated secret, seconds (a week).
pub const MAX_GRACE_SECONDS: i64 = 604_800;
/// Default grace of a rotated secret, seconds (a day).
pub const DEFAULT_GRACE_SECONDS: i64 = 86_400;
const MAX_DESCRIPTION: usize = 500;

/// An endpoint as stored (secrets still sealed).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `we_…`
    pub id: String,
    /// Owner.
    pub developer_id: String,
    /// Where deliveries go.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Subscribed types, or `["*"]`.
    pub event_types: Vec<String>,
    /// Receives deliveries.
    pub enabled: bool,
    /// `manual`, `gone`, `failing`.
    pub disabled_reason: Option<String>,
    /// Retries after the first attempt.
    pub max_retries: i64,
    /// The current secret, sealed.
    pub secret_sealed: String,
    /// The previous secret, sealed, during a rotation's grace.
    pub previous_secret_sealed: Option<String>,
    /// End of that grace.
    pub previous_expires_at_ms: Option<i64>,
    /// Start of the current failing streak.
    pub failing_since_ms: Option<i64>,
    /// Created.
    pub created_at_ms: i64,
    /// Last changed.
    pub updated_at_ms: i64,
}

const COLUMNS: &str = "id, developer_id, url, description, event_types, enabled, \
     disabled_reason, max_retries, secret_sealed, previous_secret_sealed, previous_expires_at, \
     failing_since, created_at, updated_at";

fn from_row(row: &AnyRow) -> DomainResult<Endpoint> {
    let types: String = row.try_get("event_types")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        developer_id: row.try_get("developer_id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        event_types: serde_json::from_str(&types).unwrap_or_default(),
        enabled: get_bool(row, "enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        max_retries: row.try_get("max_retries")?,
        secret_sealed: row.try_get("secret_sealed")?,
        previous_secret_sealed: row.try_get("previous_secret_sealed")?,
        previous_expires_at_ms: row.try_get("previous_expires_at")?,
        failing_since_ms: row.try_get("failing_since")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

impl Endpoint {
    /// `ENDPOINT` in the API description; `secret_hint` from the opened secret.
    pub fn to_json(&self, sealer: &Sealer) -> Value {
        let hint = sealer
            .open(&self.id, &self.secret_sealed)
            .map(|s| s.hint())
            .unwrap_or_else(|_| "whsec_…".to_string());
        let previous_until = self
            .previous_expires_at_ms
            .filter(|t| self.previous_secret_sealed.is_some() && *t > db::now_ms());
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "event_types": self.event_types,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "max_retries": self.max_retries,
            "secret_hint": hint,
            "previous_secret_expires_at_ms": previous_until,
            "failing_since_ms": self.failing_since_ms,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
        })
    }
}

/// Checks a subscription list: non-empty, each type in the catalog or `*`
/// (`*` alone); duplicates dropped.
pub fn check_event_types(types: &[String]) -> DomainResult<Vec<String>> {
    if types.is_empty() {
        return Err(DomainError::invalid(
            "event_types: expected at least one event type, or [\"*\"] for all",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        let t = t.trim();
        if t != "*" && !catalog::is_known(t) {
            return Err(DomainError::invalid(format!(
                "event_types: unknown event type '{t}' (see GET /api/v1/developer/event-types)"
            )));
        }
        if !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    }
    if out.iter().any(|t| t == "*") {
        return Ok(vec!["*".to_string()]);
    }
    Ok(out)
}

/// Checks `max_retries` (0 to 7).
pub fn check_max_retries(n: i64) -> DomainResult<i64> {
    if (0..=MAX_RETRIES).contains(&n) {
        Ok(n)
    } else {
        Err(DomainError::invalid(format!(
            "max_retries: expected 0 to {MAX_RETRIES}, got {n}"
        )))
    }
}

/// Checks a description (at most 500 characters).
pub fn check_description(d: &str) -> DomainResult<String> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::invalid(format!(
            "description: at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(d.trim().to_string())
}

fn types_text(types: &[String]) -> DomainResult<String> {
    serde_json::to_string(types).map_err(|e| DomainError::Internal(e.to_string()))
}

/// A new endpoint (checked values).
pub struct NewEndpoint {
    /// Checked URL.
    pub url: String,
    /// Checked description.
    pub description: String,
    /// Checked types.
    pub event_types: Vec<String>,
    /// Checked retries.
    pub max_retries: i64,
}

/// Creates an endpoint with a new secret; returns it and the secret.
pub async fn create(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    developer_id: &str,
    new: NewEndpoint,
) -> DomainResult<(Endpoint, SigningSecret)> {
    let count: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE developer_id = $1 \
         AND deleted_at IS NULL",
    )
    .bind(developer_id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    if count >= MAX_PER_DEVELOPER {
        return Err(DomainError::Conflict(format!(
            "at most {MAX_PER_DEVELOPER} webhook endpoints per account; delete one first"
        )));
    }
    let id = db::new_id("we_");
    let secret = SigningSecret::generate();
    let sealed = sealer.seal(&id, &secret)?;
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, developer_id, url, description, event_types, \
         secret_sealed, enabled, max_retries, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&id)
    .bind(developer_id)
    .bind(&new.url)
    .bind(&new.description)
    .bind(types_text(&new.event_types)?)
    .bind(&sealed)
    .bind(true)
    .bind(new.max_retries)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok((get(&mut *conn, developer_id, &id).await?, secret))
}

/// The developer's endpoints (not deleted), newest first.
pub async fn list(conn: &mut AnyConnection, developer_id: &str) -> DomainResult<Vec<Endpoint>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE developer_id = $1 \
         AND deleted_at IS NULL ORDER BY created_at DESC, id DESC"
    ))
    .bind(developer_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One of the developer's endpoints; anyone else's (or a deleted one) is not found.
pub async fn get(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<Endpoint> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1 AND developer_id = $2 \
         AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| DomainError::NotFound(format!("no webhook endpoint with id '{id}'")))?;
    from_row(&row)
}

/// A change; absent fields stay.
#[derive(Default)]
pub struct EndpointUpdate {
    /// Checked URL.
    pub url: Option<String>,
    /// Checked description.
    pub description: Option<String>,
    /// Checked types.
    pub event_types: Option<Vec<String>>,
    /// Checked retries.
    pub max_retries: Option<i64>,
    /// Enable (clears the reason and the failing streak) or disable (`manual`).
    pub enabled: Option<bool>,
}

/// Changes an endpoint.
pub async fn update(
    conn: &mut AnyConnection,
    developer_id: &str,
    id: &str,
    change: EndpointUpdate,
) -> DomainResult<Endpoint> {
    let mut e = get(&mut *conn, developer_id, id).await?;
    if let Some(u) = change.url {
        e.url = u;
    }
    if let Some(d) = change.description {
        e.description = d;
    }
    if let Some(t) = change.event_types {
        e.event_types = t;
    }
    if let Some(m) = change.max_retries {
        e.max_retries = m;
    }
    match change.enabled {
        Some(true) if !e.enabled => {
            e.enabled = true;
            e.disabled_reason = None;
            e.failing_since_ms = None;
        }
        Some(false) if e.enabled => {
            e.enabled = false;
            e.disabled_reason = Some("manual".into());
        }
        _ => {}
    }
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, \
         max_retries = $4, enabled = $5, disabled_reason = $6, failing_since = $7, \
         updated_at = $8 WHERE id = $9",
    )
    .bind(&e.url)
    .bind(&e.description)
    .bind(types_text(&e.event_types)?)
    .bind(e.max_retries)
    .bind(e.enabled)
    .bind(&e.disabled_reason)
    .bind(e.failing_since_ms)
    .bind(db::now_ms())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    get(&mut *conn, developer_id, id).await
}

/// Deletes an endpoint (soft); its pending deliveries fail.
pub async fn delete(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<()> {
    get(&mut *conn, developer_id, id).await?;
    let now = db::now_ms();
    sqlx::query(
        "UPDATE webhook_endpoints SET deleted_at = $1, enabled = $2, updated_at = $1 \
         WHERE id = $3",
    )
    .bind(now)
    .bind(false)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', \
         finished_at = $1, updated_at = $1 WHERE endpoint_id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The current signing secret in clear.
pub async fn secret(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    developer_id: &str,
    id: &str,
) -> DomainResult<SigningSecret> {
    let e = get(&mut *conn, developer_id, id).await?;
    sealer.open(&e.id, &e.secret_sealed)
}

/// Replaces the secret; the old one keeps signing (next to the new one)
/// for `grace_seconds` (0: it stops at once). Returns the new secret and
/// the end of the grace.
pub async fn rotate(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    developer_id: &str,
    id: &str,
    grace_seconds: i64,
) -> DomainResult<(SigningSecret, Option<i64>)> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(DomainError::invalid(format!(
            "grace_seconds: expected 0 to {MAX_GRACE_SECONDS}, got {grace_seconds}"
        )));
    }
    let e = get(&mut *conn, developer_id, id).await?;
    let now = db::now_ms();
    let secret = SigningSecret::generate();
    let sealed = sealer.seal(&e.id, &secret)?;
    // The old secret may be unreadable (server secret changed): then there
    // is nothing to keep signing with.
    let previous = (grace_seconds > 0 && sealer.open(&e.id, &e.secret_sealed).is_ok())
        .then(|| e.secret_sealed.clone());
    let until = previous.as_ref().map(|_| now + grace_seconds * 1000);
    sqlx::query(
        "UPDATE webhook_endpoints SET secret_sealed = $1, previous_secret_sealed = $2, \
         previous_expires_at = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&sealed)
    .bind(&previous)
    .bind(until)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok((secret, until))
}

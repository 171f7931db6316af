//! A developer's own keys, as the management API manages them: every
//! function works inside the caller's transaction, touches only keys the
//! actor owns (others' are "not found", never "forbidden", so ids cannot be
//! probed), and writes in that transaction the change row gateways follow,
//! an audit entry and a domain event (`api_key.created|updated|regenerated|deleted`).

use super::{
    check_within_account, clean_endpoints, clean_ip_allowlist, clean_metadata, clean_models,
    clean_name, expires_at, fetch, limits_json, record_key_change, to_json_text, ApiKey,
    CreatedKey, Expiry, GRACE_SUFFIX,
};
use crate::audit::{self, Actor};
use crate::db::{self, Backend, Entity};
use crate::developers;
use crate::error::{DomainError, DomainResult};
use aihub_contract::keys::KeySecret;
use aihub_contract::snapshot::{EndpointScope, KeyLimits};
use serde_json::{json, Map, Value};
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// The longest grace period a regenerated key's old secret may get.
pub const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;
/// Expiry set directly may lie at most this far ahead (100 years).
const MAX_EXPIRES_AHEAD_MS: i64 = 36_500 * 86_400_000;

/// Input of [`create`].
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// Label, 1–100 characters.
    pub name: String,
    /// Public model names the key may call; `None` = all.
    pub allowed_models: Option<Vec<String>>,
    /// When it stops working.
    pub expiry: Expiry,
    /// Endpoint families (API names) the key may call; `None` = all.
    pub allowed_endpoints: Option<Vec<String>>,
    /// Its own limits (read with [`super::parse_limits`]).
    pub limits: KeyLimits,
    /// Client networks; `None` = any address.
    pub ip_allowlist: Option<Vec<String>>,
    /// The owner's notes.
    pub metadata: Map<String, Value>,
}

/// Input of [`update`]: `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    /// New label.
    pub name: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New model list; `Some(None)` = all models.
    pub allowed_models: Option<Option<Vec<String>>>,
    /// New expiry, unix ms; `Some(None)` = never.
    pub expires_at_ms: Option<Option<i64>>,
    /// New endpoint families; `Some(None)` = all.
    pub allowed_endpoints: Option<Option<Vec<String>>>,
    /// New limits, replacing all of them (`KeyLimits::default()` = none).
    pub limits: Option<KeyLimits>,
    /// New client networks; `Some(None)` = any address.
    pub ip_allowlist: Option<Option<Vec<String>>>,
    /// New metadata, replacing all of it.
    pub metadata: Option<Map<String, Value>>,
}

/// What events carry about a key (never its secret or hash).
pub fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "display_prefix": key.display_prefix,
        "enabled": key.enabled,
        "created_at_ms": key.created_at_ms,
        "expires_at_ms": key.expires_at_ms,
        "last_used_at_ms": key.last_used_at_ms,
        "allowed_models": key.allowed_models,
        "allowed_endpoints": key.allowed_endpoints,
        "limits": limits_json(&key.limits),
        "ip_allowlist": key.ip_allowlist,
        "metadata": key.metadata,
    })
}

/// A key's limits must fit within its owner's account limits.
async fn check_account_limits(
    conn: &mut AnyConnection,
    owner: &str,
    limits: &KeyLimits,
) -> DomainResult<()> {
    if limits.requests_per_minute.is_none() && limits.token_quota_monthly.is_none() {
        return Ok(());
    }
    let dev = developers::fetch_by_id(&mut *conn, owner)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("no developer with id '{owner}'")))?;
    check_within_account(limits, &dev)
}

fn endpoints_text(e: &Option<Vec<EndpointScope>>) -> DomainResult<Option<String>> {
    e.as_ref().map(to_json_text).transpose()
}

fn allowlist_text(ips: &Option<Vec<String>>) -> DomainResult<Option<String>> {
    ips.as_ref().map(to_json_text).transpose()
}

/// Stored form of a count limit (the API allows at most `i64::MAX`).
fn count_column(n: Option<u64>) -> Option<i64> {
    n.and_then(|n| i64::try_from(n).ok())
}

/// Model names must be public models of the catalog.
async fn check_models(conn: &mut AnyConnection, models: &Option<Vec<String>>) -> DomainResult<()> {
    for name in models.iter().flatten() {
        let known = sqlx::query("SELECT id FROM models WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
        if known.is_none() {
            return Err(DomainError::invalid(format!(
                "allowed_models: there is no model named '{name}'"
            )));
        }
    }
    Ok(())
}

fn models_json(models: &Option<Vec<String>>) -> DomainResult<Option<String>> {
    models
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| DomainError::Internal(e.to_string()))
}

/// The actor's key `id`; another developer's (or a deleted or unknown) key
/// is [`DomainError::NotFound`].
pub async fn get(conn: &mut AnyConnection, owner: &str, id: &str) -> DomainResult<ApiKey> {
    let not_found = || DomainError::NotFound(format!("no key with id '{id}'"));
    match fetch(&mut *conn, id).await {
        Ok(key) if key.developer_id == owner => Ok(key),
        Ok(_) | Err(DomainError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e),
    }
}

/// Issues a key for the actor.
pub async fn create(
    conn: &mut AnyConnection,
    backend: Backend,
    actor: &Actor,
    request: KeyRequest,
) -> DomainResult<CreatedKey> {
    let name = clean_name(&request.name)?;
    let models = clean_models(request.allowed_models)?;
    let endpoints = clean_endpoints(request.allowed_endpoints)?;
    let ips = clean_ip_allowlist(request.ip_allowlist)?;
    let metadata = clean_metadata(request.metadata)?;
    let limits = request.limits;
    check_models(&mut *conn, &models).await?;
    check_account_limits(&mut *conn, &actor.id, &limits).await?;
    let now = db::now_ms();
    let expires = expires_at(request.expiry, now)?;
    let secret = KeySecret::generate();
    let id = db::new_id("key_");
    sqlx::query(
        "INSERT INTO api_keys (id, developer_id, name, display_prefix, secret_hash, enabled, \
         expires_at, allowed_models, allowed_endpoints, rpm_limit, tpm_limit, \
         token_quota_total, token_quota_monthly, budget_total_nanos, budget_monthly_nanos, \
         ip_allowlist, metadata, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19)",
    )
    .bind(&id)
    .bind(&actor.id)
    .bind(&name)
    .bind(secret.display_prefix())
    .bind(secret.hash())
    .bind(true)
    .bind(expires)
    .bind(models_json(&models)?)
    .bind(endpoints_text(&endpoints)?)
    .bind(count_column(limits.requests_per_minute))
    .bind(count_column(limits.tokens_per_minute))
    .bind(count_column(limits.token_quota_total))
    .bind(count_column(limits.token_quota_monthly))
    .bind(limits.budget_total_nanos)
    .bind(limits.budget_monthly_nanos)
    .bind(allowlist_text(&ips)?)
    .bind(to_json_text(&metadata)?)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    db::record_change(&mut *conn, backend, Entity::Key, &id).await?;
    let key = fetch(&mut *conn, &id).await?;
    let data = key_json(&key);
    audit::record(&mut *conn, actor, "api_key.created", &id, &data).await?;
    audit::emit(&mut *conn, "api_key.created", &actor.id, &data).await?;
    Ok(CreatedKey { key, secret })
}

/// Changes the actor's key; disabling it (or setting a past expiry) stops
/// it on every gateway within a second.
pub async fn update(
    conn: &mut AnyConnection,
    backend: Backend,
    actor: &Actor,
    id: &str,
    change: KeyUpdate,
) -> DomainResult<ApiKey> {
    let before = get(&mut *conn, &actor.id, id).await?;
    let mut changed = serde_json::Map::new();
    let name = match change.name {
        Some(n) => {
            let n = clean_name(&n)?;
            changed.insert("name".into(), json!(n));
            n
        }
        None => before.name.clone(),
    };
    let models = match change.allowed_models {
        Some(m) => {
            let m = clean_models(m)?;
            check_models(&mut *conn, &m).await?;
            changed.insert("allowed_models".into(), json!(m));
            m
        }
        None => before.allowed_models.clone(),
    };
    let now = db::now_ms();
    let expires = match change.expires_at_ms {
        Some(Some(at)) if at <= now || at > now + MAX_EXPIRES_AHEAD_MS => {
            return Err(DomainError::invalid(
                "expires_at_ms: expected a time in the future (unix ms) or null for never; \
                 to stop a key now, disable or delete it",
            ))
        }
        Some(e) => {
            changed.insert("expires_at_ms".into(), json!(e));
            e
        }
        None => before.expires_at_ms,
    };
    let enabled = match change.enabled {
        Some(e) => {
            changed.insert("enabled".into(), json!(e));
            e
        }
        None => before.enabled,
    };
    let endpoints = match change.allowed_endpoints {
        Some(e) => {
            let e = clean_endpoints(e)?;
            changed.insert("allowed_endpoints".into(), json!(e));
            e
        }
        None => before.allowed_endpoints.clone(),
    };
    let ips = match change.ip_allowlist {
        Some(i) => {
            let i = clean_ip_allowlist(i)?;
            changed.insert("ip_allowlist".into(), json!(i));
            i
        }
        None => before.ip_allowlist.clone(),
    };
    let metadata: BTreeMap<String, String> = match change.metadata {
        Some(m) => {
            let m = clean_metadata(m)?;
            changed.insert("metadata".into(), json!(m));
            m
        }
        None => before.metadata.clone(),
    };
    let limits = match change.limits {
        Some(l) => {
            check_account_limits(&mut *conn, &actor.id, &l).await?;
            changed.insert("limits".into(), limits_json(&l));
            l
        }
        None => before.limits.clone(),
    };
    sqlx::query(
        "UPDATE api_keys SET name = $1, allowed_models = $2, expires_at = $3, enabled = $4, \
         allowed_endpoints = $5, rpm_limit = $6, tpm_limit = $7, token_quota_total = $8, \
         token_quota_monthly = $9, budget_total_nanos = $10, budget_monthly_nanos = $11, \
         ip_allowlist = $12, metadata = $13, updated_at = $14 WHERE id = $15",
    )
    .bind(&name)
    .bind(models_json(&models)?)
    .bind(expires)
    .bind(enabled)
    .bind(endpoints_text(&endpoints)?)
    .bind(count_column(limits.requests_per_minute))
    .bind(count_column(limits.tokens_per_minute))
    .bind(count_column(limits.token_quota_total))
    .bind(count_column(limits.token_quota_monthly))
    .bind(limits.budget_total_nanos)
    .bind(limits.budget_monthly_nanos)
    .bind(allowlist_text(&ips)?)
    .bind(to_json_text(&metadata)?)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    record_key_change(&mut *conn, backend, id).await?;
    let key = fetch(&mut *conn, id).await?;
    let details = json!({ "changed": Value::Object(changed) });
    audit::record(&mut *conn, actor, "api_key.updated", id, &details).await?;
    let mut data = key_json(&key);
    if let (Some(obj), Some(c)) = (data.as_object_mut(), details.get("changed")) {
        obj.insert("changed".into(), c.clone());
    }
    audit::emit(&mut *conn, "api_key.updated", &actor.id, &data).await?;
    Ok(key)
}

/// Deletes the actor's key (kept for usage history, never shown or accepted
/// again); its grace secret, if any, ends too.
pub async fn delete(
    conn: &mut AnyConnection,
    backend: Backend,
    actor: &Actor,
    id: &str,
) -> DomainResult<()> {
    let mut key = get(&mut *conn, &actor.id, id).await?;
    let now = db::now_ms();
    sqlx::query("UPDATE api_keys SET enabled = $1, deleted_at = $2, updated_at = $2 WHERE id = $3")
        .bind(false)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    // Record first (it looks for a grace row), then drop the grace row.
    record_key_change(&mut *conn, backend, id).await?;
    sqlx::query("DELETE FROM api_key_previous_secrets WHERE key_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    key.enabled = false;
    let data = key_json(&key);
    audit::record(&mut *conn, actor, "api_key.deleted", id, &data).await?;
    audit::emit(&mut *conn, "api_key.deleted", &actor.id, &data).await?;
    Ok(())
}

/// A regenerated key: the new secret, and when the old one stops (`None`:
/// it stopped at once).
pub struct Regenerated {
    /// The key with its new secret.
    pub created: CreatedKey,
    /// End of the old secret's grace, unix ms.
    pub grace_expires_at_ms: Option<i64>,
}

/// Gives the actor's key a new secret. With `grace_seconds` > 0 the old one
/// keeps working until then (as `<id>:grace`); a grace left from an earlier
/// regeneration ends now.
pub async fn regenerate(
    conn: &mut AnyConnection,
    backend: Backend,
    actor: &Actor,
    id: &str,
    grace_seconds: u64,
) -> DomainResult<Regenerated> {
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(DomainError::invalid(format!(
            "grace_seconds: expected 0 to {MAX_GRACE_SECONDS} (7 days), got {grace_seconds}"
        )));
    }
    get(&mut *conn, &actor.id, id).await?;
    let old_hash: String = sqlx::query("SELECT secret_hash FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?
        .try_get("secret_hash")?;
    let secret = KeySecret::generate();
    let now = db::now_ms();
    sqlx::query(
        "UPDATE api_keys SET secret_hash = $1, display_prefix = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(secret.hash())
    .bind(secret.display_prefix())
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM api_key_previous_secrets WHERE key_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let grace_end = if grace_seconds > 0 {
        let end = now + i64::try_from(grace_seconds * 1000).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO api_key_previous_secrets (key_id, secret_hash, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(&old_hash)
        .bind(end)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Some(end)
    } else {
        None
    };
    // The key's new hash, and the grace entry (new, replaced or gone).
    db::record_change(&mut *conn, backend, Entity::Key, id).await?;
    db::record_change(
        &mut *conn,
        backend,
        Entity::Key,
        &format!("{id}{GRACE_SUFFIX}"),
    )
    .await?;
    let key = fetch(&mut *conn, id).await?;
    let details = json!({"grace_seconds": grace_seconds, "grace_expires_at_ms": grace_end});
    audit::record(&mut *conn, actor, "api_key.regenerated", id, &details).await?;
    let mut data = key_json(&key);
    if let Some(obj) = data.as_object_mut() {
        obj.insert("grace_seconds".into(), json!(grace_seconds));
        obj.insert("grace_expires_at_ms".into(), json!(grace_end));
    }
    audit::emit(&mut *conn, "api_key.regenerated", &actor.id, &data).await?;
    Ok(Regenerated {
        created: CreatedKey { key, secret },
        grace_expires_at_ms: grace_end,
    })
}

//! `/api/v1/developer/keys*`: a developer's own API keys. Every route takes
//! [`AuthUser`]; another developer's key answers 404 like an unknown one.
//! Mutations run in one transaction with their change row (gateways learn
//! within a second), audit entry and domain event ([`crate::keys::owned`]).

use super::guard::{AuthUser, Client};
use super::idempotent;
use super::{Api, ApiFailure, ApiJson};
use crate::audit::Actor;
use crate::db::{self, is_unique_violation};
use crate::error::DomainError;
use crate::idempotency::{self, Lookup};
use crate::keys::owned::{self, KeyRequest, KeyUpdate, Regenerated};
use crate::keys::{self, ApiKey, CreatedKey, Expiry};
use crate::usage;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The key routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
        .routes(routes!(regenerate))
        .routes(routes!(key_usage))
}

/// The shapes of the key routes' answers, for the OpenAPI document.
#[allow(dead_code)]
pub(crate) mod doc {
    use serde_json::{Map, Value};
    use utoipa::ToSchema;

    /// An API key as the developer sees it (never its secret, except once
    /// in [`KeyWithSecret`]).
    #[derive(ToSchema)]
    pub struct Key {
        /// `key_…`
        pub id: String,
        pub name: String,
        /// A safe display form of the secret, to recognise it (`ahub_Ab3d…x9Yz`).
        pub display_prefix: String,
        pub enabled: bool,
        pub created_at_ms: i64,
        /// `null`: never expires.
        pub expires_at_ms: Option<i64>,
        pub last_used_at_ms: Option<i64>,
        /// `null`: every model the plan offers.
        pub allowed_models: Option<Vec<String>>,
        /// `null`: every endpoint (`chat`, `completions`, `embeddings`, `batches`, `files`).
        pub allowed_endpoints: Option<Vec<String>>,
        pub limits: KeyLimits,
        /// `null`: any address. IPs or CIDR ranges.
        pub ip_allowlist: Option<Vec<String>>,
        #[schema(value_type = Object)]
        pub metadata: Map<String, Value>,
    }

    /// A key's own limits; `null` = none (the account's limits still bind).
    #[derive(ToSchema)]
    pub struct KeyLimits {
        pub requests_per_minute: Option<u64>,
        pub tokens_per_minute: Option<u64>,
        pub token_quota_total: Option<u64>,
        pub token_quota_monthly: Option<u64>,
        /// Decimal string in the account's currency, e.g. `"25.00"`.
        pub budget_total: Option<String>,
        pub budget_monthly: Option<String>,
    }

    /// A key with its secret: shown once, at creation or regeneration.
    #[derive(ToSchema)]
    pub struct KeyWithSecret {
        #[schema(inline)]
        #[serde(flatten)]
        pub key: Key,
        /// The full secret, `ahub_…`. Store it now: it is never shown again.
        pub secret: String,
        /// Regeneration only: until when the old secret still works.
        pub grace_expires_at_ms: Option<i64>,
    }

    /// The account limits every key's own limits fit within (`null` = unlimited).
    #[derive(ToSchema)]
    pub struct AccountLimits {
        pub requests_per_minute: Option<u64>,
        pub token_quota_monthly: Option<u64>,
    }

    /// `GET /api/v1/developer/keys`.
    #[derive(ToSchema)]
    pub struct KeyList {
        /// Newest first.
        pub data: Vec<Key>,
        pub account_limits: AccountLimits,
    }

    /// `POST /api/v1/developer/keys`.
    #[derive(ToSchema)]
    pub struct CreateKey {
        pub name: String,
        pub allowed_models: Option<Vec<String>>,
        /// Absent: the default lifetime; `null`: never expires.
        pub expires_in_days: Option<u32>,
        pub allowed_endpoints: Option<Vec<String>>,
        pub limits: Option<KeyLimits>,
        pub ip_allowlist: Option<Vec<String>>,
        #[schema(value_type = Option<Object>)]
        pub metadata: Option<Map<String, Value>>,
    }

    /// `PUT /api/v1/developer/keys/{id}`: absent fields stay; `null` clears.
    #[derive(ToSchema)]
    pub struct UpdateKey {
        pub name: Option<String>,
        pub enabled: Option<bool>,
        pub allowed_models: Option<Vec<String>>,
        pub expires_at_ms: Option<i64>,
        pub allowed_endpoints: Option<Vec<String>>,
        /// Replaces every limit.
        pub limits: Option<KeyLimits>,
        pub ip_allowlist: Option<Vec<String>>,
        #[schema(value_type = Option<Object>)]
        pub metadata: Option<Map<String, Value>>,
    }

    /// `POST /api/v1/developer/keys/{id}/regenerate` (the body is optional).
    #[derive(ToSchema)]
    pub struct Regenerate {
        /// How long the old secret keeps working, in seconds (default 0).
        pub grace_seconds: Option<u64>,
    }

    /// One UTC day of a key's usage.
    #[derive(ToSchema)]
    pub struct DayUsage {
        /// `YYYY-MM-DD`
        pub date: String,
        pub requests: i64,
        pub tokens: i64,
        pub cost_nanos: i64,
        pub errors: i64,
    }

    /// Totals over the window.
    #[derive(ToSchema)]
    pub struct UsageTotals {
        pub requests: i64,
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
        /// Cost in billionths of the currency unit.
        pub cost_nanos: i64,
        pub errors: i64,
    }

    /// `GET /api/v1/developer/keys/{id}/usage`.
    #[derive(ToSchema)]
    pub struct KeyUsage {
        pub key_id: String,
        pub days: u32,
        pub totals: UsageTotals,
        /// Every day of the window, oldest first, zeros included.
        pub by_day: Vec<DayUsage>,
        pub last_used_at_ms: Option<i64>,
    }
}

/// Distinguishes an absent field (`None`) from `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `KEY` in the API description.
fn key_body(key: &ApiKey) -> Value {
    owned::key_json(key)
}

/// `KEY` plus the secret, shown this once; never cached.
fn with_secret(created: &CreatedKey) -> Value {
    let mut body = key_body(&created.key);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("secret".into(), json!(created.secret.expose()));
    }
    body
}

/// `GET /api/v1/developer/keys` → `{"data": [KEY…], "account_limits":
/// {"requests_per_minute", "token_quota_monthly"}}`, newest first. The
/// account limits bound every key's own (`null` = unlimited).
#[utoipa::path(get, operation_id = "list_keys", path = "/api/v1/developer/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, description = "The developer's keys", body = doc::KeyList), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody)))]
async fn list(Api(api): Api, AuthUser(who): AuthUser) -> Result<Json<Value>, ApiFailure> {
    let keys = keys::list_keys(api.accounts.db(), &who.developer.id).await?;
    Ok(Json(json!({
        "data": keys.iter().map(key_body).collect::<Vec<_>>(),
        "account_limits": {
            "requests_per_minute": keys::account_limit(who.developer.api_rate_limit),
            "token_quota_monthly": keys::account_limit(who.developer.api_quota_limit),
        },
    })))
}

/// The `limits` field: an object (absent fields unset) or `null` (none).
fn limits_of(raw: Option<Value>) -> Result<aihub_contract::snapshot::KeyLimits, ApiFailure> {
    match raw {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(v) => Ok(keys::parse_limits(&v)?),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    #[serde(default)]
    allowed_models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    expires_in_days: Option<Option<u32>>,
    #[serde(default)]
    allowed_endpoints: Option<Vec<String>>,
    #[serde(default)]
    limits: Option<Value>,
    #[serde(default)]
    ip_allowlist: Option<Vec<String>>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

/// `POST /api/v1/developer/keys` → 201 `KEY + secret`. With an
/// `Idempotency-Key`, a retry within 24 h gets the first answer again.
#[utoipa::path(post, operation_id = "create_key", path = "/api/v1/developer/keys", tag = "keys", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")),
    request_body = doc::CreateKey,
    responses((status = 201, description = "Created; the secret is shown this once", body = doc::KeyWithSecret), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The email address is not verified yet, or the account is suspended", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body", body = super::openapi::ErrorBody)))]
async fn create(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let request: CreateRequest =
        serde_json::from_value(body.clone()).map_err(|e| ApiFailure::invalid(e.to_string()))?;
    if api.accounts.policy().require_email_verification_for_keys && !who.developer.email_verified {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "email_not_verified",
            "verify your email address before creating API keys (see the link we mailed you, \
             or ask for another one)",
        ));
    }
    let idem_key = idempotent::key_from(&headers)?;
    let expiry = match request.expires_in_days {
        None => Expiry::Default,
        Some(None) => Expiry::Never,
        Some(Some(d)) => Expiry::InDays(d),
    };
    let input = KeyRequest {
        name: request.name,
        allowed_models: request.allowed_models,
        expiry,
        allowed_endpoints: request.allowed_endpoints,
        limits: limits_of(request.limits)?,
        ip_allowlist: request.ip_allowlist,
        metadata: request.metadata.unwrap_or_default(),
    };
    let db = api.accounts.db();
    let dev = who.developer.id.as_str();
    let hash = idempotency::request_hash(&body);
    let secret = api.sealing_secret.as_slice();

    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    if let Some(k) = &idem_key {
        match idempotency::lookup(&mut tx, secret, dev, k, &hash).await? {
            Lookup::New => {}
            Lookup::Replay { status, body } => return Ok(idempotent::replayed(status, body)),
            Lookup::Conflict => return Err(idempotent::conflict()),
        }
    }
    let created = owned::create(&mut tx, db.backend(), &Actor::of(&who, &client), input).await?;
    let answer = with_secret(&created);
    if let Some(k) = &idem_key {
        let stored = idempotency::store(&mut tx, secret, dev, k, &hash, 201, &answer).await;
        match stored {
            Ok(()) => {}
            Err(DomainError::Database(e)) if is_unique_violation(&e) => {
                // A concurrent request with the same key won: answer as it did.
                drop(tx);
                let mut conn = db.pool().acquire().await.map_err(DomainError::from)?;
                return match idempotency::lookup(&mut conn, secret, dev, k, &hash).await? {
                    Lookup::Replay { status, body } => Ok(idempotent::replayed(status, body)),
                    _ => Err(idempotent::conflict()),
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    tx.commit().await.map_err(DomainError::from)?;
    Ok(idempotent::no_store(StatusCode::CREATED, answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    name: Option<String>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    expires_at_ms: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    allowed_endpoints: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    limits: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    ip_allowlist: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Option<Map<String, Value>>>,
}

/// `PUT /api/v1/developer/keys/{id}` → KEY. Absent fields stay as they
/// are; `null` clears (all limits, all metadata); a `limits` object
/// replaces every limit.
#[utoipa::path(put, operation_id = "update_key", path = "/api/v1/developer/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    request_body = doc::UpdateKey,
    responses((status = 200, description = "The key as it is now", body = doc::Key), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 404, description = "No such key (or not yours)", body = super::openapi::ErrorBody)))]
async fn update(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<UpdateRequest>,
) -> Result<Json<Value>, ApiFailure> {
    let limits = match r.limits {
        None => None,
        Some(l) => Some(limits_of(l)?),
    };
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let key = owned::update(
        &mut tx,
        db.backend(),
        &Actor::of(&who, &client),
        &id,
        KeyUpdate {
            name: r.name,
            enabled: r.enabled,
            allowed_models: r.allowed_models,
            expires_at_ms: r.expires_at_ms,
            allowed_endpoints: r.allowed_endpoints,
            limits,
            ip_allowlist: r.ip_allowlist,
            metadata: r.metadata.map(Option::unwrap_or_default),
        },
    )
    .await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(key_body(&key)))
}

/// `DELETE /api/v1/developer/keys/{id}` → 204.
#[utoipa::path(delete, operation_id = "delete_key", path = "/api/v1/developer/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Deleted; gateways refuse it within a second"), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 404, description = "No such key (or not yours)", body = super::openapi::ErrorBody)))]
async fn remove(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    owned::delete(&mut tx, db.backend(), &Actor::of(&who, &client), &id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegenerateRequest {
    #[serde(default)]
    grace_seconds: Option<u64>,
}

/// `POST /api/v1/developer/keys/{id}/regenerate` → KEY + the new secret
/// (+ `grace_expires_at_ms`). The body is optional.
#[utoipa::path(post, operation_id = "regenerate_key", path = "/api/v1/developer/keys/{id}/regenerate", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<doc::Regenerate>, description = "Optional"),
    responses((status = 200, description = "The new secret, shown this once", body = doc::KeyWithSecret), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 404, description = "No such key (or not yours)", body = super::openapi::ErrorBody)))]
async fn regenerate(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    let r: RegenerateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RegenerateRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiFailure::invalid(e.to_string()))?
    };
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let Regenerated {
        created,
        grace_expires_at_ms,
    } = owned::regenerate(
        &mut tx,
        db.backend(),
        &Actor::of(&who, &client),
        &id,
        r.grace_seconds.unwrap_or(0),
    )
    .await?;
    tx.commit().await.map_err(DomainError::from)?;
    let mut answer = with_secret(&created);
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("grace_expires_at_ms".into(), json!(grace_expires_at_ms));
    }
    Ok(idempotent::no_store(StatusCode::OK, answer))
}

#[derive(Deserialize)]
struct UsageQuery {
    days: Option<u32>,
}

/// `GET /api/v1/developer/keys/{id}/usage?days=30` (1–366).
#[utoipa::path(get, operation_id = "get_key_usage", path = "/api/v1/developer/keys/{id}/usage", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id"), ("days" = Option<u32>, Query, description = "Days back, 1–366 (default 30)")),
    responses((status = 200, description = "Usage per UTC day", body = doc::KeyUsage), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 404, description = "No such key (or not yours)", body = super::openapi::ErrorBody)))]
async fn key_usage(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiFailure::invalid(format!(
            "days: expected 1 to 366, got {days}"
        )));
    }
    let mut conn = api.conn().await?;
    let key = owned::get(&mut conn, &who.developer.id, &id).await?;
    drop(conn);
    let stats = usage::key_usage(
        &api.analytics,
        &who.developer.id,
        &key.id,
        days,
        db::now_ms(),
    )
    .await?;
    Ok(Json(json!({
        "key_id": key.id,
        "days": days,
        "totals": stats.totals,
        "by_day": stats.by_day,
        "last_used_at_ms": key.last_used_at_ms,
    })))
}

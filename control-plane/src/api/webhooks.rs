//! `/api/v1/developer/webhooks*` and `/api/v1/developer/webhook-deliveries/*`:
//! a developer's webhook endpoints, their secrets, test sends, deliveries
//! and recovery ([`crate::webhooks`]). Every route takes [`AuthUser`];
//! another developer's endpoint or delivery answers 404 like an unknown one.

use super::guard::AuthUser;
use super::idempotent;
use super::{Api, ApiFailure, ApiJson};
use crate::db::{self, is_unique_violation};
use crate::error::DomainError;
use crate::idempotency::{self, Lookup};
use crate::webhooks::endpoints::{self, EndpointUpdate, NewEndpoint};
use crate::webhooks::{catalog, delivery, queries, safety};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// The webhook routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/v1/developer/webhooks", get(list).post(create))
        .route(
            "/api/v1/developer/webhooks/{id}",
            get(show).put(update).delete(remove),
        )
        .route("/api/v1/developer/webhooks/{id}/secret", get(secret))
        .route(
            "/api/v1/developer/webhooks/{id}/secret/rotate",
            post(rotate),
        )
        .route("/api/v1/developer/webhooks/{id}/test", post(test_send))
        .route(
            "/api/v1/developer/webhooks/{id}/deliveries",
            get(deliveries),
        )
        .route("/api/v1/developer/webhooks/{id}/recover", post(recover))
        .route("/api/v1/developer/webhook-deliveries/{id}", get(delivery))
}

/// Checks an endpoint URL: its form ([`safety::check_url`]) and, for a host
/// name, that it resolves — to at least one public address unless private
/// networks are allowed. Returns the normalized URL.
async fn checked_url(raw: &str, allow_private: bool) -> Result<String, ApiFailure> {
    let url = safety::check_url(raw, allow_private).map_err(ApiFailure::invalid)?;
    if let Some(url::Host::Domain(host)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::net::lookup_host((host, port)),
        )
        .await;
        let addrs: Vec<SocketAddr> = match lookup {
            Ok(Ok(a)) => a.collect(),
            _ => Vec::new(),
        };
        if addrs.is_empty() {
            return Err(ApiFailure::invalid(format!(
                "url: the host name '{host}' does not resolve"
            )));
        }
        if !allow_private && addrs.iter().all(|a| safety::is_forbidden(a.ip())) {
            return Err(ApiFailure::invalid(format!(
                "url: '{host}' resolves only to private, loopback or otherwise internal \
                 addresses; webhooks are only delivered to public addresses"
            )));
        }
    }
    Ok(url.to_string())
}

/// `GET /api/v1/developer/webhooks` → `{"data": [ENDPOINT…]}`, newest first.
async fn list(Api(api): Api, AuthUser(who): AuthUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let sealer = api.webhooks.sealer();
    let all = endpoints::list(&mut c, &who.developer.id).await?;
    Ok(Json(json!({
        "data": all.iter().map(|e| e.to_json(sealer)).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    url: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    max_retries: Option<i64>,
}

/// `POST /api/v1/developer/webhooks` → 201 `ENDPOINT + secret`. With an
/// `Idempotency-Key`, a retry within 24 h gets the first answer again.
async fn create(
    Api(api): Api,
    AuthUser(who): AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: CreateRequest =
        serde_json::from_value(body.clone()).map_err(|e| ApiFailure::invalid(e.to_string()))?;
    let idem_key = idempotent::key_from(&headers)?;
    let db = api.accounts.db();
    let dev = who.developer.id.as_str();
    let hash = idempotency::request_hash(&body);
    let secret = api.sealing_secret.as_slice();
    if let Some(k) = &idem_key {
        // Answer a retry before checking the URL again (DNS may have changed).
        let mut c = api.conn().await?;
        match idempotency::lookup(&mut c, secret, dev, k, &hash).await? {
            Lookup::New => {}
            Lookup::Replay { status, body } => return Ok(idempotent::replayed(status, body)),
            Lookup::Conflict => return Err(idempotent::conflict()),
        }
    }
    let new = NewEndpoint {
        url: checked_url(&r.url, api.webhooks.allow_private()).await?,
        description: endpoints::check_description(r.description.as_deref().unwrap_or(""))?,
        event_types: endpoints::check_event_types(
            &r.event_types.unwrap_or_else(|| vec!["*".to_string()]),
        )?,
        max_retries: endpoints::check_max_retries(
            r.max_retries.unwrap_or(endpoints::DEFAULT_RETRIES),
        )?,
    };
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    if let Some(k) = &idem_key {
        match idempotency::lookup(&mut tx, secret, dev, k, &hash).await? {
            Lookup::New => {}
            Lookup::Replay { status, body } => return Ok(idempotent::replayed(status, body)),
            Lookup::Conflict => return Err(idempotent::conflict()),
        }
    }
    let (endpoint, signing) = endpoints::create(&mut tx, api.webhooks.sealer(), dev, new).await?;
    let mut answer = endpoint.to_json(api.webhooks.sealer());
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("secret".into(), json!(signing.expose()));
    }
    if let Some(k) = &idem_key {
        match idempotency::store(&mut tx, secret, dev, k, &hash, 201, &answer).await {
            Ok(()) => {}
            Err(DomainError::Database(e)) if is_unique_violation(&e) => {
                // A concurrent request with the same key won: answer as it did.
                drop(tx);
                let mut c = api.conn().await?;
                return match idempotency::lookup(&mut c, secret, dev, k, &hash).await? {
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

/// `GET /api/v1/developer/webhooks/{id}` → ENDPOINT.
async fn show(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let e = endpoints::get(&mut c, &who.developer.id, &id).await?;
    Ok(Json(e.to_json(api.webhooks.sealer())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    max_retries: Option<i64>,
    enabled: Option<bool>,
}

/// `PUT /api/v1/developer/webhooks/{id}` → ENDPOINT. Absent fields stay.
async fn update(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<UpdateRequest>,
) -> Result<Json<Value>, ApiFailure> {
    {
        // 404 before judging the body.
        let mut c = api.conn().await?;
        endpoints::get(&mut c, &who.developer.id, &id).await?;
    }
    let url = match &r.url {
        Some(u) => Some(checked_url(u, api.webhooks.allow_private()).await?),
        None => None,
    };
    let change = EndpointUpdate {
        url,
        description: r
            .description
            .as_deref()
            .map(endpoints::check_description)
            .transpose()?,
        event_types: r
            .event_types
            .as_deref()
            .map(endpoints::check_event_types)
            .transpose()?,
        max_retries: r
            .max_retries
            .map(endpoints::check_max_retries)
            .transpose()?,
        enabled: r.enabled,
    };
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let e = endpoints::update(&mut tx, &who.developer.id, &id, change).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(e.to_json(api.webhooks.sealer())))
}

/// `DELETE /api/v1/developer/webhooks/{id}` → 204; pending deliveries fail.
async fn remove(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    endpoints::delete(&mut tx, &who.developer.id, &id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/developer/webhooks/{id}/secret` → `{"secret"}`.
async fn secret(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let mut c = api.conn().await?;
    let s = endpoints::secret(&mut c, api.webhooks.sealer(), &who.developer.id, &id).await?;
    Ok(idempotent::no_store(
        StatusCode::OK,
        json!({"secret": s.expose()}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    #[serde(default)]
    grace_seconds: Option<i64>,
}

/// An optional JSON body (empty = the defaults).
fn optional_body<T: for<'de> Deserialize<'de> + Default>(
    body: &axum::body::Bytes,
) -> Result<T, ApiFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        serde_json::from_slice(body).map_err(|e| ApiFailure::invalid(e.to_string()))
    }
}

/// `POST /api/v1/developer/webhooks/{id}/secret/rotate` → `{"secret",
/// "previous_secret_expires_at_ms"}`. The body is optional.
async fn rotate(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    let r: RotateRequest = optional_body(&body)?;
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let (s, until) = endpoints::rotate(
        &mut tx,
        api.webhooks.sealer(),
        &who.developer.id,
        &id,
        r.grace_seconds.unwrap_or(endpoints::DEFAULT_GRACE_SECONDS),
    )
    .await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(idempotent::no_store(
        StatusCode::OK,
        json!({"secret": s.expose(), "previous_secret_expires_at_ms": until}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    #[serde(default)]
    event_type: Option<String>,
}

/// How long a test delivery is left to the request before the worker may
/// send it (if the process died between committing and sending).
const TEST_HOLD_MS: i64 = 60_000;

/// `POST /api/v1/developer/webhooks/{id}/test` → `{"delivery", "attempt"}`:
/// emits an event of the type (default `webhook.test`) for this endpoint
/// only, sends it now and answers with the outcome. A disabled endpoint: 409.
async fn test_send(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiFailure> {
    let r: TestRequest = optional_body(&body)?;
    let dev = who.developer.id.as_str();
    let event_type = r.event_type.unwrap_or_else(|| "webhook.test".to_string());
    let Some(kind) = catalog::ALL.iter().find(|t| t.name == event_type) else {
        return Err(ApiFailure::invalid(format!(
            "event_type: unknown event type '{event_type}'"
        )));
    };
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let endpoint = endpoints::get(&mut tx, dev, &id).await?;
    if !endpoint.enabled {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "conflict",
            "this endpoint is disabled; enable it to send a test event",
        ));
    }
    let data = if kind.name == "webhook.test" {
        json!({"endpoint_id": endpoint.id, "message": "This is a test event from AI Hub."})
    } else {
        (kind.example)()
    };
    let now = db::now_ms();
    let event_id = queries::insert_event(&mut tx, kind.name, dev, &data, now).await?;
    let delivery_id =
        delivery::insert(&mut tx, &endpoint.id, &event_id, dev, kind.name, now).await?;
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2")
        .bind(now + TEST_HOLD_MS)
        .bind(&delivery_id)
        .execute(&mut *tx)
        .await
        .map_err(DomainError::from)?;
    tx.commit().await.map_err(DomainError::from)?;
    let attempt = api.webhooks.attempt_now(&delivery_id).await?;
    let mut c = api.conn().await?;
    let d = queries::get_delivery(&mut c, dev, &delivery_id).await?;
    Ok(Json(json!({
        "delivery": d,
        "attempt": queries::attempt_json(&attempt),
    })))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    status: Option<String>,
    event_type: Option<String>,
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// A page size: 1 to 100, default 20.
pub(super) fn limit_of(raw: Option<i64>) -> Result<i64, ApiFailure> {
    let n = raw.unwrap_or(20);
    if (1..=100).contains(&n) {
        Ok(n)
    } else {
        Err(ApiFailure::invalid(format!(
            "limit: expected 1 to 100, got {n}"
        )))
    }
}

/// `GET /api/v1/developer/webhooks/{id}/deliveries` → `{"data": [DELIVERY…], "has_more"}`.
async fn deliveries(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let status = q.status.filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !matches!(s.as_str(), "pending" | "succeeded" | "failed") {
            return Err(ApiFailure::invalid(format!(
                "status: expected pending, succeeded or failed, got '{s}'"
            )));
        }
    }
    let filter = queries::DeliveryFilter {
        status,
        event_type: q.event_type.filter(|s| !s.is_empty()),
        limit: limit_of(q.limit)?,
        starting_after: q.starting_after.filter(|s| !s.is_empty()),
    };
    let mut c = api.conn().await?;
    endpoints::get(&mut c, &who.developer.id, &id).await?;
    let page = queries::list_deliveries(&mut c, &who.developer.id, &id, &filter).await?;
    Ok(Json(json!({"data": page.data, "has_more": page.has_more})))
}

/// `GET /api/v1/developer/webhook-deliveries/{id}` → DELIVERY + `attempts` (oldest first).
async fn delivery(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let mut d = queries::get_delivery(&mut c, &who.developer.id, &id).await?;
    let attempts = queries::attempts(&mut c, &id).await?;
    if let Some(obj) = d.as_object_mut() {
        obj.insert("attempts".into(), Value::Array(attempts));
    }
    Ok(Json(d))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverRequest {
    since_ms: i64,
}

/// `POST /api/v1/developer/webhooks/{id}/recover` `{since_ms}` → `{"requeued": n}`.
async fn recover(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<RecoverRequest>,
) -> Result<Json<Value>, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let n = queries::recover(&mut tx, &who.developer.id, &id, r.since_ms).await?;
    tx.commit().await.map_err(DomainError::from)?;
    if n > 0 {
        delivery::WAKE.notify_one();
    }
    Ok(Json(json!({"requeued": n})))
}

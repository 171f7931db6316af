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
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The webhook routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(secret))
        .routes(routes!(rotate))
        .routes(routes!(test_send))
        .routes(routes!(deliveries))
        .routes(routes!(recover))
        .routes(routes!(delivery))
}

/// The shapes of the webhook routes' answers, for the OpenAPI document.
#[allow(dead_code)]
pub(crate) mod doc {
    use utoipa::ToSchema;

    /// Why an endpoint was disabled: `manual` (by its owner), `gone` (it
    /// answered 410) or `failing` (it failed for too long).
    #[derive(ToSchema)]
    #[schema(as = WebhookDisabledReason)]
    #[serde(rename_all = "lowercase")]
    pub enum DisabledReason {
        Manual,
        Gone,
        Failing,
    }

    /// A webhook endpoint (never its secret, except once in
    /// [`EndpointWithSecret`]).
    #[derive(ToSchema)]
    #[schema(as = WebhookEndpoint)]
    pub struct Endpoint {
        /// `we_…`
        pub id: String,
        /// Where deliveries are POSTed.
        pub url: String,
        pub description: String,
        /// Subscribed event types, or `["*"]` for all.
        pub event_types: Vec<String>,
        /// Receives deliveries.
        pub enabled: bool,
        /// `null` while enabled.
        pub disabled_reason: Option<DisabledReason>,
        /// Retries after the first attempt (0–7).
        pub max_retries: i64,
        /// The first characters of the signing secret (`whsec_…`).
        pub secret_hint: String,
        /// During a rotation's grace: until when the previous secret still
        /// signs too.
        pub previous_secret_expires_at_ms: Option<i64>,
        /// Start of the current streak of failed deliveries.
        pub failing_since_ms: Option<i64>,
        pub created_at_ms: i64,
        pub updated_at_ms: i64,
    }

    /// An endpoint with its signing secret: shown at creation.
    #[derive(ToSchema)]
    #[schema(as = WebhookEndpointWithSecret)]
    pub struct EndpointWithSecret {
        #[schema(inline)]
        #[serde(flatten)]
        pub endpoint: Endpoint,
        /// The signing secret, `whsec_…` (also `GET …/secret`).
        pub secret: String,
    }

    /// `GET /api/v1/developer/webhooks`.
    #[derive(ToSchema)]
    #[schema(as = WebhookEndpointList)]
    pub struct EndpointList {
        /// Newest first.
        pub data: Vec<Endpoint>,
    }

    /// An endpoint's signing secret.
    #[derive(ToSchema)]
    #[schema(as = WebhookSecret)]
    pub struct Secret {
        /// `whsec_…`
        pub secret: String,
    }

    /// A rotated signing secret.
    #[derive(ToSchema)]
    #[schema(as = RotatedWebhookSecret)]
    pub struct RotatedSecret {
        /// The new secret, `whsec_…`.
        pub secret: String,
        /// Until when the previous secret also signs; `null`: it stopped at once.
        pub previous_secret_expires_at_ms: Option<i64>,
    }

    /// Where a delivery stands.
    #[derive(ToSchema)]
    #[schema(as = WebhookDeliveryStatus)]
    #[serde(rename_all = "lowercase")]
    pub enum DeliveryStatus {
        Pending,
        Succeeded,
        Failed,
    }

    /// One event sent (or to be sent) to one endpoint.
    #[derive(ToSchema)]
    #[schema(as = WebhookDelivery)]
    pub struct Delivery {
        /// `wd_…`
        pub id: String,
        pub endpoint_id: String,
        /// The event (`evt_…`); also the `webhook-id` header.
        pub event_id: String,
        pub event_type: String,
        /// When the next attempt is due; `null` unless pending.
        pub next_attempt_at_ms: Option<i64>,
        pub status: DeliveryStatus,
        /// Attempts made so far.
        pub attempts: i64,
        /// The receiver's last HTTP status, if it answered.
        pub last_status_code: Option<i64>,
        pub last_error: Option<String>,
        pub created_at_ms: i64,
        /// When it succeeded or finally failed.
        pub finished_at_ms: Option<i64>,
    }

    /// One attempt to send a delivery.
    #[derive(ToSchema)]
    #[schema(as = WebhookAttempt)]
    pub struct Attempt {
        /// `wa_…`
        pub id: String,
        pub attempted_at_ms: i64,
        pub duration_ms: i64,
        /// The receiver's HTTP status; `null` when it did not answer.
        pub status_code: Option<i64>,
        /// What went wrong, if anything.
        pub error: Option<String>,
        /// The first 1 KiB of the receiver's answer.
        pub response_body: String,
    }

    /// A delivery with its attempts: [`Delivery`] with `attempts` the list
    /// of attempts instead of their count.
    #[derive(ToSchema)]
    #[schema(as = WebhookDeliveryWithAttempts)]
    pub struct DeliveryWithAttempts {
        /// `wd_…`
        pub id: String,
        pub endpoint_id: String,
        /// The event (`evt_…`); also the `webhook-id` header.
        pub event_id: String,
        pub event_type: String,
        /// When the next attempt is due; `null` unless pending.
        pub next_attempt_at_ms: Option<i64>,
        pub status: DeliveryStatus,
        /// The attempts so far, oldest first.
        pub attempts: Vec<Attempt>,
        /// The receiver's last HTTP status, if it answered.
        pub last_status_code: Option<i64>,
        pub last_error: Option<String>,
        pub created_at_ms: i64,
        /// When it succeeded or finally failed.
        pub finished_at_ms: Option<i64>,
    }

    /// A page of deliveries.
    #[derive(ToSchema)]
    #[schema(as = WebhookDeliveryList)]
    pub struct DeliveryList {
        /// Newest first.
        pub data: Vec<Delivery>,
        /// Whether more follow (pass the last id as `starting_after`).
        pub has_more: bool,
    }

    /// What a test send did.
    #[derive(ToSchema)]
    #[schema(as = WebhookTestResult)]
    pub struct TestResult {
        pub delivery: Delivery,
        pub attempt: Attempt,
    }

    /// `POST /api/v1/developer/webhooks/{id}/recover`.
    #[derive(ToSchema)]
    #[schema(as = RecoveredDeliveries)]
    pub struct Recovered {
        /// How many failed deliveries are pending again.
        pub requeued: u64,
    }
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

/// List webhook endpoints.
///
/// `GET /api/v1/developer/webhooks` → `{"data": [ENDPOINT…]}`, newest first.
#[utoipa::path(get, path = "/api/v1/developer/webhooks", tag = "webhooks", operation_id = "list_webhooks", security(("bearer" = [])),
    responses((status = 200, description = "The developer's endpoints", body = doc::EndpointList), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
async fn list(Api(api): Api, AuthUser(who): AuthUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let sealer = api.webhooks.sealer();
    let all = endpoints::list(&mut c, &who.developer.id).await?;
    Ok(Json(json!({
        "data": all.iter().map(|e| e.to_json(sealer)).collect::<Vec<_>>(),
    })))
}

/// A new endpoint.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateWebhook)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// `https://…`, a public address (unless the operator allows private networks).
    url: String,
    /// At most 500 characters.
    #[serde(default)]
    description: Option<String>,
    /// Event types (`GET /api/v1/developer/event-types`) or `["*"]` (the default).
    #[serde(default)]
    event_types: Option<Vec<String>>,
    /// Retries after the first attempt, 0–7 (default 3).
    #[serde(default)]
    max_retries: Option<i64>,
}

/// Create a webhook endpoint.
///
/// `POST /api/v1/developer/webhooks` → 201 `ENDPOINT + secret`. With an
/// `Idempotency-Key`, a retry within 24 h gets the first answer again.
#[utoipa::path(post, path = "/api/v1/developer/webhooks", tag = "webhooks", operation_id = "create_webhook", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")),
    request_body = CreateRequest,
    responses((status = 201, description = "Created, with its signing secret", body = doc::EndpointWithSecret),
        (status = 400, description = "Invalid request (a field, or a URL that is not public or does not resolve)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body, or the account has 20 endpoints already", body = super::openapi::ErrorBody)))]
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

/// One webhook endpoint.
///
/// `GET /api/v1/developer/webhooks/{id}` → ENDPOINT.
#[utoipa::path(get, path = "/api/v1/developer/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    responses((status = 200, description = "The endpoint", body = doc::Endpoint), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody)))]
async fn show(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let e = endpoints::get(&mut c, &who.developer.id, &id).await?;
    Ok(Json(e.to_json(api.webhooks.sealer())))
}

/// Changes to an endpoint; absent fields stay.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UpdateWebhook)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    max_retries: Option<i64>,
    /// `true` re-enables (clearing the reason and the failing streak);
    /// `false` disables (reason `manual`).
    enabled: Option<bool>,
}

/// Change a webhook endpoint.
///
/// `PUT /api/v1/developer/webhooks/{id}` → ENDPOINT. Absent fields stay.
#[utoipa::path(put, path = "/api/v1/developer/webhooks/{id}", tag = "webhooks", operation_id = "update_webhook", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    request_body = UpdateRequest,
    responses((status = 200, description = "The endpoint as it is now", body = doc::Endpoint),
        (status = 400, description = "Invalid request (a field, or a URL that is not public or does not resolve)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody)))]
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

/// Delete a webhook endpoint.
///
/// `DELETE /api/v1/developer/webhooks/{id}` → 204; pending deliveries fail.
#[utoipa::path(delete, path = "/api/v1/developer/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    responses((status = 204, description = "Deleted; its pending deliveries failed"), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody)))]
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

/// An endpoint's signing secret.
///
/// `GET /api/v1/developer/webhooks/{id}/secret` → `{"secret"}`.
#[utoipa::path(get, path = "/api/v1/developer/webhooks/{id}/secret", tag = "webhooks", operation_id = "get_webhook_secret", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    responses((status = 200, description = "The current signing secret", body = doc::Secret), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody)))]
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

/// How to rotate a signing secret.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = RotateWebhookSecret)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// How long the previous secret keeps signing (next to the new one),
    /// 0–604800 seconds (default 86400); 0 stops it at once.
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

/// Rotate an endpoint's signing secret.
///
/// `POST /api/v1/developer/webhooks/{id}/secret/rotate` → `{"secret",
/// "previous_secret_expires_at_ms"}`. The body is optional.
#[utoipa::path(post, path = "/api/v1/developer/webhooks/{id}/secret/rotate", tag = "webhooks", operation_id = "rotate_webhook_secret", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    request_body(content = Option<RotateRequest>, description = "Optional"),
    responses((status = 200, description = "The new secret", body = doc::RotatedSecret),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody)))]
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

/// What to send as a test.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = TestWebhook)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    /// Any type of the catalog (default `webhook.test`); its example data is sent.
    #[serde(default)]
    event_type: Option<String>,
}

/// How long a test delivery is left to the request before the worker may
/// send it (if the process died between committing and sending).
const TEST_HOLD_MS: i64 = 60_000;

/// Send a test event to an endpoint.
///
/// `POST /api/v1/developer/webhooks/{id}/test` → `{"delivery", "attempt"}`:
/// emits an event of the type (default `webhook.test`) for this endpoint
/// only, sends it now and answers with the outcome. A disabled endpoint: 409.
#[utoipa::path(post, path = "/api/v1/developer/webhooks/{id}/test", tag = "webhooks", operation_id = "test_webhook", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    request_body(content = Option<TestRequest>, description = "Optional"),
    responses((status = 200, description = "Sent; the delivery and its attempt (whatever the receiver answered)", body = doc::TestResult),
        (status = 400, description = "Invalid request (an unknown event type)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = super::openapi::ErrorBody)))]
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

/// List an endpoint's deliveries.
///
/// `GET /api/v1/developer/webhooks/{id}/deliveries` → `{"data": [DELIVERY…], "has_more"}`,
/// newest first.
#[utoipa::path(get, path = "/api/v1/developer/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)"),
        ("status" = Option<String>, Query, description = "`pending`, `succeeded` or `failed`"),
        ("event_type" = Option<String>, Query, description = "Only deliveries of this event type"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–100 (default 20)"),
        ("starting_after" = Option<String>, Query, description = "A delivery id: the page after it (older)")),
    responses((status = 200, description = "A page of deliveries", body = doc::DeliveryList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody)))]
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

/// One delivery with its attempts.
///
/// `GET /api/v1/developer/webhook-deliveries/{id}` → DELIVERY + `attempts` (oldest first).
#[utoipa::path(get, path = "/api/v1/developer/webhook-deliveries/{id}", tag = "webhooks", operation_id = "get_webhook_delivery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Delivery id (`wd_…`)")),
    responses((status = 200, description = "The delivery", body = doc::DeliveryWithAttempts), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such delivery (or not yours)", body = super::openapi::ErrorBody)))]
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

/// Which failed deliveries to send again.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = RecoverWebhookDeliveries)]
#[serde(deny_unknown_fields)]
struct RecoverRequest {
    /// Failed deliveries created at or after this time (unix ms).
    since_ms: i64,
}

/// Send failed deliveries again.
///
/// `POST /api/v1/developer/webhooks/{id}/recover` `{since_ms}` → `{"requeued": n}`:
/// the endpoint's failed deliveries since then become pending, due now,
/// with a fresh retry budget.
#[utoipa::path(post, path = "/api/v1/developer/webhooks/{id}/recover", tag = "webhooks", operation_id = "recover_webhook_deliveries", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id (`we_…`)")),
    request_body = RecoverRequest,
    responses((status = 200, description = "How many deliveries are pending again", body = doc::Recovered),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such endpoint (or not yours)", body = super::openapi::ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = super::openapi::ErrorBody)))]
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

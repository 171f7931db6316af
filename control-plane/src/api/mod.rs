//! The management API under `/api/v1`: what developers (through the portal
//! or directly) and operators call. JSON in and out; every error is
//! `{"error": {"code", "message"}}` ([`ApiFailure`]).
//!
//! | module | routes |
//! | --- | --- |
//! | [`developer`] | `/api/v1/developer/*`: sign-up, verification, login, refresh, logout, password reset and change, profile |
//! | [`keys`] | `/api/v1/developer/keys*`: the developer's API keys and their usage |
//! | [`webhooks`] | `/api/v1/developer/webhooks*`, `/api/v1/developer/webhook-deliveries/*`: webhook endpoints, secrets, test sends, deliveries, recovery |
//! | [`events`] | `/api/v1/developer/event-types`, `/api/v1/developer/events*`: the event catalog, the developer's events, replay, the live stream (SSE) |
//! | [`admin`] | `/api/v1/admin/*`: operators only ([`guard::AdminUser`]) |
//! | here | `GET /api/v1/auth/config`: what the sign-up and sign-in pages may offer |
//!
//! Unauthenticated: `auth/config` and the developer routes that create or
//! recover a session (register, verify-email, resend-verification, login,
//! refresh, logout, reset-password, reset-password/confirm). Everything
//! else needs `Authorization: Bearer <access token>` ([`guard::AuthUser`]).
//!
//! The handlers reach the account service through [`ApiState`], installed
//! as a request extension by [`crate::server`].

pub mod admin;
pub mod analytics;
pub mod billing;
pub mod developer;
mod error;
pub mod events;
pub mod files;
pub mod guard;
pub mod idempotent;
pub mod keys;
pub mod openapi;
pub mod tasks;
pub mod webhooks;

pub use error::ApiFailure;

use crate::accounts::Accounts;
use crate::developers::Language;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::get;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

/// What the management API's handlers share.
pub struct ApiState {
    /// Analytics rollups (SQL or ClickHouse).
    pub analytics: crate::analytics::store::Store,
    /// Plans, credit, invoices and payments.
    pub billing: Arc<crate::billing::Billing>,
    /// Batch and task settings.
    pub batches: Arc<crate::batches::Settings>,
    /// Wakes the batch worker when items are queued.
    pub batch_wake: Arc<tokio::sync::Notify>,
    /// The account service.
    pub accounts: Accounts,
    /// Peers whose `x-forwarded-for` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seals secrets inside stored idempotent answers (`auth.token_secret`).
    pub sealing_secret: Vec<u8>,
    /// Seals upstream provider keys (`auth.token_secret`).
    pub vault: crate::catalog::KeyVault,
    /// Webhook delivery (test sends, secret sealing, URL policy).
    pub webhooks: Arc<crate::webhooks::delivery::Deliverer>,
    /// The settings operators change in the console, over the configuration.
    pub settings: std::sync::Arc<crate::settings::Runtime>,
}

/// The management API's routes (merged by [`crate::http::router`]), each
/// with its OpenAPI description ([`openapi`]).
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    // The event stream ends on shutdown ([`crate::http::App::shutdown`]).
    crate::http::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .routes(routes!(auth_config))
        .merge(developer::router())
        .merge(keys::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(admin::router())
        .merge(billing::router())
        .merge(analytics::router())
        .merge(files::router())
        .merge(tasks::router())
}

/// The shared [`ApiState`], taken from the request's extensions.
pub struct Api(pub Arc<ApiState>);

/// A comma-separated query value (`?type=a,b`) as its non-empty items.
pub(crate) fn comma_list(raw: Option<String>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

impl ApiState {
    /// A connection from the pool, for a handler's reads.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, ApiFailure> {
        Ok(self
            .accounts
            .db()
            .pool()
            .acquire()
            .await
            .map_err(crate::error::DomainError::from)?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Api {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<ApiState>>()
            .cloned()
            .map(Api)
            .ok_or_else(|| ApiFailure::internal("the management API state is not installed"))
    }
}

/// A JSON body whose rejections use the API's error shape (400
/// `invalid_request`, the message naming the offending field).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiFailure {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiFailure::new(
            rejection.status(),
            "payload_too_large",
            rejection.body_text(),
        );
    }
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with content-type: application/json".to_string()
        }
        other => other.body_text(),
    };
    ApiFailure::invalid(message)
}

/// What the sign-up and sign-in pages may offer.
#[derive(Serialize, utoipa::ToSchema)]
struct AuthConfigBody {
    /// `open`, `invite_only` or `closed`.
    signup: &'static str,
    /// Whether keys need a verified email address.
    email_verification_required: bool,
    /// Portal and email languages (`en`, `zh-CN`).
    languages: Vec<&'static str>,
}

/// `GET /api/v1/auth/config`
#[utoipa::path(get, path = "/api/v1/auth/config", tag = "accounts",
    responses((status = 200, description = "Sign-up policy and languages", body = AuthConfigBody)))]
async fn auth_config(Api(api): Api) -> Json<AuthConfigBody> {
    let policy = api.accounts.policy();
    Json(AuthConfigBody {
        signup: policy.signup.as_str(),
        email_verification_required: policy.require_email_verification_for_keys,
        languages: Language::ALL.iter().map(|l| l.as_str()).collect(),
    })
}

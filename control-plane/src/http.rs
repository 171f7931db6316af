//! The HTTP service: shared state, the one error type, the router that
//! merges every resource's routes, and the operational endpoints
//! (`/healthz`, `/readyz`, `/metrics`); every other path falls back to the
//! developer portal (`crate::portal`), API paths to the JSON 404.
//!
//! Unauthenticated routes: the portal's pages and files, `/healthz`,
//! `/readyz`, `/metrics`.
//! Everything under `/internal/` requires the gateways' HMAC signature.

use crate::config::{Config, SharedSecret};
use crate::db::Db;
use crate::error::DomainError;
use crate::internal_api;
use crate::metrics::Metrics;
use crate::portal;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<App>);

/// The application behind [`AppState`].
pub struct App {
    /// Database.
    pub db: Db,
    /// Secret the internal API verifies signatures with.
    pub shared_secret: SharedSecret,
    /// Opens upstream keys for the gateways' snapshot.
    pub vault: crate::catalog::KeyVault,
    /// The gateway's public address (for pages).
    pub public_gateway_url: String,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Newest configuration version, kept current by the watcher.
    pub versions: watch::Receiver<i64>,
    /// Turns true when the process is shutting down (ends long polls early).
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// Wraps an [`App`].
    pub fn new(app: App) -> AppState {
        AppState(Arc::new(app))
    }

    /// Builds the state from configuration and running parts.
    pub fn from_config(
        config: &Config,
        db: Db,
        metrics: Metrics,
        versions: watch::Receiver<i64>,
        shutdown: watch::Receiver<bool>,
    ) -> AppState {
        AppState::new(App {
            db,
            shared_secret: config.internal.shared_secret.clone(),
            vault: crate::catalog::KeyVault::new(config.auth.token_secret.expose().as_bytes()),
            public_gateway_url: config.public.gateway_url.clone(),
            metrics,
            versions,
            shutdown,
        })
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// An HTTP-facing error: a status and `{"error": {"code", "message"}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a specific code.
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("request body larger than {BODY_LIMIT} bytes")]
    PayloadTooLarge,
    /// 503.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the details go to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) => ApiError::BadRequest {
                code: "invalid_request",
                message: m,
            },
            DomainError::NotFound(m) => ApiError::NotFound(m),
            DomainError::Conflict(m) => ApiError::Conflict(m),
            DomainError::Database(e) if database_unreachable(&e) => {
                tracing::warn!(error = %e, "database unreachable");
                ApiError::Unavailable(DATABASE_UNREACHABLE.into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Whether a database error means "cannot reach the database now" (down,
/// restarting, connections refused or cut, the pool starved), which the
/// client may retry, rather than a fault of the request or of ours.
pub fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), and the server shutting
        // down or starting up (57P01-57P03).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// What a client is told when the database cannot be reached.
pub const DATABASE_UNREACHABLE: &str =
    "The database cannot be reached right now. Nothing was changed; retry in a few seconds.";

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: u64 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Internal(detail) = &self {
            // The one place internal errors are logged.
            tracing::error!(error = %detail, "internal error");
        }
        let body = json!({"error": {"code": code, "message": self.to_string()}});
        if let ApiError::Unavailable(_) = &self {
            return (
                status,
                [(
                    axum::http::header::RETRY_AFTER,
                    RETRY_AFTER_SECS.to_string(),
                )],
                Json(body),
            )
                .into_response();
        }
        (status, Json(body)).into_response()
    }
}

/// The whole router: every resource's routes merged, then the shared layers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(internal_api::router(state.clone()))
        .merge(axum::Router::from(crate::api::router()))
        .fallback(portal::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Counts, times and logs every request by its route template.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status();
    state
        .metrics
        .http_requests
        .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
        .inc();
    state
        .metrics
        .http_latency
        .with_label_values(&[route.as_str()])
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        method = %method,
        path = %path,
        status = status.as_u16(),
        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({"status": "ready"}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            Err(ApiError::Unavailable("database unreachable".into()))
        }
        Err(_) => Err(ApiError::Unavailable(
            "database did not answer in time".into(),
        )),
    }
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.metrics.config_version.set(*state.versions.borrow());
    let body = state
        .metrics
        .render()
        .map_err(|e| ApiError::Internal(format!("metrics encoding failed: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

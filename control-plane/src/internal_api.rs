//! The gateway contract (`aihub_contract`): snapshot, long-poll change
//! stream and usage ingest, every request HMAC-signed with the shared secret.

use crate::gateway_feed;
use crate::http::{ApiError, AppState, BODY_LIMIT};
use crate::metrics::GaugeGuard;
use crate::usage;
use aihub_contract::routes;
use aihub_contract::signing;
use aihub_contract::snapshot::{Changes, Snapshot};
use aihub_contract::usage::{IngestResult, UsageBatch};
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::time::Duration;

/// Default long-poll wait.
pub const DEFAULT_WAIT_MS: u64 = 25_000;
/// Longest long-poll wait.
pub const MAX_WAIT_MS: u64 = 30_000;

/// The internal routes, behind signature verification.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(routes::SNAPSHOT, get(snapshot))
        .route(routes::CHANGES, get(changes))
        .route(routes::USAGE, post(ingest_usage))
        .route(routes::HEALTH, post(report_health))
        .route_layer(middleware::from_fn_with_state(state, require_signature))
}

fn unix_now() -> i64 {
    crate::db::now_ms() / 1000
}

/// Verifies `x-aihub-internal` over method, path and query, and body.
async fn require_signature(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let secret = state.shared_secret.expose();
    if secret.is_empty() {
        return Err(ApiError::Unauthorized(
            "internal API disabled: no shared secret configured".into(),
        ));
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| parts.uri.path());
    let header = parts
        .headers
        .get(signing::HEADER)
        .and_then(|v| v.to_str().ok());
    signing::verify(
        secret.as_bytes(),
        unix_now(),
        header,
        parts.method.as_str(),
        path_and_query,
        &bytes,
    )
    .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

async fn snapshot(State(state): State<AppState>) -> Result<Json<Snapshot>, ApiError> {
    Ok(Json(gateway_feed::snapshot(&state.db, &state.vault).await?))
}

/// Query of the change stream.
#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    /// The version the gateway has.
    pub since: i64,
    /// How long to wait for a change, ms (default 25 000, at most 30 000).
    pub wait_ms: Option<u64>,
}

/// Answers at once when something changed after `since`; otherwise waits
/// until something does, `wait_ms` passes or the server shuts down.
async fn changes(
    State(state): State<AppState>,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Changes>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest {
        code: "invalid_request",
        message: format!(
            "expected ?since=<version>&wait_ms=<milliseconds>: {}",
            e.body_text()
        ),
    })?;
    let since = q.since;
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(DEFAULT_WAIT_MS).min(MAX_WAIT_MS));

    if let Some(answer) = answer_now(&state, since).await? {
        return Ok(Json(answer));
    }

    {
        let _open = GaugeGuard::new(&state.metrics.long_polls_open);
        let mut versions = state.versions.clone();
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            _ = versions.wait_for(|v| *v > since) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }

    Ok(Json(answer_now(&state, since).await?.unwrap_or(Changes {
        since,
        version: since,
        ..Changes::default()
    })))
}

/// The answer when there is one without waiting: changes after `since`, or
/// a resync when `since` is ahead of the database (it was replaced, or the
/// gateway talks to another installation).
async fn answer_now(state: &AppState, since: i64) -> Result<Option<Changes>, ApiError> {
    let current = gateway_feed::version(&state.db).await?;
    if since > current || since < 0 {
        return Ok(Some(gateway_feed::resync(since, current)));
    }
    if current > since {
        return Ok(Some(
            gateway_feed::changes(&state.db, &state.vault, since, current).await?,
        ));
    }
    Ok(None)
}

async fn ingest_usage(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<IngestResult>, ApiError> {
    let batch: UsageBatch = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        code: "invalid_json",
        message: format!("expected a usage batch {{\"rows\": [...]}}: {e}"),
    })?;
    let result = usage::ingest(&state.db, &batch.rows).await?;
    state.metrics.usage_ingested.inc_by(result.inserted);
    state.metrics.usage_duplicates.inc_by(result.duplicates);
    Ok(Json(result))
}

async fn report_health(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let report: aihub_contract::health::HealthReport =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: "invalid_json",
            message: format!(
                "expected a health report {{\"gateway_id\", \"deployments\": [...]}}: {e}"
            ),
        })?;
    crate::catalog::health::record(&state.db, &report).await?;
    Ok(Json(
        serde_json::json!({"recorded": report.deployments.len()}),
    ))
}

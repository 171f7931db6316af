//! `/api/v1/admin/*`: operators only. Every handler takes [`AdminUser`],
//! so developers get 403 `forbidden` before anything runs.

use super::guard::AdminUser;
use super::webhooks::limit_of;
use super::{Api, ApiFailure};
use crate::audit::{self, AuditFilter};
use crate::error::DomainError;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The operator routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/v1/admin/overview", get(overview))
        .route("/api/v1/admin/audit-log", get(audit_log))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    actor_id: Option<String>,
    target_id: Option<String>,
    action: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// `GET /api/v1/admin/audit-log?actor_id&target_id&action=a,b&since_ms&until_ms&limit&starting_after`
/// → `{"data": [ENTRY…], "has_more"}`, newest first: who (id, email, IP)
/// did what to which target, when, with the change's details.
async fn audit_log(
    Api(api): Api,
    _admin: AdminUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        actor_id: some(q.actor_id),
        target_id: some(q.target_id),
        actions: q
            .action
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        limit: limit_of(q.limit)?,
        starting_after: some(q.starting_after),
    };
    let mut c = api
        .accounts
        .db()
        .pool()
        .acquire()
        .await
        .map_err(DomainError::from)?;
    let (data, has_more) = audit::list(&mut c, &filter).await?;
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// `GET /api/v1/admin/overview` → account counts.
async fn overview(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let o = api.accounts.overview().await?;
    Ok(Json(
        json!({"developers": o.developers, "operators": o.operators}),
    ))
}

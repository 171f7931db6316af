//! `/api/v1/admin/*`: operators only. Every handler takes [`AdminUser`],
//! so developers get 403 `forbidden` before anything runs.

use super::guard::AdminUser;
use super::{Api, ApiFailure};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The operator routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/api/v1/admin/overview", get(overview))
}

/// `GET /api/v1/admin/overview` → account counts.
async fn overview(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let o = api.accounts.overview().await?;
    Ok(Json(
        json!({"developers": o.developers, "operators": o.operators}),
    ))
}

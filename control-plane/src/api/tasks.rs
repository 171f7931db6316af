//! `/api/v1/developer/tasks*`: the task API for the portal and scripts
//! (a developer's access token). Generation and processing tasks run as
//! batches sent through the gateway as one of the developer's API keys
//! (`key_id`, default: the newest enabled one).

use super::guard::AuthUser;
use super::idempotent::{self, Start};
use super::{Api, ApiFailure, ApiJson};
use crate::batches::{files, store, tasks};
use crate::error::DomainError;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

/// The routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/v1/developer/tasks", get(list).post(create))
        .route("/api/v1/developer/tasks/{id}", get(show))
        .route("/api/v1/developer/tasks/{id}/cancel", post(cancel))
        .route("/api/v1/developer/tasks/{id}/results", get(results))
        .route(
            "/api/v1/developer/tasks/{id}/results/download",
            get(download),
        )
        .route(
            "/api/v1/developer/files",
            post(upload).layer(axum::extract::DefaultBodyLimit::max((1 << 30) + (1 << 20))),
        )
        .route("/api/v1/developer/files/{id}/content", get(file_content))
}

/// `POST /api/v1/developer/files` (multipart: `file`): a CSV or JSONL file
/// for a `batch_process` task, from the portal → 201 FILE.
async fn upload(
    Api(api): Api,
    AuthUser(who): AuthUser,
    mut form: axum::extract::Multipart,
) -> Result<Response, ApiFailure> {
    let upload = super::files::read_upload(&mut form, api.batches.max_file_bytes)
        .await
        .map_err(|m| ApiFailure::invalid(format!("file: {m}")))?;
    let (name, data) = upload
        .file
        .ok_or_else(|| ApiFailure::invalid("file: required (a CSV or JSONL file)"))?;
    if data.is_empty() {
        return Err(ApiFailure::invalid("file: the file is empty"));
    }
    let mut tx = api
        .accounts
        .db()
        .begin_write()
        .await
        .map_err(DomainError::from)?;
    let f = files::store(&mut tx, &who.developer.id, "batch", &name, &data).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok((StatusCode::CREATED, Json(f.to_json())).into_response())
}

/// `GET /api/v1/developer/files/{id}/content`: one of the developer's files
/// (e.g. a batch's error file), as a download.
async fn file_content(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let mut c = api.conn().await?;
    let meta = files::get(&mut c, &who.developer.id, &id).await?;
    let data = files::content(&mut c, &meta.id).await?;
    Ok(super::files::download(&meta, data))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    #[serde(rename = "type")]
    kind: String,
    input: Value,
    #[serde(default)]
    key_id: Option<String>,
}

async fn task_json(c: &mut sqlx::AnyConnection, t: &tasks::Task) -> Result<Value, ApiFailure> {
    let batch = match &t.batch_id {
        Some(b) => store::by_id(c, b).await?,
        None => None,
    };
    Ok(tasks::to_json(t, batch.as_ref()))
}

/// `POST /api/v1/developer/tasks` → 201 TASK.
async fn create(
    Api(api): Api,
    AuthUser(who): AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: CreateRequest =
        serde_json::from_value(body.clone()).map_err(|e| ApiFailure::invalid(e.to_string()))?;
    let db = api.accounts.db();
    let dev = who.developer.id.as_str();
    let (mut tx, idem) =
        match idempotent::start(db, &api.sealing_secret, dev, &headers, &body).await? {
            Start::Replay(r) => return Ok(r),
            Start::Go(tx, idem) => (tx, idem),
        };
    let key_id: Option<String> = sqlx::query(
        "SELECT id FROM api_keys WHERE developer_id = $1 AND enabled AND deleted_at IS NULL \
         AND ($2 = '' OR id = $2) ORDER BY created_at DESC LIMIT 1",
    )
    .bind(dev)
    .bind(r.key_id.as_deref().unwrap_or(""))
    .fetch_optional(&mut *tx)
    .await
    .map_err(DomainError::from)?
    .map(|row| row.try_get("id"))
    .transpose()
    .map_err(DomainError::from)?;
    let needs_key = r.kind != "data_export";
    let key_id = match (key_id, needs_key) {
        (Some(k), _) => k,
        (None, false) => String::new(),
        (None, true) => {
            return Err(ApiFailure::invalid(match &r.key_id {
                Some(k) => format!("key_id: no enabled key '{k}' of yours"),
                None => "key_id: tasks run as one of your API keys; create one first".to_string(),
            }))
        }
    };
    let t = tasks::create(
        &mut tx,
        &tasks::Creator {
            developer_id: dev,
            key_id: &key_id,
        },
        &r.kind,
        &r.input,
    )
    .await?;
    let answer = task_json(&mut tx, &t).await?;
    let response =
        idempotent::finish(tx, idem, &api.sealing_secret, StatusCode::CREATED, answer).await?;
    api.batch_wake.notify_one();
    Ok(response)
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

/// `GET /api/v1/developer/tasks` → `{"data": [TASK…], "has_more"}`.
async fn list(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiFailure::invalid("limit: expected 1 to 100"));
    }
    let mut c = api.conn().await?;
    let mut all = tasks::list(
        &mut c,
        &who.developer.id,
        q.status.as_deref(),
        limit + 1,
        q.before.as_deref(),
    )
    .await?;
    let has_more = all.len() as i64 > limit;
    all.truncate(limit as usize);
    let mut data = Vec::with_capacity(all.len());
    for t in &all {
        data.push(task_json(&mut c, t).await?);
    }
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// `GET /api/v1/developer/tasks/{id}`
async fn show(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let t = tasks::get(&mut c, &who.developer.id, &id).await?;
    Ok(Json(task_json(&mut c, &t).await?))
}

/// `POST /api/v1/developer/tasks/{id}/cancel`
async fn cancel(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let t = tasks::cancel(&mut tx, &who.developer.id, &id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    if let Some(b) = &t.batch_id {
        store::finalize(db, b, false).await?;
    }
    let mut c = db.pool().acquire().await.map_err(DomainError::from)?;
    let t = tasks::get(&mut c, &who.developer.id, &id).await?;
    Ok(Json(task_json(&mut c, &t).await?))
}

#[derive(Deserialize)]
struct ResultsQuery {
    limit: Option<i64>,
    after: Option<i64>,
}

/// `GET /api/v1/developer/tasks/{id}/results?after=LINE&limit=N` → one
/// page of items: `{"data": [{"index", "custom_id", "status", "output",
/// "error", "prompt_tokens", "completion_tokens"}], "has_more"}`.
async fn results(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiFailure::invalid("limit: expected 1 to 500"));
    }
    let mut c = api.conn().await?;
    let t = tasks::get(&mut c, &who.developer.id, &id).await?;
    let Some(batch_id) = &t.batch_id else {
        return Ok(Json(json!({"data": [], "has_more": false})));
    };
    let rows = sqlx::query(
        "SELECT line_no, custom_id, status, response, error, prompt_tokens, completion_tokens \
         FROM batch_items WHERE batch_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3",
    )
    .bind(batch_id)
    .bind(q.after.unwrap_or(0))
    .bind(limit + 1)
    .fetch_all(&mut *c)
    .await
    .map_err(DomainError::from)?;
    let has_more = rows.len() as i64 > limit;
    let mut data = Vec::new();
    for r in rows.iter().take(limit as usize) {
        let get = |col: &str| -> Result<Option<String>, ApiFailure> {
            Ok(r.try_get::<Option<String>, _>(col)
                .map_err(DomainError::from)?)
        };
        let response: Option<Value> = get("response")?.and_then(|s| serde_json::from_str(&s).ok());
        let output = response
            .as_ref()
            .and_then(|v| v.pointer("/choices/0/message/content"))
            .cloned()
            .unwrap_or(Value::Null);
        let error: Option<Value> = get("error")?
            .and_then(|s| serde_json::from_str(&s).ok())
            .or_else(|| response.as_ref().and_then(|v| v.get("error")).cloned());
        let status: String = r.try_get("status").map_err(DomainError::from)?;
        data.push(json!({
            "index": r.try_get::<i64, _>("line_no").map_err(DomainError::from)?,
            "custom_id": r.try_get::<String, _>("custom_id").map_err(DomainError::from)?,
            "status": status,
            "output": output,
            "error": if status == "succeeded" { Value::Null } else { error.unwrap_or(Value::Null) },
            "prompt_tokens": r.try_get::<i64, _>("prompt_tokens").map_err(DomainError::from)?,
            "completion_tokens": r.try_get::<i64, _>("completion_tokens").map_err(DomainError::from)?,
        }));
    }
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// `GET /api/v1/developer/tasks/{id}/results/download` → the result file
/// (JSONL in OpenAI's batch output format, or an export's CSV).
async fn download(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let mut c = api.conn().await?;
    let t = tasks::get(&mut c, &who.developer.id, &id).await?;
    let Some(file_id) = &t.result_file_id else {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "not_ready",
            format!(
                "The task is {}; results are downloadable once it has completed.",
                t.status
            ),
        ));
    };
    let meta = files::get(&mut c, &who.developer.id, file_id).await?;
    let data = files::content(&mut c, &meta.id).await?;
    Ok(super::files::download(&meta, data))
}

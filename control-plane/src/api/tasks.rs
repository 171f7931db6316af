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
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(cancel))
        .routes(routes!(results))
        .routes(routes!(download))
        .routes(routes!(upload).layer(axum::extract::DefaultBodyLimit::max((1 << 30) + (1 << 20))))
        .routes(routes!(file_content))
}

/// The shapes of the task routes' answers and requests, for the OpenAPI
/// document. Task times are unix milliseconds (OpenAI's objects, in
/// [`super::files::doc`], use seconds).
#[allow(dead_code)]
pub(crate) mod doc {
    use serde_json::{Map, Value};
    use utoipa::ToSchema;

    /// What a task does.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TaskType {
        /// Prompts → chat completions.
        BatchGenerate,
        /// A prompt template over each row of an uploaded CSV or JSONL file.
        BatchProcess,
        /// The developer's usage rows to a CSV file.
        DataExport,
    }

    /// Where a task is.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TaskStatus {
        /// An export waiting for the export runner.
        Pending,
        Running,
        Completed,
        /// Every item failed, the 24 hours ran out, or the export failed
        /// (`error_message` says which).
        Failed,
        Cancelled,
    }

    /// How many items the task's batch has and how they went.
    #[derive(ToSchema)]
    pub struct TaskRequestCounts {
        pub total: i64,
        pub completed: i64,
        pub failed: i64,
    }

    /// The tokens the task's items used so far.
    #[derive(ToSchema)]
    pub struct TaskUsage {
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
    }

    /// A task.
    #[derive(ToSchema)]
    pub struct Task {
        /// `task_…`
        pub id: String,
        #[serde(rename = "type")]
        pub kind: TaskType,
        pub status: TaskStatus,
        /// Percent of the items finished (0–100); an export: 0, or 100 once
        /// completed.
        pub progress: i64,
        /// The input, as given at creation.
        #[schema(value_type = Object)]
        pub input: Map<String, Value>,
        /// `null` for an export (no batch).
        pub request_counts: Option<TaskRequestCounts>,
        /// `null` for an export (no batch).
        pub usage: Option<TaskUsage>,
        /// The batch running the items (`null` for an export).
        pub batch_id: Option<String>,
        /// The downloadable result (`…/results/download`), once final:
        /// the batch's output file (JSONL) or the export's CSV.
        pub result_file_id: Option<String>,
        /// Why it failed.
        pub error_message: Option<String>,
        /// Unix ms.
        pub created_at: i64,
        /// Unix ms; `null` while an export waits.
        pub started_at: Option<i64>,
        /// Unix ms, once final.
        pub completed_at: Option<i64>,
    }

    /// `GET /api/v1/developer/tasks`.
    #[derive(ToSchema)]
    pub struct TaskList {
        /// Newest first.
        pub data: Vec<Task>,
        /// More, older tasks: ask again with `before` = the last id.
        pub has_more: bool,
    }

    /// `stop`: one sequence or several.
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub enum Stop {
        One(String),
        Many(Vec<String>),
    }

    /// Chat completion options for every item (OpenAI's parameters);
    /// anything else is refused.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TaskOptions {
        /// Sent as the system message of every item.
        pub system: Option<String>,
        pub max_tokens: Option<u32>,
        pub temperature: Option<f64>,
        pub top_p: Option<f64>,
        pub stop: Option<Stop>,
        pub seed: Option<i64>,
        pub presence_penalty: Option<f64>,
        pub frequency_penalty: Option<f64>,
        #[schema(value_type = Option<Object>)]
        pub response_format: Option<Map<String, Value>>,
    }

    /// `batch_generate`: one chat completion per prompt.
    #[derive(ToSchema)]
    pub struct BatchGenerateInput {
        /// A model name from `GET /v1/models`.
        pub model: String,
        /// 1 to 50 000 non-empty prompts.
        pub prompts: Vec<String>,
        pub options: Option<TaskOptions>,
    }

    /// `batch_process`: one chat completion per row of an uploaded file.
    #[derive(ToSchema)]
    pub struct BatchProcessInput {
        /// A model name from `GET /v1/models`.
        pub model: String,
        /// An uploaded CSV (header row first) or JSONL file of at most
        /// 50 000 rows (`POST /api/v1/developer/files` or `/v1/files`).
        pub file_id: String,
        /// The prompt, with `{{field}}` replaced by each row's field.
        pub template: String,
        pub options: Option<TaskOptions>,
    }

    /// What an export exports.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ExportKind {
        Usage,
    }

    /// `data_export`: the developer's usage rows (of the days `from`–`to`,
    /// both included) to a CSV file.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DataExportInput {
        /// Default `usage`.
        pub kind: Option<ExportKind>,
        /// First day (UTC), `YYYY-MM-DD`; absent: from the start.
        #[schema(format = Date)]
        pub from: Option<String>,
        /// Last day (UTC), `YYYY-MM-DD`; absent: up to now.
        #[schema(format = Date)]
        pub to: Option<String>,
    }

    /// The input of a task, by its `type`.
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub enum TaskInput {
        BatchGenerate(BatchGenerateInput),
        BatchProcess(BatchProcessInput),
        DataExport(DataExportInput),
    }

    /// `POST /api/v1/developer/tasks`.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct CreateTask {
        #[serde(rename = "type")]
        pub kind: TaskType,
        pub input: TaskInput,
        /// The API key the items are sent as (one of yours, enabled);
        /// default: your newest enabled key. Not needed for `data_export`.
        pub key_id: Option<String>,
    }

    /// An item's state.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ItemStatus {
        Pending,
        Running,
        Succeeded,
        Failed,
        Cancelled,
        Expired,
    }

    /// One item of a task and its result.
    #[derive(ToSchema)]
    pub struct TaskResult {
        /// 1-based: the prompt's or row's position.
        pub index: i64,
        /// `item-N`
        pub custom_id: String,
        pub status: ItemStatus,
        /// The reply's text (`choices[0].message.content`); `null` until it
        /// succeeded.
        pub output: Option<String>,
        /// Why it failed (or, while `pending`, why it is retried):
        /// `{"code", "message"}` or the model API's OpenAI-shaped error;
        /// `null` when it succeeded or nothing went wrong yet.
        #[schema(value_type = Option<Object>)]
        pub error: Option<Map<String, Value>>,
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
    }

    /// `GET /api/v1/developer/tasks/{id}/results`.
    #[derive(ToSchema)]
    pub struct TaskResults {
        pub data: Vec<TaskResult>,
        /// More items: ask again with `after` = the last `index`.
        pub has_more: bool,
    }
}

/// Uploads a file for a `batch_process` task.
///
/// `POST /api/v1/developer/files` (multipart: `file`): a CSV or JSONL file
/// for a `batch_process` task, from the portal → 201 FILE (OpenAI's file
/// object, purpose `batch`).
#[utoipa::path(post, operation_id = "upload_task_file", path = "/api/v1/developer/files", tag = "tasks", security(("bearer" = [])),
    request_body(content = super::files::doc::FileUpload, content_type = "multipart/form-data"),
    responses((status = 201, description = "Stored", body = super::files::doc::OpenAiFile),
        (status = 400, description = "No or an empty `file`, a file too large, an unreadable form (a body that is not multipart: the framework's plain-text answer)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
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

/// Downloads one of your files.
///
/// `GET /api/v1/developer/files/{id}/content`: one of the developer's files
/// (e.g. a batch's error file), as a download: `text/csv` for a `.csv`
/// file, `application/jsonl` otherwise.
#[utoipa::path(get, operation_id = "download_task_file", path = "/api/v1/developer/files/{id}/content", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "File id (`file-…`)")),
    responses((status = 200, description = "The content, as an attachment", content(("application/jsonl"), ("text/csv"))),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such file (or not yours, or deleted)", body = super::openapi::ErrorBody)))]
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

/// Creates a task.
///
/// `POST /api/v1/developer/tasks` → 201 TASK. `batch_generate` and
/// `batch_process` start at once (`running`) as a batch sent as one of your
/// API keys; `data_export` waits (`pending`) for the export runner. With an
/// `Idempotency-Key`, a retry within 24 h gets the first answer again.
#[utoipa::path(post, operation_id = "create_task", path = "/api/v1/developer/tasks", tag = "tasks", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")),
    request_body = doc::CreateTask,
    responses((status = 201, description = "Created", body = doc::Task),
        (status = 400, description = "Invalid request: an unknown type, bad input (the message names the field), no enabled API key to run as", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body", body = super::openapi::ErrorBody),
        (status = 413, description = "A body larger than 10 MiB", body = super::openapi::ErrorBody)))]
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

/// Lists your tasks.
///
/// `GET /api/v1/developer/tasks` → `{"data": [TASK…], "has_more"}`, newest
/// first.
#[utoipa::path(get, operation_id = "list_tasks", path = "/api/v1/developer/tasks", tag = "tasks", security(("bearer" = [])),
    params(("status" = Option<doc::TaskStatus>, Query, description = "Only tasks with this status"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–100 (default 20)"),
        ("before" = Option<String>, Query, description = "A task id: the tasks older than it (the last id of the previous page)")),
    responses((status = 200, description = "One page of tasks", body = doc::TaskList),
        (status = 400, description = "`limit` out of range, or a malformed query (the framework's plain-text answer)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
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

/// Shows one of your tasks.
///
/// `GET /api/v1/developer/tasks/{id}` → TASK, with its progress.
#[utoipa::path(get, path = "/api/v1/developer/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`task_…`)")),
    responses((status = 200, description = "The task", body = doc::Task),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such task (or not yours)", body = super::openapi::ErrorBody)))]
async fn show(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let t = tasks::get(&mut c, &who.developer.id, &id).await?;
    Ok(Json(task_json(&mut c, &t).await?))
}

/// Cancels a task.
///
/// `POST /api/v1/developer/tasks/{id}/cancel` → TASK: its batch's pending
/// items stop (items in flight finish); an export not started is cancelled.
#[utoipa::path(post, path = "/api/v1/developer/tasks/{id}/cancel", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`task_…`)")),
    responses((status = 200, description = "The task as it is now", body = doc::Task),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such task (or not yours)", body = super::openapi::ErrorBody),
        (status = 409, description = "The task is already completed, failed or cancelled", body = super::openapi::ErrorBody)))]
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

/// Pages through a task's items and their results.
///
/// `GET /api/v1/developer/tasks/{id}/results?after=LINE&limit=N` → one
/// page of items: `{"data": [{"index", "custom_id", "status", "output",
/// "error", "prompt_tokens", "completion_tokens"}], "has_more"}`. A
/// `data_export` has no items (an empty page).
#[utoipa::path(get, path = "/api/v1/developer/tasks/{id}/results", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`task_…`)"),
        ("after" = Option<i64>, Query, description = "The items after this index (default 0: from the first)"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–500 (default 50)")),
    responses((status = 200, description = "One page of items, in input order", body = doc::TaskResults),
        (status = 400, description = "`limit` out of range, or a malformed query (the framework's plain-text answer)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such task (or not yours)", body = super::openapi::ErrorBody)))]
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

/// Downloads a task's result file.
///
/// `GET /api/v1/developer/tasks/{id}/results/download` → the result file
/// (JSONL in OpenAI's batch output format, or an export's CSV).
#[utoipa::path(get, path = "/api/v1/developer/tasks/{id}/results/download", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id (`task_…`)")),
    responses((status = 200, description = "The result file, as an attachment", content(("application/jsonl"), ("text/csv"))),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such task (or not yours), or its result file was deleted", body = super::openapi::ErrorBody),
        (status = 409, description = "No result file yet (`not_ready`): still running, or it ended without one", body = super::openapi::ErrorBody)))]
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

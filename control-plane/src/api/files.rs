//! OpenAI's Files and Batches APIs (`/v1/files*`, `/v1/batches*`), reached
//! through the gateway, which forwards them here untouched: callers
//! authenticate with an API key (scope `files` or `batches`), and errors
//! use OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`)
//! so the official SDKs read them.

use super::Api;
use crate::batches::input;
use crate::batches::store::{self, NewBatch};
use crate::batches::{self, files, KeyCaller, KeyRefusal};
use crate::error::DomainError;
use aihub_contract::snapshot::EndpointScope;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The largest upload body read at all; `batches.max_file_bytes` (at most
/// 1 GiB) is checked on the file itself.
const UPLOAD_BODY_LIMIT: usize = (1 << 30) + (1 << 20);

/// The routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(list_files, upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)))
        .routes(routes!(show_file, delete_file))
        .routes(routes!(file_content))
        .routes(routes!(list_batches, create_batch))
        .routes(routes!(show_batch))
        .routes(routes!(cancel_batch))
}

/// The shapes of the Files and Batches routes' answers and requests, for
/// the OpenAPI document (OpenAI's objects, times in unix seconds).
#[allow(dead_code)]
pub(crate) mod doc {
    use std::collections::HashMap;
    use utoipa::ToSchema;

    /// An error in OpenAI's shape (what the official SDKs read).
    #[derive(ToSchema)]
    pub struct OpenAiError {
        pub error: OpenAiErrorDetail,
    }

    /// What went wrong.
    #[derive(ToSchema)]
    pub struct OpenAiErrorDetail {
        /// What happened and what to do, for people.
        pub message: String,
        /// `invalid_request_error` (4xx) or `server_error` (500).
        #[serde(rename = "type")]
        pub kind: String,
        /// The request field at fault (`purpose`, `file`, `input_file_id`,
        /// `endpoint`, `completion_window`, `metadata`, `limit`), if one is.
        pub param: Option<String>,
        /// `missing_api_key`, `invalid_api_key`, `api_key_expired`,
        /// `account_suspended`, `endpoint_not_allowed`; `null` otherwise.
        pub code: Option<String>,
    }

    /// `"file"`.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum FileObjectType {
        File,
    }

    /// What a file is for.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum FilePurpose {
        /// Uploaded: a batch's input (or a `batch_process` task's rows).
        Batch,
        /// Written by a batch: its output or error file.
        BatchOutput,
        /// Written by a task (a `data_export`'s CSV).
        TaskOutput,
    }

    /// Always `processed`: files are usable as soon as they are stored.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum FileStatus {
        Processed,
    }

    /// OpenAI's file object.
    #[derive(ToSchema)]
    pub struct OpenAiFile {
        /// `file-…`
        pub id: String,
        pub object: FileObjectType,
        /// Size in bytes.
        pub bytes: i64,
        /// Unix seconds.
        pub created_at: i64,
        pub filename: String,
        pub purpose: FilePurpose,
        pub status: FileStatus,
        /// Always `null`.
        pub status_details: Option<String>,
        /// Always `null`: files do not expire.
        pub expires_at: Option<i64>,
    }

    /// `"list"`.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ListObjectType {
        List,
    }

    /// `GET /v1/files`: newest first.
    #[derive(ToSchema)]
    pub struct OpenAiFileList {
        pub object: ListObjectType,
        /// The first file's id; `null` when the page is empty.
        pub first_id: Option<String>,
        /// The last file's id (the next page's `after`); `null` when empty.
        pub last_id: Option<String>,
        pub has_more: bool,
        pub data: Vec<OpenAiFile>,
    }

    /// `DELETE /v1/files/{id}`.
    #[derive(ToSchema)]
    pub struct OpenAiFileDeleted {
        pub id: String,
        pub object: FileObjectType,
        /// Always `true`.
        pub deleted: bool,
    }

    /// `POST /v1/files` (and the portal's `POST /api/v1/developer/files`),
    /// as `multipart/form-data`.
    #[derive(ToSchema)]
    pub struct FileUpload {
        /// The file: JSONL (one request per line) for a batch; CSV or
        /// JSONL rows for a `batch_process` task. At most
        /// `batches.max_file_bytes` bytes.
        #[schema(value_type = String, content_media_type = "application/octet-stream")]
        pub file: Vec<u8>,
        /// `batch` (required by `POST /v1/files`; the portal route ignores it).
        pub purpose: Option<String>,
    }

    /// The endpoint every request of a batch calls.
    #[derive(ToSchema)]
    pub enum BatchEndpoint {
        #[serde(rename = "/v1/chat/completions")]
        ChatCompletions,
        #[serde(rename = "/v1/completions")]
        Completions,
        #[serde(rename = "/v1/embeddings")]
        Embeddings,
    }

    /// `POST /v1/batches`.
    #[derive(ToSchema)]
    pub struct OpenAiCreateBatch {
        /// A file uploaded with purpose `batch`.
        pub input_file_id: String,
        pub endpoint: BatchEndpoint,
        /// Must be `24h`.
        pub completion_window: String,
        /// At most 16 pairs; keys up to 64 characters, values strings up
        /// to 512.
        pub metadata: Option<HashMap<String, String>>,
    }

    /// `"batch"`.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum BatchObjectType {
        Batch,
    }

    /// OpenAI's batch statuses (this hub never reports `validating` or
    /// `finalizing`: the input is checked at creation, results are written
    /// at once).
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum BatchStatus {
        /// The input file was refused (see `errors`).
        Failed,
        InProgress,
        Completed,
        /// The completion window ended first.
        Expired,
        /// Asked to stop; requests in flight still finish.
        Cancelling,
        Cancelled,
    }

    /// One problem with a batch's input file.
    #[derive(ToSchema)]
    pub struct OpenAiBatchLineError {
        /// `invalid_json`, `missing_custom_id`, `duplicate_custom_id`, …
        pub code: String,
        /// The 1-based line, when it is about one.
        pub line: Option<i64>,
        pub message: String,
        /// The field, when it is about one.
        pub param: Option<String>,
    }

    /// Why the input file was refused.
    #[derive(ToSchema)]
    pub struct OpenAiBatchErrors {
        pub object: ListObjectType,
        /// At most 100.
        pub data: Vec<OpenAiBatchLineError>,
    }

    /// How many requests a batch has and how they went.
    #[derive(ToSchema)]
    pub struct OpenAiBatchRequestCounts {
        pub total: i64,
        pub completed: i64,
        pub failed: i64,
    }

    /// The tokens a batch's requests used.
    #[derive(ToSchema)]
    pub struct OpenAiBatchUsage {
        pub input_tokens: i64,
        pub output_tokens: i64,
        pub total_tokens: i64,
    }

    /// OpenAI's batch object (times in unix seconds).
    #[derive(ToSchema)]
    pub struct OpenAiBatch {
        /// `batch_…`
        pub id: String,
        pub object: BatchObjectType,
        pub endpoint: BatchEndpoint,
        /// The input file's problems (status `failed`); `null` otherwise.
        pub errors: Option<OpenAiBatchErrors>,
        /// `null` for a batch a task started.
        pub input_file_id: Option<String>,
        /// `24h`.
        pub completion_window: String,
        pub status: BatchStatus,
        /// The succeeded requests' results (JSONL), once final.
        pub output_file_id: Option<String>,
        /// The failed requests' results (JSONL), once final.
        pub error_file_id: Option<String>,
        pub created_at: i64,
        pub in_progress_at: Option<i64>,
        /// The end of the completion window.
        pub expires_at: i64,
        pub finalizing_at: Option<i64>,
        pub completed_at: Option<i64>,
        pub failed_at: Option<i64>,
        pub expired_at: Option<i64>,
        pub cancelling_at: Option<i64>,
        pub cancelled_at: Option<i64>,
        pub request_counts: OpenAiBatchRequestCounts,
        /// As given at creation (a task's batch: `{"task_id": …}`).
        pub metadata: HashMap<String, String>,
        pub usage: OpenAiBatchUsage,
    }

    /// `GET /v1/batches`: newest first.
    #[derive(ToSchema)]
    pub struct OpenAiBatchList {
        pub object: ListObjectType,
        /// The first batch's id; `null` when the page is empty.
        pub first_id: Option<String>,
        /// The last batch's id (the next page's `after`); `null` when empty.
        pub last_id: Option<String>,
        pub has_more: bool,
        pub data: Vec<OpenAiBatch>,
    }
}
/// An error in OpenAI's shape.
pub struct OaiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<&'static str>,
    message: String,
}

impl OaiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> OaiError {
        OaiError {
            status,
            kind,
            code,
            param: None,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> OaiError {
        OaiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        )
    }

    fn param(mut self, p: &'static str) -> OaiError {
        self.param = Some(p);
        self
    }
}

impl From<DomainError> for OaiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) => OaiError::invalid(m),
            DomainError::NotFound(m) => {
                OaiError::new(StatusCode::NOT_FOUND, "invalid_request_error", None, m)
            }
            DomainError::Conflict(m) => {
                OaiError::new(StatusCode::CONFLICT, "invalid_request_error", None, m)
            }
            DomainError::Database(e) if crate::http::database_unreachable(&e) => {
                tracing::warn!(error = %e, "database unreachable");
                OaiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("unavailable"),
                    crate::http::DATABASE_UNREACHABLE,
                )
            }
            other => {
                tracing::error!(error = %other, "files/batches request failed");
                OaiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    None,
                    "The server had an error processing your request.",
                )
            }
        }
    }
}

impl From<sqlx::Error> for OaiError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::from(e).into()
    }
}

impl IntoResponse for OaiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})),
        )
            .into_response()
    }
}

type Result<T> = std::result::Result<T, OaiError>;

async fn caller(
    api: &super::ApiState,
    headers: &HeaderMap,
    scope: EndpointScope,
) -> Result<KeyCaller> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(secret) = secret else {
        return Err(OaiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("missing_api_key"),
            "You didn't provide an API key. Send it as 'Authorization: Bearer ahub_…'; create keys in the AI Hub portal.",
        ));
    };
    let mut c = api.accounts.db().pool().acquire().await?;
    match batches::authenticate(&mut c, secret, scope).await? {
        Ok(k) => Ok(k),
        Err(KeyRefusal::Invalid) => Err(OaiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            format!(
                "Incorrect API key provided: {}. You can find your API keys in the AI Hub portal.",
                aihub_contract::keys::display_prefix(secret)
            ),
        )),
        Err(KeyRefusal::Expired) => Err(OaiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("api_key_expired"),
            "This API key has expired. Create a new key in the AI Hub portal.",
        )),
        Err(KeyRefusal::Suspended) => Err(OaiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("account_suspended"),
            "This account is suspended. Contact the operator of this AI Hub.",
        )),
        Err(KeyRefusal::NotAllowed) => Err(OaiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("endpoint_not_allowed"),
            format!("This API key may not use the {} endpoints.", scope.as_str()),
        )),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    after: Option<String>,
    purpose: Option<String>,
}

fn limit_of(q: &ListQuery, default: i64, max: i64) -> Result<i64> {
    let limit = q.limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(OaiError::invalid(format!("limit must be between 1 and {max}")).param("limit"));
    }
    Ok(limit)
}

fn page(data: Vec<Value>, limit: i64) -> Value {
    let has_more = data.len() as i64 > limit;
    let data: Vec<Value> = data.into_iter().take(limit as usize).collect();
    json!({
        "object": "list",
        "first_id": data.first().and_then(|v| v["id"].as_str()).map(str::to_string),
        "last_id": data.last().and_then(|v| v["id"].as_str()).map(str::to_string),
        "has_more": has_more,
        "data": data,
    })
}

/// An uploaded multipart form: its `purpose` and its `file` (name made
/// safe to store, content), as both upload routes read it.
pub(super) struct Upload {
    pub(super) purpose: Option<String>,
    pub(super) file: Option<(String, axum::body::Bytes)>,
}

/// Reads an upload form; the error says what was wrong (the file larger
/// than `max` bytes, an unreadable body).
pub(super) async fn read_upload(
    form: &mut Multipart,
    max: usize,
) -> std::result::Result<Upload, String> {
    let mut up = Upload {
        purpose: None,
        file: None,
    };
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| format!("the multipart body could not be read: {e}"))?
    {
        match field.name() {
            Some("purpose") => up.purpose = Some(field.text().await.map_err(|e| e.to_string())?),
            Some("file") => {
                let name: String = field
                    .file_name()
                    .unwrap_or("upload.jsonl")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(255)
                    .collect();
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| format!("the file could not be read: {e}"))?;
                if data.len() > max {
                    return Err(format!("the file is too large: at most {max} bytes"));
                }
                up.file = Some((name, data));
            }
            _ => {}
        }
    }
    Ok(up)
}

/// A stored file as a download.
pub(super) fn download(meta: &files::FileMeta, data: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, meta.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    meta.filename.replace('"', "")
                ),
            ),
        ],
        data,
    )
        .into_response()
}

/// Uploads a batch input file.
///
/// `POST /v1/files` (multipart: `file`, `purpose=batch`) → 200 FILE.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `files` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(post, operation_id = "upload_file", path = "/v1/files", tag = "files and batches", security(("bearer" = [])),
    request_body(content = doc::FileUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "Stored", body = doc::OpenAiFile),
        (status = 400, description = "No `purpose` or not `batch`, no or an empty `file`, a file too large, an unreadable form", body = doc::OpenAiError),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the files endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError)))]
async fn upload(Api(api): Api, headers: HeaderMap, mut form: Multipart) -> Result<Response> {
    let who = caller(&api, &headers, EndpointScope::Files).await?;
    let Upload { purpose, file } = read_upload(&mut form, api.batches.max_file_bytes)
        .await
        .map_err(|m| OaiError::invalid(m).param("file"))?;
    let purpose = purpose.ok_or_else(|| {
        OaiError::invalid("Missing required parameter: 'purpose'.").param("purpose")
    })?;
    if purpose != "batch" {
        return Err(OaiError::invalid(format!(
            "'{purpose}' is not a supported purpose; use 'batch'."
        ))
        .param("purpose"));
    }
    let (name, data) =
        file.ok_or_else(|| OaiError::invalid("Missing required parameter: 'file'.").param("file"))?;
    if data.is_empty() {
        return Err(OaiError::invalid("The file is empty.").param("file"));
    }
    let db = api.accounts.db();
    let mut tx = db.begin_write().await?;
    let f = files::store(&mut tx, &who.developer_id, "batch", &name, &data).await?;
    tx.commit().await?;
    Ok(Json(f.to_json()).into_response())
}

/// Lists your files.
///
/// `GET /v1/files`: uploaded inputs and the files batches and tasks wrote,
/// newest first.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `files` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(get, path = "/v1/files", tag = "files and batches", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "Page size, 1–10000 (default 10000)"),
        ("after" = Option<String>, Query, description = "A file id: the page after it (the previous page's `last_id`)"),
        ("purpose" = Option<String>, Query, description = "Only files of this purpose (`batch`, `batch_output`, `task_output`)")),
    responses((status = 200, description = "One page of files", body = doc::OpenAiFileList),
        (status = 400, description = "`limit` out of range, or a malformed query (the framework's plain-text answer)", body = doc::OpenAiError),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the files endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError)))]
async fn list_files(
    Api(api): Api,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Files).await?;
    let limit = limit_of(&q, 10_000, 10_000)?;
    let mut c = api.accounts.db().pool().acquire().await?;
    let all = files::list(
        &mut c,
        &who.developer_id,
        q.purpose.as_deref(),
        limit + 1,
        q.after.as_deref(),
    )
    .await?;
    Ok(Json(page(
        all.iter().map(files::FileMeta::to_json).collect(),
        limit,
    )))
}

/// Shows one of your files.
///
/// `GET /v1/files/{id}` → FILE.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `files` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(get, path = "/v1/files/{id}", tag = "files and batches", security(("bearer" = [])),
    params(("id" = String, Path, description = "File id (`file-…`)")),
    responses((status = 200, description = "The file", body = doc::OpenAiFile),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the files endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError), (status = 404, description = "No such file (or not yours, or deleted)", body = doc::OpenAiError)))]
async fn show_file(
    Api(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Files).await?;
    let mut c = api.accounts.db().pool().acquire().await?;
    Ok(Json(
        files::get(&mut c, &who.developer_id, &id).await?.to_json(),
    ))
}

/// Downloads a file's content.
///
/// `GET /v1/files/{id}/content`: the bytes as stored, `text/csv` for a
/// `.csv` file, `application/jsonl` otherwise.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `files` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(get, operation_id = "download_file_content", path = "/v1/files/{id}/content", tag = "files and batches", security(("bearer" = [])),
    params(("id" = String, Path, description = "File id (`file-…`)")),
    responses((status = 200, description = "The content, as an attachment", content(("application/jsonl"), ("text/csv"))),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the files endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError), (status = 404, description = "No such file (or not yours, or deleted)", body = doc::OpenAiError)))]
async fn file_content(
    Api(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let who = caller(&api, &headers, EndpointScope::Files).await?;
    let mut c = api.accounts.db().pool().acquire().await?;
    let meta = files::get(&mut c, &who.developer_id, &id).await?;
    let data = files::content(&mut c, &meta.id).await?;
    Ok(download(&meta, data))
}

/// Deletes one of your files.
///
/// `DELETE /v1/files/{id}`: its content goes; batches that name it keep
/// the id.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `files` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(delete, path = "/v1/files/{id}", tag = "files and batches", security(("bearer" = [])),
    params(("id" = String, Path, description = "File id (`file-…`)")),
    responses((status = 200, description = "Deleted", body = doc::OpenAiFileDeleted),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the files endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError), (status = 404, description = "No such file (or not yours, or deleted)", body = doc::OpenAiError)))]
async fn delete_file(
    Api(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Files).await?;
    let mut tx = api.accounts.db().begin_write().await?;
    files::delete(&mut tx, &who.developer_id, &id).await?;
    tx.commit().await?;
    Ok(Json(json!({"id": id, "object": "file", "deleted": true})))
}

#[derive(Deserialize)]
struct CreateBatch {
    input_file_id: Option<String>,
    endpoint: Option<String>,
    completion_window: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// Creates a batch from an uploaded file.
///
/// `POST /v1/batches` → 200 BATCH: the input is checked whole; a bad file
/// makes a `failed` batch whose `errors` list every bad line.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `batches` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(post, path = "/v1/batches", tag = "files and batches", security(("bearer" = [])),
    request_body = doc::OpenAiCreateBatch,
    responses((status = 200, description = "Created: `in_progress`, or `failed` with the input's `errors`", body = doc::OpenAiBatch),
        (status = 400, description = "A body that is not JSON, a missing or unsupported parameter, an unknown input file or one not uploaded for `batch`", body = doc::OpenAiError),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the batches endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError),
        (status = 413, description = "A body larger than 10 MiB (the framework's plain-text answer)")))]
async fn create_batch(
    Api(api): Api,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Batches).await?;
    let r: CreateBatch = serde_json::from_slice(&body).map_err(|e| {
        OaiError::invalid(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })?;
    let file_id = r.input_file_id.ok_or_else(|| {
        OaiError::invalid("Missing required parameter: 'input_file_id'.").param("input_file_id")
    })?;
    let endpoint = r.endpoint.ok_or_else(|| {
        OaiError::invalid("Missing required parameter: 'endpoint'.").param("endpoint")
    })?;
    if !input::ENDPOINTS.contains(&endpoint.as_str()) {
        return Err(OaiError::invalid(format!(
            "'{endpoint}' is not supported; use one of {}.",
            input::ENDPOINTS.join(", ")
        ))
        .param("endpoint"));
    }
    if r.completion_window.as_deref() != Some("24h") {
        return Err(
            OaiError::invalid("completion_window must be '24h'.").param("completion_window")
        );
    }
    let metadata = match r.metadata {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(m))
            if m.len() <= 16
                && m.iter()
                    .all(|(k, v)| k.len() <= 64 && v.as_str().is_some_and(|s| s.len() <= 512)) =>
        {
            Value::Object(m)
        }
        Some(_) => {
            return Err(OaiError::invalid(
                "metadata: at most 16 string values (keys ≤ 64, values ≤ 512 characters).",
            )
            .param("metadata"))
        }
    };
    let db = api.accounts.db();
    let mut tx = db.begin_write().await?;
    let f = files::get(&mut tx, &who.developer_id, &file_id)
        .await
        .map_err(|_| {
            OaiError::invalid(format!("No such File object: {file_id}")).param("input_file_id")
        })?;
    if f.purpose != "batch" {
        return Err(OaiError::invalid(format!(
            "File {file_id} was not uploaded with purpose 'batch'."
        ))
        .param("input_file_id"));
    }
    let data = files::content(&mut tx, &f.id).await?;
    let items = input::parse(&data, &endpoint, api.batches.max_requests);
    let b = store::create(
        &mut tx,
        &NewBatch {
            developer_id: &who.developer_id,
            key_id: &who.key_id,
            origin: "openai",
            input_file_id: Some(&f.id),
            endpoint: &endpoint,
            completion_window: "24h",
            metadata: &metadata,
        },
        items,
    )
    .await?;
    tx.commit().await?;
    api.batch_wake.notify_one();
    Ok(Json(b.to_json()))
}

/// Lists your batches.
///
/// `GET /v1/batches`: the batches created through this API (not those tasks
/// run), newest first.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `batches` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(get, path = "/v1/batches", tag = "files and batches", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "Page size, 1–100 (default 20)"),
        ("after" = Option<String>, Query, description = "A batch id: the page after it (the previous page's `last_id`)")),
    responses((status = 200, description = "One page of batches", body = doc::OpenAiBatchList),
        (status = 400, description = "`limit` out of range, or a malformed query (the framework's plain-text answer)", body = doc::OpenAiError),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the batches endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError)))]
async fn list_batches(
    Api(api): Api,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Batches).await?;
    let limit = limit_of(&q, 20, 100)?;
    let mut c = api.accounts.db().pool().acquire().await?;
    let all = store::list(
        &mut c,
        &who.developer_id,
        Some("openai"),
        limit + 1,
        q.after.as_deref(),
    )
    .await?;
    Ok(Json(page(
        all.iter().map(store::Batch::to_json).collect(),
        limit,
    )))
}

/// Shows one of your batches.
///
/// `GET /v1/batches/{id}` → BATCH.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `batches` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(get, path = "/v1/batches/{id}", tag = "files and batches", security(("bearer" = [])),
    params(("id" = String, Path, description = "Batch id (`batch_…`)")),
    responses((status = 200, description = "The batch", body = doc::OpenAiBatch),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the batches endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError), (status = 404, description = "No such batch (or not yours)", body = doc::OpenAiError)))]
async fn show_batch(
    Api(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Batches).await?;
    let mut c = api.accounts.db().pool().acquire().await?;
    Ok(Json(
        store::get(&mut c, &who.developer_id, &id).await?.to_json(),
    ))
}

/// Cancels a batch.
///
/// `POST /v1/batches/{id}/cancel` → BATCH: pending requests are cancelled
/// at once; the batch is `cancelling` until those in flight finish, then
/// `cancelled` (with nothing in flight, at once). Cancelling again answers
/// the batch as it is.
///
/// The bearer is an API key (`Authorization: Bearer ahub_…`) allowed the
/// `batches` endpoints, not a portal access token. Errors use OpenAI's shape.
#[utoipa::path(post, path = "/v1/batches/{id}/cancel", tag = "files and batches", security(("bearer" = [])),
    params(("id" = String, Path, description = "Batch id (`batch_…`)")),
    responses((status = 200, description = "The batch, `cancelling` or `cancelled`", body = doc::OpenAiBatch),
        (status = 401, description = "No API key, or an unknown or expired one (`missing_api_key`, `invalid_api_key`, `api_key_expired`)", body = doc::OpenAiError), (status = 403, description = "The account is suspended (`account_suspended`) or the key may not use the batches endpoints (`endpoint_not_allowed`)", body = doc::OpenAiError), (status = 404, description = "No such batch (or not yours)", body = doc::OpenAiError),
        (status = 409, description = "The batch is already `completed`, `failed` or `expired`", body = doc::OpenAiError)))]
async fn cancel_batch(
    Api(api): Api,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let who = caller(&api, &headers, EndpointScope::Batches).await?;
    let db = api.accounts.db();
    let mut tx = db.begin_write().await?;
    let b = store::cancel(&mut tx, &who.developer_id, &id).await?;
    tx.commit().await?;
    // Finishes at once when nothing was in flight.
    let done = store::finalize(db, &id, false).await?;
    Ok(Json(done.unwrap_or(b).to_json()))
}

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
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The largest upload body read at all; `batches.max_file_bytes` (at most
/// 1 GiB) is checked on the file itself.
const UPLOAD_BODY_LIMIT: usize = (1 << 30) + (1 << 20);

/// The routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/v1/files",
            get(list_files)
                .post(upload)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/v1/files/{id}", get(show_file).delete(delete_file))
        .route("/v1/files/{id}/content", get(file_content))
        .route("/v1/batches", get(list_batches).post(create_batch))
        .route("/v1/batches/{id}", get(show_batch))
        .route("/v1/batches/{id}/cancel", post(cancel_batch))
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

/// `POST /v1/files` (multipart: `file`, `purpose=batch`).
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

/// `GET /v1/files`
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

/// `GET /v1/files/{id}`
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

/// `GET /v1/files/{id}/content`
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

/// `DELETE /v1/files/{id}`
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

/// `POST /v1/batches`: the input is checked whole; a bad file makes a
/// `failed` batch whose `errors` list every bad line.
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

/// `GET /v1/batches`
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

/// `GET /v1/batches/{id}`
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

/// `POST /v1/batches/{id}/cancel`
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

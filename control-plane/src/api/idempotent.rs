//! The HTTP side of `Idempotency-Key` on creating POSTs (the stored answers
//! are [`crate::idempotency`]): reading the header, answering again, and
//! the conflict error. Answers that may carry a secret are never cached.

use super::ApiFailure;
use crate::idempotency;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// The request's `Idempotency-Key`, checked, if it sent one.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiFailure> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| ApiFailure::invalid("Idempotency-Key: expected visible ASCII characters"))?;
    idempotency::check_key(k)?;
    Ok(Some(k.to_string()))
}

/// A JSON answer with `cache-control: no-store` (it may carry a secret).
pub fn no_store(status: StatusCode, body: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A stored answer, sent again, marked `idempotent-replayed: true`.
pub fn replayed(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    let mut response = no_store(status, body);
    response.headers_mut().insert(
        "idempotent-replayed",
        axum::http::HeaderValue::from_static("true"),
    );
    response
}

/// The key was used before with another body.
pub fn conflict() -> ApiFailure {
    ApiFailure::new(
        StatusCode::CONFLICT,
        "idempotency_conflict",
        "Idempotency-Key: this key was already used with a different request body",
    )
}

/// What a creating POST needs to answer a retry and store its first answer.
pub struct Idem {
    key: Option<String>,
    hash: String,
    developer_id: String,
}

/// How a creating POST goes on: the stored answer of a retry, or a write
/// transaction to do the work in (then [`finish`]).
pub enum Start {
    /// A retry: send this again.
    Replay(Response),
    /// New: do the work in this transaction.
    Go(sqlx::Transaction<'static, sqlx::Any>, Idem),
}

/// Opens the write transaction of a creating POST, answering a retry with
/// its first answer (or a conflict when the body differs).
pub async fn start(
    db: &crate::db::Db,
    secret: &[u8],
    developer_id: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Result<Start, ApiFailure> {
    let key = key_from(headers)?;
    let hash = idempotency::request_hash(body);
    let mut tx = db
        .begin_write()
        .await
        .map_err(crate::error::DomainError::from)?;
    if let Some(k) = &key {
        match idempotency::lookup(&mut tx, secret, developer_id, k, &hash).await? {
            idempotency::Lookup::New => {}
            idempotency::Lookup::Replay { status, body } => {
                return Ok(Start::Replay(replayed(status, body)))
            }
            idempotency::Lookup::Conflict => return Err(conflict()),
        }
    }
    Ok(Start::Go(
        tx,
        Idem {
            key,
            hash,
            developer_id: developer_id.to_string(),
        },
    ))
}

/// Stores the answer under the request's key (if any), commits and answers.
pub async fn finish(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    idem: Idem,
    secret: &[u8],
    status: StatusCode,
    answer: Value,
) -> Result<Response, ApiFailure> {
    if let Some(k) = &idem.key {
        idempotency::store(
            &mut tx,
            secret,
            &idem.developer_id,
            k,
            &idem.hash,
            status.as_u16(),
            &answer,
        )
        .await?;
    }
    tx.commit().await.map_err(crate::error::DomainError::from)?;
    Ok(no_store(status, answer))
}

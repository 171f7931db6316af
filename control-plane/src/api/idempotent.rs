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

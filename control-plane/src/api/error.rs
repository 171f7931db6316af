//! The management API's error: a status and `{"error": {"code", "message"}}`,
//! the same body [`crate::http::ApiError`] renders, plus the codes and
//! headers (`retry-after`) of account operations.

use crate::accounts::{retry_after_secs, AccountError};
use crate::error::DomainError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer of the management API.
#[derive(Debug)]
pub struct ApiFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    /// Logged (once, when rendered) instead of shown.
    internal: Option<String>,
}

impl ApiFailure {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status,
            code,
            message: message.into(),
            retry_after: None,
            internal: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 500; `detail` goes to the log, never to the client.
    pub fn internal(detail: impl Into<String>) -> ApiFailure {
        ApiFailure {
            internal: Some(detail.into()),
            ..ApiFailure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<DomainError> for ApiFailure {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) => ApiFailure::invalid(m),
            DomainError::NotFound(m) => ApiFailure::new(StatusCode::NOT_FOUND, "not_found", m),
            DomainError::Conflict(m) => ApiFailure::new(StatusCode::CONFLICT, "conflict", m),
            DomainError::Database(e) if crate::http::database_unreachable(&e) => {
                tracing::warn!(error = %e, "database unreachable");
                ApiFailure {
                    retry_after: Some(crate::http::RETRY_AFTER_SECS),
                    ..ApiFailure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        crate::http::DATABASE_UNREACHABLE,
                    )
                }
            }
            other => ApiFailure::internal(other.to_string()),
        }
    }
}

impl From<AccountError> for ApiFailure {
    fn from(e: AccountError) -> Self {
        let (status, code) = match &e {
            AccountError::Domain(_) => {
                return match e {
                    AccountError::Domain(d) => d.into(),
                    other => ApiFailure::internal(other.to_string()),
                };
            }
            AccountError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AccountError::WeakPassword(_) => (StatusCode::BAD_REQUEST, "weak_password"),
            AccountError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AccountError::TooManyAttempts { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
            }
            AccountError::Suspended => (StatusCode::FORBIDDEN, "account_suspended"),
            AccountError::SignupClosed => (StatusCode::FORBIDDEN, "signup_closed"),
            AccountError::InvalidInvite => (StatusCode::FORBIDDEN, "invalid_invite"),
            AccountError::InvalidToken => (StatusCode::BAD_REQUEST, "invalid_token"),
            AccountError::WrongPassword => (StatusCode::BAD_REQUEST, "wrong_password"),
            AccountError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
        };
        let retry_after = match &e {
            AccountError::TooManyAttempts { retry_after } => Some(retry_after_secs(retry_after)),
            _ => None,
        };
        ApiFailure {
            retry_after,
            ..ApiFailure::new(status, code, e.to_string())
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.internal {
            // The one place the management API logs internal errors.
            tracing::error!(error = %detail, "internal error");
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized" {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

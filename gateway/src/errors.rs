//! Errors the gateway answers itself, in OpenAI's error shape:
//! `{"error": {"message", "type", "param", "code"}}`.

use bytes::Bytes;
use serde_json::json;

/// A refusal or failure to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// OpenAI error type (`invalid_request_error`, `authentication_error`, …).
    pub kind: &'static str,
    /// Stable machine code (`invalid_api_key`, `model_not_found`, …).
    pub code: &'static str,
    /// What happened and what to do, for a person.
    pub message: String,
    /// The request field at fault, if any.
    pub param: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, kind: &'static str, code: &'static str, message: String) -> Self {
        ApiError {
            status,
            kind,
            code,
            message,
            param: None,
        }
    }

    /// 400 for a request the gateway cannot use.
    pub fn invalid_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", code, message.into())
    }

    /// Sets the offending parameter.
    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// 401.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(401, "authentication_error", code, message.into())
    }

    /// 403.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, "permission_error", code, message.into())
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, "invalid_request_error", code, message.into())
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            413,
            "invalid_request_error",
            "request_too_large",
            message.into(),
        )
    }

    /// 429: a rate limit (`kind` = `requests` or `tokens`) or a quota
    /// (`insufficient_quota`) refused the request.
    pub fn too_many_requests(
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(429, kind, code, message.into())
    }

    /// 502/503/504 for upstream trouble.
    pub fn upstream(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, "api_error", "upstream_error", message.into())
    }

    /// The JSON body.
    pub fn body(&self) -> Bytes {
        Bytes::from(
            json!({
                "error": {
                    "message": self.message,
                    "type": self.kind,
                    "param": self.param,
                    "code": self.code,
                }
            })
            .to_string(),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape() {
        let e = ApiError::invalid_request("invalid_json", "bad").with_param("model");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "invalid_json");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["message"], "bad");
    }
}

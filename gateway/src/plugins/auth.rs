//! `auth`: API key authentication for model calls and the model list.
//!
//! `Authorization: Bearer ahub_…` (or `x-api-key`, as Anthropic clients send).
//! The key's shape and checksum are checked first, so typos never reach the
//! table; then its SHA-256 is looked up in the in-memory key table; then
//! expiry and the developer's standing.

use crate::context::{now_ms, RequestCtx, Route};
use crate::errors::ApiError;
use crate::pipeline::{settings, Plugin};
use aihub_contract::keys;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The plugin.
pub struct Auth;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {}

impl Auth {
    /// Builds it from settings (none).
    pub fn build(table: toml::Table) -> Result<Box<dyn Plugin>, String> {
        let _: Settings = settings(table)?;
        Ok(Box::new(Auth))
    }
}

/// The presented secret, from `Authorization: Bearer` or `x-api-key`.
fn presented_key(req: &RequestHeader) -> Option<&str> {
    if let Some(v) = req.headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?.trim();
        let (scheme, rest) = v.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim());
    }
    req.headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

#[async_trait]
impl Plugin for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    async fn on_request(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        if !matches!(ctx.route, Route::Model(_) | Route::ListModels) {
            return Ok(());
        }
        let Some(secret) = presented_key(req).filter(|s| !s.is_empty()) else {
            return Err(ApiError::unauthorized(
                "missing_api_key",
                "You didn't provide an API key. Send it as 'Authorization: Bearer ahub_…'; create keys in the AI Hub portal.",
            ));
        };
        let invalid = || {
            ApiError::unauthorized(
                "invalid_api_key",
                format!(
                    "Incorrect API key provided: {}. You can find your API keys in the AI Hub portal.",
                    keys::display_prefix(secret)
                ),
            )
        };
        if !keys::is_well_formed(secret) {
            return Err(invalid());
        }
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let Some(key) = ctx.tables.keys.get(&hash).cloned() else {
            return Err(invalid());
        };
        if key.expires_at_ms.is_some_and(|t| t <= now_ms()) {
            return Err(ApiError::unauthorized(
                "api_key_expired",
                "This API key has expired. Create a new key in the AI Hub portal.",
            ));
        }
        if ctx.tables.suspended.contains(&key.developer_id) {
            return Err(ApiError::forbidden(
                "account_suspended",
                "This account is suspended. Contact the operator of this AI Hub.",
            ));
        }
        ctx.key = Some(key);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_and_x_api_key() {
        let mut r = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        r.insert_header("authorization", "Bearer  ahub_x ").unwrap();
        assert_eq!(presented_key(&r), Some("ahub_x"));
        let mut r = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        r.insert_header("x-api-key", "ahub_y").unwrap();
        assert_eq!(presented_key(&r), Some("ahub_y"));
        let mut r = RequestHeader::build("POST", b"/", None).unwrap();
        r.insert_header("authorization", "Basic abc").unwrap();
        assert_eq!(presented_key(&r), None);
    }
}

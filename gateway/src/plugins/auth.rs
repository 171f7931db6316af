//! `auth`: API key authentication for model calls and the model list.
//!
//! `Authorization: Bearer ahub_…` (or `x-api-key`, as Anthropic clients send).
//! The key's shape and checksum are checked first, so typos never reach the
//! table; then its SHA-256 is looked up in the in-memory key table; then
//! expiry and the developer's standing.
//!
//! **Batch traffic.** The control plane's batch workers hold no key secrets;
//! they send each batch item to a model route with `x-aihub-batch` (see
//! [`aihub_contract::signing`]) and no key. When a model call carries that
//! header and neither `Authorization` nor `x-api-key`, the mark is verified
//! with the control plane's shared secret (bound to the request's method and
//! path, five minutes), the key is looked up by id (`:grace` entries are not
//! in that table), and the same expiry and standing checks follow; the
//! request then carries `ctx.batch` (batch id, discount) and is limited,
//! metered and billed as that key. A request that also presents a key is
//! authenticated by the key alone and the mark is ignored. The header's value
//! is never logged nor forwarded upstream.

use crate::context::{now_ms, RequestCtx, Route};
use crate::errors::ApiError;
use crate::pipeline::{settings, Plugin};
use crate::tables::KeyInfo;
use crate::Shared;
use aihub_contract::keys;
use aihub_contract::signing::{self, BatchMark};
use async_trait::async_trait;
use pingora::http::RequestHeader;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The plugin.
pub struct Auth {
    /// The control plane's shared secret, for batch marks.
    batch_secret: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {}

impl Auth {
    /// Builds it from settings (none).
    pub fn build(table: toml::Table, shared: &Arc<Shared>) -> Result<Box<dyn Plugin>, String> {
        let _: Settings = settings(table)?;
        Ok(Box::new(Auth {
            batch_secret: shared.control_plane_secret.clone(),
        }))
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

/// The batch mark to authenticate by: only on model calls, and only when the
/// request presents no key of its own (`Authorization` or `x-api-key`).
fn batch_header(req: &RequestHeader, route: Route) -> Option<&http::HeaderValue> {
    if !matches!(route, Route::Model(_))
        || req.headers.contains_key(http::header::AUTHORIZATION)
        || req.headers.contains_key("x-api-key")
    {
        return None;
    }
    req.headers.get(signing::BATCH_HEADER)
}

fn invalid_batch_signature() -> ApiError {
    ApiError::unauthorized(
        "invalid_batch_signature",
        "The x-aihub-batch header is malformed, expired or not signed for this request.",
    )
}

impl Auth {
    /// The key a batch mark names, after verifying the mark, and the mark.
    fn batch_key(
        &self,
        value: &http::HeaderValue,
        req: &RequestHeader,
        ctx: &RequestCtx,
    ) -> Result<(Arc<KeyInfo>, BatchMark), ApiError> {
        let value = value.to_str().map_err(|_| invalid_batch_signature())?;
        let mark = signing::verify_batch(
            &self.batch_secret,
            value,
            now_ms().div_euclid(1000),
            req.method.as_str(),
            req.uri.path(),
        )
        .map_err(|_| invalid_batch_signature())?;
        let Some(key) = ctx.tables.keys_by_id.get(&mark.key_id).cloned() else {
            return Err(ApiError::unauthorized(
                "invalid_api_key",
                format!(
                    "The API key {} of this batch no longer exists.",
                    mark.key_id
                ),
            ));
        };
        Ok((key, mark))
    }
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
        let (key, batch) = if let Some(mark) = batch_header(req, ctx.route) {
            let (key, mark) = self.batch_key(mark, req, ctx)?;
            (key, Some(mark))
        } else {
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
            (key, None)
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
        if let Some(mark) = &batch {
            // The same id on every attempt at this item: an item sent again
            // after its worker died is metered as the same request, once.
            ctx.request_id = format!("{}-{}", mark.batch_id, mark.item);
        }
        ctx.batch = batch;
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

    const SECRET: &[u8] = b"test-batch-secret-0123456789-abcdefghij";

    fn key(id: &str, developer: &str, expires_at_ms: Option<i64>) -> Arc<KeyInfo> {
        Arc::new(KeyInfo {
            id: id.into(),
            base_id: keys::base_key_id(id).into(),
            developer_id: developer.into(),
            expires_at_ms,
            allowed_models: None,
            allowed_endpoints: None,
            limits: Default::default(),
            ip_allowlist: None,
        })
    }

    fn tables() -> Arc<crate::tables::Tables> {
        let mut t = crate::tables::Tables::default();
        for k in [
            key("key_ok", "dev_1", None),
            key("key_old", "dev_1", Some(1)),
            key("key_sus", "dev_2", None),
        ] {
            t.keys_by_id.insert(k.id.clone(), k);
        }
        t.suspended.insert("dev_2".into());
        Arc::new(t)
    }

    fn request(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", path.as_bytes(), None).unwrap();
        for (n, v) in headers {
            r.insert_header(n.to_string(), *v).unwrap();
        }
        r
    }

    fn mark(key_id: &str, path: &str) -> String {
        signing::sign_batch(
            SECRET,
            now_ms() / 1000,
            key_id,
            "batch_1",
            3,
            50,
            "POST",
            path,
        )
    }

    /// Runs the plugin on a chat completion; returns the error code or the
    /// authenticated key id and batch.
    fn run(headers: &[(&str, &str)]) -> Result<(String, Option<BatchMark>), &'static str> {
        let auth = Auth {
            batch_secret: SECRET.to_vec(),
        };
        let mut ctx = RequestCtx::new(tables());
        ctx.route = Route::Model(crate::context::Endpoint::ChatCompletions);
        let req = request("/v1/chat/completions", headers);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        match rt.block_on(auth.on_request(&req, &mut ctx)) {
            Ok(()) => Ok((ctx.key.unwrap().id.clone(), ctx.batch)),
            Err(e) => {
                assert!(ctx.key.is_none() && ctx.batch.is_none());
                Err(e.code)
            }
        }
    }

    #[test]
    fn batch_marks_authenticate_as_the_named_key() {
        let path = "/v1/chat/completions";
        let (id, batch) = run(&[(signing::BATCH_HEADER, &mark("key_ok", path))]).unwrap();
        assert_eq!(id, "key_ok");
        assert_eq!(
            batch,
            Some(BatchMark {
                key_id: "key_ok".into(),
                batch_id: "batch_1".into(),
                item: 3,
                discount_pct: 50
            })
        );
        // Another route's mark, a forged one, garbage.
        let other = mark("key_ok", "/v1/embeddings");
        assert_eq!(
            run(&[(signing::BATCH_HEADER, &other)]),
            Err("invalid_batch_signature")
        );
        let forged = signing::sign_batch(
            b"not-the-secret",
            now_ms() / 1000,
            "key_ok",
            "b",
            1,
            0,
            "POST",
            path,
        );
        assert_eq!(
            run(&[(signing::BATCH_HEADER, &forged)]),
            Err("invalid_batch_signature")
        );
        assert_eq!(
            run(&[(signing::BATCH_HEADER, "t=1")]),
            Err("invalid_batch_signature")
        );
        // Unknown key, expired key, suspended developer: as for a bearer key.
        assert_eq!(
            run(&[(signing::BATCH_HEADER, &mark("key_gone", path))]),
            Err("invalid_api_key")
        );
        assert_eq!(
            run(&[(signing::BATCH_HEADER, &mark("key_old", path))]),
            Err("api_key_expired")
        );
        assert_eq!(
            run(&[(signing::BATCH_HEADER, &mark("key_sus", path))]),
            Err("account_suspended")
        );
    }

    #[test]
    fn a_presented_key_wins_over_a_batch_mark() {
        let good = mark("key_ok", "/v1/chat/completions");
        // The key is checked (and here refused) as if the mark were absent.
        assert_eq!(
            run(&[
                (signing::BATCH_HEADER, &good),
                ("authorization", "Bearer ahub_nope")
            ]),
            Err("invalid_api_key")
        );
        assert_eq!(
            run(&[(signing::BATCH_HEADER, &good), ("x-api-key", "ahub_nope")]),
            Err("invalid_api_key")
        );
        // Only model calls take marks.
        let req = request("/v1/models", &[(signing::BATCH_HEADER, &good)]);
        assert!(batch_header(&req, Route::ListModels).is_none());
        assert!(batch_header(&req, Route::ControlPlane).is_none());
    }
}

//! The Pingora `ProxyHttp` service. It stays short: each phase does the
//! little that is common to every request and walks the plugin pipeline.
//!
//! ```text
//!  client ──► request_filter ──────────────► upstream_peer ──► upstream_request_filter
//!             route, read+parse body          on_attempt         on_upstream_request
//!             on_request (auth, routing…)     (next deployment)  (path, key, body rewrite)
//!             └─ answers errors, /v1/models        ▲                     │
//!                                                  │ fallback             ▼
//!                                     error_while_proxy /        request_body_filter
//!                                     fail_to_connect            (sends the rewritten body)
//!                                                  ▲                     │
//!  client ◄── response_body_filter ◄── response_filter ◄── upstream_response_filter
//!             on_response_body         on_response          on_upstream_response
//!             (translate, meter)       (x-request-id)       (status; 5xx → fallback)
//!             body end: on_done, then
//!             the row's fsync, then
//!             the held last bytes
//!                          │
//!                          ▼
//!                       logging ── on_done unless it ran (usage row → spool, metrics)
//! ```
//!
//! Unless `spool.durability` is `off`, a model call's usage row is in the
//! spool before the client can have its whole response: see
//! [`crate::holdback`].
//! Answers the gateway makes itself wait for the row before they are written.

use crate::context::{Endpoint, Failure, ModelRequest, RequestCtx, Route};
use crate::direct::{self, DirectError};
use crate::errors::ApiError;
use crate::holdback::{self, Holdback};
use crate::pipeline::{Outcome, Pipeline};
use crate::Shared;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pingora's retry buffer holds this much of a request body; a body must fit
/// in it to be rewritten and re-sent by the proxy. Larger model calls take
/// the [`direct`] path.
pub const PINGORA_BODY_BUFFER: usize = 64 * 1024;

/// Connection timeout for upstream dials.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway service.
pub struct Gateway {
    shared: Arc<Shared>,
    pipeline: Pipeline,
    control_plane: SocketAddr,
    control_plane_host: String,
    max_body: usize,
    direct: reqwest::Client,
}

impl Gateway {
    /// Builds the service.
    pub fn new(
        shared: Arc<Shared>,
        pipeline: Pipeline,
        control_plane: SocketAddr,
        control_plane_host: String,
        max_body: usize,
    ) -> reqwest::Result<Self> {
        Ok(Gateway {
            shared,
            pipeline,
            control_plane,
            control_plane_host,
            max_body,
            direct: direct::client()?,
        })
    }

    /// Writes an answer made by the gateway itself and notes its status.
    async fn answer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        status: u16,
        body: Bytes,
    ) -> pingora::Result<bool> {
        let mut header = ResponseHeader::build(status, Some(4))?;
        header.insert_header("content-type", "application/json")?;
        header.insert_header("content-length", body.len().to_string())?;
        // Plugins add their headers (request id, rate limits) here too.
        self.pipeline.on_response(&mut header, ctx)?;
        ctx.answered_status = Some(status);
        if ctx.needs_durable_row(self.shared.spool.durability()) {
            self.pipeline
                .finish_durably(&self.shared.spool, ctx, status);
        }
        session.set_keepalive(Some(60));
        session
            .write_response_header(Box::new(header), false)
            .await?;
        session.write_response_body(Some(body), true).await?;
        Ok(true)
    }

    async fn answer_error(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        error: ApiError,
    ) -> pingora::Result<bool> {
        if ctx.failure.is_none() {
            ctx.failure = Some(Failure::Rejected);
        }
        ctx.error_code = Some(error.code);
        let body = error.body();
        self.answer(session, ctx, error.status, body).await
    }

    /// Reads the whole body of a model call, within the size limit.
    async fn read_body(&self, session: &mut Session) -> Result<Bytes, ApiError> {
        let too_large = || {
            ApiError::too_large(format!(
                "The request body is larger than the gateway's limit of {} bytes.",
                self.max_body
            ))
        };
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        // Keep a copy so a fallback attempt can send the body again.
        session.as_mut().enable_retry_buffering();
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(1024));
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > self.max_body {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(ApiError::invalid_request(
                        "body_read_error",
                        format!("The request body could not be read: {e}"),
                    ))
                }
            }
        }
        Ok(buf.freeze())
    }

    /// Counts a failed upstream attempt.
    fn note_upstream_failure(&self, ctx: &RequestCtx, reason: &str) {
        if let Some(a) = ctx.attempt.as_ref() {
            self.shared
                .metrics
                .upstream_errors
                .with_label_values(&[
                    a.deployment.upstream.provider_id.as_str(),
                    a.deployment.id.as_str(),
                    reason,
                ])
                .inc();
        }
    }

    fn list_models(&self, ctx: &RequestCtx, only: Option<&str>) -> Result<Bytes, ApiError> {
        let key = ctx.key.as_ref();
        let tables = &ctx.tables;
        let visible = |name: &&String| {
            key.is_none_or(|k| {
                k.allows_model(name)
                    && tables
                        .models
                        .get(name.as_str())
                        .is_some_and(|m| tables.offers(&k.developer_id, m))
            })
        };
        let entry = |name: &String| serde_json::json!({"id": name, "object": "model", "created": 0, "owned_by": "aihub"});
        let body = match only {
            Some(id) => {
                let name = ctx
                    .tables
                    .model_names
                    .iter()
                    .filter(visible)
                    .find(|n| n.as_str() == id)
                    .ok_or_else(|| {
                        ApiError::not_found(
                            "model_not_found",
                            format!(
                                "The model '{id}' does not exist or you do not have access to it."
                            ),
                        )
                    })?;
                entry(name)
            }
            None => serde_json::json!({
                "object": "list",
                "data": ctx.tables.model_names.iter().filter(visible).map(entry).collect::<Vec<_>>(),
            }),
        };
        Ok(Bytes::from(body.to_string()))
    }
}

/// Decides what a request is from its method and path.
pub fn classify(method: &http::Method, path: &str) -> Route {
    let post = method == http::Method::POST;
    match path {
        "/v1/chat/completions" if post => Route::Model(Endpoint::ChatCompletions),
        "/v1/completions" if post => Route::Model(Endpoint::Completions),
        "/v1/embeddings" if post => Route::Model(Endpoint::Embeddings),
        "/v1/models" if method == http::Method::GET => Route::ListModels,
        "/healthz" | "/readyz" => Route::Health,
        _ if path.starts_with("/v1/models/") && method == http::Method::GET => Route::ListModels,
        _ if path.starts_with("/v1/files") || path.starts_with("/v1/batches") => {
            Route::ControlPlane
        }
        _ if path.starts_with("/v1/") || path == "/v1" => Route::NotFound,
        // The internal API is for gateways only, and the control plane's
        // metrics are for the operator's Prometheus: neither is reachable
        // from outside (the gateway's own are on its ops listener).
        _ if path.starts_with("/internal") => Route::NotFound,
        "/metrics" => Route::NotFound,
        _ => Route::ControlPlane,
    }
}

/// Parses the JSON body of a model call.
pub fn parse_model_request(endpoint: Endpoint, body: &[u8]) -> Result<ModelRequest, ApiError> {
    let map: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(
            "invalid_json",
            format!("We could not parse the JSON body of your request: {e}. The body must be a JSON object."),
        )
    })?;
    let model = match map.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => {
            return Err(ApiError::invalid_request(
                "invalid_type",
                "'model' must be a non-empty string.",
            )
            .with_param("model"))
        }
        None => {
            return Err(ApiError::invalid_request(
                "missing_required_parameter",
                "You must provide a model parameter.",
            )
            .with_param("model"))
        }
    };
    let stream = match map.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(
                ApiError::invalid_request("invalid_type", "'stream' must be a boolean.")
                    .with_param("stream"),
            )
        }
    };
    if stream && endpoint == Endpoint::Embeddings {
        return Err(
            ApiError::invalid_request("invalid_value", "Embeddings cannot be streamed.")
                .with_param("stream"),
        );
    }
    let client_wants_stream_usage = map
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_u64));
    let prompt_chars = match endpoint {
        Endpoint::ChatCompletions => map.get("messages").map(text_len).unwrap_or(0),
        Endpoint::Completions => map.get("prompt").map(text_len).unwrap_or(0),
        Endpoint::Embeddings => map.get("input").map(text_len).unwrap_or(0),
    };
    Ok(ModelRequest {
        body: map,
        model,
        stream,
        client_wants_stream_usage,
        prompt_chars,
        body_len: body.len(),
        max_tokens,
    })
}

/// Characters of text anywhere in a JSON value (strings only).
fn text_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(text_len).sum(),
        Value::Object(o) => o.values().map(text_len).sum(),
        _ => 0,
    }
}

fn client_ip(session: &Session) -> String {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.shared.live.load())
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        let req = session.req_header();
        ctx.route = classify(&req.method, req.uri.path());
        ctx.method = req.method.as_str().to_string();
        ctx.user_agent = req
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        ctx.ip = client_ip(session);

        if ctx.route == Route::Health {
            let (status, body) = if session.req_header().uri.path() == "/readyz" {
                crate::ops::readiness(&self.shared.live, &self.shared.spool)
            } else {
                (200, r#"{"status":"ok"}"#)
            };
            return self
                .answer(session, ctx, status, Bytes::from_static(body.as_bytes()))
                .await;
        }

        if let Route::Model(endpoint) = ctx.route {
            let parsed = match self.read_body(session).await {
                Ok(body) => parse_model_request(endpoint, &body),
                Err(e) => Err(e),
            };
            match parsed {
                Ok(r) => ctx.request = Some(r),
                Err(e) => return self.answer_error(session, ctx, e).await,
            }
        }

        if let Err(e) = self.pipeline.on_request(session.req_header(), ctx).await {
            return self.answer_error(session, ctx, e).await;
        }

        match ctx.route {
            Route::ListModels => {
                let path = session.req_header().uri.path();
                let only = path.strip_prefix("/v1/models/").filter(|s| !s.is_empty());
                match self.list_models(ctx, only) {
                    Ok(body) => self.answer(session, ctx, 200, body).await,
                    Err(e) => self.answer_error(session, ctx, e).await,
                }
            }
            Route::NotFound => {
                let header = session.req_header();
                let e = ApiError::not_found(
                    "unknown_url",
                    format!(
                        "Unknown request URL: {} {}. Please check the URL for typos.",
                        header.method,
                        header.uri.path()
                    ),
                );
                self.answer_error(session, ctx, e).await
            }
            Route::Model(_)
                if ctx
                    .request
                    .as_ref()
                    .is_some_and(|r| r.body_len > PINGORA_BODY_BUFFER) =>
            {
                match direct::forward(
                    &self.pipeline,
                    &self.direct,
                    &self.shared.spool,
                    session,
                    ctx,
                    |c, r| self.note_upstream_failure(c, r),
                )
                .await
                {
                    Ok(()) => Ok(true),
                    Err(DirectError::Answer(e)) => {
                        if e.status >= 500 {
                            ctx.failure = Some(Failure::Upstream);
                        }
                        self.answer_error(session, ctx, e).await
                    }
                    Err(DirectError::Broken(e)) => Err(e),
                }
            }
            Route::Model(_) | Route::ControlPlane | Route::Health => Ok(false),
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        if !matches!(ctx.route, Route::Model(_)) {
            let mut peer =
                HttpPeer::new(self.control_plane, false, self.control_plane_host.clone());
            peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
            return Ok(Box::new(peer));
        }
        if let Err(e) = self.pipeline.on_attempt(ctx) {
            return Err(Error::explain(ErrorType::HTTPStatus(e.status), e.message));
        }
        let attempt = ctx
            .attempt
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no upstream was selected"))?;
        let d = &attempt.deployment;
        let mut peer = HttpPeer::new(d.upstream.addr, d.upstream.tls, d.upstream.host.clone());
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT.min(d.timeout));
        peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT.min(d.timeout));
        peer.options.read_timeout = Some(d.timeout);
        peer.options.write_timeout = Some(d.timeout);
        peer.options.idle_timeout = Some(Duration::from_secs(90));
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if !matches!(ctx.route, Route::Model(_)) {
            upstream.insert_header("x-forwarded-for", ctx.ip.as_str())?;
            let proto = if session
                .digest()
                .and_then(|d| d.ssl_digest.as_ref())
                .is_some()
            {
                "https"
            } else {
                "http"
            };
            upstream.insert_header("x-forwarded-proto", proto)?;
        }
        self.pipeline.on_upstream_request(upstream, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        // Model calls: the client's body was read whole in request_filter; the
        // attempt's rewritten body replaces it (on every attempt).
        if let (Route::Model(_), Some(attempt)) = (ctx.route, ctx.attempt.as_ref()) {
            *body = if end_of_stream {
                Some(attempt.body.clone())
            } else {
                None
            };
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.upstream_status = Some(resp.status.as_u16());
        self.pipeline.on_upstream_response(resp, ctx)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        self.pipeline.on_response(resp, ctx)?;
        if ctx.needs_durable_row(self.shared.spool.durability()) {
            ctx.holdback = Some(Holdback::for_response(resp));
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Option<Duration>> {
        if end_of_stream {
            ctx.upstream_done_at = Some(Instant::now());
        }
        Ok(None)
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Option<Duration>> {
        self.pipeline.on_response_body(body, end_of_stream, ctx)?;
        if ctx.first_byte_at.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
            ctx.first_byte_at = Some(Instant::now());
        }
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.upstream_status)
            .unwrap_or(0);
        holdback::filter(
            &self.pipeline,
            &self.shared.spool,
            ctx,
            body,
            end_of_stream,
            status,
        );
        Ok(None)
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if !matches!(ctx.route, Route::Model(_)) {
            return e;
        }
        self.note_upstream_failure(ctx, "connect");
        let can_fall_back = !ctx.candidates.is_empty() && session.response_written().is_none();
        e.set_retry(can_fall_back);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if matches!(ctx.route, Route::Model(_)) {
            if e.esource() != &ErrorSource::Downstream {
                let reason = match e.etype() {
                    ErrorType::HTTPStatus(_) => "status_5xx",
                    ErrorType::ReadTimedout | ErrorType::WriteTimedout => "timeout",
                    _ => "io",
                };
                self.note_upstream_failure(ctx, reason);
            }
            // Fall back only while nothing has reached the client, so a
            // response is never half from one deployment, half from another.
            let can_fall_back = !ctx.candidates.is_empty()
                && session.response_written().is_none()
                && e.esource() != &ErrorSource::Downstream;
            e.set_retry(can_fall_back);
        } else if session.req_header().method.is_idempotent() {
            e.retry.decide_reuse(client_reused);
        } else {
            e.set_retry(false);
        }
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let downstream_gone = e.esource() == &ErrorSource::Downstream
            && matches!(
                e.etype(),
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed
            );
        if downstream_gone {
            ctx.failure = Some(Failure::ClientDisconnected);
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let api_error = match e.etype() {
            ErrorType::HTTPStatus(code) if *code >= 400 => {
                ApiError::upstream(*code, "The model request could not be completed.")
            }
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                ApiError::upstream(
                    504,
                    "The model provider did not answer in time. Please retry.",
                )
            }
            _ if e.esource() == &ErrorSource::Upstream => ApiError::upstream(
                502,
                "The model provider could not be reached. Please retry.",
            ),
            _ => ApiError::upstream(500, "The gateway failed to handle the request."),
        };
        ctx.failure = Some(if e.esource() == &ErrorSource::Upstream {
            Failure::Upstream
        } else {
            ctx.failure.unwrap_or(Failure::Upstream)
        });
        let code = api_error.status;
        if session.response_written().is_none() {
            if let Err(write_error) = self.answer_error(session, ctx, api_error).await {
                tracing::debug!(request_id = %ctx.request_id, "could not send error: {write_error}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = ctx
            .answered_status
            .or_else(|| session.response_written().map(|r| r.status.as_u16()))
            .unwrap_or(0);
        if let Some(e) = e {
            if e.esource() == &ErrorSource::Downstream && ctx.failure.is_none() {
                ctx.failure = Some(Failure::ClientDisconnected);
            } else if ctx.failure.is_none() {
                ctx.failure = Some(Failure::Upstream);
            }
            tracing::debug!(request_id = %ctx.request_id, error = %e, "request ended with an error");
        }
        let outcome = Outcome { status };
        self.pipeline.on_done(&outcome, ctx);
    }

    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        format!(
            "{} {} request_id={}",
            session.req_header().method,
            session.req_header().uri.path(),
            ctx.request_id
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        use http::Method;
        assert_eq!(
            classify(&Method::POST, "/v1/chat/completions"),
            Route::Model(Endpoint::ChatCompletions)
        );
        assert_eq!(
            classify(&Method::GET, "/v1/chat/completions"),
            Route::NotFound
        );
        assert_eq!(classify(&Method::GET, "/v1/models"), Route::ListModels);
        assert_eq!(
            classify(&Method::GET, "/v1/models/gpt-4o"),
            Route::ListModels
        );
        assert_eq!(classify(&Method::POST, "/v1/files"), Route::ControlPlane);
        assert_eq!(
            classify(&Method::GET, "/api/v1/developer/keys"),
            Route::ControlPlane
        );
        assert_eq!(
            classify(&Method::GET, "/internal/v1/snapshot"),
            Route::NotFound
        );
        assert_eq!(classify(&Method::GET, "/metrics"), Route::NotFound);
        assert_eq!(classify(&Method::GET, "/"), Route::ControlPlane);
        assert_eq!(classify(&Method::GET, "/v1/nope"), Route::NotFound);
    }

    #[test]
    fn parses_and_rejects_bodies() {
        let r = parse_model_request(
            Endpoint::ChatCompletions,
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}"#,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert!(r.stream && r.client_wants_stream_usage);
        assert_eq!(r.prompt_chars, "user".len() + "hello".len());

        let e = parse_model_request(Endpoint::ChatCompletions, b"{nope").unwrap_err();
        assert_eq!((e.status, e.code), (400, "invalid_json"));
        let e = parse_model_request(Endpoint::ChatCompletions, b"{}").unwrap_err();
        assert_eq!(e.param, Some("model"));
        let e = parse_model_request(
            Endpoint::ChatCompletions,
            br#"{"model":"m","stream":"yes"}"#,
        )
        .unwrap_err();
        assert_eq!(e.param, Some("stream"));
        let e = parse_model_request(Endpoint::Embeddings, br#"{"model":"m","stream":true}"#)
            .unwrap_err();
        assert_eq!(e.code, "invalid_value");
        assert!(parse_model_request(Endpoint::ChatCompletions, b"[1,2]").is_err());
    }
}

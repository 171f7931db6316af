//! The large-body path.
//!
//! Pingora 0.9 can only send a request body it has already read (the gateway
//! must read the body to learn the model) from its retry buffer, which holds
//! 64 KiB. Model calls with a larger body — long prompts, big embedding
//! batches — are therefore forwarded by the gateway's own pooled HTTP client
//! from `request_filter`. The same plugins run in the same order on the same
//! context, so authentication, routing and fallback, translation, metering
//! and usage rows are exactly those of the proxy path.

use crate::context::RequestCtx;
use crate::errors::ApiError;
use crate::holdback::{self, Holdback};
use crate::pipeline::Pipeline;
use crate::spool::SpoolHandle;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use std::time::{Duration, Instant};

/// How a direct forward ended before the client got a response header.
pub enum DirectError {
    /// Answer the client with this error.
    Answer(ApiError),
    /// The response had started; the connection is dropped.
    Broken(Box<pingora::Error>),
}

/// Hop-by-hop headers never copied between connections.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-connection"
            | "host"
            | "content-length"
    )
}

/// The HTTP client for the large-body path.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// Forwards a model call whose body is already in `ctx`, trying deployments
/// in order, and writes the response to the client.
pub async fn forward(
    pipeline: &Pipeline,
    client: &reqwest::Client,
    spool: &SpoolHandle,
    session: &mut Session,
    ctx: &mut RequestCtx,
    on_failure: impl Fn(&RequestCtx, &str),
) -> Result<(), DirectError> {
    loop {
        pipeline.on_attempt(ctx).map_err(DirectError::Answer)?;
        let mut header = session.req_header().clone();
        pipeline
            .on_upstream_request(&mut header, ctx)
            .map_err(|e| DirectError::Answer(ApiError::upstream(502, e.to_string())))?;
        let Some(attempt) = ctx.attempt.as_ref() else {
            return Err(DirectError::Answer(ApiError::upstream(
                502,
                "No upstream was selected.",
            )));
        };
        let deployment = attempt.deployment.clone();
        let up = &deployment.upstream;
        let path = header
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let url = format!(
            "{}://{}{path}",
            if up.tls { "https" } else { "http" },
            up.host_header
        );
        let mut request = client
            .post(url)
            .body(attempt.body.clone())
            .timeout(deployment.timeout);
        for (name, value) in header.headers.iter() {
            if !is_hop_by_hop(name.as_str()) {
                request = request.header(name, value);
            }
        }
        let response = match tokio::time::timeout(deployment.timeout, request.send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(request_id = %ctx.request_id, "upstream attempt failed: {e}");
                on_failure(ctx, if e.is_timeout() { "timeout" } else { "connect" });
                if ctx.candidates.is_empty() {
                    let status = if e.is_timeout() { 504 } else { 502 };
                    return Err(DirectError::Answer(ApiError::upstream(
                        status,
                        "The model provider could not be reached. Please retry.",
                    )));
                }
                continue;
            }
            Err(_) => {
                on_failure(ctx, "timeout");
                if ctx.candidates.is_empty() {
                    return Err(DirectError::Answer(ApiError::upstream(
                        504,
                        "The model provider did not answer in time. Please retry.",
                    )));
                }
                continue;
            }
        };
        let status = response.status().as_u16();
        let mut resp_header = ResponseHeader::build(status, Some(response.headers().len()))
            .map_err(DirectError::Broken)?;
        for (name, value) in response.headers() {
            if !is_hop_by_hop(name.as_str()) {
                let _ = resp_header.append_header(name.clone(), value.clone());
            }
        }
        ctx.upstream_status = Some(status);
        if let Err(e) = pipeline.on_upstream_response(&mut resp_header, ctx) {
            if e.retry() && !ctx.candidates.is_empty() {
                on_failure(ctx, "status_5xx");
                continue;
            }
            return Err(DirectError::Answer(ApiError::upstream(502, e.to_string())));
        }
        pipeline
            .on_response(&mut resp_header, ctx)
            .map_err(DirectError::Broken)?;
        if ctx.needs_durable_row(spool.durability()) {
            ctx.holdback = Some(Holdback::for_response(&resp_header));
        }
        session
            .write_response_header(Box::new(resp_header), false)
            .await
            .map_err(DirectError::Broken)?;
        return stream_body(pipeline, spool, session, ctx, response, deployment.timeout).await;
    }
}

async fn stream_body(
    pipeline: &Pipeline,
    spool: &SpoolHandle,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut response: reqwest::Response,
    idle: Duration,
) -> Result<(), DirectError> {
    loop {
        let next = tokio::time::timeout(idle, response.chunk()).await;
        let chunk: Option<Bytes> = match next {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(DirectError::Broken(pingora::Error::explain(
                    pingora::ErrorType::ReadError,
                    format!("upstream body: {e}"),
                )))
            }
            Err(_) => {
                return Err(DirectError::Broken(pingora::Error::explain(
                    pingora::ErrorType::ReadTimedout,
                    "upstream body stalled",
                )))
            }
        };
        let end = chunk.is_none();
        if end {
            ctx.upstream_done_at = Some(Instant::now());
        }
        let mut body = chunk;
        pipeline
            .on_response_body(&mut body, end, ctx)
            .map_err(DirectError::Broken)?;
        if ctx.first_byte_at.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
            ctx.first_byte_at = Some(Instant::now());
        }
        // As on the proxy path (crate::holdback): the row is on disk before
        // the bytes that complete the response go out.
        let status = ctx.upstream_status.unwrap_or(0);
        holdback::filter(pipeline, spool, ctx, &mut body, end, status);
        if end || body.as_ref().is_some_and(|b| !b.is_empty()) {
            session
                .write_response_body(body, end)
                .await
                .map_err(DirectError::Broken)?;
        }
        if end {
            return Ok(());
        }
    }
}

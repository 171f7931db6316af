//! The operations listener: `/metrics` (Prometheus text format), `/healthz`
//! (the process is up) and `/readyz` (a configuration is loaded).

use crate::metrics::Metrics;
use crate::tables::Live;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The ops app.
pub struct Ops {
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// Tables, for readiness.
    pub live: Arc<Live>,
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = r.body().len();
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    r
}

#[async_trait]
impl ServeHttp for Ops {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => respond(200, "text/plain; version=0.0.4", self.metrics.render()),
            "/healthz" => respond(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/readyz" if self.live.is_loaded() => {
                respond(200, "application/json", br#"{"status":"ok"}"#.to_vec())
            }
            "/readyz" => respond(
                503,
                "application/json",
                br#"{"status":"not_ready","reason":"no configuration loaded yet"}"#.to_vec(),
            ),
            _ => respond(
                404,
                "application/json",
                br#"{"error":"not found"}"#.to_vec(),
            ),
        }
    }
}

//! The operations listener: `/metrics` (Prometheus text format), `/healthz`
//! (the process is up) and `/readyz` (see [`readiness`]).

use crate::metrics::Metrics;
use crate::spool::SpoolHandle;
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
    /// The spool, for readiness.
    pub spool: SpoolHandle,
}

/// `/readyz` on both listeners: 200 once a configuration is loaded and the
/// usage spool's writer runs (it starts after recovering what an earlier
/// run left; until then no usage row could be written); else 503 and why.
pub fn readiness(live: &Live, spool: &SpoolHandle) -> (u16, &'static str) {
    if !live.is_loaded() {
        (
            503,
            r#"{"status":"not_ready","reason":"no configuration loaded yet"}"#,
        )
    } else if !spool.running() {
        (
            503,
            r#"{"status":"not_ready","reason":"the usage spool is not running yet"}"#,
        )
    } else {
        (200, r#"{"status":"ok"}"#)
    }
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
            "/readyz" => {
                let (status, body) = readiness(&self.live, &self.spool);
                respond(status, "application/json", body.as_bytes().to_vec())
            }
            _ => respond(
                404,
                "application/json",
                br#"{"error":"not found"}"#.to_vec(),
            ),
        }
    }
}

//! `request_id`: every response carries `x-request-id`, and the upstream gets
//! it too so provider logs can be matched with ours. The id itself is made
//! when the request arrives (it keys the usage row).

use crate::context::RequestCtx;
use crate::pipeline::{settings, Plugin};
use pingora::http::{RequestHeader, ResponseHeader};
use serde::Deserialize;

/// The plugin.
pub struct RequestId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {}

impl RequestId {
    /// Builds it from settings (none).
    pub fn build(table: toml::Table) -> Result<Box<dyn Plugin>, String> {
        let _: Settings = settings(table)?;
        Ok(Box::new(RequestId))
    }
}

impl Plugin for RequestId {
    fn name(&self) -> &'static str {
        "request_id"
    }

    fn on_upstream_request(
        &self,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        upstream.insert_header("x-request-id", ctx.request_id.as_str())
    }

    fn on_response(&self, resp: &mut ResponseHeader, ctx: &mut RequestCtx) -> pingora::Result<()> {
        resp.insert_header("x-request-id", ctx.request_id.as_str())
    }
}

//! `usage_sink`: one usage row per model call whose key was recognised,
//! handed to the spool without blocking. Requests refused before a key was
//! known (no developer to bill) only show in metrics.
//!
//! Must come after `metering` in the pipeline (it reads the metered tokens).

use crate::context::{RequestCtx, Route};
use crate::pipeline::{settings, Outcome, Plugin};
use crate::spool::SpoolHandle;
use crate::Shared;
use aihub_contract::usage::UsageRow;
use serde::Deserialize;
use std::sync::Arc;

/// The plugin.
pub struct UsageSink {
    spool: SpoolHandle,
    gateway_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {}

impl UsageSink {
    /// Builds it from settings (none).
    pub fn build(table: toml::Table, shared: &Arc<Shared>) -> Result<Box<dyn Plugin>, String> {
        let _: Settings = settings(table)?;
        Ok(Box::new(UsageSink {
            spool: shared.spool.clone(),
            gateway_id: shared.instance_id.clone(),
        }))
    }
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Builds the row for a finished request.
pub fn usage_row(outcome: &Outcome, ctx: &RequestCtx, gateway_id: &str) -> Option<UsageRow> {
    let Route::Model(endpoint) = ctx.route else {
        return None;
    };
    let key = ctx.key.as_ref()?;
    let usage = ctx.usage.unwrap_or_default();
    let deployment = ctx.attempt.as_ref().map(|a| &a.deployment);
    let error = match ctx.failure {
        Some(f) => f.code().to_string(),
        None if ctx.usage_estimated => "usage_estimated".to_string(),
        None => String::new(),
    };
    Some(UsageRow {
        request_id: ctx.request_id.clone(),
        ts_ms: ctx.started_ms,
        developer_id: key.developer_id.clone(),
        key_id: key.id.clone(),
        endpoint: endpoint.name().to_string(),
        method: ctx.method.clone(),
        model: ctx
            .request
            .as_ref()
            .map(|r| r.model.clone())
            .unwrap_or_default(),
        deployment_id: deployment.map(|d| d.id.clone()).unwrap_or_default(),
        provider_id: deployment
            .map(|d| d.upstream.provider_id.clone())
            .unwrap_or_default(),
        prompt_tokens: usage.prompt,
        completion_tokens: usage.completion,
        cached_tokens: usage.cached,
        reasoning_tokens: usage.reasoning,
        cost_nanos: ctx.cost_nanos,
        latency_ms: millis(ctx.started.elapsed()),
        ttft_ms: ctx
            .first_byte_at
            .filter(|_| ctx.is_stream())
            .map(|t| millis(t.duration_since(ctx.started))),
        status: outcome.status,
        stream: ctx.is_stream(),
        attempts: ctx.attempts,
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        error,
        gateway_id: gateway_id.to_string(),
        batch_id: ctx
            .batch
            .as_ref()
            .map(|b| b.batch_id.clone())
            .unwrap_or_default(),
    })
}

impl Plugin for UsageSink {
    fn name(&self) -> &'static str {
        "usage_sink"
    }

    fn on_done(&self, outcome: &Outcome, ctx: &mut RequestCtx) {
        if let Some(row) = usage_row(outcome, ctx, &self.gateway_id) {
            ctx.row_seq = self.spool.append(row);
        }
    }
}

//! `metrics`: request counts, latency, the gateway's own overhead, time to
//! first token, tokens and cost, into the Prometheus registry served on the
//! ops listener. Comes after `metering` in the pipeline.

use crate::context::{Failure, RequestCtx, Route};
use crate::metrics::Metrics as Registry;
use crate::pipeline::{settings, Outcome, Plugin};
use crate::Shared;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// The plugin.
pub struct Metrics {
    m: Arc<Registry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {}

impl Metrics {
    /// Builds it from settings (none).
    pub fn build(table: toml::Table, shared: &Arc<Shared>) -> Result<Box<dyn Plugin>, String> {
        let _: Settings = settings(table)?;
        Ok(Box::new(Metrics {
            m: shared.metrics.clone(),
        }))
    }
}

fn endpoint_label(route: Route) -> &'static str {
    match route {
        Route::Model(e) => e.name(),
        Route::ListModels => "models",
        Route::Health => "health",
        Route::ControlPlane => "control_plane",
        Route::NotFound => "not_found",
    }
}

impl Plugin for Metrics {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn on_done(&self, outcome: &Outcome, ctx: &mut RequestCtx) {
        let now = Instant::now();
        let endpoint = endpoint_label(ctx.route);
        let model = match ctx.route {
            Route::Model(_) => ctx
                .model
                .as_ref()
                .map(|m| m.name.as_str())
                .unwrap_or("unknown"),
            _ => "",
        };
        let status = outcome.status.to_string();
        self.m
            .requests
            .with_label_values(&[endpoint, model, status.as_str()])
            .inc();
        let total = now.duration_since(ctx.started);
        self.m
            .latency
            .with_label_values(&[endpoint])
            .observe(total.as_secs_f64());
        // Refusals by the gateway itself; upstream failures are counted as
        // upstream errors instead.
        if let (Some(code), Some(Failure::Rejected)) = (ctx.error_code, ctx.failure) {
            self.m.rejections.with_label_values(&[code]).inc();
        }
        if !matches!(ctx.route, Route::Model(_)) {
            return;
        }
        // Overhead: before the first upstream attempt, plus after its last byte.
        if let (Some(first), Some(done)) = (ctx.first_attempt_at, ctx.upstream_done_at) {
            let overhead = first.duration_since(ctx.started) + now.saturating_duration_since(done);
            self.m
                .overhead
                .with_label_values(&[endpoint])
                .observe(overhead.as_secs_f64());
        }
        if ctx.is_stream() {
            if let Some(t) = ctx.first_byte_at {
                self.m
                    .ttft
                    .with_label_values(&[model])
                    .observe(t.duration_since(ctx.started).as_secs_f64());
            }
        }
        if let Some(u) = ctx.usage {
            for (kind, n) in [
                ("prompt", u.prompt),
                ("completion", u.completion),
                ("cached", u.cached),
                ("reasoning", u.reasoning),
            ] {
                if n > 0 {
                    self.m.tokens.with_label_values(&[model, kind]).inc_by(n);
                }
            }
        }
        if ctx.cost_nanos > 0 {
            self.m
                .cost_nanos
                .with_label_values(&[model])
                .inc_by(ctx.cost_nanos as u64);
        }
        // The last attempt's 5xx went to the client; earlier ones were
        // counted when the gateway fell back.
        if let (Some(status), Some(a)) = (ctx.upstream_status, ctx.attempt.as_ref()) {
            if status >= 500 {
                self.m
                    .upstream_errors
                    .with_label_values(&[
                        a.deployment.upstream.provider_id.as_str(),
                        a.deployment.id.as_str(),
                        "status_5xx",
                    ])
                    .inc();
            }
        }
        if ctx.attempts > 1 && (200..300).contains(&outcome.status) {
            self.m.fallbacks.with_label_values(&[model]).inc();
        }
    }
}

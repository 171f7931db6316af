//! The plugin pipeline: small types behind one trait, built from
//! configuration in a declared order and walked by every proxy phase.
//!
//! Adding a plugin: write `plugins/<name>.rs` implementing [`Plugin`], add one
//! line to [`build`], and one `[[plugins]]` entry in the configuration.

use crate::config::PluginSpec;
use crate::context::RequestCtx;
use crate::errors::ApiError;
use crate::plugins;
use crate::spool::SpoolHandle;
use crate::Shared;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Plugin-private per-request state, keyed by type.
pub type PluginState = http::Extensions;

/// How a request ended, for the last phase.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Status sent to the client (0 if none was).
    pub status: u16,
}

/// One concern of the request path. Every hook has a no-op default, so a
/// plugin implements only the phases it cares about. Hooks must not block:
/// no database, no file I/O, no locks held across awaits. (One deliberate
/// exception: with `spool.durability = "write"`, `usage_sink` writes its
/// row's line to the spool file, a short `write(2)` to the page cache.)
#[async_trait]
pub trait Plugin: Send + Sync {
    /// The configuration `kind`.
    fn name(&self) -> &'static str;

    /// `request_filter`: the request and (for model calls) its parsed body are
    /// in the context. An error is sent to the client at once, before any
    /// upstream cost.
    async fn on_request(
        &self,
        _req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// `upstream_peer`: an attempt (first or fallback) is about to be made.
    fn on_attempt(&self, _ctx: &mut RequestCtx) -> Result<(), ApiError> {
        Ok(())
    }

    /// `upstream_request_filter`: shape the request sent upstream.
    fn on_upstream_request(
        &self,
        _upstream: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        Ok(())
    }

    /// `upstream_response_filter`: the upstream's response header.
    fn on_upstream_response(
        &self,
        _resp: &mut ResponseHeader,
        _ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        Ok(())
    }

    /// `response_filter`: the header about to go to the client (also for
    /// answers the gateway makes itself).
    fn on_response(
        &self,
        _resp: &mut ResponseHeader,
        _ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        Ok(())
    }

    /// `response_body_filter`: one chunk on its way to the client.
    fn on_response_body(
        &self,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        _ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        Ok(())
    }

    /// `logging`: the request is over.
    fn on_done(&self, _outcome: &Outcome, _ctx: &mut RequestCtx) {}
}

/// The configured plugins, in order.
pub struct Pipeline {
    plugins: Vec<Box<dyn Plugin>>,
}

/// Why the pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No plugin has that kind.
    #[error("plugins[{index}]: unknown kind '{kind}' (known: {known})")]
    UnknownKind {
        /// Position in the list.
        index: usize,
        /// The kind given.
        kind: String,
        /// The kinds that exist.
        known: String,
    },
    /// The settings do not fit the plugin.
    #[error("plugins[{index}] ({kind}): {message}")]
    Settings {
        /// Position in the list.
        index: usize,
        /// The plugin.
        kind: String,
        /// What is wrong.
        message: String,
    },
    /// A kind appears twice.
    #[error("plugins[{index}]: '{kind}' appears more than once")]
    Duplicate {
        /// Position in the list.
        index: usize,
        /// The kind.
        kind: String,
    },
}

/// Every plugin kind and its constructor.
const KINDS: &[&str] = &[
    "request_id",
    "auth",
    "access",
    "routing",
    "rate_limit",
    "upstream_rewrite",
    "metering",
    "quota",
    "usage_sink",
    "metrics",
];

fn construct(
    kind: &str,
    settings: toml::Table,
    shared: &Arc<Shared>,
) -> Option<Result<Box<dyn Plugin>, String>> {
    Some(match kind {
        "request_id" => plugins::request_id::RequestId::build(settings),
        "auth" => plugins::auth::Auth::build(settings, shared),
        "access" => plugins::access::Access::build(settings),
        "rate_limit" => plugins::rate_limit::RateLimit::build(settings, shared),
        "quota" => plugins::quota::Quota::build(settings, shared),
        "routing" => plugins::routing::Routing::build(settings, shared),
        "upstream_rewrite" => plugins::upstream_rewrite::UpstreamRewrite::build(settings),
        "metering" => plugins::metering::Metering::build(settings),
        "usage_sink" => plugins::usage_sink::UsageSink::build(settings, shared),
        "metrics" => plugins::metrics::Metrics::build(settings, shared),
        _ => return None,
    })
}

/// Parses a plugin's settings, refusing unknown keys.
pub fn settings<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// Builds the pipeline from configuration.
pub fn build(specs: &[PluginSpec], shared: &Arc<Shared>) -> Result<Pipeline, BuildError> {
    let mut plugins: Vec<Box<dyn Plugin>> = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        if plugins.iter().any(|p| p.name() == spec.kind) {
            return Err(BuildError::Duplicate {
                index,
                kind: spec.kind.clone(),
            });
        }
        match construct(&spec.kind, spec.settings.clone(), shared) {
            None => {
                return Err(BuildError::UnknownKind {
                    index,
                    kind: spec.kind.clone(),
                    known: KINDS.join(", "),
                })
            }
            Some(Err(message)) => {
                return Err(BuildError::Settings {
                    index,
                    kind: spec.kind.clone(),
                    message,
                })
            }
            Some(Ok(p)) => plugins.push(p),
        }
    }
    Ok(Pipeline { plugins })
}

impl Pipeline {
    /// Names in order, for logs.
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }

    /// Runs `on_request` in order; stops at the first refusal.
    pub async fn on_request(
        &self,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        for p in &self.plugins {
            if let Err(e) = p.on_request(req, ctx).await {
                ctx.refused_by = Some(p.name());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Runs `on_attempt` in order.
    pub fn on_attempt(&self, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        self.plugins.iter().try_for_each(|p| p.on_attempt(ctx))
    }

    /// Runs `on_upstream_request` in order.
    pub fn on_upstream_request(
        &self,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        self.plugins
            .iter()
            .try_for_each(|p| p.on_upstream_request(upstream, ctx))
    }

    /// Runs `on_upstream_response` in order.
    pub fn on_upstream_response(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        self.plugins
            .iter()
            .try_for_each(|p| p.on_upstream_response(resp, ctx))
    }

    /// Runs `on_response` in order.
    pub fn on_response(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        self.plugins
            .iter()
            .try_for_each(|p| p.on_response(resp, ctx))
    }

    /// Runs `on_response_body` in order.
    pub fn on_response_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        self.plugins
            .iter()
            .try_for_each(|p| p.on_response_body(body, end_of_stream, ctx))
    }

    /// Runs the last phase now (the usage row goes to the spool) and, with
    /// `spool.durability = "fsync"`, waits until the row is on disk: called
    /// before the bytes that complete a response go out.
    pub fn finish_durably(&self, spool: &SpoolHandle, ctx: &mut RequestCtx, status: u16) {
        self.on_done(&Outcome { status }, ctx);
        if let Some(seq) = ctx.row_seq {
            spool.wait_durable(seq);
        }
    }

    /// Runs `on_done` in order, once per request (later calls do nothing).
    pub fn on_done(&self, outcome: &Outcome, ctx: &mut RequestCtx) {
        if std::mem::replace(&mut ctx.finished, true) {
            return;
        }
        for p in &self.plugins {
            p.on_done(outcome, ctx);
        }
    }
}

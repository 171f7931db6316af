//! Per-request state, owned by one request and passed through every phase.
//! Plugins keep what they learn here instead of in shared locks.

use crate::tables::{Deployment, KeyInfo, Model, Tables};
use aihub_contract::money::TokenCounts;
use aihub_contract::signing::BatchMark;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// The OpenAI-compatible endpoints the gateway meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/completions`
    Completions,
    /// `POST /v1/embeddings`
    Embeddings,
}

impl Endpoint {
    /// Name in usage rows and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }

    /// Path after the provider's base path.
    pub fn upstream_path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
        }
    }
}

/// What kind of request this is, decided from method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A metered model call.
    Model(Endpoint),
    /// `GET /v1/models`: answered from the tables.
    ListModels,
    /// `GET /healthz` or `/readyz` on the public port.
    Health,
    /// Anything for the control plane: `/api/…`, the portal, `/v1/files…`.
    ControlPlane,
    /// `/v1/…` paths the gateway does not serve.
    NotFound,
}

/// The parsed body of a model call.
#[derive(Debug, Default)]
pub struct ModelRequest {
    /// The JSON object as sent.
    pub body: Map<String, Value>,
    /// Public model name.
    pub model: String,
    /// `"stream": true`?
    pub stream: bool,
    /// Did the client itself ask for usage in the stream?
    pub client_wants_stream_usage: bool,
    /// Size of the prompt text, in characters (for estimates only).
    pub prompt_chars: usize,
    /// Size of the request body, bytes.
    pub body_len: usize,
    /// `max_tokens` (or `max_completion_tokens`), if the request sets one.
    pub max_tokens: Option<u64>,
}

/// One upstream attempt.
#[derive(Debug)]
pub struct Attempt {
    /// Deployment tried.
    pub deployment: Arc<Deployment>,
    /// Body sent to it.
    pub body: Bytes,
    /// When the attempt started.
    pub started: Instant,
    /// Its outcome was recorded in the deployment's health.
    pub judged: bool,
}

/// Why a request ended badly, as recorded in its usage row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every upstream attempt failed.
    Upstream,
    /// The client went away before the response ended.
    ClientDisconnected,
    /// Refused by the gateway (auth, scope, validation).
    Rejected,
}

impl Failure {
    /// Short code stored in the usage row.
    pub fn code(self) -> &'static str {
        match self {
            Failure::Upstream => "upstream_error",
            Failure::ClientDisconnected => "client_disconnected",
            Failure::Rejected => "rejected",
        }
    }
}

/// Everything one request carries through the phases.
pub struct RequestCtx {
    /// Arrival.
    pub started: Instant,
    /// Arrival, unix ms.
    pub started_ms: i64,
    /// Request id returned in `x-request-id` and stored with usage.
    pub request_id: String,
    /// Route.
    pub route: Route,
    /// Configuration seen by this request.
    pub tables: Arc<Tables>,
    /// Client IP.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// HTTP method.
    pub method: String,
    /// Parsed body of a model call.
    pub request: Option<ModelRequest>,
    /// Authenticated key.
    pub key: Option<Arc<KeyInfo>>,
    /// Set when the key was authenticated by the control plane's batch mark
    /// (`x-aihub-batch`) instead of its secret: the batch and its discount.
    pub batch: Option<BatchMark>,
    /// Resolved model.
    pub model: Option<Arc<Model>>,
    /// Deployments still to try, in order.
    pub candidates: Vec<Arc<Deployment>>,
    /// The attempt in progress (the last one, at the end).
    pub attempt: Option<Attempt>,
    /// Attempts made.
    pub attempts: u8,
    /// When the first upstream attempt started.
    pub first_attempt_at: Option<Instant>,
    /// Status of the last upstream response header.
    pub upstream_status: Option<u16>,
    /// When the last upstream byte arrived.
    pub upstream_done_at: Option<Instant>,
    /// When the first body byte went to the client.
    pub first_byte_at: Option<Instant>,
    /// Tokens reported by the upstream.
    pub usage: Option<TokenCounts>,
    /// Whether `usage` is an estimate (client left before the upstream reported).
    pub usage_estimated: bool,
    /// Exact cost of `usage`, nano-units.
    pub cost_nanos: i64,
    /// Code of the gateway's own error answer, if it made one.
    pub error_code: Option<&'static str>,
    /// Content chunks forwarded to the client (streams).
    pub content_chunks: u64,
    /// How the request failed, if it did.
    pub failure: Option<Failure>,
    /// Set when the gateway answered by itself (errors, model list).
    pub answered_status: Option<u16>,
    /// The plugin whose `on_request` refused the request, if one did.
    pub refused_by: Option<&'static str>,
    /// Plugin-private state, one slot per plugin that needs it.
    pub plugin_state: crate::pipeline::PluginState,
    /// The last phase (`on_done`) has run: it runs once, when the response's
    /// body ends (durable rows) or when the request is over.
    pub finished: bool,
    /// Sequence number of this request's usage row to wait for
    /// (`spool.durability = "fsync"`).
    pub row_seq: Option<u64>,
    /// The bytes completing the response that wait for its row to be on
    /// spool (`spool.durability` other than `off`; model calls with a key).
    pub holdback: Option<crate::holdback::Holdback>,
}

impl RequestCtx {
    /// A fresh context at arrival.
    pub fn new(tables: Arc<Tables>) -> Self {
        RequestCtx {
            started: Instant::now(),
            started_ms: now_ms(),
            request_id: new_request_id(),
            route: Route::NotFound,
            tables,
            ip: String::new(),
            user_agent: String::new(),
            method: String::new(),
            request: None,
            key: None,
            batch: None,
            model: None,
            candidates: Vec::new(),
            attempt: None,
            attempts: 0,
            first_attempt_at: None,
            upstream_status: None,
            upstream_done_at: None,
            first_byte_at: None,
            usage: None,
            usage_estimated: false,
            cost_nanos: 0,
            error_code: None,
            content_chunks: 0,
            failure: None,
            answered_status: None,
            refused_by: None,
            plugin_state: Default::default(),
            finished: false,
            row_seq: None,
            holdback: None,
        }
    }

    /// Whether this request's usage row must be in the spool before the
    /// client gets the last bytes of its response: a model call whose key is
    /// known (so it has a row), unless `spool.durability` is `off`.
    pub fn needs_durable_row(&self, durability: crate::spool::Durability) -> bool {
        durability != crate::spool::Durability::Off
            && matches!(self.route, Route::Model(_))
            && self.key.is_some()
    }

    /// Whether this request is a streamed model call.
    pub fn is_stream(&self) -> bool {
        self.request.as_ref().is_some_and(|r| r.stream)
    }
}

/// A new request id: `req_` + 12 hex digits of milliseconds + 20 random hex
/// digits from the thread's generator (seeded once, so no system call per
/// request). Sortable by time, unique enough to key usage rows.
pub fn new_request_id() -> String {
    let random: u128 = rand::random::<u128>() >> 48;
    format!(
        "req_{:012x}{:020x}",
        now_ms() as u64 & 0xffff_ffff_ffff,
        random
    )
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

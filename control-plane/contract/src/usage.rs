//! Usage rows: one per client request that reached the gateway's pipeline.

use serde::{Deserialize, Serialize};

/// One metered request. Identified by `request_id`; every store deduplicates
/// on it, so a row shipped twice (spool replay after a crash) counts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    /// The `x-request-id` the client saw.
    pub request_id: String,
    /// When the request arrived, unix milliseconds.
    pub ts_ms: i64,
    /// Owning developer (empty when the key was not recognised).
    pub developer_id: String,
    /// API key id (not the secret).
    pub key_id: String,
    /// Gateway endpoint, e.g. `chat.completions`, `embeddings`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Public model name the client asked for.
    pub model: String,
    /// Deployment that served the request (empty when none did).
    pub deployment_id: String,
    /// Provider of that deployment.
    pub provider_id: String,
    /// Prompt tokens, cached included.
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning included.
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// Exact cost in nano-units of the currency.
    pub cost_nanos: i64,
    /// Arrival to last byte, milliseconds.
    pub latency_ms: u32,
    /// Arrival to first body byte sent to the client (streams), milliseconds.
    pub ttft_ms: Option<u32>,
    /// Status code returned to the client.
    pub status: u16,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Upstream attempts made (fallbacks included); only the one that served is charged.
    pub attempts: u8,
    /// Client IP address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// Short error code when the request failed (`upstream_error`, `client_disconnected`, …).
    pub error: String,
    /// Gateway instance that served the request.
    pub gateway_id: String,
}

/// A batch of rows shipped to the control plane.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageBatch {
    /// The rows, in spool order.
    pub rows: Vec<UsageRow>,
}

/// What the control plane did with a batch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct IngestResult {
    /// Rows newly stored.
    pub inserted: u64,
    /// Rows already present (same request id), ignored.
    pub duplicates: u64,
}

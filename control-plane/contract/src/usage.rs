//! Usage rows: one per client request that reached the gateway's pipeline.

use serde::{Deserialize, Serialize};

/// One metered request. Identified by `request_id`; every store deduplicates
/// on it, so a row shipped twice (spool replay after a crash) counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The batch this request was an item of, when the control plane's batch
    /// workers sent it (`x-aihub-batch`); empty for everything else. Absent
    /// in rows written before batches existed, hence the default.
    #[serde(default)]
    pub batch_id: String,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_before_batches_still_parse() {
        let old = r#"{"request_id":"req_1","ts_ms":1,"developer_id":"dev_1","key_id":"key_1",
            "endpoint":"chat.completions","method":"POST","model":"m","deployment_id":"dep_1",
            "provider_id":"prov_1","prompt_tokens":1,"completion_tokens":2,"cached_tokens":0,
            "reasoning_tokens":0,"cost_nanos":3,"latency_ms":4,"ttft_ms":null,"status":200,
            "stream":false,"attempts":1,"ip":"127.0.0.1","user_agent":"","error":"",
            "gateway_id":"gw"}"#;
        let row: UsageRow = serde_json::from_str(old).unwrap();
        assert_eq!(row.batch_id, "");
        let json = serde_json::to_value(UsageRow {
            batch_id: "batch_1".into(),
            ..row
        })
        .unwrap();
        assert_eq!(json["batch_id"], "batch_1");
    }
}

//! Upstream health as each gateway sees it, reported to the control plane
//! every few seconds so the operator console can show it.

use serde::{Deserialize, Serialize};

/// One gateway's view of every deployment it has tried.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthReport {
    /// The reporting gateway (`server.instance_id`).
    pub gateway_id: String,
    /// Per deployment.
    pub deployments: Vec<DeploymentHealth>,
}

/// A deployment's recent record at one gateway.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeploymentHealth {
    /// Deployment id.
    pub deployment_id: String,
    /// Attempts sent to it in the last minute or so.
    pub requests: u64,
    /// Of those, failed ones (connection error, timeout, 5xx, 401/403).
    pub errors: u64,
    /// Mean time to the response headers of its successful attempts in
    /// that window, ms (`None` without one).
    pub latency_ms: Option<u64>,
    /// Failures in a row, now.
    pub consecutive_failures: u32,
    /// Ejected (skipped by routing) until this unix time in ms; then
    /// recovery probes decide. `None`: in rotation.
    pub ejected_until_ms: Option<u64>,
}

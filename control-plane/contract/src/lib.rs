//! The contract between AI Hub's two planes.
//!
//! The control plane owns every piece of configuration; gateways own none. A
//! gateway learns what it needs through three HTTP exchanges, all signed with
//! an HMAC of a shared secret (see [`signing`]):
//!
//! | exchange | route | body |
//! | --- | --- | --- |
//! | full snapshot | `GET /internal/v1/snapshot` | [`snapshot::Snapshot`] |
//! | change stream (long poll) | `GET /internal/v1/changes?since=V&wait_ms=N` | [`snapshot::Changes`] |
//! | usage ingest (embedded default only) | `POST /internal/v1/usage` | [`usage::UsageBatch`] → [`usage::IngestResult`] |
//!
//! Money crosses the boundary as integer nano-units (10⁻⁹ of the currency) and
//! prices as decimal strings, never as floats.

pub mod calendar;
pub mod health;
pub mod keys;
pub mod money;
pub mod signing;
pub mod snapshot;
pub mod usage;

/// Routes of the internal API, shared so the two sides cannot drift.
pub mod routes {
    /// Full configuration snapshot.
    pub const SNAPSHOT: &str = "/internal/v1/snapshot";
    /// Long-poll change stream.
    pub const CHANGES: &str = "/internal/v1/changes";
    /// Usage row ingest for the embedded default.
    pub const USAGE: &str = "/internal/v1/usage";
    /// Upstream health as a gateway sees it.
    pub const HEALTH: &str = "/internal/v1/health";
}

//! Test support for AI Hub.
//!
//! - [`upstream`]: a stand-in model provider (OpenAI and Anthropic wire
//!   protocols, deterministic usage, per-request directives) for integration
//!   tests and the load harness; also the `aihub-stub-upstream` binary.
//! - [`procs`]: start the workspace's real binaries, capture their output,
//!   wait for readiness, and read which backends the suite runs against.
//! - [`clickhouse`]: the ClickHouse schema applied to a per-test database.
//! - [`clickhouse_server`]: a private ClickHouse server a test may kill and
//!   restart.
//! - [`postgres`]: a private PostgreSQL server a test may kill and restart.
//! - [`sse`]: server-sent-event framing and a parser to read streams back.
//! - [`smtp`]: a real SMTP server process (Python's `aiosmtpd`) that keeps
//!   what it receives for tests to read.
//! - [`stripe`]: a stand-in for the parts of Stripe's HTTP API AI Hub uses
//!   (Checkout Sessions, the hosted payment page, signed webhook events);
//!   also the `aihub-stub-stripe` binary.

pub mod clickhouse;
pub mod clickhouse_server;
pub mod postgres;
pub mod procs;
pub mod redis;
pub mod smtp;
pub mod sse;
pub mod stripe;
pub mod upstream;

pub use upstream::{RecordedRequest, StubConfig, StubUpstream};

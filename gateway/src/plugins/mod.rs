//! The plugins of the request pipeline, one concern each. Their order comes
//! from configuration (`[[plugins]]` in `config/gateway.toml`).

pub mod access;
pub mod auth;
pub mod metering;
pub mod metrics;
pub mod quota;
pub mod rate_limit;
pub mod request_id;
pub mod routing;
pub mod upstream_rewrite;
pub mod usage_sink;

//! The gateway's Prometheus metrics (served on the ops listener).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: fine below 10 ms for overhead, coarse above.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0,
];

/// All metric families.
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint, model and status.
    pub requests: IntCounterVec,
    /// Arrival to last byte.
    pub latency: HistogramVec,
    /// Time spent in the gateway itself (before the upstream and after it).
    pub overhead: HistogramVec,
    /// Arrival to first body byte, streams.
    pub ttft: HistogramVec,
    /// Tokens by model and kind.
    pub tokens: IntCounterVec,
    /// Cost by model, nano-units.
    pub cost_nanos: IntCounterVec,
    /// Failed upstream attempts by provider, deployment and reason.
    pub upstream_errors: IntCounterVec,
    /// Fallbacks taken, by model.
    pub fallbacks: IntCounterVec,
    /// Deployments taken out of rotation, by provider and deployment.
    pub upstream_ejections: IntCounterVec,
    /// Deployments out of rotation now (ejected or awaiting a good probe).
    pub upstream_ejected: IntGauge,
    /// Requests refused by the gateway, by code.
    pub rejections: IntCounterVec,
    /// Limit and quota decisions Redis could not make (made in process instead).
    pub limit_store_errors: prometheus::IntCounter,
    /// Usage rows waiting in the spool.
    pub spool_depth: IntGauge,
    /// Age of the oldest unshipped row, milliseconds.
    pub ship_lag_ms: IntGauge,
    /// How long responses waited for their usage row's group commit.
    pub spool_durable_wait: prometheus::Histogram,
    /// Responses sent before their row was on disk (the commit took over 5 s).
    pub spool_durable_timeouts: prometheus::IntCounter,
    /// Rows shipped, by sink.
    pub rows_shipped: IntCounterVec,
    /// Ship failures, by sink.
    pub ship_errors: IntCounterVec,
    /// Rows of a retried batch the store already had (not sent again), by sink.
    pub rows_deduplicated: IntCounterVec,
    /// Version of the configuration in use.
    pub config_version: IntGauge,
    /// Unix seconds of the last successful contact with the control plane.
    pub config_synced_at: IntGauge,
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("aihub_gateway".into()), None)?;
        let hist = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<HistogramVec> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        Ok(Metrics {
            requests: counter(
                "requests_total",
                "Requests by endpoint, model and status.",
                &["endpoint", "model", "status"],
            )?,
            latency: hist(
                "request_duration_seconds",
                "Arrival to last byte.",
                &["endpoint"],
            )?,
            overhead: hist(
                "overhead_seconds",
                "Time spent in the gateway itself, upstream time excluded.",
                &["endpoint"],
            )?,
            ttft: hist(
                "time_to_first_token_seconds",
                "Arrival to first streamed byte.",
                &["model"],
            )?,
            tokens: counter(
                "tokens_total",
                "Tokens metered, by model and kind.",
                &["model", "kind"],
            )?,
            cost_nanos: counter(
                "cost_nanos_total",
                "Cost metered, in nano-units of the currency.",
                &["model"],
            )?,
            upstream_errors: counter(
                "upstream_errors_total",
                "Failed upstream attempts.",
                &["provider", "deployment", "reason"],
            )?,
            upstream_ejections: counter(
                "upstream_ejections_total",
                "Deployments ejected after failing in a row (again after a failed recovery probe).",
                &["provider", "deployment"],
            )?,
            upstream_ejected: gauge("upstream_ejected", "Deployments out of rotation now.")?,
            fallbacks: counter(
                "fallbacks_total",
                "Requests served after at least one failed attempt.",
                &["model"],
            )?,
            rejections: counter(
                "rejections_total",
                "Requests refused by the gateway, by code.",
                &["code"],
            )?,
            limit_store_errors: {
                let c = prometheus::IntCounter::new(
                    "limit_store_errors_total",
                    "Rate-limit and quota decisions Redis could not make (made in process instead).",
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            spool_depth: gauge(
                "spool_depth_rows",
                "Usage rows written to the spool and not yet shipped.",
            )?,
            ship_lag_ms: gauge(
                "ship_lag_milliseconds",
                "Age of the oldest unshipped usage row.",
            )?,
            spool_durable_wait: {
                let h = prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "spool_durable_wait_seconds",
                        "How long a response waited for its usage row to be fsynced (spool.durability = \"fsync\").",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )?;
                registry.register(Box::new(h.clone()))?;
                h
            },
            spool_durable_timeouts: {
                let c = prometheus::IntCounter::new(
                    "spool_durable_timeouts_total",
                    "Responses sent before their usage row was on disk (its commit took over 5 s).",
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            rows_shipped: counter(
                "usage_rows_shipped_total",
                "Usage rows shipped, by sink.",
                &["sink"],
            )?,
            ship_errors: counter(
                "usage_ship_errors_total",
                "Failed shipments, by sink.",
                &["sink"],
            )?,
            rows_deduplicated: counter(
                "usage_rows_deduplicated_total",
                "Usage rows of a retried batch the store already had, not sent again, by sink.",
                &["sink"],
            )?,
            config_version: gauge(
                "config_version",
                "Version of the configuration snapshot in use.",
            )?,
            config_synced_at: gauge(
                "config_synced_at_seconds",
                "Last successful contact with the control plane, unix seconds.",
            )?,
            registry,
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("encoding metrics failed: {e}");
        }
        out
    }
}

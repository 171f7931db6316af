//! Prometheus metrics of the control plane, in a registry of its own (so
//! several applications in one test process do not collide).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The control plane's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route template, method and status.
    pub http_requests: IntCounterVec,
    /// Request latency by route template.
    pub http_latency: HistogramVec,
    /// Usage rows stored.
    pub usage_ingested: IntCounter,
    /// Usage rows refused as already stored.
    pub usage_duplicates: IntCounter,
    /// Change-stream long polls waiting right now.
    pub long_polls_open: IntGauge,
    /// The configuration version last seen by the watcher.
    pub config_version: IntGauge,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "aihub_cp_http_requests_total",
                "HTTP requests served by the control plane.",
            ),
            &["route", "method", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "aihub_cp_http_request_duration_seconds",
                "Time to produce a response (long polls included).",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["route"],
        )?;
        let usage_ingested = IntCounter::new(
            "aihub_cp_usage_rows_ingested_total",
            "Usage rows stored from gateways.",
        )?;
        let usage_duplicates = IntCounter::new(
            "aihub_cp_usage_rows_duplicate_total",
            "Usage rows ignored because their request id was already stored.",
        )?;
        let long_polls_open = IntGauge::new(
            "aihub_cp_change_long_polls_open",
            "Gateway change-stream requests currently waiting.",
        )?;
        let config_version = IntGauge::new(
            "aihub_cp_config_version",
            "Newest configuration change sequence seen.",
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(usage_ingested.clone()))?;
        registry.register(Box::new(usage_duplicates.clone()))?;
        registry.register(Box::new(long_polls_open.clone()))?;
        registry.register(Box::new(config_version.clone()))?;
        Ok(Metrics {
            registry,
            http_requests,
            http_latency,
            usage_ingested,
            usage_duplicates,
            long_polls_open,
            config_version,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Keeps the open-long-polls gauge right however the request ends (a
/// client that disconnects drops the handler's future).
pub struct GaugeGuard(IntGauge);

impl GaugeGuard {
    /// Increments now, decrements on drop.
    pub fn new(gauge: &IntGauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

//! AI Hub's data plane: a Pingora reverse proxy that authenticates API keys,
//! routes model calls to providers, meters tokens from the upstream's own
//! usage, and ships one usage row per request through a local spool.
//!
//! Map of the crate:
//! - [`proxy`] — the `ProxyHttp` service: phases and the order they run in;
//! - [`pipeline`] and [`plugins`] — the plugin trait and each plugin;
//! - [`tables`] and [`sync`] — the in-memory configuration and how it follows the control plane;
//! - [`providers`] and [`sse`] — protocol translation and stream framing;
//! - [`spool`] and [`stores`] — usage rows on their way to ClickHouse or the control plane;
//! - [`metrics`] and [`ops`] — Prometheus metrics and the operations listener;
//! - [`config`] — configuration loading and validation.

pub mod config;
pub mod context;
pub mod direct;
pub mod errors;
pub mod health;
pub mod holdback;
pub mod limits;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod plugins;
pub mod providers;
pub mod proxy;
pub mod spool;
pub mod sse;
pub mod stores;
pub mod sync;
pub mod tables;

use anyhow::Context;
use config::GatewayConfig;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

/// What plugins and services share for the life of the process.
pub struct Shared {
    /// The live configuration tables.
    pub live: Arc<tables::Live>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Where usage rows go.
    pub spool: spool::SpoolHandle,
    /// This instance's name.
    pub instance_id: String,
    /// Rate limits and quotas.
    pub limits: Arc<limits::Limits>,
    /// The secret shared with the control plane (`control_plane.shared_secret`):
    /// `auth` verifies batch traffic's `x-aihub-batch` marks with it.
    pub control_plane_secret: Vec<u8>,
}

/// Builds every service and runs the gateway until it is told to stop.
pub fn run(config: GatewayConfig) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new().context("creating metrics")?);
    let live = Arc::new(tables::Live::new());
    let instance_id = config.instance_id();

    let store: Arc<dyn spool::UsageStore> = if config.clickhouse.url.is_empty() {
        Arc::new(stores::ControlPlaneStore::new(
            &config.control_plane.url,
            &config.control_plane.shared_secret,
        )?)
    } else {
        let ch = &config.clickhouse;
        Arc::new(stores::ClickHouseStore::new(
            &ch.url,
            &ch.database,
            &ch.table,
            &ch.user,
            &ch.password,
        ))
    };
    let (spool, spool_handle) = spool::spool(
        spool::SpoolSettings {
            dir: config.spool.dir.clone(),
            flush_interval: Duration::from_millis(config.spool.flush_interval_ms),
            ship_interval: Duration::from_millis(config.spool.ship_interval_ms),
            batch_rows: config.spool.batch_rows,
            durability: config.spool.durability,
        },
        store,
        metrics.clone(),
    );
    let limits = if config.redis.url.is_empty() {
        limits::Limits::local(metrics.limit_store_errors.clone())
    } else {
        let r = &config.redis;
        let store = limits::shared::RedisLimits::new(
            &r.url,
            &r.key_prefix,
            Duration::from_millis(r.timeout_ms),
            Duration::from_secs(r.reservation_ttl_secs),
        )
        .map_err(anyhow::Error::msg)
        .context("configuration")?;
        limits::Limits::with_redis(store, metrics.limit_store_errors.clone())
    };
    let spool_handle_for_ops = spool_handle.clone();
    let shared = Arc::new(Shared {
        live: live.clone(),
        metrics: metrics.clone(),
        spool: spool_handle,
        instance_id: instance_id.clone(),
        limits: Arc::new(limits),
        control_plane_secret: config.control_plane.shared_secret.as_bytes().to_vec(),
    });
    let pipeline = pipeline::build(&config.plugins, &shared).context("configuration")?;

    let sync = sync::ConfigSync::new(
        &config.control_plane.url,
        &config.control_plane.shared_secret,
        config.control_plane.state_dir.clone(),
        config.control_plane.long_poll_ms,
        live.clone(),
        metrics.clone(),
    )?;
    // Serve from the last good configuration at once, if there is one.
    sync.load_from_disk();

    let cp_uri: http::Uri = config
        .control_plane
        .url
        .parse()
        .context("control_plane.url")?;
    let cp_host = cp_uri.host().unwrap_or("127.0.0.1").to_string();
    let cp_port = cp_uri.port_u16().unwrap_or(80);
    let cp_addr = (cp_host.as_str(), cp_port)
        .to_socket_addrs()
        .with_context(|| format!("resolving control_plane.url host {cp_host}"))?
        .next()
        .with_context(|| format!("control_plane.url host {cp_host} has no address"))?;

    let state = &config.control_plane.state_dir;
    std::fs::create_dir_all(state).with_context(|| format!("creating {}", state.display()))?;
    let conf = ServerConf {
        threads: config.server.threads,
        work_stealing: config.server.work_stealing,
        grace_period_seconds: Some(config.server.shutdown_grace_secs),
        graceful_shutdown_timeout_seconds: Some(5),
        pid_file: state.join("gateway.pid").to_string_lossy().into_owned(),
        upgrade_sock: state.join("upgrade.sock").to_string_lossy().into_owned(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let gateway = proxy::Gateway::new(
        shared,
        pipeline,
        cp_addr,
        cp_host,
        config.server.max_body_bytes,
    )
    .context("creating the upstream HTTP client")?;
    let mut proxy_service = pingora::proxy::http_proxy_service(&server.configuration, gateway);
    proxy_service.add_tcp(&config.server.listen);
    server.add_service(proxy_service);

    let mut ops_service = pingora::services::listening::Service::new(
        "ops".to_string(),
        ops::Ops {
            metrics: metrics.clone(),
            live: live.clone(),
            spool: spool_handle_for_ops,
        },
    );
    ops_service.add_tcp(&config.server.ops_listen);
    // Only the proxy gets `server.threads`; the ops listener and the
    // background services are light and get one thread each, so they do not
    // multiply the threads competing for the cores.
    ops_service.threads = Some(1);
    server.add_service(ops_service);
    let mut sync_service = background_service("config sync", sync);
    sync_service.threads = Some(1);
    server.add_service(sync_service);
    let reporter = health::Reporter::new(
        &config.control_plane,
        instance_id.clone(),
        live.clone(),
        metrics.clone(),
    )
    .context("creating the health reporter")?;
    let mut health_service = background_service("upstream health", reporter);
    health_service.threads = Some(1);
    server.add_service(health_service);
    let mut spool_service = background_service("usage spool", spool);
    spool_service.threads = Some(1);
    server.add_service(spool_service);

    tracing::info!(
        listen = %config.server.listen,
        ops = %config.server.ops_listen,
        instance = %instance_id,
        usage_store = if config.clickhouse.url.is_empty() { "control_plane" } else { "clickhouse" },
        limits = if config.redis.url.is_empty() { "in_process" } else { "redis" },
        "AI Hub gateway starting"
    );
    server.run_forever()
}

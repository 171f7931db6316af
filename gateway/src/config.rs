//! Gateway configuration: compiled-in defaults (`config/gateway.toml`), then an
//! optional file, then `AIHUB_GW_*` environment variables (`__` separates
//! levels: `AIHUB_GW_CONTROL_PLANE__URL`). Unknown keys are refused, and
//! [`GatewayConfig::validate`] names the key and what it expects.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const DEFAULTS: &str = include_str!("../../config/gateway.toml");

/// The whole gateway configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Listeners and limits.
    pub server: ServerConfig,
    /// Where the configuration comes from.
    pub control_plane: ControlPlaneConfig,
    /// Local usage spool.
    pub spool: SpoolConfig,
    /// Optional ClickHouse usage store.
    pub clickhouse: ClickHouseConfig,
    /// Optional Redis for limits and quotas shared between gateways.
    pub redis: RedisConfig,
    /// The plugin pipeline, in order.
    pub plugins: Vec<PluginSpec>,
    /// Logging.
    pub log: LogConfig,
}

/// Listeners and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Public listener (OpenAI-compatible API, portal, management API).
    pub listen: String,
    /// Operations listener: `/metrics`, `/healthz`, `/readyz`.
    pub ops_listen: String,
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// Let idle proxy threads steal work from busy ones (tokio's
    /// multi-threaded scheduler) instead of one single-threaded runtime per
    /// thread (fewer cross-thread wake-ups).
    pub work_stealing: bool,
    /// Name of this instance in usage rows and metrics; empty = host name and pid.
    pub instance_id: String,
    /// Largest accepted request body on model endpoints, bytes.
    pub max_body_bytes: usize,
    /// Seconds to keep serving in-flight requests after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Load balancers in front of this gateway (addresses or CIDR ranges)
    /// whose `X-Forwarded-For` names the client. Added to the `access`
    /// plugin's own `trusted_proxies`, so one variable
    /// (`AIHUB_GW_SERVER__TRUSTED_PROXIES`) sets it without restating the
    /// whole plugin list.
    pub trusted_proxies: Vec<String>,
}

/// The control plane this gateway follows.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// Base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// HMAC secret shared with the control plane (at least 32 characters).
    pub shared_secret: String,
    /// Where the last good snapshot is kept.
    pub state_dir: PathBuf,
    /// Long-poll wait per change request, milliseconds.
    pub long_poll_ms: u64,
    /// How often upstream health is reported, milliseconds.
    pub health_report_ms: u64,
}

impl std::fmt::Debug for ControlPlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneConfig")
            .field("url", &self.url)
            .field("shared_secret", &"<redacted>")
            .field("state_dir", &self.state_dir)
            .field("long_poll_ms", &self.long_poll_ms)
            .field("health_report_ms", &self.health_report_ms)
            .finish()
    }
}

/// The local append-only usage spool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Directory of spool segments.
    pub dir: PathBuf,
    /// How often buffered rows are written and synced, milliseconds.
    pub flush_interval_ms: u64,
    /// How often the active segment is sealed for shipping, milliseconds.
    pub ship_interval_ms: u64,
    /// Most rows per shipped batch.
    pub batch_rows: usize,
    /// How far a usage row gets before the response it meters completes:
    /// `write` (in the spool file; survives the gateway's crash), `fsync`
    /// (on disk; survives a power loss), `off` (every flush interval).
    pub durability: crate::spool::Durability,
}

/// ClickHouse usage store; an empty `url` ships usage to the control plane.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`; empty = no ClickHouse.
    pub url: String,
    /// Database name.
    pub database: String,
    /// Table name.
    pub table: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("table", &self.table)
            .field("user", &self.user)
            .finish()
    }
}

/// Redis for rate limits and quotas; an empty `url` keeps them in process.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db`; empty = in process.
    pub url: String,
    /// Prefix of every key the gateway writes.
    pub key_prefix: String,
    /// Longest wait for one Redis call before deciding in process, ms.
    pub timeout_ms: u64,
    /// A reservation whose gateway never settled it is released after this, seconds.
    pub reservation_ttl_secs: u64,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        let shown = match self.url.split_once('@') {
            Some((_, host)) => format!("redis://<credentials>@{host}"),
            None => self.url.clone(),
        };
        f.debug_struct("RedisConfig")
            .field("url", &shown)
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("reservation_ttl_secs", &self.reservation_ttl_secs)
            .finish()
    }
}

/// One pipeline entry: a plugin kind and its settings.
#[derive(Debug, Clone, Deserialize)]
pub struct PluginSpec {
    /// Which plugin (`request_id`, `auth`, `routing`, …).
    pub kind: String,
    /// Its settings; each plugin refuses keys it does not know.
    #[serde(flatten)]
    pub settings: toml::Table,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `aihub_gateway=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The sources could not be read or parsed.
    #[error("configuration: {0}")]
    Load(String),
    /// A value is not acceptable.
    #[error("configuration: {key}: {message}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// What is expected.
        message: String,
    },
}

impl GatewayConfig {
    /// Loads defaults, then `file` if given, then `AIHUB_GW_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Load(format!(
                    "file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // AIHUB_GW_CONFIG_FILE names the file (`--config`), it is no key.
        figment = figment.merge(
            Env::prefixed("AIHUB_GW_")
                .ignore(&["CONFIG_FILE"])
                .split("__"),
        );
        let mut config: GatewayConfig = figment
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.validate()?;
        config.trust_proxies_in_access_plugin()?;
        Ok(config)
    }

    /// Adds `server.trusted_proxies` to the `access` plugin's list.
    fn trust_proxies_in_access_plugin(&mut self) -> Result<(), ConfigError> {
        if self.server.trusted_proxies.is_empty() {
            return Ok(());
        }
        for p in &self.server.trusted_proxies {
            let valid = p.parse::<ipnet::IpNet>().is_ok() || p.parse::<std::net::IpAddr>().is_ok();
            if !valid {
                return Err(ConfigError::Invalid {
                    key: "server.trusted_proxies",
                    message: format!(
                        "expected addresses or CIDR ranges such as 10.0.0.0/8, got '{p}'"
                    ),
                });
            }
        }
        let Some(access) = self.plugins.iter_mut().find(|p| p.kind == "access") else {
            return Err(ConfigError::Invalid {
                key: "server.trusted_proxies",
                message: "the pipeline has no `access` plugin to apply them".into(),
            });
        };
        let list = access
            .settings
            .entry("trusted_proxies")
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        let toml::Value::Array(list) = list else {
            return Err(ConfigError::Invalid {
                key: "plugins.access.trusted_proxies",
                message: "expected a list of addresses or CIDR ranges".into(),
            });
        };
        for p in &self.server.trusted_proxies {
            let value = toml::Value::String(p.clone());
            if !list.contains(&value) {
                list.push(value);
            }
        }
        Ok(())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, message: String) -> ConfigError {
            ConfigError::Invalid { key, message }
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "server.listen",
                format!(
                    "expected an address like 127.0.0.1:8080, got '{}'",
                    self.server.listen
                ),
            ));
        }
        if self.server.ops_listen.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "server.ops_listen",
                format!(
                    "expected an address like 127.0.0.1:9090, got '{}'",
                    self.server.ops_listen
                ),
            ));
        }
        if self.control_plane.health_report_ms < 100 {
            return Err(invalid(
                "control_plane.health_report_ms",
                "expected at least 100".into(),
            ));
        }
        if self.server.threads == 0 {
            return Err(invalid("server.threads", "expected at least 1".into()));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid(
                "server.max_body_bytes",
                "expected at least 1024".into(),
            ));
        }
        let url = &self.control_plane.url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "control_plane.url",
                format!("expected an http(s) URL, got '{url}'"),
            ));
        }
        if self.control_plane.shared_secret.len() < 32 {
            return Err(invalid(
                "control_plane.shared_secret",
                "expected the secret shared with the control plane, at least 32 characters (set AIHUB_GW_CONTROL_PLANE__SHARED_SECRET)".into(),
            ));
        }
        if !(1_000..=60_000).contains(&self.control_plane.long_poll_ms) {
            return Err(invalid(
                "control_plane.long_poll_ms",
                "expected 1000 to 60000".into(),
            ));
        }
        if self.spool.flush_interval_ms == 0 || self.spool.ship_interval_ms == 0 {
            return Err(invalid(
                "spool.flush_interval_ms",
                "intervals must be at least 1 ms".into(),
            ));
        }
        if self.spool.batch_rows == 0 {
            return Err(invalid("spool.batch_rows", "expected at least 1".into()));
        }
        let redis = &self.redis.url;
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return Err(invalid(
                "redis.url",
                "expected empty (limits in process) or a redis:// URL".into(),
            ));
        }
        if !(1..=10_000).contains(&self.redis.timeout_ms) {
            return Err(invalid("redis.timeout_ms", "expected 1 to 10000".into()));
        }
        if self.redis.reservation_ttl_secs < 60 {
            return Err(invalid(
                "redis.reservation_ttl_secs",
                "expected at least 60 (longer than any request)".into(),
            ));
        }
        let ch = &self.clickhouse.url;
        if !(ch.is_empty() || ch.starts_with("http://") || ch.starts_with("https://")) {
            return Err(invalid(
                "clickhouse.url",
                format!("expected empty or an http(s) URL, got '{ch}'"),
            ));
        }
        // A file that sets [[plugins]] replaces the whole list; one that
        // restates only the plugin it meant to change would leave the
        // gateway open or unmetered.
        for (kind, why) in [
            ("auth", "every request would pass without an API key"),
            ("routing", "no request could reach a provider"),
            (
                "metering",
                "requests would be served without counting their tokens",
            ),
            ("usage_sink", "no usage row would be written"),
        ] {
            if !self.plugins.iter().any(|p| p.kind == kind) {
                return Err(invalid(
                    "plugins",
                    format!(
                        "the pipeline has no `{kind}` plugin: {why}. A file that sets [[plugins]] \
                         replaces the whole list: copy every entry of config/gateway.toml and \
                         change only what you need"
                    ),
                ));
            }
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(invalid(
                "log.format",
                format!("expected 'text' or 'json', got '{}'", self.log.format),
            ));
        }
        Ok(())
    }

    /// This instance's name.
    pub fn instance_id(&self) -> String {
        if !self.server.instance_id.is_empty() {
            return self.server.instance_id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "gateway".into());
        format!("{host}-{}", std::process::id())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_secret() -> GatewayConfig {
        let mut c: GatewayConfig = Figment::from(Toml::string(DEFAULTS)).extract().unwrap();
        c.control_plane.shared_secret = "x".repeat(40);
        c
    }

    #[test]
    fn defaults_parse_and_need_a_secret() {
        let c: GatewayConfig = Figment::from(Toml::string(DEFAULTS)).extract().unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("control_plane.shared_secret"), "{err}");
        assert!(with_secret().validate().is_ok());
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = with_secret();
        c.server.listen = "nope".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("server.listen"));
        let mut c = with_secret();
        c.clickhouse.url = "tcp://x".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("clickhouse.url"));
    }

    #[test]
    fn a_pipeline_without_an_essential_plugin_is_refused() {
        for kind in ["auth", "routing", "metering", "usage_sink"] {
            let mut c = with_secret();
            c.plugins.retain(|p| p.kind != kind);
            let err = c.validate().unwrap_err().to_string();
            assert!(
                err.contains("plugins") && err.contains(&format!("`{kind}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<GatewayConfig, _> = Figment::from(Toml::string(DEFAULTS))
            .merge(Toml::string("[server]\nlisten_typo = 1"))
            .extract();
        assert!(r.unwrap_err().to_string().contains("listen_typo"));
    }

    fn access_list(c: &GatewayConfig) -> Vec<String> {
        let access = c.plugins.iter().find(|p| p.kind == "access").unwrap();
        access.settings["trusted_proxies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn server_trusted_proxies_join_the_access_plugins_list() {
        let mut c = with_secret();
        assert!(access_list(&c).is_empty());
        c.server.trusted_proxies = vec!["10.0.0.0/8".into(), "192.0.2.1".into()];
        c.trust_proxies_in_access_plugin().unwrap();
        assert_eq!(access_list(&c), ["10.0.0.0/8", "192.0.2.1"]);
        // Applying twice adds nothing.
        c.trust_proxies_in_access_plugin().unwrap();
        assert_eq!(access_list(&c), ["10.0.0.0/8", "192.0.2.1"]);

        let mut c = with_secret();
        c.server.trusted_proxies = vec!["ten.0.0.0/8".into()];
        let err = c.trust_proxies_in_access_plugin().unwrap_err().to_string();
        assert!(
            err.contains("server.trusted_proxies") && err.contains("ten.0.0.0/8"),
            "{err}"
        );

        let mut c = with_secret();
        c.plugins.retain(|p| p.kind != "access");
        assert!(c.validate().is_ok(), "access is optional");
        c.server.trusted_proxies = vec!["10.0.0.0/8".into()];
        let err = c.trust_proxies_in_access_plugin().unwrap_err().to_string();
        assert!(err.contains("no `access` plugin"), "{err}");
    }
}

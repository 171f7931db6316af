//! Configuration: compiled-in defaults (`config/control-plane.toml`), then an
//! optional file, then `AIHUB_SECTION__KEY` environment variables; unknown
//! keys refused, every value validated with a message that says what to fix.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// The documented defaults, compiled in.
pub const DEFAULTS: &str = include_str!("../../config/control-plane.toml");

/// Prefix of the environment variables read.
pub const ENV_PREFIX: &str = "AIHUB_";

/// Shortest accepted internal shared secret.
pub const MIN_SECRET_LEN: usize = 32;

/// The whole control-plane configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener.
    pub server: ServerConfig,
    /// Database connection.
    pub database: DatabaseConfig,
    /// The internal API shared with gateways.
    pub internal: InternalConfig,
    /// Addresses shown to people.
    pub public: PublicConfig,
    /// Logging.
    pub log: LogConfig,
    /// Developer authentication: token signing, login throttling.
    pub auth: AuthConfig,
    /// Account policy: who may sign up.
    pub accounts: AccountsConfig,
    /// Outgoing email.
    pub email: EmailConfig,
    /// Webhook delivery.
    pub webhooks: WebhooksConfig,
    /// Usage charges, invoices, alerts.
    pub billing: BillingConfig,
    /// The payment provider.
    pub payments: PaymentsConfig,
    /// Where gateways store usage rows when not through this control plane.
    pub clickhouse: ClickHouseConfig,
    /// Batches and tasks.
    pub batches: BatchesConfig,
    /// Analytics rollups and raw-row retention.
    pub analytics: AnalyticsConfig,
}

/// `[analytics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Raw usage rows older than this many whole months are deleted (the
    /// rollups keep their figures); 0 keeps them forever.
    pub raw_retention_months: u32,
}

/// `[batches]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchesConfig {
    /// Where batch items are sent: the gateway, as this control plane reaches it.
    pub gateway_url: String,
    /// Percent off the price of batch items (0 to 100).
    pub discount_percent: u8,
    /// Items in flight at once, all developers.
    pub max_concurrency: usize,
    /// Items in flight at once for one developer.
    pub per_developer_concurrency: usize,
    /// Attempts per item (transient failures) before it fails.
    pub max_attempts: u32,
    /// Longest wait for the gateway's answer to one item, milliseconds.
    pub request_timeout_ms: u64,
    /// How often the worker looks for due items when not woken, milliseconds.
    pub poll_ms: u64,
    /// Requests per batch.
    pub max_requests: usize,
    /// Bytes per uploaded file.
    pub max_file_bytes: usize,
    /// Run the batch worker in this process.
    pub run_worker: bool,
}

/// `[billing]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// Milliseconds between the charger's rounds.
    pub charge_interval_ms: u64,
    /// Hours after a month ends before its invoices are finalized.
    pub invoice_grace_hours: u64,
    /// A low-balance alert fires below this amount (USD, e.g. "1.00").
    pub low_balance_alert: String,
    /// Close months on a schedule (off: only `aihub admin billing close-month`).
    pub close_months: bool,
    /// The plan new developers start on.
    pub default_plan: String,
}

/// `[payments]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// `none` or `stripe`.
    pub provider: String,
    /// Stripe's API base (a stand-in in tests).
    pub stripe_api_base: String,
    /// Stripe secret key (`sk_…`).
    pub stripe_secret_key: SharedSecret,
    /// Stripe webhook signing secret (`whsec_…`).
    pub stripe_webhook_secret: SharedSecret,
    /// Smallest top-up (USD).
    pub min_top_up: String,
    /// Largest top-up (USD).
    pub max_top_up: String,
}

/// `[clickhouse]`: the usage store the gateways write to; empty `url` =
/// the control plane's own table (the embedded default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: SharedSecret,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address, `host:port`.
    pub listen: String,
    /// Check every management API answer against the OpenAPI document
    /// (an answer that does not match becomes 500 `openapi_mismatch`).
    /// For development and the test suite: it copies every answer.
    #[serde(default)]
    pub check_responses: bool,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

/// `[internal]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalConfig {
    /// HMAC secret shared with gateways; empty = not configured.
    pub shared_secret: SharedSecret,
}

/// `[public]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicConfig {
    /// The gateway's public base address.
    pub gateway_url: String,
    /// The portal's public base address, used in emailed links; empty = the
    /// gateway's (which serves the portal).
    pub portal_url: String,
}

impl PublicConfig {
    /// Where emailed links point, without a trailing slash.
    pub fn portal_base(&self) -> &str {
        let url = if self.portal_url.trim().is_empty() {
            &self.gateway_url
        } else {
            &self.portal_url
        };
        url.trim().trim_end_matches('/')
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC secret signing access tokens; empty = not configured.
    pub token_secret: SharedSecret,
    /// Peers whose `x-forwarded-for` is believed (the gateways): IP
    /// addresses or CIDR ranges.
    pub trusted_proxies: Vec<String>,
    /// Failed logins for one email within the window before it is locked.
    pub max_failures_per_account: u32,
    /// Failed logins from one IP address within the window before it is locked.
    pub max_failures_per_ip: u32,
    /// The sliding window failures are counted in, seconds.
    pub failure_window_secs: u64,
    /// How long a lock lasts, seconds.
    pub lockout_secs: u64,
}

impl AuthConfig {
    /// The trusted proxies, parsed (valid after [`Config::validate`]).
    pub fn trusted_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_network(p))
            .collect()
    }
}

/// An address (`10.0.0.7`, a /32 or /128) or a range (`10.0.0.0/8`).
fn parse_network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// `[accounts]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConfig {
    /// Who may create an account through the API.
    pub signup: SignupPolicy,
    /// Codes accepted when `signup = "invite_only"`.
    pub invite_codes: Vec<String>,
    /// Whether a developer must verify their email before creating API keys.
    pub require_email_verification_for_keys: bool,
}

/// Who may sign up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupPolicy {
    /// Anyone.
    Open,
    /// Whoever has one of the invite codes.
    InviteOnly,
    /// Nobody (operators create accounts from the command line).
    Closed,
}

impl SignupPolicy {
    /// Spelling in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SignupPolicy::Open => "open",
            SignupPolicy::InviteOnly => "invite_only",
            SignupPolicy::Closed => "closed",
        }
    }
}

/// `[email]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Deliver over SMTP, or write `.eml` files (development).
    pub mode: EmailMode,
    /// Where `mode = "log"` writes messages.
    pub outbox_dir: String,
    /// SMTP server name.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// Transport security.
    pub smtp_tls: SmtpTls,
    /// SMTP user; empty = no authentication.
    pub smtp_user: String,
    /// SMTP password.
    pub smtp_password: SharedSecret,
    /// Sender, `Name <address>`.
    pub from: String,
}

/// `[webhooks]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliver to private, loopback, link-local and metadata addresses
    /// (refused by default: an endpoint URL must not reach inside).
    pub allow_private_networks: bool,
    /// Longest wait for a receiver's answer, seconds.
    pub timeout_secs: u64,
    /// Deliveries in flight at once, all endpoints together.
    pub max_concurrency: usize,
    /// Deliveries in flight at once to one endpoint.
    pub per_endpoint_concurrency: usize,
    /// An endpoint whose deliveries have all failed for this many hours is
    /// disabled, and its developer told by email and an event.
    pub disable_after_failing_hours: u64,
    /// Delays before each retry, milliseconds (an endpoint's `max_retries`
    /// uses the first ones; the last repeats if it allows more).
    pub retry_delays_ms: Vec<u64>,
}

/// How mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailMode {
    /// Through the configured SMTP server.
    Smtp,
    /// Into `.eml` files in `outbox_dir`, links logged (development).
    Log,
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay only).
    None,
    /// Upgrade with STARTTLS (port 587), required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Level or tracing filter.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret from configuration (the internal API's, the token signing key,
/// the SMTP password). Never printed in clear.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedSecret(String);

impl SharedSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        SharedSecret(secret.into())
    }

    /// The secret itself, for signing and verifying.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no secret is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or did not fit the schema (unknown key, wrong type).
    #[error("cannot load configuration: {0}")]
    Load(String),
    /// Values that are well-formed but unusable, one message per problem.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl ConfigError {
    /// The individual problems (one for a load error).
    pub fn messages(&self) -> Vec<String> {
        match self {
            ConfigError::Load(m) => vec![m.clone()],
            ConfigError::Invalid(v) => v.clone(),
        }
    }
}

/// Environment variables read as configuration: `AIHUB_SECTION__KEY`, except
/// the gateway's (`AIHUB_GW_…`), the test suite's (`AIHUB_TEST_…`) and the
/// command line's own single-word variables (`AIHUB_CONFIG`,
/// `AIHUB_ADMIN_PASSWORD`, …), none of which contain `__`.
pub fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| {
            let k = key.as_str().to_ascii_lowercase();
            k.contains("__") && !k.starts_with("gw_") && !k.starts_with("test_")
        })
        .split("__")
}

impl Config {
    /// Defaults, then `file` when given, then the environment.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(env_provider())
    }

    /// Loads and validates from defaults, `file` and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "configuration file {} does not exist or is not a file",
                    path.display()
                )));
            }
        }
        Config::from_figment(Config::figment(file))
    }

    /// Extracts and validates from any figment (tests build their own).
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; all problems are reported at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();

        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.listen: expected an address like 127.0.0.1:8081, got '{}'",
                self.server.listen
            ));
        }

        if crate::db::Backend::from_url(&self.database.url).is_none() {
            problems.push(format!(
                "database.url: expected sqlite://… or postgres://…, got '{}'",
                redact_url(&self.database.url)
            ));
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            problems.push(format!(
                "database.max_connections: expected a number from 1 to 1000, got {}",
                self.database.max_connections
            ));
        }

        let secret_len = self.internal.shared_secret.expose().chars().count();
        if secret_len > 0 && secret_len < MIN_SECRET_LEN {
            problems.push(format!(
                "internal.shared_secret: expected at least {MIN_SECRET_LEN} characters, got {secret_len}"
            ));
        }

        if !is_http_url(&self.public.gateway_url) {
            problems.push(format!(
                "public.gateway_url: expected an http:// or https:// URL, got '{}'",
                self.public.gateway_url
            ));
        }

        if !self.public.portal_url.trim().is_empty() && !is_http_url(&self.public.portal_url) {
            problems.push(format!(
                "public.portal_url: expected an http:// or https:// URL, or empty for public.gateway_url, got '{}'",
                self.public.portal_url
            ));
        }

        self.validate_accounts(&mut problems);
        self.validate_webhooks(&mut problems);
        self.validate_billing(&mut problems);
        let b = &self.batches;
        if !is_http_url(&b.gateway_url) {
            problems.push("batches.gateway_url: expected an http(s) URL".into());
        }
        if self.analytics.raw_retention_months == 1 {
            problems.push(
                "analytics.raw_retention_months: expected 0 (keep) or at least 2 (months still being billed need their rows)".into(),
            );
        }
        if b.discount_percent > 100 {
            problems.push("batches.discount_percent: expected 0 to 100".into());
        }
        if b.max_concurrency == 0
            || b.per_developer_concurrency == 0
            || b.per_developer_concurrency > b.max_concurrency
        {
            problems.push("batches.max_concurrency, batches.per_developer_concurrency: expected 1 ≤ per developer ≤ max".into());
        }
        if b.max_attempts == 0 || b.max_attempts > 20 {
            problems.push("batches.max_attempts: expected 1 to 20".into());
        }
        if !(1000..=600_000).contains(&b.request_timeout_ms) {
            problems.push("batches.request_timeout_ms: expected 1000 to 600000".into());
        }
        if !(10..=60_000).contains(&b.poll_ms) {
            problems.push("batches.poll_ms: expected 10 to 60000".into());
        }
        if b.max_requests == 0 || b.max_requests > 1_000_000 {
            problems.push("batches.max_requests: expected 1 to 1000000".into());
        }
        if b.max_file_bytes < 1024 || b.max_file_bytes > 1 << 30 {
            problems.push("batches.max_file_bytes: expected 1024 to 1073741824".into());
        }

        if self.log.level.trim().is_empty()
            || tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
        {
            problems.push(format!(
                "log.level: expected error, warn, info, debug, trace or a filter like 'info,sqlx=warn', got '{}'",
                self.log.level
            ));
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// `[auth]`, `[accounts]` and `[email]`.
    fn validate_webhooks(&self, problems: &mut Vec<String>) {
        let w = &self.webhooks;
        if !(1..=300).contains(&w.timeout_secs) {
            problems.push("webhooks.timeout_secs: expected 1 to 300".into());
        }
        if !(1..=4096).contains(&w.max_concurrency) {
            problems.push("webhooks.max_concurrency: expected 1 to 4096".into());
        }
        if w.per_endpoint_concurrency == 0 || w.per_endpoint_concurrency > w.max_concurrency {
            problems.push(
                "webhooks.per_endpoint_concurrency: expected 1 to webhooks.max_concurrency".into(),
            );
        }
        if w.retry_delays_ms.is_empty() || w.retry_delays_ms.iter().any(|d| *d > 604_800_000) {
            problems.push(
                "webhooks.retry_delays_ms: expected a non-empty list of delays up to a week".into(),
            );
        }
        if w.disable_after_failing_hours == 0 {
            problems.push("webhooks.disable_after_failing_hours: expected at least 1".into());
        }
    }

    fn validate_billing(&self, problems: &mut Vec<String>) {
        let b = &self.billing;
        if !(100..=3_600_000).contains(&b.charge_interval_ms) {
            problems.push("billing.charge_interval_ms: expected 100 to 3600000".into());
        }
        if b.invoice_grace_hours > 24 * 31 {
            problems.push("billing.invoice_grace_hours: expected 0 to 744".into());
        }
        if crate::billing::money::parse_positive(
            &b.low_balance_alert,
            "billing.low_balance_alert",
            2,
        )
        .is_err()
        {
            problems.push(format!(
                "billing.low_balance_alert: expected an amount such as \"1.00\", got '{}'",
                b.low_balance_alert
            ));
        }
        let p = &self.payments;
        match p.provider.as_str() {
            "none" => {}
            "stripe" => {
                if !is_http_url(&p.stripe_api_base) {
                    problems.push("payments.stripe_api_base: expected an http(s) URL".into());
                }
                if p.stripe_secret_key.expose().trim().is_empty() {
                    problems.push(
                        "payments.stripe_secret_key: required with provider = \"stripe\"".into(),
                    );
                }
                if p.stripe_webhook_secret.expose().trim().is_empty() {
                    problems.push(
                        "payments.stripe_webhook_secret: required with provider = \"stripe\" (the endpoint's signing secret, whsec_…)".into(),
                    );
                }
            }
            other => problems.push(format!(
                "payments.provider: expected \"none\" or \"stripe\", got '{other}'"
            )),
        }
        let min = crate::billing::money::parse_positive(&p.min_top_up, "payments.min_top_up", 2);
        let max = crate::billing::money::parse_positive(&p.max_top_up, "payments.max_top_up", 2);
        match (min, max) {
            (Ok(a), Ok(b)) if a <= b => {}
            (Ok(_), Ok(_)) => {
                problems.push("payments.min_top_up: must not exceed payments.max_top_up".into())
            }
            _ => problems.push(
                "payments.min_top_up, payments.max_top_up: expected amounts such as \"5.00\""
                    .into(),
            ),
        }
        if !self.clickhouse.url.is_empty() && !is_http_url(&self.clickhouse.url) {
            problems.push("clickhouse.url: expected an http(s) URL or empty".into());
        }
    }

    fn validate_accounts(&self, problems: &mut Vec<String>) {
        let auth = &self.auth;
        let token_len = auth.token_secret.expose().chars().count();
        if token_len > 0 && token_len < MIN_SECRET_LEN {
            problems.push(format!(
                "auth.token_secret: expected at least {MIN_SECRET_LEN} characters, got {token_len}"
            ));
        }
        for p in &auth.trusted_proxies {
            if parse_network(p).is_none() {
                problems.push(format!(
                    "auth.trusted_proxies: expected IP addresses or ranges like 10.0.0.0/8, got '{p}'"
                ));
            }
        }
        for (key, value) in [
            ("max_failures_per_account", auth.max_failures_per_account),
            ("max_failures_per_ip", auth.max_failures_per_ip),
        ] {
            if value == 0 {
                problems.push(format!("auth.{key}: expected at least 1, got 0"));
            }
        }
        for (key, value) in [
            ("failure_window_secs", auth.failure_window_secs),
            ("lockout_secs", auth.lockout_secs),
        ] {
            if !(1..=86_400).contains(&value) {
                problems.push(format!(
                    "auth.{key}: expected 1 to 86400 seconds, got {value}"
                ));
            }
        }

        let accounts = &self.accounts;
        if accounts.signup == SignupPolicy::InviteOnly
            && accounts.invite_codes.iter().all(|c| c.trim().is_empty())
        {
            problems.push(
                "accounts.invite_codes: signup = \"invite_only\" needs at least one code".into(),
            );
        }
        if accounts
            .invite_codes
            .iter()
            .any(|c| c.trim().chars().count() < 8)
        {
            problems.push(
                "accounts.invite_codes: expected codes of at least 8 characters (short codes can be guessed)".into(),
            );
        }

        let email = &self.email;
        if email.from.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(format!(
                "email.from: expected an address like 'AI Hub <no-reply@example.com>', got '{}'",
                email.from
            ));
        }
        match email.mode {
            EmailMode::Smtp => {
                if email.smtp_host.trim().is_empty() {
                    problems.push(
                        "email.smtp_host: expected the SMTP server's name when email.mode = \"smtp\"".into(),
                    );
                }
                if email.smtp_port == 0 {
                    problems.push("email.smtp_port: expected a port from 1 to 65535, got 0".into());
                }
            }
            EmailMode::Log => {
                if email.outbox_dir.trim().is_empty() {
                    problems.push(
                        "email.outbox_dir: expected a folder for outgoing mail when email.mode = \"log\"".into(),
                    );
                }
            }
        }
    }

    /// Checks what `serve` needs beyond [`Config::validate`]: a shared secret.
    pub fn require_shared_secret(&self) -> Result<(), ConfigError> {
        if self.internal.shared_secret.is_empty() {
            return Err(ConfigError::Invalid(vec![format!(
                "internal.shared_secret: expected a secret of at least {MIN_SECRET_LEN} characters shared with the gateways \
                 (set AIHUB_INTERNAL__SHARED_SECRET, or use `aihub up`, which generates one), got an empty value"
            )]));
        }
        Ok(())
    }

    /// Checks the other thing `serve` needs: a key to sign access tokens.
    pub fn require_token_secret(&self) -> Result<(), ConfigError> {
        if self.auth.token_secret.is_empty() {
            return Err(ConfigError::Invalid(vec![format!(
                "auth.token_secret: expected a secret of at least {MIN_SECRET_LEN} characters that signs developers' access tokens \
                 (set AIHUB_AUTH__TOKEN_SECRET, or use `aihub up`, which generates one), got an empty value"
            )]));
        }
        Ok(())
    }

    /// The listen address (valid after [`Config::validate`]).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError::Invalid(vec![format!(
                "server.listen: expected an address like 127.0.0.1:8081, got '{}'",
                self.server.listen
            )])
        })
    }
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

/// Hides a password in a database URL before it is shown.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            // Setting a password fails only for URLs that cannot have one.
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_figment(Figment::from(Toml::string(DEFAULTS))).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8081");
        assert_eq!(c.database.url, "sqlite://data/aihub.db");
        assert_eq!(c.log.format, LogFormat::Text);
        assert!(c.internal.shared_secret.is_empty());
        assert!(c.require_shared_secret().is_err());
    }

    #[test]
    fn env_overrides_and_ignores_gateway_and_cli_variables() {
        Jail::expect_with(|jail| {
            jail.set_env("AIHUB_DATABASE__URL", "postgres://u:pw@localhost/aihub");
            jail.set_env("AIHUB_LOG__FORMAT", "json");
            jail.set_env("AIHUB_GW_CONTROL_PLANE__URL", "http://x");
            jail.set_env("AIHUB_GW_LISTEN", "0.0.0.0:1");
            jail.set_env("AIHUB_TEST_DATABASE__URL", "postgres://elsewhere");
            jail.set_env("AIHUB_CONFIG", "/nonexistent.toml");
            jail.set_env("AIHUB_ADMIN_PASSWORD", "whatever-it-is");
            jail.set_env("AIHUB_PROVIDER_API_KEY", "sk-x");
            // The developer commands' variables (`aihub login` …), some named
            // like sections.
            jail.set_env("AIHUB_SERVER", "http://127.0.0.1:8080");
            jail.set_env("AIHUB_EMAIL", "you@example.com");
            jail.set_env("AIHUB_PASSWORD", "secret");
            jail.set_env("AIHUB_CREDENTIALS", "/tmp/c.json");
            let c = Config::from_figment(Config::figment(None)).unwrap();
            assert_eq!(c.database.url, "postgres://u:pw@localhost/aihub");
            assert_eq!(c.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn env_typo_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("AIHUB_DATABSE__URL", "sqlite://x.db");
            let err = Config::from_figment(Config::figment(None)).unwrap_err();
            assert!(err.to_string().contains("databse"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn file_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file("cp.toml", "[server]\nlisten = \"0.0.0.0:9000\"\n")?;
            let c = Config::load(Some(Path::new("cp.toml"))).unwrap();
            assert_eq!(c.server.listen, "0.0.0.0:9000");
            assert_eq!(c.public.gateway_url, "http://127.0.0.1:8080");
            let missing = Config::load(Some(Path::new("nope.toml"))).unwrap_err();
            assert!(missing.to_string().contains("nope.toml"));
            Ok(())
        });
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let s = SharedSecret::new("x".repeat(40));
        assert!(!format!("{s:?}").contains("xxxx"));
    }

    #[test]
    fn password_is_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}

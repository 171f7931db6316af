//! The configuration a gateway serves from: keys, developers and the model
//! catalog. Sent whole by `GET /internal/v1/snapshot`, then kept current by
//! the change stream's [`Changes`].

use crate::money::Prices;
use serde::{Deserialize, Serialize};

/// Everything a gateway needs to serve requests without a database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Monotonic version: the control plane's last change sequence included.
    pub version: i64,
    /// Every API key that can currently authenticate (disabled ones omitted).
    pub keys: Vec<KeyEntry>,
    /// Status of every developer that owns a key.
    pub developers: Vec<DeveloperEntry>,
    /// Providers and models.
    pub catalog: Catalog,
    /// What each quota scope had used when the snapshot was taken (kept
    /// current for changed keys and developers by [`Changes::usage`]).
    /// Gateways never count below it (see the gateway's `limits` module).
    #[serde(default)]
    pub usage: Vec<UsageBase>,
}

/// Changes since a version. Applying `changes` to the snapshot at
/// `since` gives the snapshot at `version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Changes {
    /// The version these changes start from.
    pub since: i64,
    /// The version after applying them.
    pub version: i64,
    /// Keys created or changed (replace by id).
    pub keys_upsert: Vec<KeyEntry>,
    /// Keys deleted, disabled or revoked (remove by id).
    pub keys_remove: Vec<String>,
    /// Developers created or changed (replace by id).
    pub developers_upsert: Vec<DeveloperEntry>,
    /// The whole catalog when any provider or model changed.
    pub catalog: Option<Catalog>,
    /// Fresh usage bases of the changed keys (those with a quota or budget)
    /// and developers (replace by scope and id): a quota set on a key that
    /// was already in use starts from what it used.
    #[serde(default)]
    pub usage: Vec<UsageBase>,
    /// Set when `since` is too old to answer with changes: fetch a full snapshot.
    pub resync: bool,
}

/// One API key as the gateway sees it: the secret only as its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyEntry {
    /// Key id (public, e.g. `key_…`).
    pub id: String,
    /// Lower-case hex SHA-256 of the full secret.
    pub hash: String,
    /// Owning developer.
    pub developer_id: String,
    /// Unix ms after which the key stops working; `None` = never.
    pub expires_at_ms: Option<i64>,
    /// Models this key may use; `None` = all visible models.
    pub allowed_models: Option<Vec<String>>,
    /// Endpoint families this key may call; `None` = all.
    #[serde(default)]
    pub allowed_endpoints: Option<Vec<EndpointScope>>,
    /// Rate limits, quotas and budgets of this key (each `None` = only the
    /// account's own limits apply).
    #[serde(default)]
    pub limits: KeyLimits,
    /// Client addresses allowed to use the key, as CIDRs (`203.0.113.0/24`,
    /// `2001:db8::/32`); `None` = any address.
    #[serde(default)]
    pub ip_allowlist: Option<Vec<String>>,
}

/// Families of gateway endpoints a key can be scoped to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EndpointScope {
    /// `POST /v1/chat/completions` (and Anthropic-style `POST /v1/messages`).
    Chat,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `/v1/batches…`.
    Batches,
    /// `/v1/files…`.
    Files,
}

impl EndpointScope {
    /// Every scope, in documentation order.
    pub const ALL: [EndpointScope; 5] = [
        EndpointScope::Chat,
        EndpointScope::Completions,
        EndpointScope::Embeddings,
        EndpointScope::Batches,
        EndpointScope::Files,
    ];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointScope::Chat => "chat",
            EndpointScope::Completions => "completions",
            EndpointScope::Embeddings => "embeddings",
            EndpointScope::Batches => "batches",
            EndpointScope::Files => "files",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A key's own limits. Each one can only narrow what the account allows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct KeyLimits {
    /// Requests per minute.
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt + completion) per minute.
    pub tokens_per_minute: Option<u64>,
    /// Tokens over the key's whole life.
    pub token_quota_total: Option<u64>,
    /// Tokens per calendar month (UTC).
    pub token_quota_monthly: Option<u64>,
    /// Spend over the key's whole life, nano-units.
    pub budget_total_nanos: Option<i64>,
    /// Spend per calendar month (UTC), nano-units.
    pub budget_monthly_nanos: Option<i64>,
}

impl KeyLimits {
    /// Whether any quota or budget (not a rate limit) is set.
    pub fn has_quota(&self) -> bool {
        self.token_quota_total.is_some()
            || self.token_quota_monthly.is_some()
            || self.budget_total_nanos.is_some()
            || self.budget_monthly_nanos.is_some()
    }
}

/// Whose usage a [`UsageBase`] counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum UsageScope {
    /// One API key (its grace secret included).
    Key,
    /// A developer account, all keys together.
    Developer,
    /// A developer account's paid usage (see [`Funds`]): `tokens_month` is
    /// the account's tokens this month (all usage, the plan's allowance
    /// first), `cost_nanos_total` what usage beyond the allowance has been
    /// charged ever, `cost_nanos_month` this month; `tokens_total` is 0.
    Funds,
}

/// Usage of one key or developer as the control plane knew it: the starting
/// point of a gateway's quota counters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageBase {
    /// Key or developer.
    pub scope: UsageScope,
    /// Its id (a key id never carries the `:grace` suffix).
    pub id: String,
    /// The calendar month (UTC, `YYYY-MM`) the `*_month` figures are for.
    pub month: String,
    /// Tokens (prompt + completion) used in `month`.
    pub tokens_month: u64,
    /// Cost in `month`, nano-units.
    pub cost_nanos_month: i64,
    /// Tokens used ever (for a developer, whose only quota is monthly, a
    /// change set may send just the month's).
    pub tokens_total: u64,
    /// Cost ever, nano-units.
    pub cost_nanos_total: i64,
}

/// A developer's standing, as far as the gateway cares.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeveloperEntry {
    /// Developer id.
    pub id: String,
    /// False when suspended: every key of the developer is refused.
    pub active: bool,
    /// The account's plan (`None` without a subscription): models offered
    /// to some plans only ([`ModelEntry::plans`]) are served by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// The account's requests per minute, all keys together (`api_rate_limit`).
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// The account's tokens per calendar month, all keys together
    /// (`api_quota_limit`).
    #[serde(default)]
    pub token_quota_monthly: Option<u64>,
    /// What the account may spend: its plan's allowance and its credit.
    /// `None`: billing does not limit this account (operators, or billing
    /// turned off).
    #[serde(default)]
    pub funds: Option<Funds>,
    /// Prices agreed with this account (Enterprise terms), by public model
    /// name; they replace the catalog's for its requests.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub prices: std::collections::BTreeMap<String, Prices>,
}

/// Admission by money for one account. A request is admitted while the
/// plan's monthly token allowance has room for its prompt, or else while
/// the account's credit does; usage beyond the allowance is charged at the
/// model's prices against the credit.
///
/// The gateway compares `spend_limit_nanos` with its `Funds` counter
/// (seeded from the [`UsageScope::Funds`] base, which counts usage charges
/// ever posted): the room is the spendable balance minus what this gateway
/// has charged since. Both only grow with usage, so the gateway's
/// max-merge of counters and bases works as for quotas.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Funds {
    /// The plan's name, for refusal messages ("Free", "Pro", …).
    pub plan: String,
    /// Tokens a calendar month (UTC) the plan includes at no charge.
    pub allowance_tokens_monthly: u64,
    /// The spendable credit plus every usage charge posted so far, in
    /// nano-units; `None` when usage beyond the allowance is invoiced at
    /// month end instead of paid from credit (not limited by money).
    pub spend_limit_nanos: Option<i64>,
}

/// Providers and the public models routed to them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Catalog {
    /// Upstream providers.
    pub providers: Vec<ProviderEntry>,
    /// Public models, each with its deployments in fallback order.
    pub models: Vec<ModelEntry>,
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI's API or any server compatible with it (vLLM, Ollama, …).
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// Parses the configuration spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(ProviderKind::Openai),
            "anthropic" => Some(ProviderKind::Anthropic),
            _ => None,
        }
    }
}

/// An upstream provider. The upstream key travels only over the signed
/// internal API and is never shown to developers.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderEntry {
    /// Provider id.
    pub id: String,
    /// Operator-facing name.
    pub name: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Upstream credential (may be empty for local servers).
    pub api_key: String,
    /// Disabled providers are skipped by routing.
    pub enabled: bool,
}

impl std::fmt::Debug for ProviderEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderEntry")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// A public model name and where it is served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// The name clients send (`gpt-4o-mini`).
    pub name: String,
    /// What it costs the developer.
    pub prices: Prices,
    /// The plans whose developers may use it; empty: every plan. Others
    /// are told the model does not exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<String>,
    /// Deployments: tried by weight among the first healthy priority group,
    /// then the next on connection error, timeout or 5xx.
    pub deployments: Vec<DeploymentEntry>,
}

/// One upstream serving a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeploymentEntry {
    /// Deployment id.
    pub id: String,
    /// Provider it runs on.
    pub provider_id: String,
    /// Model name the provider expects.
    pub upstream_model: String,
    /// Relative weight among deployments of the same priority.
    pub weight: u32,
    /// Lower is tried first.
    pub priority: i32,
    /// Per-attempt timeout, milliseconds.
    pub timeout_ms: u64,
}

impl Snapshot {
    /// Applies a change set in place.
    pub fn apply(&mut self, changes: Changes) {
        if !changes.keys_remove.is_empty() || !changes.keys_upsert.is_empty() {
            let drop: std::collections::HashSet<&str> = changes
                .keys_remove
                .iter()
                .map(String::as_str)
                .chain(changes.keys_upsert.iter().map(|k| k.id.as_str()))
                .collect();
            self.keys.retain(|k| !drop.contains(k.id.as_str()));
            self.keys.extend(changes.keys_upsert);
        }
        if !changes.developers_upsert.is_empty() {
            let ids: std::collections::HashSet<String> = changes
                .developers_upsert
                .iter()
                .map(|d| d.id.clone())
                .collect();
            self.developers.retain(|d| !ids.contains(&d.id));
            self.developers.extend(changes.developers_upsert);
        }
        if let Some(catalog) = changes.catalog {
            self.catalog = catalog;
        }
        if !changes.usage.is_empty() {
            let fresh: std::collections::HashSet<(UsageScope, String)> = changes
                .usage
                .iter()
                .map(|u| (u.scope, u.id.clone()))
                .collect();
            self.usage
                .retain(|u| !fresh.contains(&(u.scope, u.id.clone())));
            self.usage.extend(changes.usage);
        }
        self.version = changes.version;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(id: &str, hash: &str) -> KeyEntry {
        KeyEntry {
            id: id.into(),
            hash: hash.into(),
            developer_id: "dev_1".into(),
            expires_at_ms: None,
            allowed_models: None,
            allowed_endpoints: None,
            limits: KeyLimits::default(),
            ip_allowlist: None,
        }
    }

    #[test]
    fn old_entries_without_limits_still_parse() {
        let k: KeyEntry = serde_json::from_str(
            r#"{"id":"k","hash":"h","developer_id":"d","expires_at_ms":null,"allowed_models":null}"#,
        )
        .unwrap();
        assert_eq!(k.limits, KeyLimits::default());
        let d: DeveloperEntry = serde_json::from_str(r#"{"id":"d","active":true}"#).unwrap();
        assert_eq!(d.requests_per_minute, None);
        assert_eq!(EndpointScope::parse("files"), Some(EndpointScope::Files));
        assert_eq!(EndpointScope::parse("nope"), None);
    }

    #[test]
    fn apply_replaces_and_removes() {
        let mut s = Snapshot {
            version: 1,
            keys: vec![key("a", "1"), key("b", "2")],
            ..Snapshot::default()
        };
        s.apply(Changes {
            since: 1,
            version: 3,
            keys_upsert: vec![key("a", "9")],
            keys_remove: vec!["b".into()],
            ..Changes::default()
        });
        assert_eq!(s.version, 3);
        assert_eq!(s.keys, vec![key("a", "9")]);
    }

    #[test]
    fn provider_debug_hides_key() {
        let p = ProviderEntry {
            id: "p".into(),
            name: "n".into(),
            kind: ProviderKind::Openai,
            base_url: "http://x".into(),
            api_key: "sk-secret".into(),
            enabled: true,
        };
        assert!(!format!("{p:?}").contains("sk-secret"));
    }
}

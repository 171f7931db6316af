//! The in-memory tables every request reads: keys by hash, developers,
//! models and providers. Built from a [`Snapshot`] off the request path and
//! swapped in atomically; a request keeps the `Arc` it started with, so it
//! sees one consistent configuration.

use aihub_contract::money::Prices;
use aihub_contract::snapshot::{
    EndpointScope, Funds, KeyLimits, ProviderKind, Snapshot, UsageBase, UsageScope,
};
use arc_swap::ArcSwap;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// An API key as the request path needs it.
#[derive(Debug)]
pub struct KeyInfo {
    /// Key id as in usage rows (`key_…`, or `key_…:grace` for a regenerated
    /// key's previous secret).
    pub id: String,
    /// The key itself (`id` without `:grace`): what limits and quotas count by.
    pub base_id: String,
    /// Owning developer.
    pub developer_id: String,
    /// Unix ms after which the key is refused.
    pub expires_at_ms: Option<i64>,
    /// Models the key may use; `None` = all.
    pub allowed_models: Option<Vec<String>>,
    /// Endpoint families the key may call; `None` = all.
    pub allowed_endpoints: Option<Vec<EndpointScope>>,
    /// Rate limits, quotas and budgets.
    pub limits: KeyLimits,
    /// Client networks allowed; `None` = any.
    pub ip_allowlist: Option<Vec<IpNet>>,
}

impl KeyInfo {
    /// Whether this key may call endpoints of `scope`.
    pub fn allows_endpoint(&self, scope: EndpointScope) -> bool {
        self.allowed_endpoints
            .as_ref()
            .is_none_or(|e| e.contains(&scope))
    }

    /// Whether a client at `ip` may use this key.
    pub fn allows_ip(&self, ip: Option<std::net::IpAddr>) -> bool {
        match (&self.ip_allowlist, ip) {
            (None, _) => true,
            (Some(nets), Some(ip)) => nets.iter().any(|n| n.contains(&ip)),
            (Some(_), None) => false,
        }
    }

    /// Whether this key may call `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == model))
    }
}

/// Where and how to reach a provider, resolved once per configuration.
#[derive(Debug)]
pub struct Upstream {
    /// Provider id.
    pub provider_id: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Resolved address.
    pub addr: SocketAddr,
    /// TLS on?
    pub tls: bool,
    /// Host name for SNI and the Host header.
    pub host: String,
    /// `Host` header value (host, plus port when not the scheme's default).
    pub host_header: String,
    /// Path prefix of the base URL, without a trailing slash (e.g. `/v1`).
    pub base_path: String,
    /// Upstream credential.
    pub api_key: String,
}

/// One deployment, ready to dial.
#[derive(Debug)]
pub struct Deployment {
    /// Deployment id.
    pub id: String,
    /// Its provider.
    pub upstream: Arc<Upstream>,
    /// Model name the provider expects.
    pub upstream_model: String,
    /// Relative weight within its priority.
    pub weight: u32,
    /// Lower is tried first.
    pub priority: i32,
    /// Per-attempt timeout.
    pub timeout: std::time::Duration,
    /// Its recent record and ejection state (kept across reloads).
    pub health: Arc<crate::health::Health>,
}

/// A public model.
#[derive(Debug)]
pub struct Model {
    /// Public name.
    pub name: String,
    /// Prices.
    pub prices: Prices,
    /// Plans it is offered to; empty: every plan.
    pub plans: Vec<String>,
    /// Deployments sorted by priority.
    pub deployments: Vec<Arc<Deployment>>,
}

/// The compiled configuration.
#[derive(Debug, Default)]
pub struct Tables {
    /// Version of the snapshot these tables come from.
    pub version: i64,
    /// Keys by the raw SHA-256 of their secret.
    pub keys: HashMap<[u8; 32], Arc<KeyInfo>>,
    /// The same keys by id, for batch traffic (`x-aihub-batch` names the key
    /// by id). `:grace` entries are left out: a regenerated key's old secret
    /// keeps working for its grace period, but batches run as the key itself.
    pub keys_by_id: HashMap<String, Arc<KeyInfo>>,
    /// Suspended developers (everything else is active).
    pub suspended: std::collections::HashSet<String>,
    /// Account-wide limits by developer id (developers without limits absent).
    pub account_limits: HashMap<String, AccountLimits>,
    /// Usage known to the control plane when the snapshot was taken, by
    /// scope and id: where quota counters start.
    pub usage_bases: HashMap<(UsageScope, String), UsageBase>,
    /// Models by public name.
    pub models: HashMap<String, Arc<Model>>,
    /// Sorted public model names, for `GET /v1/models`.
    pub model_names: Vec<String>,
    /// Prices agreed with single developers: by developer id, then model
    /// name (looked up by `&str`, no allocation per request).
    pub custom_prices: HashMap<String, HashMap<String, Prices>>,
    /// Each developer's plan id (developers without a subscription absent).
    pub plans: HashMap<String, String>,
}

impl Tables {
    /// Whether `developer_id` may use `model`: it is offered to every plan,
    /// or to the developer's.
    pub fn offers(&self, developer_id: &str, model: &Model) -> bool {
        model.plans.is_empty()
            || self
                .plans
                .get(developer_id)
                .is_some_and(|p| model.plans.iter().any(|m| m == p))
    }

    /// What `model` costs `developer_id`: the price agreed with the
    /// developer, else the model's.
    pub fn prices_for<'a>(&'a self, developer_id: &str, model: &'a Model) -> &'a Prices {
        self.custom_prices
            .get(developer_id)
            .and_then(|m| m.get(model.name.as_str()))
            .unwrap_or(&model.prices)
    }
}

/// A developer account's own limits, shared by all its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// Requests per minute (`api_rate_limit`).
    pub requests_per_minute: Option<u64>,
    /// Tokens per calendar month (`api_quota_limit`).
    pub token_quota_monthly: Option<u64>,
    /// What the account may spend (plan allowance, spend limit); `None` =
    /// not limited by money. Admitted by the `quota` plugin's funds scope.
    pub funds: Option<Funds>,
}

/// Problems found while compiling a snapshot; the bad entries are skipped.
pub type Warnings = Vec<String>;

impl Tables {
    /// Compiles a snapshot. Resolves provider host names (blocking DNS), so call
    /// it off the request path. Deployments take their health from `health`,
    /// which forgets the ones the snapshot no longer has.
    pub fn build(snapshot: &Snapshot, health: &crate::health::Registry) -> (Tables, Warnings) {
        let mut warnings = Vec::new();
        let mut keys = HashMap::with_capacity(snapshot.keys.len());
        let mut keys_by_id = HashMap::with_capacity(snapshot.keys.len());
        for k in &snapshot.keys {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&k.hash, &mut hash).is_err() {
                warnings.push(format!("key {}: hash is not 64 hex characters", k.id));
                continue;
            }
            let ip_allowlist = match &k.ip_allowlist {
                None => None,
                Some(list) => {
                    let nets: Vec<IpNet> = list
                        .iter()
                        .filter_map(|c| {
                            let net = c
                                .parse::<IpNet>()
                                .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from));
                            if net.is_err() {
                                warnings.push(format!("key {}: '{c}' is not a CIDR", k.id));
                            }
                            net.ok()
                        })
                        .collect();
                    // A list whose entries are all bad allows nobody, never everybody.
                    Some(nets)
                }
            };
            let info = Arc::new(KeyInfo {
                id: k.id.clone(),
                base_id: aihub_contract::keys::base_key_id(&k.id).to_string(),
                developer_id: k.developer_id.clone(),
                expires_at_ms: k.expires_at_ms,
                allowed_models: k.allowed_models.clone(),
                allowed_endpoints: k.allowed_endpoints.clone(),
                limits: k.limits.clone(),
                ip_allowlist,
            });
            if info.id == info.base_id {
                keys_by_id.insert(info.id.clone(), info.clone());
            }
            keys.insert(hash, info);
        }
        let suspended = snapshot
            .developers
            .iter()
            .filter(|d| !d.active)
            .map(|d| d.id.clone())
            .collect();
        let custom_prices = snapshot
            .developers
            .iter()
            .filter(|d| !d.prices.is_empty())
            .map(|d| {
                let prices = d.prices.iter().map(|(m, p)| (m.clone(), p.clone()));
                (d.id.clone(), prices.collect())
            })
            .collect();
        let plans = snapshot
            .developers
            .iter()
            .filter_map(|d| Some((d.id.clone(), d.plan_id.clone()?)))
            .collect();
        let account_limits = snapshot
            .developers
            .iter()
            .filter(|d| {
                d.requests_per_minute.is_some()
                    || d.token_quota_monthly.is_some()
                    || d.funds.is_some()
            })
            .map(|d| {
                (
                    d.id.clone(),
                    AccountLimits {
                        requests_per_minute: d.requests_per_minute,
                        token_quota_monthly: d.token_quota_monthly,
                        funds: d.funds.clone(),
                    },
                )
            })
            .collect();
        let usage_bases = snapshot
            .usage
            .iter()
            .map(|u| ((u.scope, u.id.clone()), u.clone()))
            .collect();

        let mut upstreams: HashMap<&str, Arc<Upstream>> = HashMap::new();
        for p in snapshot.catalog.providers.iter().filter(|p| p.enabled) {
            match parse_upstream(&p.base_url) {
                Ok((tls, host, port, base_path)) => {
                    let addr = match (host.as_str(), port).to_socket_addrs() {
                        Ok(mut addrs) => addrs.next(),
                        Err(_) => None,
                    };
                    let Some(addr) = addr else {
                        warnings.push(format!("provider {}: cannot resolve {host}", p.name));
                        continue;
                    };
                    let default_port = if tls { 443 } else { 80 };
                    let host_header = if port == default_port {
                        host.clone()
                    } else {
                        format!("{host}:{port}")
                    };
                    upstreams.insert(
                        p.id.as_str(),
                        Arc::new(Upstream {
                            provider_id: p.id.clone(),
                            kind: p.kind,
                            addr,
                            tls,
                            host,
                            host_header,
                            base_path,
                            api_key: p.api_key.clone(),
                        }),
                    );
                }
                Err(e) => warnings.push(format!("provider {}: {e}", p.name)),
            }
        }

        let mut models = HashMap::new();
        for m in &snapshot.catalog.models {
            let mut deployments: Vec<Arc<Deployment>> = m
                .deployments
                .iter()
                .filter_map(|d| {
                    let upstream = upstreams.get(d.provider_id.as_str())?.clone();
                    Some(Arc::new(Deployment {
                        id: d.id.clone(),
                        upstream,
                        upstream_model: d.upstream_model.clone(),
                        weight: d.weight.max(1),
                        priority: d.priority,
                        timeout: std::time::Duration::from_millis(d.timeout_ms.max(1)),
                        health: health.get(&d.id),
                    }))
                })
                .collect();
            deployments.sort_by_key(|d| d.priority);
            models.insert(
                m.name.clone(),
                Arc::new(Model {
                    name: m.name.clone(),
                    prices: m.prices.clone(),
                    plans: m.plans.clone(),
                    deployments,
                }),
            );
        }
        health.retain(
            &snapshot
                .catalog
                .models
                .iter()
                .flat_map(|m| m.deployments.iter().map(|d| d.id.as_str()))
                .collect(),
        );
        let mut model_names: Vec<String> = models.keys().cloned().collect();
        model_names.sort();
        (
            Tables {
                version: snapshot.version,
                keys,
                keys_by_id,
                suspended,
                account_limits,
                custom_prices,
                plans,
                usage_bases,
                models,
                model_names,
            },
            warnings,
        )
    }
}

/// Splits a base URL into (tls, host, port, path prefix).
fn parse_upstream(url: &str) -> Result<(bool, String, u16, String), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("base URL '{url}' is not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(format!(
                "base URL '{url}' must start with http:// or https://"
            ))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("base URL '{url}' has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri.path().trim_end_matches('/').to_string();
    Ok((tls, host, port, path))
}

/// The live tables, swapped atomically when configuration changes.
pub struct Live {
    current: ArcSwap<Tables>,
    loaded: std::sync::atomic::AtomicBool,
    /// Deployments' health, across reloads.
    pub health: crate::health::Registry,
}

impl Live {
    /// Empty tables, not yet loaded.
    pub fn new() -> Self {
        Live {
            current: ArcSwap::from_pointee(Tables::default()),
            loaded: std::sync::atomic::AtomicBool::new(false),
            health: crate::health::Registry::default(),
        }
    }

    /// The tables now.
    pub fn load(&self) -> Arc<Tables> {
        self.current.load_full()
    }

    /// Installs new tables.
    pub fn store(&self, tables: Tables) {
        self.current.store(Arc::new(tables));
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether any configuration (from disk or the control plane) is installed.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aihub_contract::snapshot::*;

    #[test]
    fn parses_base_urls() {
        assert_eq!(
            parse_upstream("http://127.0.0.1:9000/v1/").unwrap(),
            (false, "127.0.0.1".into(), 9000, "/v1".into())
        );
        assert_eq!(
            parse_upstream("https://api.openai.com/v1").unwrap(),
            (true, "api.openai.com".into(), 443, "/v1".into())
        );
        assert!(parse_upstream("ftp://x").is_err());
    }

    #[test]
    fn builds_routes_and_skips_bad_entries() {
        let snap = Snapshot {
            version: 7,
            keys: vec![
                KeyEntry {
                    id: "key_a".into(),
                    hash: "ab".repeat(32),
                    developer_id: "dev_1".into(),
                    expires_at_ms: None,
                    allowed_models: None,
                    allowed_endpoints: None,
                    limits: Default::default(),
                    ip_allowlist: None,
                },
                KeyEntry {
                    id: "key_a:grace".into(),
                    hash: "cd".repeat(32),
                    developer_id: "dev_1".into(),
                    expires_at_ms: None,
                    allowed_models: None,
                    allowed_endpoints: None,
                    limits: Default::default(),
                    ip_allowlist: None,
                },
                KeyEntry {
                    id: "key_bad".into(),
                    hash: "zz".into(),
                    developer_id: "dev_1".into(),
                    expires_at_ms: None,
                    allowed_models: None,
                    allowed_endpoints: None,
                    limits: Default::default(),
                    ip_allowlist: None,
                },
            ],
            developers: vec![
                DeveloperEntry {
                    id: "dev_2".into(),
                    active: false,
                    plan_id: Some("free".into()),
                    requests_per_minute: None,
                    token_quota_monthly: None,
                    funds: None,
                    prices: Default::default(),
                },
                DeveloperEntry {
                    id: "dev_1".into(),
                    active: true,
                    plan_id: Some("pro".into()),
                    requests_per_minute: None,
                    token_quota_monthly: None,
                    funds: Some(Funds {
                        plan: "Free".into(),
                        allowance_tokens_monthly: 1000,
                        spend_limit_nanos: Some(0),
                    }),
                    prices: [(
                        "m".to_string(),
                        Prices {
                            input_per_million: 7.into(),
                            ..Prices::default()
                        },
                    )]
                    .into(),
                },
            ],
            catalog: Catalog {
                providers: vec![ProviderEntry {
                    id: "prov_1".into(),
                    name: "local".into(),
                    kind: ProviderKind::Openai,
                    base_url: "http://127.0.0.1:9/v1".into(),
                    api_key: "k".into(),
                    enabled: true,
                }],
                models: vec![ModelEntry {
                    name: "m".into(),
                    prices: Prices::default(),
                    plans: vec!["pro".into(), "enterprise".into()],
                    deployments: vec![
                        DeploymentEntry {
                            id: "dep_2".into(),
                            provider_id: "prov_1".into(),
                            upstream_model: "m2".into(),
                            weight: 1,
                            priority: 5,
                            timeout_ms: 1000,
                        },
                        DeploymentEntry {
                            id: "dep_1".into(),
                            provider_id: "prov_1".into(),
                            upstream_model: "m1".into(),
                            weight: 1,
                            priority: 0,
                            timeout_ms: 1000,
                        },
                        DeploymentEntry {
                            id: "dep_x".into(),
                            provider_id: "prov_missing".into(),
                            upstream_model: "m".into(),
                            weight: 1,
                            priority: 0,
                            timeout_ms: 1000,
                        },
                    ],
                }],
            },
            usage: Vec::new(),
        };
        let (t, warnings) = Tables::build(&snap, &crate::health::Registry::default());
        assert_eq!(t.version, 7);
        assert_eq!(t.keys.len(), 2);
        // By id: the key itself, never its grace entry (nor a skipped one).
        assert_eq!(
            t.keys_by_id.keys().collect::<Vec<_>>(),
            vec![&"key_a".to_string()]
        );
        assert!(Arc::ptr_eq(&t.keys_by_id["key_a"], &t.keys[&[0xab; 32]]));
        assert_eq!(warnings.len(), 1);
        assert!(t.suspended.contains("dev_2"));
        // Funds alone make account data; no limits at all make none.
        assert_eq!(
            t.account_limits["dev_1"]
                .funds
                .as_ref()
                .map(|f| f.plan.as_str()),
            Some("Free")
        );
        assert!(!t.account_limits.contains_key("dev_2"));
        let m = &t.models["m"];
        let ids: Vec<&str> = m.deployments.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, vec!["dep_1", "dep_2"]);
        assert_eq!(m.deployments[0].upstream.host_header, "127.0.0.1:9");
        // A price agreed with dev_1 replaces the model's for dev_1 only.
        assert_eq!(
            t.prices_for("dev_1", m),
            &Prices {
                input_per_million: 7.into(),
                ..Prices::default()
            }
        );
        assert_eq!(t.prices_for("dev_2", m), &m.prices);
        // "m" is offered to Pro and Enterprise: dev_1 (Pro) only; an
        // account without a plan is not offered it either.
        assert!(t.offers("dev_1", m));
        assert!(!t.offers("dev_2", m));
        assert!(!t.offers("dev_unknown", m));
    }
}

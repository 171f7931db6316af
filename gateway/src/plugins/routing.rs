//! `routing`: maps the public model name to an ordered list of deployments
//! and moves to the next one when an attempt fails before anything reached
//! the client (connection error, timeout, a 5xx from the upstream, or the
//! upstream refusing the operator's credentials with 401/403).
//!
//! Order: deployments of the lowest priority first, shuffled by weight; then
//! the next priority. At most `max_attempts` are tried. Ejected deployments
//! ([`crate::health`]) are skipped while another can serve; every attempt's
//! outcome is recorded in its deployment's health.

use crate::context::{now_ms, Attempt, Endpoint, Failure, RequestCtx, Route};
use crate::errors::ApiError;
use crate::health::{Policy, Verdict};
use crate::metrics::Metrics;
use crate::pipeline::{settings, Outcome, Plugin};
use crate::tables::Deployment;
use crate::Shared;
use aihub_contract::snapshot::ProviderKind;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{Error, ErrorType};
use rand::Rng;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// The plugin.
pub struct Routing {
    max_attempts: usize,
    policy: Policy,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_attempts")]
    max_attempts: usize,
    #[serde(default = "default_eject_after")]
    eject_after_failures: u32,
    #[serde(default = "default_ejection_ms")]
    ejection_ms: u64,
    #[serde(default = "default_max_ejection_ms")]
    max_ejection_ms: u64,
    #[serde(default = "default_probe_interval_ms")]
    probe_interval_ms: u64,
}

fn default_attempts() -> usize {
    3
}
fn default_eject_after() -> u32 {
    Policy::default().eject_after_failures
}
fn default_ejection_ms() -> u64 {
    Policy::default().ejection_ms
}
fn default_max_ejection_ms() -> u64 {
    Policy::default().max_ejection_ms
}
fn default_probe_interval_ms() -> u64 {
    Policy::default().probe_interval_ms
}

impl Routing {
    /// Builds it from settings.
    pub fn build(table: toml::Table, shared: &Arc<Shared>) -> Result<Box<dyn Plugin>, String> {
        let s: Settings = settings(table)?;
        if s.max_attempts == 0 || s.max_attempts > 10 {
            return Err("max_attempts: expected 1 to 10".into());
        }
        if s.ejection_ms == 0 || s.max_ejection_ms < s.ejection_ms {
            return Err("ejection_ms: expected more than 0 and at most max_ejection_ms".into());
        }
        if s.probe_interval_ms == 0 {
            return Err("probe_interval_ms: expected more than 0".into());
        }
        Ok(Box::new(Routing {
            max_attempts: s.max_attempts,
            policy: Policy {
                eject_after_failures: s.eject_after_failures,
                ejection_ms: s.ejection_ms,
                max_ejection_ms: s.max_ejection_ms,
                probe_interval_ms: s.probe_interval_ms,
            },
            metrics: shared.metrics.clone(),
        }))
    }

    /// Records a failed attempt; logs and counts an ejection.
    fn failed(&self, d: &Deployment) {
        if let Verdict::Ejected(until) = d.health.failure(now_ms_u64(), &self.policy) {
            tracing::warn!(
                deployment = %d.id,
                provider = %d.upstream.provider_id,
                until_ms = until,
                "deployment ejected after failing in a row; recovery probes from then on"
            );
            self.metrics
                .upstream_ejections
                .with_label_values(&[d.upstream.provider_id.as_str(), d.id.as_str()])
                .inc();
        }
    }
}

fn now_ms_u64() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

/// Whether a provider protocol can serve an endpoint.
fn serves(kind: ProviderKind, endpoint: Endpoint) -> bool {
    match kind {
        ProviderKind::Openai => true,
        ProviderKind::Anthropic => endpoint == Endpoint::ChatCompletions,
    }
}

/// Orders deployments: by priority, weighted-random within a priority.
pub fn order(deployments: &[Arc<Deployment>], rng: &mut impl Rng) -> Vec<Arc<Deployment>> {
    let mut out = Vec::with_capacity(deployments.len());
    let mut i = 0;
    while i < deployments.len() {
        let priority = deployments[i].priority;
        let mut group: Vec<Arc<Deployment>> = deployments[i..]
            .iter()
            .take_while(|d| d.priority == priority)
            .cloned()
            .collect();
        i += group.len();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|d| u64::from(d.weight)).sum();
            let mut pick = rng.gen_range(0..total.max(1));
            let mut chosen = 0;
            for (j, d) in group.iter().enumerate() {
                if pick < u64::from(d.weight) {
                    chosen = j;
                    break;
                }
                pick -= u64::from(d.weight);
            }
            out.push(group.remove(chosen));
        }
    }
    out
}

#[async_trait]
impl Plugin for Routing {
    fn name(&self) -> &'static str {
        "routing"
    }

    async fn on_request(&self, _req: &RequestHeader, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let Route::Model(endpoint) = ctx.route else {
            return Ok(());
        };
        let Some(name) = ctx.request.as_ref().map(|r| r.model.as_str()) else {
            return Ok(());
        };
        let not_found = || {
            ApiError::not_found(
                "model_not_found",
                format!("The model '{name}' does not exist or you do not have access to it."),
            )
            .with_param("model")
        };
        let model = ctx.tables.models.get(name).cloned().ok_or_else(not_found)?;
        if let Some(key) = &ctx.key {
            if !ctx.tables.offers(&key.developer_id, &model) {
                return Err(not_found());
            }
            if !key.allows_model(name) {
                return Err(ApiError::forbidden(
                    "model_not_allowed",
                    format!("This API key is not allowed to use the model '{name}'. Edit the key's allowed models in the AI Hub portal."),
                )
                .with_param("model"));
            }
        }
        let usable: Vec<Arc<Deployment>> = model
            .deployments
            .iter()
            .filter(|d| serves(d.upstream.kind, endpoint))
            .cloned()
            .collect();
        if usable.is_empty() {
            return Err(if model.deployments.is_empty() {
                ApiError::upstream(
                    503,
                    format!("The model '{name}' has no available deployment right now."),
                )
            } else {
                ApiError::invalid_request(
                    "unsupported_endpoint",
                    format!(
                        "The model '{name}' does not support /v1/{}.",
                        endpoint.upstream_path().trim_start_matches('/')
                    ),
                )
            });
        }
        let mut candidates = order(&usable, &mut rand::thread_rng());
        // Ejected deployments wait while another can serve; when every one
        // is ejected, all are tried. Only then is the list filtered (the
        // usual case reads one atomic per deployment, no allocation).
        if candidates.iter().any(|d| d.health.is_ejected()) {
            let now = now_ms_u64();
            let admitted: Vec<Arc<Deployment>> = candidates
                .iter()
                .filter(|d| d.health.admits(now, &self.policy))
                .cloned()
                .collect();
            if !admitted.is_empty() {
                candidates = admitted;
            }
        }
        candidates.truncate(self.max_attempts);
        // Popped from the back, so store in reverse.
        candidates.reverse();
        ctx.candidates = candidates;
        ctx.model = Some(model);
        Ok(())
    }

    fn on_attempt(&self, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        // An attempt replaced before any answer was judged failed (connection
        // error, timeout).
        if let Some(prev) = ctx.attempt.as_ref().filter(|a| !a.judged) {
            self.failed(&prev.deployment);
        }
        let Some(deployment) = ctx.candidates.pop() else {
            return Err(ApiError::upstream(502, "No upstream is left to try."));
        };
        ctx.attempts = ctx.attempts.saturating_add(1);
        if ctx.first_attempt_at.is_none() {
            ctx.first_attempt_at = Some(Instant::now());
        }
        ctx.upstream_status = None;
        ctx.attempt = Some(Attempt {
            deployment,
            body: Bytes::new(),
            started: Instant::now(),
            judged: false,
        });
        Ok(())
    }

    fn on_upstream_response(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let status = resp.status.as_u16();
        // 5xx, and 401/403: the provider refusing the operator's credentials
        // is never the client's fault.
        let failed = status >= 500 || status == 401 || status == 403;
        if let Some(a) = ctx.attempt.as_mut().filter(|a| !a.judged) {
            a.judged = true;
            if failed {
                self.failed(&a.deployment);
            } else {
                let latency = u64::try_from(a.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                if a.deployment.health.success(now_ms_u64(), latency) {
                    tracing::info!(deployment = %a.deployment.id, "deployment back in rotation after a good probe");
                }
            }
        }
        if matches!(ctx.route, Route::Model(_)) && failed && !ctx.candidates.is_empty() {
            // Nothing has reached the client yet: try the next deployment.
            let mut e = Error::explain(
                ErrorType::HTTPStatus(status),
                "upstream attempt failed; falling back to the next deployment",
            );
            e.set_retry(true);
            return Err(e);
        }
        Ok(())
    }

    fn on_done(&self, _outcome: &Outcome, ctx: &mut RequestCtx) {
        // The last attempt never answered (connection error, timeout), and
        // not because the client left.
        if let Some(a) = ctx.attempt.as_ref().filter(|a| !a.judged) {
            if ctx.failure == Some(Failure::Upstream) {
                self.failed(&a.deployment);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tables::Upstream;
    use rand::SeedableRng;

    fn dep(id: &str, priority: i32, weight: u32) -> Arc<Deployment> {
        Arc::new(Deployment {
            id: id.into(),
            upstream: Arc::new(Upstream {
                provider_id: "p".into(),
                kind: ProviderKind::Openai,
                addr: "127.0.0.1:1".parse().unwrap(),
                tls: false,
                host: "127.0.0.1".into(),
                host_header: "127.0.0.1:1".into(),
                base_path: "/v1".into(),
                api_key: String::new(),
            }),
            upstream_model: "m".into(),
            weight,
            priority,
            timeout: std::time::Duration::from_secs(1),
            health: Default::default(),
        })
    }

    #[test]
    fn priorities_first_weights_within() {
        let deps = vec![dep("a", 0, 1), dep("b", 0, 9), dep("c", 1, 1)];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b_first = 0;
        for _ in 0..1000 {
            let o = order(&deps, &mut rng);
            assert_eq!(o.len(), 3);
            assert_eq!(o[2].id, "c");
            if o[0].id == "b" {
                b_first += 1;
            }
        }
        // Weight 9 of 10: about 900 of 1000.
        assert!((820..=970).contains(&b_first), "{b_first}");
    }

    #[test]
    fn anthropic_serves_chat_only() {
        assert!(serves(ProviderKind::Anthropic, Endpoint::ChatCompletions));
        assert!(!serves(ProviderKind::Anthropic, Endpoint::Embeddings));
        assert!(serves(ProviderKind::Openai, Endpoint::Embeddings));
    }
}

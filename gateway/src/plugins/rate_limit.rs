//! `rate_limit`: requests and tokens per minute, per key and per account.
//!
//! The checks of a request: the key's requests/min, the account's
//! requests/min (`api_rate_limit`, all keys together) and the key's
//! tokens/min. Tokens are counted at admission from an estimate, as
//! OpenAI does: ⌈prompt characters / 4⌉ plus `max_tokens` (or
//! `max_completion_tokens`, or `default_completion_tokens`). All pass or
//! none is counted; a request refused by a later plugin (the quota) is
//! given back.
//!
//! Answers carry OpenAI's headers for the tightest limit of each kind:
//! `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`,
//! `x-ratelimit-reset-requests` and the same for `-tokens`; a refusal is a
//! `429` with `retry-after` (seconds) and `retry-after-ms`.

use crate::context::{RequestCtx, Route};
use crate::errors::ApiError;
use crate::limits::{
    format_reset, retry_after_secs, Decider, Limits, RateCheck, RateDecision, RateKind, RateState,
};
use crate::pipeline::{settings, Outcome, Plugin};
use crate::Shared;
use aihub_contract::snapshot::UsageScope;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The plugin.
pub struct RateLimit {
    limits: Arc<Limits>,
    estimate: Estimate,
}

/// How a request's tokens are estimated before it runs.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// Characters per prompt token.
    pub estimate_chars_per_token: usize,
    /// Completion tokens assumed when the request sets no `max_tokens`.
    pub default_completion_tokens: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_chars_per_token")]
    estimate_chars_per_token: usize,
    #[serde(default = "default_completion_tokens")]
    default_completion_tokens: u64,
}

/// Characters per token of the estimate (as `metering` estimates).
pub fn default_chars_per_token() -> usize {
    4
}

fn default_completion_tokens() -> u64 {
    256
}

impl Estimate {
    /// Checks the settings.
    pub fn new(chars_per_token: usize, default_completion_tokens: u64) -> Result<Self, String> {
        if chars_per_token == 0 {
            return Err("estimate_chars_per_token: expected at least 1".into());
        }
        Ok(Estimate {
            estimate_chars_per_token: chars_per_token,
            default_completion_tokens,
        })
    }

    /// (prompt tokens, prompt + completion tokens) a request is expected to use.
    pub fn of(&self, ctx: &RequestCtx) -> (u64, u64) {
        let Some(r) = &ctx.request else {
            return (1, 1);
        };
        let prompt = (r.prompt_chars.div_ceil(self.estimate_chars_per_token) as u64).max(1);
        let completion = match ctx.route {
            Route::Model(crate::context::Endpoint::Embeddings) => 0,
            _ => r.max_tokens.unwrap_or(self.default_completion_tokens),
        };
        (prompt, prompt.saturating_add(completion))
    }
}

impl RateLimit {
    /// Builds it from settings.
    pub fn build(table: toml::Table, shared: &Arc<Shared>) -> Result<Box<dyn Plugin>, String> {
        let s: Settings = settings(table)?;
        let estimate = Estimate::new(s.estimate_chars_per_token, s.default_completion_tokens)?;
        Ok(Box::new(RateLimit {
            limits: shared.limits.clone(),
            estimate,
        }))
    }
}

/// What this plugin learnt about a request.
#[derive(Clone)]
struct RlState {
    checks: Vec<RateCheck>,
    decider: Decider,
    admitted: bool,
    states: Vec<RateState>,
    retry_after: Option<Duration>,
}

fn describe(check: &RateCheck) -> String {
    let whose = match check.scope {
        UsageScope::Key => "this API key",
        UsageScope::Developer | UsageScope::Funds => "your account",
    };
    format!("{} per minute on {whose}", check.kind.as_str())
}

/// `x-ratelimit-{limit,remaining,reset}-{kind}`, as static names (no
/// formatting or header-name parsing per response).
fn header_names(kind: RateKind) -> [&'static str; 3] {
    match kind {
        RateKind::Requests => [
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ],
        RateKind::Tokens => [
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ],
    }
}

#[async_trait]
impl Plugin for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    async fn on_request(&self, _req: &RequestHeader, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let (Route::Model(_), Some(key)) = (ctx.route, ctx.key.clone()) else {
            return Ok(());
        };
        let mut checks = Vec::with_capacity(3);
        if let Some(limit) = key.limits.requests_per_minute {
            checks.push(RateCheck {
                kind: RateKind::Requests,
                scope: UsageScope::Key,
                id: key.base_id.clone(),
                limit,
                cost: 1,
            });
        }
        let account = ctx.tables.account_limits.get(&key.developer_id);
        if let Some(limit) = account.and_then(|a| a.requests_per_minute) {
            checks.push(RateCheck {
                kind: RateKind::Requests,
                scope: UsageScope::Developer,
                id: key.developer_id.clone(),
                limit,
                cost: 1,
            });
        }
        if let Some(limit) = key.limits.tokens_per_minute {
            checks.push(RateCheck {
                kind: RateKind::Tokens,
                scope: UsageScope::Key,
                id: key.base_id.clone(),
                limit,
                cost: self.estimate.of(ctx).1,
            });
        }
        if checks.is_empty() {
            return Ok(());
        }
        let (decision, decider) = self.limits.admit(&checks).await;
        let mut state = RlState {
            checks,
            decider,
            admitted: false,
            states: Vec::new(),
            retry_after: None,
        };
        let result = match decision {
            RateDecision::Allowed(states) => {
                state.admitted = true;
                state.states = states;
                Ok(())
            }
            RateDecision::Refused {
                index,
                retry_after,
                state: s,
            } => {
                let check = state.checks[index].clone();
                let message = format!(
                    "Rate limit reached for {}: limit {}. Please try again in {}.",
                    describe(&check),
                    check.limit,
                    format_reset(retry_after)
                );
                // The headers report the limit that refused.
                state.states = vec![s];
                state.retry_after = Some(retry_after);
                let kind = check.kind.as_str();
                state.checks = vec![check];
                Err(ApiError::too_many_requests(
                    kind,
                    "rate_limit_exceeded",
                    message,
                ))
            }
            RateDecision::TooLarge { index } => {
                let check = &state.checks[index];
                Err(ApiError::too_many_requests(
                    check.kind.as_str(),
                    "rate_limit_exceeded",
                    format!(
                        "Request too large for {}: limit {}, requested {}. Send a shorter prompt or a smaller max_tokens.",
                        describe(check),
                        check.limit,
                        check.cost
                    ),
                ))
            }
        };
        ctx.plugin_state.insert(state);
        result
    }

    fn on_response(&self, resp: &mut ResponseHeader, ctx: &mut RequestCtx) -> pingora::Result<()> {
        let Some(state) = ctx.plugin_state.get::<RlState>() else {
            return Ok(());
        };
        for kind in [RateKind::Requests, RateKind::Tokens] {
            let tightest = state
                .checks
                .iter()
                .zip(&state.states)
                .filter(|(c, _)| c.kind == kind)
                .map(|(_, s)| s)
                .min_by_key(|s| s.remaining);
            if let Some(s) = tightest {
                let [limit, remaining, reset] = header_names(kind);
                resp.insert_header(limit, s.limit.to_string())?;
                resp.insert_header(remaining, s.remaining.to_string())?;
                resp.insert_header(reset, format_reset(s.reset))?;
            }
        }
        if let Some(wait) = state.retry_after {
            resp.insert_header("retry-after", retry_after_secs(wait).to_string())?;
            resp.insert_header("retry-after-ms", wait.as_millis().max(1).to_string())?;
        }
        Ok(())
    }

    fn on_done(&self, _outcome: &Outcome, ctx: &mut RequestCtx) {
        let refused_later = ctx.refused_by.is_some_and(|p| p != self.name());
        let Some(state) = ctx.plugin_state.remove::<RlState>() else {
            return;
        };
        if !(state.admitted && refused_later) {
            return;
        }
        match state.decider {
            Decider::Local => {
                self.limits.local_store().refund(&state.checks);
            }
            Decider::Redis => {
                let limits = self.limits.clone();
                tokio::spawn(async move { limits.refund(&state.checks, Decider::Redis).await });
            }
        }
    }
}

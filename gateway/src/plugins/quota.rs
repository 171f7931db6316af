//! `quota`: token quotas and spend budgets, per key (total and per UTC
//! month) and per account (`api_quota_limit` tokens per month, all keys
//! together).
//!
//! Before forwarding, the request's estimate (see `rate_limit`'s
//! [`Estimate`]) is reserved in every scope it counts against; after the
//! response, the reservation is replaced by the metered usage, or released
//! when nothing was used. The bound on overshoot under concurrency is in
//! [`crate::limits::Reservation`]. A refusal is a `429` with code
//! `insufficient_quota`, as OpenAI answers an exhausted quota.
//!
//! Must come after `routing` (it prices the estimate with the model's
//! prices) and after `metering` (it settles with the metered usage).

use super::rate_limit::Estimate;
use crate::context::{RequestCtx, Route};
use crate::errors::ApiError;
use crate::limits::{
    Decider, Limits, QuotaCheck, QuotaDecision, QuotaKind, Reservation, Settlement,
};
use crate::pipeline::{settings, Outcome, Plugin};
use crate::Shared;
use aihub_contract::calendar::{month_of, Month};
use aihub_contract::money::{nanos_to_decimal, TokenCounts};
use aihub_contract::snapshot::UsageScope;
use async_trait::async_trait;
use pingora::http::RequestHeader;
use serde::Deserialize;
use std::sync::Arc;

/// The plugin.
pub struct Quota {
    limits: Arc<Limits>,
    estimate: Estimate,
}

impl Quota {
    /// Builds it from settings.
    pub fn build(table: toml::Table, shared: &Arc<Shared>) -> Result<Box<dyn Plugin>, String> {
        let s: Settings = settings(table)?;
        let estimate = Estimate::new(s.estimate_chars_per_token, s.default_completion_tokens)?;
        Ok(Box::new(Quota {
            limits: shared.limits.clone(),
            estimate,
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "super::rate_limit::default_chars_per_token")]
    estimate_chars_per_token: usize,
    /// Unlike `rate_limit`, 0 by default: a request without `max_tokens`
    /// reserves its prompt only, so small quotas are not tied up by guesses.
    #[serde(default)]
    default_completion_tokens: u64,
}

#[derive(Clone)]
struct Reserved {
    month: Month,
    scopes: Vec<(QuotaCheck, (u64, i64))>,
    decider: Decider,
}

fn refusal(check: &QuotaCheck, kind: QuotaKind, in_flight: bool, month: &Month) -> ApiError {
    let whose = match check.scope {
        UsageScope::Key => "this API key's",
        UsageScope::Developer => "your account's",
    };
    let next_month = month_of(month.end_ms).name;
    let (what, amount, when) = match kind {
        QuotaKind::TokensTotal => (
            "token quota",
            format!("{} tokens", check.tokens_total.unwrap_or(0)),
            "It does not reset: raise it in the AI Hub portal or use another key.".to_string(),
        ),
        QuotaKind::TokensMonth => (
            "monthly token quota",
            format!("{} tokens", check.tokens_month.unwrap_or(0)),
            format!("It resets on {next_month}-01 (UTC), or raise it in the AI Hub portal."),
        ),
        QuotaKind::CostTotal => (
            "spend budget",
            format!(
                "${}",
                nanos_to_decimal(check.cost_total.unwrap_or(0)).normalize()
            ),
            "It does not reset: raise it in the AI Hub portal or use another key.".to_string(),
        ),
        QuotaKind::CostMonth => (
            "monthly spend budget",
            format!(
                "${}",
                nanos_to_decimal(check.cost_month.unwrap_or(0)).normalize()
            ),
            format!("It resets on {next_month}-01 (UTC), or raise it in the AI Hub portal."),
        ),
    };
    if in_flight {
        return ApiError::too_many_requests(
            "insufficient_quota",
            "quota_reserved",
            format!(
                "What is left of {whose} {what} ({amount}) is reserved by requests in progress. \
                 Retry when they finish, or send a smaller max_tokens."
            ),
        );
    }
    ApiError::too_many_requests(
        "insufficient_quota",
        "insufficient_quota",
        format!("You exceeded {whose} {what} ({amount}). {when}"),
    )
}

#[async_trait]
impl Plugin for Quota {
    fn name(&self) -> &'static str {
        "quota"
    }

    async fn on_request(&self, _req: &RequestHeader, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let (Route::Model(_), Some(key)) = (ctx.route, ctx.key.clone()) else {
            return Ok(());
        };
        let mut checks = Vec::with_capacity(2);
        if key.limits.has_quota() {
            checks.push(QuotaCheck {
                scope: UsageScope::Key,
                id: key.base_id.clone(),
                base: ctx
                    .tables
                    .usage_bases
                    .get(&(UsageScope::Key, key.base_id.clone()))
                    .cloned(),
                tokens_total: key.limits.token_quota_total,
                tokens_month: key.limits.token_quota_monthly,
                cost_total: key.limits.budget_total_nanos,
                cost_month: key.limits.budget_monthly_nanos,
            });
        }
        let account = ctx.tables.account_limits.get(&key.developer_id);
        if let Some(monthly) = account.and_then(|a| a.token_quota_monthly) {
            checks.push(QuotaCheck {
                scope: UsageScope::Developer,
                id: key.developer_id.clone(),
                base: ctx
                    .tables
                    .usage_bases
                    .get(&(UsageScope::Developer, key.developer_id.clone()))
                    .cloned(),
                tokens_total: None,
                tokens_month: Some(monthly),
                cost_total: None,
                cost_month: None,
            });
        }
        if checks.is_empty() {
            return Ok(());
        }
        let (min_tokens, tokens) = self.estimate.of(ctx);
        let (min_cost_nanos, cost_nanos) = match &ctx.model {
            Some(m) => (
                m.prices.cost_nanos(&TokenCounts {
                    prompt: min_tokens,
                    ..TokenCounts::default()
                }),
                m.prices.cost_nanos(&TokenCounts {
                    prompt: min_tokens,
                    completion: tokens - min_tokens,
                    ..TokenCounts::default()
                }),
            ),
            None => (0, 0),
        };
        let month = month_of(ctx.started_ms);
        let reservation = Reservation {
            request_id: ctx.request_id.clone(),
            month: month.clone(),
            min_tokens,
            tokens,
            min_cost_nanos,
            cost_nanos,
            checks,
        };
        let (decision, decider) = self.limits.reserve(&reservation).await;
        match decision {
            QuotaDecision::Admitted(amounts) => {
                ctx.plugin_state.insert(Reserved {
                    month,
                    scopes: reservation.checks.into_iter().zip(amounts).collect(),
                    decider,
                });
                Ok(())
            }
            QuotaDecision::Refused {
                index,
                kind,
                in_flight,
            } => Err(refusal(&reservation.checks[index], kind, in_flight, &month)),
        }
    }

    fn on_done(&self, _outcome: &Outcome, ctx: &mut RequestCtx) {
        let Some(r) = ctx.plugin_state.remove::<Reserved>() else {
            return;
        };
        let settlement = Settlement {
            request_id: ctx.request_id.clone(),
            month: r.month,
            scopes: r.scopes,
            tokens: ctx.usage.map(|u| u.total()).unwrap_or(0),
            cost_nanos: ctx.cost_nanos.max(0),
        };
        match r.decider {
            Decider::Local => self.limits.local_store().settle(&settlement),
            Decider::Redis => {
                let limits = self.limits.clone();
                tokio::spawn(async move { limits.settle(&settlement, Decider::Redis).await });
            }
        }
    }
}

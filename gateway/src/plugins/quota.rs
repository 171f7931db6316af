//! `quota`: token quotas and spend budgets, per key (total and per UTC
//! month) and per account (`api_quota_limit` tokens per month, all keys
//! together), then the account's funds: its plan's monthly token allowance
//! and its credit (developers whose entry has `funds`; see
//! [`crate::limits::admit_funds`]).
//!
//! Before forwarding, the request's estimate (see `rate_limit`'s
//! [`Estimate`]) is reserved in every scope it counts against; after the
//! response, the reservation is replaced by the metered usage, or released
//! when nothing was used. The bound on overshoot under concurrency is in
//! [`crate::limits::Reservation`]. A refusal is a `429` of type
//! `insufficient_quota`, as OpenAI answers an exhausted quota, with code
//! `insufficient_quota` (a quota or budget is spent), `insufficient_balance`
//! (the plan's allowance is used and the credit cannot pay) or
//! `quota_reserved` (what is left is held by requests in progress).
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

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn funds_refusal(check: &QuotaCheck, in_flight: bool, month: &Month) -> ApiError {
    if in_flight {
        return ApiError::too_many_requests(
            "insufficient_quota",
            "quota_reserved",
            "What is left of your plan's allowance and credit is reserved by requests in \
             progress. Retry when they finish, or send a smaller max_tokens.",
        );
    }
    let message = match &check.funds {
        Some(f) if f.allowance_tokens_monthly > 0 => format!(
            "You have used the {} tokens your {} plan includes in {} and your credit balance \
             is empty. Add credit or upgrade your plan in the AI Hub portal.",
            thousands(f.allowance_tokens_monthly),
            f.plan,
            month.name
        ),
        _ => "Your credit balance is empty. Add credit in the AI Hub portal.".to_string(),
    };
    ApiError::too_many_requests("insufficient_quota", "insufficient_balance", message)
}

fn refusal(check: &QuotaCheck, kind: QuotaKind, in_flight: bool, month: &Month) -> ApiError {
    let whose = match check.scope {
        UsageScope::Key => "this API key's",
        UsageScope::Developer => "your account's",
        UsageScope::Funds => return funds_refusal(check, in_flight, month),
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
        QuotaKind::Funds => return funds_refusal(check, in_flight, month),
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
        let mut checks = Vec::with_capacity(3);
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
                funds: None,
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
                funds: None,
            });
        }
        if let Some(funds) = account.and_then(|a| a.funds.as_ref()) {
            checks.push(QuotaCheck::funds(
                &key.developer_id,
                ctx.tables
                    .usage_bases
                    .get(&(UsageScope::Funds, key.developer_id.clone()))
                    .cloned(),
                funds.clone(),
            ));
        }
        if checks.is_empty() {
            return Ok(());
        }
        let (min_tokens, tokens) = self.estimate.of(ctx);
        let (min_cost_nanos, cost_nanos) = match &ctx.model {
            Some(m) => {
                let prices = ctx.tables.prices_for(&key.developer_id, m);
                (
                    prices.cost_nanos(&TokenCounts {
                        prompt: min_tokens,
                        ..TokenCounts::default()
                    }),
                    prices.cost_nanos(&TokenCounts {
                        prompt: min_tokens,
                        completion: tokens - min_tokens,
                        ..TokenCounts::default()
                    }),
                )
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use aihub_contract::snapshot::Funds;

    fn funds(allowance: u64) -> QuotaCheck {
        QuotaCheck::funds(
            "dev",
            None,
            Funds {
                plan: "Free".into(),
                allowance_tokens_monthly: allowance,
                spend_limit_nanos: Some(0),
            },
        )
    }

    #[test]
    fn funds_refusals_say_why_and_what_to_do() {
        let month = month_of(1_795_629_600_000); // 2026-11
        let e = refusal(&funds(1000), QuotaKind::Funds, false, &month);
        assert_eq!(
            (e.status, e.kind, e.code),
            (429, "insufficient_quota", "insufficient_balance")
        );
        assert_eq!(
            e.message,
            "You have used the 1,000 tokens your Free plan includes in 2026-11 and your credit \
             balance is empty. Add credit or upgrade your plan in the AI Hub portal."
        );
        let e = refusal(&funds(0), QuotaKind::Funds, false, &month);
        assert_eq!(e.code, "insufficient_balance");
        assert_eq!(
            e.message,
            "Your credit balance is empty. Add credit in the AI Hub portal."
        );
        let e = refusal(&funds(1000), QuotaKind::Funds, true, &month);
        assert_eq!((e.kind, e.code), ("insufficient_quota", "quota_reserved"));
        assert!(e
            .message
            .starts_with("What is left of your plan's allowance and credit"));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(0), "0");
    }
}

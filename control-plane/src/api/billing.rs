//! Plans, billing, credit, invoices and usage for developers
//! (`/api/v1/developer/{plans,billing*,invoices*,usage*}`, described in
//! `docs/billing-api.md`), Stripe's webhook (`/api/v1/payments/stripe/webhook`)
//! and the operator's billing routes (`/api/v1/admin/…`).

use super::guard::{AdminUser, AuthUser, Client};
use super::idempotent::{self, Start};
use super::{Api, ApiFailure, ApiJson};
use crate::analytics::Measures;
use crate::audit::{self, Actor};
use crate::billing::charges::Source;
use crate::billing::credit::RedeemError;
use crate::billing::payments::{self, Purpose};
use crate::billing::{charges, credit, invoices, money, plans};
use crate::db;
use crate::error::DomainError;
use aihub_contract::calendar::{month_named, month_of};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(overview))
        .routes(routes!(change_plan))
        .routes(routes!(top_up))
        .routes(routes!(redeem))
        .routes(routes!(transactions))
        .routes(routes!(list_invoices))
        .routes(routes!(show_invoice))
        .routes(routes!(invoice_html))
        .routes(routes!(pay_invoice))
        .routes(routes!(usage))
        .routes(routes!(usage_export))
        .routes(routes!(stripe_webhook))
        .routes(routes!(admin_grant))
        .routes(routes!(admin_plan))
        .routes(routes!(admin_list_codes, admin_codes))
        .routes(routes!(admin_list_invoices))
        .routes(routes!(admin_show_invoice))
        .routes(routes!(admin_credit_note))
        .routes(routes!(admin_payment))
        .routes(routes!(admin_void))
        .routes(routes!(admin_uncollectible))
        .routes(routes!(admin_refund))
        .routes(routes!(admin_set_price))
        .routes(routes!(admin_remove_price))
        .routes(routes!(admin_close))
        .routes(routes!(admin_reconcile))
}

/// The shapes of the billing routes' answers and bodies, for the OpenAPI
/// document.
#[allow(dead_code)]
pub(crate) mod doc {
    use utoipa::ToSchema;

    /// An amount: a decimal string such as `"20.00"` (a JSON number is
    /// accepted too).
    #[derive(ToSchema)]
    #[serde(untagged)]
    pub enum MoneyAmount {
        Text(String),
        Number(f64),
    }

    /// How usage beyond the allowance is paid.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum OverageMode {
        /// From credit, as it happens.
        Prepaid,
        /// On the monthly invoice.
        Invoice,
    }

    /// A plan as the developer may choose it.
    #[derive(ToSchema)]
    pub struct PlanOffer {
        pub id: String,
        pub name: String,
        /// Monthly fee, decimal string in USD.
        pub price: String,
        /// Tokens included each month.
        pub included_tokens: i64,
        /// `null`: unlimited.
        pub requests_per_minute: Option<i64>,
        /// `null`: unlimited.
        pub token_quota_monthly: Option<i64>,
        pub overage: OverageMode,
        /// Whether it is the developer's plan now.
        pub current: bool,
    }

    /// `GET /api/v1/developer/plans`.
    #[derive(ToSchema)]
    pub struct PlanOfferList {
        /// The public plans (and the developer's own if it is not public), in display order.
        pub data: Vec<PlanOffer>,
    }

    /// A price the operator set for one developer (USD per million tokens).
    #[derive(ToSchema)]
    pub struct CustomModelPrice {
        pub model: String,
        pub input_per_million: String,
        pub output_per_million: String,
        pub cached_per_million: String,
    }

    /// `{"data": [CUSTOM PRICE…]}`: a developer's custom prices, by model.
    #[derive(ToSchema)]
    pub struct CustomModelPriceList {
        pub data: Vec<CustomModelPrice>,
    }

    /// The plan in force, with the developer's own terms if any.
    #[derive(ToSchema)]
    pub struct SubscribedPlan {
        pub id: String,
        pub name: String,
        /// Monthly fee in force, decimal string.
        pub price: String,
        pub included_tokens: i64,
        pub overage: OverageMode,
    }

    /// A cheaper plan that starts with the next month.
    #[derive(ToSchema)]
    pub struct PendingPlanChange {
        pub id: String,
        pub name: String,
        /// When it starts (ms).
        pub starts_at: Option<i64>,
    }

    /// The current calendar month (UTC).
    #[derive(ToSchema)]
    pub struct BillingPeriod {
        /// `YYYY-MM`
        pub month: String,
        /// Start, ms.
        pub start: i64,
        /// End (exclusive), ms.
        pub end: i64,
    }

    /// The month's included tokens.
    #[derive(ToSchema)]
    pub struct TokenAllowance {
        pub included_tokens: i64,
        pub used_tokens: i64,
        pub remaining_tokens: i64,
    }

    /// Credit, decimal strings.
    #[derive(ToSchema)]
    pub struct CreditBalance {
        /// Paid plus promotional.
        pub total: String,
        pub paid: String,
        pub promotional: String,
    }

    /// This month's usage so far.
    #[derive(ToSchema)]
    pub struct MonthToDateUsage {
        pub requests: i64,
        pub tokens: i64,
        /// At list price, decimal string.
        pub cost: String,
        /// Charged beyond the allowance, decimal string.
        pub charged: String,
    }

    /// What this month's invoice would say now (decimal strings).
    #[derive(ToSchema)]
    pub struct UpcomingInvoice {
        pub subscription: String,
        pub overage: String,
        pub credits_applied: String,
        pub total: String,
    }

    /// Whether card payments are taken, and their bounds.
    #[derive(ToSchema)]
    pub struct CardPaymentSettings {
        pub enabled: bool,
        pub min_top_up: String,
        pub max_top_up: String,
    }

    /// A developer's billing overview.
    #[derive(ToSchema)]
    pub struct BillingOverview {
        pub custom_prices: Vec<CustomModelPrice>,
        pub plan: SubscribedPlan,
        /// `null`: no change scheduled.
        pub pending_plan: Option<PendingPlanChange>,
        pub period: BillingPeriod,
        pub allowance: TokenAllowance,
        pub balance: CreditBalance,
        pub month_usage: MonthToDateUsage,
        pub upcoming_invoice: UpcomingInvoice,
        pub payments: CardPaymentSettings,
    }

    /// What a plan change did.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum PlanChange {
        /// A dearer plan, in force at once.
        Now,
        /// A cheaper plan, from the next month.
        NextMonth,
        /// The current plan chosen again: the scheduled change is cancelled.
        PendingChangeCancelled,
        /// Already on that plan.
        Unchanged,
    }

    /// The billing overview after a plan change.
    #[derive(ToSchema)]
    pub struct BillingPlanChanged {
        #[schema(inline)]
        #[serde(flatten)]
        pub billing: BillingOverview,
        pub change: PlanChange,
    }

    /// `POST /api/v1/developer/billing/plan`.
    #[derive(ToSchema)]
    pub struct ChangePlan {
        pub plan_id: String,
    }

    /// `POST /api/v1/developer/billing/top-ups`.
    #[derive(ToSchema)]
    pub struct CreateTopUp {
        /// USD, at most two decimal places, within the payment bounds.
        pub amount: MoneyAmount,
    }

    /// A card payment waiting at Stripe Checkout.
    #[derive(ToSchema)]
    pub struct CheckoutSession {
        /// `pay_…`
        pub id: String,
        /// Always `pending`.
        pub status: String,
        /// Decimal string.
        pub amount: String,
        /// Where to send the developer to pay.
        pub checkout_url: String,
    }

    /// `POST /api/v1/developer/billing/redeem`.
    #[derive(ToSchema)]
    pub struct RedeemCode {
        /// `AIHUB-XXXX-XXXX-XXXX`
        pub code: String,
    }

    /// A redeemed code.
    #[derive(ToSchema)]
    pub struct CodeRedeemed {
        /// What the code was worth, decimal string.
        pub amount: String,
        /// The balance now.
        pub balance: CreditBalance,
    }

    /// A movement of the developer's credit.
    #[derive(ToSchema)]
    pub struct CreditTransaction {
        /// `ltx_…`
        pub id: String,
        /// The ledger transaction's kind: `top_up`, `grant`, `redemption`,
        /// `refund`, `usage_charge`, `credit_note`, …
        pub kind: String,
        /// Change of the balance, decimal string (negative when spent).
        pub amount: String,
        pub memo: String,
        /// When (ms).
        pub created_at: i64,
    }

    /// `GET /api/v1/developer/billing/transactions`.
    #[derive(ToSchema)]
    pub struct CreditTransactionList {
        /// Newest first.
        pub data: Vec<CreditTransaction>,
        pub has_more: bool,
    }

    /// An invoice's status.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum InvoiceStatus {
        Draft,
        Open,
        Paid,
        Void,
        Uncollectible,
    }

    /// An invoice (amounts are decimal strings).
    #[derive(ToSchema)]
    pub struct Invoice {
        /// `inv_…`
        pub id: String,
        /// `AIH-YYYY-NNNNNN` once finalized.
        pub number: Option<String>,
        /// `YYYY-MM`
        pub month: String,
        pub status: InvoiceStatus,
        pub subtotal: String,
        /// ≤ 0.
        pub credits_applied: String,
        pub total: String,
        pub amount_paid: String,
        pub amount_credited: String,
        /// What is still due (0 unless open).
        pub amount_due: String,
        /// ms
        pub created_at: i64,
        pub finalized_at: Option<i64>,
        pub paid_at: Option<i64>,
    }

    /// What an invoice line is for.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum InvoiceLineKind {
        Subscription,
        Overage,
        Rounding,
        CreditsApplied,
    }

    /// One line of an invoice.
    #[derive(ToSchema)]
    pub struct InvoiceLine {
        pub kind: InvoiceLineKind,
        pub description: String,
        /// Overage lines: the model.
        pub model: Option<String>,
        /// Overage lines: tokens beyond the allowance.
        pub tokens: Option<i64>,
        /// Decimal string (negative for credits applied).
        pub amount: String,
    }

    /// `GET /api/v1/developer/invoices`.
    #[derive(ToSchema)]
    pub struct InvoiceList {
        /// Newest month first.
        pub data: Vec<Invoice>,
    }

    /// An invoice with its lines.
    #[derive(ToSchema)]
    pub struct InvoiceWithLines {
        #[schema(inline)]
        #[serde(flatten)]
        pub invoice: Invoice,
        pub lines: Vec<InvoiceLine>,
    }

    /// What Stripe's event did.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum StripeEventHandling {
        Applied,
        Duplicate,
        Ignored,
    }

    /// The answer to Stripe.
    #[derive(ToSchema)]
    pub struct StripeEventReceived {
        /// Always `true`.
        pub received: bool,
        pub handled: StripeEventHandling,
    }

    /// Usage measures of a group (or of the whole period).
    #[derive(ToSchema)]
    pub struct UsageSummaryMeasures {
        pub requests: i64,
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
        pub errors: i64,
        /// 0 without requests.
        pub avg_latency_ms: f64,
    }

    /// One group of the usage breakdown.
    #[derive(ToSchema)]
    pub struct UsageSummaryGroup {
        #[schema(inline)]
        #[serde(flatten)]
        pub measures: UsageSummaryMeasures,
        /// The model, key id or `YYYY-MM-DD` day.
        pub group: String,
    }

    /// The dates of a usage answer (`YYYY-MM-DD`, both included).
    #[derive(ToSchema)]
    pub struct UsageSummaryPeriod {
        pub from: String,
        pub to: String,
    }

    /// How usage is grouped.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum UsageSummaryGroupBy {
        Model,
        Key,
        Day,
    }

    /// `GET /api/v1/developer/usage`.
    #[derive(ToSchema)]
    pub struct UsageSummary {
        pub period: UsageSummaryPeriod,
        pub totals: UsageSummaryMeasures,
        pub group_by: UsageSummaryGroupBy,
        pub breakdown: Vec<UsageSummaryGroup>,
    }

    /// `POST /api/v1/admin/developers/{id}/credit` and `…/refund`.
    #[derive(ToSchema)]
    pub struct CreditAdjustment {
        /// Grants: any positive amount (up to 9 decimal places); refunds: at
        /// most the paid balance, in cents.
        pub amount: MoneyAmount,
        /// Shown in the developer's transactions.
        #[serde(default)]
        pub memo: String,
    }

    /// The credit posted and the balance now.
    #[derive(ToSchema)]
    pub struct CreditAdjusted {
        /// `ltx_…`
        pub transaction_id: String,
        pub balance: CreditBalance,
    }

    /// `PUT /api/v1/admin/developers/{id}/plan`: the plan, at once, with
    /// optional custom terms.
    #[derive(ToSchema)]
    pub struct AssignPlan {
        pub plan_id: String,
        /// Custom monthly fee, decimal string.
        pub price: Option<String>,
        /// Custom included tokens a month.
        pub included_tokens: Option<i64>,
        pub overage: Option<OverageMode>,
    }

    /// A batch of redemption codes (the codes themselves are not shown again).
    #[derive(ToSchema)]
    pub struct RedemptionCodeBatch {
        /// `cbt_…`
        pub batch_id: String,
        /// What each code is worth, decimal string.
        pub amount: String,
        pub count: i64,
        pub redeemed: i64,
        /// ms; `null`: never expire.
        pub expires_at: Option<i64>,
        /// ms
        pub created_at: i64,
        /// The operator who made it (`null`: the CLI).
        pub created_by: Option<String>,
    }

    /// `GET /api/v1/admin/redemption-codes`.
    #[derive(ToSchema)]
    pub struct RedemptionCodeBatchList {
        /// Newest first.
        pub data: Vec<RedemptionCodeBatch>,
        pub has_more: bool,
    }

    /// `POST /api/v1/admin/redemption-codes`.
    #[derive(ToSchema)]
    pub struct CreateRedemptionCodes {
        /// 1 to 10000.
        pub count: u64,
        /// Each code's worth, at most two decimal places.
        pub amount: MoneyAmount,
        /// 1 to 3650; absent or `null`: never expire.
        pub expires_in_days: Option<i64>,
    }

    /// New redemption codes.
    #[derive(ToSchema)]
    pub struct RedemptionCodesCreated {
        /// `cbt_…`
        pub batch_id: String,
        pub amount: String,
        /// ms; `null`: never expire.
        pub expires_at: Option<i64>,
        /// The codes, shown in the first answer only (a replay answers `[]`).
        pub codes: Vec<String>,
        /// Replays only: why `codes` is empty.
        #[serde(default)]
        pub note: String,
    }

    /// An invoice with its developer, for operators.
    #[derive(ToSchema)]
    pub struct OperatorInvoice {
        #[schema(inline)]
        #[serde(flatten)]
        pub invoice: Invoice,
        pub developer_id: String,
        pub developer_email: String,
    }

    /// `GET /api/v1/admin/invoices`.
    #[derive(ToSchema)]
    pub struct OperatorInvoiceList {
        /// Newest first.
        pub data: Vec<OperatorInvoice>,
        pub has_more: bool,
    }

    /// Where a credit note went.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum CreditNoteTarget {
        /// It lowered what was due on an open invoice.
        Invoice,
        /// It credited the developer's paid balance (a paid invoice).
        Balance,
    }

    /// A credit note on an invoice.
    #[derive(ToSchema)]
    pub struct CreditNote {
        /// `crn_…`
        pub id: String,
        pub invoice_id: String,
        /// Decimal string.
        pub amount: String,
        pub applied_to: CreditNoteTarget,
        pub reason: String,
        /// ms
        pub created_at: i64,
        /// The operator who issued it.
        pub created_by: Option<String>,
    }

    /// An invoice with its developer, lines and credit notes.
    #[derive(ToSchema)]
    pub struct OperatorInvoiceDetail {
        #[schema(inline)]
        #[serde(flatten)]
        pub invoice: OperatorInvoice,
        pub lines: Vec<InvoiceLine>,
        /// Oldest first.
        pub credit_notes: Vec<CreditNote>,
    }

    /// `POST /api/v1/admin/invoices/{id}/payments` (the body may be `{}`).
    #[derive(ToSchema)]
    pub struct RecordPayment {
        /// Absent: what is due.
        pub amount: Option<MoneyAmount>,
    }

    /// A payment recorded by hand.
    #[derive(ToSchema)]
    pub struct PaymentRecorded {
        /// `pay_…`
        pub payment_id: String,
        /// The invoice now.
        pub invoice: Invoice,
    }

    /// `POST /api/v1/admin/invoices/{id}/credit-notes`.
    #[derive(ToSchema)]
    pub struct IssueCreditNote {
        /// At most two decimal places.
        pub amount: MoneyAmount,
        /// For the developer and the books.
        pub reason: String,
    }

    /// A credit note issued.
    #[derive(ToSchema)]
    pub struct CreditNoteIssued {
        pub credit_note: CreditNote,
        /// The invoice now.
        pub invoice: Invoice,
    }

    /// `PUT /api/v1/admin/developers/{id}/prices` (USD per million tokens).
    #[derive(ToSchema)]
    pub struct SetCustomPrice {
        pub model: String,
        pub input_per_million: String,
        pub output_per_million: String,
        /// Absent: the input price.
        pub cached_per_million: Option<String>,
    }

    /// `POST /api/v1/admin/billing/close-month`.
    #[derive(ToSchema)]
    pub struct CloseMonth {
        /// `YYYY-MM`, a month that has ended.
        pub month: String,
        /// Finalize the invoices too (default `true`).
        pub finalize: Option<bool>,
    }

    /// What a month close did.
    #[derive(ToSchema)]
    pub struct MonthCloseReport {
        /// `YYYY-MM`
        pub month: String,
        /// Usage rows charged by the sweep.
        pub charged_rows: u64,
        /// Drafts created or brought up to date.
        pub drafts: u64,
        /// Invoices finalized now.
        pub finalized: u64,
        /// Invoices already final, left alone.
        pub unchanged: u64,
        /// Whether the month is closed now.
        pub closed: bool,
    }

    /// A month's reconciliation.
    #[derive(ToSchema)]
    pub struct ReconcileReport {
        /// `YYYY-MM`
        pub month: String,
        /// `true` when everything agrees (`differences` is empty).
        pub ok: bool,
        pub usage_rows: i64,
        /// Decimal string.
        pub usage_cost: String,
        /// Decimal string.
        pub charged: String,
        pub transactions: i64,
        pub invoices: i64,
        /// Every difference found, in words.
        pub differences: Vec<String>,
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, ApiFailure> {
    serde_json::from_value(body.clone()).map_err(|e| ApiFailure::invalid(e.to_string()))
}

/// List the plans the developer can choose.
///
/// `GET /api/v1/developer/plans`
#[utoipa::path(get, path = "/api/v1/developer/plans", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "The plans the developer can choose", body = doc::PlanOfferList),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn list_plans(Api(api): Api, AuthUser(who): AuthUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let sub = plans::subscription(&mut c, &who.developer.id).await?;
    let data: Vec<Value> = plans::list(&mut c)
        .await?
        .iter()
        .filter(|p| p.public || p.id == sub.plan.id)
        .map(|p| {
            let mut v = p.to_json();
            v["current"] = json!(p.id == sub.plan.id);
            v
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

async fn billing_json(
    api: &super::ApiState,
    c: &mut sqlx::AnyConnection,
    developer_id: &str,
) -> Result<Value, ApiFailure> {
    let now = db::now_ms();
    let month = month_of(now);
    let sub = plans::subscription(c, developer_id).await?;
    let balance = credit::balance(c, developer_id).await?;
    let (requests, tokens, cost, charged) =
        charges::period_totals(c, developer_id, &month.name).await?;
    let estimate = invoices::compute(c, developer_id, &month).await?;
    let pending = match &sub.pending_plan {
        Some(p) => Some(json!({
            "id": p.id,
            "name": p.name,
            "starts_at": plans::pending_starts_at(c, developer_id).await?,
        })),
        None => None,
    };
    let overage: i64 = estimate
        .lines
        .iter()
        .filter(|l| l.kind == "overage")
        .map(|l| l.amount_nanos)
        .sum();
    let custom = plans::custom_prices(c, developer_id).await?;
    let p = api.billing.payments();
    Ok(json!({
        "custom_prices": prices_json(&custom),
        "plan": {
            "id": sub.plan.id,
            "name": sub.plan.name,
            "price": money::format(sub.price_nanos),
            "included_tokens": sub.included_tokens,
            "overage": sub.overage.as_str(),
        },
        "pending_plan": pending,
        "period": {"month": month.name, "start": month.start_ms, "end": month.end_ms},
        "allowance": {
            "included_tokens": sub.included_tokens,
            "used_tokens": tokens,
            "remaining_tokens": (sub.included_tokens - tokens).max(0),
        },
        "balance": balance.to_json(),
        "month_usage": {
            "requests": requests,
            "tokens": tokens,
            "cost": money::format(cost),
            "charged": money::format(charged),
        },
        "upcoming_invoice": {
            "subscription": money::format(estimate.fee_nanos),
            "overage": money::format(overage),
            "credits_applied": money::format(estimate.credits_applied_nanos),
            "total": money::format(estimate.total_nanos),
        },
        "payments": {
            "enabled": p.enabled(),
            "min_top_up": money::format(p.min_top_up_nanos),
            "max_top_up": money::format(p.max_top_up_nanos),
        },
    }))
}

/// Show the billing overview.
///
/// `GET /api/v1/developer/billing`
#[utoipa::path(get, operation_id = "billing_overview", path = "/api/v1/developer/billing", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Plan, allowance, balance, this month's usage and upcoming invoice", body = doc::BillingOverview),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn overview(Api(api): Api, AuthUser(who): AuthUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    Ok(Json(billing_json(&api, &mut c, &who.developer.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanRequest {
    plan_id: String,
}

/// Change the plan.
///
/// `POST /api/v1/developer/billing/plan` → the new billing overview.
#[utoipa::path(post, path = "/api/v1/developer/billing/plan", tag = "billing", security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::ChangePlan,
    responses(
        (status = 200, description = "The billing overview after the change", body = doc::BillingPlanChanged),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn change_plan(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: PlanRequest = parse(&body)?;
    let db = api.accounts.db();
    let dev = who.developer.id.as_str();
    let (mut tx, idem) =
        match idempotent::start(db, &api.sealing_secret, dev, &headers, &body).await? {
            Start::Replay(r) => return Ok(r),
            Start::Go(tx, idem) => (tx, idem),
        };
    let change = plans::change(&mut tx, db.backend(), dev, &r.plan_id, true).await?;
    let actor = Actor::of(&who, &client);
    let how = match change {
        plans::Change::Now => "now",
        plans::Change::NextMonth => "next_month",
        plans::Change::Cancelled => "pending_change_cancelled",
        plans::Change::Unchanged => "unchanged",
    };
    audit::record(
        &mut tx,
        &actor,
        "billing.plan_changed",
        dev,
        &json!({"plan_id": r.plan_id, "effective": how}),
    )
    .await?;
    let mut answer = billing_json(&api, &mut tx, dev).await?;
    answer["change"] = json!(how);
    idempotent::finish(tx, idem, &api.sealing_secret, StatusCode::OK, answer).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpRequest {
    amount: Value,
}

fn amount_text(v: &Value) -> Result<String, ApiFailure> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(ApiFailure::invalid(
            "amount: expected a decimal string such as \"20.00\"",
        )),
    }
}

/// Top up credit by card.
///
/// `POST /api/v1/developer/billing/top-ups` → 201 with the Checkout URL.
#[utoipa::path(post, path = "/api/v1/developer/billing/top-ups", tag = "billing", security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::CreateTopUp,
    responses(
        (status = 201, description = "The pending payment and where to pay it", body = doc::CheckoutSession),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 409, description = "Card payments are disabled, or the Idempotency-Key was used with another body", body = super::openapi::ErrorBody),
        (status = 502, description = "Stripe refused or did not answer", body = super::openapi::ErrorBody)
    ))]
async fn top_up(
    Api(api): Api,
    AuthUser(who): AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: TopUpRequest = parse(&body)?;
    let p = api.billing.payments();
    if !p.enabled() {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "payments_disabled",
            "This AI Hub takes no card payments. Ask the operator for credit or a redemption code.",
        ));
    }
    let amount = money::parse_positive(&amount_text(&r.amount)?, "amount", 2)?;
    if amount < p.min_top_up_nanos || amount > p.max_top_up_nanos {
        return Err(ApiFailure::invalid(format!(
            "amount: top-ups are from ${} to ${}",
            money::format(p.min_top_up_nanos),
            money::format(p.max_top_up_nanos)
        )));
    }
    let db = api.accounts.db();
    let dev = &who.developer;
    // A retry answers with the first session (nothing is written before
    // Stripe answers except the pending payment).
    if let Start::Replay(r) =
        idempotent::start(db, &api.sealing_secret, &dev.id, &headers, &body).await?
    {
        return Ok(r);
    }
    let (payment_id, url) = p
        .checkout(db, &dev.id, &dev.email, Purpose::TopUp, amount)
        .await
        .map_err(payment_failure)?;
    let answer = json!({
        "id": payment_id,
        "status": "pending",
        "amount": money::format(amount),
        "checkout_url": url,
    });
    match idempotent::start(db, &api.sealing_secret, &dev.id, &headers, &body).await? {
        Start::Replay(r) => Ok(r),
        Start::Go(tx, idem) => {
            idempotent::finish(tx, idem, &api.sealing_secret, StatusCode::CREATED, answer).await
        }
    }
}

fn payment_failure(e: DomainError) -> ApiFailure {
    match e {
        DomainError::Internal(m) => {
            ApiFailure::new(StatusCode::BAD_GATEWAY, "payment_provider_error", m)
        }
        other => other.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemRequest {
    code: String,
}

/// Redeem a code for credit.
///
/// `POST /api/v1/developer/billing/redeem`
#[utoipa::path(post, path = "/api/v1/developer/billing/redeem", tag = "billing", security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::RedeemCode,
    responses(
        (status = 200, description = "The code's worth, credited", body = doc::CodeRedeemed),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such code", body = super::openapi::ErrorBody),
        (status = 409, description = "The code was already used or has expired, or the Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn redeem(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: RedeemRequest = parse(&body)?;
    if r.code.trim().is_empty() || r.code.len() > 64 {
        return Err(ApiFailure::invalid(
            "code: expected a code such as AIHUB-XXXX-XXXX-XXXX",
        ));
    }
    let db = api.accounts.db();
    let dev = who.developer.id.as_str();
    let (mut tx, idem) =
        match idempotent::start(db, &api.sealing_secret, dev, &headers, &body).await? {
            Start::Replay(r) => return Ok(r),
            Start::Go(tx, idem) => (tx, idem),
        };
    let amount = match credit::redeem(&mut tx, db.backend(), dev, &r.code).await? {
        Ok(a) => a,
        Err(RedeemError::NotFound) => {
            return Err(ApiFailure::new(
                StatusCode::NOT_FOUND,
                "code_not_found",
                "This code does not exist. Check it for typos.",
            ))
        }
        Err(RedeemError::Redeemed) => {
            return Err(ApiFailure::new(
                StatusCode::CONFLICT,
                "code_redeemed",
                "This code has already been used.",
            ))
        }
        Err(RedeemError::Expired) => {
            return Err(ApiFailure::new(
                StatusCode::CONFLICT,
                "code_expired",
                "This code has expired.",
            ))
        }
    };
    let actor = Actor::of(&who, &client);
    audit::record(
        &mut tx,
        &actor,
        "billing.code_redeemed",
        dev,
        &json!({"amount": money::format(amount)}),
    )
    .await?;
    let balance = credit::balance(&mut tx, dev).await?;
    let answer = json!({"amount": money::format(amount), "balance": balance.to_json()});
    idempotent::finish(tx, idem, &api.sealing_secret, StatusCode::OK, answer).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
    before: Option<String>,
}

/// List credit movements.
///
/// `GET /api/v1/developer/billing/transactions`
#[utoipa::path(get, path = "/api/v1/developer/billing/transactions", tag = "billing", security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "1–200 (default 50)"),
        ("before" = Option<String>, Query, description = "The last id of the previous page")
    ),
    responses(
        (status = 200, description = "Credit movements, newest first", body = doc::CreditTransactionList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn transactions(
    Api(api): Api,
    AuthUser(who): AuthUser,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = q.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiFailure::invalid("limit: expected 1 to 200"));
    }
    let mut c = api.conn().await?;
    let mut rows =
        credit::history(&mut c, &who.developer.id, limit + 1, q.before.as_deref()).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok(Json(json!({
        "data": rows.iter().map(|m| json!({
            "id": m.id,
            "kind": m.kind,
            "amount": money::format(m.amount_nanos),
            "memo": m.memo,
            "created_at": m.created_at,
        })).collect::<Vec<_>>(),
        "has_more": has_more,
    })))
}

/// List the developer's invoices.
///
/// `GET /api/v1/developer/invoices`
#[utoipa::path(get, path = "/api/v1/developer/invoices", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "The developer's invoices", body = doc::InvoiceList),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn list_invoices(Api(api): Api, AuthUser(who): AuthUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let all = invoices::list(&mut c, &who.developer.id).await?;
    Ok(Json(
        json!({"data": all.iter().map(|i| i.to_json()).collect::<Vec<_>>()}),
    ))
}

/// Show an invoice.
///
/// `GET /api/v1/developer/invoices/{id}`
#[utoipa::path(get, path = "/api/v1/developer/invoices/{id}", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice with its lines", body = doc::InvoiceWithLines),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice (or not yours)", body = super::openapi::ErrorBody)
    ))]
async fn show_invoice(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let inv = invoices::get(&mut c, &id, Some(&who.developer.id)).await?;
    let lines = invoices::lines(&mut c, &inv.id).await?;
    let mut v = inv.to_json();
    v["lines"] = json!(lines.iter().map(invoices::line_json).collect::<Vec<_>>());
    Ok(Json(v))
}

/// Print an invoice (HTML).
///
/// `GET /api/v1/developer/invoices/{id}/html`
#[utoipa::path(get, path = "/api/v1/developer/invoices/{id}/html", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The printable invoice", body = String, content_type = "text/html"),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice (or not yours)", body = super::openapi::ErrorBody)
    ))]
async fn invoice_html(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let mut c = api.conn().await?;
    let inv = invoices::get(&mut c, &id, Some(&who.developer.id)).await?;
    let lines = invoices::lines(&mut c, &inv.id).await?;
    let d = &who.developer;
    let page = invoices::html(
        &inv,
        &lines,
        &format!("{} <{}>", d.full_name, d.email),
        d.company_name.as_deref().unwrap_or(""),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response())
}

/// Pay an invoice by card.
///
/// `POST /api/v1/developer/invoices/{id}/pay` → 201 with the Checkout URL
/// (with an `Idempotency-Key`, a retry gets the same session).
#[utoipa::path(post, path = "/api/v1/developer/invoices/{id}/pay", tag = "billing", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    responses(
        (status = 201, description = "The pending payment and where to pay it", body = doc::CheckoutSession),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice (or not yours)", body = super::openapi::ErrorBody),
        (status = 409, description = "Nothing is due, card payments are disabled, or the Idempotency-Key was used for another invoice", body = super::openapi::ErrorBody),
        (status = 502, description = "Stripe refused or did not answer", body = super::openapi::ErrorBody)
    ))]
async fn pay_invoice(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let db = api.accounts.db();
    let idem_body = json!({"invoice": id});
    if let Start::Replay(r) = idempotent::start(
        db,
        &api.sealing_secret,
        &who.developer.id,
        &headers,
        &idem_body,
    )
    .await?
    {
        return Ok(r);
    }
    let mut c = api.conn().await?;
    let inv = invoices::get(&mut c, &id, Some(&who.developer.id)).await?;
    drop(c);
    let due = inv.amount_due();
    if due <= 0 {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "nothing_due",
            format!(
                "Invoice {} has nothing to pay.",
                inv.number.as_deref().unwrap_or(&inv.id)
            ),
        ));
    }
    let p = api.billing.payments();
    if !p.enabled() {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "payments_disabled",
            "This AI Hub takes no card payments. Pay as the operator's invoice says.",
        ));
    }
    let dev = &who.developer;
    let (payment_id, url) = p
        .checkout(db, &dev.id, &dev.email, Purpose::Invoice(inv), due)
        .await
        .map_err(payment_failure)?;
    let answer = json!({"id": payment_id, "status": "pending", "amount": money::format(due), "checkout_url": url});
    match idempotent::start(db, &api.sealing_secret, &dev.id, &headers, &idem_body).await? {
        Start::Replay(r) => Ok(r),
        Start::Go(tx, idem) => {
            idempotent::finish(tx, idem, &api.sealing_secret, StatusCode::CREATED, answer).await
        }
    }
}

/// Receive Stripe's events.
///
/// `POST /api/v1/payments/stripe/webhook`: Stripe's events, verified.
#[utoipa::path(post, path = "/api/v1/payments/stripe/webhook", tag = "billing",
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body")),
    request_body(content = Object, description = "A Stripe event, as Stripe sends it"),
    responses(
        (status = 200, description = "Received", body = doc::StripeEventReceived),
        (status = 400, description = "Bad or missing signature (or payments are not configured), or not an event", body = super::openapi::ErrorBody),
        (status = 409, description = "The event pays an invoice that is no longer open", body = super::openapi::ErrorBody)
    ))]
async fn stripe_webhook(
    Api(api): Api,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiFailure> {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_signature",
                "Stripe-Signature header missing",
            )
        })?;
    let now = db::now_ms() / 1000;
    api.billing
        .payments()
        .verify(sig, &body, now)
        .map_err(|m| ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_signature", m))?;
    let event: Value =
        serde_json::from_slice(&body).map_err(|e| ApiFailure::invalid(format!("body: {e}")))?;
    let handled = payments::handle_event(api.accounts.db(), &event).await?;
    Ok(Json(json!({
        "received": true,
        "handled": match handled {
            payments::Handled::Applied => "applied",
            payments::Handled::Duplicate => "duplicate",
            payments::Handled::Ignored => "ignored",
        }
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    key_id: Option<String>,
    model: Option<String>,
}

/// A checked period: `[start, end)` in ms and the dates as given.
struct Period {
    from: String,
    to: String,
    start: i64,
    end: i64,
}

fn day_start(d: &NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0)
}

fn period(q: &UsageQuery) -> Result<Period, ApiFailure> {
    let now = db::now_ms();
    let today = DateTime::<Utc>::from_timestamp_millis(now)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let parse =
        |v: &Option<String>, field: &str, default: NaiveDate| -> Result<NaiveDate, ApiFailure> {
            match v {
                None => Ok(default),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                    ApiFailure::invalid(format!("{field}: expected a date like 2026-11-01"))
                }),
            }
        };
    let first = NaiveDate::from_ymd_opt(
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today),
        1,
    )
    .unwrap_or(today);
    let from = parse(&q.from, "from", first)?;
    let to = parse(&q.to, "to", today)?;
    if to < from {
        return Err(ApiFailure::invalid("to: must not be before from"));
    }
    if (to - from).num_days() > 366 {
        return Err(ApiFailure::invalid("from, to: at most 366 days at once"));
    }
    Ok(Period {
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        start: day_start(&from),
        end: day_start(&to) + 86_400_000,
    })
}

/// A usage group (or the totals) as the usage endpoint answers it.
fn usage_json(m: &Measures) -> Value {
    json!({
        "requests": m.requests,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "tokens": m.tokens(),
        "cost": money::format(m.cost_nanos),
        "errors": m.errors,
        "avg_latency_ms": m.avg_latency().unwrap_or(0.0),
    })
}

/// Summarize usage.
///
/// `GET /api/v1/developer/usage`
#[utoipa::path(get, path = "/api/v1/developer/usage", tag = "usage", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (UTC; default: the first of this month)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (UTC; default: today); at most 366 days after `from`"),
        ("group_by" = Option<String>, Query, description = "`model` (default), `key` or `day`"),
        ("key_id" = Option<String>, Query, description = "Only this key"),
        ("model" = Option<String>, Query, description = "Only this model")
    ),
    responses(
        (status = 200, description = "Totals and a breakdown", body = doc::UsageSummary),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn usage(
    Api(api): Api,
    AuthUser(who): AuthUser,
    q: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = q.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let p = period(&q)?;
    let group_by = q.group_by.clone().unwrap_or_else(|| "model".into());
    let group_sql = match group_by.as_str() {
        "model" => "model",
        "key" => "key_id",
        "day" => "day",
        _ => return Err(ApiFailure::invalid("group_by: expected model, key or day")),
    };
    let key = q.key_id.clone().unwrap_or_default();
    let model = q.model.clone().unwrap_or_default();
    let dev = &who.developer.id;
    // From the rollups (whole UTC days), never the raw rows.
    use crate::analytics::store::{Dim, Filter, Scope, Time};
    let (time, dims): (Time, &[Dim]) = match group_sql {
        "day" => (Time::Day, &[]),
        "key_id" => (Time::Total, &[Dim::Key]),
        _ => (Time::Total, &[Dim::Model]),
    };
    let base_key = aihub_contract::keys::base_key_id(&key).to_string();
    let filter = Filter {
        key: (!key.is_empty()).then_some(base_key.as_str()),
        model: (!model.is_empty()).then_some(model.as_str()),
    };
    let mut rows = api
        .analytics
        .sums(Scope::Developer(dev), p.start, p.end, time, dims, filter)
        .await?;
    rows.sort_by(|a, b| a.t.cmp(&b.t).then(a.keys.cmp(&b.keys)));
    let groups: Vec<(String, Measures)> = rows
        .into_iter()
        .map(|r| {
            let name = if group_sql == "day" {
                DateTime::<Utc>::from_timestamp_millis(r.t)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            } else {
                r.keys.into_iter().next().unwrap_or_default()
            };
            (name, r.m)
        })
        .collect();
    let total: Measures = groups.iter().map(|(_, m)| m).sum();
    Ok(Json(json!({
        "period": {"from": p.from, "to": p.to},
        "totals": usage_json(&total),
        "group_by": group_by,
        "breakdown": groups.iter().map(|(name, a)| {
            let mut v = usage_json(a);
            v["group"] = json!(name);
            v
        }).collect::<Vec<_>>(),
    })))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The export's header line.
const CSV_HEADER: &str = "request_id,time,key_id,model,endpoint,status,prompt_tokens,completion_tokens,cached_tokens,cost,latency_ms,error\n";

/// Appends `rows` as CSV lines.
fn csv_lines(rows: &[ExportRow], out: &mut String) {
    for r in rows {
        let time = DateTime::<Utc>::from_timestamp_millis(r.ts_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&r.request_id),
            time,
            csv_field(aihub_contract::keys::base_key_id(&r.key_id)),
            csv_field(&r.model),
            csv_field(&r.endpoint),
            r.status,
            r.prompt,
            r.completion,
            r.cached,
            money::format(r.cost),
            r.latency,
            csv_field(&r.error)
        ));
    }
}

/// One page of a developer's usage rows after `(after_ts, after_id)`.
async fn export_page(
    db: &db::Db,
    source: &Source,
    developer_id: &str,
    after_ts: i64,
    after_id: &str,
    end: i64,
) -> Result<Vec<ExportRow>, DomainError> {
    match source {
        Source::Sql => export_page_sql(db, developer_id, after_ts, after_id, end).await,
        Source::ClickHouse(ch) => ch.export_page(developer_id, after_ts, after_id, end).await,
    }
}

/// A developer's usage rows of `[start, end)` as one CSV text (the
/// `data_export` task).
pub async fn usage_csv(
    db: &db::Db,
    source: &Source,
    developer_id: &str,
    start: i64,
    end: i64,
) -> Result<String, DomainError> {
    let mut out = String::from(CSV_HEADER);
    let mut after = (start - 1, String::new());
    loop {
        let rows = export_page(db, source, developer_id, after.0, &after.1, end).await?;
        csv_lines(&rows, &mut out);
        match rows.last() {
            Some(r) if rows.len() == EXPORT_PAGE as usize => {
                after = (r.ts_ms, r.request_id.clone())
            }
            _ => return Ok(out),
        }
    }
}

/// Export usage as CSV.
///
/// `GET /api/v1/developer/usage/export` → CSV, streamed page by page.
#[utoipa::path(get, path = "/api/v1/developer/usage/export", tag = "usage", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (UTC; default: the first of this month)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (UTC; default: today); at most 366 days after `from`"),
        ("group_by" = Option<String>, Query, description = "Accepted and ignored"),
        ("key_id" = Option<String>, Query, description = "Accepted and ignored"),
        ("model" = Option<String>, Query, description = "Accepted and ignored")
    ),
    responses(
        (status = 200, description = "One CSV line per request (`request_id,time,key_id,model,endpoint,status,prompt_tokens,completion_tokens,cached_tokens,cost,latency_ms,error`), oldest first", body = String, content_type = "text/csv"),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn usage_export(
    Api(api): Api,
    AuthUser(who): AuthUser,
    q: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Query(q) = q.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let p = period(&q)?;
    let dev = who.developer.id.clone();
    let db = api.accounts.db().clone();
    let source = api.billing.source.clone();
    // State: (after (ts, request id), done).
    let stream = futures::stream::unfold(
        (Some((p.start - 1, String::new())), true),
        move |(after, first)| {
            let db = db.clone();
            let dev = dev.clone();
            let source = source.clone();
            async move {
                let (ts, rid) = after?;
                let rows = match export_page(&db, &source, &dev, ts, &rid, p.end).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "usage export failed");
                        return Some((Err(std::io::Error::other(e.to_string())), (None, false)));
                    }
                };
                let mut out = String::new();
                if first {
                    out.push_str(CSV_HEADER);
                }
                let next = rows.last().map(|r| (r.ts_ms, r.request_id.clone()));
                csv_lines(&rows, &mut out);
                if out.is_empty() {
                    return None;
                }
                let state = if rows.len() < EXPORT_PAGE as usize {
                    None
                } else {
                    next
                };
                Some((Ok::<_, std::io::Error>(Bytes::from(out)), (state, false)))
            }
        },
    );
    let filename = format!("aihub-usage-{}-to-{}.csv", p.from, p.to);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Rows per export page.
pub const EXPORT_PAGE: i64 = 2000;

/// One exported row.
pub struct ExportRow {
    /// Request id.
    pub request_id: String,
    /// Start, ms.
    pub ts_ms: i64,
    /// Key id.
    pub key_id: String,
    /// Model.
    pub model: String,
    /// Endpoint.
    pub endpoint: String,
    /// HTTP status.
    pub status: i64,
    /// Tokens.
    pub prompt: i64,
    /// Tokens.
    pub completion: i64,
    /// Tokens.
    pub cached: i64,
    /// Nano-units.
    pub cost: i64,
    /// Milliseconds.
    pub latency: i64,
    /// Error, if any.
    pub error: String,
}

async fn export_page_sql(
    db: &db::Db,
    developer_id: &str,
    after_ts: i64,
    after_id: &str,
    end: i64,
) -> Result<Vec<ExportRow>, DomainError> {
    let rows = sqlx::query(
        "SELECT request_id, ts_ms, key_id, model, endpoint, status, prompt_tokens, completion_tokens, \
         cached_tokens, cost_nanos, latency_ms, error FROM usage_records \
         WHERE developer_id = $1 AND ts_ms < $2 AND (ts_ms > $3 OR (ts_ms = $3 AND request_id > $4)) \
         ORDER BY ts_ms, request_id LIMIT $5",
    )
    .bind(developer_id)
    .bind(end)
    .bind(after_ts)
    .bind(after_id)
    .bind(EXPORT_PAGE)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ExportRow {
                request_id: r.try_get("request_id")?,
                ts_ms: r.try_get("ts_ms")?,
                key_id: r.try_get("key_id")?,
                model: r.try_get("model")?,
                endpoint: r.try_get("endpoint")?,
                status: r.try_get("status")?,
                prompt: r.try_get("prompt_tokens")?,
                completion: r.try_get("completion_tokens")?,
                cached: r.try_get("cached_tokens")?,
                cost: r.try_get("cost_nanos")?,
                latency: r.try_get("latency_ms")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}

async fn known_developer(c: &mut sqlx::AnyConnection, id: &str) -> Result<(), ApiFailure> {
    if crate::developers::fetch_by_id(c, id).await?.is_none() {
        return Err(DomainError::NotFound(format!("no developer '{id}'")).into());
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    amount: Value,
    #[serde(default)]
    memo: String,
}

/// What an operator's credit route does.
#[derive(Clone, Copy)]
enum CreditMove {
    /// Promotional credit given.
    Grant,
    /// Paid credit taken back (the money goes back through the provider).
    Refund,
}

/// Grant a developer credit.
///
/// `POST /api/v1/admin/developers/{id}/credit` → the new balance.
#[utoipa::path(post, path = "/api/v1/admin/developers/{id}/credit", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Developer id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::CreditAdjustment,
    responses(
        (status = 201, description = "The credit given and the balance now", body = doc::CreditAdjusted),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such developer", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn admin_grant(
    api: Api,
    admin: AdminUser,
    client: Client,
    id: Path<String>,
    headers: HeaderMap,
    body: ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    move_credit(CreditMove::Grant, api, admin, client, id, headers, body).await
}

/// Refund a developer's paid credit.
///
/// `POST /api/v1/admin/developers/{id}/refund` `{"amount", "memo"}`: takes
/// paid credit back (the operator returns the money through the provider).
#[utoipa::path(post, path = "/api/v1/admin/developers/{id}/refund", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Developer id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::CreditAdjustment,
    responses(
        (status = 201, description = "The credit taken back and the balance now", body = doc::CreditAdjusted),
        (status = 400, description = "Invalid request (e.g. more than the paid balance)", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such developer", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn admin_refund(
    api: Api,
    admin: AdminUser,
    client: Client,
    id: Path<String>,
    headers: HeaderMap,
    body: ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    move_credit(CreditMove::Refund, api, admin, client, id, headers, body).await
}

/// Grants or refunds credit, audited, once per `Idempotency-Key`.
async fn move_credit(
    how: CreditMove,
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: GrantRequest = parse(&body)?;
    // Grants may be any exact amount; refunds are of money paid, in cents.
    let places = match how {
        CreditMove::Grant => 9,
        CreditMove::Refund => 2,
    };
    let amount = money::parse_positive(&amount_text(&r.amount)?, "amount", places)?;
    let db = api.accounts.db();
    let (mut tx, idem) = match idempotent::start(
        db,
        &api.sealing_secret,
        &admin.developer.id,
        &headers,
        &body,
    )
    .await?
    {
        Start::Replay(r) => return Ok(r),
        Start::Go(tx, idem) => (tx, idem),
    };
    known_developer(&mut tx, &id).await?;
    let (posted, action) = match how {
        CreditMove::Grant => (
            credit::grant(&mut tx, db.backend(), &id, amount, &r.memo).await?,
            "billing.credit_granted",
        ),
        CreditMove::Refund => (
            credit::refund(&mut tx, db.backend(), &id, amount, &r.memo).await?,
            "billing.credit_refunded",
        ),
    };
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        action,
        &id,
        &json!({"amount": money::format(amount), "memo": r.memo, "transaction_id": posted.id}),
    )
    .await?;
    let balance = credit::balance(&mut tx, &id).await?;
    idempotent::finish(
        tx,
        idem,
        &api.sealing_secret,
        StatusCode::CREATED,
        json!({"transaction_id": posted.id, "balance": balance.to_json()}),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminPlanRequest {
    plan_id: String,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    included_tokens: Option<i64>,
    #[serde(default)]
    overage: Option<String>,
}

/// Assign a developer's plan.
///
/// `PUT /api/v1/admin/developers/{id}/plan`: assigns a plan at once, with
/// optional custom terms.
#[utoipa::path(put, path = "/api/v1/admin/developers/{id}/plan", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Developer id")),
    request_body = doc::AssignPlan,
    responses(
        (status = 200, description = "The developer's billing overview now", body = doc::BillingOverview),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such developer", body = super::openapi::ErrorBody)
    ))]
async fn admin_plan(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiFailure> {
    let r: AdminPlanRequest = parse(&body)?;
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    known_developer(&mut tx, &id).await?;
    plans::change(&mut tx, db.backend(), &id, &r.plan_id, false).await?;
    let price = r
        .price
        .as_deref()
        .map(|p| money::parse_non_negative(p, "price", 2))
        .transpose()?;
    let overage = match r.overage.as_deref() {
        None => None,
        Some(o) => Some(
            plans::Overage::parse(o)
                .ok_or_else(|| ApiFailure::invalid("overage: expected prepaid or invoice"))?,
        ),
    };
    if price.is_some() || r.included_tokens.is_some() || overage.is_some() {
        plans::set_terms(
            &mut tx,
            db.backend(),
            &id,
            &plans::Terms {
                price_nanos: price,
                included_tokens: r.included_tokens,
                overage,
            },
        )
        .await?;
    }
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.plan_assigned",
        &id,
        &body,
    )
    .await?;
    let answer = billing_json(&api, &mut tx, &id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesRequest {
    count: usize,
    amount: Value,
    #[serde(default)]
    expires_in_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminInvoiceQuery {
    developer_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// An invoice summary with its developer, for operators.
fn admin_invoice_json(inv: &invoices::Invoice, email: &str) -> Value {
    let mut v = inv.to_json();
    v["developer_id"] = json!(inv.developer_id);
    v["developer_email"] = json!(email);
    v
}

/// List invoices.
///
/// `GET /api/v1/admin/invoices?developer_id&status&limit&starting_after` →
/// `{"data": [INVOICE + developer_id, developer_email], "has_more"}`,
/// newest first.
#[utoipa::path(get, path = "/api/v1/admin/invoices", tag = "admin", security(("bearer" = [])),
    params(
        ("developer_id" = Option<String>, Query, description = "One developer's"),
        ("status" = Option<String>, Query, description = "`draft`, `open`, `paid`, `void` or `uncollectible`"),
        ("limit" = Option<i64>, Query, description = "1–100 (default 20)"),
        ("starting_after" = Option<String>, Query, description = "The last id of the previous page")
    ),
    responses(
        (status = 200, description = "Invoices, newest first", body = doc::OperatorInvoiceList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_list_invoices(
    Api(api): Api,
    _admin: AdminUser,
    query: Result<Query<AdminInvoiceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let status = some(q.status);
    if let Some(st) = status.as_deref() {
        if !invoices::STATUSES.contains(&st) {
            return Err(ApiFailure::invalid(format!(
                "status: expected one of {}, got '{st}'",
                invoices::STATUSES.join(", ")
            )));
        }
    }
    let search = invoices::InvoiceSearch {
        developer_id: some(q.developer_id),
        status,
        limit: super::webhooks::limit_of(q.limit)?,
        starting_after: some(q.starting_after),
    };
    let mut c = api.conn().await?;
    let (rows, has_more) = invoices::search(&mut c, &search).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|(inv, email)| admin_invoice_json(inv, email))
        .collect();
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// Show an invoice.
///
/// `GET /api/v1/admin/invoices/{id}` → INVOICE with its lines and developer.
#[utoipa::path(get, path = "/api/v1/admin/invoices/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice with its developer, lines and credit notes", body = doc::OperatorInvoiceDetail),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice", body = super::openapi::ErrorBody)
    ))]
async fn admin_show_invoice(
    Api(api): Api,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let inv = invoices::get(&mut c, &id, None).await?;
    let lines = invoices::lines(&mut c, &inv.id).await?;
    let email: String = sqlx::query_scalar("SELECT email FROM developers WHERE id = $1")
        .bind(&inv.developer_id)
        .fetch_optional(&mut *c)
        .await
        .map_err(DomainError::from)?
        .unwrap_or_default();
    let mut v = admin_invoice_json(&inv, &email);
    v["lines"] = json!(lines.iter().map(invoices::line_json).collect::<Vec<_>>());
    v["credit_notes"] = json!(invoices::credit_notes(&mut c, &inv.id).await?);
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorQuery {
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// List redemption code batches.
///
/// `GET /api/v1/admin/redemption-codes?limit&starting_after` → `{"data":
/// [{batch_id, amount, count, redeemed, expires_at, created_at,
/// created_by}], "has_more"}`, newest first (codes themselves are never
/// shown again).
#[utoipa::path(get, path = "/api/v1/admin/redemption-codes", tag = "admin", security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "1–100 (default 20)"),
        ("starting_after" = Option<String>, Query, description = "The last batch id of the previous page")
    ),
    responses(
        (status = 200, description = "Code batches, newest first", body = doc::RedemptionCodeBatchList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_list_codes(
    Api(api): Api,
    _admin: AdminUser,
    query: Result<Query<CursorQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let mut c = api.conn().await?;
    let (data, has_more) = credit::batches(
        &mut c,
        super::webhooks::limit_of(q.limit)?,
        q.starting_after.as_deref().filter(|s| !s.is_empty()),
    )
    .await?;
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// Create redemption codes.
///
/// `POST /api/v1/admin/redemption-codes` → 201 with the codes (shown once).
#[utoipa::path(post, path = "/api/v1/admin/redemption-codes", tag = "admin", security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::CreateRedemptionCodes,
    responses(
        (status = 201, description = "The codes, shown this once", body = doc::RedemptionCodesCreated),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn admin_codes(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: CodesRequest = parse(&body)?;
    let amount = money::parse_positive(&amount_text(&r.amount)?, "amount", 2)?;
    if r.expires_in_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(ApiFailure::invalid("expires_in_days: expected 1 to 3650"));
    }
    let expires = r.expires_in_days.map(|d| db::now_ms() + d * 86_400_000);
    let db = api.accounts.db();
    let (mut tx, idem) = match idempotent::start(
        db,
        &api.sealing_secret,
        &admin.developer.id,
        &headers,
        &body,
    )
    .await?
    {
        Start::Replay(r) => return Ok(r),
        Start::Go(tx, idem) => (tx, idem),
    };
    let batch =
        credit::create_codes(&mut tx, r.count, amount, expires, Some(&admin.developer.id)).await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.codes_created",
        &batch.batch_id,
        &json!({"count": r.count, "amount": money::format(amount), "expires_at": expires}),
    )
    .await?;
    let answer = json!({
        "batch_id": batch.batch_id,
        "amount": money::format(amount),
        "expires_at": expires,
        "codes": batch.codes,
    });
    // The codes are secrets: a replay answers without them.
    let mut stored = answer.clone();
    stored["codes"] = json!([]);
    stored["note"] = json!("codes are shown only in the first answer");
    idempotent::finish(tx, idem, &api.sealing_secret, StatusCode::CREATED, stored)
        .await
        .map(|_| idempotent::no_store(StatusCode::CREATED, answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentRequest {
    #[serde(default)]
    amount: Option<Value>,
}

/// Record a payment.
///
/// `POST /api/v1/admin/invoices/{id}/payments`: a payment received by hand
/// (with an `Idempotency-Key`, a retry records nothing more).
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/payments", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::RecordPayment,
    responses(
        (status = 201, description = "Recorded", body = doc::PaymentRecorded),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice", body = super::openapi::ErrorBody),
        (status = 409, description = "The invoice is not open, or the Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn admin_payment(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: PaymentRequest = parse(&body)?;
    let amount = match &r.amount {
        Some(v) => Some(money::parse_positive(&amount_text(v)?, "amount", 2)?),
        None => None,
    };
    let db = api.accounts.db();
    let idem_body = json!({"invoice": id, "body": body});
    let (mut tx, idem) = match idempotent::start(
        db,
        &api.sealing_secret,
        &admin.developer.id,
        &headers,
        &idem_body,
    )
    .await?
    {
        Start::Replay(r) => return Ok(r),
        Start::Go(tx, idem) => (tx, idem),
    };
    let inv = invoices::get(&mut tx, &id, None).await?;
    let payment_id = payments::record_manual(&mut tx, db.backend(), &inv, amount).await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.payment_recorded",
        &id,
        &json!({"payment_id": payment_id}),
    )
    .await?;
    let inv = invoices::get(&mut tx, &id, None).await?;
    idempotent::finish(
        tx,
        idem,
        &api.sealing_secret,
        StatusCode::CREATED,
        json!({"payment_id": payment_id, "invoice": inv.to_json()}),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditNoteRequest {
    amount: Value,
    reason: String,
}

/// Issue a credit note.
///
/// `POST /api/v1/admin/invoices/{id}/credit-notes` `{amount, reason}` →
/// 201 `{"credit_note", "invoice"}`: on an open invoice it lowers what is
/// due, on a paid one it credits the developer's balance
/// (`billing.credit_note_issued`). Takes an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/credit-notes", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry within 24 hours return the first answer")
    ),
    request_body = doc::IssueCreditNote,
    responses(
        (status = 201, description = "Issued", body = doc::CreditNoteIssued),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice", body = super::openapi::ErrorBody),
        (status = 409, description = "The invoice cannot take a credit note, or the Idempotency-Key was used with another body", body = super::openapi::ErrorBody)
    ))]
async fn admin_credit_note(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiFailure> {
    let r: CreditNoteRequest = parse(&body)?;
    let amount = money::parse_positive(&amount_text(&r.amount)?, "amount", 2)?;
    let db = api.accounts.db();
    let idem_body = json!({"invoice": id, "body": body});
    let (mut tx, idem) = match idempotent::start(
        db,
        &api.sealing_secret,
        &admin.developer.id,
        &headers,
        &idem_body,
    )
    .await?
    {
        Start::Replay(r) => return Ok(r),
        Start::Go(tx, idem) => (tx, idem),
    };
    let inv = invoices::get(&mut tx, &id, None).await?;
    let note = invoices::issue_credit_note(
        &mut tx,
        db.backend(),
        &inv,
        amount,
        &r.reason,
        Some(&admin.developer.id),
    )
    .await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.credit_note_issued",
        &id,
        &json!(note),
    )
    .await?;
    let inv = invoices::get(&mut tx, &id, None).await?;
    idempotent::finish(
        tx,
        idem,
        &api.sealing_secret,
        StatusCode::CREATED,
        json!({"credit_note": note, "invoice": inv.to_json()}),
    )
    .await
}

/// Void an invoice.
///
/// `POST /api/v1/admin/invoices/{id}/void`
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/void", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice now", body = doc::Invoice),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice", body = super::openapi::ErrorBody),
        (status = 409, description = "The invoice cannot be voided (e.g. paid)", body = super::openapi::ErrorBody)
    ))]
async fn admin_void(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let inv = invoices::get(&mut tx, &id, None).await?;
    invoices::void(&mut tx, &inv).await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.invoice_voided",
        &id,
        &json!({}),
    )
    .await?;
    let inv = invoices::get(&mut tx, &id, None).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(inv.to_json()))
}

/// Write off an invoice.
///
/// `POST /api/v1/admin/invoices/{id}/uncollectible`: writes off what is due.
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/uncollectible", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice now", body = doc::Invoice),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such invoice", body = super::openapi::ErrorBody),
        (status = 409, description = "The invoice is not open", body = super::openapi::ErrorBody)
    ))]
async fn admin_uncollectible(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let inv = invoices::get(&mut tx, &id, None).await?;
    invoices::write_off(&mut tx, &inv).await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.invoice_uncollectible",
        &id,
        &json!({"written_off": money::format(inv.amount_due())}),
    )
    .await?;
    let inv = invoices::get(&mut tx, &id, None).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(inv.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    model: String,
    input_per_million: String,
    output_per_million: String,
    #[serde(default)]
    cached_per_million: Option<String>,
}

fn prices_json(
    prices: &std::collections::BTreeMap<String, aihub_contract::money::Prices>,
) -> Value {
    json!(prices
        .iter()
        .map(|(model, p)| json!({
            "model": model,
            "input_per_million": p.input_per_million.normalize().to_string(),
            "output_per_million": p.output_per_million.normalize().to_string(),
            "cached_per_million": p.cached_per_million.normalize().to_string(),
        }))
        .collect::<Vec<_>>())
}

/// Set a developer's price for a model.
///
/// `PUT /api/v1/admin/developers/{id}/prices` `{"model", "input_per_million",
/// "output_per_million", "cached_per_million"?}` (USD per million tokens;
/// cached defaults to the input price) → the developer's custom prices.
#[utoipa::path(put, path = "/api/v1/admin/developers/{id}/prices", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Developer id")),
    request_body = doc::SetCustomPrice,
    responses(
        (status = 200, description = "The developer's custom prices", body = doc::CustomModelPriceList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such developer", body = super::openapi::ErrorBody)
    ))]
async fn admin_set_price(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiFailure> {
    let r: PriceRequest = parse(&body)?;
    let input = crate::catalog::prices::parse_price("input_per_million", &r.input_per_million)?;
    let prices = aihub_contract::money::Prices {
        input_per_million: input,
        output_per_million: crate::catalog::prices::parse_price(
            "output_per_million",
            &r.output_per_million,
        )?,
        cached_per_million: match &r.cached_per_million {
            Some(c) => crate::catalog::prices::parse_price("cached_per_million", c)?,
            None => input,
        },
    };
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    known_developer(&mut tx, &id).await?;
    plans::set_custom_price(&mut tx, db.backend(), &id, &r.model, Some(&prices)).await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.price_set",
        &id,
        &body,
    )
    .await?;
    let all = plans::custom_prices(&mut tx, &id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(json!({"data": prices_json(&all)})))
}

/// Remove a developer's price for a model.
///
/// `DELETE /api/v1/admin/developers/{id}/prices/{model}`: back to the
/// catalog's price.
#[utoipa::path(delete, path = "/api/v1/admin/developers/{id}/prices/{model}", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Developer id"),
        ("model" = String, Path, description = "Model name")
    ),
    responses(
        (status = 200, description = "The developer's custom prices", body = doc::CustomModelPriceList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such developer, or no custom price for that model", body = super::openapi::ErrorBody)
    ))]
async fn admin_remove_price(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path((id, model)): Path<(String, String)>,
) -> Result<Json<Value>, ApiFailure> {
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    known_developer(&mut tx, &id).await?;
    plans::set_custom_price(&mut tx, db.backend(), &id, &model, None).await?;
    audit::record(
        &mut tx,
        &Actor::of(&admin, &client),
        "billing.price_removed",
        &id,
        &json!({"model": model}),
    )
    .await?;
    let all = plans::custom_prices(&mut tx, &id).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok(Json(json!({"data": prices_json(&all)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    month: String,
    #[serde(default)]
    finalize: Option<bool>,
}

/// Close a billing month.
///
/// `POST /api/v1/admin/billing/close-month` `{"month": "2026-10"}`
#[utoipa::path(post, path = "/api/v1/admin/billing/close-month", tag = "admin", security(("bearer" = [])),
    request_body = doc::CloseMonth,
    responses(
        (status = 200, description = "What the close did", body = doc::MonthCloseReport),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator (or a read-only operator asking for a change)", body = super::openapi::ErrorBody)
    ))]
async fn admin_close(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiFailure> {
    let r: CloseRequest = parse(&body)?;
    let month =
        month_named(&r.month).ok_or_else(|| ApiFailure::invalid("month: expected YYYY-MM"))?;
    let b = &api.billing;
    let report = invoices::close_month(
        api.accounts.db(),
        &b.settings,
        &b.source,
        &month,
        r.finalize.unwrap_or(true),
    )
    .await?;
    let mut c = api.conn().await?;
    audit::record(
        &mut c,
        &Actor::of(&admin, &client),
        "billing.month_closed",
        &month.name,
        &body,
    )
    .await?;
    Ok(Json(close_json(&report)))
}

/// A close report's shape (API and CLI).
pub fn close_json(r: &invoices::CloseReport) -> Value {
    json!({
        "month": r.period,
        "charged_rows": r.charged_rows,
        "drafts": r.drafts,
        "finalized": r.finalized,
        "unchanged": r.unchanged,
        "closed": r.closed,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileQuery {
    month: String,
}

/// Reconcile a billing month.
///
/// `GET /api/v1/admin/billing/reconcile?month=2026-10`
#[utoipa::path(get, path = "/api/v1/admin/billing/reconcile", tag = "admin", security(("bearer" = [])),
    params(("month" = String, Query, description = "`YYYY-MM`")),
    responses(
        (status = 200, description = "The checks' outcome", body = doc::ReconcileReport),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_reconcile(
    Api(api): Api,
    _admin: AdminUser,
    Query(q): Query<ReconcileQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let month =
        month_named(&q.month).ok_or_else(|| ApiFailure::invalid("month: expected YYYY-MM"))?;
    let r = crate::billing::reconcile::run(api.accounts.db(), &api.billing.source, &month).await?;
    Ok(Json(reconcile_json(&r)))
}

/// A reconciliation report's shape (API and CLI).
pub fn reconcile_json(r: &crate::billing::reconcile::Report) -> Value {
    json!({
        "month": r.period,
        "ok": r.ok(),
        "usage_rows": r.usage_rows,
        "usage_cost": money::format(r.usage_cost_nanos),
        "charged": money::format(r.charged_nanos),
        "transactions": r.transactions,
        "invoices": r.invoices,
        "differences": r.differences,
    })
}

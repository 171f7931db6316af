//! `/api/v1/admin/*`: operators only. Every handler takes [`AdminUser`],
//! so developers get 403 `forbidden` before anything runs.

use super::guard::{AdminUser, Client};
use super::webhooks::limit_of;
use super::{Api, ApiFailure, ApiJson};
use crate::audit::{self, Actor, AuditFilter};
use crate::billing::plans::{self, PlanInput};
use crate::catalog::models;
use crate::developers::{self, Developer, DeveloperSearch, Role};
use crate::error::DomainError;
use aihub_contract::snapshot::ProviderKind;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The operator routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(audit_log))
        .routes(routes!(list_developers))
        .routes(routes!(show_developer))
        .routes(routes!(suspend))
        .routes(routes!(activate))
        .routes(routes!(set_limits, reset_limits))
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(update_plan))
        .routes(routes!(setup))
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(update_provider))
        .routes(routes!(test_provider))
        .routes(routes!(list_models, create_model))
        .routes(routes!(upstream_health))
        .routes(routes!(import_price_list))
        .routes(routes!(show_settings, change_settings))
        .routes(routes!(update_model))
        .routes(routes!(add_deployment))
        .routes(routes!(update_deployment, delete_deployment))
}

/// The shapes of the operator routes' answers, for the OpenAPI document.
/// (Catalog answers and bodies derive their schemas where they are
/// defined: [`crate::catalog::ModelSummary`], [`models::PriceImport`],
/// [`crate::catalog::health::DeploymentStatus`],
/// [`crate::catalog::providers::Probe`], [`crate::catalog::ModelInput`],
/// [`crate::catalog::DeploymentInput`], [`crate::catalog::ProviderChange`].)
#[allow(dead_code)]
pub(crate) mod doc {
    use serde_json::Value;
    use utoipa::ToSchema;

    /// Prices per million tokens, decimal strings in the platform's
    /// currency (e.g. `"2.5"`).
    #[derive(ToSchema)]
    pub struct AdminModelPrices {
        /// Per million prompt tokens not served from cache.
        pub input_per_million: String,
        /// Per million completion tokens.
        pub output_per_million: String,
        /// Per million prompt tokens served from cache.
        pub cached_per_million: String,
    }

    /// `GET /api/v1/admin/overview`.
    #[derive(ToSchema)]
    pub struct AdminAccountCounts {
        /// Accounts with role `developer`.
        pub developers: i64,
        /// Accounts with role `admin`.
        pub operators: i64,
    }

    /// Who made an audited change.
    #[derive(ToSchema)]
    pub struct AdminAuditActor {
        /// `dev_…`, or `cli` for the command line on the server.
        pub id: String,
        /// The account's email; empty when the actor is not an account.
        pub email: String,
        /// The client address (`local` for the command line, `unknown`
        /// when not known).
        pub ip: String,
    }

    /// One audit log entry.
    #[derive(ToSchema)]
    pub struct AdminAuditEntry {
        /// `aud_…`
        pub id: String,
        /// When, unix ms.
        pub at_ms: i64,
        pub actor: AdminAuditActor,
        /// What was done, e.g. `plan.created`, `developer.suspended`.
        pub action: String,
        /// What it was done to (a developer, key, plan, model, …).
        pub target_id: String,
        /// The change's details (often `{"before", "after"}`); their shape
        /// depends on the action.
        pub details: Value,
    }

    /// `GET /api/v1/admin/audit-log`.
    #[derive(ToSchema)]
    pub struct AdminAuditPage {
        /// Newest first.
        pub data: Vec<AdminAuditEntry>,
        /// Older entries follow (pass the last id as `starting_after`).
        pub has_more: bool,
    }

    /// `individual` or `enterprise`.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminDeveloperType {
        Individual,
        Enterprise,
    }

    /// `developer` or `admin` (an operator).
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminAccountRole {
        Developer,
        Admin,
    }

    /// `active` or `suspended`.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminAccountStatus {
        Active,
        Suspended,
    }

    /// The language of the account's mail and portal.
    #[derive(ToSchema)]
    pub enum AdminAccountLanguage {
        #[serde(rename = "en")]
        En,
        #[serde(rename = "zh-CN")]
        ZhCn,
    }

    /// An account as support sees it.
    #[derive(ToSchema)]
    pub struct AdminDeveloper {
        /// `dev_…`
        pub id: String,
        pub email: String,
        pub full_name: String,
        pub company_name: Option<String>,
        pub developer_type: AdminDeveloperType,
        pub role: AdminAccountRole,
        /// An operator who may look but not change anything.
        pub read_only: bool,
        pub status: AdminAccountStatus,
        pub email_verified: bool,
        pub language: AdminAccountLanguage,
        /// The plan's id; empty without a subscription.
        pub plan_id: String,
        /// Requests per minute, all keys together (0: unlimited).
        pub rate_limit_per_minute: i64,
        /// Tokens per calendar month, all keys together (0: unlimited).
        pub quota_tokens_per_month: i64,
        pub created_at_ms: i64,
    }

    /// `GET /api/v1/admin/developers`.
    #[derive(ToSchema)]
    pub struct AdminDeveloperPage {
        /// Newest first.
        pub data: Vec<AdminDeveloper>,
        /// More accounts follow (pass the last id as `starting_after`).
        pub has_more: bool,
    }

    /// The account's API keys, deleted ones left out.
    #[derive(ToSchema)]
    pub struct AdminKeyCounts {
        /// Enabled keys.
        pub active: i64,
        pub total: i64,
    }

    /// `GET /api/v1/admin/developers/{id}`.
    #[derive(ToSchema)]
    pub struct AdminDeveloperDetail {
        #[schema(inline)]
        #[serde(flatten)]
        pub developer: AdminDeveloper,
        pub keys: AdminKeyCounts,
        /// The last ten audit entries about the account, newest first.
        pub recent_audit: Vec<AdminAuditEntry>,
    }

    /// `PUT /api/v1/admin/developers/{id}/limits`: at least one; 0 means
    /// unlimited.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdminLimitsInput {
        pub rate_limit_per_minute: Option<u64>,
        pub quota_tokens_per_month: Option<u64>,
    }

    /// How overage is paid: `prepaid` (from the balance) or `invoice`.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminPlanOverage {
        Prepaid,
        Invoice,
    }

    /// A plan as operators see it.
    #[derive(ToSchema)]
    pub struct AdminPlan {
        /// `free`, `developer`, …
        pub id: String,
        pub name: String,
        /// Monthly fee, a decimal string (`"29.00"`).
        pub price: String,
        /// Tokens a month included.
        pub included_tokens: i64,
        /// Account requests/min applied with the plan; `null`: none.
        pub requests_per_minute: Option<i64>,
        /// Account monthly token cap applied with the plan; `null`: none.
        pub token_quota_monthly: Option<i64>,
        pub overage: AdminPlanOverage,
        /// Listed to developers and open to self-service changes.
        pub public: bool,
        /// Display order.
        pub sort_order: i64,
        /// Accounts subscribed to it.
        pub subscribers: i64,
    }

    /// `GET /api/v1/admin/plans`.
    #[derive(ToSchema)]
    pub struct AdminPlanList {
        /// In display order, private plans included.
        pub data: Vec<AdminPlan>,
    }

    /// `POST /api/v1/admin/plans` (`id`, `name`, `price`, `included_tokens`
    /// and `overage` required) and `PATCH /api/v1/admin/plans/{id}` (any
    /// field but `id`; absent fields stay).
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdminPlanInput {
        /// `[a-z0-9][a-z0-9_-]{0,39}`; create only.
        pub id: Option<String>,
        /// Display name, 1 to 80 characters.
        pub name: Option<String>,
        /// Monthly fee, a decimal amount (`"29.00"`), 0 for free.
        pub price: Option<String>,
        /// Tokens a month included.
        pub included_tokens: Option<i64>,
        /// Account requests/min applied when the plan is assigned (0 = none).
        pub requests_per_minute: Option<i64>,
        /// Account monthly token cap applied when assigned (0 = none).
        pub token_quota_monthly: Option<i64>,
        pub overage: Option<AdminPlanOverage>,
        /// Listed to developers and open to self-service changes (default true).
        pub public: Option<bool>,
        /// Display order (default 100).
        pub sort_order: Option<i64>,
    }

    /// A step of the setup checklist.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminSetupStepId {
        Provider,
        Model,
        Plan,
        Email,
        Payment,
    }

    /// One thing the platform needs before it can sell a model.
    #[derive(ToSchema)]
    pub struct AdminSetupStep {
        pub id: AdminSetupStepId,
        pub done: bool,
        /// What to do, for the operator.
        pub hint: String,
    }

    /// `GET /api/v1/admin/setup`.
    #[derive(ToSchema)]
    pub struct AdminSetup {
        /// Every step is done.
        pub done: bool,
        /// In this order: provider, model, plan, email, payment.
        pub steps: Vec<AdminSetupStep>,
    }

    /// An upstream protocol.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminProviderKind {
        Openai,
        Anthropic,
    }

    /// An upstream provider (never its key).
    #[derive(ToSchema)]
    pub struct AdminProvider {
        /// `prov_…`
        pub id: String,
        /// Unique name.
        pub name: String,
        pub kind: AdminProviderKind,
        /// E.g. `https://api.openai.com/v1`.
        pub base_url: String,
        /// Whether routing may use it.
        pub enabled: bool,
        /// Whether an upstream key is stored (sealed).
        pub has_api_key: bool,
    }

    /// `GET /api/v1/admin/providers`.
    #[derive(ToSchema)]
    pub struct AdminProviderList {
        /// By name.
        pub data: Vec<AdminProvider>,
    }

    /// `POST /api/v1/admin/providers`.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdminProviderInput {
        /// Unique: 1 to 128 letters, digits or `. _ - / :`.
        pub name: String,
        pub kind: AdminProviderKind,
        /// An `http://` or `https://` URL without query.
        pub base_url: String,
        /// The upstream key (absent or empty: none, for local servers).
        #[schema(required = false)]
        pub api_key: String,
    }

    /// `GET /api/v1/admin/models`.
    #[derive(ToSchema)]
    pub struct AdminModelList {
        /// By name.
        pub data: Vec<crate::catalog::ModelSummary>,
    }

    /// `GET /api/v1/admin/health`.
    #[derive(ToSchema)]
    pub struct AdminUpstreamHealth {
        /// By model, then deployment id.
        pub data: Vec<crate::catalog::health::DeploymentStatus>,
        /// How recent a report must be to count, ms.
        pub fresh_ms: i64,
    }

    /// A row of a price list.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdminListedPrice {
        /// Public model name.
        pub model: String,
        /// A decimal string (`"2.50"`) or number.
        pub input_per_million: String,
        pub output_per_million: String,
        /// Default: the input price.
        pub cached_per_million: Option<String>,
    }

    /// A price list as JSON: `{"prices": [ROW…]}` (the bare array is
    /// accepted too).
    #[derive(ToSchema)]
    pub struct AdminPriceList {
        pub prices: Vec<AdminListedPrice>,
    }

    /// A console setting.
    #[derive(ToSchema)]
    pub struct AdminSetting {
        /// `section.field`, e.g. `email.smtp_host`.
        pub key: String,
        /// Secrets are never shown, only whether they are set.
        pub secret: bool,
        /// The value in effect; `null` for secrets.
        pub value: Value,
        /// A secret has a value (always true for other settings).
        pub set: bool,
        /// Changed in the console (over the configuration).
        pub overridden: bool,
        /// The configuration's value under it (secrets: whether set).
        pub configured: Value,
    }

    /// `GET /api/v1/admin/settings`.
    #[derive(ToSchema)]
    pub struct AdminSettings {
        pub data: Vec<AdminSetting>,
    }

    /// `open`, `invite_only` or `closed`.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum AdminSignupPolicy {
        Open,
        InviteOnly,
        Closed,
    }

    /// `smtp` or `log` (mail into files, development).
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminEmailMode {
        Smtp,
        Log,
    }

    /// SMTP transport security.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum AdminSmtpTls {
        None,
        Starttls,
        Tls,
    }

    /// `PATCH /api/v1/admin/settings`: the settings to change (at least
    /// one); `null` goes back to the configured value.
    #[derive(ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AdminSettingsChange {
        #[serde(rename = "accounts.signup")]
        pub accounts_signup: Option<AdminSignupPolicy>,
        #[serde(rename = "accounts.invite_codes")]
        pub accounts_invite_codes: Option<Vec<String>>,
        #[serde(rename = "accounts.require_email_verification_for_keys")]
        pub accounts_require_email_verification_for_keys: Option<bool>,
        #[serde(rename = "email.mode")]
        pub email_mode: Option<AdminEmailMode>,
        #[serde(rename = "email.smtp_host")]
        pub email_smtp_host: Option<String>,
        #[serde(rename = "email.smtp_port")]
        pub email_smtp_port: Option<u16>,
        #[serde(rename = "email.smtp_tls")]
        pub email_smtp_tls: Option<AdminSmtpTls>,
        #[serde(rename = "email.smtp_user")]
        pub email_smtp_user: Option<String>,
        /// Secret.
        #[serde(rename = "email.smtp_password")]
        pub email_smtp_password: Option<String>,
        #[serde(rename = "email.from")]
        pub email_from: Option<String>,
        /// `none` or `stripe`.
        #[serde(rename = "payments.provider")]
        pub payments_provider: Option<String>,
        /// Secret.
        #[serde(rename = "payments.stripe_secret_key")]
        pub payments_stripe_secret_key: Option<String>,
        /// Secret.
        #[serde(rename = "payments.stripe_webhook_secret")]
        pub payments_stripe_webhook_secret: Option<String>,
        /// A decimal amount.
        #[serde(rename = "payments.min_top_up")]
        pub payments_min_top_up: Option<String>,
        /// A decimal amount.
        #[serde(rename = "payments.max_top_up")]
        pub payments_max_top_up: Option<String>,
        #[serde(rename = "webhooks.allow_private_networks")]
        pub webhooks_allow_private_networks: Option<bool>,
        /// 0 (keep) or at least 2.
        #[serde(rename = "analytics.raw_retention_months")]
        pub analytics_raw_retention_months: Option<u32>,
    }
}

/// List the console settings.
///
/// `GET /api/v1/admin/settings` → `{"data": [SETTING…]}`: each setting
/// the console changes, its value now (secrets: only whether set), whether
/// the console changed it, and the configured value under it.
#[utoipa::path(get, path = "/api/v1/admin/settings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every console setting", body = doc::AdminSettings), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn show_settings(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    Ok(Json(api.settings.view()))
}

/// A settings change, audited with the keys changed (secrets as "set").
struct SettingsChanged(Value);

impl Audited for SettingsChanged {
    fn target(&self) -> String {
        "settings".into()
    }
    fn details(&self) -> Value {
        self.0.clone()
    }
    fn answer(self) -> Value {
        self.0
    }
}

/// Change console settings.
///
/// `PATCH /api/v1/admin/settings` `{"email.smtp_host": "smtp.example.com",
/// "accounts.signup": "invite_only", "email.smtp_port": null, …}` → the
/// settings as GET shows them (`settings.changed`). `null` goes back to the
/// configured value. The whole result must be a valid configuration
/// (checked, mail transport and payment provider built) or nothing is
/// stored; every control plane applies it within a second.
#[utoipa::path(patch, path = "/api/v1/admin/settings", tag = "admin", security(("bearer" = [])),
    request_body = doc::AdminSettingsChange,
    responses((status = 200, description = "The settings as they apply now", body = doc::AdminSettings), (status = 400, description = "Invalid request: an unknown key, a bad value, or a configuration that would not work", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody)))]
async fn change_settings(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(changes): ApiJson<serde_json::Map<String, Value>>,
) -> Result<axum::response::Response, ApiFailure> {
    let settings = api.settings.clone();
    let db = api.accounts.db().clone();
    let changer = settings.clone();
    // The change and its audit entry commit together; the answer is the
    // settings as they apply after it.
    audited(
        &api,
        Actor::of(&admin, &client),
        "settings.changed",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let audit = changer.change(c, &changes).await?;
                Ok(SettingsChanged(audit))
            })
        },
    )
    .await?;
    // Here at once; other control planes within a second.
    settings.reload_now(&db).await?;
    Ok(Json(settings.view()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    dry_run: Option<bool>,
}

/// The price list an import applied, audited (`models.prices_imported`).
struct Imported(models::PriceImport);

impl Audited for Imported {
    fn target(&self) -> String {
        "price-list".into()
    }
    fn details(&self) -> Value {
        json!({"changed": self.0.changed, "unknown": self.0.unknown})
    }
    fn answer(self) -> Value {
        json!(self.0)
    }
}

/// Import a price list (preview or apply).
///
/// `POST /api/v1/admin/price-list?dry_run=true|false` with a price list
/// (`Content-Type: text/csv`, or JSON) → `{dry_run, changed: [{model,
/// model_id, before, after}], unchanged, unknown}`. A dry run (the default)
/// writes nothing; otherwise every change is applied in one transaction
/// and audited. Names no model has are listed, not created.
#[utoipa::path(post, path = "/api/v1/admin/price-list", tag = "admin", security(("bearer" = [])),
    params(("dry_run" = Option<bool>, Query, description = "Only compare (the default); `false` applies the list")),
    request_body(description = "A price list: CSV with the header `model,input_per_million,output_per_million[,cached_per_million]`, or JSON", content((String = "text/csv"), (doc::AdminPriceList = "application/json"))),
    responses((status = 200, description = "What the list changes (or changed)", body = models::PriceImport), (status = 400, description = "Invalid request or price list (the message names the row)", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody)))]
async fn import_price_list(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    query: Result<Query<ImportQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let rows = crate::catalog::prices::parse_price_list(&body, csv)?;
    let backend = api.accounts.db().backend();
    if q.dry_run.unwrap_or(true) {
        let mut c = api.conn().await?;
        let preview = models::import_prices(&mut c, backend, &rows, true).await?;
        return Ok(Json(json!(preview)).into_response());
    }
    audited(
        &api,
        Actor::of(&admin, &client),
        "models.prices_imported",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                Ok(Imported(
                    models::import_prices(c, backend, &rows, false).await?,
                ))
            })
        },
    )
    .await
}

/// Show upstream health.
///
/// `GET /api/v1/admin/health` → `{"data": [STATUS…], "fresh_ms"}`: each
/// deployment the gateways reported in the last `fresh_ms` — attempts,
/// errors, error rate and latency summed over gateways, and whether any
/// gateway has it out of rotation.
#[utoipa::path(get, path = "/api/v1/admin/health", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Recently reported deployments", body = doc::AdminUpstreamHealth), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn upstream_health(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let data = crate::catalog::health::current(&mut c, crate::db::now_ms()).await?;
    Ok(Json(
        json!({"data": data, "fresh_ms": crate::catalog::health::FRESH_MS}),
    ))
}

/// List models with their deployments.
///
/// `GET /api/v1/admin/models` → `{"data": [MODEL…]}` by name: each public
/// model with its prices per million tokens, whether it is enabled, and
/// its deployments in routing order (provider, upstream model, weight,
/// priority, timeout, enabled).
#[utoipa::path(get, path = "/api/v1/admin/models", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every model with its deployments", body = doc::AdminModelList), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn list_models(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let models = crate::catalog::list_models(api.accounts.db()).await?;
    let data =
        serde_json::to_value(models).map_err(|e| DomainError::Internal(format!("models: {e}")))?;
    Ok(Json(json!({"data": data})))
}

/// Runs `change` in a write transaction and audits it there: `action` on
/// `target` with `details` from what `change` returned; answers `status`
/// with the JSON `change` made.
async fn audited<T, F>(
    api: &super::ApiState,
    actor: Actor,
    action: &str,
    status: StatusCode,
    change: F,
) -> Result<axum::response::Response, ApiFailure>
where
    F: for<'c> FnOnce(
        &'c mut sqlx::AnyConnection,
    ) -> futures::future::BoxFuture<'c, crate::error::DomainResult<T>>,
    T: Audited,
{
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let done = change(&mut tx).await?;
    audit::record(&mut tx, &actor, action, &done.target(), &done.details()).await?;
    tx.commit().await.map_err(DomainError::from)?;
    Ok((status, Json(done.answer())).into_response())
}

/// What an audited change returns: its target, the audit details and the
/// answer.
trait Audited {
    fn target(&self) -> String;
    fn details(&self) -> Value;
    fn answer(self) -> Value;
}

/// A catalog change: the target, the model before (none when created) and after.
struct ModelChange(
    String,
    Option<crate::catalog::ModelSummary>,
    crate::catalog::ModelSummary,
);

impl Audited for ModelChange {
    fn target(&self) -> String {
        self.0.clone()
    }
    fn details(&self) -> Value {
        json!({"before": self.1, "after": self.2})
    }
    fn answer(self) -> Value {
        json!(self.2)
    }
}

/// Create a model.
///
/// `POST /api/v1/admin/models` `{name, prices?, enabled?, plans?}` → 201
/// MODEL (`model.created`). Gateways know it at once and answer 503 for it
/// until it has a deployment.
#[utoipa::path(post, path = "/api/v1/admin/models", tag = "admin", security(("bearer" = [])),
    request_body = crate::catalog::ModelInput,
    responses((status = 201, description = "Created", body = crate::catalog::ModelSummary), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 409, description = "A model with this name exists", body = super::openapi::ErrorBody)))]
async fn create_model(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(input): ApiJson<crate::catalog::ModelInput>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "model.created",
        StatusCode::CREATED,
        |c| {
            Box::pin(async move {
                let m = models::create_model(c, backend, &input).await?;
                Ok(ModelChange(m.id.clone(), None, m))
            })
        },
    )
    .await
}

/// Change a model.
///
/// `PATCH /api/v1/admin/models/{id}` `{name?, prices?, enabled?, plans?}`
/// → MODEL (`model.updated`, before and after).
#[utoipa::path(patch, path = "/api/v1/admin/models/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id (`mdl_…`)")),
    request_body = crate::catalog::ModelInput,
    responses((status = 200, description = "The model as it is now", body = crate::catalog::ModelSummary), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such model", body = super::openapi::ErrorBody), (status = 409, description = "Another model has this name", body = super::openapi::ErrorBody)))]
async fn update_model(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<crate::catalog::ModelInput>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "model.updated",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let (before, after) = models::update_model(c, backend, &id, &input).await?;
                Ok(ModelChange(id, Some(before), after))
            })
        },
    )
    .await
}

/// Add a deployment to a model.
///
/// `POST /api/v1/admin/models/{id}/deployments` `{provider_id,
/// upstream_model?, weight?, priority?, timeout_ms?, enabled?,
/// upstream_prices?}` → 201 MODEL (`deployment.created`).
#[utoipa::path(post, path = "/api/v1/admin/models/{id}/deployments", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id (`mdl_…`)")),
    request_body = crate::catalog::DeploymentInput,
    responses((status = 201, description = "The model with its new deployment", body = crate::catalog::ModelSummary), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such model or provider", body = super::openapi::ErrorBody), (status = 409, description = "The model already has a deployment on this provider and upstream model", body = super::openapi::ErrorBody)))]
async fn add_deployment(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<crate::catalog::DeploymentInput>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "deployment.created",
        StatusCode::CREATED,
        |c| {
            Box::pin(async move {
                let before = models::model(c, &id).await?;
                let (dep, after) = models::add_deployment(c, backend, &id, &input).await?;
                Ok(ModelChange(dep, Some(before), after))
            })
        },
    )
    .await
}

/// Change a deployment.
///
/// `PATCH /api/v1/admin/deployments/{id}` `{upstream_model?, weight?,
/// priority?, timeout_ms?, enabled?, upstream_prices?}` → MODEL
/// (`deployment.updated`).
#[utoipa::path(patch, path = "/api/v1/admin/deployments/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Deployment id (`dep_…`)")),
    request_body = crate::catalog::DeploymentInput,
    responses((status = 200, description = "The deployment's model as it is now", body = crate::catalog::ModelSummary), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such deployment", body = super::openapi::ErrorBody), (status = 409, description = "The model already has a deployment on this provider and upstream model", body = super::openapi::ErrorBody)))]
async fn update_deployment(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<crate::catalog::DeploymentInput>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "deployment.updated",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let (before, after) = models::update_deployment(c, backend, &id, &input).await?;
                Ok(ModelChange(id, Some(before), after))
            })
        },
    )
    .await
}

/// Delete a deployment.
///
/// `DELETE /api/v1/admin/deployments/{id}` → MODEL without it
/// (`deployment.deleted`).
#[utoipa::path(delete, path = "/api/v1/admin/deployments/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Deployment id (`dep_…`)")),
    responses((status = 200, description = "The deployment's model without it", body = crate::catalog::ModelSummary), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such deployment", body = super::openapi::ErrorBody)))]
async fn delete_deployment(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "deployment.deleted",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let (before, after) = models::delete_deployment(c, backend, &id).await?;
                Ok(ModelChange(id, Some(before), after))
            })
        },
    )
    .await
}

/// A provider change: the provider before (none when created), after, and
/// what happened to its key (`"set"`, `"removed"` or nothing).
struct ProviderChanged(Option<Value>, Value, Option<&'static str>);

impl Audited for ProviderChanged {
    fn target(&self) -> String {
        self.1["id"].as_str().unwrap_or_default().to_string()
    }
    fn details(&self) -> Value {
        let mut d = json!({"before": self.0, "after": self.1});
        if let Some(k) = self.2 {
            d["api_key"] = json!(k);
        }
        d
    }
    fn answer(self) -> Value {
        self.1
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderInput {
    name: String,
    kind: String,
    base_url: String,
    #[serde(default)]
    api_key: String,
}

/// Add an upstream provider.
///
/// `POST /api/v1/admin/providers` `{name, kind: openai|anthropic,
/// base_url, api_key?}` → 201 PROVIDER (`provider.created`); the key is
/// stored sealed.
#[utoipa::path(post, path = "/api/v1/admin/providers", tag = "admin", security(("bearer" = [])),
    request_body = doc::AdminProviderInput,
    responses((status = 201, description = "Created; the key is stored sealed", body = doc::AdminProvider), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 409, description = "A provider with this name exists", body = super::openapi::ErrorBody)))]
async fn create_provider(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(input): ApiJson<ProviderInput>,
) -> Result<axum::response::Response, ApiFailure> {
    let kind = ProviderKind::parse(&input.kind).ok_or_else(|| {
        ApiFailure::invalid(format!(
            "kind: expected openai or anthropic, got '{}'",
            input.kind
        ))
    })?;
    let backend = api.accounts.db().backend();
    let vault = api.vault.clone();
    let key_set = (!input.api_key.trim().is_empty()).then_some("set");
    audited(
        &api,
        Actor::of(&admin, &client),
        "provider.created",
        StatusCode::CREATED,
        |c| {
            Box::pin(async move {
                let new = crate::catalog::NewProvider {
                    name: input.name,
                    kind,
                    base_url: input.base_url,
                    api_key: input.api_key,
                };
                let p = crate::catalog::providers::insert(c, backend, &vault, new).await?;
                Ok(ProviderChanged(
                    None,
                    provider_json(&p, key_set.is_some()),
                    key_set,
                ))
            })
        },
    )
    .await
}

/// Test a provider's connection.
///
/// `POST /api/v1/admin/providers/{id}/test` → `{ok, status, latency_ms,
/// models, error}`: the provider's model list fetched with its stored key.
#[utoipa::path(post, path = "/api/v1/admin/providers/{id}/test", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Provider id (`prov_…`)")),
    responses((status = 200, description = "What the provider answered (`ok` false when it failed)", body = crate::catalog::providers::Probe), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such provider", body = super::openapi::ErrorBody)))]
async fn test_provider(
    Api(api): Api,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let (p, key) = {
        let mut c = api.conn().await?;
        crate::catalog::providers::with_key(&mut c, &api.vault, &id).await?
    };
    let probe = crate::catalog::providers::probe(&p, &key).await;
    Ok(Json(json!(probe)))
}

/// `PROVIDER` in the operator API (never its upstream key).
fn provider_json(p: &crate::catalog::Provider, has_key: bool) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "kind": p.kind.as_str(),
        "base_url": p.base_url,
        "enabled": p.enabled,
        "has_api_key": has_key,
    })
}

/// List upstream providers.
///
/// `GET /api/v1/admin/providers` → `{"data": [PROVIDER…]}` by name.
#[utoipa::path(get, path = "/api/v1/admin/providers", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every provider", body = doc::AdminProviderList), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn list_providers(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let data: Vec<Value> = crate::catalog::providers::list(&mut c)
        .await?
        .iter()
        .map(|(p, k)| provider_json(p, *k))
        .collect();
    Ok(Json(json!({"data": data})))
}

/// Change a provider.
///
/// `PATCH /api/v1/admin/providers/{id}` `{name?, base_url?, enabled?,
/// api_key?}` → PROVIDER, audited (`provider.updated`, before and after,
/// and `api_key: "set" | "removed"` when the key was rotated — never the
/// key); every gateway follows with the next snapshot (a disabled provider
/// gets no traffic).
#[utoipa::path(patch, path = "/api/v1/admin/providers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Provider id (`prov_…`)")),
    request_body = crate::catalog::ProviderChange,
    responses((status = 200, description = "The provider as it is now", body = doc::AdminProvider), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such provider", body = super::openapi::ErrorBody), (status = 409, description = "Another provider has this name", body = super::openapi::ErrorBody)))]
async fn update_provider(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<crate::catalog::ProviderChange>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    let vault = api.vault.clone();
    audited(
        &api,
        Actor::of(&admin, &client),
        "provider.updated",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let u = crate::catalog::providers::update(c, backend, &vault, &id, &change).await?;
                let key = change
                    .api_key
                    .as_ref()
                    .map(|_| if u.has_key { "set" } else { "removed" });
                Ok(ProviderChanged(
                    Some(provider_json(&u.before, u.had_key)),
                    provider_json(&u.after, u.has_key),
                    key,
                ))
            })
        },
    )
    .await
}

/// Show the setup checklist.
///
/// `GET /api/v1/admin/setup` → `{"done", "steps": [{"id", "done",
/// "hint"}…]}`: what is left before the platform can sell a model — an
/// enabled provider, a model served by one, a public plan, mail over SMTP,
/// a payment provider. The console shows it until every step is done.
#[utoipa::path(get, path = "/api/v1/admin/setup", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The setup checklist", body = doc::AdminSetup), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn setup(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let mut counts = Vec::with_capacity(3);
    for sql in [
        "SELECT COUNT(*) FROM providers WHERE enabled = TRUE",
        "SELECT COUNT(*) FROM deployments d JOIN providers p ON p.id = d.provider_id \
         WHERE d.enabled = TRUE AND p.enabled = TRUE",
        "SELECT COUNT(*) FROM plans WHERE public = TRUE",
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut *c)
            .await
            .map_err(DomainError::from)?;
        counts.push(n);
    }
    let [providers, models, plans] = counts[..] else {
        return Err(DomainError::Internal("setup counts".into()).into());
    };
    let steps = [
        (
            "provider",
            providers > 0,
            "Add an upstream provider with its API key (aihub admin add-provider).",
        ),
        (
            "model",
            models > 0,
            "Publish a model served by an enabled provider, with its prices (aihub admin add-model).",
        ),
        (
            "plan",
            plans > 0,
            "Offer at least one public plan (GET/POST /api/v1/admin/plans).",
        ),
        (
            "email",
            api.settings.config().email.mode == crate::config::EmailMode::Smtp,
            "Send mail over SMTP so developers can verify their addresses ([email] mode = \"smtp\").",
        ),
        (
            "payment",
            api.billing.payments().enabled(),
            "Take payments with Stripe ([payments] provider = \"stripe\" and its keys).",
        ),
    ];
    let done = steps.iter().all(|s| s.1);
    let steps: Vec<Value> = steps
        .iter()
        .map(|(id, done, hint)| json!({"id": id, "done": done, "hint": hint}))
        .collect();
    Ok(Json(json!({"done": done, "steps": steps})))
}

/// List plans.
///
/// `GET /api/v1/admin/plans` → `{"data": [PLAN…]}`, private plans
/// included, each with `public`, `sort_order` and `subscribers`.
#[utoipa::path(get, path = "/api/v1/admin/plans", operation_id = "admin_list_plans", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every plan", body = doc::AdminPlanList), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn list_plans(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let mut data = Vec::new();
    for p in plans::list(&mut c).await? {
        data.push(plans::admin_json(&mut c, &p).await?);
    }
    Ok(Json(json!({"data": data})))
}

/// Create a plan.
///
/// `POST /api/v1/admin/plans` `{id, name, price, included_tokens, overage,
/// requests_per_minute?, token_quota_monthly?, public?, sort_order?}` →
/// 201 PLAN, audited (`plan.created`).
#[utoipa::path(post, path = "/api/v1/admin/plans", tag = "admin", security(("bearer" = [])),
    request_body = doc::AdminPlanInput,
    responses((status = 201, description = "Created", body = doc::AdminPlan), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 409, description = "A plan with this id exists", body = super::openapi::ErrorBody)))]
async fn create_plan(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(input): ApiJson<PlanInput>,
) -> Result<axum::response::Response, ApiFailure> {
    audited(
        &api,
        Actor::of(&admin, &client),
        "plan.created",
        StatusCode::CREATED,
        |c| {
            Box::pin(async move {
                let plan = plans::create(c, &input).await?;
                let v = plans::admin_json(c, &plan).await?;
                Ok(PlanChange(plan.id, None, v))
            })
        },
    )
    .await
}

/// A plan change: its id, the plan before (none when created) and after.
struct PlanChange(String, Option<Value>, Value);

impl Audited for PlanChange {
    fn target(&self) -> String {
        self.0.clone()
    }
    fn details(&self) -> Value {
        match &self.1 {
            None => self.2.clone(),
            Some(before) => json!({"before": before, "after": self.2}),
        }
    }
    fn answer(self) -> Value {
        self.2
    }
}

/// Change a plan.
///
/// `PATCH /api/v1/admin/plans/{id}` with any of the create fields but `id`
/// → PLAN, audited (`plan.updated`, with the plan before and after).
#[utoipa::path(patch, path = "/api/v1/admin/plans/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id")),
    request_body = doc::AdminPlanInput,
    responses((status = 200, description = "The plan as it is now", body = doc::AdminPlan), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such plan", body = super::openapi::ErrorBody)))]
async fn update_plan(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PlanInput>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "plan.updated",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let (before, after) = plans::update(c, backend, &id, &input).await?;
                let v = plans::admin_json(c, &after).await?;
                Ok(PlanChange(id, Some(before.to_json()), v))
            })
        },
    )
    .await
}

/// `DEVELOPER` in the operator API: the account as support sees it.
fn developer_json(d: &Developer, plan_id: &str) -> Value {
    json!({
        "id": d.id,
        "email": d.email,
        "full_name": d.full_name,
        "company_name": d.company_name,
        "developer_type": d.developer_type.as_str(),
        "role": d.role.as_str(),
        "read_only": d.read_only,
        "status": if d.is_active { "active" } else { "suspended" },
        "email_verified": d.email_verified,
        "language": d.language.as_str(),
        "plan_id": plan_id,
        "rate_limit_per_minute": d.api_rate_limit,
        "quota_tokens_per_month": d.api_quota_limit,
        "created_at_ms": d.created_at_ms,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeveloperQuery {
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// Find developers.
///
/// `GET /api/v1/admin/developers?q&status=active|suspended&role=developer|admin&limit&starting_after`
/// → `{"data": [DEVELOPER…], "has_more"}`, newest first; `q` matches part
/// of the id, email or name.
#[utoipa::path(get, path = "/api/v1/admin/developers", tag = "admin", security(("bearer" = [])),
    params(("q" = Option<String>, Query, description = "Part of the id, email or name"), ("status" = Option<String>, Query, description = "`active` or `suspended`"), ("role" = Option<String>, Query, description = "`developer` or `admin`"), ("limit" = Option<i64>, Query, description = "Page size, 1–100 (default 20)"), ("starting_after" = Option<String>, Query, description = "The last id of the previous page")),
    responses((status = 200, description = "A page of accounts", body = doc::AdminDeveloperPage), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn list_developers(
    Api(api): Api,
    _admin: AdminUser,
    query: Result<Query<DeveloperQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let active = match q.status.as_deref().unwrap_or("") {
        "" => None,
        "active" => Some(true),
        "suspended" => Some(false),
        other => {
            return Err(ApiFailure::invalid(format!(
                "status: expected active or suspended, got '{other}'"
            )))
        }
    };
    let role = match q.role.as_deref().unwrap_or("") {
        "" => None,
        r => Some(Role::parse(r).map_err(|_| {
            ApiFailure::invalid(format!("role: expected developer or admin, got '{r}'"))
        })?),
    };
    let search = DeveloperSearch {
        q: q.q,
        active,
        role,
        limit: limit_of(q.limit)?,
        starting_after: q.starting_after.filter(|s| !s.is_empty()),
    };
    let mut c = api.conn().await?;
    let (rows, has_more) = developers::search(&mut c, &search).await?;
    let data: Vec<Value> = rows.iter().map(|(d, p)| developer_json(d, p)).collect();
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// Show a developer.
///
/// `GET /api/v1/admin/developers/{id}` → DEVELOPER with `keys` (enabled
/// and total, deleted ones left out) and the last ten audit entries about
/// the account (`recent_audit`).
#[utoipa::path(get, path = "/api/v1/admin/developers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id (`dev_…`)")),
    responses((status = 200, description = "The account with its key counts and recent audit entries", body = doc::AdminDeveloperDetail), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such account", body = super::openapi::ErrorBody)))]
async fn show_developer(
    Api(api): Api,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let mut v = developer_view(&mut c, &id).await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, \
         COALESCE(SUM(CASE WHEN enabled = TRUE THEN 1 ELSE 0 END), 0) AS active \
         FROM api_keys WHERE developer_id = $1 AND deleted_at IS NULL",
    )
    .bind(&id)
    .fetch_one(&mut *c)
    .await
    .map_err(DomainError::from)?;
    use sqlx::Row;
    let total: i64 = row.try_get("total").map_err(DomainError::from)?;
    let active: i64 = row.try_get("active").map_err(DomainError::from)?;
    let (recent, _) = audit::list(
        &mut c,
        &AuditFilter {
            target_id: Some(id.clone()),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await?;
    v["keys"] = json!({"active": active, "total": total});
    v["recent_audit"] = json!(recent);
    Ok(Json(v))
}

/// Suspend a developer.
///
/// `POST /api/v1/admin/developers/{id}/suspend` → DEVELOPER: the account's
/// keys are refused by every gateway from the next configuration snapshot
/// and its sessions are refused.
#[utoipa::path(post, path = "/api/v1/admin/developers/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id (`dev_…`)")),
    responses((status = 200, description = "The account, suspended", body = doc::AdminDeveloper), (status = 400, description = "Operators cannot be suspended", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such account", body = super::openapi::ErrorBody)))]
async fn suspend(
    api: Api,
    admin: AdminUser,
    client: Client,
    id: Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    set_status(api, admin, client, id, false).await
}

/// Reactivate a developer.
///
/// `POST /api/v1/admin/developers/{id}/activate` → DEVELOPER.
#[utoipa::path(post, path = "/api/v1/admin/developers/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id (`dev_…`)")),
    responses((status = 200, description = "The account, active", body = doc::AdminDeveloper), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such account", body = super::openapi::ErrorBody)))]
async fn activate(
    api: Api,
    admin: AdminUser,
    client: Client,
    id: Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    set_status(api, admin, client, id, true).await
}

async fn set_status(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    active: bool,
) -> Result<Json<Value>, ApiFailure> {
    if !id.starts_with("dev_") {
        return Err(not_found(&id).into());
    }
    let db = api.accounts.db();
    let d = developers::set_active_by(db, &id, active, &Actor::of(&admin, &client)).await?;
    let mut c = api.conn().await?;
    Ok(Json(developer_view(&mut c, &d.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsInput {
    rate_limit_per_minute: Option<u64>,
    quota_tokens_per_month: Option<u64>,
}

/// A change of an account's limits: its id and DEVELOPER before and after.
struct LimitsChanged(String, Value, Value);

impl Audited for LimitsChanged {
    fn target(&self) -> String {
        self.0.clone()
    }
    fn details(&self) -> Value {
        let pick = |v: &Value| json!({"rate_limit_per_minute": v["rate_limit_per_minute"], "quota_tokens_per_month": v["quota_tokens_per_month"]});
        json!({"before": pick(&self.1), "after": pick(&self.2)})
    }
    fn answer(self) -> Value {
        self.2
    }
}

/// The account (with its plan) as DEVELOPER, or not found.
async fn developer_view(
    c: &mut sqlx::AnyConnection,
    id: &str,
) -> crate::error::DomainResult<Value> {
    let (d, plan) = developers::fetch_with_plan(c, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(developer_json(&d, &plan))
}

/// Set a developer's custom limits.
///
/// `PUT /api/v1/admin/developers/{id}/limits` `{rate_limit_per_minute?,
/// quota_tokens_per_month?}` (0: unlimited) → DEVELOPER, custom limits for
/// all the account's keys together (`developer.limits_set`); gateways
/// follow within a second.
#[utoipa::path(put, path = "/api/v1/admin/developers/{id}/limits", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id (`dev_…`)")),
    request_body = doc::AdminLimitsInput,
    responses((status = 200, description = "The account with its new limits", body = doc::AdminDeveloper), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such account", body = super::openapi::ErrorBody)))]
async fn set_limits(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<LimitsInput>,
) -> Result<axum::response::Response, ApiFailure> {
    if input.rate_limit_per_minute.is_none() && input.quota_tokens_per_month.is_none() {
        return Err(ApiFailure::invalid(
            "expected rate_limit_per_minute or quota_tokens_per_month",
        ));
    }
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "developer.limits_set",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let before = developer_view(c, &id).await?;
                let limits = developers::AccountLimits {
                    rate_limit: input.rate_limit_per_minute,
                    quota_limit: input.quota_tokens_per_month,
                };
                developers::set_limits_on(c, backend, &id, limits).await?;
                let after = developer_view(c, &id).await?;
                Ok(LimitsChanged(id, before, after))
            })
        },
    )
    .await
}

/// Reset a developer's limits to the plan's.
///
/// `DELETE /api/v1/admin/developers/{id}/limits` → DEVELOPER with its
/// plan's limits again (`developer.limits_reset`).
#[utoipa::path(delete, path = "/api/v1/admin/developers/{id}/limits", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id (`dev_…`)")),
    responses((status = 200, description = "The account with its plan's limits", body = doc::AdminDeveloper), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator (or a read-only operator, for a change), or the account is suspended", body = super::openapi::ErrorBody), (status = 404, description = "No such account", body = super::openapi::ErrorBody)))]
async fn reset_limits(
    Api(api): Api,
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiFailure> {
    let backend = api.accounts.db().backend();
    audited(
        &api,
        Actor::of(&admin, &client),
        "developer.limits_reset",
        StatusCode::OK,
        |c| {
            Box::pin(async move {
                let before = developer_view(c, &id).await?;
                plans::reset_limits(c, backend, &id).await?;
                let after = developer_view(c, &id).await?;
                Ok(LimitsChanged(id, before, after))
            })
        },
    )
    .await
}

fn not_found(id: &str) -> DomainError {
    DomainError::NotFound(format!("no developer '{id}'"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    actor_id: Option<String>,
    target_id: Option<String>,
    action: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// Search the audit log.
///
/// `GET /api/v1/admin/audit-log?actor_id&target_id&action=a,b&since_ms&until_ms&limit&starting_after`
/// → `{"data": [ENTRY…], "has_more"}`, newest first: who (id, email, IP)
/// did what to which target, when, with the change's details.
#[utoipa::path(get, path = "/api/v1/admin/audit-log", tag = "admin", security(("bearer" = [])),
    params(("actor_id" = Option<String>, Query, description = "Only this actor's entries"), ("target_id" = Option<String>, Query, description = "Only entries about this target"), ("action" = Option<String>, Query, description = "Any of these actions, comma-separated"), ("since_ms" = Option<i64>, Query, description = "At or after, unix ms"), ("until_ms" = Option<i64>, Query, description = "Before, unix ms"), ("limit" = Option<i64>, Query, description = "Page size, 1–100 (default 20)"), ("starting_after" = Option<String>, Query, description = "The last id of the previous page")),
    responses((status = 200, description = "A page of audit entries", body = doc::AdminAuditPage), (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn audit_log(
    Api(api): Api,
    _admin: AdminUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        actor_id: some(q.actor_id),
        target_id: some(q.target_id),
        actions: super::comma_list(q.action),
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        limit: limit_of(q.limit)?,
        starting_after: some(q.starting_after),
    };
    let mut c = api.conn().await?;
    let (data, has_more) = audit::list(&mut c, &filter).await?;
    Ok(Json(json!({"data": data, "has_more": has_more})))
}

/// Count accounts.
///
/// `GET /api/v1/admin/overview` → account counts.
#[utoipa::path(get, path = "/api/v1/admin/overview", operation_id = "admin_account_counts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Account counts", body = doc::AdminAccountCounts), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "Not an operator, or the account is suspended", body = super::openapi::ErrorBody)))]
async fn overview(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let o = api.accounts.overview().await?;
    Ok(Json(
        json!({"developers": o.developers, "operators": o.operators}),
    ))
}

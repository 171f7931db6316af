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
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The operator routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/v1/admin/overview", get(overview))
        .route("/api/v1/admin/audit-log", get(audit_log))
        .route("/api/v1/admin/developers", get(list_developers))
        .route("/api/v1/admin/developers/{id}", get(show_developer))
        .route("/api/v1/admin/developers/{id}/suspend", post(suspend))
        .route("/api/v1/admin/developers/{id}/activate", post(activate))
        .route(
            "/api/v1/admin/developers/{id}/limits",
            axum::routing::put(set_limits).delete(reset_limits),
        )
        .route("/api/v1/admin/plans", get(list_plans).post(create_plan))
        .route("/api/v1/admin/plans/{id}", patch(update_plan))
        .route("/api/v1/admin/setup", get(setup))
        .route(
            "/api/v1/admin/providers",
            get(list_providers).post(create_provider),
        )
        .route("/api/v1/admin/providers/{id}", patch(update_provider))
        .route("/api/v1/admin/providers/{id}/test", post(test_provider))
        .route("/api/v1/admin/models", get(list_models).post(create_model))
        .route("/api/v1/admin/health", get(upstream_health))
        .route("/api/v1/admin/price-list", post(import_price_list))
        .route(
            "/api/v1/admin/settings",
            get(show_settings).patch(change_settings),
        )
        .route("/api/v1/admin/models/{id}", patch(update_model))
        .route(
            "/api/v1/admin/models/{id}/deployments",
            post(add_deployment),
        )
        .route(
            "/api/v1/admin/deployments/{id}",
            patch(update_deployment).delete(delete_deployment),
        )
}

/// `GET /api/v1/admin/settings` → `{"data": [SETTING…]}`: each setting
/// the console changes, its value now (secrets: only whether set), whether
/// the console changed it, and the configured value under it.
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

/// `PATCH /api/v1/admin/settings` `{"email.smtp_host": "smtp.example.com",
/// "accounts.signup": "invite_only", "email.smtp_port": null, …}` → the
/// settings as GET shows them (`settings.changed`). `null` goes back to the
/// configured value. The whole result must be a valid configuration
/// (checked, mail transport and payment provider built) or nothing is
/// stored; every control plane applies it within a second.
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

/// `POST /api/v1/admin/price-list?dry_run=true|false` with a price list
/// (`Content-Type: text/csv`, or JSON) → `{dry_run, changed: [{model,
/// model_id, before, after}], unchanged, unknown}`. A dry run (the default)
/// writes nothing; otherwise every change is applied in one transaction
/// and audited. Names no model has are listed, not created.
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

/// `GET /api/v1/admin/health` → `{"data": [STATUS…], "fresh_ms"}`: each
/// deployment the gateways reported in the last `fresh_ms` — attempts,
/// errors, error rate and latency summed over gateways, and whether any
/// gateway has it out of rotation.
async fn upstream_health(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let data = crate::catalog::health::current(&mut c, crate::db::now_ms()).await?;
    Ok(Json(
        json!({"data": data, "fresh_ms": crate::catalog::health::FRESH_MS}),
    ))
}

/// `GET /api/v1/admin/models` → `{"data": [MODEL…]}` by name: each public
/// model with its prices per million tokens, whether it is enabled, and
/// its deployments in routing order (provider, upstream model, weight,
/// priority, timeout, enabled).
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

/// `POST /api/v1/admin/models` `{name, prices?, enabled?, plans?}` → 201
/// MODEL (`model.created`). Gateways know it at once and answer 503 for it
/// until it has a deployment.
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

/// `PATCH /api/v1/admin/models/{id}` `{name?, prices?, enabled?, plans?}`
/// → MODEL (`model.updated`, before and after).
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

/// `POST /api/v1/admin/models/{id}/deployments` `{provider_id,
/// upstream_model?, weight?, priority?, timeout_ms?, enabled?,
/// upstream_prices?}` → 201 MODEL (`deployment.created`).
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

/// `PATCH /api/v1/admin/deployments/{id}` `{upstream_model?, weight?,
/// priority?, timeout_ms?, enabled?, upstream_prices?}` → MODEL
/// (`deployment.updated`).
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

/// `DELETE /api/v1/admin/deployments/{id}` → MODEL without it
/// (`deployment.deleted`).
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

/// `POST /api/v1/admin/providers` `{name, kind: openai|anthropic,
/// base_url, api_key?}` → 201 PROVIDER (`provider.created`); the key is
/// stored sealed.
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

/// `POST /api/v1/admin/providers/{id}/test` → `{ok, status, latency_ms,
/// models, error}`: the provider's model list fetched with its stored key.
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

/// `GET /api/v1/admin/providers` → `{"data": [PROVIDER…]}` by name.
async fn list_providers(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let data: Vec<Value> = crate::catalog::providers::list(&mut c)
        .await?
        .iter()
        .map(|(p, k)| provider_json(p, *k))
        .collect();
    Ok(Json(json!({"data": data})))
}

/// `PATCH /api/v1/admin/providers/{id}` `{name?, base_url?, enabled?,
/// api_key?}` → PROVIDER, audited (`provider.updated`, before and after,
/// and `api_key: "set" | "removed"` when the key was rotated — never the
/// key); every gateway follows with the next snapshot (a disabled provider
/// gets no traffic).
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

/// `GET /api/v1/admin/setup` → `{"done", "steps": [{"id", "done",
/// "hint"}…]}`: what is left before the platform can sell a model — an
/// enabled provider, a model served by one, a public plan, mail over SMTP,
/// a payment provider. The console shows it until every step is done.
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

/// `GET /api/v1/admin/plans` → `{"data": [PLAN…]}`, private plans
/// included, each with `public`, `sort_order` and `subscribers`.
async fn list_plans(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let mut data = Vec::new();
    for p in plans::list(&mut c).await? {
        data.push(plans::admin_json(&mut c, &p).await?);
    }
    Ok(Json(json!({"data": data})))
}

/// `POST /api/v1/admin/plans` `{id, name, price, included_tokens, overage,
/// requests_per_minute?, token_quota_monthly?, public?, sort_order?}` →
/// 201 PLAN, audited (`plan.created`).
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

/// `PATCH /api/v1/admin/plans/{id}` with any of the create fields but `id`
/// → PLAN, audited (`plan.updated`, with the plan before and after).
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

/// `GET /api/v1/admin/developers?q&status=active|suspended&role=developer|admin&limit&starting_after`
/// → `{"data": [DEVELOPER…], "has_more"}`, newest first; `q` matches part
/// of the id, email or name.
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

/// `GET /api/v1/admin/developers/{id}` → DEVELOPER with `keys` (enabled
/// and total, deleted ones left out) and the last ten audit entries about
/// the account (`recent_audit`).
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

/// `POST /api/v1/admin/developers/{id}/suspend` → DEVELOPER: the account's
/// keys are refused by every gateway from the next configuration snapshot
/// and its sessions are refused.
async fn suspend(
    api: Api,
    admin: AdminUser,
    client: Client,
    id: Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    set_status(api, admin, client, id, false).await
}

/// `POST /api/v1/admin/developers/{id}/activate` → DEVELOPER.
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

/// `PUT /api/v1/admin/developers/{id}/limits` `{rate_limit_per_minute?,
/// quota_tokens_per_month?}` (0: unlimited) → DEVELOPER, custom limits for
/// all the account's keys together (`developer.limits_set`); gateways
/// follow within a second.
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

/// `DELETE /api/v1/admin/developers/{id}/limits` → DEVELOPER with its
/// plan's limits again (`developer.limits_reset`).
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

/// `GET /api/v1/admin/audit-log?actor_id&target_id&action=a,b&since_ms&until_ms&limit&starting_after`
/// → `{"data": [ENTRY…], "has_more"}`, newest first: who (id, email, IP)
/// did what to which target, when, with the change's details.
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

/// `GET /api/v1/admin/overview` → account counts.
async fn overview(Api(api): Api, _admin: AdminUser) -> Result<Json<Value>, ApiFailure> {
    let o = api.accounts.overview().await?;
    Ok(Json(
        json!({"developers": o.developers, "operators": o.operators}),
    ))
}

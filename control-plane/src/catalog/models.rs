//! Public models, their prices, and the deployments that serve them.

use super::prices::{check_price, default_prices, stored_price};
use super::providers::{self, check_name};
use crate::db::{self, get_bool, Db, Entity};
use crate::error::{DomainError, DomainResult};
use aihub_contract::money::Prices;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// Default per-attempt upstream timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
const MAX_TIMEOUT_MS: u64 = 3_600_000;
const MAX_WEIGHT: u32 = 1_000_000;

/// Input of [`add_model`]: a deployment of a (possibly new) public model.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    /// Public model name clients send.
    pub model: String,
    /// Provider, by id or name.
    pub provider: String,
    /// Name the provider expects; defaults to the public name.
    pub upstream_model: Option<String>,
    /// Prices; `None` keeps an existing model's prices or uses the defaults
    /// for a new one.
    pub prices: Option<Prices>,
    /// Relative weight within the priority group (default 1).
    pub weight: u32,
    /// Lower is tried first (default 0).
    pub priority: i32,
    /// Per-attempt timeout (default 60 s).
    pub timeout_ms: u64,
    /// What the provider charges the operator for this deployment (margin
    /// reports); `None` = unknown (0).
    pub upstream_prices: Option<Prices>,
}

impl NewDeployment {
    /// A deployment with the default weight, priority, timeout and prices.
    pub fn new(model: impl Into<String>, provider: impl Into<String>) -> Self {
        NewDeployment {
            model: model.into(),
            provider: provider.into(),
            upstream_model: None,
            prices: None,
            upstream_prices: None,
            weight: 1,
            priority: 0,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

/// What [`add_model`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedDeployment {
    /// The model's id.
    pub model_id: String,
    /// Whether the model was created by this call.
    pub model_created: bool,
    /// The new deployment's id.
    pub deployment_id: String,
    /// The model's prices after the call.
    pub prices: Prices,
}

/// A model with its deployments, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModelSummary {
    /// `mdl_…`
    pub id: String,
    /// Public name.
    pub name: String,
    /// Prices per million tokens.
    #[schema(value_type = crate::api::admin::doc::AdminModelPrices)]
    pub prices: Prices,
    /// Whether clients can use it.
    pub enabled: bool,
    /// Plan ids it is offered to; empty: every plan.
    pub plans: Vec<String>,
    /// Deployments in routing order.
    pub deployments: Vec<DeploymentSummary>,
}

/// One deployment, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeploymentSummary {
    /// `dep_…`
    pub id: String,
    /// Provider id.
    pub provider_id: String,
    /// Provider name.
    pub provider_name: String,
    /// Upstream model name.
    pub upstream_model: String,
    /// Weight.
    pub weight: i64,
    /// Priority.
    pub priority: i64,
    /// Timeout, ms.
    pub timeout_ms: i64,
    /// Whether routing may use it.
    pub enabled: bool,
    /// What the provider charges the operator (margin reports).
    #[schema(value_type = crate::api::admin::doc::AdminModelPrices)]
    pub upstream_prices: Prices,
}

fn check_weight(weight: u32) -> DomainResult<()> {
    if weight > MAX_WEIGHT {
        return Err(DomainError::invalid(format!(
            "weight: expected 0 to {MAX_WEIGHT}, got {weight}"
        )));
    }
    Ok(())
}

fn check_timeout(timeout_ms: u64) -> DomainResult<()> {
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(DomainError::invalid(format!(
            "timeout ms: expected 1 to {MAX_TIMEOUT_MS}, got {timeout_ms}"
        )));
    }
    Ok(())
}

fn check_prices(prices: Prices) -> DomainResult<Prices> {
    let check = |field: &str, d| {
        check_price(d).ok_or_else(|| {
            DomainError::invalid(format!(
                "{field}: expected a non-negative decimal of at most 9 decimals, got {d}"
            ))
        })
    };
    Ok(Prices {
        input_per_million: check("input price per million", prices.input_per_million)?,
        output_per_million: check("output price per million", prices.output_per_million)?,
        cached_per_million: check("cached price per million", prices.cached_per_million)?,
    })
}

/// Adds a deployment, creating the model first when it does not exist.
/// Given prices replace an existing model's prices. All or nothing.
pub async fn add_model(db: &Db, new: NewDeployment) -> DomainResult<AddedDeployment> {
    let model_name = check_name("model name", &new.model)?;
    let upstream = match new.upstream_model.as_deref() {
        Some(u) => check_name("upstream model", u)?,
        None => model_name.clone(),
    };
    check_weight(new.weight)?;
    check_timeout(new.timeout_ms)?;
    let given_prices = new.prices.map(check_prices).transpose()?;
    let prices_given = given_prices.is_some();
    let upstream_prices = match new.upstream_prices {
        Some(p) => check_prices(p)?,
        None => Prices {
            input_per_million: Decimal::ZERO,
            output_per_million: Decimal::ZERO,
            cached_per_million: Decimal::ZERO,
        },
    };
    let now = db::now_ms();

    let mut tx = db.begin_write().await?;
    let provider = providers::resolve(&mut tx, &new.provider).await?;
    let existing = sqlx::query(
        "SELECT id, input_price_per_million, output_price_per_million, cached_price_per_million \
         FROM models WHERE name = $1",
    )
    .bind(&model_name)
    .fetch_optional(&mut *tx)
    .await?;

    let (model_id, model_created, prices) = match existing {
        Some(row) => {
            let id: String = row.try_get("id")?;
            let prices = match given_prices {
                Some(p) => {
                    sqlx::query(
                        "UPDATE models SET input_price_per_million = $1, output_price_per_million = $2, \
                         cached_price_per_million = $3, updated_at = $4 WHERE id = $5",
                    )
                    .bind(p.input_per_million.to_string())
                    .bind(p.output_per_million.to_string())
                    .bind(p.cached_per_million.to_string())
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    p
                }
                None => row_prices(&row)?,
            };
            (id, false, prices)
        }
        None => {
            let id = db::new_id("mdl_");
            let p = given_prices.unwrap_or_else(|| default_prices(&model_name));
            sqlx::query(
                "INSERT INTO models (id, name, input_price_per_million, output_price_per_million, \
                 cached_price_per_million, enabled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(&model_name)
            .bind(p.input_per_million.to_string())
            .bind(p.output_per_million.to_string())
            .bind(p.cached_per_million.to_string())
            .bind(true)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if db::is_unique_violation(&e) {
                    DomainError::Conflict(format!(
                        "model '{model_name}' was created concurrently; run the command again"
                    ))
                } else {
                    e.into()
                }
            })?;
            (id, true, p)
        }
    };

    let deployment = DeploymentSummary {
        id: db::new_id("dep_"),
        provider_id: provider.id,
        provider_name: provider.name,
        upstream_model: upstream,
        weight: i64::from(new.weight),
        priority: i64::from(new.priority),
        timeout_ms: i64::try_from(new.timeout_ms).unwrap_or(i64::MAX),
        enabled: true,
        upstream_prices,
    };
    store_deployment(&mut tx, &model_id, &deployment, true).await?;
    let deployment_id = deployment.id;
    // Changes are recorded last: on PostgreSQL this takes the change lock,
    // which is best held only for the moment before commit.
    if model_created || prices_given {
        db::record_change(&mut tx, db.backend(), Entity::Catalog, &model_id).await?;
    }
    db::record_change(&mut tx, db.backend(), Entity::Catalog, &deployment_id).await?;
    tx.commit().await?;
    Ok(AddedDeployment {
        model_id,
        model_created,
        deployment_id,
        prices,
    })
}

/// Reads a model row's prices.
pub(super) fn row_prices(row: &sqlx::any::AnyRow) -> DomainResult<Prices> {
    Ok(Prices {
        input_per_million: stored_price(&row.try_get::<String, _>("input_price_per_million")?)?,
        output_per_million: stored_price(&row.try_get::<String, _>("output_price_per_million")?)?,
        cached_per_million: stored_price(&row.try_get::<String, _>("cached_price_per_million")?)?,
    })
}

/// Every model with every deployment, by name.
pub async fn list_models(db: &Db) -> DomainResult<Vec<ModelSummary>> {
    let mut conn = db.pool().acquire().await?;
    list_models_on(&mut conn, "").await
}

/// One model with its deployments, or 404.
pub async fn model(conn: &mut AnyConnection, id: &str) -> DomainResult<ModelSummary> {
    list_models_on(conn, id)
        .await?
        .pop()
        .ok_or_else(|| DomainError::NotFound(format!("no model '{id}'")))
}

/// Models (all, or the one with id `only`), by name.
async fn list_models_on(conn: &mut AnyConnection, only: &str) -> DomainResult<Vec<ModelSummary>> {
    let model_rows = sqlx::query(
        "SELECT id, name, input_price_per_million, output_price_per_million, \
         cached_price_per_million, enabled FROM models WHERE ($1 = '' OR id = $1) ORDER BY name",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let dep_rows = sqlx::query(
        "SELECT d.id, d.model_id, d.provider_id, p.name AS provider_name, d.upstream_model, \
         d.weight, d.priority, d.timeout_ms, d.enabled, \
         d.upstream_input_price_per_million AS input_price_per_million, \
         d.upstream_output_price_per_million AS output_price_per_million, \
         d.upstream_cached_price_per_million AS cached_price_per_million \
         FROM deployments d JOIN providers p ON p.id = d.provider_id \
         WHERE ($1 = '' OR d.model_id = $1) \
         ORDER BY d.priority, d.weight DESC, d.id",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut plans = offered_plans(conn).await?;
    let mut models = Vec::with_capacity(model_rows.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(model_rows.len());
    for row in &model_rows {
        index.insert(row.try_get("id")?, models.len());
        models.push(ModelSummary {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            prices: row_prices(row)?,
            enabled: get_bool(row, "enabled")?,
            plans: plans
                .remove(&row.try_get::<String, _>("id")?)
                .unwrap_or_default(),
            deployments: Vec::new(),
        });
    }
    for row in &dep_rows {
        let model_id: String = row.try_get("model_id")?;
        if let Some(m) = index.get(&model_id).and_then(|&i| models.get_mut(i)) {
            m.deployments.push(DeploymentSummary {
                id: row.try_get("id")?,
                provider_id: row.try_get("provider_id")?,
                provider_name: row.try_get("provider_name")?,
                upstream_model: row.try_get("upstream_model")?,
                weight: row.try_get("weight")?,
                priority: row.try_get("priority")?,
                timeout_ms: row.try_get("timeout_ms")?,
                enabled: get_bool(row, "enabled")?,
                upstream_prices: row_prices(row)?,
            });
        }
    }
    Ok(models)
}

/// The plans each model is offered to, by model id (models offered to
/// every plan are absent), plan ids sorted.
pub async fn offered_plans(conn: &mut AnyConnection) -> DomainResult<HashMap<String, Vec<String>>> {
    let rows = sqlx::query("SELECT model_id, plan_id FROM model_plans ORDER BY model_id, plan_id")
        .fetch_all(&mut *conn)
        .await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in &rows {
        out.entry(r.try_get("model_id")?)
            .or_default()
            .push(r.try_get("plan_id")?);
    }
    Ok(out)
}

/// Prices as an operator gives them: the cached price defaults to the
/// input price.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Per million prompt tokens: a decimal string (`"2.50"`) or number.
    #[schema(value_type = String)]
    pub input_per_million: Decimal,
    /// Per million completion tokens.
    #[schema(value_type = String)]
    pub output_per_million: Decimal,
    /// Per million cached prompt tokens (default: the input price).
    #[schema(value_type = Option<String>)]
    pub cached_per_million: Option<Decimal>,
}

impl PriceInput {
    fn checked(&self) -> DomainResult<Prices> {
        check_prices(Prices {
            input_per_million: self.input_per_million,
            output_per_million: self.output_per_million,
            cached_per_million: self.cached_per_million.unwrap_or(self.input_per_million),
        })
    }
}

/// A model as an operator creates or changes it; `None` leaves a field
/// alone (on create: the name is required, prices default by name, the
/// model is enabled and offered to every plan).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    /// Public name clients send.
    pub name: Option<String>,
    /// What it costs developers.
    pub prices: Option<PriceInput>,
    /// Whether clients can use it.
    pub enabled: Option<bool>,
    /// Plan ids it is offered to; empty: every plan.
    pub plans: Option<Vec<String>>,
}

/// Checks plan ids exist; returns them sorted and deduplicated.
async fn check_plans(conn: &mut AnyConnection, plans: &[String]) -> DomainResult<Vec<String>> {
    let mut out: Vec<String> = plans.iter().map(|p| p.trim().to_string()).collect();
    out.sort();
    out.dedup();
    for p in &out {
        let known = sqlx::query("SELECT id FROM plans WHERE id = $1")
            .bind(p)
            .fetch_optional(&mut *conn)
            .await?;
        if known.is_none() {
            return Err(DomainError::invalid(format!(
                "plans: no plan '{p}' (see GET /api/v1/admin/plans)"
            )));
        }
    }
    Ok(out)
}

async fn set_plans(conn: &mut AnyConnection, model_id: &str, plans: &[String]) -> DomainResult<()> {
    sqlx::query("DELETE FROM model_plans WHERE model_id = $1")
        .bind(model_id)
        .execute(&mut *conn)
        .await?;
    for p in plans {
        sqlx::query("INSERT INTO model_plans (model_id, plan_id) VALUES ($1, $2)")
            .bind(model_id)
            .bind(p)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn name_taken(conn: &mut AnyConnection, name: &str, other_than: &str) -> DomainResult<()> {
    let taken = sqlx::query("SELECT id FROM models WHERE name = $1 AND id <> $2")
        .bind(name)
        .bind(other_than)
        .fetch_optional(&mut *conn)
        .await?;
    match taken {
        Some(_) => Err(DomainError::Conflict(format!(
            "a model named '{name}' already exists"
        ))),
        None => Ok(()),
    }
}

/// Creates a model without deployments (the caller audits it in the same
/// transaction). Gateways see it once it has a deployment.
pub async fn create_model(
    conn: &mut AnyConnection,
    backend: db::Backend,
    input: &ModelInput,
) -> DomainResult<ModelSummary> {
    let name = check_name(
        "model name",
        input
            .name
            .as_deref()
            .ok_or_else(|| DomainError::invalid("name: required"))?,
    )?;
    let prices = match &input.prices {
        Some(p) => p.checked()?,
        None => default_prices(&name),
    };
    let plans = check_plans(conn, input.plans.as_deref().unwrap_or_default()).await?;
    name_taken(conn, &name, "").await?;
    let id = db::new_id("mdl_");
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO models (id, name, input_price_per_million, output_price_per_million, \
         cached_price_per_million, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&name)
    .bind(prices.input_per_million.to_string())
    .bind(prices.output_per_million.to_string())
    .bind(prices.cached_per_million.to_string())
    .bind(input.enabled.unwrap_or(true))
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| match db::is_unique_violation(&e) {
        true => DomainError::Conflict(format!("a model named '{name}' already exists")),
        false => e.into(),
    })?;
    set_plans(conn, &id, &plans).await?;
    db::record_change(conn, backend, Entity::Catalog, &id).await?;
    model(conn, &id).await
}

/// Changes a model's name, prices, availability or plans (the caller
/// audits it); returns it before and after.
pub async fn update_model(
    conn: &mut AnyConnection,
    backend: db::Backend,
    id: &str,
    input: &ModelInput,
) -> DomainResult<(ModelSummary, ModelSummary)> {
    let before = model(conn, id).await?;
    let name = match &input.name {
        Some(n) => check_name("model name", n)?,
        None => before.name.clone(),
    };
    if name != before.name {
        name_taken(conn, &name, id).await?;
    }
    let prices = match &input.prices {
        Some(p) => p.checked()?,
        None => before.prices.clone(),
    };
    if let Some(plans) = &input.plans {
        let plans = check_plans(conn, plans).await?;
        set_plans(conn, id, &plans).await?;
    }
    sqlx::query(
        "UPDATE models SET name = $1, input_price_per_million = $2, output_price_per_million = $3, \
         cached_price_per_million = $4, enabled = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(&name)
    .bind(prices.input_per_million.to_string())
    .bind(prices.output_per_million.to_string())
    .bind(prices.cached_per_million.to_string())
    .bind(input.enabled.unwrap_or(before.enabled))
    .bind(db::now_ms())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    db::record_change(conn, backend, Entity::Catalog, id).await?;
    let after = model(conn, id).await?;
    Ok((before, after))
}

/// A deployment as an operator adds or changes it; `None` leaves a field
/// alone (on add: the provider is required, the upstream model defaults
/// to the public name, weight 1, priority 0, timeout 60 s, enabled,
/// upstream prices 0).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentInput {
    /// Provider id or name (add only).
    pub provider_id: Option<String>,
    /// Model name the provider expects.
    pub upstream_model: Option<String>,
    /// Relative weight within its priority group (0 to 1,000,000).
    pub weight: Option<u32>,
    /// Lower is tried first; the next priority is the fallback.
    pub priority: Option<i32>,
    /// Per-attempt timeout, milliseconds.
    pub timeout_ms: Option<u64>,
    /// Whether routing may use it.
    pub enabled: Option<bool>,
    /// What the provider charges the operator (margin reports).
    pub upstream_prices: Option<PriceInput>,
}

/// `input` over `current`, checked (the provider is not one of the fields).
fn merged(current: &DeploymentSummary, input: &DeploymentInput) -> DomainResult<DeploymentSummary> {
    let mut d = current.clone();
    if let Some(u) = &input.upstream_model {
        d.upstream_model = check_name("upstream model", u)?;
    }
    if let Some(w) = input.weight {
        check_weight(w)?;
        d.weight = i64::from(w);
    }
    if let Some(p) = input.priority {
        d.priority = i64::from(p);
    }
    if let Some(t) = input.timeout_ms {
        check_timeout(t)?;
        d.timeout_ms = i64::try_from(t).unwrap_or(i64::MAX);
    }
    if let Some(e) = input.enabled {
        d.enabled = e;
    }
    if let Some(p) = &input.upstream_prices {
        d.upstream_prices = p.checked()?;
    }
    Ok(d)
}

/// Stores deployment `d` of `model_id` (a new row when `new`), refusing a
/// second deployment of the model on the same provider and upstream model.
async fn store_deployment(
    conn: &mut AnyConnection,
    model_id: &str,
    d: &DeploymentSummary,
    new: bool,
) -> DomainResult<()> {
    let clash = sqlx::query(
        "SELECT id FROM deployments WHERE model_id = $1 AND provider_id = $2 \
         AND upstream_model = $3 AND id <> $4",
    )
    .bind(model_id)
    .bind(&d.provider_id)
    .bind(&d.upstream_model)
    .bind(&d.id)
    .fetch_optional(&mut *conn)
    .await?;
    if clash.is_some() {
        return Err(DomainError::Conflict(format!(
            "this model already has a deployment on provider '{}' as '{}'",
            d.provider_name, d.upstream_model
        )));
    }
    let sql = if new {
        "INSERT INTO deployments (upstream_model, weight, priority, timeout_ms, enabled, \
         upstream_input_price_per_million, upstream_output_price_per_million, \
         upstream_cached_price_per_million, updated_at, created_at, id, model_id, provider_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12)"
    } else {
        "UPDATE deployments SET upstream_model = $1, weight = $2, priority = $3, timeout_ms = $4, \
         enabled = $5, upstream_input_price_per_million = $6, upstream_output_price_per_million = $7, \
         upstream_cached_price_per_million = $8, updated_at = $9 \
         WHERE id = $10 AND model_id = $11 AND provider_id = $12"
    };
    sqlx::query(sql)
        .bind(&d.upstream_model)
        .bind(d.weight)
        .bind(d.priority)
        .bind(d.timeout_ms)
        .bind(d.enabled)
        .bind(d.upstream_prices.input_per_million.to_string())
        .bind(d.upstream_prices.output_per_million.to_string())
        .bind(d.upstream_prices.cached_per_million.to_string())
        .bind(db::now_ms())
        .bind(&d.id)
        .bind(model_id)
        .bind(&d.provider_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Adds a deployment to model `model_id` (the caller audits it); returns
/// the new deployment's id and the model.
pub async fn add_deployment(
    conn: &mut AnyConnection,
    backend: db::Backend,
    model_id: &str,
    input: &DeploymentInput,
) -> DomainResult<(String, ModelSummary)> {
    let m = model(conn, model_id).await?;
    let provider = providers::resolve(
        conn,
        input
            .provider_id
            .as_deref()
            .ok_or_else(|| DomainError::invalid("provider_id: required"))?,
    )
    .await?;
    let defaults = DeploymentSummary {
        id: db::new_id("dep_"),
        provider_id: provider.id,
        provider_name: provider.name,
        upstream_model: m.name,
        weight: 1,
        priority: 0,
        timeout_ms: i64::try_from(DEFAULT_TIMEOUT_MS).unwrap_or(i64::MAX),
        enabled: true,
        upstream_prices: Prices::default(),
    };
    let d = merged(&defaults, input)?;
    store_deployment(conn, &m.id, &d, true).await?;
    db::record_change(conn, backend, Entity::Catalog, &d.id).await?;
    Ok((d.id, model(conn, model_id).await?))
}

/// The model a deployment belongs to.
async fn model_of(conn: &mut AnyConnection, deployment_id: &str) -> DomainResult<String> {
    sqlx::query_scalar("SELECT model_id FROM deployments WHERE id = $1")
        .bind(deployment_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("no deployment '{deployment_id}'")))
}

/// Changes a deployment (the caller audits it); returns its model before
/// and after. The provider cannot change: add a deployment instead.
pub async fn update_deployment(
    conn: &mut AnyConnection,
    backend: db::Backend,
    id: &str,
    input: &DeploymentInput,
) -> DomainResult<(ModelSummary, ModelSummary)> {
    if input.provider_id.is_some() {
        return Err(DomainError::invalid(
            "provider_id: a deployment stays on its provider; add a deployment on the other one",
        ));
    }
    let model_id = model_of(conn, id).await?;
    let before = model(conn, &model_id).await?;
    let current = before
        .deployments
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(|| DomainError::NotFound(format!("no deployment '{id}'")))?;
    store_deployment(conn, &model_id, &merged(current, input)?, false).await?;
    db::record_change(conn, backend, Entity::Catalog, id).await?;
    Ok((before, model(conn, &model_id).await?))
}

/// Removes a deployment (the caller audits it); returns its model before
/// and after. Usage rows keep its id.
pub async fn delete_deployment(
    conn: &mut AnyConnection,
    backend: db::Backend,
    id: &str,
) -> DomainResult<(ModelSummary, ModelSummary)> {
    let model_id = model_of(conn, id).await?;
    let before = model(conn, &model_id).await?;
    sqlx::query("DELETE FROM deployments WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    db::record_change(conn, backend, Entity::Catalog, id).await?;
    Ok((before, model(conn, &model_id).await?))
}

/// One model repriced by an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Repriced {
    /// Public name.
    pub model: String,
    /// `mdl_…`
    pub model_id: String,
    /// Its prices now.
    #[schema(value_type = crate::api::admin::doc::AdminModelPrices)]
    pub before: Prices,
    /// Its prices from the list.
    #[schema(value_type = crate::api::admin::doc::AdminModelPrices)]
    pub after: Prices,
}

/// What a price list changes (and changed, unless a dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PriceImport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Models whose prices the list changes.
    pub changed: Vec<Repriced>,
    /// Listed models whose prices are already those.
    pub unchanged: Vec<String>,
    /// Listed names no model has (left alone: add the model first).
    pub unknown: Vec<String>,
}

/// Compares a price list with the catalog and, unless `dry_run`, applies
/// it (the caller audits it in the same transaction): all rows or none.
pub async fn import_prices(
    conn: &mut AnyConnection,
    backend: db::Backend,
    rows: &[super::prices::ListedPrice],
    dry_run: bool,
) -> DomainResult<PriceImport> {
    let current: HashMap<String, (String, Prices)> = list_models_on(conn, "")
        .await?
        .into_iter()
        .map(|m| (m.name, (m.id, m.prices)))
        .collect();
    let mut out = PriceImport {
        dry_run,
        changed: Vec::new(),
        unchanged: Vec::new(),
        unknown: Vec::new(),
    };
    for r in rows {
        let name = r.model.trim();
        let Some((id, before)) = current.get(name) else {
            out.unknown.push(name.to_string());
            continue;
        };
        let after = check_prices(Prices {
            input_per_million: r.input_per_million,
            output_per_million: r.output_per_million,
            cached_per_million: r.cached_per_million.unwrap_or(r.input_per_million),
        })?;
        let before = check_prices(before.clone())?;
        if after == before {
            out.unchanged.push(name.to_string());
        } else {
            out.changed.push(Repriced {
                model: name.to_string(),
                model_id: id.clone(),
                before,
                after,
            });
        }
    }
    if dry_run {
        return Ok(out);
    }
    let now = db::now_ms();
    for c in &out.changed {
        sqlx::query(
            "UPDATE models SET input_price_per_million = $1, output_price_per_million = $2, \
             cached_price_per_million = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(c.after.input_per_million.to_string())
        .bind(c.after.output_per_million.to_string())
        .bind(c.after.cached_per_million.to_string())
        .bind(now)
        .bind(&c.model_id)
        .execute(&mut *conn)
        .await?;
    }
    for c in &out.changed {
        db::record_change(conn, backend, Entity::Catalog, &c.model_id).await?;
    }
    Ok(out)
}

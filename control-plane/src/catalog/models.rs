//! Public models, their prices, and the deployments that serve them.

use super::prices::{check_price, default_prices, stored_price};
use super::providers::{self, check_name};
use crate::db::{self, get_bool, Db, Entity};
use crate::error::{DomainError, DomainResult};
use aihub_contract::money::Prices;
use rust_decimal::Decimal;
use serde::Serialize;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSummary {
    /// `mdl_…`
    pub id: String,
    /// Public name.
    pub name: String,
    /// Prices per million tokens.
    pub prices: Prices,
    /// Whether clients can use it.
    pub enabled: bool,
    /// Deployments in routing order.
    pub deployments: Vec<DeploymentSummary>,
}

/// One deployment, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    if new.weight > MAX_WEIGHT {
        return Err(DomainError::invalid(format!(
            "weight: expected 0 to {MAX_WEIGHT}, got {}",
            new.weight
        )));
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&new.timeout_ms) {
        return Err(DomainError::invalid(format!(
            "timeout ms: expected 1 to {MAX_TIMEOUT_MS}, got {}",
            new.timeout_ms
        )));
    }
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

    let duplicate = sqlx::query(
        "SELECT id FROM deployments WHERE model_id = $1 AND provider_id = $2 AND upstream_model = $3",
    )
    .bind(&model_id)
    .bind(&provider.id)
    .bind(&upstream)
    .fetch_optional(&mut *tx)
    .await?;
    if duplicate.is_some() {
        return Err(DomainError::Conflict(format!(
            "model '{model_name}' already has a deployment on provider '{}' as '{upstream}'",
            provider.name
        )));
    }
    let deployment_id = db::new_id("dep_");
    sqlx::query(
        "INSERT INTO deployments (id, model_id, provider_id, upstream_model, weight, priority, \
         timeout_ms, enabled, created_at, updated_at, upstream_input_price_per_million, \
         upstream_output_price_per_million, upstream_cached_price_per_million) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&deployment_id)
    .bind(&model_id)
    .bind(&provider.id)
    .bind(&upstream)
    .bind(i64::from(new.weight))
    .bind(i64::from(new.priority))
    .bind(i64::try_from(new.timeout_ms).unwrap_or(i64::MAX))
    .bind(true)
    .bind(now)
    .bind(now)
    .bind(upstream_prices.input_per_million.to_string())
    .bind(upstream_prices.output_per_million.to_string())
    .bind(upstream_prices.cached_per_million.to_string())
    .execute(&mut *tx)
    .await?;
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
    list_models_on(&mut conn).await
}

async fn list_models_on(conn: &mut AnyConnection) -> DomainResult<Vec<ModelSummary>> {
    let model_rows = sqlx::query(
        "SELECT id, name, input_price_per_million, output_price_per_million, \
         cached_price_per_million, enabled FROM models ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let dep_rows = sqlx::query(
        "SELECT d.id, d.model_id, d.provider_id, p.name AS provider_name, d.upstream_model, \
         d.weight, d.priority, d.timeout_ms, d.enabled \
         FROM deployments d JOIN providers p ON p.id = d.provider_id \
         ORDER BY d.priority, d.weight DESC, d.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut models = Vec::with_capacity(model_rows.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(model_rows.len());
    for row in &model_rows {
        index.insert(row.try_get("id")?, models.len());
        models.push(ModelSummary {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            prices: row_prices(row)?,
            enabled: get_bool(row, "enabled")?,
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
            });
        }
    }
    Ok(models)
}

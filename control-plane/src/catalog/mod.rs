//! The model catalog: providers, public models with their prices, and the
//! deployments that route a model to a provider.

pub mod health;
pub mod models;
pub mod prices;
pub mod providers;

pub use models::{
    add_model, list_models, AddedDeployment, DeploymentInput, ModelInput, ModelSummary,
    NewDeployment,
};
pub use providers::{add_provider, KeyVault, NewProvider, Provider, ProviderChange};

use crate::error::{DomainError, DomainResult};
use aihub_contract::snapshot::{Catalog, DeploymentEntry, ModelEntry, ProviderEntry, ProviderKind};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// The catalog as gateways see it: enabled providers (with their upstream
/// keys, which travel only over the signed internal API), enabled models,
/// and each model's enabled deployments on enabled providers, in routing
/// order (priority, then weight). A key that cannot be opened (the server
/// secret changed) is sent empty and logged, so the other providers keep
/// working.
pub async fn gateway_catalog(conn: &mut AnyConnection, vault: &KeyVault) -> DomainResult<Catalog> {
    let provider_rows = sqlx::query(
        "SELECT id, name, kind, base_url, api_key FROM providers WHERE enabled ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut providers = Vec::with_capacity(provider_rows.len());
    for row in &provider_rows {
        let kind: String = row.try_get("kind")?;
        let id: String = row.try_get("id")?;
        let stored: String = row.try_get("api_key")?;
        let api_key = vault.open(&id, &stored).unwrap_or_else(|e| {
            tracing::error!(provider = %id, "{e}");
            String::new()
        });
        providers.push(ProviderEntry {
            id,
            name: row.try_get("name")?,
            kind: ProviderKind::parse(&kind)
                .ok_or_else(|| DomainError::Internal(format!("unknown provider kind '{kind}'")))?,
            base_url: row.try_get("base_url")?,
            api_key,
            enabled: true,
        });
    }

    let model_rows = sqlx::query(
        "SELECT id, name, input_price_per_million, output_price_per_million, \
         cached_price_per_million FROM models WHERE enabled ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let dep_rows = sqlx::query(
        "SELECT d.id, d.model_id, d.provider_id, d.upstream_model, d.weight, d.priority, d.timeout_ms \
         FROM deployments d JOIN providers p ON p.id = d.provider_id \
         WHERE d.enabled AND p.enabled \
         ORDER BY d.priority, d.weight DESC, d.id",
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut plans = models::offered_plans(conn).await?;
    let mut models: Vec<ModelEntry> = Vec::with_capacity(model_rows.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(model_rows.len());
    for row in &model_rows {
        let id: String = row.try_get("id")?;
        models.push(ModelEntry {
            name: row.try_get("name")?,
            prices: models::row_prices(row)?,
            plans: plans.remove(&id).unwrap_or_default(),
            deployments: Vec::new(),
        });
        index.insert(id, models.len() - 1);
    }
    for row in &dep_rows {
        let model_id: String = row.try_get("model_id")?;
        // Deployments of disabled models are left out.
        let Some(model) = index.get(&model_id).and_then(|&i| models.get_mut(i)) else {
            continue;
        };
        let out_of_range =
            |what: &str| DomainError::Internal(format!("stored {what} out of range"));
        model.deployments.push(DeploymentEntry {
            id: row.try_get("id")?,
            provider_id: row.try_get("provider_id")?,
            upstream_model: row.try_get("upstream_model")?,
            weight: u32::try_from(row.try_get::<i64, _>("weight")?)
                .map_err(|_| out_of_range("weight"))?,
            priority: i32::try_from(row.try_get::<i64, _>("priority")?)
                .map_err(|_| out_of_range("priority"))?,
            timeout_ms: u64::try_from(row.try_get::<i64, _>("timeout_ms")?)
                .map_err(|_| out_of_range("timeout"))?,
        });
    }
    Ok(Catalog { providers, models })
}

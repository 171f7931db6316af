//! Upstream providers.

use crate::db::{self, get_bool, Db, Entity};
use crate::error::{DomainError, DomainResult};
use aihub_contract::snapshot::ProviderKind;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Input of [`add_provider`].
pub struct NewProvider {
    /// Unique operator-facing name (`openai`, `local-vllm`).
    pub name: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Upstream credential; empty for local servers.
    pub api_key: String,
}

/// A provider without its credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    /// `prov_…`
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Base URL.
    pub base_url: String,
    /// Whether routing may use it.
    pub enabled: bool,
}

/// Checks a catalog name: 1–128 ASCII letters, digits and `._-/:`.
pub fn check_name(field: &str, raw: &str) -> DomainResult<String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'));
    if !ok {
        return Err(DomainError::invalid(format!(
            "{field}: expected 1 to 128 letters, digits or . _ - / :, got '{raw}'"
        )));
    }
    Ok(name.to_string())
}

fn check_base_url(raw: &str) -> DomainResult<String> {
    let url = raw.trim().trim_end_matches('/');
    let ok = reqwest::Url::parse(url)
        .map(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
        })
        .unwrap_or(false);
    if !ok {
        return Err(DomainError::invalid(format!(
            "base URL: expected an http:// or https:// URL without query, like https://api.openai.com/v1, got '{raw}'"
        )));
    }
    Ok(url.to_string())
}

fn from_row(row: &AnyRow) -> DomainResult<Provider> {
    let kind: String = row.try_get("kind")?;
    Ok(Provider {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: ProviderKind::parse(&kind)
            .ok_or_else(|| DomainError::Internal(format!("unknown provider kind '{kind}'")))?,
        base_url: row.try_get("base_url")?,
        enabled: get_bool(row, "enabled")?,
    })
}

/// Registers a provider. Duplicate names are refused.
pub async fn add_provider(db: &Db, new: NewProvider) -> DomainResult<Provider> {
    let name = check_name("provider name", &new.name)?;
    let base_url = check_base_url(&new.base_url)?;
    let api_key = new.api_key.trim().to_string();
    if api_key.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "api key: expected printable characters only",
        ));
    }
    let id = db::new_id("prov_");
    let now = db::now_ms();

    let mut tx = db.begin_write().await?;
    let taken = sqlx::query("SELECT id FROM providers WHERE name = $1")
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?;
    let duplicate = || DomainError::Conflict(format!("a provider named '{name}' already exists"));
    if taken.is_some() {
        return Err(duplicate());
    }
    let inserted = sqlx::query(
        "INSERT INTO providers (id, name, kind, base_url, api_key, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&name)
    .bind(new.kind.as_str())
    .bind(&base_url)
    .bind(&api_key)
    .bind(true)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if db::is_unique_violation(&e) => return Err(duplicate()),
        other => other?,
    };
    db::record_change(&mut tx, db.backend(), Entity::Catalog, &id).await?;
    tx.commit().await?;
    Ok(Provider {
        id,
        name,
        kind: new.kind,
        base_url,
        enabled: true,
    })
}

/// Finds a provider by id (`prov_…`) or name.
pub async fn resolve(conn: &mut AnyConnection, id_or_name: &str) -> DomainResult<Provider> {
    let needle = id_or_name.trim();
    let row = sqlx::query(
        "SELECT id, name, kind, base_url, enabled FROM providers WHERE id = $1 OR name = $1",
    )
    .bind(needle)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(DomainError::NotFound(format!(
            "no provider with id or name '{needle}' (add it with `aihub admin add-provider`)"
        ))),
    }
}

/// A provider's columns and whether it holds an upstream key (never the key).
const LISTED: &str =
    "SELECT id, name, kind, base_url, enabled, api_key <> '' AS has_key FROM providers";

/// Every provider by name, each with whether it holds an upstream key.
pub async fn list(conn: &mut AnyConnection) -> DomainResult<Vec<(Provider, bool)>> {
    let rows = sqlx::query(&format!("{LISTED} ORDER BY name"))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((from_row(r)?, get_bool(r, "has_key")?)))
        .collect()
}

/// What an operator changes on a provider; `None` leaves a field alone.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    /// New unique name.
    pub name: Option<String>,
    /// New base URL.
    pub base_url: Option<String>,
    /// Routing may use it (disabled: gateways stop sending to it).
    pub enabled: Option<bool>,
}

/// Changes a provider (the caller audits it in the same transaction);
/// gateways follow with the next snapshot. Returns it before and after,
/// and whether it holds an upstream key.
pub async fn update(
    conn: &mut AnyConnection,
    backend: db::Backend,
    id: &str,
    change: &ProviderChange,
) -> DomainResult<(Provider, Provider, bool)> {
    let row = sqlx::query(&format!("{LISTED} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("no provider '{id}'")))?;
    let before = from_row(&row)?;
    let mut after = before.clone();
    if let Some(n) = &change.name {
        after.name = check_name("provider name", n)?;
    }
    if let Some(u) = &change.base_url {
        after.base_url = check_base_url(u)?;
    }
    if let Some(e) = change.enabled {
        after.enabled = e;
    }
    if after.name != before.name {
        let taken = sqlx::query("SELECT id FROM providers WHERE name = $1 AND id <> $2")
            .bind(&after.name)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_some() {
            return Err(DomainError::Conflict(format!(
                "a provider named '{}' already exists",
                after.name
            )));
        }
    }
    sqlx::query(
        "UPDATE providers SET name = $1, base_url = $2, enabled = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&after.name)
    .bind(&after.base_url)
    .bind(after.enabled)
    .bind(db::now_ms())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    db::record_change(conn, backend, Entity::Catalog, id).await?;
    Ok((before, after, get_bool(&row, "has_key")?))
}

//! Upstream providers.

use crate::db::{self, get_bool, Db, Entity};
use crate::error::{DomainError, DomainResult};
use crate::seal::Sealer;
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

/// How a sealed key is stored: the prefix, then [`Sealer::seal`]'s text.
const SEALED: &str = "sealed:v1:";

/// Upstream keys at rest: sealed ([`Sealer`], label `aihub provider keys
/// v1`) and bound to their provider's id, so the database alone (or a
/// backup) does not give them away and a sealed key cannot be moved to
/// another provider. Opened only to build the gateways' snapshot and to
/// test a connection.
#[derive(Clone, Debug)]
pub struct KeyVault(Sealer);

impl KeyVault {
    /// A vault whose key derives from the server secret (`auth.token_secret`).
    pub fn new(server_secret: &[u8]) -> Self {
        KeyVault(Sealer::new(server_secret, b"aihub provider keys v1"))
    }

    /// What to store for `key` of provider `id` (an empty key stays empty).
    pub fn seal(&self, id: &str, key: &str) -> DomainResult<String> {
        if key.is_empty() {
            return Ok(String::new());
        }
        Ok(format!("{SEALED}{}", self.0.seal(id, key.as_bytes())?))
    }

    /// The key of provider `id` from what is stored. A value stored before
    /// keys were sealed is returned as it is (the control plane seals those
    /// when it starts: [`seal_plaintext_keys`]).
    pub fn open(&self, id: &str, stored: &str) -> DomainResult<String> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_string());
        };
        self.0
            .open(id, sealed)
            .and_then(|plain| String::from_utf8(plain).ok())
            .ok_or_else(|| {
                DomainError::Internal(format!(
                    "the upstream key of provider {id} cannot be read (was auth.token_secret changed?): set it again"
                ))
            })
    }
}

/// Seals upstream keys stored in plain text (by versions before keys were
/// sealed); returns how many. Run at start.
pub async fn seal_plaintext_keys(db: &Db, vault: &KeyVault) -> DomainResult<usize> {
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query("SELECT id, api_key FROM providers WHERE api_key <> ''")
        .fetch_all(&mut *tx)
        .await?;
    let mut sealed = 0;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let stored: String = row.try_get("api_key")?;
        if stored.starts_with(SEALED) {
            continue;
        }
        sqlx::query("UPDATE providers SET api_key = $1 WHERE id = $2")
            .bind(vault.seal(&id, &stored)?)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sealed += 1;
    }
    tx.commit().await?;
    Ok(sealed)
}

/// Checks an upstream key: printable, trimmed.
fn check_key(raw: &str) -> DomainResult<String> {
    let key = raw.trim();
    if key.chars().any(char::is_control) || key.len() > 4096 {
        return Err(DomainError::invalid(
            "api key: expected at most 4096 printable characters",
        ));
    }
    Ok(key.to_string())
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

/// Registers a provider, its key sealed. Duplicate names are refused.
pub async fn add_provider(db: &Db, vault: &KeyVault, new: NewProvider) -> DomainResult<Provider> {
    let mut tx = db.begin_write().await?;
    let p = insert(&mut tx, db.backend(), vault, new).await?;
    tx.commit().await?;
    Ok(p)
}

/// [`add_provider`] in the caller's transaction (the operator API audits
/// it in the same one).
pub async fn insert(
    tx: &mut AnyConnection,
    backend: db::Backend,
    vault: &KeyVault,
    new: NewProvider,
) -> DomainResult<Provider> {
    let name = check_name("provider name", &new.name)?;
    let base_url = check_base_url(&new.base_url)?;
    let api_key = check_key(&new.api_key)?;
    let id = db::new_id("prov_");
    let now = db::now_ms();
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
    .bind(vault.seal(&id, &api_key)?)
    .bind(true)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if db::is_unique_violation(&e) => return Err(duplicate()),
        other => other?,
    };
    db::record_change(&mut *tx, backend, Entity::Catalog, &id).await?;
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
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    /// New unique name.
    pub name: Option<String>,
    /// New base URL.
    pub base_url: Option<String>,
    /// Routing may use it (disabled: gateways stop sending to it).
    pub enabled: Option<bool>,
    /// A new upstream key (rotation); empty removes it.
    pub api_key: Option<String>,
}

/// A provider before and after a change, each with whether it held an
/// upstream key.
pub struct Updated {
    /// Before.
    pub before: Provider,
    /// It held a key before.
    pub had_key: bool,
    /// After.
    pub after: Provider,
    /// It holds a key now.
    pub has_key: bool,
}

/// Changes a provider (the caller audits it in the same transaction);
/// gateways follow with the next snapshot.
pub async fn update(
    conn: &mut AnyConnection,
    backend: db::Backend,
    vault: &KeyVault,
    id: &str,
    change: &ProviderChange,
) -> DomainResult<Updated> {
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
    let had_key = get_bool(&row, "has_key")?;
    let mut has_key = had_key;
    if let Some(k) = &change.api_key {
        let key = check_key(k)?;
        has_key = !key.is_empty();
        sqlx::query("UPDATE providers SET api_key = $1 WHERE id = $2")
            .bind(vault.seal(id, &key)?)
            .bind(id)
            .execute(&mut *conn)
            .await?;
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
    Ok(Updated {
        before,
        had_key,
        after,
        has_key,
    })
}

/// A provider and its upstream key, opened (to test the connection).
pub async fn with_key(
    conn: &mut AnyConnection,
    vault: &KeyVault,
    id: &str,
) -> DomainResult<(Provider, String)> {
    let row = sqlx::query(
        "SELECT id, name, kind, base_url, enabled, api_key FROM providers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| DomainError::NotFound(format!("no provider '{id}'")))?;
    let stored: String = row.try_get("api_key")?;
    Ok((from_row(&row)?, vault.open(id, &stored)?))
}

/// What testing a provider's connection found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Probe {
    /// The provider answered 2xx.
    pub ok: bool,
    /// Its HTTP status, if it answered at all.
    pub status: Option<u16>,
    /// Time to the whole answer.
    pub latency_ms: u64,
    /// Model ids it lists (the first 200).
    pub models: Vec<String>,
    /// What went wrong, for the operator.
    pub error: Option<String>,
}

/// How long a connection test may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Tests a provider the way gateways use it: `GET {base_url}/models` with
/// its key (OpenAI: bearer token; Anthropic: `x-api-key` and
/// `anthropic-version`), and reads the model ids it lists.
pub async fn probe(p: &Provider, key: &str) -> Probe {
    let started = std::time::Instant::now();
    let mut out = Probe {
        ok: false,
        status: None,
        latency_ms: 0,
        models: Vec::new(),
        error: None,
    };
    let client = match reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(format!("cannot build an HTTP client: {e}"));
            return out;
        }
    };
    let mut req = client.get(format!("{}/models", p.base_url));
    if !key.is_empty() {
        req = match p.kind {
            ProviderKind::Openai => req.bearer_auth(key),
            ProviderKind::Anthropic => req
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01"),
        };
    }
    let answer = async {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    out.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match answer {
        Err(e) if e.is_timeout() => {
            out.error = Some(format!(
                "no answer within {} s from {}",
                PROBE_TIMEOUT.as_secs(),
                p.base_url
            ));
        }
        Err(e) => {
            out.error = Some(format!("cannot reach {}: {e}", p.base_url));
        }
        Ok((status, body)) => {
            out.status = Some(status.as_u16());
            let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
            if status.is_success() {
                out.ok = true;
                out.models = json
                    .as_ref()
                    .and_then(|j| j.get("data")?.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| Some(m.get("id")?.as_str()?.to_string()))
                    .take(200)
                    .collect();
            } else {
                let said = json
                    .as_ref()
                    .and_then(|j| j.pointer("/error/message")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
                out.error = Some(format!(
                    "the provider answered {}: {}",
                    status.as_u16(),
                    said.trim()
                ));
            }
        }
    }
    out
}

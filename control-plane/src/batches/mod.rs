//! Async work: OpenAI's Files and Batches APIs and the task API, on one
//! durable queue of batch items in the database ([`worker`]).
//!
//! | module | what |
//! | --- | --- |
//! | [`files`] | uploads and result files, stored in chunks |
//! | [`input`] | batch input files checked whole, errors per line |
//! | [`store`] | batches: create, read, list, cancel, finalize (output and error files) |
//! | [`tasks`] | the task API on top of batches (and usage exports) |
//! | [`worker`] | claims items fairly, sends them through the gateway, records outcomes |
//!
//! Callers of `/v1/files` and `/v1/batches` authenticate with an API key
//! ([`authenticate`]); the gateway forwards those routes here untouched.

pub mod files;
pub mod input;
pub mod store;
pub mod tasks;
pub mod worker;

use crate::db;
use crate::error::DomainResult;
use aihub_contract::snapshot::EndpointScope;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

/// What the batch machinery needs from the configuration (`[batches]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where items are sent (the gateway), without a trailing slash.
    pub gateway_url: String,
    /// Signs batch traffic (`internal.shared_secret`).
    pub shared_secret: String,
    /// Percent off the price of batch items.
    pub discount_percent: u8,
    /// Items in flight at once, all developers.
    pub max_concurrency: usize,
    /// Items in flight at once for one developer.
    pub per_developer_concurrency: usize,
    /// Attempts per item before it fails.
    pub max_attempts: i64,
    /// How long a claimed item is held before another worker may take it.
    pub lease_ms: i64,
    /// Longest wait for the gateway's answer.
    pub request_timeout_ms: u64,
    /// How often the worker looks for due items when not woken.
    pub poll_ms: u64,
    /// Requests per batch.
    pub max_requests: usize,
    /// Bytes per uploaded file.
    pub max_file_bytes: usize,
    /// Run the worker in this process.
    pub run_worker: bool,
}

impl Settings {
    /// From the configuration.
    pub fn from_config(c: &crate::config::Config) -> Settings {
        let b = &c.batches;
        Settings {
            gateway_url: b.gateway_url.trim_end_matches('/').to_string(),
            shared_secret: c.internal.shared_secret.expose().to_string(),
            discount_percent: b.discount_percent,
            max_concurrency: b.max_concurrency,
            per_developer_concurrency: b.per_developer_concurrency,
            max_attempts: i64::from(b.max_attempts),
            lease_ms: i64::try_from(b.request_timeout_ms.saturating_mul(2)).unwrap_or(i64::MAX / 4),
            request_timeout_ms: b.request_timeout_ms,
            poll_ms: b.poll_ms,
            max_requests: b.max_requests,
            max_file_bytes: b.max_file_bytes,
            run_worker: b.run_worker,
        }
    }
}

/// The caller of `/v1/files` or `/v1/batches`, from its API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCaller {
    /// The key (its base id, also for a grace secret).
    pub key_id: String,
    /// Its owner.
    pub developer_id: String,
}

/// Why an API key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Unknown, disabled, deleted or past its grace.
    Invalid,
    /// Past its expiry.
    Expired,
    /// The owner is suspended.
    Suspended,
    /// The key may not use this endpoint.
    NotAllowed,
}

/// Authenticates a bearer secret for `scope` (files or batches) the way
/// the gateway does: by its SHA-256, a regenerated key's old secret during
/// its grace too.
pub async fn authenticate(
    conn: &mut AnyConnection,
    secret: &str,
    scope: EndpointScope,
) -> DomainResult<Result<KeyCaller, KeyRefusal>> {
    if !aihub_contract::keys::is_well_formed(secret) {
        return Ok(Err(KeyRefusal::Invalid));
    }
    let hash = hex::encode(Sha256::digest(secret.as_bytes()));
    let now = db::now_ms();
    let row = sqlx::query(
        "SELECT k.id AS id, k.developer_id AS developer_id, k.expires_at AS expires_at, \
                k.allowed_endpoints AS allowed_endpoints, d.is_active AS is_active \
         FROM api_keys k JOIN developers d ON d.id = k.developer_id \
         WHERE k.enabled AND k.deleted_at IS NULL AND (k.secret_hash = $1 OR k.id IN \
           (SELECT key_id FROM api_key_previous_secrets WHERE secret_hash = $1 AND expires_at > $2))",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(Err(KeyRefusal::Invalid));
    };
    if r.try_get::<Option<i64>, _>("expires_at")?
        .is_some_and(|e| e <= now)
    {
        return Ok(Err(KeyRefusal::Expired));
    }
    if !db::get_bool(&r, "is_active")? {
        return Ok(Err(KeyRefusal::Suspended));
    }
    let allowed: Option<String> = r.try_get("allowed_endpoints")?;
    if let Some(list) = allowed {
        let scopes: Vec<String> = serde_json::from_str(&list).unwrap_or_default();
        if !scopes.iter().any(|s| s == scope.as_str()) {
            return Ok(Err(KeyRefusal::NotAllowed));
        }
    }
    Ok(Ok(KeyCaller {
        key_id: r.try_get("id")?,
        developer_id: r.try_get("developer_id")?,
    }))
}

/// Starts the batch worker (when `run_worker`) and the export runner.
pub fn spawn(
    db: db::Db,
    settings: Settings,
    source: crate::billing::charges::Source,
    wake: std::sync::Arc<tokio::sync::Notify>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let run_worker = settings.run_worker;
    let poll = std::time::Duration::from_millis(settings.poll_ms);
    let worker = worker::Worker::new(db.clone(), settings, wake.clone());
    let items = run_worker.then(|| worker.spawn(shutdown.clone()));
    let mut stop = shutdown;
    tokio::spawn(async move {
        if run_worker {
            loop {
                let pending = match db.pool().acquire().await {
                    Ok(mut c) => tasks::pending_exports(&mut c).await.unwrap_or_default(),
                    Err(_) => Vec::new(),
                };
                for t in pending {
                    if let Err(e) = tasks::run_export(&db, &source, &t).await {
                        tracing::warn!(error = %e, task = %t.id, "export failed");
                    }
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => break,
                }
            }
        }
        if let Some(h) = items {
            let _ = h.await;
        }
    })
}

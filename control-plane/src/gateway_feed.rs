//! What gateways are fed: the full [`Snapshot`] and the [`Changes`] since a
//! version, both built from the database, plus the version watcher that
//! wakes long polls.
//!
//! The version is the newest `config_changes.seq`. Every mutation writes a
//! change row in its own transaction, and the watcher polls the maximum, so
//! writes by other processes (the CLI, other control planes on the same
//! PostgreSQL) are seen as well as our own.

use crate::catalog;
use crate::db::{self, Db, Entity};
use crate::developers;
use crate::error::DomainResult;
use crate::keys;
use aihub_contract::snapshot::{Changes, Snapshot};
use sqlx::Row;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;

/// How often the watcher reads the newest version.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Beyond this many changed entities a gateway is told to resync instead.
const MAX_CHANGED_ENTITIES: usize = 10_000;

/// The full configuration at the current version.
pub async fn snapshot(db: &Db) -> DomainResult<Snapshot> {
    let mut conn = db.pool().acquire().await?;
    // Version first: data read afterwards may include newer changes, which
    // the gateway then simply receives again. The other order could skip one.
    let version = db::current_version(&mut conn).await?;
    Ok(Snapshot {
        version,
        keys: keys::active_entries(&mut conn).await?,
        developers: developers::key_owner_entries(&mut conn).await?,
        catalog: catalog::gateway_catalog(&mut conn).await?,
        usage: Vec::new(),
    })
}

/// The current version.
pub async fn version(db: &Db) -> DomainResult<i64> {
    let mut conn = db.pool().acquire().await?;
    Ok(db::current_version(&mut conn).await?)
}

/// Everything that changed after `since` up to `upto` (a version read
/// before), as current state: keys that can still authenticate are
/// upserted (with their owners), others removed; developers upserted; the
/// whole catalog when any part of it changed.
pub async fn changes(db: &Db, since: i64, upto: i64) -> DomainResult<Changes> {
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(
        "SELECT DISTINCT entity, entity_id FROM config_changes WHERE seq > $1 AND seq <= $2",
    )
    .bind(since)
    .bind(upto)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() > MAX_CHANGED_ENTITIES {
        return Ok(resync(since, upto));
    }

    let mut key_ids = BTreeSet::new();
    let mut developer_ids = BTreeSet::new();
    let mut catalog_changed = false;
    for row in &rows {
        let entity: String = row.try_get("entity")?;
        let id: String = row.try_get("entity_id")?;
        match Entity::parse(&entity) {
            Some(Entity::Key) => {
                key_ids.insert(id);
            }
            Some(Entity::Developer) => {
                developer_ids.insert(id);
            }
            Some(Entity::Catalog) => catalog_changed = true,
            None => {}
        }
    }

    let mut out = Changes {
        since,
        version: upto,
        ..Changes::default()
    };
    for id in key_ids {
        match keys::active_entry(&mut conn, &id).await? {
            Some(entry) => {
                // A gateway may not know the owner of a brand-new key yet.
                developer_ids.insert(entry.developer_id.clone());
                out.keys_upsert.push(entry);
            }
            None => out.keys_remove.push(id),
        }
    }
    for id in developer_ids {
        if let Some(entry) = developers::developer_entry(&mut conn, &id).await? {
            out.developers_upsert.push(entry);
        }
    }
    if catalog_changed {
        out.catalog = Some(catalog::gateway_catalog(&mut conn).await?);
    }
    Ok(out)
}

/// An answer that tells the gateway to fetch a full snapshot.
pub fn resync(since: i64, version: i64) -> Changes {
    Changes {
        since,
        version,
        resync: true,
        ..Changes::default()
    }
}

/// Starts the task that polls the newest version every [`POLL_INTERVAL`]
/// and publishes it; it ends when `shutdown` turns true.
pub fn spawn_version_watcher(
    db: Db,
    initial: i64,
    mut shutdown: watch::Receiver<bool>,
) -> (watch::Receiver<i64>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(initial);
    let handle = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(POLL_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            match version(&db).await {
                Ok(v) => {
                    if failing {
                        tracing::info!("configuration version readable again");
                        failing = false;
                    }
                    tx.send_if_modified(|current| {
                        let changed = *current != v;
                        *current = v;
                        changed
                    });
                }
                Err(e) => {
                    // Log once per outage, not five times a second.
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the configuration version");
                        failing = true;
                    }
                }
            }
        }
    });
    (rx, handle)
}

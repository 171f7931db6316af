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
use aihub_contract::calendar;
use aihub_contract::snapshot::{
    Changes, DeveloperEntry, KeyEntry, Snapshot, UsageBase, UsageScope,
};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;
use tokio::sync::watch;

/// How often the watcher reads the newest version.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Beyond this many changed entities a gateway is told to resync instead.
const MAX_CHANGED_ENTITIES: usize = 10_000;

/// The full configuration at the current version.
pub async fn snapshot(db: &Db, vault: &catalog::KeyVault) -> DomainResult<Snapshot> {
    let mut conn = db.pool().acquire().await?;
    // Version first: data read afterwards may include newer changes, which
    // the gateway then simply receives again. The other order could skip one.
    let version = db::current_version(&mut conn).await?;
    let keys = keys::active_entries(&mut conn).await?;
    let mut developers = developers::key_owner_entries(&mut conn).await?;
    crate::billing::plans::fill_funds(&mut conn, &mut developers).await?;
    let mut usage = usage_bases(&mut conn, &keys, &developers, db::now_ms()).await?;
    usage.extend(funds_bases(&mut conn, &developers, db::now_ms()).await?);
    Ok(Snapshot {
        version,
        keys,
        developers,
        catalog: catalog::gateway_catalog(&mut conn, vault).await?,
        usage,
    })
}

/// Usage sums of one scope: (tokens, cost) this month and ever.
#[derive(Default, Clone, Copy)]
struct Sums {
    tokens_month: i64,
    cost_month: i64,
    tokens_total: i64,
    cost_total: i64,
}

impl Sums {
    fn add(&mut self, o: Sums) {
        self.tokens_month = self.tokens_month.saturating_add(o.tokens_month);
        self.cost_month = self.cost_month.saturating_add(o.cost_month);
        self.tokens_total = self.tokens_total.saturating_add(o.tokens_total);
        self.cost_total = self.cost_total.saturating_add(o.cost_total);
    }

    fn is_zero(&self) -> bool {
        self.tokens_month == 0
            && self.cost_month == 0
            && self.tokens_total == 0
            && self.cost_total == 0
    }

    fn base(self, scope: UsageScope, id: String, month: &str) -> UsageBase {
        UsageBase {
            scope,
            id,
            month: month.to_string(),
            tokens_month: u64::try_from(self.tokens_month).unwrap_or(0),
            cost_nanos_month: self.cost_month,
            tokens_total: u64::try_from(self.tokens_total).unwrap_or(0),
            cost_nanos_total: self.cost_total,
        }
    }
}

/// The sums, this month ($1..$2) and ever, as SQL.
const SUMS: &str = "CAST(SUM(CASE WHEN ts_ms >= $1 AND ts_ms < $2 \
                       THEN prompt_tokens + completion_tokens ELSE 0 END) AS BIGINT) AS tokens_month, \
         CAST(SUM(CASE WHEN ts_ms >= $1 AND ts_ms < $2 THEN cost_nanos ELSE 0 END) AS BIGINT) \
              AS cost_month, \
         CAST(SUM(prompt_tokens + completion_tokens) AS BIGINT) AS tokens_total, \
         CAST(SUM(cost_nanos) AS BIGINT) AS cost_total";

fn sums_of(r: &sqlx::any::AnyRow) -> DomainResult<Sums> {
    // SUM over no rows is NULL.
    let get = |c: &str| -> DomainResult<i64> { Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0)) };
    Ok(Sums {
        tokens_month: get("tokens_month")?,
        cost_month: get("cost_month")?,
        tokens_total: get("tokens_total")?,
        cost_total: get("cost_total")?,
    })
}

/// `SELECT <group>, sums…` over the embedded usage store, this month and ever.
async fn grouped_sums(
    conn: &mut AnyConnection,
    group: &str,
    month: &calendar::Month,
) -> DomainResult<Vec<(String, Sums)>> {
    // `group` is one of two column names chosen below, never input.
    let sql = format!("SELECT {group} AS scope_id, {SUMS} FROM usage_records GROUP BY {group}");
    let rows = sqlx::query(&sql)
        .bind(month.start_ms)
        .bind(month.end_ms)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("scope_id")?, sums_of(r)?)))
        .collect()
}

/// Fresh bases for the keys and developers of a change set (zero usage left
/// out, as in the snapshot): one query per
/// key that has a quota or budget (its `:grace` rows included) and per
/// developer with an account quota (this month only, which the index on
/// (developer_id, ts_ms) serves).
async fn changed_bases(
    conn: &mut AnyConnection,
    keys: &[KeyEntry],
    developers: &[DeveloperEntry],
    now_ms: i64,
) -> DomainResult<Vec<UsageBase>> {
    let month = calendar::month_of(now_ms);
    let mut out = Vec::new();
    for k in keys
        .iter()
        .filter(|k| k.limits.has_quota() && !k.id.ends_with(keys::GRACE_SUFFIX))
    {
        let row = sqlx::query(&format!(
            "SELECT {SUMS} FROM usage_records WHERE key_id = $3 OR key_id = $4"
        ))
        .bind(month.start_ms)
        .bind(month.end_ms)
        .bind(&k.id)
        .bind(format!("{}{}", k.id, keys::GRACE_SUFFIX))
        .fetch_one(&mut *conn)
        .await?;
        let sums = sums_of(&row)?;
        if !sums.is_zero() {
            out.push(sums.base(UsageScope::Key, k.id.clone(), &month.name));
        }
    }
    for d in developers
        .iter()
        .filter(|d| d.token_quota_monthly.is_some())
    {
        let row = sqlx::query(&format!(
            "SELECT {SUMS} FROM usage_records \
             WHERE developer_id = $3 AND ts_ms >= $1 AND ts_ms < $2"
        ))
        .bind(month.start_ms)
        .bind(month.end_ms)
        .bind(&d.id)
        .fetch_one(&mut *conn)
        .await?;
        let sums = sums_of(&row)?;
        if !sums.is_zero() {
            out.push(sums.base(UsageScope::Developer, d.id.clone(), &month.name));
        }
    }
    Ok(out)
}

/// What quota scopes had used at `now_ms`, from the embedded usage store:
/// each developer of the snapshot, and each key with a quota or budget
/// (its `:grace` rows counted with it). Scopes without usage are left out.
/// Deployments that store usage in ClickHouse have no rows here, so their
/// gateways start from zero.
async fn usage_bases(
    conn: &mut AnyConnection,
    keys: &[KeyEntry],
    developers: &[DeveloperEntry],
    now_ms: i64,
) -> DomainResult<Vec<UsageBase>> {
    let month = calendar::month_of(now_ms);
    let mut out = Vec::new();
    let wanted: HashSet<&str> = developers.iter().map(|d| d.id.as_str()).collect();
    for (id, sums) in grouped_sums(&mut *conn, "developer_id", &month).await? {
        if wanted.contains(id.as_str()) && !sums.is_zero() {
            out.push(sums.base(UsageScope::Developer, id, &month.name));
        }
    }
    let quota_keys: HashSet<&str> = keys
        .iter()
        .filter(|k| k.limits.has_quota() && !k.id.ends_with(keys::GRACE_SUFFIX))
        .map(|k| k.id.as_str())
        .collect();
    if quota_keys.is_empty() {
        return Ok(out);
    }
    let mut by_key: BTreeMap<String, Sums> = BTreeMap::new();
    for (id, sums) in grouped_sums(&mut *conn, "key_id", &month).await? {
        let key_id = aihub_contract::keys::base_key_id(&id);
        if quota_keys.contains(key_id) {
            by_key.entry(key_id.to_string()).or_default().add(sums);
        }
    }
    for (id, sums) in by_key {
        if !sums.is_zero() {
            out.push(sums.base(UsageScope::Key, id, &month.name));
        }
    }
    Ok(out)
}

/// The [`UsageScope::Funds`] bases of developers billed by money: this
/// month's tokens and charges, and every charge ever (the charger's running
/// totals, `billing_usage`).
async fn funds_bases(
    conn: &mut AnyConnection,
    developers: &[DeveloperEntry],
    now_ms: i64,
) -> DomainResult<Vec<UsageBase>> {
    let month = calendar::month_of(now_ms);
    let mut out = Vec::new();
    for d in developers.iter().filter(|d| d.funds.is_some()) {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN period = $2 THEN tokens ELSE 0 END), 0) AS BIGINT) \
                    AS tokens_month, \
                    CAST(COALESCE(SUM(CASE WHEN period = $2 THEN charged_nanos ELSE 0 END), 0) \
                    AS BIGINT) AS cost_month, \
                    CAST(COALESCE(SUM(charged_nanos), 0) AS BIGINT) AS cost_total \
             FROM billing_usage WHERE developer_id = $1",
        )
        .bind(&d.id)
        .bind(&month.name)
        .fetch_one(&mut *conn)
        .await?;
        let tokens_month: i64 = row.try_get("tokens_month")?;
        let cost_month: i64 = row.try_get("cost_month")?;
        let cost_total: i64 = row.try_get("cost_total")?;
        if tokens_month == 0 && cost_total == 0 {
            continue;
        }
        out.push(UsageBase {
            scope: UsageScope::Funds,
            id: d.id.clone(),
            month: month.name.clone(),
            tokens_month: u64::try_from(tokens_month).unwrap_or(0),
            cost_nanos_month: cost_month,
            tokens_total: 0,
            cost_nanos_total: cost_total,
        });
    }
    Ok(out)
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
pub async fn changes(
    db: &Db,
    vault: &catalog::KeyVault,
    since: i64,
    upto: i64,
) -> DomainResult<Changes> {
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
        out.catalog = Some(catalog::gateway_catalog(&mut conn, vault).await?);
    }
    crate::billing::plans::fill_funds(&mut conn, &mut out.developers_upsert).await?;
    out.usage = changed_bases(
        &mut conn,
        &out.keys_upsert,
        &out.developers_upsert,
        db::now_ms(),
    )
    .await?;
    out.usage
        .extend(funds_bases(&mut conn, &out.developers_upsert, db::now_ms()).await?);
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

//! The embedded default's rollups (migration 0011): kept in the transaction
//! that stores usage rows, from exactly the rows that transaction inserted,
//! so a row replayed by a gateway (already stored) is not counted again and
//! a late row (a batch item, a spool shipped after an outage) lands in the
//! hour and day it belongs to. [`ensure_built`] builds them from
//! `usage_records` once (databases from before the rollups existed) and
//! [`rebuild`] again on demand (`aihub admin analytics rebuild`).

use super::{bucket_of, Measures, DAY_MS, HOUR_MS};
use crate::db::{self, Backend, Db};
use crate::error::DomainResult;
use aihub_contract::calendar::month_of;
use aihub_contract::keys::base_key_id;
use aihub_contract::usage::UsageRow;
use roaring::RoaringBitmap;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// Grains every row is counted in: `h` (UTC hour) and `d` (UTC day).
const GRAINS: [(&str, i64); 2] = [("h", HOUR_MS), ("d", DAY_MS)];

type UsageKey = (String, &'static str, i64, String, String, String);
type PlatformKey = (&'static str, i64, String, String, String);
/// (developer, UTC day, model, metric)
type LatencyKey = (String, i64, String, &'static str);
/// (UTC day, provider, model, metric)
type PlatformLatencyKey = (i64, String, String, &'static str);
/// Bucket → count.
pub type Histogram = BTreeMap<i64, i64>;

/// Rollup deltas of a set of rows, written with [`Deltas::write`]. Ordered
/// maps: every writer upserts rows in key order, so two control planes
/// ingesting at once on PostgreSQL wait for each other instead of
/// deadlocking.
#[derive(Default)]
pub struct Deltas {
    usage: BTreeMap<UsageKey, Measures>,
    platform: BTreeMap<PlatformKey, Measures>,
    developer_daily: BTreeMap<(i64, String), [i64; 3]>,
    /// (UTC month start, developer) → requests, tokens, cost.
    developer_monthly: BTreeMap<(i64, String), [i64; 3]>,
    /// UTC day → developers with requests.
    active: BTreeMap<i64, BTreeSet<String>>,
    latency: BTreeMap<LatencyKey, Histogram>,
    platform_latency: BTreeMap<PlatformLatencyKey, Histogram>,
}

impl Deltas {
    /// Counts one row.
    pub fn add(&mut self, row: &UsageRow) {
        let m = Measures::of_row(row);
        let key = base_key_id(&row.key_id).to_string();
        for (grain, size) in GRAINS {
            let t = row.ts_ms.div_euclid(size) * size;
            self.usage
                .entry((
                    row.developer_id.clone(),
                    grain,
                    t,
                    key.clone(),
                    row.model.clone(),
                    row.endpoint.clone(),
                ))
                .or_default()
                .add(&m);
            self.platform
                .entry((
                    grain,
                    t,
                    row.model.clone(),
                    row.provider_id.clone(),
                    row.deployment_id.clone(),
                ))
                .or_default()
                .add(&m);
        }
        let day = row.ts_ms.div_euclid(DAY_MS) * DAY_MS;
        let mut hist = |metric: &'static str, v: i64| {
            let b = bucket_of(v);
            *self
                .latency
                .entry((row.developer_id.clone(), day, row.model.clone(), metric))
                .or_default()
                .entry(b)
                .or_default() += 1;
            *self
                .platform_latency
                .entry((day, row.provider_id.clone(), row.model.clone(), metric))
                .or_default()
                .entry(b)
                .or_default() += 1;
        };
        hist("l", i64::from(row.latency_ms));
        if let Some(ttft) = row.ttft_ms {
            hist("t", i64::from(ttft));
        }
        let figures = [1, m.prompt_tokens + m.completion_tokens, m.cost_nanos];
        let month = month_of(row.ts_ms).start_ms;
        for (map, t) in [
            (&mut self.developer_daily, day),
            (&mut self.developer_monthly, month),
        ] {
            let d = map.entry((t, row.developer_id.clone())).or_default();
            for (sum, v) in d.iter_mut().zip(figures) {
                *sum += v;
            }
        }
        let active = self.active.entry(day).or_default();
        if !active.contains(&row.developer_id) {
            active.insert(row.developer_id.clone());
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.developer_daily.is_empty()
    }

    /// Adds the deltas to the rollup tables (inside the caller's transaction).
    pub async fn write(&self, conn: &mut AnyConnection, backend: Backend) -> DomainResult<()> {
        let measures = Measures::COLUMNS;
        // usage_rollup
        let rows: Vec<(Vec<Value<'_>>, &Measures)> = self
            .usage
            .iter()
            .map(|((dev, grain, t, key, model, endpoint), m)| {
                (
                    vec![
                        Value::S(dev),
                        Value::S(grain),
                        Value::I(*t),
                        Value::S(key),
                        Value::S(model),
                        Value::S(endpoint),
                    ],
                    m,
                )
            })
            .collect();
        upsert_measures(
            conn,
            backend,
            "usage_rollup",
            &[
                "developer_id",
                "grain",
                "t_ms",
                "key_id",
                "model",
                "endpoint",
            ],
            &rows,
            &measures,
        )
        .await?;
        let rows: Vec<(Vec<Value<'_>>, &Measures)> = self
            .platform
            .iter()
            .map(|((grain, t, model, provider, deployment), m)| {
                (
                    vec![
                        Value::S(grain),
                        Value::I(*t),
                        Value::S(model),
                        Value::S(provider),
                        Value::S(deployment),
                    ],
                    m,
                )
            })
            .collect();
        upsert_measures(
            conn,
            backend,
            "platform_rollup",
            &["grain", "t_ms", "model", "provider_id", "deployment_id"],
            &rows,
            &measures,
        )
        .await?;
        for (table, map, t_col) in [
            ("developer_daily", &self.developer_daily, "day_ms"),
            ("developer_monthly", &self.developer_monthly, "month_ms"),
        ] {
            let rows: Vec<Vec<Value<'_>>> = map
                .iter()
                .map(|((t, dev), [r, tok, cost])| {
                    vec![
                        Value::I(*t),
                        Value::S(dev),
                        Value::I(*r),
                        Value::I(*tok),
                        Value::I(*cost),
                    ]
                })
                .collect();
            let sums = ["requests", "tokens", "cost_nanos"];
            upsert(
                conn,
                backend,
                table,
                &[t_col, "developer_id"],
                &sums,
                &adding(table, &sums),
                &rows,
            )
            .await?;
        }
        if backend == Backend::Postgres {
            // Histograms and bitmaps are read, merged and written back, and
            // developer numbers given out: one writer at a time across
            // control planes (SQLite's write lock does this).
            sqlx::query("SELECT pg_advisory_xact_lock(7406189)")
                .execute(&mut *conn)
                .await?;
        }
        merge_active(conn, backend, &self.active).await?;
        let keys: Vec<Vec<Value<'_>>> = self
            .latency
            .keys()
            .map(|(dev, day, model, metric)| {
                vec![
                    Value::S(dev),
                    Value::I(*day),
                    Value::S(model),
                    Value::S(metric),
                ]
            })
            .collect();
        let hists: Vec<&Histogram> = self.latency.values().collect();
        merge_histograms(
            conn,
            backend,
            "latency_rollup",
            &["developer_id", "day_ms", "model", "metric"],
            &keys,
            &hists,
        )
        .await?;
        let keys: Vec<Vec<Value<'_>>> = self
            .platform_latency
            .keys()
            .map(|(day, provider, model, metric)| {
                vec![
                    Value::I(*day),
                    Value::S(provider),
                    Value::S(model),
                    Value::S(metric),
                ]
            })
            .collect();
        let hists: Vec<&Histogram> = self.platform_latency.values().collect();
        merge_histograms(
            conn,
            backend,
            "platform_latency",
            &["day_ms", "provider_id", "model", "metric"],
            &keys,
            &hists,
        )
        .await?;
        Ok(())
    }
}

/// A bound value.
#[derive(Clone, Copy)]
enum Value<'a> {
    S(&'a str),
    I(i64),
    B(&'a [u8]),
}

impl Value<'_> {
    /// Part of a row's identity in [`merge_histograms`].
    fn text(self) -> String {
        match self {
            Value::S(s) => s.to_string(),
            Value::I(i) => i.to_string(),
            Value::B(b) => format!("{b:?}"),
        }
    }
}

/// Dense numbers of `developers` (given out in order to those without one;
/// the caller holds the write lock).
async fn developer_numbers(
    conn: &mut AnyConnection,
    backend: Backend,
    developers: &BTreeSet<&str>,
) -> DomainResult<BTreeMap<String, u32>> {
    let all: Vec<&str> = developers.iter().copied().collect();
    let mut out = BTreeMap::new();
    for chunk in all.chunks(500) {
        let sql = format!(
            "SELECT developer_id, ord FROM analytics_developers WHERE developer_id IN ({})",
            db::placeholders(1, chunk.len(), backend)
        );
        let mut q = sqlx::query(&sql);
        for d in chunk {
            q = q.bind(*d);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let ord: i64 = r.try_get("ord")?;
            out.insert(
                r.try_get::<String, _>("developer_id")?,
                u32::try_from(ord).unwrap_or(u32::MAX),
            );
        }
    }
    let missing: Vec<&str> = all.into_iter().filter(|d| !out.contains_key(*d)).collect();
    if missing.is_empty() {
        return Ok(out);
    }
    let next: i64 = sqlx::query("SELECT COALESCE(MAX(ord), -1) + 1 AS n FROM analytics_developers")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let rows: Vec<Vec<Value<'_>>> = missing
        .iter()
        .enumerate()
        .map(|(i, d)| vec![Value::S(d), Value::I(next + i as i64)])
        .collect();
    for (d, row) in missing.iter().zip(&rows) {
        if let Value::I(ord) = row[1] {
            out.insert((*d).to_string(), u32::try_from(ord).unwrap_or(u32::MAX));
        }
    }
    for chunk in rows.chunks(1_000) {
        let sql = format!(
            "INSERT INTO analytics_developers (developer_id, ord) VALUES {}",
            db::value_tuples(chunk.len(), 2, backend)
        );
        bind_rows(sqlx::query(&sql), chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(out)
}

/// Decodes a stored bitmap (an unreadable one counts as empty).
pub fn decode_bitmap(bytes: &[u8]) -> RoaringBitmap {
    RoaringBitmap::deserialize_from(bytes).unwrap_or_default()
}

/// Adds the day's active developers to the stored bitmaps (read, merge,
/// write).
async fn merge_active(
    conn: &mut AnyConnection,
    backend: Backend,
    active: &BTreeMap<i64, BTreeSet<String>>,
) -> DomainResult<()> {
    if active.is_empty() {
        return Ok(());
    }
    let developers: BTreeSet<&str> = active.values().flatten().map(String::as_str).collect();
    let numbers = developer_numbers(conn, backend, &developers).await?;
    let days: Vec<i64> = active.keys().copied().collect();
    let sql = format!(
        "SELECT day_ms, developers FROM active_daily WHERE day_ms IN ({})",
        db::placeholders(1, days.len(), backend)
    );
    let mut q = sqlx::query(&sql);
    for d in &days {
        q = q.bind(*d);
    }
    let mut stored: BTreeMap<i64, RoaringBitmap> = BTreeMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        let bytes: Vec<u8> = r.try_get("developers")?;
        stored.insert(r.try_get("day_ms")?, decode_bitmap(&bytes));
    }
    let mut encoded: Vec<(i64, Vec<u8>)> = Vec::with_capacity(active.len());
    for (day, devs) in active {
        let mut bits = stored.remove(day).unwrap_or_default();
        bits.extend(devs.iter().filter_map(|d| numbers.get(d).copied()));
        let mut bytes = Vec::with_capacity(bits.serialized_size());
        bits.serialize_into(&mut bytes)
            .map_err(|e| crate::error::DomainError::Internal(format!("bitmap: {e}")))?;
        encoded.push((*day, bytes));
    }
    let rows: Vec<Vec<Value<'_>>> = encoded
        .iter()
        .map(|(day, bytes)| vec![Value::I(*day), Value::B(bytes)])
        .collect();
    upsert(
        conn,
        backend,
        "active_daily",
        &["day_ms"],
        &["developers"],
        "developers = excluded.developers",
        &rows,
    )
    .await
}

/// Binds `rows` in order.
fn bind_rows<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    rows: &[Vec<Value<'q>>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for row in rows {
        for v in row {
            q = match *v {
                Value::S(s) => q.bind(s),
                Value::I(i) => q.bind(i),
                Value::B(b) => q.bind(b),
            };
        }
    }
    q
}

async fn upsert_measures(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    keys: &[&str],
    rows: &[(Vec<Value<'_>>, &Measures)],
    measures: &[&str],
) -> DomainResult<()> {
    let full: Vec<Vec<Value<'_>>> = rows
        .iter()
        .map(|(k, m)| {
            let mut v = k.clone();
            v.extend(m.values().into_iter().map(Value::I));
            v
        })
        .collect();
    upsert(
        conn,
        backend,
        table,
        keys,
        measures,
        &adding(table, measures),
        &full,
    )
    .await
}

/// `m = table.m + excluded.m, …`: an upsert that adds.
fn adding(table: &str, sums: &[&str]) -> String {
    sums.iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO table (keys, values) … ON CONFLICT (keys) DO UPDATE SET
/// {set}`, several hundred rows a statement, every value bound.
async fn upsert(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    keys: &[&str],
    values: &[&str],
    set: &str,
    rows: &[Vec<Value<'_>>],
) -> DomainResult<()> {
    let cols = keys.len() + values.len();
    // Well under SQLite's 32,766 bound parameters a statement.
    let per_statement = (30_000 / cols).min(1_000);
    let columns = keys
        .iter()
        .chain(values.iter())
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in rows.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO {table} ({columns}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {set}",
            db::value_tuples(chunk.len(), cols, backend),
            keys.join(", ")
        );
        bind_rows(sqlx::query(&sql), chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `"b:n,b:n"` in bucket order.
pub fn encode(h: &Histogram) -> String {
    let mut out = String::new();
    for (b, n) in h {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!("{b}:{n}"));
    }
    out
}

/// Adds an encoded histogram to `into` (malformed pairs are skipped).
pub fn decode_into(text: &str, into: &mut Histogram) {
    for pair in text.split(',') {
        if let Some((b, n)) = pair.split_once(':') {
            if let (Ok(b), Ok(n)) = (b.parse::<i64>(), n.parse::<i64>()) {
                *into.entry(b).or_default() += n;
            }
        }
    }
}

/// Adds `hists` to the stored histograms of `keys` (read, merge, write).
async fn merge_histograms(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    key_cols: &[&str],
    keys: &[Vec<Value<'_>>],
    hists: &[&Histogram],
) -> DomainResult<()> {
    // A few hundred keys a statement.
    const CHUNK: usize = 200;
    let cols = key_cols.join(", ");
    for (kc, hc) in keys.chunks(CHUNK).zip(hists.chunks(CHUNK)) {
        let sql = format!(
            "SELECT {cols}, hist FROM {table} WHERE ({cols}) IN (VALUES {})",
            db::value_tuples(kc.len(), key_cols.len(), backend)
        );
        let stored = bind_rows(sqlx::query(&sql), kc)
            .fetch_all(&mut *conn)
            .await?;
        // Stored histograms by their key columns' text.
        let mut existing: BTreeMap<Vec<String>, String> = BTreeMap::new();
        for r in &stored {
            let mut id = Vec::with_capacity(key_cols.len());
            for c in key_cols {
                id.push(match r.try_get::<String, _>(*c) {
                    Ok(s) => s,
                    Err(_) => r.try_get::<i64, _>(*c)?.to_string(),
                });
            }
            existing.insert(id, r.try_get("hist")?);
        }
        let merged: Vec<String> = kc
            .iter()
            .zip(hc)
            .map(|(k, h)| {
                let mut total: Histogram = (*h).clone();
                let id: Vec<String> = k.iter().map(|v| v.text()).collect();
                if let Some(old) = existing.get(&id) {
                    decode_into(old, &mut total);
                }
                encode(&total)
            })
            .collect();
        let rows: Vec<Vec<Value<'_>>> = kc
            .iter()
            .zip(&merged)
            .map(|(k, text)| {
                let mut v = k.clone();
                v.push(Value::S(text));
                v
            })
            .collect();
        upsert(
            conn,
            backend,
            table,
            key_cols,
            &["hist"],
            "hist = excluded.hist",
            &rows,
        )
        .await?;
    }
    Ok(())
}

const BUILT: &str = "rollups_built";
const ROLLUP_TABLES: [&str; 7] = [
    "usage_rollup",
    "platform_rollup",
    "developer_daily",
    "developer_monthly",
    "active_daily",
    "latency_rollup",
    "platform_latency",
];
/// Rows read a page while rebuilding.
const PAGE: i64 = 5_000;

/// Builds the rollups from `usage_records` unless that was done already
/// (the first start after migration 0011). Returns the rows counted, if it
/// ran.
pub async fn ensure_built(db: &Db) -> DomainResult<Option<u64>> {
    let mut conn = db.pool().acquire().await?;
    let done = sqlx::query("SELECT value FROM analytics_state WHERE name = $1")
        .bind(BUILT)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    drop(conn);
    if done {
        return Ok(None);
    }
    rebuild(db).await.map(Some)
}

/// Empties the rollups and counts every stored usage row again, in one
/// write transaction (ingest waits meanwhile). Returns the rows counted.
pub async fn rebuild(db: &Db) -> DomainResult<u64> {
    let mut tx = db.begin_write().await?;
    for t in ROLLUP_TABLES {
        sqlx::query(&format!("DELETE FROM {t}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut after = String::new();
    let mut counted = 0u64;
    loop {
        let page = sqlx::query(&format!(
            "SELECT {} FROM usage_records WHERE request_id > $1 ORDER BY request_id LIMIT $2",
            crate::usage::ROW_COLUMNS
        ))
        .bind(&after)
        .bind(PAGE)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = page.last() else { break };
        after = last.try_get("request_id")?;
        let mut deltas = Deltas::default();
        for r in &page {
            deltas.add(&crate::usage::row_from(r)?);
        }
        counted += page.len() as u64;
        deltas.write(&mut tx, db.backend()).await?;
    }
    sqlx::query(
        "INSERT INTO analytics_state (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(BUILT)
    .bind(db::now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(counted)
}

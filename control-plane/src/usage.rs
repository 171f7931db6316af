//! Usage records shipped by gateways (the embedded default's store).

use crate::db::{self, Backend, Db};
use crate::error::{DomainError, DomainResult};
use crate::keys;
use aihub_contract::usage::{IngestResult, UsageRow};
use std::collections::{HashMap, HashSet};

fn to_i64(field: &str, request_id: &str, v: u64) -> DomainResult<i64> {
    i64::try_from(v).map_err(|_| {
        DomainError::invalid(format!(
            "rows: {field} of request '{request_id}' is out of range"
        ))
    })
}

fn check(row: &UsageRow) -> DomainResult<()> {
    if row.request_id.is_empty() || row.request_id.len() > 200 {
        return Err(DomainError::invalid(
            "rows: every row needs a request_id of 1 to 200 characters",
        ));
    }
    Ok(())
}

/// Columns of `usage_records` in insert order.
const COLUMNS: &str = "request_id, ts_ms, developer_id, key_id, endpoint, method, model, \
     deployment_id, provider_id, prompt_tokens, completion_tokens, cached_tokens, \
     reasoning_tokens, cost_nanos, latency_ms, ttft_ms, status, stream, attempts, ip, \
     user_agent, error, gateway_id, batch_id, received_at";
const COLUMN_COUNT: usize = 25;
/// Rows per INSERT statement: 400 × 25 = 10,000 parameters stays well under
/// SQLite's (32,766) and PostgreSQL's (65,535) limits.
const ROWS_PER_STATEMENT: usize = 400;
const _: () = assert!(
    ROWS_PER_STATEMENT * COLUMN_COUNT <= 32_766,
    "a full usage insert must stay under SQLite's (and so PostgreSQL's) parameter limit"
);

/// `INSERT … VALUES ($1, …), ($26, …) … ON CONFLICT (request_id) DO NOTHING
/// RETURNING request_id` for `rows` rows ([`db::value_tuples`]). Only
/// placeholders are generated; every value is bound.
fn insert_sql(rows: usize, backend: Backend) -> String {
    format!(
        "INSERT INTO usage_records ({COLUMNS}) VALUES {} \
         ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
        db::value_tuples(rows, COLUMN_COUNT, backend)
    )
}

/// Stores a batch in one transaction, several hundred rows per statement
/// (row-at-a-time inserts cost the embedded setup several times more CPU
/// under load). Rows whose `request_id` is already stored are counted as
/// duplicates and left untouched, so a batch replayed after a crash counts
/// once. The rows actually inserted (`RETURNING request_id`) are added to
/// the analytics rollups in the same transaction. Keys seen get their
/// `last_used_at` moved forward.
pub async fn ingest(db: &Db, rows: &[UsageRow]) -> DomainResult<IngestResult> {
    for row in rows {
        check(row)?;
    }
    let received_at = db::now_ms();
    let mut inserted = 0u64;
    let mut last_used: HashMap<&str, i64> = HashMap::new();

    let mut deltas = crate::analytics::rollup::Deltas::default();
    let mut tx = db.begin_write().await?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(chunk.len(), db.backend());
        let mut query = sqlx::query(&sql);
        for row in chunk {
            let id = row.request_id.as_str();
            query = query
                .bind(id)
                .bind(row.ts_ms)
                .bind(&row.developer_id)
                .bind(&row.key_id)
                .bind(&row.endpoint)
                .bind(&row.method)
                .bind(&row.model)
                .bind(&row.deployment_id)
                .bind(&row.provider_id)
                .bind(to_i64("prompt_tokens", id, row.prompt_tokens)?)
                .bind(to_i64("completion_tokens", id, row.completion_tokens)?)
                .bind(to_i64("cached_tokens", id, row.cached_tokens)?)
                .bind(to_i64("reasoning_tokens", id, row.reasoning_tokens)?)
                .bind(row.cost_nanos)
                .bind(i64::from(row.latency_ms))
                .bind(row.ttft_ms.map(i64::from))
                .bind(i64::from(row.status))
                .bind(row.stream)
                .bind(i64::from(row.attempts))
                .bind(&row.ip)
                .bind(&row.user_agent)
                .bind(&row.error)
                .bind(&row.gateway_id)
                .bind(&row.batch_id)
                .bind(received_at);
            if !row.key_id.is_empty() {
                let at = last_used.entry(row.key_id.as_str()).or_insert(row.ts_ms);
                *at = (*at).max(row.ts_ms);
            }
        }
        let stored = query.fetch_all(&mut *tx).await?;
        let mut new_ids: HashSet<String> = HashSet::with_capacity(stored.len());
        for r in &stored {
            new_ids.insert(sqlx::Row::try_get(r, 0)?);
        }
        inserted += stored.len() as u64;
        // `remove`: a request id twice in one batch is stored (and counted) once.
        for row in chunk {
            if new_ids.remove(&row.request_id) {
                deltas.add(row);
            }
        }
    }
    if !deltas.is_empty() {
        deltas.write(&mut tx, db.backend()).await?;
    }
    for (key_id, at) in last_used {
        keys::touch_last_used(&mut tx, key_id, at).await?;
    }
    tx.commit().await?;
    Ok(IngestResult {
        inserted,
        duplicates: rows.len() as u64 - inserted,
    })
}

/// The columns [`row_from`] reads, for `SELECT {ROW_COLUMNS} FROM usage_records`.
pub const ROW_COLUMNS: &str = "request_id, ts_ms, developer_id, key_id, endpoint, method, model, \
     deployment_id, provider_id, prompt_tokens, completion_tokens, cached_tokens, \
     reasoning_tokens, cost_nanos, latency_ms, ttft_ms, status, stream, attempts, ip, \
     user_agent, error, gateway_id, batch_id";

/// A stored row back as the gateway sent it.
pub fn row_from(r: &sqlx::any::AnyRow) -> DomainResult<UsageRow> {
    use sqlx::Row;
    let u =
        |c: &str| -> DomainResult<u64> { Ok(u64::try_from(r.try_get::<i64, _>(c)?).unwrap_or(0)) };
    let small = |c: &str| -> DomainResult<i64> { Ok(r.try_get::<i64, _>(c)?) };
    Ok(UsageRow {
        request_id: r.try_get("request_id")?,
        ts_ms: r.try_get("ts_ms")?,
        developer_id: r.try_get("developer_id")?,
        key_id: r.try_get("key_id")?,
        endpoint: r.try_get("endpoint")?,
        method: r.try_get("method")?,
        model: r.try_get("model")?,
        deployment_id: r.try_get("deployment_id")?,
        provider_id: r.try_get("provider_id")?,
        prompt_tokens: u("prompt_tokens")?,
        completion_tokens: u("completion_tokens")?,
        cached_tokens: u("cached_tokens")?,
        reasoning_tokens: u("reasoning_tokens")?,
        cost_nanos: r.try_get("cost_nanos")?,
        latency_ms: u32::try_from(small("latency_ms")?).unwrap_or(u32::MAX),
        ttft_ms: r
            .try_get::<Option<i64>, _>("ttft_ms")?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        status: u16::try_from(small("status")?).unwrap_or(0),
        stream: db::get_bool(r, "stream")?,
        attempts: u8::try_from(small("attempts")?).unwrap_or(u8::MAX),
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        error: r.try_get("error")?,
        gateway_id: r.try_get("gateway_id")?,
        batch_id: r.try_get("batch_id")?,
    })
}

/// How many usage rows are stored (for tests and operators).
pub async fn count(db: &Db) -> DomainResult<i64> {
    use sqlx::Row;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM usage_records")
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get::<i64, _>("n")?)
}

/// One UTC day of a key's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DayUsage {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Requests metered.
    pub requests: i64,
    /// Prompt + completion tokens.
    pub tokens: i64,
    /// Cost, nano-units.
    pub cost_nanos: i64,
    /// Requests answered with status >= 400.
    pub errors: i64,
}

/// A key's totals over the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UsageTotals {
    /// Requests metered.
    pub requests: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cost, nano-units.
    pub cost_nanos: i64,
    /// Requests answered with status >= 400.
    pub errors: i64,
}

/// A key's usage for its last `days` UTC days (today included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyUsage {
    /// Totals of `by_day`.
    pub totals: UsageTotals,
    /// Every day of the window, oldest first, zeros included.
    pub by_day: Vec<DayUsage>,
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DD` of a day number since the unix epoch.
fn date_of(day: i64) -> String {
    let secs = u64::try_from(day.max(0) * 86_400).unwrap_or(0);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339(t).to_string()[..10].to_string()
}

/// Usage of key `key_id` (its `:grace` traffic included) by UTC day for
/// the `days` days ending today, from the analytics rollups (the embedded
/// store's or ClickHouse's).
pub async fn key_usage(
    store: &crate::analytics::store::Store,
    developer_id: &str,
    key_id: &str,
    days: u32,
    now_ms: i64,
) -> DomainResult<KeyUsage> {
    use crate::analytics::store::{Filter, Scope, Time};
    let today = now_ms / DAY_MS;
    let first = today - i64::from(days.max(1)) + 1;
    let rows = store
        .sums(
            Scope::Developer(developer_id),
            first * DAY_MS,
            (today + 1) * DAY_MS,
            Time::Day,
            &[],
            Filter {
                key: Some(aihub_contract::keys::base_key_id(key_id)),
                model: None,
            },
        )
        .await?;
    let mut totals = UsageTotals::default();
    let mut by_day: Vec<DayUsage> = (first..=today)
        .map(|d| DayUsage {
            date: date_of(d),
            ..DayUsage::default()
        })
        .collect();
    for row in &rows {
        let m = &row.m;
        totals.requests += m.requests;
        totals.prompt_tokens += m.prompt_tokens;
        totals.completion_tokens += m.completion_tokens;
        totals.cost_nanos += m.cost_nanos;
        totals.errors += m.errors;
        let slot = usize::try_from(row.t / DAY_MS - first)
            .ok()
            .and_then(|i| by_day.get_mut(i));
        if let Some(slot) = slot {
            slot.requests += m.requests;
            slot.tokens += m.tokens();
            slot.cost_nanos += m.cost_nanos;
            slot.errors += m.errors;
        }
    }
    Ok(KeyUsage { totals, by_day })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_every_placeholder_once() {
        let sql = insert_sql(2, Backend::Postgres);
        assert!(sql.contains("($1, $2,"));
        assert!(sql.contains("$25), ($26, $27,"));
        assert!(sql.ends_with("$50) ON CONFLICT (request_id) DO NOTHING RETURNING request_id"));
        let sql = insert_sql(2, Backend::Sqlite);
        assert_eq!(sql.matches('?').count(), 2 * COLUMN_COUNT);
        assert!(!sql.contains('$'));
        assert_eq!(COLUMNS.split(',').count(), COLUMN_COUNT);
    }

    #[test]
    fn a_full_statement_stays_under_the_parameter_limits() {
        // The bound itself is a compile-time assertion next to the constants.
        let params = ROWS_PER_STATEMENT * COLUMN_COUNT;
        let sql = insert_sql(ROWS_PER_STATEMENT, Backend::Postgres);
        assert!(sql.contains(&format!("${params})")));
        assert!(!sql.contains(&format!("${}", params + 1)));
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(super::date_of(0), "1970-01-01");
        assert_eq!(super::date_of(20_417), "2025-11-25");
    }
}

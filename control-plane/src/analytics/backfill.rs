//! Filling ClickHouse's rollups with rows stored before their materialized
//! views existed (`aihub admin analytics backfill`): a view only sees rows
//! inserted after it was created, so each view's own SELECT is run once
//! over `usage_records FINAL` for rows inserted before that moment.

use crate::billing::charges::{quote, ClickHouseSource};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use sqlx::Row;

/// Runs the backfill once per view of a ClickHouse database: views
/// already filled since they were created (recorded per view, or by the
/// whole-database record of earlier releases) are left alone, so after
/// an upgrade only the new views are filled. Refused when every view was
/// filled already, unless `force` (which fills every view again and would
/// count those rows twice). Returns the views filled.
pub async fn clickhouse(db: &Db, ch: &ClickHouseSource, force: bool) -> DomainResult<Vec<String>> {
    let database = ch.database().to_string();
    let marker = format!("clickhouse_backfilled:{database}");
    let mut conn = db.pool().acquire().await?;
    let state =
        |name: String| sqlx::query("SELECT value FROM analytics_state WHERE name = $1").bind(name);
    let whole = state(marker.clone())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get::<i64, _>("value"))
        .transpose()?;
    let views = ch
        .select(&format!(
            "SELECT name, toUInt32(metadata_modification_time), create_table_query FROM system.tables \
             WHERE database = {} AND engine = 'MaterializedView' ORDER BY name FORMAT TabSeparated",
            quote(&database)
        ))
        .await?;
    let source = format!("FROM {database}.usage_records");
    let mut filled = Vec::new();
    let mut already = Vec::new();
    for line in views.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, created, query] = f[..] else {
            continue;
        };
        let view_marker = format!("{marker}:{name}");
        let filled_for = state(view_marker.clone())
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get::<i64, _>("value"))
            .transpose()?;
        let created_s: i64 = created
            .parse()
            .map_err(|_| DomainError::Internal(format!("cannot read when {name} was created")))?;
        let before_whole = whole.is_some_and(|at| created_s * 1000 <= at);
        // The record holds the creation time of the view it filled: a view
        // made again since (dropped and created by an upgrade) starts empty
        // and is filled again.
        let fresh = filled_for == Some(created_s);
        if !force && (fresh || before_whole) {
            already.push(name.to_string());
            continue;
        }
        let query = crate::billing::charges::unescape(query);
        let (Some(to), Some(select)) = (
            query
                .split(" TO ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next()),
            query.find(" AS SELECT ").map(|i| &query[i + 4..]),
        ) else {
            return Err(DomainError::Internal(format!(
                "cannot read the view {name}"
            )));
        };
        let Some(at) = select.find(&source) else {
            continue;
        };
        let rest = &select[at + source.len()..];
        let filtered = format!(
            "{}{source} FINAL WHERE inserted_at < toDateTime({created}){rest}",
            &select[..at],
        );
        ch.select(&format!("INSERT INTO {to} {filtered}")).await?;
        sqlx::query(
            "INSERT INTO analytics_state (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(&view_marker)
        .bind(created_s)
        .execute(&mut *conn)
        .await?;
        filled.push(name.to_string());
    }
    if filled.is_empty() && !already.is_empty() {
        return Err(DomainError::Conflict(format!(
            "the rollups of {database} were backfilled already ({}); running it again would count those rows twice",
            already.join(", ")
        )));
    }
    Ok(filled)
}

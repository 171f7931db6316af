//! Filling ClickHouse's rollups with rows stored before their materialized
//! views existed (`aihub admin analytics backfill`): a view only sees rows
//! inserted after it was created, so each view's own SELECT is run once
//! over `usage_records FINAL` for rows inserted before that moment.

use crate::billing::charges::{quote, ClickHouseSource};
use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use sqlx::Row;

/// Runs the backfill once per ClickHouse database (refused a second time
/// unless `force`, which would count the rows twice). Returns the views
/// filled.
pub async fn clickhouse(db: &Db, ch: &ClickHouseSource, force: bool) -> DomainResult<Vec<String>> {
    let database = ch.database().to_string();
    let marker = format!("clickhouse_backfilled:{database}");
    let mut conn = db.pool().acquire().await?;
    let done = sqlx::query("SELECT value FROM analytics_state WHERE name = $1")
        .bind(&marker)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get::<i64, _>("value"))
        .transpose()?;
    if let (Some(at), false) = (done, force) {
        return Err(DomainError::Conflict(format!(
            "the rollups of {database} were backfilled already (at {at} ms); running it again would count those rows twice"
        )));
    }
    let views = ch
        .select(&format!(
            "SELECT name, toUInt32(metadata_modification_time), create_table_query FROM system.tables \
             WHERE database = {} AND engine = 'MaterializedView' ORDER BY name FORMAT TabSeparated",
            quote(&database)
        ))
        .await?;
    let source = format!("FROM {database}.usage_records");
    let mut filled = Vec::new();
    for line in views.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, created, query] = f[..] else {
            continue;
        };
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
        if created.parse::<u32>().is_err() {
            return Err(DomainError::Internal(format!(
                "cannot read when {name} was created"
            )));
        }
        ch.select(&format!("INSERT INTO {to} {filtered}")).await?;
        filled.push(name.to_string());
    }
    sqlx::query(
        "INSERT INTO analytics_state (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(&marker)
    .bind(db::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(filled)
}

//! Raw usage row retention (`analytics.raw_retention_months`): rows of
//! months older than the limit are deleted, the rollups keep their figures.
//! ClickHouse 18.16 has no TTL, so whole monthly partitions of
//! `usage_records` are dropped; the embedded store deletes in slices so
//! ingest never waits long.

use crate::billing::charges::{quote, Source};
use crate::db::{self, Db};
use crate::error::DomainResult;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::time::Duration;
use tokio::sync::watch;

/// First day (UTC ms) of the oldest month kept, `months` whole months
/// before the current one.
pub fn cutoff_ms(now_ms: i64, months: u32) -> i64 {
    let today = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .date_naive();
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    first
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(first)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_millis()
}

/// Rows deleted a statement in the embedded store.
const SLICE: i64 = 10_000;

/// Deletes raw rows before [`cutoff_ms`]; returns rows (embedded) or
/// partitions (ClickHouse) removed. `months` 0 does nothing.
pub async fn apply(db: &Db, source: &Source, months: u32, now_ms: i64) -> DomainResult<u64> {
    if months == 0 {
        return Ok(0);
    }
    let cutoff = cutoff_ms(now_ms, months);
    match source {
        Source::Sql => {
            let mut removed = 0;
            loop {
                let mut tx = db.begin_write().await?;
                let n = sqlx::query(
                    "DELETE FROM usage_records WHERE request_id IN \
                     (SELECT request_id FROM usage_records WHERE ts_ms < $1 LIMIT $2)",
                )
                .bind(cutoff)
                .bind(SLICE)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                removed += n;
                if n < SLICE as u64 {
                    return Ok(removed);
                }
            }
        }
        Source::ClickHouse(ch) => {
            let oldest_kept = DateTime::<Utc>::from_timestamp_millis(cutoff)
                .map(|t| t.year() as i64 * 100 + t.month() as i64)
                .unwrap_or(0);
            let body = ch
                .select(&format!(
                    "SELECT DISTINCT partition FROM system.parts WHERE database = {} \
                     AND table = 'usage_records' AND active FORMAT TabSeparated",
                    quote(ch.database())
                ))
                .await?;
            let mut dropped = 0;
            for p in body.lines().filter_map(|l| l.trim().parse::<i64>().ok()) {
                if p < oldest_kept {
                    ch.select(&format!(
                        "ALTER TABLE {}.usage_records DROP PARTITION {p}",
                        ch.database()
                    ))
                    .await?;
                    dropped += 1;
                }
            }
            Ok(dropped)
        }
    }
}

/// Runs [`apply`] at start and then every hour until shutdown.
pub fn spawn(
    db: Db,
    source: Source,
    settings: std::sync::Arc<crate::settings::Runtime>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // Read each round: the console may change it.
            let months = settings.config().analytics.raw_retention_months;
            match apply(&db, &source, months, db::now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "raw usage rows past retention removed"),
                Err(e) => tracing::warn!(error = %e, "cannot apply usage retention"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cutoff_is_the_first_of_a_month() {
        // 2026-11-25 → keep 2 whole months before November: from 2026-09-01.
        let now = 1_795_564_800_000; // 2026-11-25T00:00:00Z
        assert_eq!(super::cutoff_ms(now, 2), 1_788_220_800_000); // 2026-09-01
    }
}

//! Exactly-once shipping against a real ClickHouse (`AIHUB_TEST_CLICKHOUSE_URL`):
//! a batch retried with `ship_retry` after it was stored inserts only the
//! rows ClickHouse does not have, so the rollup views count every request
//! once, without FINAL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aihub_contract::usage::UsageRow;
use aihub_gateway::spool::UsageStore;
use aihub_gateway::stores::ClickHouseStore;
use aihub_testkit::{clickhouse, procs};

fn row(i: usize) -> UsageRow {
    UsageRow {
        // Quotes and backslashes must reach ClickHouse escaped.
        request_id: if i.is_multiple_of(7) {
            format!("req-'{i}\\?")
        } else {
            format!("req-{i}")
        },
        // Several developers and hours, so the lookup spans key ranges.
        ts_ms: 1_764_000_000_000 + (i as i64) * 60_000,
        developer_id: format!("dev-{}", i % 3),
        key_id: "key".into(),
        endpoint: "chat.completions".into(),
        method: "POST".into(),
        model: "gpt-4o-mini".into(),
        status: 200,
        attempts: 1,
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_nanos: 1_000,
        latency_ms: 50,
        ..UsageRow::default()
    }
}

async fn number(url: &str, sql: &str) -> u64 {
    let text = clickhouse::query(url, sql).await.unwrap();
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("`{sql}` answered {text:?}: {e}"))
}

#[tokio::test]
async fn a_retried_batch_is_counted_once_by_the_rollups() {
    let Some(url) = procs::clickhouse_url() else {
        eprintln!("skipped: AIHUB_TEST_CLICKHOUSE_URL is not set");
        return;
    };
    let db = procs::unique_name("exactly_once");
    clickhouse::apply_schema(&url, &db).await.unwrap();
    let store = ClickHouseStore::new(&url, &db, clickhouse::USAGE_TABLE, "", "");

    // More rows than one lookup query holds (1000 ids), stored once...
    let first: Vec<UsageRow> = (0..1200).map(row).collect();
    store.ship(&first).await.unwrap();
    // ...then retried (the ack was lost) together with rows never sent.
    let retried: Vec<UsageRow> = (0..1205).map(row).collect();
    let already = store.ship_retry(&retried).await.unwrap();
    assert_eq!(already, 1200);
    // A retry of a batch that is fully stored inserts nothing.
    assert_eq!(store.ship_retry(&retried[1100..]).await.unwrap(), 105);

    let distinct = 1205;
    assert_eq!(
        number(&url, &format!("SELECT count() FROM {db}.usage_records")).await,
        distinct
    );
    assert_eq!(
        number(
            &url,
            &format!("SELECT uniqExact(request_id) FROM {db}.usage_records")
        )
        .await,
        distinct
    );
    assert_eq!(
        number(
            &url,
            &format!("SELECT sumMerge(requests) FROM {db}.usage_hourly")
        )
        .await,
        distinct
    );
    assert_eq!(
        number(
            &url,
            &format!("SELECT sumMerge(requests) FROM {db}.usage_daily")
        )
        .await,
        distinct
    );

    clickhouse::drop_database(&url, &db).await.unwrap();
}

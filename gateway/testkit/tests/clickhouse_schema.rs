//! `config/clickhouse/schema.sql` against the contract's `UsageRow` and, when
//! `AIHUB_TEST_CLICKHOUSE_URL` is set, against a real server: the DDL applies
//! (twice), the `clickhouse` crate inserts `UsageRow`s in RowBinary with
//! compression off, reads them back, and a replayed row counts once.
#![allow(clippy::unwrap_used)]

use aihub_contract::usage::UsageRow;
use aihub_testkit::clickhouse::{
    apply_schema, drop_database, query, schema_statements, USAGE_TABLE,
};
use aihub_testkit::procs::{clickhouse_url, unique_name};
use serde::{Deserialize, Serialize};

/// The insert columns, in `UsageRow`'s declaration (= serialisation) order.
const COLUMNS: &[&str] = &[
    "request_id",
    "ts_ms",
    "developer_id",
    "key_id",
    "endpoint",
    "method",
    "model",
    "deployment_id",
    "provider_id",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "latency_ms",
    "ttft_ms",
    "status",
    "stream",
    "attempts",
    "ip",
    "user_agent",
    "error",
    "gateway_id",
    "batch_id",
];

/// How a gateway can insert the contract type itself: a transparent wrapper
/// that names the columns.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct ChUsageRow(UsageRow);

impl clickhouse::Row for ChUsageRow {
    const COLUMN_NAMES: &'static [&'static str] = COLUMNS;
}

fn row(request_id: &str, ts_ms: i64, ttft_ms: Option<u32>) -> UsageRow {
    UsageRow {
        request_id: request_id.into(),
        ts_ms,
        developer_id: "dev_1".into(),
        key_id: "key_1".into(),
        endpoint: "chat.completions".into(),
        method: "POST".into(),
        model: "gpt-x".into(),
        deployment_id: "dep_1".into(),
        provider_id: "prov_1".into(),
        prompt_tokens: 12,
        completion_tokens: 7,
        cached_tokens: 3,
        reasoning_tokens: 2,
        cost_nanos: -5_000_000_123,
        latency_ms: 250,
        ttft_ms,
        status: 200,
        stream: ttft_ms.is_some(),
        attempts: 2,
        ip: "127.0.0.1".into(),
        user_agent: "OpenAI/Python 3.0 ✓".into(),
        error: String::new(),
        gateway_id: "gw-a".into(),
        // Streams here are ordinary traffic, the others batch items.
        batch_id: if ttft_ms.is_some() {
            String::new()
        } else {
            "batch_1".into()
        },
    }
}

/// Column names declared in the schema's CREATE TABLE, in order, with
/// whether each is MATERIALIZED.
fn schema_columns() -> Vec<(String, bool)> {
    let create = schema_statements("aihub")
        .into_iter()
        .find(|s| s.starts_with("CREATE TABLE"))
        .unwrap();
    let body = &create[create.find('(').unwrap() + 1..create.find("\n)").unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let name = l.split_whitespace().next().unwrap().to_owned();
            (name, l.contains(" MATERIALIZED "))
        })
        .collect()
}

#[test]
fn schema_columns_are_exactly_the_usage_row_fields_in_order() {
    let inserted: Vec<String> = schema_columns()
        .into_iter()
        .filter(|(_, materialized)| !materialized)
        .map(|(name, _)| name)
        .collect();
    let serde_keys: Vec<String> = match serde_json::to_value(row("r", 0, None)).unwrap() {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    };
    // serde_json's map is sorted; compare sets, then the declared order.
    let mut sorted = inserted.clone();
    sorted.sort();
    assert_eq!(sorted, serde_keys, "schema.sql and UsageRow disagree");
    assert_eq!(
        inserted, COLUMNS,
        "schema.sql must list columns in UsageRow's order"
    );
}

#[tokio::test]
async fn clickhouse_accepts_the_schema_and_row_binary_inserts() {
    let Some(url) = clickhouse_url() else {
        eprintln!("AIHUB_TEST_CLICKHOUSE_URL unset: skipping the real-server part");
        return;
    };
    let db = unique_name("schema_test");
    apply_schema(&url, &db).await.unwrap();
    apply_schema(&url, &db).await.unwrap(); // idempotent

    let client = clickhouse::Client::default()
        .with_url(&url)
        .with_database(&db)
        .with_compression(clickhouse::Compression::None);
    let rows = [
        row("req-1", 1_700_000_000_123, Some(42)),
        row("req-2", 1_700_000_001_000, None),
        // A replay of req-1 (spool replay after a crash).
        row("req-1", 1_700_000_000_123, Some(42)),
    ];
    let mut insert = client.insert::<ChUsageRow>(USAGE_TABLE).unwrap();
    for r in &rows {
        insert.write(&ChUsageRow(r.clone())).await.unwrap();
    }
    insert.end().await.unwrap();

    let exact = query(
        &url,
        &format!("SELECT count() FROM {db}.{USAGE_TABLE} FINAL"),
    )
    .await
    .unwrap();
    assert_eq!(exact.trim(), "2");
    let by_id = query(
        &url,
        &format!(
            "SELECT count() FROM (SELECT request_id FROM {db}.{USAGE_TABLE} GROUP BY request_id)"
        ),
    )
    .await
    .unwrap();
    assert_eq!(by_id.trim(), "2");

    // Read back through the crate (RowBinary) and compare field by field.
    let fetched = client
        .query(&format!(
            "SELECT ?fields FROM {USAGE_TABLE} FINAL ORDER BY request_id"
        ))
        .fetch_all::<ChUsageRow>()
        .await
        .unwrap();
    let fetched: Vec<UsageRow> = fetched.into_iter().map(|r| r.0).collect();
    assert_eq!(fetched, vec![rows[0].clone(), rows[1].clone()]);

    // The materialized time columns.
    let times = query(
        &url,
        &format!(
            "SELECT ts, date FROM {db}.{USAGE_TABLE} FINAL WHERE request_id = 'req-1' FORMAT TSV"
        ),
    )
    .await
    .unwrap();
    assert_eq!(times.trim(), "2023-11-14 22:13:20\t2023-11-14");

    drop_database(&url, &db).await.unwrap();
}

//! Usage stores the spool ships to: ClickHouse in production, the control
//! plane's ingest endpoint in the embedded default. The control plane
//! deduplicates by request id itself (`ON CONFLICT DO NOTHING`); ClickHouse's
//! rollup views count every inserted row, so a retried batch first asks
//! ClickHouse which of its request ids are stored and inserts only the rest.

use crate::spool::UsageStore;
use aihub_contract::signing;
use aihub_contract::usage::{IngestResult, UsageBatch, UsageRow};
use anyhow::Context;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

/// Ships to `POST /internal/v1/usage` on the control plane.
pub struct ControlPlaneStore {
    client: reqwest::Client,
    base: String,
    secret: Vec<u8>,
}

impl ControlPlaneStore {
    /// A store for the control plane at `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str, secret: &str) -> anyhow::Result<Self> {
        Ok(ControlPlaneStore {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            secret: secret.as_bytes().to_vec(),
        })
    }
}

#[async_trait]
impl UsageStore for ControlPlaneStore {
    fn name(&self) -> &'static str {
        "control_plane"
    }

    async fn ship(&self, rows: &[UsageRow]) -> anyhow::Result<()> {
        self.send(rows).await.map(|_| ())
    }

    async fn ship_retry(&self, rows: &[UsageRow]) -> anyhow::Result<u64> {
        Ok(self.send(rows).await?.duplicates)
    }
}

impl ControlPlaneStore {
    /// Posts rows; the answer says how many were new and how many duplicates.
    async fn send(&self, rows: &[UsageRow]) -> anyhow::Result<IngestResult> {
        let body = serde_json::to_vec(&UsageBatch {
            rows: rows.to_vec(),
        })?;
        let path = aihub_contract::routes::USAGE;
        let sig = signing::sign(
            &self.secret,
            crate::context::now_ms() / 1000,
            "POST",
            path,
            &body,
        );
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header(signing::HEADER, sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .context("sending usage to the control plane")?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            anyhow::bail!("control plane answered {status}: {text}");
        }
        let result: IngestResult = resp.json().await.context("reading the ingest result")?;
        tracing::debug!(
            inserted = result.inserted,
            duplicates = result.duplicates,
            "usage shipped"
        );
        Ok(result)
    }
}

/// The row as ClickHouse stores it (`config/clickhouse/schema.sql`).
#[derive(clickhouse::Row, Serialize)]
struct ClickHouseRow<'a> {
    request_id: &'a str,
    ts_ms: i64,
    developer_id: &'a str,
    key_id: &'a str,
    endpoint: &'a str,
    method: &'a str,
    model: &'a str,
    deployment_id: &'a str,
    provider_id: &'a str,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    reasoning_tokens: u64,
    cost_nanos: i64,
    latency_ms: u32,
    ttft_ms: Option<u32>,
    status: u16,
    stream: u8,
    attempts: u8,
    ip: &'a str,
    user_agent: &'a str,
    error: &'a str,
    gateway_id: &'a str,
    batch_id: &'a str,
}

impl<'a> From<&'a UsageRow> for ClickHouseRow<'a> {
    fn from(r: &'a UsageRow) -> Self {
        ClickHouseRow {
            request_id: &r.request_id,
            ts_ms: r.ts_ms,
            developer_id: &r.developer_id,
            key_id: &r.key_id,
            endpoint: &r.endpoint,
            method: &r.method,
            model: &r.model,
            deployment_id: &r.deployment_id,
            provider_id: &r.provider_id,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cached_tokens: r.cached_tokens,
            reasoning_tokens: r.reasoning_tokens,
            cost_nanos: r.cost_nanos,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            status: r.status,
            stream: u8::from(r.stream),
            attempts: r.attempts,
            ip: &r.ip,
            user_agent: &r.user_agent,
            error: &r.error,
            gateway_id: &r.gateway_id,
            batch_id: &r.batch_id,
        }
    }
}

/// Ships to a ClickHouse table with the `clickhouse` crate's RowBinary insert
/// (uncompressed, which old servers need).
pub struct ClickHouseStore {
    client: clickhouse::Client,
    table: String,
}

impl ClickHouseStore {
    /// A store for `database.table` at `url`.
    pub fn new(url: &str, database: &str, table: &str, user: &str, password: &str) -> Self {
        let mut client = clickhouse::Client::default()
            .with_url(url)
            .with_database(database)
            .with_compression(clickhouse::Compression::None);
        if !user.is_empty() {
            client = client.with_user(user);
        }
        if !password.is_empty() {
            client = client.with_password(password);
        }
        ClickHouseStore {
            client,
            table: table.to_string(),
        }
    }
}

/// Request ids looked up per query when a batch is retried: keeps the SQL
/// well under ClickHouse's `max_query_size` (256 KiB by default).
const LOOKUP_IDS: usize = 1000;

impl ClickHouseStore {
    /// One RowBinary insert of `rows`.
    async fn insert<'a>(&self, rows: impl Iterator<Item = &'a UsageRow>) -> anyhow::Result<()> {
        let mut insert = self
            .client
            .insert::<ClickHouseRow<'_>>(&self.table)
            .context("preparing the ClickHouse insert")?;
        for r in rows {
            insert
                .write(&ClickHouseRow::from(r))
                .await
                .context("writing a usage row to ClickHouse")?;
        }
        insert
            .end()
            .await
            .context("finishing the ClickHouse insert")?;
        Ok(())
    }

    /// The request ids among `rows` the table already holds. Filters on the
    /// sorting key `(developer_id, ts_ms, request_id)` so only the granules
    /// of the batch's developers and time span are read; every value is
    /// bound (escaped by the client), never pasted into the SQL.
    async fn stored_ids(&self, rows: &[UsageRow]) -> anyhow::Result<HashSet<String>> {
        let mut stored = HashSet::new();
        for chunk in rows.chunks(LOOKUP_IDS) {
            let developers: BTreeSet<&str> =
                chunk.iter().map(|r| r.developer_id.as_str()).collect();
            let ids: BTreeSet<&str> = chunk.iter().map(|r| r.request_id.as_str()).collect();
            let (Some(min), Some(max)) = (
                chunk.iter().map(|r| r.ts_ms).min(),
                chunk.iter().map(|r| r.ts_ms).max(),
            ) else {
                continue;
            };
            let sql = lookup_sql(&self.table, developers.len(), ids.len());
            let mut query = self.client.query(&sql);
            for part in self.table.split('.') {
                query = query.bind(clickhouse::sql::Identifier(part));
            }
            for d in &developers {
                query = query.bind(*d);
            }
            query = query.bind(min).bind(max);
            for id in &ids {
                query = query.bind(*id);
            }
            let found = query
                .fetch_all::<String>()
                .await
                .context("asking ClickHouse which usage rows it already has")?;
            stored.extend(found);
        }
        Ok(stored)
    }
}

/// `SELECT request_id FROM ?.? WHERE developer_id IN (?, …) AND ts_ms
/// BETWEEN ? AND ? AND request_id IN (?, …)`, one placeholder per value (old
/// servers refuse an array on the right of IN). The table (optionally
/// `database.table`) is bound as identifiers.
fn lookup_sql(table: &str, developers: usize, ids: usize) -> String {
    let list = |n: usize| vec!["?"; n].join(", ");
    let from = vec!["?"; table.split('.').count()].join(".");
    format!(
        "SELECT request_id FROM {from} WHERE developer_id IN ({}) \
         AND ts_ms BETWEEN ? AND ? AND request_id IN ({})",
        list(developers),
        list(ids)
    )
}

#[async_trait]
impl UsageStore for ClickHouseStore {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    async fn ship(&self, rows: &[UsageRow]) -> anyhow::Result<()> {
        self.insert(rows.iter()).await
    }

    async fn ship_retry(&self, rows: &[UsageRow]) -> anyhow::Result<u64> {
        let stored = self.stored_ids(rows).await?;
        let missing: Vec<&UsageRow> = rows
            .iter()
            .filter(|r| !stored.contains(r.request_id.as_str()))
            .collect();
        if !missing.is_empty() {
            self.insert(missing.iter().copied()).await?;
        }
        Ok((rows.len() - missing.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_sql_has_one_placeholder_per_value() {
        assert_eq!(
            lookup_sql("usage_records", 2, 3),
            "SELECT request_id FROM ? WHERE developer_id IN (?, ?) \
             AND ts_ms BETWEEN ? AND ? AND request_id IN (?, ?, ?)"
        );
        assert!(lookup_sql("db.t", 1, 1).starts_with("SELECT request_id FROM ?.? WHERE"));
    }
}

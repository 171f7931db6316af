//! Usage records shipped by gateways (the embedded default's store).

use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use crate::keys;
use aihub_contract::usage::{IngestResult, UsageRow};
use std::collections::HashMap;

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

/// Stores a batch in one transaction. Rows whose `request_id` is already
/// stored are counted as duplicates and left untouched, so a batch replayed
/// after a crash counts once. Keys seen get their `last_used_at` moved forward.
pub async fn ingest(db: &Db, rows: &[UsageRow]) -> DomainResult<IngestResult> {
    for row in rows {
        check(row)?;
    }
    let received_at = db::now_ms();
    let mut inserted = 0u64;
    let mut duplicates = 0u64;
    let mut last_used: HashMap<&str, i64> = HashMap::new();

    let mut tx = db.begin_write().await?;
    for row in rows {
        let id = row.request_id.as_str();
        let done = sqlx::query(
            "INSERT INTO usage_records (request_id, ts_ms, developer_id, key_id, endpoint, method, \
             model, deployment_id, provider_id, prompt_tokens, completion_tokens, cached_tokens, \
             reasoning_tokens, cost_nanos, latency_ms, ttft_ms, status, stream, attempts, ip, \
             user_agent, error, gateway_id, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24) \
             ON CONFLICT (request_id) DO NOTHING",
        )
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
        .bind(received_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            inserted += 1;
            if !row.key_id.is_empty() {
                let at = last_used.entry(row.key_id.as_str()).or_insert(row.ts_ms);
                *at = (*at).max(row.ts_ms);
            }
        } else {
            duplicates += 1;
        }
    }
    for (key_id, at) in last_used {
        keys::touch_last_used(&mut tx, key_id, at).await?;
    }
    tx.commit().await?;
    Ok(IngestResult {
        inserted,
        duplicates,
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

//! The audit log (who did what, when, from which address) and the
//! domain-event outbox (`events`, delivered to webhook endpoints by
//! [`crate::webhooks`]). Both are written inside the transaction of the change they
//! describe, so neither records a change that rolled back nor misses one
//! that committed.

use crate::db;
use crate::error::{DomainError, DomainResult};
use serde_json::Value;
use sqlx::AnyConnection;

/// Who acts: an account and the client address it acted from.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `dev_…` of the caller.
    pub id: String,
    /// Client IP as far as it can be trusted (`unknown` when not known).
    pub ip: String,
}

fn json_text(value: &Value) -> DomainResult<String> {
    serde_json::to_string(value).map_err(|e| DomainError::Internal(e.to_string()))
}

/// Appends an audit entry (`aud_…`), e.g. `api_key.created` on `key_…`.
pub async fn record(
    conn: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    target_id: &str,
    details: &Value,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at_ms, actor_id, actor_ip, action, target_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(db::new_id("aud_"))
    .bind(db::now_ms())
    .bind(&actor.id)
    .bind(&actor.ip)
    .bind(action)
    .bind(target_id)
    .bind(json_text(details)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends a domain event (`evt_…`) for a developer, with a webhook
/// delivery for each of the developer's endpoints subscribed to its type,
/// and returns its id.
pub async fn emit(
    conn: &mut AnyConnection,
    event_type: &str,
    developer_id: &str,
    data: &Value,
) -> DomainResult<String> {
    let id = db::new_id("evt_");
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO events (id, type, developer_id, created_at_ms, data) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(event_type)
    .bind(developer_id)
    .bind(now)
    .bind(json_text(data)?)
    .execute(&mut *conn)
    .await?;
    crate::webhooks::delivery::fan_out(&mut *conn, &id, developer_id, event_type, now).await?;
    Ok(id)
}

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

impl Actor {
    /// The command line on the server (`aihub admin …`).
    pub fn cli() -> Actor {
        Actor {
            id: "cli".into(),
            ip: "local".into(),
        }
    }

    /// A signed-in account acting from `client`.
    pub fn of(who: &crate::accounts::Authenticated, client: &crate::accounts::ClientMeta) -> Actor {
        Actor {
            id: who.developer.id.clone(),
            ip: client.ip.clone(),
        }
    }
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

/// Filters of the audit log (operators' console and API).
#[derive(Debug, Default)]
pub struct AuditFilter {
    /// Only this actor's entries.
    pub actor_id: Option<String>,
    /// Only entries about this target (a developer, key, invoice, …).
    pub target_id: Option<String>,
    /// Any of these actions (empty: all), e.g. `billing.credit_granted`.
    pub actions: Vec<String>,
    /// At or after, unix ms.
    pub since_ms: Option<i64>,
    /// Before, unix ms.
    pub until_ms: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Older than this entry id.
    pub starting_after: Option<String>,
}

/// A page of audit entries, newest first (ids are time-ordered), each
/// with its actor's email, and whether older ones follow.
pub async fn list(conn: &mut AnyConnection, f: &AuditFilter) -> DomainResult<(Vec<Value>, bool)> {
    use sqlx::Row;
    let mut w = db::Where::new(
        "SELECT a.id, a.at_ms, a.actor_id, COALESCE(d.email, '') AS actor_email, a.actor_ip, \
         a.action, a.target_id, a.details FROM audit_log a \
         LEFT JOIN developers d ON d.id = a.actor_id WHERE 1 = 1",
    );
    if let Some(a) = &f.actor_id {
        w.text(" AND a.actor_id = ?", a.clone());
    }
    if let Some(t) = &f.target_id {
        w.text(" AND a.target_id = ?", t.clone());
    }
    w.any_of("a.action", &f.actions);
    if let Some(s) = f.since_ms {
        w.int(" AND a.at_ms >= ?", s);
    }
    if let Some(u) = f.until_ms {
        w.int(" AND a.at_ms < ?", u);
    }
    w.page(conn, "a.id", f.starting_after.as_deref(), f.limit, |r| {
        let details: String = r.try_get("details")?;
        Ok(serde_json::json!({
            "id": r.try_get::<String, _>("id")?,
            "at_ms": r.try_get::<i64, _>("at_ms")?,
            "actor": {
                "id": r.try_get::<String, _>("actor_id")?,
                "email": r.try_get::<String, _>("actor_email")?,
                "ip": r.try_get::<String, _>("actor_ip")?,
            },
            "action": r.try_get::<String, _>("action")?,
            "target_id": r.try_get::<String, _>("target_id")?,
            "details": serde_json::from_str::<Value>(&details).unwrap_or(Value::String(details)),
        }))
    })
    .await
}

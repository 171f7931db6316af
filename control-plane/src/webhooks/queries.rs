//! Reading events, deliveries and attempts for the API, and the two ways
//! of sending again: replay (new deliveries of an event) and recover
//! (failed deliveries of an endpoint back to pending). Everything is
//! scoped to one developer: another developer's rows are "not found".
//! Lists are newest first by id (UUIDv7: time-ordered) with
//! `starting_after` cursors.

use super::delivery;
use crate::db::{self, Where};
use crate::error::{DomainError, DomainResult};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A page of a list.
pub struct Page {
    /// The rows, as the API shows them.
    pub data: Vec<Value>,
    /// Whether more follow.
    pub has_more: bool,
}

/// An event as stored.
#[derive(Debug, Clone)]
pub struct Event {
    /// `evt_…`
    pub id: String,
    /// Its type.
    pub event_type: String,
    /// Owner.
    pub developer_id: String,
    /// Emitted.
    pub created_at_ms: i64,
    /// Its data.
    pub data: Value,
}

impl Event {
    /// `EVENT` in the API description (the body webhooks receive).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.event_type,
            "created_at_ms": self.created_at_ms,
            "data": self.data,
        })
    }
}

const EVENT_COLUMNS: &str = "id, type, developer_id, created_at_ms, data";

fn event_from_row(row: &AnyRow) -> DomainResult<Event> {
    let data: String = row.try_get("data")?;
    Ok(Event {
        id: row.try_get("id")?,
        event_type: row.try_get("type")?,
        developer_id: row.try_get("developer_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
    })
}

/// Filters of the events list.
#[derive(Debug, Default)]
pub struct EventFilter {
    /// Any of these types (empty: all).
    pub types: Vec<String>,
    /// Emitted at or after.
    pub since_ms: Option<i64>,
    /// Emitted before.
    pub until_ms: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Older than this id.
    pub starting_after: Option<String>,
}

/// The developer's events, newest first.
pub async fn list_events(
    conn: &mut AnyConnection,
    developer_id: &str,
    f: &EventFilter,
) -> DomainResult<Page> {
    let mut w = Where::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
    w.text(" AND developer_id = ?", developer_id.to_string());
    w.any_of("type", &f.types);
    if let Some(s) = f.since_ms {
        w.int(" AND created_at_ms >= ?", s);
    }
    if let Some(u) = f.until_ms {
        w.int(" AND created_at_ms < ?", u);
    }
    let (data, has_more) = w
        .page(conn, "id", f.starting_after.as_deref(), f.limit, |r| {
            Ok(event_from_row(r)?.to_json())
        })
        .await?;
    Ok(Page { data, has_more })
}

/// One of the developer's events.
pub async fn get_event(
    conn: &mut AnyConnection,
    developer_id: &str,
    id: &str,
) -> DomainResult<Event> {
    let row = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND developer_id = $2"
    ))
    .bind(id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| DomainError::NotFound(format!("no event with id '{id}'")))?;
    event_from_row(&row)
}

/// The developer's events after `after_id` (oldest first), up to `limit`.
pub async fn events_after(
    conn: &mut AnyConnection,
    developer_id: &str,
    after_id: &str,
    limit: i64,
) -> DomainResult<Vec<Event>> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE developer_id = $1 AND id > $2 \
         ORDER BY id LIMIT $3"
    ))
    .bind(developer_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// The developer's events emitted at or after `since_ms` (oldest first), up to `limit`.
pub async fn events_since(
    conn: &mut AnyConnection,
    developer_id: &str,
    since_ms: i64,
    limit: i64,
) -> DomainResult<Vec<Event>> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE developer_id = $1 AND created_at_ms >= $2 \
         ORDER BY id LIMIT $3"
    ))
    .bind(developer_id)
    .bind(since_ms)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(event_from_row).collect()
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, status, attempts, \
     next_attempt_at, last_status_code, last_error, created_at, finished_at";

/// `DELIVERY` in the API description.
fn delivery_json(row: &AnyRow) -> DomainResult<Value> {
    let status: String = row.try_get("status")?;
    let next: i64 = row.try_get("next_attempt_at")?;
    Ok(json!({
        "id": row.try_get::<String, _>("id")?,
        "endpoint_id": row.try_get::<String, _>("endpoint_id")?,
        "event_id": row.try_get::<String, _>("event_id")?,
        "event_type": row.try_get::<String, _>("event_type")?,
        "next_attempt_at_ms": (status == "pending").then_some(next),
        "status": status,
        "attempts": row.try_get::<i64, _>("attempts")?,
        "last_status_code": row.try_get::<Option<i64>, _>("last_status_code")?,
        "last_error": row.try_get::<Option<String>, _>("last_error")?,
        "created_at_ms": row.try_get::<i64, _>("created_at")?,
        "finished_at_ms": row.try_get::<Option<i64>, _>("finished_at")?,
    }))
}

/// `ATTEMPT` in the API description.
pub fn attempt_json(a: &delivery::Attempt) -> Value {
    json!({
        "id": a.id,
        "attempted_at_ms": a.attempted_at_ms,
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "error": a.error,
        "response_body": a.response_body,
    })
}

/// Filters of an endpoint's deliveries.
#[derive(Debug, Default)]
pub struct DeliveryFilter {
    /// `pending`, `succeeded`, `failed`.
    pub status: Option<String>,
    /// One event type.
    pub event_type: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Older than this id.
    pub starting_after: Option<String>,
}

/// An endpoint's deliveries, newest first (the endpoint must be the developer's).
pub async fn list_deliveries(
    conn: &mut AnyConnection,
    developer_id: &str,
    endpoint_id: &str,
    f: &DeliveryFilter,
) -> DomainResult<Page> {
    let mut w = Where::new(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE 1 = 1"
    ));
    w.text(" AND endpoint_id = ?", endpoint_id.to_string());
    w.text(" AND developer_id = ?", developer_id.to_string());
    if let Some(s) = &f.status {
        w.text(" AND status = ?", s.clone());
    }
    if let Some(t) = &f.event_type {
        w.text(" AND event_type = ?", t.clone());
    }
    let (data, has_more) = w
        .page(
            conn,
            "id",
            f.starting_after.as_deref(),
            f.limit,
            delivery_json,
        )
        .await?;
    Ok(Page { data, has_more })
}

/// One delivery as the API shows it (without attempts).
pub async fn get_delivery(
    conn: &mut AnyConnection,
    developer_id: &str,
    id: &str,
) -> DomainResult<Value> {
    let row = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND developer_id = $2"
    ))
    .bind(id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| DomainError::NotFound(format!("no webhook delivery with id '{id}'")))?;
    delivery_json(&row)
}

/// A delivery's attempts, oldest first.
pub async fn attempts(conn: &mut AnyConnection, delivery_id: &str) -> DomainResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT id, delivery_id, attempted_at, duration_ms, status_code, error, response_body \
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempted_at, id",
    )
    .bind(delivery_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(attempt_json(&delivery::Attempt {
                id: r.try_get("id")?,
                delivery_id: r.try_get("delivery_id")?,
                attempted_at_ms: r.try_get("attempted_at")?,
                duration_ms: r.try_get("duration_ms")?,
                status_code: r.try_get("status_code")?,
                error: r.try_get("error")?,
                response_body: r.try_get("response_body")?,
            }))
        })
        .collect()
}

/// New pending deliveries of one of the developer's events: to
/// `endpoint_id` (any of the developer's endpoints, enabled), or to every
/// enabled endpoint subscribed to its type. Returns their ids.
pub async fn replay(
    conn: &mut AnyConnection,
    developer_id: &str,
    event_id: &str,
    endpoint_id: Option<&str>,
) -> DomainResult<Vec<String>> {
    let event = get_event(&mut *conn, developer_id, event_id).await?;
    let now = db::now_ms();
    let targets: Vec<String> = match endpoint_id {
        Some(id) => {
            let e = super::endpoints::get(&mut *conn, developer_id, id).await?;
            if !e.enabled {
                return Err(DomainError::Conflict(format!(
                    "webhook endpoint {id} is disabled; enable it first"
                )));
            }
            vec![e.id]
        }
        None => super::endpoints::list(&mut *conn, developer_id)
            .await?
            .into_iter()
            .filter(|e| {
                e.enabled
                    && e.event_types
                        .iter()
                        .any(|t| t == "*" || *t == event.event_type)
            })
            .map(|e| e.id)
            .collect(),
    };
    let mut ids = Vec::new();
    for endpoint in targets {
        ids.push(
            delivery::insert(
                &mut *conn,
                &endpoint,
                &event.id,
                developer_id,
                &event.event_type,
                now,
            )
            .await?,
        );
    }
    Ok(ids)
}

/// Failed deliveries of the developer's endpoint created at or after
/// `since_ms` become pending again, due now, with a fresh retry budget.
/// Returns how many.
pub async fn recover(
    conn: &mut AnyConnection,
    developer_id: &str,
    endpoint_id: &str,
    since_ms: i64,
) -> DomainResult<u64> {
    let e = super::endpoints::get(&mut *conn, developer_id, endpoint_id).await?;
    if !e.enabled {
        return Err(DomainError::Conflict(format!(
            "webhook endpoint {endpoint_id} is disabled; enable it first"
        )));
    }
    let now = db::now_ms();
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
         finished_at = NULL, updated_at = $1 \
         WHERE endpoint_id = $2 AND developer_id = $3 AND status = 'failed' AND created_at >= $4",
    )
    .bind(now)
    .bind(endpoint_id)
    .bind(developer_id)
    .bind(since_ms)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Inserts an event row without fanning it out (test sends deliver to one
/// endpoint only); returns its id.
pub async fn insert_event(
    conn: &mut AnyConnection,
    event_type: &str,
    developer_id: &str,
    data: &Value,
    now_ms: i64,
) -> DomainResult<String> {
    let id = db::new_id("evt_");
    let text = serde_json::to_string(data).map_err(|e| DomainError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO events (id, type, developer_id, created_at_ms, data) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(event_type)
    .bind(developer_id)
    .bind(now_ms)
    .bind(text)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

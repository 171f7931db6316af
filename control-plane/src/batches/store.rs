//! Batches: creation from a checked input file, the OpenAI batch object,
//! listing, cancellation and finalization (output and error files).

use super::files;
use super::input::{Item, LineError};
use crate::db;
use crate::error::{DomainError, DomainResult};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A batch as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `batch_…`
    pub id: String,
    /// Owner.
    pub developer_id: String,
    /// The key its items are sent as.
    pub key_id: String,
    /// `openai` or the task id.
    pub origin: String,
    /// The uploaded input.
    pub input_file_id: Option<String>,
    /// `/v1/chat/completions`, …
    pub endpoint: String,
    /// `24h`.
    pub completion_window: String,
    /// OpenAI's statuses.
    pub status: String,
    /// Caller's metadata.
    pub metadata: Value,
    /// Validation errors (`failed` at creation).
    pub errors: Option<Value>,
    /// Items.
    pub total: i64,
    /// Items answered 2xx.
    pub completed: i64,
    /// Items that failed.
    pub failed: i64,
    /// Usage of the items.
    pub prompt_tokens: i64,
    /// Usage of the items.
    pub completion_tokens: i64,
    /// Results.
    pub output_file_id: Option<String>,
    /// Failures.
    pub error_file_id: Option<String>,
    /// Unix ms of each step.
    pub created_at: i64,
    /// When items started.
    pub in_progress_at: Option<i64>,
    /// Deadline.
    pub expires_at: i64,
    /// Timestamps.
    pub finalizing_at: Option<i64>,
    /// Timestamps.
    pub completed_at: Option<i64>,
    /// Timestamps.
    pub failed_at: Option<i64>,
    /// Timestamps.
    pub expired_at: Option<i64>,
    /// Timestamps.
    pub cancelling_at: Option<i64>,
    /// Timestamps.
    pub cancelled_at: Option<i64>,
}

fn secs(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |m| json!(m / 1000))
}

impl Batch {
    /// OpenAI's batch object (times in unix seconds).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at / 1000,
            "in_progress_at": secs(self.in_progress_at),
            "expires_at": self.expires_at / 1000,
            "finalizing_at": secs(self.finalizing_at),
            "completed_at": secs(self.completed_at),
            "failed_at": secs(self.failed_at),
            "expired_at": secs(self.expired_at),
            "cancelling_at": secs(self.cancelling_at),
            "cancelled_at": secs(self.cancelled_at),
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
            "usage": {
                "input_tokens": self.prompt_tokens,
                "output_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        })
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "failed" | "expired" | "cancelled"
        )
    }
}

const COLUMNS: &str =
    "id, developer_id, key_id, origin, input_file_id, endpoint, completion_window, \
     status, metadata, errors, total, completed, failed, prompt_tokens, completion_tokens, \
     output_file_id, error_file_id, created_at, in_progress_at, expires_at, finalizing_at, \
     completed_at, failed_at, expired_at, cancelling_at, cancelled_at";

fn from_row(r: &AnyRow) -> DomainResult<Batch> {
    let metadata: String = r.try_get("metadata")?;
    let errors: Option<String> = r.try_get("errors")?;
    Ok(Batch {
        id: r.try_get("id")?,
        developer_id: r.try_get("developer_id")?,
        key_id: r.try_get("key_id")?,
        origin: r.try_get("origin")?,
        input_file_id: r.try_get("input_file_id")?,
        endpoint: r.try_get("endpoint")?,
        completion_window: r.try_get("completion_window")?,
        status: r.try_get("status")?,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        errors: errors.and_then(|e| serde_json::from_str(&e).ok()),
        total: r.try_get("total")?,
        completed: r.try_get("completed")?,
        failed: r.try_get("failed")?,
        prompt_tokens: r.try_get("prompt_tokens")?,
        completion_tokens: r.try_get("completion_tokens")?,
        output_file_id: r.try_get("output_file_id")?,
        error_file_id: r.try_get("error_file_id")?,
        created_at: r.try_get("created_at")?,
        in_progress_at: r.try_get("in_progress_at")?,
        expires_at: r.try_get("expires_at")?,
        finalizing_at: r.try_get("finalizing_at")?,
        completed_at: r.try_get("completed_at")?,
        failed_at: r.try_get("failed_at")?,
        expired_at: r.try_get("expired_at")?,
        cancelling_at: r.try_get("cancelling_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
    })
}

/// What a new batch is made of.
pub struct NewBatch<'a> {
    /// Owner.
    pub developer_id: &'a str,
    /// The key items are sent as.
    pub key_id: &'a str,
    /// `openai` or a task id.
    pub origin: &'a str,
    /// The uploaded input, if any.
    pub input_file_id: Option<&'a str>,
    /// The endpoint every item calls.
    pub endpoint: &'a str,
    /// `24h`.
    pub completion_window: &'a str,
    /// Caller's metadata.
    pub metadata: &'a Value,
}

/// Creates a batch inside the caller's transaction: `in_progress` with its
/// items pending, or `failed` with the input's errors.
pub async fn create(
    conn: &mut AnyConnection,
    new: &NewBatch<'_>,
    items: Result<Vec<Item>, Vec<LineError>>,
) -> DomainResult<Batch> {
    let id = format!("batch_{}", uuid::Uuid::now_v7().simple());
    let now = db::now_ms();
    let expires_at = now + 24 * 3_600_000;
    let (status, errors, total) = match &items {
        Ok(items) => ("in_progress", None, items.len() as i64),
        Err(errors) => (
            "failed",
            Some(json!({"object": "list", "data": errors.iter().map(LineError::to_json).collect::<Vec<_>>()}).to_string()),
            0,
        ),
    };
    sqlx::query(
        "INSERT INTO batches (id, developer_id, key_id, origin, input_file_id, endpoint, \
         completion_window, status, metadata, errors, total, created_at, in_progress_at, \
         expires_at, failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(new.developer_id)
    .bind(new.key_id)
    .bind(new.origin)
    .bind(new.input_file_id)
    .bind(new.endpoint)
    .bind(new.completion_window)
    .bind(status)
    .bind(new.metadata.to_string())
    .bind(errors)
    .bind(total)
    .bind(now)
    .bind((status == "in_progress").then_some(now))
    .bind(expires_at)
    .bind((status == "failed").then_some(now))
    .execute(&mut *conn)
    .await?;
    if let Ok(items) = items {
        insert_items(conn, &id, new.developer_id, &items, now).await?;
    }
    get(conn, new.developer_id, &id).await
}

/// Rows per INSERT of items (9 parameters each).
const ITEMS_PER_STATEMENT: usize = 500;

async fn insert_items(
    conn: &mut AnyConnection,
    batch_id: &str,
    developer_id: &str,
    items: &[Item],
    now: i64,
) -> DomainResult<()> {
    for chunk in items.chunks(ITEMS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO batch_items (batch_id, line_no, developer_id, custom_id, method, url, body, \
             status, next_at) VALUES ",
        );
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 8;
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, 'pending', ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8
            ));
        }
        let mut q = sqlx::query(&sql);
        for item in chunk {
            q = q
                .bind(batch_id)
                .bind(item.line_no)
                .bind(developer_id)
                .bind(&item.custom_id)
                .bind(&item.method)
                .bind(&item.url)
                .bind(item.body.to_string())
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One of the developer's batches.
pub async fn get(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<Batch> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM batches WHERE id = $1 AND developer_id = $2"
    ))
    .bind(id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(DomainError::NotFound(format!("No such Batch object: {id}"))),
    }
}

/// A batch by id alone (workers).
pub async fn by_id(conn: &mut AnyConnection, id: &str) -> DomainResult<Option<Batch>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM batches WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The developer's batches, newest first, after the cursor `after`.
pub async fn list(
    conn: &mut AnyConnection,
    developer_id: &str,
    origin: Option<&str>,
    limit: i64,
    after: Option<&str>,
) -> DomainResult<Vec<Batch>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM batches WHERE developer_id = $1 AND ($2 = '' OR origin = $2) \
         AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(developer_id)
    .bind(origin.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Asks a batch to stop: pending items are cancelled at once; the batch is
/// `cancelling` until the items in flight finish, then `cancelled` (the
/// worker finalizes it, keeping partial results).
pub async fn cancel(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<Batch> {
    let b = get(conn, developer_id, id).await?;
    if b.is_final() || b.status == "cancelling" {
        if b.status == "cancelling" || b.status == "cancelled" {
            return Ok(b);
        }
        return Err(DomainError::Conflict(format!(
            "Cannot cancel a batch with status '{}'.",
            b.status
        )));
    }
    let now = db::now_ms();
    sqlx::query("UPDATE batches SET status = 'cancelling', cancelling_at = $1 WHERE id = $2 AND status IN ('validating', 'in_progress')")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE batch_items SET status = 'cancelled', finished_at = $1 WHERE batch_id = $2 AND status = 'pending'")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    get(conn, developer_id, id).await
}

/// One finished item, for the output files.
struct Done {
    line_no: i64,
    custom_id: String,
    status: String,
    request_id: Option<String>,
    status_code: Option<i64>,
    response: Option<String>,
    error: Option<String>,
}

fn result_line(batch_id: &str, d: &Done) -> String {
    let response = match (d.status_code, &d.response) {
        (Some(code), Some(body)) => json!({
            "status_code": code,
            "request_id": d.request_id,
            "body": serde_json::from_str::<Value>(body).unwrap_or(Value::String(body.clone())),
        }),
        _ => Value::Null,
    };
    let error = match &d.error {
        Some(e) => {
            serde_json::from_str::<Value>(e).unwrap_or(json!({"code": "error", "message": e}))
        }
        None => Value::Null,
    };
    let mut s = json!({
        "id": format!("{batch_id}_req_{}", d.line_no),
        "custom_id": d.custom_id,
        "response": response,
        "error": error,
    })
    .to_string();
    s.push('\n');
    s
}

/// Finishes a batch whose items are all done (or, when `expire`, whose
/// window ended): writes the output and error files and the final status.
/// Returns the batch when this call finalized it (exactly one caller does).
pub async fn finalize(db: &db::Db, id: &str, expire: bool) -> DomainResult<Option<Batch>> {
    let mut tx = db.begin_write().await?;
    let Some(b) = by_id(&mut tx, id).await? else {
        return Ok(None);
    };
    if b.is_final() {
        return Ok(None);
    }
    let now = db::now_ms();
    if expire {
        sqlx::query(
            "UPDATE batch_items SET status = 'expired', finished_at = $1, \
             error = $2 WHERE batch_id = $3 AND status IN ('pending', 'running')",
        )
        .bind(now)
        .bind(json!({"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}).to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    } else {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM batch_items WHERE batch_id = $1 AND status IN ('pending', 'running')",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if open > 0 {
            return Ok(None);
        }
    }
    let rows = sqlx::query(
        "SELECT line_no, custom_id, status, request_id, status_code, response, error FROM batch_items \
         WHERE batch_id = $1 AND status IN ('succeeded', 'failed', 'expired') ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let mut output = String::new();
    let mut errors = String::new();
    for r in &rows {
        let d = Done {
            line_no: r.try_get("line_no")?,
            custom_id: r.try_get("custom_id")?,
            status: r.try_get("status")?,
            request_id: r.try_get("request_id")?,
            status_code: r.try_get("status_code")?,
            response: r.try_get("response")?,
            error: r.try_get("error")?,
        };
        if d.status == "succeeded" {
            output.push_str(&result_line(id, &d));
        } else {
            errors.push_str(&result_line(id, &d));
        }
    }
    let output_id = if output.is_empty() {
        None
    } else {
        Some(
            files::store(
                &mut tx,
                &b.developer_id,
                "batch_output",
                &format!("{id}_output.jsonl"),
                output.as_bytes(),
            )
            .await?
            .id,
        )
    };
    let error_id = if errors.is_empty() {
        None
    } else {
        Some(
            files::store(
                &mut tx,
                &b.developer_id,
                "batch_output",
                &format!("{id}_error.jsonl"),
                errors.as_bytes(),
            )
            .await?
            .id,
        )
    };
    let (status, column) = if expire {
        ("expired", "expired_at")
    } else if b.status == "cancelling" {
        ("cancelled", "cancelled_at")
    } else {
        ("completed", "completed_at")
    };
    let expired_count = if expire {
        rows.iter()
            .filter(|r| {
                r.try_get::<String, _>("status")
                    .is_ok_and(|s| s == "expired")
            })
            .count() as i64
    } else {
        0
    };
    sqlx::query(&format!(
        "UPDATE batches SET status = $1, output_file_id = $2, error_file_id = $3, finalizing_at = $4, \
         {column} = $4, failed = failed + $5 WHERE id = $6"
    ))
    .bind(status)
    .bind(&output_id)
    .bind(&error_id)
    .bind(now)
    .bind(expired_count)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let done = get(&mut tx, &b.developer_id, id).await?;
    super::tasks::on_batch_final(&mut tx, &done).await?;
    if done.origin == "openai" {
        crate::audit::emit(
            &mut tx,
            "batch.completed",
            &done.developer_id,
            &done.to_json(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(done))
}

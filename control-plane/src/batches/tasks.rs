//! The task API (the business plan's): `batch_generate` (prompts → chat
//! completions), `batch_process` (a prompt template over each row of an
//! uploaded CSV or JSONL file) and `data_export` (usage to a CSV file).
//! The first two run as batches (`batches.origin` = the task id), so they
//! share the durable queue, fairness, metering and the batch discount.

use super::files;
use super::input::Item;
use super::store::{self, Batch, NewBatch};
use crate::db;
use crate::error::{DomainError, DomainResult};
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Task types.
pub const TYPES: [&str; 3] = ["batch_generate", "batch_process", "data_export"];

/// Most prompts or rows in one task.
pub const MAX_ITEMS: usize = 50_000;

/// A task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `task_…`
    pub id: String,
    /// Owner.
    pub developer_id: String,
    /// One of [`TYPES`].
    pub kind: String,
    /// pending, running, completed, failed, cancelled.
    pub status: String,
    /// As given.
    pub input: Value,
    /// The batch running it.
    pub batch_id: Option<String>,
    /// The downloadable result.
    pub result_file_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Times (unix ms).
    pub created_at: i64,
    /// Times.
    pub started_at: Option<i64>,
    /// Times.
    pub completed_at: Option<i64>,
}

fn from_row(r: &AnyRow) -> DomainResult<Task> {
    let input: String = r.try_get("input")?;
    Ok(Task {
        id: r.try_get("id")?,
        developer_id: r.try_get("developer_id")?,
        kind: r.try_get("type")?,
        status: r.try_get("status")?,
        input: serde_json::from_str(&input).unwrap_or(Value::Null),
        batch_id: r.try_get("batch_id")?,
        result_file_id: r.try_get("result_file_id")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        completed_at: r.try_get("completed_at")?,
    })
}

const COLUMNS: &str =
    "id, developer_id, type, status, input, batch_id, result_file_id, error, created_at, started_at, completed_at";

/// The API shape, with progress from its batch.
pub fn to_json(t: &Task, batch: Option<&Batch>) -> Value {
    let (progress, counts, cost_tokens) = match batch {
        Some(b) if b.total > 0 => (
            ((b.completed + b.failed) * 100 / b.total).min(100),
            json!({"total": b.total, "completed": b.completed, "failed": b.failed}),
            json!({"prompt_tokens": b.prompt_tokens, "completion_tokens": b.completion_tokens}),
        ),
        _ => (
            if t.status == "completed" { 100 } else { 0 },
            Value::Null,
            Value::Null,
        ),
    };
    json!({
        "id": t.id,
        "type": t.kind,
        "status": t.status,
        "progress": progress,
        "input": t.input,
        "request_counts": counts,
        "usage": cost_tokens,
        "batch_id": t.batch_id,
        "result_file_id": t.result_file_id,
        "error_message": t.error,
        "created_at": t.created_at,
        "started_at": t.started_at,
        "completed_at": t.completed_at,
    })
}

/// One of the developer's tasks.
pub async fn get(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<Task> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = $1 AND developer_id = $2"
    ))
    .bind(id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(DomainError::NotFound(format!("no task '{id}'"))),
    }
}

/// The developer's tasks, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    developer_id: &str,
    status: Option<&str>,
    limit: i64,
    before: Option<&str>,
) -> DomainResult<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE developer_id = $1 AND ($2 = '' OR status = $2) \
         AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(developer_id)
    .bind(status.unwrap_or(""))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

fn options_of(input: &Value) -> DomainResult<Map<String, Value>> {
    let mut out = Map::new();
    match input.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                match k.as_str() {
                    "max_tokens" | "temperature" | "top_p" | "stop" | "seed" | "presence_penalty"
                    | "frequency_penalty" | "response_format" => {
                        out.insert(k.clone(), v.clone());
                    }
                    "system" => {}
                    other => {
                        return Err(DomainError::invalid(format!(
                            "options.{other}: not a supported option (max_tokens, temperature, top_p, stop, seed, presence_penalty, frequency_penalty, response_format, system)"
                        )))
                    }
                }
            }
        }
        Some(_) => return Err(DomainError::invalid("options: expected an object")),
    }
    Ok(out)
}

fn chat_item(
    i: usize,
    model: &str,
    system: Option<&str>,
    prompt: &str,
    options: &Map<String, Value>,
) -> Item {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(json!({"role": "system", "content": s}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let mut body = options.clone();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    Item {
        line_no: i as i64 + 1,
        custom_id: format!("item-{}", i + 1),
        method: "POST".into(),
        url: "/v1/chat/completions".into(),
        body: Value::Object(body),
    }
}

fn model_of(input: &Value) -> DomainResult<String> {
    match input.get("model").and_then(Value::as_str) {
        Some(m) if !m.trim().is_empty() => Ok(m.trim().to_string()),
        _ => Err(DomainError::invalid(
            "model: required (a model name from GET /v1/models)",
        )),
    }
}

/// Rows of an uploaded CSV (header line first) or JSONL file, as objects.
fn rows_of(data: &[u8], filename: &str) -> DomainResult<Vec<Map<String, Value>>> {
    let text = std::str::from_utf8(data)
        .map_err(|_| DomainError::invalid("file_id: the file is not UTF-8 text"))?;
    let mut rows = Vec::new();
    if filename.to_ascii_lowercase().ends_with(".csv") {
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| DomainError::invalid(format!("file_id: the CSV has no header row ({e})")))?
            .clone();
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.map_err(|e| {
                DomainError::invalid(format!("file_id: CSV row {} is malformed ({e})", i + 2))
            })?;
            let mut m = Map::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                m.insert(h.to_string(), json!(v));
            }
            rows.push(m);
        }
    } else {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(m)) => rows.push(m),
                _ => {
                    return Err(DomainError::invalid(format!(
                        "file_id: line {} is not a JSON object",
                        i + 1
                    )))
                }
            }
        }
    }
    if rows.is_empty() {
        return Err(DomainError::invalid("file_id: the file has no rows"));
    }
    if rows.len() > MAX_ITEMS {
        return Err(DomainError::invalid(format!(
            "file_id: at most {MAX_ITEMS} rows"
        )));
    }
    Ok(rows)
}

/// `{{field}}` replaced by the row's field (text as is, other values as JSON).
pub fn render(template: &str, row: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("an opening {{ has no closing }}".into());
        };
        let field = after[..end].trim();
        match row.get(field) {
            Some(Value::String(s)) => out.push_str(s),
            Some(v) => out.push_str(&v.to_string()),
            None => return Err(format!("the row has no field '{field}'")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What creating a task needs beyond its input.
pub struct Creator<'a> {
    /// Owner.
    pub developer_id: &'a str,
    /// The key items are sent as.
    pub key_id: &'a str,
}

/// Creates a task (inside the caller's transaction). Generation and
/// processing tasks start a batch; an export is left `pending` for
/// [`run_export`].
pub async fn create(
    conn: &mut AnyConnection,
    who: &Creator<'_>,
    kind: &str,
    input: &Value,
) -> DomainResult<Task> {
    if !TYPES.contains(&kind) {
        return Err(DomainError::invalid(
            "type: expected batch_generate, batch_process or data_export",
        ));
    }
    if !input.is_object() {
        return Err(DomainError::invalid("input: expected an object"));
    }
    let id = format!("task_{}", uuid::Uuid::now_v7().simple());
    let items = match kind {
        "batch_generate" => {
            let model = model_of(input)?;
            let options = options_of(input)?;
            let system = input.pointer("/options/system").and_then(Value::as_str);
            let prompts = input
                .get("prompts")
                .and_then(Value::as_array)
                .ok_or_else(|| DomainError::invalid("prompts: expected a list of strings"))?;
            if prompts.is_empty() || prompts.len() > MAX_ITEMS {
                return Err(DomainError::invalid(format!(
                    "prompts: 1 to {MAX_ITEMS} prompts"
                )));
            }
            let mut items = Vec::with_capacity(prompts.len());
            for (i, p) in prompts.iter().enumerate() {
                let Some(p) = p.as_str().filter(|p| !p.trim().is_empty()) else {
                    return Err(DomainError::invalid(format!(
                        "prompts[{i}]: expected a non-empty string"
                    )));
                };
                items.push(chat_item(i, &model, system, p, &options));
            }
            Some(items)
        }
        "batch_process" => {
            let model = model_of(input)?;
            let options = options_of(input)?;
            let system = input.pointer("/options/system").and_then(Value::as_str);
            let template = input
                .get("template")
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    DomainError::invalid("template: expected a prompt with {{field}} placeholders")
                })?;
            let file_id = input
                .get("file_id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    DomainError::invalid("file_id: the uploaded CSV or JSONL file (POST /v1/files)")
                })?;
            let meta = files::get(conn, who.developer_id, file_id)
                .await
                .map_err(|_| DomainError::invalid(format!("file_id: no file '{file_id}'")))?;
            let data = files::content(conn, &meta.id).await?;
            let rows = rows_of(&data, &meta.filename)?;
            let mut items = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let prompt = render(template, row)
                    .map_err(|e| DomainError::invalid(format!("template: row {}: {e}", i + 1)))?;
                items.push(chat_item(i, &model, system, &prompt, &options));
            }
            Some(items)
        }
        _ => {
            let kind_of = input.get("kind").and_then(Value::as_str).unwrap_or("usage");
            if kind_of != "usage" {
                return Err(DomainError::invalid("kind: only 'usage' can be exported"));
            }
            for f in ["from", "to"] {
                if let Some(v) = input.get(f) {
                    let ok = v
                        .as_str()
                        .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok());
                    if !ok {
                        return Err(DomainError::invalid(format!(
                            "{f}: expected a date like 2026-11-01"
                        )));
                    }
                }
            }
            None
        }
    };
    let now = db::now_ms();
    let mut batch_id = None;
    let status = if let Some(items) = items {
        let b = store::create(
            conn,
            &NewBatch {
                developer_id: who.developer_id,
                key_id: who.key_id,
                origin: &id,
                input_file_id: None,
                endpoint: "/v1/chat/completions",
                completion_window: "24h",
                metadata: &json!({"task_id": id}),
            },
            Ok(items),
        )
        .await?;
        batch_id = Some(b.id);
        "running"
    } else {
        "pending"
    };
    sqlx::query(
        "INSERT INTO tasks (id, developer_id, type, status, input, batch_id, created_at, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(who.developer_id)
    .bind(kind)
    .bind(status)
    .bind(input.to_string())
    .bind(&batch_id)
    .bind(now)
    .bind((status == "running").then_some(now))
    .execute(&mut *conn)
    .await?;
    get(conn, who.developer_id, &id).await
}

/// Cancels a task: its batch stops; an export not started is cancelled.
pub async fn cancel(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<Task> {
    let t = get(conn, developer_id, id).await?;
    match (&t.batch_id, t.status.as_str()) {
        (_, "completed" | "failed" | "cancelled") => {
            return Err(DomainError::Conflict(format!(
                "the task is already {}",
                t.status
            )))
        }
        (Some(b), _) => {
            store::cancel(conn, developer_id, b).await?;
        }
        (None, _) => {
            sqlx::query("UPDATE tasks SET status = 'cancelled', completed_at = $1 WHERE id = $2 AND status IN ('pending', 'running')")
                .bind(db::now_ms())
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    get(conn, developer_id, id).await
}

/// Called when a batch is final: its task (if any) follows, and
/// `task.completed` / `task.failed` is emitted.
pub async fn on_batch_final(conn: &mut AnyConnection, b: &Batch) -> DomainResult<()> {
    if !b.origin.starts_with("task_") {
        return Ok(());
    }
    let (status, error) = match b.status.as_str() {
        "completed" if b.total > 0 && b.failed == b.total => (
            "failed",
            Some("every item failed; see the error file".to_string()),
        ),
        "completed" => ("completed", None),
        "cancelled" => ("cancelled", None),
        "expired" => (
            "failed",
            Some("the task did not finish within 24 hours".to_string()),
        ),
        _ => ("failed", Some("the task's input was refused".to_string())),
    };
    let now = db::now_ms();
    sqlx::query(
        "UPDATE tasks SET status = $1, error = $2, result_file_id = $3, completed_at = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(&error)
    .bind(&b.output_file_id)
    .bind(now)
    .bind(&b.origin)
    .execute(&mut *conn)
    .await?;
    let task = get(conn, &b.developer_id, &b.origin).await?;
    let event = if status == "completed" {
        "task.completed"
    } else if status == "failed" {
        "task.failed"
    } else {
        ""
    };
    if !event.is_empty() {
        crate::audit::emit(conn, event, &b.developer_id, &to_json(&task, Some(b))).await?;
    }
    Ok(())
}

/// Runs a pending export: the developer's usage rows of the period as CSV
/// into a file; the task completes (or fails) with it.
pub async fn run_export(
    db: &db::Db,
    source: &crate::billing::charges::Source,
    task: &Task,
) -> DomainResult<()> {
    let from = task
        .input
        .get("from")
        .and_then(Value::as_str)
        .map(str::to_string);
    let to = task
        .input
        .get("to")
        .and_then(Value::as_str)
        .map(str::to_string);
    {
        let mut tx = db.begin_write().await?;
        let n = sqlx::query("UPDATE tasks SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'pending'")
            .bind(db::now_ms())
            .bind(&task.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Ok(());
        }
    }
    let day = |s: &Option<String>, default: i64| -> i64 {
        s.as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(default)
    };
    let start = day(&from, 0);
    let end = to
        .as_ref()
        .map(|_| day(&to, 0) + 86_400_000)
        .unwrap_or(i64::MAX / 2);
    let csv = crate::api::billing::usage_csv(db, source, &task.developer_id, start, end).await;
    let mut tx = db.begin_write().await?;
    match csv {
        Ok(text) => {
            let f = files::store(
                &mut tx,
                &task.developer_id,
                "task_output",
                &format!("{}_usage.csv", task.id),
                text.as_bytes(),
            )
            .await?;
            sqlx::query("UPDATE tasks SET status = 'completed', result_file_id = $1, completed_at = $2 WHERE id = $3 AND status = 'running'")
                .bind(&f.id)
                .bind(db::now_ms())
                .bind(&task.id)
                .execute(&mut *tx)
                .await?;
            let done = get(&mut tx, &task.developer_id, &task.id).await?;
            crate::audit::emit(
                &mut tx,
                "task.completed",
                &task.developer_id,
                &to_json(&done, None),
            )
            .await?;
        }
        Err(e) => {
            sqlx::query(
                "UPDATE tasks SET status = 'failed', error = $1, completed_at = $2 WHERE id = $3",
            )
            .bind(e.to_string())
            .bind(db::now_ms())
            .bind(&task.id)
            .execute(&mut *tx)
            .await?;
            let done = get(&mut tx, &task.developer_id, &task.id).await?;
            crate::audit::emit(
                &mut tx,
                "task.failed",
                &task.developer_id,
                &to_json(&done, None),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Pending exports, oldest first (the worker runs them; several control
/// planes may pick the same one: `run_export` starts each once).
pub async fn pending_exports(conn: &mut AnyConnection) -> DomainResult<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE type = 'data_export' AND status = 'pending' ORDER BY id LIMIT 10"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_fields_and_name_missing_ones() {
        let row: Map<String, Value> =
            serde_json::from_str(r#"{"name": "Ada", "age": 36}"#).unwrap_or_default();
        assert_eq!(
            render("Hi {{name}}, {{ age }}!", &row).as_deref(),
            Ok("Hi Ada, 36!")
        );
        assert!(render("{{missing}}", &row).unwrap_err().contains("missing"));
        assert!(render("{{name", &row).is_err());
        assert_eq!(render("no fields", &row).as_deref(), Ok("no fields"));
    }

    #[test]
    fn csv_and_jsonl_rows_are_read() {
        let csv = rows_of(b"name,city\nAda,London\n\"B, b\",Paris\n", "in.csv").unwrap_or_default();
        assert_eq!(csv.len(), 2);
        assert_eq!(csv[1]["name"], "B, b");
        let jsonl = rows_of(b"{\"q\": 1}\n\n{\"q\": 2}\n", "in.jsonl").unwrap_or_default();
        assert_eq!(jsonl.len(), 2);
        assert!(rows_of(b"[1]\n", "x.jsonl").is_err());
        assert!(rows_of(b"", "x.csv").is_err());
    }
}

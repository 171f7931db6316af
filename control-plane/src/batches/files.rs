//! Files (OpenAI's Files API): uploaded batch inputs and the output and
//! error files batches write. Contents live in the database in chunks of up
//! to 1 MiB, so every control plane on one database serves them.

use crate::db;
use crate::error::{DomainError, DomainResult};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Bytes per stored chunk.
pub const CHUNK: usize = 1 << 20;

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// `file-…`
    pub id: String,
    /// Owner.
    pub developer_id: String,
    /// `batch`, `batch_output`, `task_output`.
    pub purpose: String,
    /// As uploaded (or chosen for outputs).
    pub filename: String,
    /// Size.
    pub bytes: i64,
    /// Unix ms.
    pub created_at: i64,
}

impl FileMeta {
    /// How the content is served: CSV exports, JSONL otherwise.
    pub fn content_type(&self) -> &'static str {
        if self.filename.ends_with(".csv") {
            "text/csv; charset=utf-8"
        } else {
            "application/jsonl"
        }
    }

    /// OpenAI's file object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at / 1000,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": null,
            "expires_at": null,
        })
    }
}

fn from_row(r: &AnyRow) -> DomainResult<FileMeta> {
    Ok(FileMeta {
        id: r.try_get("id")?,
        developer_id: r.try_get("developer_id")?,
        purpose: r.try_get("purpose")?,
        filename: r.try_get("filename")?,
        bytes: r.try_get("bytes")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Stores `data` as a new file (inside the caller's transaction).
pub async fn store(
    conn: &mut AnyConnection,
    developer_id: &str,
    purpose: &str,
    filename: &str,
    data: &[u8],
) -> DomainResult<FileMeta> {
    let id = format!("file-{}", uuid::Uuid::now_v7().simple());
    let now = db::now_ms();
    let bytes = i64::try_from(data.len()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO files (id, developer_id, purpose, filename, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(developer_id)
    .bind(purpose)
    .bind(filename)
    .bind(bytes)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for (seq, chunk) in data.chunks(CHUNK).enumerate() {
        sqlx::query("INSERT INTO file_chunks (file_id, seq, data) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(seq as i64)
            .bind(chunk.to_vec())
            .execute(&mut *conn)
            .await?;
    }
    Ok(FileMeta {
        id,
        developer_id: developer_id.to_string(),
        purpose: purpose.to_string(),
        filename: filename.to_string(),
        bytes,
        created_at: now,
    })
}

/// One of the developer's files; another's or a deleted one is NotFound.
pub async fn get(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<FileMeta> {
    let row = sqlx::query(
        "SELECT id, developer_id, purpose, filename, bytes, created_at FROM files \
         WHERE id = $1 AND developer_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => from_row(&r),
        None => Err(DomainError::NotFound(format!("No such File object: {id}"))),
    }
}

/// A file's whole content.
pub async fn content(conn: &mut AnyConnection, id: &str) -> DomainResult<Vec<u8>> {
    let rows = sqlx::query("SELECT data FROM file_chunks WHERE file_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        out.extend_from_slice(&r.try_get::<Vec<u8>, _>("data")?);
    }
    Ok(out)
}

/// The developer's files, newest first, after the cursor `after` (an id).
pub async fn list(
    conn: &mut AnyConnection,
    developer_id: &str,
    purpose: Option<&str>,
    limit: i64,
    after: Option<&str>,
) -> DomainResult<Vec<FileMeta>> {
    let rows = sqlx::query(
        "SELECT id, developer_id, purpose, filename, bytes, created_at FROM files \
         WHERE developer_id = $1 AND deleted_at IS NULL AND ($2 = '' OR purpose = $2) \
           AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4",
    )
    .bind(developer_id)
    .bind(purpose.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a file: its content goes, its row is kept (batches name it).
pub async fn delete(conn: &mut AnyConnection, developer_id: &str, id: &str) -> DomainResult<()> {
    get(conn, developer_id, id).await?;
    sqlx::query("DELETE FROM file_chunks WHERE file_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE files SET deleted_at = $1 WHERE id = $2")
        .bind(db::now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

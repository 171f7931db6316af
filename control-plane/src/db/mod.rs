//! The database: one `AnyPool` over SQLite (embedded default) or PostgreSQL,
//! chosen by URL scheme. Queries are written once for both dialects: `$N`
//! placeholders, BIGINT/TEXT/boolean columns only, times as unix ms, money as
//! integer nano-units or decimal text.
//!
//! SQLite stores booleans as `INTEGER` 0/1 (the Any driver cannot read a
//! column declared `BOOLEAN` there), so rows are read with [`get_bool`].

mod where_clause;
use crate::config::DatabaseConfig;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;
pub use where_clause::Where;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres://` and `postgresql://` URLs.
    Postgres,
}

impl Backend {
    /// The backend of a URL, `None` when unsupported.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A connection pool and the backend behind it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// What a configuration change touched; gateways refresh by entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// An API key (`entity_id` = key id).
    Key,
    /// A developer's standing (`entity_id` = developer id).
    Developer,
    /// A provider, model or deployment (`entity_id` = its id).
    Catalog,
}

impl Entity {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Key => "key",
            Entity::Developer => "developer",
            Entity::Catalog => "catalog",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Entity> {
        match s {
            "key" => Some(Entity::Key),
            "developer" => Some(Entity::Developer),
            "catalog" => Some(Entity::Catalog),
            _ => None,
        }
    }
}

/// Adds `mode=rwc` to a SQLite URL (create the file when missing) and creates
/// its folder.
fn prepare_sqlite_url(url: &str) -> std::io::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if !path.is_empty() && path != ":memory:" {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
    }
    Ok(match query {
        Some(q) if q.split('&').any(|kv| kv.starts_with("mode=")) => url.to_string(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    })
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names no supported backend.
    #[error("database.url: expected sqlite://… or postgres://…")]
    UnsupportedUrl,
    /// The SQLite folder could not be created.
    #[error("cannot create the database folder: {0}")]
    Folder(#[from] std::io::Error),
    /// The driver refused.
    #[error("cannot connect to the database: {0}")]
    Driver(#[from] sqlx::Error),
}

impl Db {
    /// Opens a pool; SQLite gets WAL, a busy timeout, foreign keys,
    /// `synchronous=NORMAL`, a 16 MiB page cache (the default 2 MiB thrashes
    /// once usage rows and rollups outgrow it) and reads through a memory
    /// map on every connection.
    pub async fn connect(config: &DatabaseConfig) -> Result<Db, ConnectError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(&config.url).ok_or(ConnectError::UnsupportedUrl)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(&config.url)?,
            Backend::Postgres => config.url.clone(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA busy_timeout = 5000",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA cache_size = -16384",
                        "PRAGMA mmap_size = 268435456",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(options).await?;
        if backend == Backend::Sqlite {
            // Persistent in the file: readers never block the writer.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Db { pool, backend })
    }

    /// Applies the backend's pending migrations.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await,
        }
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`), so a read-then-write transaction
    /// waits for another writer instead of failing with "database is locked".
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Records a configuration change inside the transaction that made it.
///
/// On PostgreSQL, sequence numbers are handed out at insert time but become
/// visible at commit, so two concurrent writers could commit seq 11 before
/// seq 10 and a gateway that read 11 would skip 10 for ever. The lock makes
/// change writers commit one after another; it does not block readers.
pub async fn record_change(
    tx: &mut AnyConnection,
    backend: Backend,
    entity: Entity,
    entity_id: &str,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE config_changes IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("INSERT INTO config_changes (entity, entity_id, created_at) VALUES ($1, $2, $3)")
        .bind(entity.as_str())
        .bind(entity_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The newest change sequence, 0 when there is none.
pub async fn current_version(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) AS v FROM config_changes")
        .fetch_one(&mut *conn)
        .await?
        .try_get::<i64, _>("v")
}

/// Reads a boolean column stored as `BOOLEAN` (PostgreSQL) or 0/1 (SQLite).
pub fn get_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => row.try_get::<i64, _>(column).map(|v| v != 0),
    }
}

/// `(?, ?), (?, ?)` (SQLite) or `($1, $2), ($3, $4)` (PostgreSQL): the
/// placeholders of a multi-row `VALUES` of `rows` rows of `cols` columns.
///
/// SQLite gets anonymous `?` placeholders: SQLite looks a *named* parameter
/// (`$N` is one to it) up by a linear scan, so binding thousands of `$N`
/// parameters costs quadratic time (measured as 80% of the control plane's
/// CPU under ingest load). PostgreSQL needs `$N`.
pub fn value_tuples(rows: usize, cols: usize, backend: Backend) -> String {
    let mut sql = String::with_capacity(rows * cols * 4);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// `?, ?, ?` (SQLite) or `$first, …` (PostgreSQL): `n` placeholders for an
/// `IN (…)` list, numbered from `first` (see [`value_tuples`] for why SQLite
/// gets anonymous ones).
pub fn placeholders(first: usize, n: usize, backend: Backend) -> String {
    (first..first + n)
        .map(|i| placeholder(i, backend))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `i`-th (from 1) bound value's placeholder: `?` (SQLite) or `$i`.
pub fn placeholder(i: usize, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => "?".to_string(),
        Backend::Postgres => format!("${i}"),
    }
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new id: `prefix` + a time-ordered UUID (v7) in simple form.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://x"), None);
    }

    #[test]
    fn sqlite_urls_create_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/a.db", dir.path().display());
        assert_eq!(prepare_sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
        let with_mode = format!("sqlite://{}/a.db?mode=ro", dir.path().display());
        assert_eq!(prepare_sqlite_url(&with_mode).unwrap(), with_mode);
    }

    #[test]
    fn ids_have_prefix_and_differ() {
        let a = new_id("key_");
        assert!(a.starts_with("key_"));
        assert_eq!(a.len(), 4 + 32);
        assert_ne!(a, new_id("key_"));
    }
}

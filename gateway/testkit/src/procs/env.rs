//! Which backends the test suite runs against, read from the environment.
//!
//! `.ci/test` runs the suite twice: the embedded setup (nothing set: SQLite in
//! a temporary directory, usage through the control plane, in-process quotas)
//! and the production setup (PostgreSQL, ClickHouse and Redis URLs set).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// PostgreSQL server URL where tests may create fresh databases.
pub const DATABASE_URL_VAR: &str = "AIHUB_TEST_DATABASE_URL";
/// ClickHouse HTTP URL for usage rows.
pub const CLICKHOUSE_URL_VAR: &str = "AIHUB_TEST_CLICKHOUSE_URL";
/// Redis URL for shared quotas and rate limits.
pub const REDIS_URL_VAR: &str = "AIHUB_TEST_REDIS_URL";
/// A Python interpreter whose environment has the `openai` package.
pub const PYTHON_VAR: &str = "AIHUB_TEST_PYTHON";

/// The backend choice for this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestEnv {
    /// `AIHUB_TEST_DATABASE_URL`: PostgreSQL server; `None` means SQLite.
    pub database_url: Option<String>,
    /// `AIHUB_TEST_CLICKHOUSE_URL`: `None` means usage through the control plane.
    pub clickhouse_url: Option<String>,
    /// `AIHUB_TEST_REDIS_URL`: `None` means in-process quotas.
    pub redis_url: Option<String>,
    /// `AIHUB_TEST_PYTHON`: `None` skips the SDK tests.
    pub python: Option<PathBuf>,
}

impl TestEnv {
    /// Reads the four variables (empty counts as unset).
    pub fn from_env() -> Self {
        Self {
            database_url: database_url(),
            clickhouse_url: clickhouse_url(),
            redis_url: redis_url(),
            python: python_venv(),
        }
    }

    /// Whether any production backend is configured.
    pub fn is_production(&self) -> bool {
        self.database_url.is_some() || self.clickhouse_url.is_some() || self.redis_url.is_some()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `AIHUB_TEST_DATABASE_URL`, e.g. `postgres://postgres@127.0.0.1:5433/postgres`.
pub fn database_url() -> Option<String> {
    var(DATABASE_URL_VAR)
}

/// `AIHUB_TEST_CLICKHOUSE_URL`, e.g. `http://127.0.0.1:8123`.
pub fn clickhouse_url() -> Option<String> {
    var(CLICKHOUSE_URL_VAR)
}

/// `AIHUB_TEST_REDIS_URL`, e.g. `redis://127.0.0.1:6380`.
pub fn redis_url() -> Option<String> {
    var(REDIS_URL_VAR)
}

/// `AIHUB_TEST_PYTHON`: a venv's python with the `openai` package.
pub fn python_venv() -> Option<PathBuf> {
    var(PYTHON_VAR).map(PathBuf::from)
}

/// A name unique across tests and processes, safe as a SQL identifier or
/// ClickHouse database name: lowercase ASCII letters, digits and `_`.
pub fn unique_name(prefix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{prefix}_{}_{}_{nanos:x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// `server_url` with its database (the URL path) replaced by `database`,
/// keeping credentials, host and query.
pub fn postgres_database_url(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// A SQLite URL for a database file in `dir`, created on first connect.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("aihub.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_unique_and_safe() {
        let a = unique_name("Test-DB");
        let b = unique_name("Test-DB");
        assert_ne!(a, b);
        assert!(a.starts_with("test_db_"));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }

    #[test]
    fn replaces_the_database_in_a_postgres_url() {
        assert_eq!(
            postgres_database_url("postgres://postgres@127.0.0.1:5433/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5433/t1"
        );
        assert_eq!(
            postgres_database_url("postgres://u:p@h:1?sslmode=disable", "t2"),
            "postgres://u:p@h:1/t2?sslmode=disable"
        );
        assert_eq!(
            postgres_database_url("postgresql://h/db?x=1", "t3"),
            "postgresql://h/t3?x=1"
        );
    }
}

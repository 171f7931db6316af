//! The ClickHouse schema (`config/clickhouse/schema.sql`) for tests: apply it
//! to a uniquely named database on the server in `AIHUB_TEST_CLICKHOUSE_URL`,
//! and run queries over the HTTP interface.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use aihub_testkit::{clickhouse, procs};
//! if let Some(url) = procs::clickhouse_url() {
//!     let db = procs::unique_name("usage");
//!     clickhouse::apply_schema(&url, &db).await?;
//!     // point the gateway at `url`, database `db`; then:
//!     let n = clickhouse::query(&url, &format!("SELECT count() FROM {db}.usage_records FINAL")).await?;
//!     clickhouse::drop_database(&url, &db).await?;
//! # }
//! # Ok(()) }
//! ```

use std::time::Duration;

use anyhow::{bail, Context as _};

/// The schema file, as shipped in `config/clickhouse/schema.sql`.
pub const SCHEMA_SQL: &str = include_str!("../../../config/clickhouse/schema.sql");

/// The database the schema file creates.
pub const SCHEMA_DATABASE: &str = "aihub";

/// The usage table's name inside the database.
pub const USAGE_TABLE: &str = "usage_records";

/// The schema's statements, comments removed, with the database renamed to
/// `database`; each can be sent on its own.
pub fn schema_statements(database: &str) -> Vec<String> {
    SCHEMA_SQL
        .split(';')
        .map(|chunk| {
            chunk
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        })
        .filter(|statement| !statement.is_empty())
        .map(|statement| {
            let create_db = format!("CREATE DATABASE IF NOT EXISTS {SCHEMA_DATABASE}");
            let statement = match statement.strip_prefix(&create_db) {
                Some(rest) => format!("CREATE DATABASE IF NOT EXISTS {database}{rest}"),
                None => statement,
            };
            statement.replace(&format!("{SCHEMA_DATABASE}."), &format!("{database}."))
        })
        .collect()
}

/// Creates `database` and the usage table on the server at `url`
/// (idempotent).
pub async fn apply_schema(url: &str, database: &str) -> anyhow::Result<()> {
    for statement in schema_statements(database) {
        query(url, &statement)
            .await
            .with_context(|| format!("applying the ClickHouse schema to {database}"))?;
    }
    Ok(())
}

/// Drops `database` if it exists.
pub async fn drop_database(url: &str, database: &str) -> anyhow::Result<()> {
    query(url, &format!("DROP DATABASE IF EXISTS {database}")).await?;
    Ok(())
}

/// Runs one statement over HTTP (POST body) and returns the response text;
/// a non-2xx answer is an error carrying ClickHouse's message.
pub async fn query(url: &str, sql: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .post(format!("{}/", url.trim_end_matches('/')))
        .body(sql.to_owned())
        .send()
        .await
        .with_context(|| format!("sending to ClickHouse at {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("ClickHouse answered {status} to `{sql}`: {}", text.trim());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_and_rename() {
        let statements = schema_statements("t_42");
        // The database, the usage table, and five rollup tables each with
        // the materialized view that fills it.
        assert_eq!(statements.len(), 16, "{statements:#?}");
        for rollup in [
            "usage_hourly",
            "usage_daily",
            "platform_hourly",
            "platform_minute",
            "developer_daily",
        ] {
            assert!(
                statements.iter().any(|s| s.starts_with(&format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS t_42.{rollup}_mv TO t_42.{rollup}"
                ))),
                "{rollup}"
            );
        }
        assert_eq!(statements[0], "CREATE DATABASE IF NOT EXISTS t_42");
        assert!(statements[1].starts_with("CREATE TABLE IF NOT EXISTS t_42.usage_records"));
        assert!(statements
            .iter()
            .all(|s| !s.contains("aihub") && !s.contains("--")));
        assert_eq!(
            schema_statements(SCHEMA_DATABASE)[0],
            "CREATE DATABASE IF NOT EXISTS aihub"
        );
    }
}

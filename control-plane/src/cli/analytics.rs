//! `aihub admin analytics …`: rollup maintenance.

use super::Output;
use crate::analytics::{backfill, retention, rollup};
use crate::billing::charges::{ClickHouseSource, Source};
use crate::config::Config;
use crate::db::{self, Db};
use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;

/// Analytics commands.
#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Rebuild the embedded rollups from the stored usage rows (after a
    /// restore, or to check them: the answers must not change).
    Rebuild,
    /// Fill ClickHouse's rollups with the rows stored before their
    /// materialized views were created (once per database).
    Backfill {
        /// Run again although it ran before (counts those rows twice).
        #[arg(long)]
        force: bool,
    },
    /// Delete raw usage rows past `analytics.raw_retention_months` now.
    Retention,
}

fn clickhouse(config: &Config) -> Option<ClickHouseSource> {
    match Source::from_config(&config.clickhouse) {
        Source::ClickHouse(ch) => Some(ch),
        Source::Sql => None,
    }
}

/// Runs one command.
pub async fn run(
    db: &Db,
    config: &Config,
    cmd: AnalyticsCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        AnalyticsCommand::Rebuild => {
            let n = rollup::rebuild(db)
                .await
                .context("rebuilding the rollups")?;
            out.emit(
                &json!({"rows": n}),
                &format!("rollups rebuilt from {n} usage rows"),
            )
        }
        AnalyticsCommand::Backfill { force } => {
            let Some(ch) = clickhouse(config) else {
                bail!("clickhouse.url is not set: the embedded rollups are kept as rows arrive (see `aihub admin analytics rebuild`)");
            };
            let views = backfill::clickhouse(db, &ch, force).await?;
            out.emit(
                &json!({"views": views}),
                &format!("backfilled: {}", views.join(", ")),
            )
        }
        AnalyticsCommand::Retention => {
            let months = config.analytics.raw_retention_months;
            let source = Source::from_config(&config.clickhouse);
            let n = retention::apply(db, &source, months, db::now_ms()).await?;
            out.emit(
                &json!({"removed": n, "raw_retention_months": months}),
                &if months == 0 {
                    "analytics.raw_retention_months is 0: raw rows are kept".to_string()
                } else {
                    format!("removed {n} (rows, or ClickHouse monthly partitions) older than {months} months")
                },
            )
        }
    }
}

//! `aihub usage`, `aihub billing`, `aihub invoices …`.

use super::{cell, data, table, time_ms, write_out, Api, ClientError, Connection};
use crate::cli::Output;
use anyhow::Context;
use chrono::{Datelike, Days, Months, NaiveDate};
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::PathBuf;

/// How `usage` groups its breakdown.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupBy {
    /// One row per model.
    Model,
    /// One row per API key.
    Key,
    /// One row per day (UTC).
    Day,
}

impl GroupBy {
    fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Key => "key",
            GroupBy::Day => "day",
        }
    }
}

/// `aihub usage …`
#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// First day, `YYYY-MM-DD` (UTC; default: the first of this month).
    #[arg(long, value_name = "DATE", value_parser = parse_date, conflicts_with = "period")]
    from: Option<NaiveDate>,
    /// Last day, included, `YYYY-MM-DD` (UTC; default: today).
    #[arg(long, value_name = "DATE", value_parser = parse_date, conflicts_with = "period")]
    to: Option<NaiveDate>,
    /// A named period: `today`, `yesterday`, `this-month`, `last-month`,
    /// or the last N days, `7d`, `30d` (today included).
    #[arg(long, value_name = "PERIOD", value_parser = parse_period)]
    period: Option<Period>,
    /// Break down by model, key or day.
    #[arg(long = "by", value_enum, default_value = "model")]
    by: GroupBy,
    /// Only this key (`key_…`).
    #[arg(long = "key", value_name = "KEY_ID")]
    key_id: Option<String>,
    /// Only this model.
    #[arg(long)]
    model: Option<String>,
    /// Print the breakdown as CSV (a header row, then one row per group).
    #[arg(long, conflicts_with = "export")]
    csv: bool,
    /// Download every request of the period as CSV (the server's export:
    /// one row per request) instead of the summary.
    #[arg(long)]
    export: bool,
    /// With `--export`: write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE", requires = "export")]
    output: Option<PathBuf>,
}

/// A named period of days.
#[derive(Debug, Clone, Copy)]
pub enum Period {
    /// Today only.
    Today,
    /// Yesterday only.
    Yesterday,
    /// From the first of this month to today.
    ThisMonth,
    /// The whole previous month.
    LastMonth,
    /// The last N days, today included.
    LastDays(u32),
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("expected YYYY-MM-DD, got `{s}`"))
}

fn parse_period(s: &str) -> Result<Period, String> {
    match s {
        "today" => Ok(Period::Today),
        "yesterday" => Ok(Period::Yesterday),
        "this-month" | "month" => Ok(Period::ThisMonth),
        "last-month" => Ok(Period::LastMonth),
        _ => s
            .strip_suffix('d')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=366).contains(n))
            .map(Period::LastDays)
            .ok_or_else(|| {
                format!(
                    "expected today, yesterday, this-month, last-month or Nd (1–366), got `{s}`"
                )
            }),
    }
}

impl Period {
    /// The first and last day of the period, given today.
    fn days(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first_of_month = today.with_day(1).unwrap_or(today);
        match self {
            Period::Today => (today, today),
            Period::Yesterday => {
                let y = today.checked_sub_days(Days::new(1)).unwrap_or(today);
                (y, y)
            }
            Period::ThisMonth => (first_of_month, today),
            Period::LastMonth => {
                let last = first_of_month
                    .checked_sub_days(Days::new(1))
                    .unwrap_or(first_of_month);
                let first = first_of_month
                    .checked_sub_months(Months::new(1))
                    .unwrap_or(first_of_month);
                (first, last)
            }
            Period::LastDays(n) => (
                today
                    .checked_sub_days(Days::new(u64::from(n.saturating_sub(1))))
                    .unwrap_or(today),
                today,
            ),
        }
    }
}

fn today_utc() -> NaiveDate {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()).date_naive()
}

const MEASURES: [&str; 7] = [
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "tokens",
    "cost",
    "errors",
    "avg_latency_ms",
];

fn measures(v: &Value) -> Vec<String> {
    MEASURES
        .iter()
        .map(|m| match (&v[*m], *m) {
            (Value::Number(n), "avg_latency_ms") => {
                format!("{:.0}", n.as_f64().unwrap_or(0.0))
            }
            (x, _) => cell(x),
        })
        .collect()
}

/// `aihub usage`
pub async fn usage(conn: &Connection, args: UsageArgs, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    let (from, to) = match args.period {
        Some(p) => {
            let (f, t) = p.days(today_utc());
            (Some(f), Some(t))
        }
        None => (args.from, args.to),
    };
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(f) = from {
        query.push(("from", f.to_string()));
    }
    if let Some(t) = to {
        query.push(("to", t.to_string()));
    }
    if args.export {
        let csv = api
            .download("/api/v1/developer/usage/export", &query)
            .await?;
        return match args
            .output
            .as_deref()
            .filter(|p| *p != std::path::Path::new("-"))
        {
            Some(path) => {
                write_out(path, &csv, out)?;
                let rows = csv
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    .saturating_sub(1);
                out.emit(
                    &json!({"file": path, "rows": rows}),
                    &format!("wrote {rows} usage rows to {}", path.display()),
                )
            }
            None => out.raw(&csv),
        };
    }
    query.push(("group_by", args.by.as_str().to_string()));
    if let Some(k) = &args.key_id {
        query.push(("key_id", k.clone()));
    }
    if let Some(m) = &args.model {
        query.push(("model", m.clone()));
    }
    let summary = api.get("/api/v1/developer/usage", &query).await?;
    let rows: Vec<Vec<String>> = data_of(&summary)
        .iter()
        .map(|g| {
            let mut r = vec![cell(&g["group"])];
            r.extend(measures(g));
            r
        })
        .collect();
    if args.csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec![args.by.as_str()];
        header.extend(MEASURES);
        w.write_record(&header)?;
        for g in data_of(&summary) {
            let mut r = vec![cell(&g["group"])];
            r.extend(MEASURES.iter().map(|m| cell(&g[*m])));
            w.write_record(&r)?;
        }
        let bytes = w.into_inner().context("writing CSV")?;
        return out.raw(&bytes);
    }
    let by = args.by.as_str().to_uppercase();
    let mut all = rows;
    let mut total = vec!["TOTAL".to_string()];
    total.extend(measures(&summary["totals"]));
    all.push(total);
    let text = format!(
        "Usage {} to {} (UTC), by {}\n{}",
        cell(&summary["period"]["from"]),
        cell(&summary["period"]["to"]),
        args.by.as_str(),
        table(
            &[
                by.as_str(),
                "REQUESTS",
                "PROMPT",
                "COMPLETION",
                "TOKENS",
                "COST",
                "ERRORS",
                "AVG MS"
            ],
            &all
        )
    );
    out.emit(&summary, &text)
}

fn data_of(summary: &Value) -> &[Value] {
    summary["breakdown"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `aihub billing`
pub async fn billing(conn: &Connection, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    let b = api.get("/api/v1/developer/billing", &[]).await?;
    let plan = &b["plan"];
    let allowance = &b["allowance"];
    let balance = &b["balance"];
    let month = &b["month_usage"];
    let mut lines = vec![
        format!(
            "Plan          {} ({}): {} a month, {} tokens included, overage: {}",
            cell(&plan["name"]),
            cell(&plan["id"]),
            cell(&plan["price"]),
            cell(&plan["included_tokens"]),
            cell(&plan["overage"])
        ),
        format!("Period        {}", cell(&b["period"]["month"])),
        format!(
            "Allowance     {} of {} tokens used, {} left",
            cell(&allowance["used_tokens"]),
            cell(&allowance["included_tokens"]),
            cell(&allowance["remaining_tokens"])
        ),
        format!(
            "Credit        {} (paid {}, promotional {})",
            cell(&balance["total"]),
            cell(&balance["paid"]),
            cell(&balance["promotional"])
        ),
        format!(
            "This month    {} requests, {} tokens, cost {}, charged {}",
            cell(&month["requests"]),
            cell(&month["tokens"]),
            cell(&month["cost"]),
            cell(&month["charged"])
        ),
        format!(
            "Next invoice  {} (subscription {}, overage {}, credit {})",
            cell(&b["upcoming_invoice"]["total"]),
            cell(&b["upcoming_invoice"]["subscription"]),
            cell(&b["upcoming_invoice"]["overage"]),
            cell(&b["upcoming_invoice"]["credits_applied"])
        ),
    ];
    if b["pending_plan"].is_object() {
        lines.push(format!("Plan change   {}", b["pending_plan"]));
    }
    out.emit(&b, &lines.join("\n"))
}

/// `aihub invoices …`
#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// List your invoices, newest month first (the default).
    List,
    /// Show an invoice with its lines.
    Show {
        /// The invoice's id (`inv_…`).
        id: String,
    },
    /// Save an invoice as HTML (printable).
    Download {
        /// The invoice's id (`inv_…`).
        id: String,
        /// Where to write it (`-` for stdout; default `<ID>.html`).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `aihub invoices …`
pub async fn invoices(
    conn: &Connection,
    cmd: Option<InvoicesCommand>,
    out: &Output,
) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    match cmd.unwrap_or(InvoicesCommand::List) {
        InvoicesCommand::List => {
            let list = api.get("/api/v1/developer/invoices", &[]).await?;
            let rows: Vec<Vec<String>> = data(&list)
                .iter()
                .map(|i| {
                    vec![
                        cell(&i["id"]),
                        cell(&i["number"]),
                        cell(&i["month"]),
                        cell(&i["status"]),
                        cell(&i["total"]),
                        cell(&i["amount_due"]),
                    ]
                })
                .collect();
            out.emit(
                &list,
                &table(&["ID", "NUMBER", "MONTH", "STATUS", "TOTAL", "DUE"], &rows),
            )
        }
        InvoicesCommand::Show { id } => {
            let inv = api
                .get(&format!("/api/v1/developer/invoices/{id}"), &[])
                .await?;
            let lines: Vec<Vec<String>> = inv["lines"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .map(|l| {
                    vec![
                        cell(&l["kind"]),
                        cell(&l["description"]),
                        cell(&l["tokens"]),
                        cell(&l["amount"]),
                    ]
                })
                .collect();
            let text = format!(
                "Invoice {} {} for {}: {}\nCreated {} UTC, finalized {}, paid {}\n\n{}\n\nSubtotal {}  Credits {}  Total {}  Paid {}  Due {}",
                cell(&inv["id"]),
                cell(&inv["number"]),
                cell(&inv["month"]),
                cell(&inv["status"]),
                time_ms(&inv["created_at"]),
                time_ms(&inv["finalized_at"]),
                time_ms(&inv["paid_at"]),
                table(&["KIND", "DESCRIPTION", "TOKENS", "AMOUNT"], &lines),
                cell(&inv["subtotal"]),
                cell(&inv["credits_applied"]),
                cell(&inv["total"]),
                cell(&inv["amount_paid"]),
                cell(&inv["amount_due"]),
            );
            out.emit(&inv, &text)
        }
        InvoicesCommand::Download { id, output } => {
            if id.contains('/') {
                return Err(
                    ClientError::refused("invalid_id", format!("not an invoice id: {id}")).into(),
                );
            }
            let html = api
                .download(&format!("/api/v1/developer/invoices/{id}/html"), &[])
                .await?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{id}.html")));
            write_out(&path, &html, out)?;
            if path == std::path::Path::new("-") {
                return Ok(());
            }
            out.emit(
                &json!({"id": id, "file": path, "bytes": html.len()}),
                &format!("saved {id} to {}", path.display()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap_or_default()
    }

    #[test]
    fn periods_are_whole_days() {
        let today = d("2026-03-15");
        let p = |s: &str| parse_period(s).map(|p| p.days(today));
        assert_eq!(p("today"), Ok((today, today)));
        assert_eq!(p("yesterday"), Ok((d("2026-03-14"), d("2026-03-14"))));
        assert_eq!(p("this-month"), Ok((d("2026-03-01"), today)));
        assert_eq!(p("last-month"), Ok((d("2026-02-01"), d("2026-02-28"))));
        assert_eq!(p("7d"), Ok((d("2026-03-09"), today)));
        assert_eq!(p("1d"), Ok((today, today)));
        assert!(p("0d").is_err());
        assert!(p("week").is_err());
    }
}

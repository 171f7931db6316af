//! Reconciliation: proves, for a month, that the usage store, the usage
//! charges, the ledger, the invoices and the running totals agree, and
//! names every difference. `aihub admin billing reconcile` exits non-zero when
//! there is one.

use super::charges::Source;
use super::{invoices, ledger, money};
use crate::db::Db;
use crate::error::DomainResult;
use aihub_contract::calendar::Month;
use sqlx::Row;
use std::collections::BTreeMap;

/// The checks' outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The month.
    pub period: String,
    /// Usage rows of the month in the store.
    pub usage_rows: i64,
    /// Their list price, nano-units.
    pub usage_cost_nanos: i64,
    /// Charged beyond allowances in the month, nano-units.
    pub charged_nanos: i64,
    /// Ledger transactions checked (all of them).
    pub transactions: i64,
    /// Invoices of the month checked.
    pub invoices: i64,
    /// Every difference found, in words.
    pub differences: Vec<String>,
}

impl Report {
    /// Whether everything agrees.
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Runs every check for `month`.
pub async fn run(db: &Db, source: &Source, month: &Month) -> DomainResult<Report> {
    let mut r = Report {
        period: month.name.clone(),
        ..Report::default()
    };
    let mut conn = db.pool().acquire().await?;

    // 1. Every usage row of the month is charged exactly once, at its cost.
    let (rows, cost) = match source {
        Source::Sql => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost \
                 FROM usage_records WHERE ts_ms >= $1 AND ts_ms < $2",
            )
            .bind(month.start_ms)
            .bind(month.end_ms)
            .fetch_one(&mut *conn)
            .await?;
            (row.try_get::<i64, _>("n")?, row.try_get::<i64, _>("cost")?)
        }
        Source::ClickHouse(ch) => ch.period_totals(month.start_ms, month.end_ms).await?,
    };
    r.usage_rows = rows;
    r.usage_cost_nanos = cost;
    let charged = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost \
         FROM usage_charges WHERE ts_ms >= $1 AND ts_ms < $2",
    )
    .bind(month.start_ms)
    .bind(month.end_ms)
    .fetch_one(&mut *conn)
    .await?;
    let (charged_rows, charged_cost): (i64, i64) =
        (charged.try_get("n")?, charged.try_get("cost")?);
    if charged_rows != rows {
        r.differences.push(format!(
            "usage: {rows} usage rows in {} but {charged_rows} usage charges (run the charger or close the month)",
            month.name
        ));
    }
    if charged_cost != cost {
        r.differences.push(format!(
            "usage: the rows cost {} but their charges record {}",
            money::format(cost),
            money::format(charged_cost)
        ));
    }

    // 2. Charges per developer and period = the ledger's usage charges.
    let by_charges = sqlx::query(
        "SELECT developer_id, period, CAST(SUM(charged_nanos) AS BIGINT) AS charged \
         FROM usage_charges WHERE period = $1 GROUP BY developer_id, period",
    )
    .bind(&month.name)
    .fetch_all(&mut *conn)
    .await?;
    let by_ledger = sqlx::query(
        "SELECT t.developer_id AS developer_id, CAST(-SUM(e.amount_nanos) AS BIGINT) AS charged \
         FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id \
         JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE t.kind = 'usage_charge' AND t.period = $1 AND a.kind = 'revenue_usage' \
         GROUP BY t.developer_id",
    )
    .bind(&month.name)
    .fetch_all(&mut *conn)
    .await?;
    let mut sides: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in &by_charges {
        let c: i64 = row.try_get("charged")?;
        sides.entry(row.try_get("developer_id")?).or_default().0 = c;
        r.charged_nanos += c;
    }
    for row in &by_ledger {
        sides.entry(row.try_get("developer_id")?).or_default().1 = row.try_get("charged")?;
    }
    for (dev, (charges, ledger)) in &sides {
        if charges != ledger {
            r.differences.push(format!(
                "ledger: {dev} was charged {} for {} but the ledger's usage charges say {}",
                money::format(*charges),
                month.name,
                money::format(*ledger)
            ));
        }
    }

    // 3. Running totals = their charges.
    let totals = sqlx::query(
        "SELECT b.developer_id AS developer_id, b.tokens AS tokens, b.charged_nanos AS charged, \
                b.requests AS requests, \
                (SELECT COUNT(*) FROM usage_charges c WHERE c.developer_id = b.developer_id \
                   AND c.period = b.period) AS c_requests, \
                (SELECT CAST(COALESCE(SUM(c.tokens), 0) AS BIGINT) FROM usage_charges c \
                   WHERE c.developer_id = b.developer_id AND c.period = b.period) AS c_tokens, \
                (SELECT CAST(COALESCE(SUM(c.charged_nanos), 0) AS BIGINT) FROM usage_charges c \
                   WHERE c.developer_id = b.developer_id AND c.period = b.period) AS c_charged \
         FROM billing_usage b WHERE b.period = $1",
    )
    .bind(&month.name)
    .fetch_all(&mut *conn)
    .await?;
    for t in &totals {
        let dev: String = t.try_get("developer_id")?;
        let pairs = [
            (
                "requests",
                t.try_get::<i64, _>("requests")?,
                t.try_get::<i64, _>("c_requests")?,
            ),
            (
                "tokens",
                t.try_get::<i64, _>("tokens")?,
                t.try_get::<i64, _>("c_tokens")?,
            ),
            (
                "charged",
                t.try_get::<i64, _>("charged")?,
                t.try_get::<i64, _>("c_charged")?,
            ),
        ];
        for (what, total, sum) in pairs {
            if total != sum {
                r.differences.push(format!(
                    "totals: {dev}'s running {what} for {} is {total} but its charges sum to {sum}",
                    month.name
                ));
            }
        }
    }

    // 4. Every ledger transaction balances.
    r.transactions = sqlx::query("SELECT COUNT(*) AS n FROM ledger_transactions")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    for id in ledger::unbalanced(&mut conn).await? {
        r.differences
            .push(format!("ledger: transaction {id} does not balance"));
    }

    // 5. Invoices equal their lines and the receivable the ledger booked.
    for inv in invoices::of_period(&mut conn, &month.name).await? {
        r.invoices += 1;
        let name = inv.number.clone().unwrap_or_else(|| inv.id.clone());
        let lines = invoices::lines(&mut conn, &inv.id).await?;
        let credits: i64 = lines
            .iter()
            .filter(|l| l.kind == "credits_applied")
            .map(|l| l.amount_nanos)
            .sum();
        let subtotal: i64 = lines
            .iter()
            .filter(|l| l.kind != "credits_applied")
            .map(|l| l.amount_nanos)
            .sum();
        if subtotal != inv.subtotal_nanos
            || credits != inv.credits_applied_nanos
            || inv.subtotal_nanos + inv.credits_applied_nanos != inv.total_nanos
        {
            r.differences.push(format!(
                "invoice {name}: lines give {} + {} but the invoice says {} + {} = {}",
                money::format(subtotal),
                money::format(credits),
                money::format(inv.subtotal_nanos),
                money::format(inv.credits_applied_nanos),
                money::format(inv.total_nanos)
            ));
        }
        let expected = match inv.status.as_str() {
            "open" | "paid" | "uncollectible" => Some(inv.total_nanos),
            "void" => Some(0),
            _ => None,
        };
        if let Some(expected) = expected {
            let booked = invoices::receivable_of(&mut conn, &inv.developer_id, &month.name).await?;
            if booked != expected {
                r.differences.push(format!(
                    "invoice {name} ({}): expected {} receivable for {} but the ledger booked {}",
                    inv.status,
                    money::format(expected),
                    month.name,
                    money::format(booked)
                ));
            }
        }
    }
    Ok(r)
}

//! Monthly invoices. After a calendar month (UTC) ends, each developer with
//! a subscription fee or charged usage in it gets a draft invoice: the fee
//! (prorated per plan when the plan changed), one overage line per model,
//! and the credit that already paid for overage. Drafts follow late usage
//! during the grace window; then the month is closed: its invoices are
//! finalized with sequential numbers, the fee is posted to the ledger, and
//! later usage of that month is charged to the next. Closing again changes
//! nothing. Totals: `subtotal = fee + overage`, `total = subtotal −
//! credits applied`, and the total equals the receivable the month's ledger
//! transactions booked.

use super::ledger::{self, AccountKind, NewTransaction, Posting};
use super::{charges, money, plans, Settings};
use crate::db::{self, Backend, Db};
use crate::error::{DomainError, DomainResult};
use aihub_contract::calendar::{month_of, Month};
use aihub_contract::money::nanos_to_decimal;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `subscription`, `overage`, `rounding` or `credits_applied`.
    pub kind: String,
    /// For people.
    pub description: String,
    /// Overage lines: the model.
    pub model: Option<String>,
    /// Overage lines: tokens beyond the allowance.
    pub tokens: Option<i64>,
    /// Nano-units (negative for credits applied).
    pub amount_nanos: i64,
}

/// An invoice's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Draft {
    /// Lines in order.
    pub lines: Vec<Line>,
    /// The fee.
    pub fee_nanos: i64,
    /// Fee + overage + rounding.
    pub subtotal_nanos: i64,
    /// What makes the total whole cents.
    pub rounding_nanos: i64,
    /// Overage already paid from credit (≤ 0).
    pub credits_applied_nanos: i64,
    /// What the developer owes for the month.
    pub total_nanos: i64,
}

fn date(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The invoice content of `developer_id` for `month` as the data stands
/// (for a month in progress: the estimate, with the fee of the plan in
/// force until the month's end).
pub async fn compute(
    conn: &mut AnyConnection,
    developer_id: &str,
    month: &Month,
) -> DomainResult<Draft> {
    let mut d = Draft::default();
    let month_ms = month.end_ms - month.start_ms;
    for seg in plans::segments(conn, developer_id, month.start_ms, month.end_ms).await? {
        if seg.price_nanos <= 0 {
            continue;
        }
        let plan = plans::get(conn, &seg.plan_id).await?;
        let amount = money::to_cents(money::prorate(
            seg.price_nanos,
            seg.to_ms - seg.from_ms,
            month_ms,
        ));
        let description = if seg.from_ms == month.start_ms && seg.to_ms == month.end_ms {
            format!("{} plan, {}", plan.name, month.name)
        } else {
            format!(
                "{} plan, {} to {} (prorated)",
                plan.name,
                date(seg.from_ms),
                date(seg.to_ms)
            )
        };
        d.fee_nanos += amount;
        d.lines.push(Line {
            kind: "subscription".into(),
            description,
            model: None,
            tokens: None,
            amount_nanos: amount,
        });
    }
    let rows = sqlx::query(
        "SELECT model, CAST(SUM(over_tokens) AS BIGINT) AS tokens, \
                CAST(SUM(charged_nanos) AS BIGINT) AS charged \
         FROM usage_charges WHERE developer_id = $1 AND period = $2 \
         GROUP BY model ORDER BY model",
    )
    .bind(developer_id)
    .bind(&month.name)
    .fetch_all(&mut *conn)
    .await?;
    let mut overage = 0;
    for r in rows {
        let charged: i64 = r.try_get("charged")?;
        if charged == 0 {
            continue;
        }
        let model: String = r.try_get("model")?;
        let tokens: i64 = r.try_get("tokens")?;
        overage += charged;
        d.lines.push(Line {
            kind: "overage".into(),
            description: format!("{model}: {tokens} tokens beyond the included tokens"),
            model: Some(model),
            tokens: Some(tokens),
            amount_nanos: charged,
        });
    }
    let covered = credit_applied(conn, developer_id, &month.name).await?;
    if covered != 0 {
        d.lines.push(Line {
            kind: "credits_applied".into(),
            description: "Paid from your credit balance".into(),
            model: None,
            tokens: None,
            amount_nanos: -covered,
        });
    }
    // Invoices are paid in whole cents: the difference to the exact
    // amount is a line of its own (and a ledger transaction at finalization).
    let exact = d.fee_nanos + overage - covered;
    let rounding = money::to_cents(exact) - exact;
    if rounding != 0 {
        d.lines.push(Line {
            kind: "rounding".into(),
            description: "Rounding to whole cents".into(),
            model: None,
            tokens: None,
            amount_nanos: rounding,
        });
    }
    d.rounding_nanos = rounding;
    d.subtotal_nanos = d.fee_nanos + overage + rounding;
    d.credits_applied_nanos = -covered;
    d.total_nanos = d.subtotal_nanos - covered;
    Ok(d)
}

/// What the period's usage charges took from the developer's credit.
async fn credit_applied(
    conn: &mut AnyConnection,
    developer_id: &str,
    period: &str,
) -> DomainResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(e.amount_nanos), 0) AS BIGINT) AS total \
         FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id \
         JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE t.developer_id = $1 AND t.period = $2 AND t.kind = 'usage_charge' \
           AND a.developer_id = $1 AND a.kind IN ('credit_paid', 'credit_promo')",
    )
    .bind(developer_id)
    .bind(period)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("total")?)
}

/// What the period's transactions booked as receivable for the developer
/// (reconciliation compares it with the invoice total).
pub async fn receivable_of(
    conn: &mut AnyConnection,
    developer_id: &str,
    period: &str,
) -> DomainResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(e.amount_nanos), 0) AS BIGINT) AS total \
         FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id \
         JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE t.developer_id = $1 AND t.period = $2 \
           AND t.kind IN ('usage_charge', 'subscription_fee', 'rounding', 'invoice_void') \
           AND a.developer_id = $1 AND a.kind = 'receivable'",
    )
    .bind(developer_id)
    .bind(period)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("total")?)
}

/// A stored invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// `inv_…`
    pub id: String,
    /// Whose.
    pub developer_id: String,
    /// `YYYY-MM`.
    pub period: String,
    /// `AIH-YYYY-NNNNNN` once finalized.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `void`, `uncollectible`.
    pub status: String,
    /// Fee + overage.
    pub subtotal_nanos: i64,
    /// ≤ 0.
    pub credits_applied_nanos: i64,
    /// Owed for the month.
    pub total_nanos: i64,
    /// Paid so far.
    pub amount_paid_nanos: i64,
    /// Taken back by credit notes so far.
    pub amount_credited_nanos: i64,
    /// Times.
    pub created_at: i64,
    /// When finalized.
    pub finalized_at: Option<i64>,
    /// When paid.
    pub paid_at: Option<i64>,
}

impl Invoice {
    /// What is still due (0 unless open): the total less payments and
    /// credit notes.
    pub fn amount_due(&self) -> i64 {
        if self.status == "open" {
            (self.total_nanos - self.amount_paid_nanos - self.amount_credited_nanos).max(0)
        } else {
            0
        }
    }

    /// The API's summary shape.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "number": self.number,
            "month": self.period,
            "status": self.status,
            "subtotal": money::format(self.subtotal_nanos),
            "credits_applied": money::format(self.credits_applied_nanos),
            "total": money::format(self.total_nanos),
            "amount_paid": money::format(self.amount_paid_nanos),
            "amount_credited": money::format(self.amount_credited_nanos),
            "amount_due": money::format(self.amount_due()),
            "created_at": self.created_at,
            "finalized_at": self.finalized_at,
            "paid_at": self.paid_at,
        })
    }
}

const INVOICE_COLUMNS: &str = "id, developer_id, period, number, status, subtotal_nanos, \
     credits_applied_nanos, total_nanos, amount_paid_nanos, amount_credited_nanos, created_at, \
     finalized_at, paid_at";

fn invoice_from_row(r: &AnyRow) -> DomainResult<Invoice> {
    Ok(Invoice {
        id: r.try_get("id")?,
        developer_id: r.try_get("developer_id")?,
        period: r.try_get("period")?,
        number: r.try_get("number")?,
        status: r.try_get("status")?,
        subtotal_nanos: r.try_get("subtotal_nanos")?,
        credits_applied_nanos: r.try_get("credits_applied_nanos")?,
        total_nanos: r.try_get("total_nanos")?,
        amount_paid_nanos: r.try_get("amount_paid_nanos")?,
        amount_credited_nanos: r.try_get("amount_credited_nanos")?,
        created_at: r.try_get("created_at")?,
        finalized_at: r.try_get("finalized_at")?,
        paid_at: r.try_get("paid_at")?,
    })
}

/// The developer's invoices, newest month first.
pub async fn list(conn: &mut AnyConnection, developer_id: &str) -> DomainResult<Vec<Invoice>> {
    let rows = sqlx::query(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE developer_id = $1 ORDER BY period DESC"
    ))
    .bind(developer_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(invoice_from_row).collect()
}

/// Which invoices an operator lists.
#[derive(Debug, Clone, Default)]
pub struct InvoiceSearch {
    /// One developer's.
    pub developer_id: Option<String>,
    /// One status.
    pub status: Option<String>,
    /// Page size.
    pub limit: i64,
    /// The last id of the previous page.
    pub starting_after: Option<String>,
}

/// The statuses an invoice can have.
pub const STATUSES: [&str; 5] = ["draft", "open", "paid", "void", "uncollectible"];

/// Invoices matching `f`, newest first, each with its developer's email,
/// and whether more follow.
pub async fn search(
    conn: &mut AnyConnection,
    f: &InvoiceSearch,
) -> DomainResult<(Vec<(Invoice, String)>, bool)> {
    let mut w = crate::db::Where::new(&format!(
        "SELECT {INVOICE_COLUMNS}, \
         COALESCE((SELECT d.email FROM developers d WHERE d.id = invoices.developer_id), '') \
         AS developer_email FROM invoices WHERE 1 = 1"
    ));
    if let Some(d) = &f.developer_id {
        w.text(" AND developer_id = ?", d.clone());
    }
    if let Some(st) = &f.status {
        w.text(" AND status = ?", st.clone());
    }
    w.page(conn, "id", f.starting_after.as_deref(), f.limit, |r| {
        Ok((invoice_from_row(r)?, r.try_get("developer_email")?))
    })
    .await
}

/// Every invoice of a period (operators, reconciliation).
pub async fn of_period(conn: &mut AnyConnection, period: &str) -> DomainResult<Vec<Invoice>> {
    let rows = sqlx::query(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE period = $1 ORDER BY developer_id"
    ))
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(invoice_from_row).collect()
}

/// One invoice; `developer_id` = `Some` scopes it to its owner (another's
/// answers NotFound like a missing one).
pub async fn get(
    conn: &mut AnyConnection,
    id: &str,
    developer_id: Option<&str>,
) -> DomainResult<Invoice> {
    let row = sqlx::query(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row.as_ref().map(invoice_from_row).transpose()? {
        Some(inv) if developer_id.is_none_or(|d| d == inv.developer_id) => Ok(inv),
        _ => Err(DomainError::NotFound(format!("no invoice '{id}'"))),
    }
}

/// An invoice's lines.
pub async fn lines(conn: &mut AnyConnection, invoice_id: &str) -> DomainResult<Vec<Line>> {
    let rows = sqlx::query(
        "SELECT kind, description, model, tokens, amount_nanos FROM invoice_lines \
         WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Line {
                kind: r.try_get("kind")?,
                description: r.try_get("description")?,
                model: r.try_get("model")?,
                tokens: r.try_get("tokens")?,
                amount_nanos: r.try_get("amount_nanos")?,
            })
        })
        .collect()
}

/// A line's API shape.
pub fn line_json(l: &Line) -> Value {
    json!({
        "kind": l.kind,
        "description": l.description,
        "model": l.model,
        "tokens": l.tokens,
        "amount": money::format(l.amount_nanos),
    })
}

/// What a month close did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// The month.
    pub period: String,
    /// Usage rows charged by the sweep.
    pub charged_rows: usize,
    /// Drafts created or brought up to date.
    pub drafts: usize,
    /// Invoices finalized now.
    pub finalized: usize,
    /// Invoices already final, left alone.
    pub unchanged: usize,
    /// Whether the month is closed now.
    pub closed: bool,
}

/// Developers to invoice for a month: those with charged usage in it or a
/// paid plan during it.
async fn candidates(conn: &mut AnyConnection, month: &Month) -> DomainResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT developer_id FROM billing_usage WHERE period = $1 AND charged_nanos <> 0 \
         UNION SELECT developer_id FROM plan_changes WHERE price_nanos > 0 AND effective_at < $2 \
         ORDER BY developer_id",
    )
    .bind(&month.name)
    .bind(month.end_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("developer_id")?))
        .collect()
}

async fn lock(conn: &mut AnyConnection, backend: Backend) -> DomainResult<()> {
    if backend == Backend::Postgres {
        // The charger's lock: no usage is charged to the month while it closes.
        sqlx::query("SELECT pg_advisory_xact_lock(7031001)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Closes `month`: charges what the charger has not yet, writes drafts and,
/// when `finalize`, finalizes them and closes the month (at most once).
pub async fn close_month(
    db: &Db,
    settings: &Settings,
    source: &charges::Source,
    month: &Month,
    finalize: bool,
) -> DomainResult<CloseReport> {
    let now = db::now_ms();
    if month.end_ms > now {
        return Err(DomainError::invalid(format!(
            "month: {} has not ended yet (months end at midnight UTC)",
            month.name
        )));
    }
    let mut report = CloseReport {
        period: month.name.clone(),
        ..CloseReport::default()
    };
    {
        let mut tx = db.begin_write().await?;
        plans::apply_pending(&mut tx, db.backend(), now).await?;
        tx.commit().await?;
    }
    let already_closed = {
        let mut conn = db.pool().acquire().await?;
        charges::closed_periods(&mut conn)
            .await?
            .contains(&month.name)
    };
    if !already_closed {
        report.charged_rows =
            charges::sweep(db, settings, source, month.start_ms, month.end_ms).await?;
    }
    let mut tx = db.begin_write().await?;
    lock(&mut tx, db.backend()).await?;
    if finalize {
        let closed = sqlx::query(
            "INSERT INTO billing_periods (period, closed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&month.name)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let _ = closed;
    }
    for developer_id in candidates(&mut tx, month).await? {
        let existing = sqlx::query(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE developer_id = $1 AND period = $2"
        ))
        .bind(&developer_id)
        .bind(&month.name)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(invoice_from_row)
        .transpose()?;
        if existing.as_ref().is_some_and(|i| i.status != "draft") {
            report.unchanged += 1;
            continue;
        }
        let draft = compute(&mut tx, &developer_id, month).await?;
        if draft.lines.is_empty() && existing.is_none() {
            // E.g. an account that had a paid plan once: nothing this month.
            continue;
        }
        let id = write_draft(
            &mut tx,
            existing.map(|i| i.id),
            &developer_id,
            month,
            &draft,
        )
        .await?;
        report.drafts += 1;
        if finalize {
            finalize_one(&mut tx, &id, &developer_id, month, &draft).await?;
            report.finalized += 1;
        }
    }
    report.closed = finalize;
    tx.commit().await?;
    Ok(report)
}

async fn write_draft(
    conn: &mut AnyConnection,
    existing: Option<String>,
    developer_id: &str,
    month: &Month,
    d: &Draft,
) -> DomainResult<String> {
    let now = db::now_ms();
    let id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE invoices SET subtotal_nanos = $1, credits_applied_nanos = $2, \
                 total_nanos = $3 WHERE id = $4 AND status = 'draft'",
            )
            .bind(d.subtotal_nanos)
            .bind(d.credits_applied_nanos)
            .bind(d.total_nanos)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM invoice_lines WHERE invoice_id = $1")
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            id
        }
        None => {
            let id = db::new_id("inv_");
            sqlx::query(
                "INSERT INTO invoices (id, developer_id, period, status, subtotal_nanos, \
                 credits_applied_nanos, total_nanos, created_at) \
                 VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(developer_id)
            .bind(&month.name)
            .bind(d.subtotal_nanos)
            .bind(d.credits_applied_nanos)
            .bind(d.total_nanos)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            id
        }
    };
    for (i, l) in d.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO invoice_lines (id, invoice_id, position, kind, description, model, tokens, \
             amount_nanos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(db::new_id("inl_"))
        .bind(&id)
        .bind(i as i64)
        .bind(&l.kind)
        .bind(&l.description)
        .bind(&l.model)
        .bind(l.tokens)
        .bind(l.amount_nanos)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

async fn set_period(
    conn: &mut AnyConnection,
    transaction_id: &str,
    period: &str,
) -> DomainResult<()> {
    sqlx::query("UPDATE ledger_transactions SET period = $1 WHERE id = $2")
        .bind(period)
        .bind(transaction_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn finalize_one(
    conn: &mut AnyConnection,
    id: &str,
    developer_id: &str,
    month: &Month,
    d: &Draft,
) -> DomainResult<()> {
    if d.fee_nanos > 0 {
        let receivable = ledger::account(conn, Some(developer_id), AccountKind::Receivable).await?;
        let revenue = ledger::account(conn, None, AccountKind::RevenueSubscription).await?;
        let posted = ledger::post(
            conn,
            &NewTransaction {
                kind: "subscription_fee".into(),
                idempotency_key: Some(format!("fee:{developer_id}:{}", month.name)),
                developer_id: Some(developer_id.into()),
                memo: format!("Subscription fee, {}", month.name),
                postings: vec![
                    Posting {
                        account_id: receivable,
                        amount: nanos_to_decimal(d.fee_nanos),
                    },
                    Posting {
                        account_id: revenue,
                        amount: -nanos_to_decimal(d.fee_nanos),
                    },
                ],
            },
        )
        .await?;
        set_period(conn, &posted.id, &month.name).await?;
    }
    if d.rounding_nanos != 0 {
        let receivable = ledger::account(conn, Some(developer_id), AccountKind::Receivable).await?;
        let revenue = ledger::account(conn, None, AccountKind::RevenueUsage).await?;
        let posted = ledger::post(
            conn,
            &NewTransaction {
                kind: "rounding".into(),
                idempotency_key: Some(format!("rounding:{developer_id}:{}", month.name)),
                developer_id: Some(developer_id.into()),
                memo: format!("Invoice rounded to whole cents, {}", month.name),
                postings: vec![
                    Posting {
                        account_id: receivable,
                        amount: nanos_to_decimal(d.rounding_nanos),
                    },
                    Posting {
                        account_id: revenue,
                        amount: -nanos_to_decimal(d.rounding_nanos),
                    },
                ],
            },
        )
        .await?;
        set_period(conn, &posted.id, &month.name).await?;
    }
    let seq: i64 = sqlx::query(
        "UPDATE billing_counters SET value = value + 1 WHERE name = 'invoice' RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get("value")?;
    let year = &month.name[..4];
    let number = format!("AIH-{year}-{seq:06}");
    let now = db::now_ms();
    let status = if d.total_nanos > 0 { "open" } else { "paid" };
    sqlx::query(
        "UPDATE invoices SET status = $1, number = $2, finalized_at = $3, \
         paid_at = CASE WHEN $1 = 'paid' THEN $3 ELSE NULL END WHERE id = $4",
    )
    .bind(status)
    .bind(&number)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    crate::audit::emit(
        conn,
        "invoice.finalized",
        developer_id,
        &json!({
            "invoice_id": id,
            "number": number,
            "month": month.name,
            "status": status,
            "total": money::format(d.total_nanos),
            "amount_due": money::format(if status == "open" { d.total_nanos } else { 0 }),
        }),
    )
    .await?;
    Ok(())
}

/// Closes every month that ended more than the grace window ago and is
/// not closed yet, and keeps the drafts of a month in its grace window up
/// to date. Run by the billing job; safe to run anywhere, any number of times.
pub async fn close_due(
    db: &Db,
    settings: &Settings,
    source: &charges::Source,
) -> DomainResult<Vec<CloseReport>> {
    let now = db::now_ms();
    let current = month_of(now);
    let last = aihub_contract::calendar::previous(&current);
    let mut conn = db.pool().acquire().await?;
    let closed = charges::closed_periods(&mut conn).await?;
    // The oldest month with usage or a paid plan that is not closed.
    let first: Option<String> =
        sqlx::query("SELECT MIN(period) AS p FROM billing_usage WHERE period < $1")
            .bind(&current.name)
            .fetch_one(&mut *conn)
            .await?
            .try_get("p")?;
    drop(conn);
    let mut out = Vec::new();
    let mut m = match first
        .as_deref()
        .and_then(aihub_contract::calendar::month_named)
    {
        Some(m) => m,
        None => last.clone(),
    };
    while m.start_ms <= last.start_ms {
        if !closed.contains(&m.name) {
            let due = now >= m.end_ms + settings.invoice_grace_hours * 3_600_000;
            out.push(close_month(db, settings, source, &m, due).await?);
        }
        m = month_of(m.end_ms);
    }
    Ok(out)
}

/// Records a payment of an open invoice (Stripe or by hand): the ledger
/// moves it from receivable to cash, the invoice is paid when nothing is
/// due. Idempotent by `payment_id`.
pub async fn record_payment(
    conn: &mut AnyConnection,
    invoice: &Invoice,
    payment_id: &str,
    amount_nanos: i64,
) -> DomainResult<bool> {
    if invoice.status != "open" {
        return Err(DomainError::Conflict(format!(
            "invoice {} is {}, not open",
            invoice.number.as_deref().unwrap_or(&invoice.id),
            invoice.status
        )));
    }
    let cash = ledger::account(conn, None, AccountKind::Cash).await?;
    let receivable =
        ledger::account(conn, Some(&invoice.developer_id), AccountKind::Receivable).await?;
    let posted = ledger::post(
        conn,
        &NewTransaction {
            kind: "payment".into(),
            idempotency_key: Some(format!("invoice-payment:{payment_id}")),
            developer_id: Some(invoice.developer_id.clone()),
            memo: format!(
                "Payment of invoice {}",
                invoice.number.as_deref().unwrap_or(&invoice.id)
            ),
            postings: vec![
                Posting {
                    account_id: cash,
                    amount: nanos_to_decimal(amount_nanos),
                },
                Posting {
                    account_id: receivable,
                    amount: -nanos_to_decimal(amount_nanos),
                },
            ],
        },
    )
    .await?;
    if posted.replayed {
        return Ok(false);
    }
    let now = db::now_ms();
    sqlx::query(
        "UPDATE invoices SET amount_paid_nanos = amount_paid_nanos + $1, \
         status = CASE WHEN amount_paid_nanos + amount_credited_nanos + $1 >= total_nanos \
                  THEN 'paid' ELSE status END, \
         paid_at = CASE WHEN amount_paid_nanos + amount_credited_nanos + $1 >= total_nanos \
                   THEN $2 ELSE paid_at END \
         WHERE id = $3",
    )
    .bind(amount_nanos)
    .bind(now)
    .bind(&invoice.id)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Voids an open invoice: the receivable its month booked (fee, usage,
/// rounding) is reversed against the revenue it came from, as new ledger
/// entries.
pub async fn void(conn: &mut AnyConnection, invoice: &Invoice) -> DomainResult<()> {
    if invoice.status != "open" {
        // A draft still follows late usage until its month closes; void it
        // once it is final.
        return Err(DomainError::Conflict(format!(
            "invoice {} is {}; only open invoices can be voided (a draft once its month is closed)",
            invoice.number.as_deref().unwrap_or(&invoice.id),
            invoice.status
        )));
    }
    if invoice.amount_paid_nanos > 0 {
        return Err(DomainError::Conflict(
            "this invoice is partly paid; refund the payment first".into(),
        ));
    }
    if invoice.amount_credited_nanos > 0 {
        return Err(DomainError::Conflict(
            "credit notes were issued on this invoice; credit what is still due instead".into(),
        ));
    }
    let lines = lines(conn, &invoice.id).await?;
    let sum = |kind: &str| -> i64 {
        lines
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| l.amount_nanos)
            .sum()
    };
    let booked = receivable_of(conn, &invoice.developer_id, &invoice.period).await?;
    let fee = sum("subscription");
    let usage = booked - fee;
    let mut postings = vec![];
    if fee != 0 {
        postings.push(Posting {
            account_id: ledger::account(conn, None, AccountKind::RevenueSubscription).await?,
            amount: nanos_to_decimal(fee),
        });
    }
    if usage != 0 {
        postings.push(Posting {
            account_id: ledger::account(conn, None, AccountKind::RevenueUsage).await?,
            amount: nanos_to_decimal(usage),
        });
    }
    if booked != 0 {
        postings.push(Posting {
            account_id: ledger::account(conn, Some(&invoice.developer_id), AccountKind::Receivable)
                .await?,
            amount: -nanos_to_decimal(booked),
        });
        let posted = ledger::post(
            conn,
            &NewTransaction {
                kind: "invoice_void".into(),
                idempotency_key: Some(format!("void:{}", invoice.id)),
                developer_id: Some(invoice.developer_id.clone()),
                memo: format!(
                    "Invoice {} voided",
                    invoice.number.as_deref().unwrap_or(&invoice.id)
                ),
                postings,
            },
        )
        .await?;
        set_period(conn, &posted.id, &invoice.period).await?;
    }
    sqlx::query("UPDATE invoices SET status = 'void', voided_at = $1 WHERE id = $2")
        .bind(db::now_ms())
        .bind(&invoice.id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks an open invoice uncollectible: what is still due is written off
/// (bad debt), as new ledger entries.
pub async fn write_off(conn: &mut AnyConnection, invoice: &Invoice) -> DomainResult<()> {
    if invoice.status != "open" {
        return Err(DomainError::Conflict(format!(
            "invoice {} is {}; only open invoices can be marked uncollectible",
            invoice.number.as_deref().unwrap_or(&invoice.id),
            invoice.status
        )));
    }
    let due = invoice.amount_due();
    if due > 0 {
        let bad_debt = ledger::account(conn, None, AccountKind::BadDebt).await?;
        let receivable =
            ledger::account(conn, Some(&invoice.developer_id), AccountKind::Receivable).await?;
        ledger::post(
            conn,
            &NewTransaction {
                kind: "write_off".into(),
                idempotency_key: Some(format!("write-off:{}", invoice.id)),
                developer_id: Some(invoice.developer_id.clone()),
                memo: format!(
                    "Invoice {} written off as uncollectible",
                    invoice.number.as_deref().unwrap_or(&invoice.id)
                ),
                postings: vec![
                    Posting {
                        account_id: bad_debt,
                        amount: nanos_to_decimal(due),
                    },
                    Posting {
                        account_id: receivable,
                        amount: -nanos_to_decimal(due),
                    },
                ],
            },
        )
        .await?;
    }
    sqlx::query("UPDATE invoices SET status = 'uncollectible' WHERE id = $1")
        .bind(&invoice.id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A print-ready HTML page of an invoice.
pub fn html(inv: &Invoice, lines: &[Line], bill_to: &str, company: &str) -> String {
    let title = match &inv.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice, {}", inv.period),
    };
    let mut rows = String::new();
    for l in lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">${}</td></tr>",
            esc(&l.description),
            l.tokens.map(|t| t.to_string()).unwrap_or_default(),
            money::format(l.amount_nanos)
        ));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:760px;margin:40px auto;color:#111}}\
table{{width:100%;border-collapse:collapse;margin-top:24px}}td,th{{padding:8px;border-bottom:1px solid #ddd;text-align:left}}\
.num{{text-align:right}}.tot td{{font-weight:600;border:none}}.muted{{color:#555}}\
</style></head><body>\
<h1>{title}</h1><p class=\"muted\">Period {period} · Status {status}</p>\
<p><strong>Billed to</strong><br>{bill_to}{company}</p>\
<table><thead><tr><th>Description</th><th class=\"num\">Tokens</th><th class=\"num\">Amount (USD)</th></tr></thead><tbody>{rows}</tbody>\
<tbody><tr class=\"tot\"><td>Subtotal</td><td></td><td class=\"num\">${subtotal}</td></tr>\
<tr class=\"tot\"><td>Credits applied</td><td></td><td class=\"num\">${credits}</td></tr>\
<tr class=\"tot\"><td>Total</td><td></td><td class=\"num\">${total}</td></tr>\
<tr class=\"tot\"><td>Amount due</td><td></td><td class=\"num\">${due}</td></tr></tbody></table>\
</body></html>",
        period = esc(&inv.period),
        status = esc(&inv.status),
        bill_to = esc(bill_to),
        company = if company.is_empty() {
            String::new()
        } else {
            format!("<br>{}", esc(company))
        },
        subtotal = money::format(inv.subtotal_nanos),
        credits = money::format(inv.credits_applied_nanos),
        total = money::format(inv.total_nanos),
        due = money::format(inv.amount_due()),
    )
}

/// A credit note on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreditNote {
    /// `crn_…`
    pub id: String,
    /// The invoice.
    pub invoice_id: String,
    /// What it takes back.
    pub amount: String,
    /// `invoice` (lowered what was due) or `balance` (credited to the
    /// developer's paid credit).
    pub applied_to: String,
    /// Why, for the developer and the books.
    pub reason: String,
    /// When (ms).
    pub created_at: i64,
    /// The operator who issued it.
    pub created_by: Option<String>,
}

/// Issues a credit note for `amount_nanos` on `invoice` (the caller
/// audits it in the same transaction):
/// - an **open** invoice: what is due is lowered (at most what is still
///   due; fully credited, the invoice is paid), the receivable reversed;
/// - a **paid** invoice: the amount becomes the developer's paid credit
///   (at most the total less earlier notes), spendable at once.
///
/// Either way the revenue the invoice mostly came from (subscription or
/// usage) is reversed, as a `credit_note` ledger transaction.
pub async fn issue_credit_note(
    conn: &mut AnyConnection,
    backend: Backend,
    invoice: &Invoice,
    amount_nanos: i64,
    reason: &str,
    created_by: Option<&str>,
) -> DomainResult<CreditNote> {
    let name = invoice.number.clone().unwrap_or_else(|| invoice.id.clone());
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(DomainError::invalid(
            "reason: expected 1 to 500 characters saying why",
        ));
    }
    if amount_nanos <= 0 {
        return Err(DomainError::invalid("amount: must be more than zero"));
    }
    let (applied_to, room, to_kind) = match invoice.status.as_str() {
        "open" => ("invoice", invoice.amount_due(), AccountKind::Receivable),
        "paid" => (
            "balance",
            invoice.total_nanos - invoice.amount_credited_nanos,
            AccountKind::CreditPaid,
        ),
        other => {
            return Err(DomainError::Conflict(format!(
                "invoice {name} is {other}; credit notes are for open or paid invoices"
            )))
        }
    };
    if amount_nanos > room {
        return Err(DomainError::invalid(format!(
            "amount: at most {} can be credited on invoice {name}",
            money::format(room.max(0))
        )));
    }
    let fee: i64 = lines(conn, &invoice.id)
        .await?
        .iter()
        .filter(|l| l.kind == "subscription")
        .map(|l| l.amount_nanos)
        .sum();
    let revenue = if fee.saturating_mul(2) >= invoice.subtotal_nanos {
        AccountKind::RevenueSubscription
    } else {
        AccountKind::RevenueUsage
    };
    let id = db::new_id("crn_");
    let from = ledger::account(conn, None, revenue).await?;
    let to = ledger::account(conn, Some(&invoice.developer_id), to_kind).await?;
    let posted = ledger::post(
        conn,
        &NewTransaction {
            kind: "credit_note".into(),
            idempotency_key: Some(format!("credit-note:{id}")),
            developer_id: Some(invoice.developer_id.clone()),
            memo: format!("Credit note on invoice {name}: {reason}"),
            postings: vec![
                Posting {
                    account_id: from,
                    amount: nanos_to_decimal(amount_nanos),
                },
                Posting {
                    account_id: to,
                    amount: -nanos_to_decimal(amount_nanos),
                },
            ],
        },
    )
    .await?;
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO credit_notes (id, invoice_id, developer_id, amount_nanos, applied_to, reason, \
         transaction_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&invoice.id)
    .bind(&invoice.developer_id)
    .bind(amount_nanos)
    .bind(applied_to)
    .bind(reason)
    .bind(&posted.id)
    .bind(created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // A fully credited open invoice is settled.
    sqlx::query(
        "UPDATE invoices SET amount_credited_nanos = amount_credited_nanos + $1, \
         status = CASE WHEN status = 'open' AND amount_paid_nanos + amount_credited_nanos + $1 >= total_nanos \
                  THEN 'paid' ELSE status END, \
         paid_at = CASE WHEN status = 'open' AND amount_paid_nanos + amount_credited_nanos + $1 >= total_nanos \
                   THEN $2 ELSE paid_at END \
         WHERE id = $3",
    )
    .bind(amount_nanos)
    .bind(now)
    .bind(&invoice.id)
    .execute(&mut *conn)
    .await?;
    if applied_to == "balance" {
        // The developer's spendable credit grew: gateways follow.
        db::record_change(conn, backend, db::Entity::Developer, &invoice.developer_id).await?;
    }
    Ok(CreditNote {
        id,
        invoice_id: invoice.id.clone(),
        amount: money::format(amount_nanos),
        applied_to: applied_to.into(),
        reason: reason.into(),
        created_at: now,
        created_by: created_by.map(str::to_string),
    })
}

/// An invoice's credit notes, oldest first.
pub async fn credit_notes(
    conn: &mut AnyConnection,
    invoice_id: &str,
) -> DomainResult<Vec<CreditNote>> {
    let rows = sqlx::query(
        "SELECT id, invoice_id, amount_nanos, applied_to, reason, created_at, created_by \
         FROM credit_notes WHERE invoice_id = $1 ORDER BY created_at, id",
    )
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CreditNote {
                id: r.try_get("id")?,
                invoice_id: r.try_get("invoice_id")?,
                amount: money::format(r.try_get("amount_nanos")?),
                applied_to: r.try_get("applied_to")?,
                reason: r.try_get("reason")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
            })
        })
        .collect()
}

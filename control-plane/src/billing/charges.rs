//! Usage charges: the charger reads usage rows (the embedded
//! `usage_records` table, or ClickHouse) and, per row, splits its tokens
//! between the plan's monthly allowance and overage. The overage's share of
//! the row's cost is charged: from promotional credit first, then paid
//! credit, and what credit does not cover (or everything, on plans whose
//! overage is invoiced) becomes receivable, billed on the month's invoice.
//!
//! One `usage_charges` row per usage row (keyed by request id, so a row is
//! never charged twice), the developer's running totals per period in
//! `billing_usage`, and one balanced ledger transaction per developer,
//! period and batch. Rows of a month that is already closed are charged to
//! the current month ("late usage").

use super::ledger::{self, AccountKind, NewTransaction, Posting};
use super::{alerts, credit, money, plans, Settings};
use crate::db::{self, Backend, Db};
use crate::error::{DomainError, DomainResult};
use aihub_contract::calendar::month_of;
use aihub_contract::money::nanos_to_decimal;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// A usage row, as far as charging cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageItem {
    /// The gateway's request id.
    pub request_id: String,
    /// When the request started, unix ms.
    pub ts_ms: i64,
    /// Whose.
    pub developer_id: String,
    /// Which key (its `:grace` suffix removed).
    pub key_id: String,
    /// Public model name.
    pub model: String,
    /// Prompt + completion tokens.
    pub tokens: i64,
    /// List price, nano-units.
    pub cost_nanos: i64,
}

/// Rows read at or after this far behind the cursor are read again (and
/// skipped when charged), so rows committed out of order are not missed.
const OVERLAP_MS: i64 = 10_000;

const DAY_MS: i64 = 86_400_000;

/// Where usage rows are read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The control plane's own `usage_records` (the embedded default).
    Sql,
    /// ClickHouse's `usage_records` (rows written by the gateways).
    ClickHouse(ClickHouseSource),
}

impl Source {
    /// ClickHouse when `[clickhouse] url` is set, else the embedded store.
    pub fn from_config(ch: &crate::config::ClickHouseConfig) -> Source {
        if ch.url.is_empty() {
            Source::Sql
        } else {
            Source::ClickHouse(ClickHouseSource::new(
                &ch.url,
                &ch.database,
                &ch.table,
                &ch.user,
                ch.password.expose(),
            ))
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Source::Sql => "sql",
            Source::ClickHouse(_) => "clickhouse",
        }
    }
}

/// Reads ClickHouse over its HTTP interface (TabSeparated).
#[derive(Debug, Clone)]
pub struct ClickHouseSource {
    client: reqwest::Client,
    url: String,
    table: String,
    user: String,
    password: String,
}

impl ClickHouseSource {
    /// A source for `database.table` at `url`.
    pub fn new(url: &str, database: &str, table: &str, user: &str, password: &str) -> Self {
        ClickHouseSource {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            url: url.trim_end_matches('/').to_string(),
            table: format!("{database}.{table}"),
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// The database holding the usage table (and the rollup tables).
    pub(crate) fn database(&self) -> &str {
        self.table.split('.').next().unwrap_or("aihub")
    }

    pub(crate) async fn select(&self, sql: &str) -> DomainResult<String> {
        let mut req = self.client.post(&self.url).body(sql.to_string());
        if !self.user.is_empty() {
            req = req.header("X-ClickHouse-User", &self.user);
        }
        if !self.password.is_empty() {
            req = req.header("X-ClickHouse-Key", &self.password);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| DomainError::Internal(format!("ClickHouse: {e}")))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| DomainError::Internal(format!("ClickHouse: {e}")))?;
        if !status.is_success() {
            return Err(DomainError::Internal(format!(
                "ClickHouse answered {status}: {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        Ok(body)
    }

    /// Rows inserted at or after `from_ms` (ClickHouse's insert time, in
    /// seconds), oldest first, with their positions.
    async fn fetch(&self, from_ms: i64, limit: i64) -> DomainResult<Vec<(i64, UsageItem)>> {
        let sql = format!(
            "SELECT request_id, ts_ms, developer_id, key_id, model, \
             prompt_tokens + completion_tokens, cost_nanos, \
             toInt64(toUnixTimestamp(inserted_at)) * 1000 AS pos \
             FROM {} WHERE inserted_at >= toDateTime({}, 'UTC') \
             ORDER BY inserted_at, request_id LIMIT {} FORMAT TabSeparated",
            self.table,
            from_ms.max(0) / 1000,
            limit
        );
        parse_tsv(&self.select(&sql).await?)
    }

    /// Usage rows of `[start, end)` by request time, for month close.
    async fn fetch_period(
        &self,
        start_ms: i64,
        end_ms: i64,
    ) -> DomainResult<Vec<(i64, UsageItem)>> {
        let sql = format!(
            "SELECT request_id, ts_ms, developer_id, key_id, model, \
             prompt_tokens + completion_tokens, cost_nanos, 0 AS pos \
             FROM {} FINAL WHERE ts_ms >= {start_ms} AND ts_ms < {end_ms} \
             ORDER BY ts_ms, request_id FORMAT TabSeparated",
            self.table
        );
        parse_tsv(&self.select(&sql).await?)
    }

    /// Σ cost and count of `[start, end)`, for reconciliation.
    pub async fn period_totals(&self, start_ms: i64, end_ms: i64) -> DomainResult<(i64, i64)> {
        let sql = format!(
            "SELECT count(), sum(cost_nanos) FROM (SELECT request_id, any(cost_nanos) AS cost_nanos \
             FROM {} WHERE ts_ms >= {start_ms} AND ts_ms < {end_ms} GROUP BY request_id) \
             FORMAT TabSeparated",
            self.table
        );
        let out = self.select(&sql).await?;
        let mut it = out.trim().split('\t');
        let n = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let c = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((n, c))
    }

    /// One page of a developer's rows after `(after_ts, after_id)`, for the CSV export.
    pub async fn export_page(
        &self,
        developer_id: &str,
        after_ts: i64,
        after_id: &str,
        end_ms: i64,
    ) -> DomainResult<Vec<crate::api::billing::ExportRow>> {
        let sql = format!(
            "SELECT request_id, ts_ms, key_id, model, endpoint, status, prompt_tokens, \
             completion_tokens, cached_tokens, cost_nanos, latency_ms, error FROM {} FINAL \
             WHERE developer_id = {} AND ts_ms < {end_ms} AND (ts_ms > {after_ts} OR \
             (ts_ms = {after_ts} AND request_id > {})) ORDER BY ts_ms, request_id LIMIT {} \
             FORMAT TabSeparated",
            self.table,
            quote(developer_id),
            quote(after_id),
            crate::api::billing::EXPORT_PAGE
        );
        let body = self.select(&sql).await?;
        let bad = || DomainError::Internal("ClickHouse: unexpected row shape".into());
        let mut out = Vec::new();
        for line in body.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 12 {
                return Err(bad());
            }
            let n = |s: &str| s.parse::<i64>().map_err(|_| bad());
            out.push(crate::api::billing::ExportRow {
                request_id: unescape(f[0]),
                ts_ms: n(f[1])?,
                key_id: unescape(f[2]),
                model: unescape(f[3]),
                endpoint: unescape(f[4]),
                status: n(f[5])?,
                prompt: n(f[6])?,
                completion: n(f[7])?,
                cached: n(f[8])?,
                cost: n(f[9])?,
                latency: n(f[10])?,
                error: unescape(f[11]),
            });
        }
        Ok(out)
    }
}

/// A ClickHouse string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Undoes TabSeparated's escaping.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn parse_tsv(body: &str) -> DomainResult<Vec<(i64, UsageItem)>> {
    let bad = || DomainError::Internal("ClickHouse: unexpected row shape".into());
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 8 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
        out.push((
            num(f[7])?,
            UsageItem {
                request_id: unescape(f[0]),
                ts_ms: num(f[1])?,
                developer_id: unescape(f[2]),
                key_id: aihub_contract::keys::base_key_id(&unescape(f[3])).to_string(),
                model: unescape(f[4]),
                tokens: num(f[5])?,
                cost_nanos: num(f[6])?,
            },
        ));
    }
    Ok(out)
}

fn item_from_row(r: &sqlx::any::AnyRow) -> DomainResult<(i64, UsageItem)> {
    let key: String = r.try_get("key_id")?;
    Ok((
        r.try_get("received_at")?,
        UsageItem {
            request_id: r.try_get("request_id")?,
            ts_ms: r.try_get("ts_ms")?,
            developer_id: r.try_get("developer_id")?,
            key_id: aihub_contract::keys::base_key_id(&key).to_string(),
            model: r.try_get("model")?,
            tokens: r.try_get("tokens")?,
            cost_nanos: r.try_get("cost_nanos")?,
        },
    ))
}

const SQL_ITEM: &str = "SELECT r.request_id, r.ts_ms, r.developer_id, r.key_id, r.model, \
     r.prompt_tokens + r.completion_tokens AS tokens, r.cost_nanos, r.received_at \
     FROM usage_records r";

async fn cursor(conn: &mut AnyConnection, source: &str) -> DomainResult<i64> {
    let row = sqlx::query("SELECT position FROM billing_cursors WHERE source = $1")
        .bind(source)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get("position")?,
        None => 0,
    })
}

async fn set_cursor(conn: &mut AnyConnection, source: &str, position: i64) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO billing_cursors (source, position) VALUES ($1, $2) \
         ON CONFLICT (source) DO UPDATE SET position = excluded.position \
         WHERE excluded.position > billing_cursors.position",
    )
    .bind(source)
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which of `ids` are already charged.
async fn charged_ids(conn: &mut AnyConnection, ids: &[&str]) -> DomainResult<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT request_id FROM usage_charges WHERE request_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.insert(r.try_get("request_id")?);
        }
    }
    Ok(out)
}

/// Rows the charger reads per round.
const BATCH: i64 = 5000;

/// One round of the charger: reads the rows after the cursor that are not
/// charged yet and charges them. Returns how many were charged.
pub async fn run_once(db: &Db, settings: &Settings, source: &Source) -> DomainResult<usize> {
    let mut conn = db.pool().acquire().await?;
    let from = cursor(&mut conn, source.name()).await? - OVERLAP_MS;
    let fetched = match source {
        Source::Sql => {
            let rows = sqlx::query(&format!(
                "{SQL_ITEM} WHERE r.received_at >= $1 AND NOT EXISTS \
                 (SELECT 1 FROM usage_charges c WHERE c.request_id = r.request_id) \
                 ORDER BY r.received_at, r.request_id LIMIT $2"
            ))
            .bind(from)
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(item_from_row)
                .collect::<DomainResult<Vec<_>>>()?
        }
        Source::ClickHouse(ch) => ch.fetch(from, BATCH * 10).await?,
    };
    let Some(last) = fetched.iter().map(|(p, _)| *p).max() else {
        return Ok(0);
    };
    let ids: Vec<&str> = fetched.iter().map(|(_, i)| i.request_id.as_str()).collect();
    let done = match source {
        Source::Sql => HashSet::new(),
        Source::ClickHouse(_) => charged_ids(&mut conn, &ids).await?,
    };
    drop(conn);
    let items: Vec<UsageItem> = fetched
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| !done.contains(&i.request_id))
        .collect();
    let n = charge(db, settings, &items).await?;
    let mut conn = db.pool().acquire().await?;
    set_cursor(&mut conn, source.name(), last).await?;
    Ok(n)
}

/// Charges every uncharged row of `[start, end)` by request time (month
/// close: whatever the cursor may have missed). Returns how many.
pub async fn sweep(
    db: &Db,
    settings: &Settings,
    source: &Source,
    start_ms: i64,
    end_ms: i64,
) -> DomainResult<usize> {
    let mut total = 0;
    match source {
        Source::Sql => loop {
            let mut conn = db.pool().acquire().await?;
            let rows = sqlx::query(&format!(
                "{SQL_ITEM} WHERE r.ts_ms >= $1 AND r.ts_ms < $2 AND NOT EXISTS \
                 (SELECT 1 FROM usage_charges c WHERE c.request_id = r.request_id) \
                 ORDER BY r.received_at, r.request_id LIMIT $3"
            ))
            .bind(start_ms)
            .bind(end_ms)
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?;
            drop(conn);
            if rows.is_empty() {
                return Ok(total);
            }
            let items = rows
                .iter()
                .map(|r| item_from_row(r).map(|(_, i)| i))
                .collect::<DomainResult<Vec<_>>>()?;
            total += charge(db, settings, &items).await?;
        },
        Source::ClickHouse(ch) => {
            let fetched = ch.fetch_period(start_ms, end_ms).await?;
            for chunk in fetched.chunks(BATCH as usize) {
                let mut conn = db.pool().acquire().await?;
                let ids: Vec<&str> = chunk.iter().map(|(_, i)| i.request_id.as_str()).collect();
                let done = charged_ids(&mut conn, &ids).await?;
                drop(conn);
                let items: Vec<UsageItem> = chunk
                    .iter()
                    .map(|(_, i)| i.clone())
                    .filter(|i| !done.contains(&i.request_id))
                    .collect();
                total += charge(db, settings, &items).await?;
            }
            Ok(total)
        }
    }
}

/// The part of a row's cost beyond the allowance: its tokens from
/// `used_before` on are split at `allowance`; the overage's share of the
/// cost, rounded up to a nano-unit as the gateway's counters do (all of it
/// when every token is beyond).
pub fn split(allowance: i64, used_before: i64, tokens: i64, cost_nanos: i64) -> (i64, i64) {
    if tokens <= 0 {
        // Nothing metered in tokens (a refused or failed call): nothing
        // beyond the allowance, as the gateway counts it.
        return (0, 0);
    }
    let over = (used_before + tokens - allowance).clamp(0, tokens);
    (over, money::share_up(cost_nanos, over, tokens))
}

/// Running totals of one developer and period.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    requests: i64,
    tokens: i64,
    cost: i64,
    charged: i64,
}

async fn totals(
    conn: &mut AnyConnection,
    developer_id: &str,
    period: &str,
) -> DomainResult<Totals> {
    let row = sqlx::query(
        "SELECT requests, tokens, cost_nanos, charged_nanos FROM billing_usage \
         WHERE developer_id = $1 AND period = $2",
    )
    .bind(developer_id)
    .bind(period)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Totals {
            requests: r.try_get("requests")?,
            tokens: r.try_get("tokens")?,
            cost: r.try_get("cost_nanos")?,
            charged: r.try_get("charged_nanos")?,
        },
        None => Totals::default(),
    })
}

/// Periods already closed (their invoices finalized).
pub async fn closed_periods(conn: &mut AnyConnection) -> DomainResult<HashSet<String>> {
    let rows = sqlx::query("SELECT period FROM billing_periods")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("period")?))
        .collect()
}

/// The period a row is charged to: its month, or the current one when its
/// month is closed.
fn period_for(ts_ms: i64, now_ms: i64, closed: &HashSet<String>) -> String {
    let own = month_of(ts_ms).name;
    if closed.contains(&own) {
        month_of(now_ms).name
    } else {
        own
    }
}

/// Serialises chargers across control planes on PostgreSQL (SQLite's
/// single writer already does).
async fn lock(conn: &mut AnyConnection, backend: Backend) -> DomainResult<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7031001)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Charges `items` (skipping any already charged) in one transaction.
pub async fn charge(db: &Db, settings: &Settings, items: &[UsageItem]) -> DomainResult<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let mut by_developer: BTreeMap<&str, Vec<&UsageItem>> = BTreeMap::new();
    for i in items {
        by_developer
            .entry(i.developer_id.as_str())
            .or_default()
            .push(i);
    }
    let now = db::now_ms();
    let mut tx = db.begin_write().await?;
    lock(&mut tx, db.backend()).await?;
    let closed = closed_periods(&mut tx).await?;
    let mut charged_rows = 0;
    for (developer_id, rows) in by_developer {
        charged_rows +=
            charge_developer(&mut tx, settings, developer_id, &rows, now, &closed).await?;
    }
    tx.commit().await?;
    Ok(charged_rows)
}

async fn charge_developer(
    conn: &mut AnyConnection,
    settings: &Settings,
    developer_id: &str,
    rows: &[&UsageItem],
    now: i64,
    closed: &HashSet<String>,
) -> DomainResult<usize> {
    let known = !developer_id.is_empty()
        && sqlx::query("SELECT id FROM developers WHERE id = $1")
            .bind(developer_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
    let sub = if known {
        Some(plans::subscription(conn, developer_id).await?)
    } else {
        None
    };
    let allowance = sub.as_ref().map_or(0, |s| s.included_tokens);
    let mut periods: HashMap<String, (Totals, Totals)> = HashMap::new();
    // (day, model) → (requests, cost, charged), for revenue_daily.
    let mut revenue: HashMap<(i64, &str), (i64, i64, i64)> = HashMap::new();
    let mut n = 0;
    for row in rows {
        let period = period_for(row.ts_ms, now, closed);
        if !periods.contains_key(&period) {
            let t = totals(conn, developer_id, &period).await?;
            periods.insert(period.clone(), (t, t));
        }
        let Some((_, state)) = periods.get_mut(&period) else {
            continue;
        };
        let (over, charged) = if known {
            split(allowance, state.tokens, row.tokens, row.cost_nanos)
        } else {
            (0, 0)
        };
        let inserted = sqlx::query(
            "INSERT INTO usage_charges (request_id, ts_ms, developer_id, key_id, period, model, \
             tokens, over_tokens, cost_nanos, charged_nanos, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(&row.request_id)
        .bind(row.ts_ms)
        .bind(developer_id)
        .bind(&row.key_id)
        .bind(&period)
        .bind(&row.model)
        .bind(row.tokens)
        .bind(over)
        .bind(row.cost_nanos)
        .bind(charged)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 0 {
            continue;
        }
        let r = revenue
            .entry((row.ts_ms.div_euclid(DAY_MS) * DAY_MS, row.model.as_str()))
            .or_default();
        r.0 += 1;
        r.1 += row.cost_nanos;
        r.2 += charged;
        n += 1;
        state.requests += 1;
        state.tokens += row.tokens;
        state.cost += row.cost_nanos;
        state.charged += charged;
    }
    let plan_id = sub.as_ref().map_or("", |s| s.plan.id.as_str());
    for ((day, model), (requests, cost, charged)) in &revenue {
        sqlx::query(
            "INSERT INTO revenue_daily (day_ms, plan_id, model, requests, cost_nanos, charged_nanos) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day_ms, plan_id, model) DO UPDATE SET \
             requests = revenue_daily.requests + excluded.requests, \
             cost_nanos = revenue_daily.cost_nanos + excluded.cost_nanos, \
             charged_nanos = revenue_daily.charged_nanos + excluded.charged_nanos",
        )
        .bind(day)
        .bind(plan_id)
        .bind(*model)
        .bind(requests)
        .bind(cost)
        .bind(charged)
        .execute(&mut *conn)
        .await?;
    }
    let Some(sub) = sub else {
        return Ok(n);
    };
    let mut balance = credit::balance(conn, developer_id).await?;
    let balance_before = balance;
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key_id.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for (period, (before, after)) in &periods {
        sqlx::query(
            "INSERT INTO billing_usage (developer_id, period, requests, tokens, cost_nanos, charged_nanos) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (developer_id, period) DO UPDATE SET requests = excluded.requests, \
             tokens = excluded.tokens, cost_nanos = excluded.cost_nanos, \
             charged_nanos = excluded.charged_nanos",
        )
        .bind(developer_id)
        .bind(period)
        .bind(after.requests)
        .bind(after.tokens)
        .bind(after.cost)
        .bind(after.charged)
        .execute(&mut *conn)
        .await?;
        let amount = after.charged - before.charged;
        if amount > 0 {
            let from_credit = if sub.overage == plans::Overage::Prepaid {
                let promo = balance.promo.clamp(0, amount);
                let paid = balance.paid.clamp(0, amount - promo);
                balance.promo -= promo;
                balance.paid -= paid;
                (promo, paid)
            } else {
                (0, 0)
            };
            let id = post_charge(conn, developer_id, period, amount, from_credit).await?;
            sqlx::query(
                "UPDATE usage_charges SET transaction_id = $1 WHERE developer_id = $2 \
                 AND period = $3 AND transaction_id IS NULL AND charged_nanos <> 0",
            )
            .bind(&id)
            .bind(developer_id)
            .bind(period)
            .execute(&mut *conn)
            .await?;
        }
        alerts::allowance(conn, settings, developer_id, period, &sub, after.tokens).await?;
    }
    alerts::keys(conn, settings, developer_id, &keys, now).await?;
    if sub.overage == plans::Overage::Prepaid {
        alerts::balance(
            conn,
            settings,
            developer_id,
            balance_before.total(),
            balance.total(),
            now,
        )
        .await?;
    }
    Ok(n)
}

/// Posts one usage charge: `from_credit` (promotional, paid) from the
/// developer's credit, the rest receivable; all of it usage revenue.
async fn post_charge(
    conn: &mut AnyConnection,
    developer_id: &str,
    period: &str,
    amount: i64,
    (promo, paid): (i64, i64),
) -> DomainResult<String> {
    let mut postings = Vec::with_capacity(4);
    let receivable = amount - promo - paid;
    for (kind, nanos) in [
        (AccountKind::CreditPromo, promo),
        (AccountKind::CreditPaid, paid),
        (AccountKind::Receivable, receivable),
    ] {
        if nanos != 0 {
            postings.push(Posting {
                account_id: ledger::account(conn, Some(developer_id), kind).await?,
                amount: nanos_to_decimal(nanos),
            });
        }
    }
    postings.push(Posting {
        account_id: ledger::account(conn, None, AccountKind::RevenueUsage).await?,
        amount: -nanos_to_decimal(amount),
    });
    let posted = ledger::post(
        conn,
        &NewTransaction {
            kind: "usage_charge".into(),
            idempotency_key: None,
            developer_id: Some(developer_id.into()),
            memo: format!("Usage beyond the included tokens, {period}"),
            postings,
        },
    )
    .await?;
    sqlx::query("UPDATE ledger_transactions SET period = $1 WHERE id = $2")
        .bind(period)
        .bind(&posted.id)
        .execute(&mut *conn)
        .await?;
    Ok(posted.id)
}

/// Every usage charge ever posted for the developer, nano-units.
pub async fn charged_total(conn: &mut AnyConnection, developer_id: &str) -> DomainResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(charged_nanos), 0) AS BIGINT) AS total FROM billing_usage \
         WHERE developer_id = $1",
    )
    .bind(developer_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("total")?)
}

/// The developer's totals for a period: (requests, tokens, cost, charged).
pub async fn period_totals(
    conn: &mut AnyConnection,
    developer_id: &str,
    period: &str,
) -> DomainResult<(i64, i64, i64, i64)> {
    let t = totals(conn, developer_id, period).await?;
    Ok((t.requests, t.tokens, t.cost, t.charged))
}

/// The charger: a round every `interval` until `shutdown` fires.
pub fn spawn(
    db: Db,
    settings: Settings,
    source: Source,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            loop {
                match run_once(&db, &settings, &source).await {
                    Ok(n) if n as i64 >= BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "charging usage failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_row_straddling_the_allowance_pays_for_its_overage_only() {
        // 1,000 included, 900 used: 300 tokens → 200 over, 2/3 of the cost.
        assert_eq!(split(1000, 900, 300, 3000), (200, 2000));
        assert_eq!(split(1000, 900, 300, 1000), (200, 667));
        assert_eq!(split(1000, 0, 300, 3000), (0, 0));
        assert_eq!(split(1000, 1000, 300, 3000), (300, 3000));
        assert_eq!(split(0, 0, 7, 10), (7, 10));
        assert_eq!(split(1000, 2000, 0, 5), (0, 0));
        assert_eq!(split(1000, 10, 0, 5), (0, 0));
    }

    proptest! {
        #[test]
        fn charges_never_exceed_cost_and_sum_to_the_overage(
            allowance in 0i64..10_000,
            rows in proptest::collection::vec((0i64..5_000, 0i64..1_000_000), 1..40),
        ) {
            let mut used = 0;
            let mut charged = 0;
            let mut over_tokens = 0;
            for (tokens, cost) in &rows {
                let (over, c) = split(allowance, used, *tokens, *cost);
                prop_assert!(c >= 0 && c <= *cost);
                prop_assert!(over >= 0 && over <= *tokens);
                used += tokens;
                charged += c;
                over_tokens += over;
            }
            // Every token beyond the allowance was counted as overage, once.
            let total: i64 = rows.iter().map(|r| r.0).sum();
            prop_assert_eq!(over_tokens, (total - allowance).max(0));
            // Fully beyond the allowance, the whole cost of every metered row is charged.
            if allowance == 0 {
                let cost: i64 = rows.iter().filter(|r| r.0 > 0).map(|r| r.1).sum();
                prop_assert_eq!(charged, cost);
            }
        }
    }
}

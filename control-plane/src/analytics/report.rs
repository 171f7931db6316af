//! The analytics API's answers (shapes in `control-plane/docs/analytics-api.md`).

use super::store::{Dim, Filter, Percentiles, Scope, Store, SumRow, Time};
use super::{round, Measures, Period, DAY_MS, HISTOGRAM_ERROR, HOUR_MS, TDIGEST_ERROR};
use crate::billing::{money, plans};
use crate::catalog::prices::stored_price;
use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use aihub_contract::money::decimal_to_nanos;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// `(current - previous) / previous`, `None` when previous is 0.
fn change(current: f64, previous: f64) -> Option<f64> {
    (previous != 0.0).then(|| round((current - previous) / previous, 4))
}

fn totals(rows: &[SumRow]) -> Measures {
    rows.iter().map(|r| &r.m).sum()
}

fn pct(p: Option<[f64; 4]>, i: usize) -> Value {
    p.map_or(Value::Null, |v| json!(v[i]))
}

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round(part as f64 / whole as f64, 4)
    }
}

/// The developer totals object of `overview`.
fn usage_totals(m: &Measures, p: &Percentiles) -> Value {
    json!({
        "requests": m.requests,
        "errors": m.errors,
        "error_rate": m.error_rate(),
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "cached_tokens": m.cached_tokens,
        "tokens": m.tokens(),
        "cost": money::format(m.cost_nanos),
        "avg_latency_ms": m.avg_latency(),
        "p95_latency_ms": pct(p.latency, 2),
        "avg_ttft_ms": m.avg_ttft(),
    })
}

async fn totals_of(
    store: &Store,
    scope: Scope<'_>,
    p: &Period,
) -> DomainResult<(Measures, Percentiles)> {
    // Independent reads run at once (each is a round trip to ClickHouse).
    let (rows, pcts) = tokio::try_join!(
        store.sums(
            scope,
            p.start_ms,
            p.end_ms,
            Time::Total,
            &[],
            Filter::default()
        ),
        store.percentiles(scope, p.start_ms, p.end_ms, None),
    )?;
    Ok((totals(&rows), pcts.overall))
}

/// `GET /api/v1/developer/analytics/overview`
pub async fn overview(store: &Store, developer_id: &str, p: &Period) -> DomainResult<Value> {
    let scope = Scope::Developer(developer_id);
    let prev = p.previous();
    let ((cur, cur_p), (old, old_p)) =
        tokio::try_join!(totals_of(store, scope, p), totals_of(store, scope, &prev))?;
    let f = |v: Option<f64>| v.unwrap_or(0.0);
    Ok(json!({
        "period": p.json(),
        "previous_period": {"from": Period::date(prev.from), "to": Period::date(prev.to)},
        "current": usage_totals(&cur, &cur_p),
        "previous": usage_totals(&old, &old_p),
        "change": {
            "requests": change(cur.requests as f64, old.requests as f64),
            "tokens": change(cur.tokens() as f64, old.tokens() as f64),
            "cost": change(cur.cost_nanos as f64, old.cost_nanos as f64),
            "error_rate": (old.requests > 0 && cur.requests > 0)
                .then(|| round(cur.error_rate() - old.error_rate(), 4)),
            "avg_latency_ms": change(f(cur.avg_latency()), f(old.avg_latency())),
            "p95_latency_ms": change(
                cur_p.latency.map_or(0.0, |v| v[2]),
                old_p.latency.map_or(0.0, |v| v[2])
            ),
        },
    }))
}

/// Names of a developer's keys (deleted keys answer their id).
async fn key_names(db: &Db, developer_id: &str) -> DomainResult<HashMap<String, String>> {
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query("SELECT id, name FROM api_keys WHERE developer_id = $1")
        .bind(developer_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
}

/// The longest period trends answer by the hour (168 points).
pub const MAX_HOURLY_DAYS: i64 = 7;

/// Trend intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
}

/// `GET /api/v1/developer/analytics/trends`
pub async fn trends(
    store: &Store,
    db: &Db,
    developer_id: &str,
    p: &Period,
    interval: Interval,
    group_by: Option<Dim>,
) -> DomainResult<Value> {
    if interval == Interval::Hour && p.days() > MAX_HOURLY_DAYS {
        return Err(DomainError::invalid(format!(
            "interval: hour needs a period of at most {MAX_HOURLY_DAYS} days"
        )));
    }
    // Bucket starts (UTC ms) and labels.
    let buckets: Vec<(i64, String)> = match interval {
        Interval::Day => p
            .day_buckets()
            .into_iter()
            .map(|(d, t)| (t, Period::date(d)))
            .collect(),
        Interval::Hour => (0..(p.end_ms - p.start_ms) / HOUR_MS)
            .map(|i| {
                let t = p.start_ms + i * HOUR_MS;
                (t, p.local(t, "%Y-%m-%d %H:%M"))
            })
            .collect(),
    };
    // UTC days line up with local days only in UTC.
    let utc_days =
        interval == Interval::Day && p.start_ms % DAY_MS == 0 && p.tz == chrono_tz::Tz::UTC;
    let time = if utc_days { Time::Day } else { Time::Hour };
    let dims: Vec<Dim> = group_by.into_iter().collect();
    let rows = store
        .sums(
            Scope::Developer(developer_id),
            p.start_ms,
            p.end_ms,
            time,
            &dims,
            Filter::default(),
        )
        .await?;
    let starts: Vec<i64> = buckets.iter().map(|(t, _)| *t).collect();
    let index = |t: i64| -> Option<usize> {
        match starts.binary_search(&t) {
            Ok(i) => Some(i),
            Err(0) => None,
            Err(i) => Some(i - 1),
        }
    };
    let mut series: HashMap<String, Vec<Measures>> = HashMap::new();
    for r in rows {
        let group = r.keys.first().cloned().unwrap_or_else(|| "all".into());
        if let Some(i) = index(r.t) {
            let s = series
                .entry(group)
                .or_insert_with(|| vec![Measures::default(); buckets.len()]);
            s[i].add(&r.m);
        }
    }
    if series.is_empty() && group_by.is_none() {
        series.insert("all".into(), vec![Measures::default(); buckets.len()]);
    }
    let names = if group_by == Some(Dim::Key) {
        key_names(db, developer_id).await?
    } else {
        HashMap::new()
    };
    let mut ordered: Vec<(String, Vec<Measures>)> = series.into_iter().collect();
    ordered.sort_by(|a, b| {
        let (ta, tb): (Measures, Measures) = (a.1.iter().sum(), b.1.iter().sum());
        tb.cost_nanos
            .cmp(&ta.cost_nanos)
            .then(tb.requests.cmp(&ta.requests))
            .then(a.0.cmp(&b.0))
    });
    Ok(json!({
        "period": p.json(),
        "interval": match interval { Interval::Hour => "hour", Interval::Day => "day" },
        "group_by": group_by.map_or("none", dim_name),
        "buckets": buckets.iter().map(|(t, l)| json!({"t": t, "label": l})).collect::<Vec<_>>(),
        "series": ordered.iter().map(|(g, points)| json!({
            "group": g,
            "name": names.get(g).cloned().unwrap_or_else(|| g.clone()),
            "points": points.iter().zip(&buckets).map(|(m, (t, _))| json!({
                "t": t,
                "requests": m.requests,
                "errors": m.errors,
                "tokens": m.tokens(),
                "cost": money::format(m.cost_nanos),
                "avg_latency_ms": m.avg_latency().unwrap_or(0.0),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

fn dim_name(d: Dim) -> &'static str {
    match d {
        Dim::Key => "key",
        Dim::Model => "model",
        Dim::Endpoint => "endpoint",
        Dim::Provider => "provider",
        Dim::Deployment => "deployment",
    }
}

/// A model's list prices per million tokens (input, output, cached).
type PriceTriple = (Decimal, Decimal, Decimal);

async fn model_prices(db: &Db) -> DomainResult<HashMap<String, PriceTriple>> {
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(
        "SELECT name, input_price_per_million, output_price_per_million, \
         cached_price_per_million FROM models WHERE enabled = $1",
    )
    .bind(true)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let name: String = r.try_get("name")?;
        let get = |c: &str| -> DomainResult<Decimal> { stored_price(&r.try_get::<String, _>(c)?) };
        out.insert(
            name,
            (
                get("input_price_per_million")?,
                get("output_price_per_million")?,
                get("cached_price_per_million")?,
            ),
        );
    }
    Ok(out)
}

/// Nanos of `m`'s tokens at per-million prices (cached prompt tokens at
/// the cached price).
fn cost_at(m: &Measures, prices: &PriceTriple) -> i64 {
    let per_million = |tokens: i64, price: Decimal| -> Decimal {
        Decimal::from(tokens.max(0)) * price / Decimal::from(1_000_000)
    };
    let uncached = (m.prompt_tokens - m.cached_tokens).max(0);
    let total = per_million(uncached, prices.0)
        + per_million(m.completion_tokens, prices.1)
        + per_million(m.cached_tokens.min(m.prompt_tokens), prices.2);
    decimal_to_nanos(total).unwrap_or(i64::MAX)
}

/// Suggestions need at least this saving (fraction of the model's cost).
const CHEAPER_BY: f64 = 0.3;

/// Rows grouped by several dimensions summed by the `i`-th alone.
fn regroup(rows: &[SumRow], i: usize) -> Vec<SumRow> {
    let mut by: BTreeMap<String, Measures> = BTreeMap::new();
    for r in rows {
        let key = r.keys.get(i).cloned().unwrap_or_default();
        by.entry(key).or_default().add(&r.m);
    }
    by.into_iter()
        .map(|(k, m)| SumRow {
            t: 0,
            keys: vec![k],
            m,
        })
        .collect()
}

/// `GET /api/v1/developer/analytics/costs`
pub async fn costs(store: &Store, db: &Db, developer_id: &str, p: &Period) -> DomainResult<Value> {
    let scope = Scope::Developer(developer_id);
    let now = db::now_ms();
    let (month, elapsed, days_in_month) = Period::this_month(p.tz, now);
    let (by_model_key, mtd, names, prices, upgrade) = tokio::try_join!(
        // By model and key in one read, folded below.
        store.sums(
            scope,
            p.start_ms,
            p.end_ms,
            Time::Total,
            &[Dim::Model, Dim::Key],
            Filter::default()
        ),
        // Month to date in the caller's zone, scaled to the month.
        store.sums(
            scope,
            month.start_ms,
            (now.div_euclid(HOUR_MS) + 1) * HOUR_MS,
            Time::Total,
            &[],
            Filter::default(),
        ),
        key_names(db, developer_id),
        model_prices(db),
        upgrade_suggestion(db, developer_id, now),
    )?;
    let (by_model, by_key) = (regroup(&by_model_key, 0), regroup(&by_model_key, 1));
    let total = totals(&by_model);
    let mut models: Vec<&SumRow> = by_model.iter().collect();
    models.sort_by(|a, b| {
        b.m.cost_nanos
            .cmp(&a.m.cost_nanos)
            .then(a.keys.cmp(&b.keys))
    });
    let mut keys: Vec<&SumRow> = by_key.iter().collect();
    keys.sort_by(|a, b| {
        b.m.cost_nanos
            .cmp(&a.m.cost_nanos)
            .then(a.keys.cmp(&b.keys))
    });

    let mtd_cost = totals(&mtd).cost_nanos;
    let projected = if elapsed > 0 {
        mtd_cost.saturating_mul(days_in_month) / elapsed
    } else {
        mtd_cost
    };

    let mut suggestions = Vec::new();

    for r in &models {
        let model = r.keys.first().cloned().unwrap_or_default();
        let Some(current) = prices.get(&model) else {
            continue;
        };
        let now_cost = cost_at(&r.m, current);
        if now_cost <= 0 {
            continue;
        }
        // The dearest model that still saves enough (closest in kind).
        let best = prices
            .iter()
            .filter(|(name, _)| **name != model)
            .map(|(name, pr)| (name, cost_at(&r.m, pr)))
            .filter(|(_, c)| (*c as f64) <= now_cost as f64 * (1.0 - CHEAPER_BY))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
        if let Some((alt, alt_cost)) = best {
            let saving = 1.0 - alt_cost as f64 / now_cost as f64;
            suggestions.push(json!({
                "kind": "cheaper_model",
                "model": model,
                "alternative": alt,
                "estimated_savings": money::format(r.m.cost_nanos - (r.m.cost_nanos as f64 * (1.0 - saving)).round() as i64),
                "message": format!(
                    "{alt} costs {:.0}% less than {model} for the same tokens.",
                    saving * 100.0
                ),
            }));
        }
    }
    if let Some(s) = upgrade {
        suggestions.push(s);
    }

    Ok(json!({
        "period": p.json(),
        "total_cost": money::format(total.cost_nanos),
        "by_model": models.iter().map(|r| json!({
            "model": r.keys.first(),
            "requests": r.m.requests,
            "prompt_tokens": r.m.prompt_tokens,
            "completion_tokens": r.m.completion_tokens,
            "tokens": r.m.tokens(),
            "cost": money::format(r.m.cost_nanos),
            "cost_per_1k_tokens": money::format(if r.m.tokens() > 0 {
                ((r.m.cost_nanos as i128 * 1000) / r.m.tokens() as i128) as i64
            } else { 0 }),
            "share": share(r.m.cost_nanos, total.cost_nanos),
        })).collect::<Vec<_>>(),
        "by_key": keys.iter().map(|r| {
            let id = r.keys.first().cloned().unwrap_or_default();
            json!({
                "key_id": id,
                "name": names.get(&id).cloned().unwrap_or_else(|| id.clone()),
                "requests": r.m.requests,
                "tokens": r.m.tokens(),
                "cost": money::format(r.m.cost_nanos),
                "share": share(r.m.cost_nanos, total.cost_nanos),
            })
        }).collect::<Vec<_>>(),
        "projection": {
            "month": month.local(month.start_ms + HOUR_MS * 12, "%Y-%m"),
            "month_to_date_cost": money::format(mtd_cost),
            "projected_month_end_cost": money::format(projected),
            "days_elapsed": elapsed,
            "days_in_month": days_in_month,
        },
        "suggestions": suggestions,
    }))
}

/// `upgrade_plan` when a dearer self-service plan would have cost less
/// this month (UTC) than the current plan's fee plus its overage charges.
async fn upgrade_suggestion(db: &Db, developer_id: &str, now: i64) -> DomainResult<Option<Value>> {
    let mut conn = db.pool().acquire().await?;
    let exists = sqlx::query("SELECT id FROM developers WHERE id = $1")
        .bind(developer_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let sub = plans::subscription(&mut conn, developer_id).await?;
    let period = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y-%m")
        .to_string();
    let Some(row) = sqlx::query(
        "SELECT tokens, cost_nanos, charged_nanos FROM billing_usage \
         WHERE developer_id = $1 AND period = $2",
    )
    .bind(developer_id)
    .bind(&period)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let tokens: i64 = row.try_get("tokens")?;
    let cost: i64 = row.try_get("cost_nanos")?;
    let charged: i64 = row.try_get("charged_nanos")?;
    if tokens <= 0 || charged <= 0 {
        return Ok(None);
    }
    let current = sub.price_nanos + charged;
    let per_token = cost as f64 / tokens as f64;
    let best = plans::list(&mut conn)
        .await?
        .into_iter()
        .filter(|p| p.public && p.price_nanos > sub.price_nanos && p.id != sub.plan.id)
        .map(|p| {
            let over = (tokens - p.included_tokens).max(0);
            let c = p.price_nanos + (over as f64 * per_token).round() as i64;
            (p, c)
        })
        .filter(|(_, c)| *c < current)
        .min_by_key(|(_, c)| *c);
    Ok(best.map(|(p, c)| {
        json!({
            "kind": "upgrade_plan",
            "plan": p.id,
            "estimated_savings": money::format(current - c),
            "message": format!(
                "On {} ({} a month, {} tokens included) this month would have cost {} instead of {}.",
                p.name,
                money::format(p.price_nanos),
                p.included_tokens,
                money::format(c),
                money::format(current)
            ),
        })
    }))
}

/// `GET /api/v1/developer/analytics/performance`
pub async fn performance(store: &Store, developer_id: &str, p: &Period) -> DomainResult<Value> {
    let scope = Scope::Developer(developer_id);
    let (by_model, pcts) = tokio::try_join!(
        store.sums(
            scope,
            p.start_ms,
            p.end_ms,
            Time::Total,
            &[Dim::Model],
            Filter::default()
        ),
        store.percentiles(scope, p.start_ms, p.end_ms, Some(Dim::Model)),
    )?;
    let total = totals(&by_model);
    let (o, per_model) = (pcts.overall, pcts.by);
    let mut models: Vec<&SumRow> = by_model.iter().collect();
    models.sort_by(|a, b| b.m.requests.cmp(&a.m.requests).then(a.keys.cmp(&b.keys)));
    let fallback_rate = if total.requests > 0 {
        round(total.fallbacks as f64 / total.requests as f64, 4)
    } else {
        0.0
    };
    Ok(json!({
        "period": p.json(),
        "latency_ms": {"avg": total.avg_latency(), "p50": pct(o.latency, 0), "p95": pct(o.latency, 2), "p99": pct(o.latency, 3)},
        "ttft_ms": {"avg": total.avg_ttft(), "p50": pct(o.ttft, 0), "p95": pct(o.ttft, 2), "p99": pct(o.ttft, 3)},
        "requests": total.requests,
        "errors": total.errors,
        "error_rate": total.error_rate(),
        "fallbacks": total.fallbacks,
        "fallback_rate": fallback_rate,
        "status": [
            {"class": "2xx", "count": total.s2xx},
            {"class": "4xx", "count": total.s4xx},
            {"class": "429", "count": total.s429},
            {"class": "5xx", "count": total.s5xx},
        ],
        "by_model": models.iter().map(|r| {
            let model = r.keys.first().cloned().unwrap_or_default();
            let q = per_model.get(&model).copied().unwrap_or_default();
            json!({
                "model": model,
                "requests": r.m.requests,
                "errors": r.m.errors,
                "error_rate": r.m.error_rate(),
                "p50_ms": pct(q.latency, 0),
                "p95_ms": pct(q.latency, 2),
                "p99_ms": pct(q.latency, 3),
                "ttft_p95_ms": pct(q.ttft, 2),
                "fallbacks": r.m.fallbacks,
            })
        }).collect::<Vec<_>>(),
        "percentile_error": if store.is_clickhouse() { TDIGEST_ERROR } else { HISTOGRAM_ERROR },
    }))
}

// ------------------------------------------------------------------ operator

/// Revenue rows: `(day start ms, plan, model, usage revenue, subscription revenue)`.
async fn revenue_rows(db: &Db, p: &Period) -> DomainResult<Vec<(i64, String, String, i64, i64)>> {
    let mut conn = db.pool().acquire().await?;
    let first = p.start_ms.div_euclid(DAY_MS) * DAY_MS;
    let mut out = Vec::new();
    for r in sqlx::query(
        "SELECT day_ms, plan_id, model, charged_nanos FROM revenue_daily \
         WHERE day_ms >= $1 AND day_ms < $2",
    )
    .bind(first)
    .bind(p.end_ms)
    .fetch_all(&mut *conn)
    .await?
    {
        out.push((
            r.try_get("day_ms")?,
            r.try_get("plan_id")?,
            r.try_get("model")?,
            r.try_get("charged_nanos")?,
            0,
        ));
    }
    // Subscription fees: credits to the subscription revenue account (a
    // void posts them back), by the developer's plan.
    for r in sqlx::query(
        "SELECT e.created_at, COALESCE(s.plan_id, '') AS plan_id, e.amount_nanos \
         FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id \
         JOIN ledger_transactions t ON t.id = e.transaction_id \
         LEFT JOIN subscriptions s ON s.developer_id = t.developer_id \
         WHERE a.kind = 'revenue_subscription' AND e.created_at >= $1 AND e.created_at < $2",
    )
    .bind(p.start_ms)
    .bind(p.end_ms)
    .fetch_all(&mut *conn)
    .await?
    {
        let at: i64 = r.try_get("created_at")?;
        let amount: i64 = r.try_get("amount_nanos")?;
        out.push((
            at.div_euclid(DAY_MS) * DAY_MS,
            r.try_get("plan_id")?,
            String::new(),
            0,
            -amount,
        ));
    }
    Ok(out)
}

/// Upstream prices per deployment.
async fn upstream_prices(db: &Db) -> DomainResult<HashMap<String, PriceTriple>> {
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(
        "SELECT id, upstream_input_price_per_million, upstream_output_price_per_million, \
         upstream_cached_price_per_million FROM deployments",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let get = |c: &str| -> DomainResult<Decimal> { stored_price(&r.try_get::<String, _>(c)?) };
        out.insert(
            r.try_get("id")?,
            (
                get("upstream_input_price_per_million")?,
                get("upstream_output_price_per_million")?,
                get("upstream_cached_price_per_million")?,
            ),
        );
    }
    Ok(out)
}

/// Per model: usage measures and upstream cost.
async fn margin_rows(
    store: &Store,
    db: &Db,
    p: &Period,
) -> DomainResult<Vec<(String, Measures, i64)>> {
    let rows = store
        .sums(
            Scope::Platform,
            p.start_ms,
            p.end_ms,
            Time::Total,
            &[Dim::Model, Dim::Deployment],
            Filter::default(),
        )
        .await?;
    let prices = upstream_prices(db).await?;
    let mut by_model: HashMap<String, (Measures, i64)> = HashMap::new();
    for r in rows {
        let model = r.keys.first().cloned().unwrap_or_default();
        let deployment = r.keys.get(1).cloned().unwrap_or_default();
        let upstream = prices.get(&deployment).map_or(0, |pr| cost_at(&r.m, pr));
        let e = by_model.entry(model).or_default();
        e.0.add(&r.m);
        e.1 += upstream;
    }
    let mut out: Vec<(String, Measures, i64)> =
        by_model.into_iter().map(|(k, (m, u))| (k, m, u)).collect();
    out.sort_by(|a, b| b.1.cost_nanos.cmp(&a.1.cost_nanos).then(a.0.cmp(&b.0)));
    Ok(out)
}

async fn new_developers(db: &Db, p: &Period) -> DomainResult<Vec<i64>> {
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(
        "SELECT created_at FROM developers WHERE role <> 'admin' AND created_at >= $1 AND created_at < $2",
    )
    .bind(p.start_ms)
    .bind(p.end_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("created_at")?)).collect()
}

struct Business {
    revenue: i64,
    usage_value: i64,
    upstream: i64,
    requests: i64,
    tokens: i64,
    active: i64,
    new: i64,
}

async fn business(store: &Store, db: &Db, p: &Period) -> DomainResult<Business> {
    let (revenue, margins, active, new) = tokio::try_join!(
        revenue_rows(db, p),
        margin_rows(store, db, p),
        store.active_developers(p.start_ms, p.end_ms),
        new_developers(db, p),
    )?;
    let revenue: i64 = revenue.iter().map(|r| r.3 + r.4).sum();
    let m: Measures = margins.iter().map(|(_, m, _)| m).sum();
    let upstream: i64 = margins.iter().map(|(_, _, u)| u).sum();

    Ok(Business {
        revenue,
        usage_value: m.cost_nanos,
        upstream,
        requests: m.requests,
        tokens: m.tokens(),
        active,
        new: new.len() as i64,
    })
}

impl Business {
    fn json(&self) -> Value {
        json!({
            "revenue": money::format(self.revenue),
            "usage_value": money::format(self.usage_value),
            "upstream_cost": money::format(self.upstream),
            "margin": money::format(self.usage_value - self.upstream),
            "requests": self.requests,
            "tokens": self.tokens,
            "active_developers": self.active,
            "new_developers": self.new,
        })
    }
}

/// `GET /api/v1/admin/analytics/overview`
pub async fn admin_overview(store: &Store, db: &Db, p: &Period) -> DomainResult<Value> {
    let prev = p.previous();
    let (cur, old) = tokio::try_join!(business(store, db, p), business(store, db, &prev))?;
    let c = |a: i64, b: i64| change(a as f64, b as f64);
    Ok(json!({
        "period": p.json(),
        "previous_period": {"from": Period::date(prev.from), "to": Period::date(prev.to)},
        "current": cur.json(),
        "previous": old.json(),
        "change": {
            "revenue": c(cur.revenue, old.revenue),
            "usage_value": c(cur.usage_value, old.usage_value),
            "margin": c(cur.usage_value - cur.upstream, old.usage_value - old.upstream),
            "requests": c(cur.requests, old.requests),
            "tokens": c(cur.tokens, old.tokens),
            "active_developers": c(cur.active, old.active),
            "new_developers": c(cur.new, old.new),
        },
    }))
}

/// Revenue groupings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevenueBy {
    Day,
    Plan,
    Model,
}

/// `GET /api/v1/admin/analytics/revenue`
pub async fn revenue(db: &Db, p: &Period, by: RevenueBy) -> DomainResult<Value> {
    let rows = revenue_rows(db, p).await?;
    let mut groups: HashMap<String, (i64, i64)> = HashMap::new();
    for (day, plan, model, usage, subscription) in rows {
        let g = match by {
            RevenueBy::Day => p.local(day, "%Y-%m-%d"),
            RevenueBy::Plan => plan,
            RevenueBy::Model => {
                if model.is_empty() {
                    "(subscriptions)".into()
                } else {
                    model
                }
            }
        };
        let e = groups.entry(g).or_default();
        e.0 += usage;
        e.1 += subscription;
    }
    let mut out: Vec<(String, (i64, i64))> = groups.into_iter().collect();
    match by {
        RevenueBy::Day => out.sort_by(|a, b| a.0.cmp(&b.0)),
        _ => out.sort_by(|a, b| {
            (b.1 .0 + b.1 .1)
                .cmp(&(a.1 .0 + a.1 .1))
                .then(a.0.cmp(&b.0))
        }),
    }
    let total: i64 = out.iter().map(|(_, (u, s))| u + s).sum();
    Ok(json!({
        "period": p.json(),
        "group_by": match by { RevenueBy::Day => "day", RevenueBy::Plan => "plan", RevenueBy::Model => "model" },
        "total": money::format(total),
        "rows": out.iter().map(|(g, (u, s))| json!({
            "group": g,
            "usage_revenue": money::format(*u),
            "subscription_revenue": money::format(*s),
            "revenue": money::format(u + s),
        })).collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/admin/analytics/margin`
pub async fn margin(store: &Store, db: &Db, p: &Period) -> DomainResult<Value> {
    let rows = margin_rows(store, db, p).await?;
    Ok(json!({
        "period": p.json(),
        "rows": rows.iter().map(|(model, m, upstream)| json!({
            "model": model,
            "requests": m.requests,
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "usage_value": money::format(m.cost_nanos),
            "upstream_cost": money::format(*upstream),
            "margin": money::format(m.cost_nanos - upstream),
            "margin_rate": if m.cost_nanos > 0 {
                json!(round((m.cost_nanos - upstream) as f64 / m.cost_nanos as f64, 4))
            } else { Value::Null },
        })).collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/admin/analytics/developers`
pub async fn developers(store: &Store, db: &Db, p: &Period, limit: i64) -> DomainResult<Value> {
    let (stats, new) = tokio::try_join!(
        store.developers(p.start_ms, p.end_ms, limit),
        new_developers(db, p)
    )?;
    let mut days: Vec<(String, i64, i64)> = p
        .day_buckets()
        .into_iter()
        .map(|(d, _)| (Period::date(d), 0, 0))
        .collect();
    // Active developers are counted per UTC day.
    for (day, n) in &stats.per_day {
        let label = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*day)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string();
        if let Some(d) = days.iter_mut().find(|d| d.0 == label) {
            d.1 = *n;
        }
    }
    for at in &new {
        let label = p.local(*at, "%Y-%m-%d");
        if let Some(d) = days.iter_mut().find(|d| d.0 == label) {
            d.2 += 1;
        }
    }
    let mut conn = db.pool().acquire().await?;
    let mut top = Vec::new();
    for (id, [requests, tokens, cost]) in &stats.top {
        let who = sqlx::query(
            "SELECT d.email, d.full_name, COALESCE(s.plan_id, '') AS plan_id FROM developers d \
             LEFT JOIN subscriptions s ON s.developer_id = d.id WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let (email, name, plan) = match who {
            Some(r) => (
                r.try_get::<String, _>("email")?,
                r.try_get::<Option<String>, _>("full_name")?
                    .unwrap_or_default(),
                r.try_get::<String, _>("plan_id")?,
            ),
            None => (String::new(), String::new(), String::new()),
        };
        top.push(json!({
            "developer_id": id, "email": email, "name": name, "plan": plan,
            "requests": requests, "tokens": tokens, "cost": money::format(*cost),
        }));
    }
    Ok(json!({
        "period": p.json(),
        "active": stats.active,
        "new": new.len(),
        "days": days.iter().map(|(d, a, n)| json!({"day": d, "active": a, "new": n})).collect::<Vec<_>>(),
        "top": top,
    }))
}

/// `GET /api/v1/admin/analytics/models`
pub async fn models(store: &Store, p: &Period) -> DomainResult<Value> {
    let rows = store
        .sums(
            Scope::Platform,
            p.start_ms,
            p.end_ms,
            Time::Total,
            &[Dim::Model],
            Filter::default(),
        )
        .await?;
    let total = totals(&rows);
    let mut rows: Vec<&SumRow> = rows.iter().collect();
    rows.sort_by(|a, b| b.m.requests.cmp(&a.m.requests).then(a.keys.cmp(&b.keys)));
    Ok(json!({
        "period": p.json(),
        "rows": rows.iter().map(|r| json!({
            "model": r.keys.first(),
            "requests": r.m.requests,
            "tokens": r.m.tokens(),
            "cost": money::format(r.m.cost_nanos),
            "share": share(r.m.requests, total.requests),
        })).collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/admin/analytics/providers`
pub async fn providers(store: &Store, db: &Db, p: &Period) -> DomainResult<Value> {
    let (rows, pcts) = tokio::try_join!(
        store.sums(
            Scope::Platform,
            p.start_ms,
            p.end_ms,
            Time::Total,
            &[Dim::Provider],
            Filter::default()
        ),
        store.percentiles(Scope::Platform, p.start_ms, p.end_ms, Some(Dim::Provider)),
    )?;
    let mut conn = db.pool().acquire().await?;
    let names: HashMap<String, String> = sqlx::query("SELECT id, name FROM providers")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect::<DomainResult<_>>()?;
    let mut rows: Vec<&SumRow> = rows.iter().collect();
    rows.sort_by(|a, b| b.m.requests.cmp(&a.m.requests).then(a.keys.cmp(&b.keys)));
    Ok(json!({
        "period": p.json(),
        "rows": rows.iter().map(|r| {
            let id = r.keys.first().cloned().unwrap_or_default();
            let q = pcts.by.get(&id).copied().unwrap_or_default();
            json!({
                "provider_id": id,
                "provider": names.get(&id).cloned().unwrap_or_else(|| id.clone()),
                "requests": r.m.requests,
                "errors": r.m.errors,
                "error_rate": r.m.error_rate(),
                "fallbacks": r.m.fallbacks,
                "p50_ms": pct(q.latency, 0),
                "p95_ms": pct(q.latency, 2),
                "p99_ms": pct(q.latency, 3),
            })
        }).collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/admin/analytics/report?month=…`: everything above for one
/// month.
pub async fn report(store: &Store, db: &Db, p: &Period) -> DomainResult<Value> {
    Ok(json!({
        "month": Period::date(p.from)[..7],
        "period": p.json(),
        "overview": admin_overview(store, db, p).await?,
        "revenue_by_day": revenue(db, p, RevenueBy::Day).await?,
        "revenue_by_plan": revenue(db, p, RevenueBy::Plan).await?,
        "revenue_by_model": revenue(db, p, RevenueBy::Model).await?,
        "margin": margin(store, db, p).await?,
        "developers": developers(store, db, p, 20).await?,
        "models": models(store, p).await?,
        "providers": providers(store, db, p).await?,
    }))
}

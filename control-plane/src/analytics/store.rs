//! Reads of the rollups: the embedded default's tables ([`super::rollup`])
//! or ClickHouse's materialized rollups, behind the same functions, chosen
//! by the usage source the billing charger reads ([`Source`]).

use super::{histogram_percentiles, parts, Grain, Measures, DAY_MS};
use crate::billing::charges::{quote, unescape, ClickHouseSource, Source};
use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use aihub_contract::calendar::month_of;
use sqlx::Row;
use std::collections::HashMap;

/// Whose rows.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// One developer's (developer rollups).
    Developer(&'a str),
    /// Everyone's (platform rollups).
    Platform,
}

/// A grouping column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// The key (developer scope).
    Key,
    /// The public model.
    Model,
    /// The endpoint (developer scope).
    Endpoint,
    /// The provider (platform scope).
    Provider,
    /// The deployment (platform scope).
    Deployment,
}

impl Dim {
    fn column(self) -> &'static str {
        match self {
            Dim::Key => "key_id",
            Dim::Model => "model",
            Dim::Endpoint => "endpoint",
            Dim::Provider => "provider_id",
            Dim::Deployment => "deployment_id",
        }
    }
}

/// How rows are bucketed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// Not at all: totals of the range.
    Total,
    /// Per UTC hour.
    Hour,
    /// Per UTC day.
    Day,
}

/// Optional filters (developer scope).
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Only this key (its id without a grace suffix).
    pub key: Option<&'a str>,
    /// Only this model.
    pub model: Option<&'a str>,
}

/// A group's measures, at bucket start `t` (0 for [`Time::Total`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SumRow {
    pub t: i64,
    pub keys: Vec<String>,
    pub m: Measures,
}

/// Latency and time-to-first-token percentiles (p50, p90, p95, p99, ms).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub latency: Option<[f64; 4]>,
    pub ttft: Option<[f64; 4]>,
}

impl Percentiles {
    /// Sets the metric's (`l` latency, `t` TTFT) figures.
    fn set(&mut self, metric: &str, p: Option<[f64; 4]>) {
        if metric == "t" {
            self.ttft = p;
        } else {
            self.latency = p;
        }
    }
}

/// Percentiles overall and per group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PercentileSet {
    /// Of every row read.
    pub overall: Percentiles,
    /// Per value of the grouping column (empty without one).
    pub by: HashMap<String, Percentiles>,
}

/// The analytics reader.
#[derive(Clone)]
pub struct Store {
    db: Db,
    source: Source,
}

fn internal(e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(format!("ClickHouse: {e}"))
}

/// Sums rows with equal `(t, keys)`.
fn merge(rows: Vec<SumRow>) -> Vec<SumRow> {
    let mut map: HashMap<(i64, Vec<String>), Measures> = HashMap::new();
    let mut order = Vec::new();
    for r in rows {
        let k = (r.t, r.keys);
        match map.get_mut(&k) {
            Some(m) => m.add(&r.m),
            None => {
                order.push(k.clone());
                map.insert(k, r.m);
            }
        }
    }
    order
        .into_iter()
        .map(|k| {
            let m = map.remove(&k).unwrap_or_default();
            SumRow {
                t: k.0,
                keys: k.1,
                m,
            }
        })
        .collect()
}

impl Store {
    /// A reader of `db`'s rollups or, with a ClickHouse source, of
    /// ClickHouse's.
    pub fn new(db: Db, source: Source) -> Store {
        Store { db, source }
    }

    /// Whether rollups come from ClickHouse.
    pub fn is_clickhouse(&self) -> bool {
        matches!(self.source, Source::ClickHouse(_))
    }

    /// Measures of `[start, end)` (hour-aligned) grouped by `dims`.
    pub async fn sums(
        &self,
        scope: Scope<'_>,
        start: i64,
        end: i64,
        time: Time,
        dims: &[Dim],
        filter: Filter<'_>,
    ) -> DomainResult<Vec<SumRow>> {
        let reads: Vec<(Grain, i64, i64)> = match time {
            Time::Total => parts(start, end),
            Time::Hour => vec![(Grain::Hour, start, end)],
            Time::Day => vec![(Grain::Day, start, end)],
        };
        match &self.source {
            Source::Sql => {
                let mut rows = Vec::new();
                for (grain, s, e) in reads {
                    let with_t = time != Time::Total;
                    rows.extend(
                        self.sql_sums(scope, grain, s, e, with_t, dims, filter)
                            .await?,
                    );
                }
                Ok(merge(rows))
            }
            // One query for every part: each costs ClickHouse a round trip
            // of its own.
            Source::ClickHouse(ch) => ch_sums(ch, scope, &reads, time, dims, filter).await,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn sql_sums(
        &self,
        scope: Scope<'_>,
        grain: Grain,
        start: i64,
        end: i64,
        with_t: bool,
        dims: &[Dim],
        filter: Filter<'_>,
    ) -> DomainResult<Vec<SumRow>> {
        let (table, mut wh) = match scope {
            Scope::Developer(_) => (
                "usage_rollup",
                "developer_id = $1 AND grain = $2 AND t_ms >= $3 AND t_ms < $4".to_string(),
            ),
            Scope::Platform => (
                "platform_rollup",
                "$1 = $1 AND grain = $2 AND t_ms >= $3 AND t_ms < $4".to_string(),
            ),
        };
        if filter.key.is_some() {
            wh.push_str(" AND key_id = $5");
        } else {
            wh.push_str(" AND $5 = $5");
        }
        if filter.model.is_some() {
            wh.push_str(" AND model = $6");
        } else {
            wh.push_str(" AND $6 = $6");
        }
        let mut group: Vec<String> = Vec::new();
        if with_t {
            group.push("t_ms".into());
        }
        group.extend(dims.iter().map(|d| d.column().to_string()));
        let select_keys = if group.is_empty() {
            String::new()
        } else {
            format!("{}, ", group.join(", "))
        };
        let sums = Measures::COLUMNS
            .iter()
            .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let group_by = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", group.join(", "))
        };
        let sql = format!("SELECT {select_keys}{sums} FROM {table} WHERE {wh}{group_by}");
        let who = match scope {
            Scope::Developer(d) => d,
            Scope::Platform => "",
        };
        let mut conn = self.db.pool().acquire().await?;
        let rows = sqlx::query(&sql)
            .bind(who)
            .bind(grain.code())
            .bind(start)
            .bind(end)
            .bind(filter.key.unwrap_or(""))
            .bind(filter.model.unwrap_or(""))
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut vals = [0i64; 16];
            for (i, c) in Measures::COLUMNS.iter().enumerate() {
                vals[i] = r.try_get::<Option<i64>, _>(*c)?.unwrap_or(0);
            }
            let m = Measures::from_values(&vals);
            if m.requests == 0 {
                continue;
            }
            let t = if with_t { r.try_get("t_ms")? } else { 0 };
            let mut keys = Vec::with_capacity(dims.len());
            for d in dims {
                keys.push(r.try_get::<String, _>(d.column())?);
            }
            out.push(SumRow { t, keys, m });
        }
        Ok(out)
    }

    /// Latency and TTFT percentiles of the UTC days `[start, end)`
    /// overlaps, overall and per value of `by` (Model or, platform-wide,
    /// Provider), from one read.
    pub async fn percentiles(
        &self,
        scope: Scope<'_>,
        start: i64,
        end: i64,
        by: Option<Dim>,
    ) -> DomainResult<PercentileSet> {
        match &self.source {
            Source::Sql => self.sql_percentiles(scope, start, end, by).await,
            Source::ClickHouse(ch) => ch_percentiles(ch, scope, start, end, by).await,
        }
    }

    /// Histograms are kept per UTC day: a period's percentiles cover the
    /// UTC days it overlaps.
    async fn sql_percentiles(
        &self,
        scope: Scope<'_>,
        start: i64,
        end: i64,
        by: Option<Dim>,
    ) -> DomainResult<PercentileSet> {
        let (table, who_clause, who) = match scope {
            Scope::Developer(d) => ("latency_rollup", "developer_id = $1", d),
            Scope::Platform => ("platform_latency", "$1 = $1", ""),
        };
        let group = by.map_or("''", |d| d.column());
        let sql = format!(
            "SELECT {group} AS grp, metric, hist FROM {table} \
             WHERE {who_clause} AND day_ms >= $2 AND day_ms < $3"
        );
        let mut conn = self.db.pool().acquire().await?;
        let rows = sqlx::query(&sql)
            .bind(who)
            .bind(start.div_euclid(DAY_MS) * DAY_MS)
            .bind(end)
            .fetch_all(&mut *conn)
            .await?;
        let mut hists: HashMap<(String, String), super::rollup::Histogram> = HashMap::new();
        let mut overall: HashMap<String, super::rollup::Histogram> = HashMap::new();
        for r in rows {
            let g: String = r.try_get("grp")?;
            let metric: String = r.try_get("metric")?;
            let text: String = r.try_get("hist")?;
            super::rollup::decode_into(&text, overall.entry(metric.clone()).or_default());
            if by.is_some() {
                super::rollup::decode_into(&text, hists.entry((g, metric)).or_default());
            }
        }
        let read = |h: super::rollup::Histogram| {
            let mut v: Vec<(i64, i64)> = h.into_iter().collect();
            histogram_percentiles(&mut v)
        };
        let mut out = PercentileSet::default();
        for (metric, h) in overall {
            out.overall.set(&metric, read(h));
        }
        for ((g, metric), h) in hists {
            out.by.entry(g).or_default().set(&metric, read(h));
        }
        Ok(out)
    }

    /// Distinct developers with requests in the UTC days `[start, end)`
    /// overlaps.
    pub async fn active_developers(&self, start: i64, end: i64) -> DomainResult<i64> {
        let first = start.div_euclid(DAY_MS) * DAY_MS;
        match &self.source {
            Source::Sql => {
                let days = self.active_days(first, end).await?;
                Ok(union_count(&days))
            }
            Source::ClickHouse(ch) => {
                let body = ch
                    .select(&format!(
                        "SELECT uniqExact(developer_id) FROM {}.developer_daily WHERE {} \
                         FORMAT TabSeparated",
                        ch.database(),
                        ch_days(first, end)
                    ))
                    .await?;
                let n = tsv(&body).next().map_or(Ok(0), |f| num(f.first()));
                n
            }
        }
    }

    /// Developers with requests per UTC day of `[start, end)`, the number
    /// of distinct ones, and the top `limit` by cost (id, requests, tokens,
    /// cost).
    pub async fn developers(
        &self,
        start: i64,
        end: i64,
        limit: i64,
    ) -> DomainResult<DeveloperStats> {
        let first = start.div_euclid(DAY_MS) * DAY_MS;
        match &self.source {
            Source::Sql => {
                let (days, top) =
                    tokio::try_join!(self.active_days(first, end), self.top(first, end, limit))?;
                let per_day = days
                    .iter()
                    .map(|(day, bits)| (*day, i64::try_from(bits.len()).unwrap_or(i64::MAX)))
                    .collect();
                Ok(DeveloperStats {
                    per_day,
                    active: union_count(&days),
                    top,
                })
            }
            Source::ClickHouse(ch) => {
                let db = ch.database();
                let range = ch_days(first, end);
                // Per day, and (the totals row, after an empty line) over
                // the whole period, in one scan.
                let per_day_sql = format!(
                    "SELECT toInt64(day) * 86400000, uniqExact(developer_id) FROM {db}.developer_daily \
                     WHERE {range} GROUP BY day WITH TOTALS ORDER BY day FORMAT TabSeparated"
                );
                let top_sql = format!(
                    "SELECT developer_id, toInt64(sumMerge(requests)) AS r, \
                     toInt64(sumMerge(prompt_tokens) + sumMerge(completion_tokens)), \
                     sumMerge(cost_nanos) AS c FROM {db}.developer_daily WHERE {range} \
                     GROUP BY developer_id ORDER BY c DESC, r DESC, developer_id LIMIT {limit} \
                     FORMAT TabSeparated"
                );
                let (days, body) = tokio::try_join!(ch.select(&per_day_sql), ch.select(&top_sql))?;
                let (groups, totals) = split_totals(&days);
                let per_day = tsv(groups)
                    .map(|f| Ok((num(f.first())?, num(f.get(1))?)))
                    .collect::<DomainResult<Vec<_>>>()?;
                let active = match tsv(totals).next() {
                    Some(f) => num(f.get(1))?,
                    None => 0,
                };
                let top = tsv(&body)
                    .map(|f| {
                        Ok((
                            f.first().map(|s| unescape(s)).unwrap_or_default(),
                            [num(f.get(1))?, num(f.get(2))?, num(f.get(3))?],
                        ))
                    })
                    .collect::<DomainResult<Vec<_>>>()?;
                Ok(DeveloperStats {
                    per_day,
                    active,
                    top,
                })
            }
        }
    }
}

impl Store {
    /// The embedded store's bitmaps of developers active on each UTC day
    /// of `[first, end)`, in day order.
    async fn active_days(
        &self,
        first: i64,
        end: i64,
    ) -> DomainResult<Vec<(i64, roaring::RoaringBitmap)>> {
        let mut conn = self.db.pool().acquire().await?;
        sqlx::query(
            "SELECT day_ms, developers FROM active_daily \
             WHERE day_ms >= $1 AND day_ms < $2 ORDER BY day_ms",
        )
        .bind(first)
        .bind(end)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get("developers")?;
            Ok((r.try_get("day_ms")?, super::rollup::decode_bitmap(&bytes)))
        })
        .collect()
    }

    /// The embedded store's top `limit` developers of the UTC days
    /// `[first, end)` by cost (then requests, then id), exactly, without
    /// summing every developer's days: a developer's totals over the UTC
    /// months the period overlaps bound its figure from above, so
    /// candidates are taken in that order and their exact figures summed
    /// until no later candidate can beat the `limit`-th.
    async fn top(&self, first: i64, end: i64, limit: i64) -> DomainResult<Vec<(String, [i64; 3])>> {
        let want = usize::try_from(limit).unwrap_or(0);
        if want == 0 || end <= first {
            return Ok(Vec::new());
        }
        let (m_first, m_end) = (month_of(first).start_ms, month_of(end - 1).end_ms);
        let backend = self.db.backend();
        let mut conn = self.db.pool().acquire().await?;
        let mut exact: Vec<(String, [i64; 3])> = Vec::new();
        let mut offset = 0i64;
        let mut chunk = (limit * 4).max(4);
        loop {
            let candidates: Vec<(String, i64)> = sqlx::query(
                "SELECT developer_id, CAST(SUM(cost_nanos) AS BIGINT) AS c, \
                 CAST(SUM(requests) AS BIGINT) AS r FROM developer_monthly \
                 WHERE month_ms >= $1 AND month_ms < $2 GROUP BY developer_id \
                 ORDER BY c DESC, r DESC, developer_id LIMIT $3 OFFSET $4",
            )
            .bind(m_first)
            .bind(m_end)
            .bind(chunk)
            .bind(offset)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("developer_id")?, r.try_get("c")?)))
            .collect::<DomainResult<_>>()?;
            let exhausted = (candidates.len() as i64) < chunk;
            offset += candidates.len() as i64;
            for ids in candidates.chunks(500) {
                let n = ids.len();
                let sql = format!(
                    "SELECT developer_id, CAST(SUM(requests) AS BIGINT) AS r, \
                     CAST(SUM(tokens) AS BIGINT) AS t, CAST(SUM(cost_nanos) AS BIGINT) AS c \
                     FROM developer_daily WHERE developer_id IN ({}) \
                     AND day_ms >= {} AND day_ms < {} GROUP BY developer_id",
                    db::placeholders(1, n, backend),
                    db::placeholder(n + 1, backend),
                    db::placeholder(n + 2, backend),
                );
                let mut q = sqlx::query(&sql);
                for (id, _) in ids {
                    q = q.bind(id.as_str());
                }
                for r in q.bind(first).bind(end).fetch_all(&mut *conn).await? {
                    exact.push((
                        r.try_get("developer_id")?,
                        [r.try_get("r")?, r.try_get("t")?, r.try_get("c")?],
                    ));
                }
            }
            exact.sort_by(|a, b| {
                b.1[2]
                    .cmp(&a.1[2])
                    .then(b.1[0].cmp(&a.1[0]))
                    .then(a.0.cmp(&b.0))
            });
            // Every later candidate's cost is at most the last one's bound.
            let bound = candidates.last().map_or(0, |c| c.1);
            if exhausted || (exact.len() >= want && exact[want - 1].1[2] > bound) {
                break;
            }
            chunk *= 4;
        }
        exact.truncate(want);
        Ok(exact)
    }
}

/// Developers in any of the days' bitmaps.
fn union_count(days: &[(i64, roaring::RoaringBitmap)]) -> i64 {
    let mut all = roaring::RoaringBitmap::new();
    for (_, bits) in days {
        all |= bits;
    }
    i64::try_from(all.len()).unwrap_or(i64::MAX)
}

/// [`Store::developers`]' answer.
#[derive(Debug, Clone, Default)]
pub struct DeveloperStats {
    /// `(UTC day start ms, developers with requests that day)`.
    pub per_day: Vec<(i64, i64)>,
    /// Distinct developers with requests.
    pub active: i64,
    /// `(developer id, [requests, tokens, cost nanos])`, by cost.
    pub top: Vec<(String, [i64; 3])>,
}

/// A `WITH TOTALS` TabSeparated body's group rows and its totals row
/// (which follows an empty line, also when there are no groups).
fn split_totals(body: &str) -> (&str, &str) {
    match body.strip_prefix('\n') {
        Some(totals) => ("", totals),
        None => body.split_once("\n\n").unwrap_or((body, "")),
    }
}

/// Lines of a TabSeparated body, split into fields.
fn tsv(body: &str) -> impl Iterator<Item = Vec<&str>> {
    body.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
}

fn num(f: Option<&&str>) -> DomainResult<i64> {
    f.and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| internal("unexpected number"))
}

/// ClickHouse's sum columns in [`Measures::COLUMNS`] order.
fn ch_measures() -> String {
    Measures::COLUMNS
        .iter()
        .map(|c| format!("toInt64(sumMerge({c})) AS m_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The UTC days `[start, end)` overlaps (like the embedded store's
/// `day_ms >= start AND day_ms < end` over day starts).
fn ch_days(start: i64, end: i64) -> String {
    format!(
        "day >= toDate(toDateTime({}, 'UTC')) AND day <= toDate(toDateTime({}, 'UTC'))",
        start.div_euclid(1000),
        (end - 1).div_euclid(1000)
    )
}

/// The table, time column and range condition of a ClickHouse read.
fn ch_table(
    ch: &ClickHouseSource,
    scope: Scope<'_>,
    grain: Grain,
    start: i64,
    end: i64,
) -> (String, String, String) {
    let db = ch.database();
    let (s, e) = (start / 1000, end / 1000);
    match (scope, grain) {
        (Scope::Developer(_), Grain::Day) => (
            format!("{db}.usage_daily"),
            "toInt64(day) * 86400000".into(),
            ch_days(start, end),
        ),
        (Scope::Developer(_), Grain::Hour) => (
            format!("{db}.usage_hourly"),
            "toInt64(toUInt32(hour)) * 1000".into(),
            format!("hour >= toDateTime({s}, 'UTC') AND hour < toDateTime({e}, 'UTC')"),
        ),
        (Scope::Platform, Grain::Day) => (
            format!("{db}.platform_daily"),
            "toInt64(day) * 86400000".into(),
            ch_days(start, end),
        ),
        (Scope::Platform, Grain::Hour) => (
            format!("{db}.platform_hourly"),
            "toInt64(toUInt32(hour)) * 1000".into(),
            format!("hour >= toDateTime({s}, 'UTC') AND hour < toDateTime({e}, 'UTC')"),
        ),
    }
}

fn ch_scope_filter(scope: Scope<'_>, filter: Filter<'_>) -> String {
    let mut w = String::new();
    if let Scope::Developer(d) = scope {
        w.push_str(&format!(" AND developer_id = {}", quote(d)));
    }
    if let Some(k) = filter.key {
        w.push_str(&format!(" AND key_id = {}", quote(k)));
    }
    if let Some(m) = filter.model {
        w.push_str(&format!(" AND model = {}", quote(m)));
    }
    w
}

async fn ch_sums(
    ch: &ClickHouseSource,
    scope: Scope<'_>,
    reads: &[(Grain, i64, i64)],
    time: Time,
    dims: &[Dim],
    filter: Filter<'_>,
) -> DomainResult<Vec<SumRow>> {
    let mut keys = vec!["t".to_string()];
    keys.extend(dims.iter().map(|d| d.column().to_string()));
    let keys = keys.join(", ");
    let dim_cols = dims
        .iter()
        .map(|d| format!(", {}", d.column()))
        .collect::<String>();
    let selects = reads
        .iter()
        .map(|&(grain, start, end)| {
            let (table, t_expr, range) = ch_table(ch, scope, grain, start, end);
            let t_expr = match time {
                Time::Total => "toInt64(0)".to_string(),
                _ => t_expr,
            };
            format!(
                "SELECT {t_expr} AS t{dim_cols}, {} FROM {table} WHERE {range}{} GROUP BY {keys}",
                ch_measures(),
                ch_scope_filter(scope, filter),
            )
        })
        .collect::<Vec<_>>();
    let sql = if let [one] = selects.as_slice() {
        format!("{one} FORMAT TabSeparated")
    } else {
        let sums = Measures::COLUMNS
            .iter()
            .map(|c| format!("toInt64(sum(m_{c}))"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT t{dim_cols}, {sums} FROM ({}) GROUP BY {keys} FORMAT TabSeparated",
            selects.join(" UNION ALL ")
        )
    };
    let body = ch.select(&sql).await?;
    let mut out = Vec::new();
    for f in tsv(&body) {
        let t = num(f.first())?;
        let keys: Vec<String> = f[1..1 + dims.len()].iter().map(|s| unescape(s)).collect();
        let vals = f[1 + dims.len()..]
            .iter()
            .map(|s| s.parse::<i64>().map_err(internal))
            .collect::<DomainResult<Vec<i64>>>()?;
        let m = Measures::from_values(&vals);
        if m.requests > 0 {
            out.push(SumRow { t, keys, m });
        }
    }
    Ok(out)
}

/// Parses `[1,2.5,3,4]`.
fn quantiles(s: &str) -> Option<[f64; 4]> {
    let v: Vec<f64> = s
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|x| x.trim().parse::<f64>().ok())
        .collect();
    (v.len() == 4 && v.iter().all(|x| x.is_finite()))
        .then(|| [v[0].round(), v[1].round(), v[2].round(), v[3].round()])
}

async fn ch_percentiles(
    ch: &ClickHouseSource,
    scope: Scope<'_>,
    start: i64,
    end: i64,
    by: Option<Dim>,
) -> DomainResult<PercentileSet> {
    const Q: &str = "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)";
    // Like the embedded histograms: the UTC days the period overlaps, from
    // the narrow daily t-digest tables.
    let first_day = start.div_euclid(DAY_MS) * DAY_MS;
    let (_, _, range) = ch_table(ch, scope, Grain::Day, first_day, end);
    let table = match scope {
        Scope::Developer(_) => "latency_daily",
        Scope::Platform => "platform_daily",
    };
    let measures = format!("{Q}(latency), {Q}(ttft), toInt64(sumMerge(ttft_count))");
    let sql = match by {
        // The totals row (after an empty line) is the overall figure.
        Some(d) => format!(
            "SELECT {c}, {measures} FROM {db}.{table} WHERE {range}{w} \
             GROUP BY {c} WITH TOTALS FORMAT TabSeparated",
            c = d.column(),
            db = ch.database(),
            w = ch_scope_filter(scope, Filter::default()),
        ),
        None => format!(
            "SELECT '', {measures} FROM {db}.{table} WHERE {range}{w} FORMAT TabSeparated",
            db = ch.database(),
            w = ch_scope_filter(scope, Filter::default()),
        ),
    };
    let body = ch.select(&sql).await?;
    let read = |f: &[&str]| -> DomainResult<Percentiles> {
        let streamed = num(f.get(3))?;
        Ok(Percentiles {
            latency: f.get(1).and_then(|s| quantiles(s)),
            ttft: if streamed > 0 {
                f.get(2).and_then(|s| quantiles(s))
            } else {
                None
            },
        })
    };
    let (groups, totals) = match by {
        Some(_) => split_totals(&body),
        None => ("", body.as_str()),
    };
    let mut out = PercentileSet::default();
    if let Some(f) = tsv(totals).next() {
        out.overall = read(&f)?;
    }
    for f in tsv(groups) {
        let g = f.first().map(|s| unescape(s)).unwrap_or_default();
        out.by.insert(g, read(&f)?);
    }
    Ok(out)
}

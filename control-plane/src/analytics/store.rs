//! Reads of the rollups: the embedded default's tables ([`super::rollup`])
//! or ClickHouse's materialized rollups, behind the same functions, chosen
//! by the usage source the billing charger reads ([`Source`]).

use super::{histogram_percentiles, parts, Grain, Measures, DAY_MS};
use crate::billing::charges::{quote, unescape, ClickHouseSource, Source};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
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
        let mut rows = Vec::new();
        for (grain, s, e) in reads {
            let with_t = time != Time::Total;
            let part = match &self.source {
                Source::Sql => {
                    self.sql_sums(scope, grain, s, e, with_t, dims, filter)
                        .await?
                }
                Source::ClickHouse(ch) => {
                    ch_sums(ch, scope, grain, s, e, time, dims, filter).await?
                }
            };
            rows.extend(part);
        }
        Ok(merge(rows))
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
    /// overlaps, per value of `by` (Model or, platform-wide, Provider) or
    /// overall (key `""`).
    pub async fn percentiles(
        &self,
        scope: Scope<'_>,
        start: i64,
        end: i64,
        by: Option<Dim>,
    ) -> DomainResult<HashMap<String, Percentiles>> {
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
    ) -> DomainResult<HashMap<String, Percentiles>> {
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
        for r in rows {
            let g: String = r.try_get("grp")?;
            let metric: String = r.try_get("metric")?;
            let text: String = r.try_get("hist")?;
            super::rollup::decode_into(&text, hists.entry((g, metric)).or_default());
        }
        let mut out: HashMap<String, Percentiles> = HashMap::new();
        for ((g, metric), h) in hists {
            let mut v: Vec<(i64, i64)> = h.into_iter().collect();
            let p = histogram_percentiles(&mut v);
            let slot = out.entry(g).or_default();
            if metric == "t" {
                slot.ttft = p;
            } else {
                slot.latency = p;
            }
        }
        Ok(out)
    }

    /// Distinct developers with requests in the UTC days `[start, end)`
    /// overlaps.
    pub async fn active_developers(&self, start: i64, end: i64) -> DomainResult<i64> {
        let first = start.div_euclid(DAY_MS) * DAY_MS;
        match &self.source {
            Source::Sql => {
                let mut conn = self.db.pool().acquire().await?;
                Ok(sqlx::query(
                    "SELECT COUNT(DISTINCT developer_id) AS n FROM developer_daily \
                     WHERE day_ms >= $1 AND day_ms < $2",
                )
                .bind(first)
                .bind(end)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?)
            }
            Source::ClickHouse(ch) => {
                let body = ch
                    .select(&format!(
                        "SELECT uniqExact(developer_id) FROM {}.developer_daily \
                         WHERE day >= toDate(toDateTime({}, 'UTC')) AND day < toDate(toDateTime({}, 'UTC')) \
                         FORMAT TabSeparated",
                        ch.database(),
                        first / 1000,
                        end / 1000
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
                let mut conn = self.db.pool().acquire().await?;
                let per_day = sqlx::query(
                    "SELECT day_ms, COUNT(*) AS n FROM developer_daily \
                     WHERE day_ms >= $1 AND day_ms < $2 GROUP BY day_ms ORDER BY day_ms",
                )
                .bind(first)
                .bind(end)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("day_ms")?, r.try_get("n")?)))
                .collect::<DomainResult<Vec<(i64, i64)>>>()?;
                // One scan gives both the distinct count and the ranking.
                let mut all = sqlx::query(
                    "SELECT developer_id, CAST(SUM(requests) AS BIGINT) AS r, \
                     CAST(SUM(tokens) AS BIGINT) AS t, CAST(SUM(cost_nanos) AS BIGINT) AS c \
                     FROM developer_daily WHERE day_ms >= $1 AND day_ms < $2 \
                     GROUP BY developer_id",
                )
                .bind(first)
                .bind(end)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("developer_id")?,
                        [r.try_get("r")?, r.try_get("t")?, r.try_get("c")?],
                    ))
                })
                .collect::<DomainResult<Vec<(String, [i64; 3])>>>()?;
                let active = all.len() as i64;
                all.sort_by(|a, b| {
                    b.1[2]
                        .cmp(&a.1[2])
                        .then(b.1[0].cmp(&a.1[0]))
                        .then(a.0.cmp(&b.0))
                });
                all.truncate(usize::try_from(limit).unwrap_or(0));
                let top = all;
                Ok(DeveloperStats {
                    per_day,
                    active,
                    top,
                })
            }
            Source::ClickHouse(ch) => {
                let db = ch.database();
                let range = format!(
                    "day >= toDate(toDateTime({}, 'UTC')) AND day < toDate(toDateTime({}, 'UTC'))",
                    first / 1000,
                    end / 1000
                );
                let body = ch
                    .select(&format!(
                        "SELECT toInt64(day) * 86400000, uniqExact(developer_id) FROM {db}.developer_daily \
                         WHERE {range} GROUP BY day ORDER BY day FORMAT TabSeparated"
                    ))
                    .await?;
                let per_day = tsv(&body)
                    .map(|f| Ok((num(f.first())?, num(f.get(1))?)))
                    .collect::<DomainResult<Vec<_>>>()?;
                let active = self.active_developers(start, end).await?;
                let body = ch
                    .select(&format!(
                        "SELECT developer_id, toInt64(sumMerge(requests)) AS r, \
                         toInt64(sumMerge(prompt_tokens) + sumMerge(completion_tokens)), \
                         sumMerge(cost_nanos) AS c FROM {db}.developer_daily WHERE {range} \
                         GROUP BY developer_id ORDER BY c DESC, r DESC, developer_id LIMIT {limit} \
                         FORMAT TabSeparated"
                    ))
                    .await?;
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
        .map(|c| format!("toInt64(sumMerge({c}))"))
        .collect::<Vec<_>>()
        .join(", ")
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
            format!(
                "day >= toDate(toDateTime({s}, 'UTC')) AND day < toDate(toDateTime({e}, 'UTC'))"
            ),
        ),
        (Scope::Developer(_), Grain::Hour) => (
            format!("{db}.usage_hourly"),
            "toInt64(toUInt32(hour)) * 1000".into(),
            format!("hour >= toDateTime({s}, 'UTC') AND hour < toDateTime({e}, 'UTC')"),
        ),
        // Platform-wide rollups are hourly only (few rows per hour).
        (Scope::Platform, _) => (
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

#[allow(clippy::too_many_arguments)]
async fn ch_sums(
    ch: &ClickHouseSource,
    scope: Scope<'_>,
    grain: Grain,
    start: i64,
    end: i64,
    time: Time,
    dims: &[Dim],
    filter: Filter<'_>,
) -> DomainResult<Vec<SumRow>> {
    let (table, t_expr, range) = ch_table(ch, scope, grain, start, end);
    let t_expr = match (time, scope) {
        (Time::Total, _) => "toInt64(0)".to_string(),
        // Daily buckets from the hourly platform table.
        (Time::Day, Scope::Platform) => format!("intDiv({t_expr}, {DAY_MS}) * {DAY_MS}"),
        _ => t_expr,
    };
    let mut keys = vec!["t".to_string()];
    keys.extend(dims.iter().map(|d| d.column().to_string()));
    let dim_cols = dims
        .iter()
        .map(|d| format!(", {}", d.column()))
        .collect::<String>();
    let sql = format!(
        "SELECT {t_expr} AS t{dim_cols}, {} FROM {table} WHERE {range}{} \
         GROUP BY {} FORMAT TabSeparated",
        ch_measures(),
        ch_scope_filter(scope, filter),
        keys.join(", ")
    );
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
) -> DomainResult<HashMap<String, Percentiles>> {
    const Q: &str = "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)";
    let group = by.map_or("''".to_string(), |d| d.column().to_string());
    // Like the embedded histograms: the UTC days the period overlaps.
    let first_day = start.div_euclid(DAY_MS) * DAY_MS;
    let reads: Vec<(Grain, i64, i64)> = vec![(Grain::Day, first_day, end)];
    let union = reads
        .iter()
        .map(|(g, s, e)| {
            let (table, _, range) = ch_table(ch, scope, *g, *s, *e);
            format!(
                "SELECT {group} AS grp, latency, ttft, ttft_count FROM {table} WHERE {range}{}",
                ch_scope_filter(scope, Filter::default())
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!(
        "SELECT grp, {Q}(latency), {Q}(ttft), toInt64(sumMerge(ttft_count)) FROM ({union}) \
         GROUP BY grp FORMAT TabSeparated"
    );
    let body = ch.select(&sql).await?;
    let mut out = HashMap::new();
    for f in tsv(&body) {
        let g = f.first().map(|s| unescape(s)).unwrap_or_default();
        let streamed = num(f.get(3))?;
        out.insert(
            g,
            Percentiles {
                latency: f.get(1).and_then(|s| quantiles(s)),
                ttft: if streamed > 0 {
                    f.get(2).and_then(|s| quantiles(s))
                } else {
                    None
                },
            },
        );
    }
    Ok(out)
}

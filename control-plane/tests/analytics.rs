//! Analytics (issue 9): every figure the API answers equals what the raw
//! usage rows say (percentiles within the documented error), on the
//! embedded rollups (SQLite or PostgreSQL) and on ClickHouse's materialized
//! rollups; after late rows, replayed rows and a restart that rebuilds the
//! rollups.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::routes;
use aihub_contract::usage::{UsageBatch, UsageRow};
use aihub_control_plane::analytics::{backfill, retention};
use aihub_control_plane::billing::charges::{ClickHouseSource, Source};
use chrono::{Duration as Days, NaiveDate, Utc};
use common::hub::{access, developer_session, login, operator_session, PASSWORD};
use common::{spawn_app_with, start_on, Backend, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

on_selected_backend!(
    embedded_rollups_match_the_raw_rows_after_late_rows_and_a_rebuild,
    analytics_parameters_are_checked_and_admin_routes_need_an_operator,
);

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// Asia/Shanghai is UTC+8 all year.
const SHANGHAI: i64 = 8 * HOUR;
const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "claude-3-5-haiku"];

fn now_ms() -> i64 {
    common::unix_now() * 1000
}

fn today() -> NaiveDate {
    chrono::DateTime::<Utc>::from_timestamp_millis(now_ms() + SHANGHAI)
        .unwrap()
        .date_naive()
}

/// `[start, end)` of local days `from..=to` in Asia/Shanghai.
fn shanghai(from: NaiveDate, to: NaiveDate) -> (i64, i64) {
    let ms = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    (ms(from) - SHANGHAI, ms(to + Days::days(1)) - SHANGHAI)
}

/// Deterministic rows over the last 9 days for `devs`, with the first
/// developer's key `key_a` also seen under its grace id.
fn generate(devs: &[&str], n: usize, seed: u64, prefix: &str) -> Vec<UsageRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let now = now_ms();
    // The k-th of n developers has n - k shares of the rows: a ranking to
    // find.
    let weighted: Vec<&str> = devs
        .iter()
        .enumerate()
        .flat_map(|(k, d)| std::iter::repeat_n(*d, devs.len() - k))
        .collect();
    (0..n)
        .map(|i| {
            let dev = weighted[i % weighted.len()];
            let key = match rng.gen_range(0..3) {
                0 => "key_a".to_string(),
                1 => "key_a:grace".to_string(),
                _ => "key_b".to_string(),
            };
            let model = MODELS[rng.gen_range(0..MODELS.len())];
            let status = match rng.gen_range(0..100) {
                0..=3 => 500,
                4..=7 => 429,
                8..=11 => 400,
                _ => 200,
            };
            let stream = rng.gen_bool(0.4);
            let prompt = rng.gen_range(1..4_000u64);
            let completion = if status == 200 {
                rng.gen_range(0..1_000u64)
            } else {
                0
            };
            UsageRow {
                request_id: format!("{prefix}-{i}"),
                ts_ms: now - rng.gen_range(0..9 * DAY),
                developer_id: dev.into(),
                key_id: format!("{dev}-{key}"),
                endpoint: if rng.gen_bool(0.8) {
                    "chat.completions"
                } else {
                    "embeddings"
                }
                .into(),
                method: "POST".into(),
                model: model.into(),
                deployment_id: format!("dep-{model}"),
                provider_id: if model.starts_with("claude") {
                    "prov_anthropic"
                } else {
                    "prov_openai"
                }
                .into(),
                prompt_tokens: prompt,
                completion_tokens: completion,
                cached_tokens: prompt / 10,
                reasoning_tokens: 0,
                cost_nanos: (prompt * 150 + completion * 600) as i64,
                latency_ms: rng.gen_range(3..6_000),
                ttft_ms: stream.then(|| rng.gen_range(1..900)),
                status,
                stream,
                attempts: if rng.gen_bool(0.05) { 2 } else { 1 },
                ip: "203.0.113.9".into(),
                user_agent: "test".into(),
                error: String::new(),
                gateway_id: "gw-1".into(),
                batch_id: if i % 17 == 0 {
                    "batch_x".into()
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

/// Developer keys are `<dev>-key_a`, `<dev>-key_a:grace`, `<dev>-key_b`.
fn base_key(k: &str) -> &str {
    k.strip_suffix(":grace").unwrap_or(k)
}

fn money(v: &Value) -> i64 {
    let d = Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("money {v}"))).unwrap();
    i64::try_from((d * Decimal::from(1_000_000_000)).round().mantissa()).unwrap()
}

/// How close an estimated percentile must be.
#[derive(Clone, Copy)]
enum Tolerance {
    /// The embedded histogram: 2.5 % of the value (plus rounding to 1 ms).
    Relative(f64),
    /// ClickHouse's t-digest: the value at a rank within this fraction.
    Rank(f64),
}

fn check_percentile(what: &str, est: &Value, values: &[i64], q: f64, tol: Tolerance) {
    let mut v = values.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        assert!(est.is_null(), "{what}: {est} for no values");
        return;
    }
    let est = est.as_f64().unwrap_or_else(|| panic!("{what}: {est}"));
    let at = |q: f64| -> f64 {
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1] as f64
    };
    let exact = at(q);
    let ok = match tol {
        Tolerance::Relative(r) => (est - exact).abs() <= exact * r + 1.0,
        Tolerance::Rank(r) => {
            let step = 1.0 / v.len() as f64;
            est >= at(q - r - step) - 1.0 && est <= at(q + r + step) + 1.0
        }
    };
    assert!(
        ok,
        "{what}: estimate {est}, exact {exact} (n = {})",
        v.len()
    );
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn ingest(app: &TestApp, rows: &[UsageRow]) {
    for chunk in rows.chunks(500) {
        let body = serde_json::to_vec(&UsageBatch {
            rows: chunk.to_vec(),
        })
        .unwrap();
        let resp = app.signed_post(routes::USAGE, body).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
}

/// Checks every developer and operator figure of the five local days
/// ending today (Asia/Shanghai) against `rows` (deduplicated by id).
async fn check_against_raw(
    app: &TestApp,
    dev_token: &str,
    admin_token: &str,
    dev: &str,
    rows: &[UsageRow],
    tol: Tolerance,
) {
    let to = today();
    let from = to - Days::days(4);
    let (start, end) = shanghai(from, to);
    let q = format!("from={from}&to={to}&tz=Asia/Shanghai");
    let mut seen = HashSet::new();
    let all: Vec<&UsageRow> = rows
        .iter()
        .filter(|r| seen.insert(r.request_id.clone()))
        .filter(|r| r.ts_ms >= start && r.ts_ms < end)
        .collect();
    let mine: Vec<&UsageRow> = all
        .iter()
        .copied()
        .filter(|r| r.developer_id == dev)
        .collect();
    assert!(mine.len() > 100, "the generated data covers the period");
    // Percentiles cover the UTC days the period overlaps.
    let mut seen_days = HashSet::new();
    let days: Vec<&UsageRow> = rows
        .iter()
        .filter(|r| seen_days.insert(r.request_id.clone()))
        .filter(|r| r.ts_ms >= start.div_euclid(DAY) * DAY && r.ts_ms < end)
        .collect();
    let my_days: Vec<&UsageRow> = days
        .iter()
        .copied()
        .filter(|r| r.developer_id == dev)
        .collect();
    let my_lat: Vec<i64> = my_days.iter().map(|r| i64::from(r.latency_ms)).collect();

    // Overview.
    let o = get(
        app,
        dev_token,
        &format!("/api/v1/developer/analytics/overview?{q}"),
    )
    .await;
    assert_eq!(o["period"]["start_ms"], start);
    assert_eq!(o["period"]["end_ms"], end);
    let cur = &o["current"];
    assert_eq!(cur["requests"], mine.len());
    assert_eq!(
        cur["errors"],
        mine.iter().filter(|r| r.status >= 400).count()
    );
    let tokens: u64 = mine
        .iter()
        .map(|r| r.prompt_tokens + r.completion_tokens)
        .sum();
    assert_eq!(cur["tokens"], tokens);
    let cost: i64 = mine.iter().map(|r| r.cost_nanos).sum();
    assert_eq!(money(&cur["cost"]), cost);
    let lat: Vec<i64> = mine.iter().map(|r| i64::from(r.latency_ms)).collect();
    let avg = lat.iter().sum::<i64>() as f64 / lat.len() as f64;
    assert!((cur["avg_latency_ms"].as_f64().unwrap() - avg).abs() <= 0.05 + 1e-9);
    check_percentile("overview p95", &cur["p95_latency_ms"], &my_lat, 0.95, tol);
    let (pstart, pend) = (start - 5 * DAY, start);
    let previous = rows
        .iter()
        .filter(|r| r.developer_id == dev && r.ts_ms >= pstart && r.ts_ms < pend)
        .map(|r| r.request_id.clone())
        .collect::<HashSet<_>>()
        .len();
    assert_eq!(o["previous"]["requests"], previous);

    // Trends by local day and model.
    let t = get(
        app,
        dev_token,
        &format!("/api/v1/developer/analytics/trends?{q}&interval=day&group_by=model"),
    )
    .await;
    let buckets = t["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 5);
    for s in t["series"].as_array().unwrap() {
        let model = s["group"].as_str().unwrap();
        for (i, p) in s["points"].as_array().unwrap().iter().enumerate() {
            let (b0, b1) = (start + i as i64 * DAY, start + (i as i64 + 1) * DAY);
            let want: Vec<&&UsageRow> = mine
                .iter()
                .filter(|r| r.model == model && r.ts_ms >= b0 && r.ts_ms < b1)
                .collect();
            assert_eq!(p["t"], b0);
            assert_eq!(p["requests"], want.len(), "{model} day {i}");
            assert_eq!(
                money(&p["cost"]),
                want.iter().map(|r| r.cost_nanos).sum::<i64>()
            );
        }
    }
    // Hourly trends sum to the same totals.
    let h = get(
        app,
        dev_token,
        &format!("/api/v1/developer/analytics/trends?{q}&interval=hour"),
    )
    .await;
    assert_eq!(h["buckets"].as_array().unwrap().len(), 120);
    let hourly: i64 = h["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(hourly, mine.len() as i64);

    // Costs by key: a regenerated key's grace traffic counts with the key.
    let c = get(
        app,
        dev_token,
        &format!("/api/v1/developer/analytics/costs?{q}"),
    )
    .await;
    assert_eq!(money(&c["total_cost"]), cost);
    let mut by_key: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for r in &mine {
        let e = by_key.entry(base_key(&r.key_id)).or_default();
        e.0 += 1;
        e.1 += r.cost_nanos;
    }
    let keys = c["by_key"].as_array().unwrap();
    assert_eq!(keys.len(), by_key.len());
    for k in keys {
        let (n, cost) = by_key[k["key_id"].as_str().unwrap()];
        assert_eq!(k["requests"], n);
        assert_eq!(money(&k["cost"]), cost);
    }
    assert_eq!(c["by_model"].as_array().unwrap().len(), MODELS.len());

    // Performance.
    let p = get(
        app,
        dev_token,
        &format!("/api/v1/developer/analytics/performance?{q}"),
    )
    .await;
    let class = |name: &str| {
        p["status"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["class"] == name)
            .unwrap()["count"]
            .clone()
    };
    assert_eq!(class("2xx"), mine.iter().filter(|r| r.status < 400).count());
    assert_eq!(
        class("429"),
        mine.iter().filter(|r| r.status == 429).count()
    );
    assert_eq!(
        class("4xx"),
        mine.iter()
            .filter(|r| (400..500).contains(&r.status) && r.status != 429)
            .count()
    );
    assert_eq!(
        class("5xx"),
        mine.iter().filter(|r| r.status >= 500).count()
    );
    assert_eq!(
        p["fallbacks"],
        mine.iter().filter(|r| r.attempts > 1).count()
    );
    for (i, q) in [(0, 0.5), (2, 0.95), (3, 0.99)] {
        let key = ["p50", "p90", "p95", "p99"][i];
        check_percentile(key, &p["latency_ms"][key], &my_lat, q, tol);
    }
    let ttft: Vec<i64> = my_days
        .iter()
        .filter_map(|r| r.ttft_ms.map(i64::from))
        .collect();
    check_percentile("ttft p95", &p["ttft_ms"]["p95"], &ttft, 0.95, tol);
    for m in p["by_model"].as_array().unwrap() {
        let model = m["model"].as_str().unwrap();
        let n = mine.iter().filter(|r| r.model == model).count();
        assert_eq!(m["requests"], n);
        let l: Vec<i64> = my_days
            .iter()
            .filter(|r| r.model == model)
            .map(|r| i64::from(r.latency_ms))
            .collect();
        check_percentile(model, &m["p95_ms"], &l, 0.95, tol);
    }

    // Operator: model mix and providers over everyone's rows.
    let mix = get(
        app,
        admin_token,
        &format!("/api/v1/admin/analytics/models?{q}"),
    )
    .await;
    for row in mix["rows"].as_array().unwrap() {
        let model = row["model"].as_str().unwrap();
        assert_eq!(
            row["requests"],
            all.iter().filter(|r| r.model == model).count()
        );
    }
    let prov = get(
        app,
        admin_token,
        &format!("/api/v1/admin/analytics/providers?{q}"),
    )
    .await;
    for row in prov["rows"].as_array().unwrap() {
        let id = row["provider_id"].as_str().unwrap();
        let n = all.iter().filter(|r| r.provider_id == id).count();
        assert_eq!(row["requests"], n);
        let l: Vec<i64> = days
            .iter()
            .filter(|r| r.provider_id == id)
            .map(|r| i64::from(r.latency_ms))
            .collect();
        check_percentile(id, &row["p95_ms"], &l, 0.95, tol);
    }
    let devs = get(
        app,
        admin_token,
        &format!("/api/v1/admin/analytics/developers?{q}"),
    )
    .await;
    let active: HashSet<&str> = rows
        .iter()
        .filter(|r| r.ts_ms >= start.div_euclid(DAY) * DAY && r.ts_ms < end)
        .map(|r| r.developer_id.as_str())
        .collect();
    assert_eq!(devs["active"], active.len());
    // The top developers by cost (then requests, then id), exactly.
    let mut by_dev: HashMap<&str, [i64; 3]> = HashMap::new();
    for r in rows
        .iter()
        .filter(|r| r.ts_ms >= start.div_euclid(DAY) * DAY && r.ts_ms < end)
    {
        let e = by_dev.entry(r.developer_id.as_str()).or_default();
        e[0] += 1;
        e[1] += (r.prompt_tokens + r.completion_tokens) as i64;
        e[2] += r.cost_nanos;
    }
    let mut ranked: Vec<(&str, [i64; 3])> = by_dev.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1[2]
            .cmp(&a.1[2])
            .then(b.1[0].cmp(&a.1[0]))
            .then(a.0.cmp(b.0))
    });
    for limit in [1, 3, 100] {
        let got = get(
            app,
            admin_token,
            &format!("/api/v1/admin/analytics/developers?{q}&limit={limit}"),
        )
        .await;
        let got: Vec<(String, i64, i64, i64)> = got["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["developer_id"].as_str().unwrap().to_string(),
                    t["requests"].as_i64().unwrap(),
                    t["tokens"].as_i64().unwrap(),
                    money(&t["cost"]),
                )
            })
            .collect();
        let want: Vec<(String, i64, i64, i64)> = ranked
            .iter()
            .take(limit)
            .map(|(d, [r, t, c])| (d.to_string(), *r, *t, *c))
            .collect();
        assert_eq!(got, want, "top {limit}");
    }
    let margin = get(
        app,
        admin_token,
        &format!("/api/v1/admin/analytics/margin?{q}"),
    )
    .await;
    let value: i64 = margin["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| money(&r["usage_value"]))
        .sum();
    assert_eq!(value, all.iter().map(|r| r.cost_nanos).sum::<i64>());
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/admin/analytics/models?{q}&format=csv")))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    assert!(
        header.contains(&"model") && header.contains(&"requests"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().count(),
        1 + mix["rows"].as_array().unwrap().len()
    );
}

async fn embedded_rollups_match_the_raw_rows_after_late_rows_and_a_rebuild(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "ada@example.com", true).await;
    let admin = operator_session(&app, "olive@example.com").await;
    let devs = [
        dev.as_str(),
        "dev_other_1",
        "dev_other_2",
        "dev_other_3",
        "dev_other_4",
        "dev_other_5",
    ];
    let mut rows = generate(&devs, 2_400, 7, "r");
    // The first ingest misses a slice; the second brings it late together
    // with a replay of rows already stored (a gateway's spool after a crash).
    let late: Vec<UsageRow> = rows.split_off(2_000);
    ingest(&app, &rows).await;
    let mut second = late.clone();
    second.extend(rows[..300].iter().cloned());
    ingest(&app, &second).await;
    rows.extend(late);
    check_against_raw(
        &app,
        &token,
        &admin,
        &dev,
        &rows,
        Tolerance::Relative(0.025),
    )
    .await;

    // Revenue is what the charger charged: once every row is charged, the
    // revenue by model, plan and day sums to the charges of the period's
    // UTC days.
    let distinct = rows
        .iter()
        .map(|r| &r.request_id)
        .collect::<HashSet<_>>()
        .len() as i64;
    common::eventually(
        "every row charged",
        std::time::Duration::from_secs(30),
        || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_charges")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
            (n == distinct).then_some(())
        },
    )
    .await;
    let to = today();
    let from = to - Days::days(4);
    let (start, end) = shanghai(from, to);
    let charged: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(charged_nanos), 0) AS BIGINT) FROM usage_charges WHERE ts_ms >= $1 AND ts_ms < $2",
    )
    .bind(start.div_euclid(DAY) * DAY)
    .bind(end)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(charged > 0, "the free plan's overage is charged");
    let q = format!("from={from}&to={to}&tz=Asia/Shanghai");
    for by in ["model", "plan", "day"] {
        let rev = get(
            &app,
            &admin,
            &format!("/api/v1/admin/analytics/revenue?{q}&group_by={by}"),
        )
        .await;
        assert_eq!(money(&rev["total"]), charged, "revenue by {by}");
    }

    // A restart that finds the rollups missing builds them from the raw
    // rows: the same answers.
    let before = get(
        &app,
        &token,
        "/api/v1/developer/analytics/overview?tz=Asia/Shanghai",
    )
    .await;
    sqlx::query("DELETE FROM analytics_state")
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM usage_rollup")
        .execute(app.db.pool())
        .await
        .unwrap();
    let database = app.shutdown().await;
    let app = start_on(database, |f| f).await;
    let token = access(&login(&app, "ada@example.com", PASSWORD).await).to_string();
    let after = get(
        &app,
        &token,
        "/api/v1/developer/analytics/overview?tz=Asia/Shanghai",
    )
    .await;
    assert_eq!(before["current"], after["current"]);
    let admin = access(&login(&app, "olive@example.com", PASSWORD).await).to_string();
    check_against_raw(
        &app,
        &token,
        &admin,
        &dev,
        &rows,
        Tolerance::Relative(0.025),
    )
    .await;

    // Retention deletes raw rows of months past the limit; the rollups keep
    // their figures.
    let old: Vec<UsageRow> = generate(&[dev.as_str()], 50, 12, "old")
        .into_iter()
        .map(|mut r| {
            r.ts_ms -= 120 * DAY;
            r
        })
        .collect();
    ingest(&app, &old).await;
    let (from, to) = (today() - Days::days(130), today() - Days::days(110));
    let path = format!("/api/v1/developer/analytics/overview?from={from}&to={to}&tz=Asia/Shanghai");
    let before = get(&app, &token, &path).await;
    assert_eq!(before["current"]["requests"], old.len());
    let removed = retention::apply(&app.db, &Source::Sql, 2, now_ms())
        .await
        .unwrap();
    assert_eq!(removed, old.len() as u64);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_records")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        left,
        rows.iter()
            .map(|r| &r.request_id)
            .collect::<HashSet<_>>()
            .len() as i64
    );
    assert_eq!(get(&app, &token, &path).await["current"], before["current"]);
    app.stop().await;
}

async fn analytics_parameters_are_checked_and_admin_routes_need_an_operator(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (_, token) = developer_session(&app, "grace@example.com", true).await;
    for (path, field) in [
        ("/api/v1/developer/analytics/overview?tz=Mars/Base", "tz"),
        (
            "/api/v1/developer/analytics/overview?from=2026-13-01",
            "from",
        ),
        (
            "/api/v1/developer/analytics/overview?from=2026-11-02&to=2026-11-01",
            "to",
        ),
        (
            "/api/v1/developer/analytics/overview?from=2024-01-01&to=2026-01-01",
            "from",
        ),
        (
            "/api/v1/developer/analytics/trends?interval=week",
            "interval",
        ),
        (
            "/api/v1/developer/analytics/trends?group_by=colour",
            "group_by",
        ),
        (
            "/api/v1/developer/analytics/trends?interval=hour&from=2026-01-01&to=2026-01-08",
            "interval",
        ),
        ("/api/v1/developer/analytics/costs?colour=blue", "colour"),
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{path}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{path}: {body}"
        );
    }
    // An empty period answers zeros and null percentiles.
    let o = get(&app, &token, "/api/v1/developer/analytics/performance").await;
    assert_eq!(o["requests"], 0);
    assert!(o["latency_ms"]["p95"].is_null());
    for path in [
        "/api/v1/admin/analytics/overview",
        "/api/v1/admin/analytics/revenue",
        "/api/v1/admin/analytics/margin",
        "/api/v1/admin/analytics/developers",
        "/api/v1/admin/analytics/models",
        "/api/v1/admin/analytics/providers",
        "/api/v1/admin/analytics/report",
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    let admin = operator_session(&app, "olive@example.com").await;

    // Margin: usage value minus what the deployment's provider charges.
    use aihub_contract::money::Prices;
    use aihub_contract::snapshot::ProviderKind;
    use aihub_control_plane::catalog::{self, NewDeployment, NewProvider};
    catalog::add_provider(
        &app.db,
        &common::vault(),
        NewProvider {
            name: "openai".into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            api_key: String::new(),
        },
    )
    .await
    .unwrap();
    let added = catalog::add_model(
        &app.db,
        NewDeployment {
            upstream_prices: Some(Prices {
                input_per_million: Decimal::from(2),
                output_per_million: Decimal::from(8),
                cached_per_million: Decimal::from(1),
            }),
            ..NewDeployment::new("gpt-4o", "openai")
        },
    )
    .await
    .unwrap();
    let mut row = generate(&["dev_margin"], 1, 3, "m").remove(0);
    row.ts_ms = now_ms();
    row.model = "gpt-4o".into();
    row.deployment_id = added.deployment_id.clone();
    (row.prompt_tokens, row.cached_tokens, row.completion_tokens) = (1_000_000, 250_000, 500_000);
    row.cost_nanos = 9_000_000_000;
    ingest(&app, &[row]).await;
    let m = get(&app, &admin, "/api/v1/admin/analytics/margin").await;
    let r = &m["rows"][0];
    assert_eq!(r["model"], "gpt-4o");
    // 750k × $2 + 250k × $1 + 500k × $8 per million = $5.75.
    assert_eq!(money(&r["upstream_cost"]), 5_750_000_000);
    assert_eq!(money(&r["margin"]), 3_250_000_000);

    let html = app
        .client
        .get(app.url("/api/v1/admin/analytics/report?format=html"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.text().await.unwrap().contains("Business report"));
    let bad = app
        .client
        .get(app.url("/api/v1/admin/analytics/report?month=2026-13"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

async fn ch_insert(url: &str, db: &str, rows: &[UsageRow]) {
    for chunk in rows.chunks(800) {
        let mut body = format!("INSERT INTO {db}.usage_records FORMAT JSONEachRow\n");
        for r in chunk {
            let mut v = serde_json::to_value(r).unwrap();
            v["stream"] = Value::from(u8::from(r.stream));
            body.push_str(&v.to_string());
            body.push('\n');
        }
        aihub_testkit::clickhouse::query(url, &body).await.unwrap();
    }
}

/// ClickHouse as the usage store: rows inserted into `usage_records` reach
/// the materialized rollups the control plane reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_rollups_match_the_raw_rows() {
    let Some(url) = aihub_testkit::procs::clickhouse_url() else {
        eprintln!("AIHUB_TEST_CLICKHOUSE_URL unset: ClickHouse analytics not tested");
        return;
    };
    let db = aihub_testkit::procs::unique_name("analytics");
    aihub_testkit::clickhouse::apply_schema(&url, &db)
        .await
        .unwrap();
    let (u, d) = (url.clone(), db.clone());
    let Some(app) = spawn_app_with(Backend::selected(), move |f| {
        f.merge(figment::providers::Serialized::default("clickhouse.url", u))
            .merge(figment::providers::Serialized::default(
                "clickhouse.database",
                d,
            ))
    })
    .await
    else {
        return;
    };
    let (dev, token) = developer_session(&app, "ada@example.com", true).await;
    let admin = operator_session(&app, "olive@example.com").await;
    let devs = [
        dev.as_str(),
        "dev_other_1",
        "dev_other_2",
        "dev_other_3",
        "dev_other_4",
        "dev_other_5",
    ];
    let rows = generate(&devs, 2_400, 11, "c");
    // The first rows are stored before the views exist (an upgrade): the
    // backfill counts them, the views count the rest.
    let views: Vec<String> = aihub_testkit::clickhouse::schema_statements(&db)
        .into_iter()
        .filter(|s| s.starts_with("CREATE MATERIALIZED VIEW"))
        .collect();
    for v in &views {
        let name = v.split_whitespace().nth(6).unwrap();
        aihub_testkit::clickhouse::query(&url, &format!("DROP TABLE {name}"))
            .await
            .unwrap();
    }
    ch_insert(&url, &db, &rows[..600]).await;
    // The backfill takes rows stored before the second the views were
    // created: let that second pass (a clock condition, not a delay).
    past_the_last_stored_second(&url, &db).await;
    for v in &views {
        aihub_testkit::clickhouse::query(&url, v).await.unwrap();
    }
    ch_insert(&url, &db, &rows[600..]).await;
    let source = ClickHouseSource::new(&url, &db, "usage_records", "", "");
    let filled = backfill::clickhouse(&app.db, &source, false).await.unwrap();
    assert_eq!(filled.len(), views.len(), "{filled:?}");
    assert!(
        backfill::clickhouse(&app.db, &source, false).await.is_err(),
        "a second backfill would count rows twice"
    );
    check_against_raw(&app, &token, &admin, &dev, &rows, Tolerance::Rank(0.01)).await;

    // An upgrade brings a new view (here the developers' t-digests, made
    // again from nothing): the next backfill fills it alone.
    aihub_testkit::clickhouse::query(&url, &format!("DROP TABLE {db}.latency_daily_mv"))
        .await
        .unwrap();
    aihub_testkit::clickhouse::query(&url, &format!("TRUNCATE TABLE {db}.latency_daily"))
        .await
        .unwrap();
    past_the_last_stored_second(&url, &db).await;
    let latency_view = views
        .iter()
        .find(|v| v.contains("latency_daily_mv"))
        .unwrap();
    aihub_testkit::clickhouse::query(&url, latency_view)
        .await
        .unwrap();
    let filled = backfill::clickhouse(&app.db, &source, false).await.unwrap();
    assert_eq!(filled, ["latency_daily_mv"]);
    check_against_raw(&app, &token, &admin, &dev, &rows, Tolerance::Rank(0.01)).await;

    // Retention drops whole months of raw rows; the rollups keep them.
    let old: Vec<UsageRow> = generate(&[dev.as_str()], 50, 12, "old")
        .into_iter()
        .map(|mut r| {
            r.ts_ms -= 120 * DAY;
            r
        })
        .collect();
    ch_insert(&url, &db, &old).await;
    let count = |sql: String| {
        let url = url.clone();
        async move {
            aihub_testkit::clickhouse::query(&url, &sql)
                .await
                .unwrap()
                .trim()
                .parse::<i64>()
                .unwrap()
        }
    };
    let removed = retention::apply(&app.db, &Source::ClickHouse(source), 2, now_ms())
        .await
        .unwrap();
    assert!(removed >= 1);
    assert_eq!(
        count(format!(
            "SELECT count() FROM {db}.usage_records WHERE request_id LIKE 'old-%'"
        ))
        .await,
        0
    );
    assert_eq!(
        count(format!("SELECT count() FROM {db}.usage_records")).await,
        rows.len() as i64
    );
    assert_eq!(
        count(format!(
            "SELECT toInt64(sumMerge(requests)) FROM {db}.usage_daily"
        ))
        .await,
        (rows.len() + old.len()) as i64
    );
    app.stop().await;
    aihub_testkit::clickhouse::drop_database(&url, &db)
        .await
        .unwrap();
}

/// Waits until ClickHouse's clock is past the second of the newest stored
/// row, so a view created now starts after every stored row (a clock
/// condition, not a delay).
async fn past_the_last_stored_second(url: &str, db: &str) {
    let stored: i64 = aihub_testkit::clickhouse::query(
        url,
        &format!("SELECT toInt64(max(toUInt32(inserted_at))) FROM {db}.usage_records"),
    )
    .await
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    common::eventually(
        "the next second",
        std::time::Duration::from_secs(5),
        || async {
            let now: i64 = aihub_testkit::clickhouse::query(url, "SELECT toInt64(toUInt32(now()))")
                .await
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            (now > stored).then_some(())
        },
    )
    .await;
}

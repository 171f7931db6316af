//! The Grafana dashboards in `dashboards/` run against a real system: a
//! control plane, a gateway and stand-in providers carry some traffic
//! (answers, a fallback, an upstream 5xx, streams, rate-limit and quota
//! refusals, a bad key), Debian's Prometheus scrapes the gateway's ops
//! listener and the control plane's `/metrics`, and every panel's every
//! query runs with its variables and macros expanded:
//!
//! - PromQL through `/api/v1/query_range` (`/api/v1/query` for instant
//!   targets): no query may fail, every metric name an expression uses must
//!   have series, and every panel must return at least one finite value,
//!   with its variables at "All" and with each variable set to each of its
//!   values (at least one value per variable must show data);
//! - ClickHouse SQL through the HTTP interface against this run's database
//!   (`aihub.` renamed), when `AIHUB_TEST_CLICKHOUSE_URL` is set: no query
//!   may fail and every panel must return rows, the same way.
//!
//! Without ClickHouse the business dashboard is skipped, and the test says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::procs::{free_port, Proc};
use aihub_testkit::upstream::{StubConfig, StubUpstream};
use common::Stack;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Panels allowed to return no data, by dashboard file and title, with the
/// reason. The traffic below is built so that none is needed.
const MAY_BE_EMPTY: &[(&str, &str, &str)] = &[];

/// What the Grafana built-ins expand to for Prometheus queries. Wide enough
/// that each rate window spans both waves of traffic.
const RATE_INTERVAL: &str = "1m";
const INTERVAL: &str = "1s";

const WAIT: Duration = Duration::from_secs(30);

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("dashboards")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn chat(model: &str, content: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]})
}

// ------------------------------------------------------------------ dashboards

struct Dashboard {
    file: String,
    value: Value,
}

fn load_dashboards() -> Vec<Dashboard> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in {:?}", dashboards_dir());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            for field in [
                "uid",
                "title",
                "schemaVersion",
                "time",
                "templating",
                "panels",
            ] {
                assert!(
                    !value[field].is_null(),
                    "{} has no `{field}`",
                    path.display()
                );
            }
            Dashboard {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                value,
            }
        })
        .collect()
}

/// Every panel, rows' nested (collapsed) panels included, rows themselves not.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            if p["type"] == "row" {
                walk(&p["panels"], out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The datasource type a panel's target uses (the target's own, else the
/// panel's).
fn target_datasource<'a>(panel: &'a Value, target: &'a Value) -> &'a str {
    target["datasource"]["type"]
        .as_str()
        .or(panel["datasource"]["type"].as_str())
        .unwrap_or_default()
}

/// A query variable: its name, query and the value "All" stands for.
struct Variable {
    name: String,
    query: String,
    all: String,
}

fn query_variables(dashboard: &Value) -> Vec<Variable> {
    dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let query = match &v["query"] {
                Value::String(s) => s.clone(),
                q => q["query"].as_str().unwrap_or_default().to_string(),
            };
            assert_eq!(
                v["includeAll"], true,
                "variable {} must offer All (the test runs panels with it)",
                v["name"]
            );
            Variable {
                name: v["name"].as_str().unwrap().to_string(),
                query,
                all: v["allValue"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// Replaces `$name`, `${name}` and `${name:format}` with `value(name)`;
/// a reference to a variable `value` does not know fails.
fn expand_vars(text: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').expect("unclosed ${");
            let name = inner[..end].split(':').next().unwrap();
            (name, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        let v = value(name).unwrap_or_else(|| panic!("unknown variable ${name} in `{text}`"));
        out.push_str(&v);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// The names of the variables an expression refers to.
fn referenced(text: &str, vars: &[Variable]) -> Vec<String> {
    vars.iter()
        .filter(|v| {
            text.contains(&format!("${{{}}}", v.name))
                || text.contains(&format!("${{{}:", v.name))
                || text.match_indices(&format!("${}", v.name)).any(|(i, m)| {
                    !text[i + m.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
        })
        .map(|v| v.name.clone())
        .collect()
}

/// Grafana's escaping of a variable value inside a PromQL regex matcher.
fn prom_regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if "\\$^*{}[]'+?.()|".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

// ------------------------------------------------------------------ PromQL names

const PROMQL_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "inf",
    "nan",
    "atan2",
];

/// The metric names a PromQL expression selects: identifiers outside label
/// matchers, ranges and strings that are not functions, keywords,
/// aggregations or the labels of a `by (…)`-style list.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false;
    while i < b.len() {
        let c = b[i] as char;
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < b.len() && b[i] as char != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < b.len() && b[i] as char != close {
                    if b[i] == b'"' {
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            if b[i] == b'\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_list => {
                // The label list of by/without/on/ignoring/group_*.
                while i < b.len() && b[i] != b')' {
                    i += 1;
                }
                i += 1;
                skip_list = false;
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number (1e9, 0.99) or a duration.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().chars().next();
                if matches!(
                    word,
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    skip_list = true;
                } else if next != Some('(') && !PROMQL_WORDS.contains(&word) {
                    names.insert(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_expressions() {
    let expr = r#"histogram_quantile(0.99, sum by (le, endpoint) (rate(aihub_gateway_request_duration_seconds_bucket{instance=~"$instance", x="a{b}"}[$__rate_interval]))) / ignoring(x) group_left(y) (time() - max(up_metric)) * 3600 / 1e9 or vector(0)"#;
    assert_eq!(
        metric_names(expr).into_iter().collect::<Vec<_>>(),
        vec!["aihub_gateway_request_duration_seconds_bucket", "up_metric"]
    );
    assert_eq!(
        metric_names("sum(aihub_cp_change_long_polls_open) + bare_name offset 5m")
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["aihub_cp_change_long_polls_open", "bare_name"]
    );
}

// ------------------------------------------------------------------ Prometheus

struct Prometheus {
    proc: Proc,
    url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `/usr/bin/prometheus` scraping `targets` (job, host:port)
    /// every second and waits until it is ready.
    async fn start(targets: &[(&str, String)]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for (job, target) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            ));
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let mut cmd = Command::new("/usr/bin/prometheus");
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        let mut proc = Proc::spawn(cmd).expect(
            "the dashboards test needs Debian's Prometheus: apt-get install prometheus \
             (.ci/test installs it)",
        );
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_http_ok(&format!("{url}/-/ready"), WAIT)
            .await
            .unwrap();
        Prometheus {
            proc,
            url,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: dir,
        }
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() || body["status"] != "success" {
            return Err(format!("{status}: {body}"));
        }
        Ok(body["data"].clone())
    }

    /// The value of a scalar-like instant query (the sum of its samples).
    async fn instant_sum(&self, expr: &str) -> Option<f64> {
        let data = self
            .api("/api/v1/query", &[("query", expr.to_string())])
            .await
            .unwrap();
        let result = data["result"].as_array()?;
        if result.is_empty() {
            return None;
        }
        Some(
            result
                .iter()
                .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap())
                .sum(),
        )
    }

    /// Waits until every target is up.
    async fn wait_targets_up(&mut self, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let data = self.api("/api/v1/targets", &[]).await.unwrap();
            let targets = data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let up = targets.iter().filter(|t| t["health"] == "up").count();
            if up == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus targets never all up: {targets:#?}\n{}",
                self.proc.log_tail(20)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `expr` evaluates to `want`.
    async fn wait_value(&self, expr: &str, want: f64) {
        self.wait_until(expr, want, |got| got == want).await;
    }

    /// Waits until `expr` evaluates to `want` or more.
    async fn wait_at_least(&self, expr: &str, want: f64) {
        self.wait_until(expr, want, |got| got >= want).await;
    }

    async fn wait_until(&self, expr: &str, want: f64, ok: impl Fn(f64) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.instant_sum(expr).await;
            if got.is_some_and(&ok) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never saw {expr} reach {want} (last {got:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A query result's series, and whether any has a finite value.
fn prom_has_finite_value(data: &Value) -> bool {
    let finite = |v: &Value| {
        v[1].as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    };
    match data["resultType"].as_str() {
        Some("matrix") => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["values"].as_array().unwrap().iter().any(finite)),
        Some("vector") => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| finite(&s["value"])),
        Some("scalar") => finite(&data["result"]),
        _ => false,
    }
}

/// One target to run: where it came from and its text.
struct Target {
    dashboard: String,
    panel: String,
    text: String,
    instant: bool,
}

fn may_be_empty(dashboard: &str, panel: &str) -> bool {
    MAY_BE_EMPTY
        .iter()
        .any(|(d, p, _)| *d == dashboard && *p == panel)
}

/// Runs `run` for one target with every variable at All, then with each
/// variable it uses set to each of its values; returns the failures.
async fn check_target<F, Fut>(
    target: &Target,
    vars: &[Variable],
    values: &BTreeMap<String, Vec<String>>,
    run: F,
) -> Vec<String>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let mut failures = Vec::new();
    let at = |assign: &BTreeMap<&str, String>| {
        expand_vars(&target.text, &|name| {
            assign
                .get(name)
                .cloned()
                .or_else(|| vars.iter().find(|v| v.name == name).map(|v| v.all.clone()))
        })
    };
    let label = format!("{} / {}", target.dashboard, target.panel);
    let empty_ok = may_be_empty(&target.dashboard, &target.panel);
    match run(at(&BTreeMap::new())).await {
        Err(e) => failures.push(format!("{label}: query failed: {e}\n  {}", target.text)),
        Ok(false) if !empty_ok => failures.push(format!(
            "{label}: no data with every variable at All\n  {}",
            at(&BTreeMap::new())
        )),
        Ok(_) => {}
    }
    for name in referenced(&target.text, vars) {
        let mut any = false;
        for value in &values[&name] {
            let assign = BTreeMap::from([(name.as_str(), value.clone())]);
            match run(at(&assign)).await {
                Err(e) => failures.push(format!("{label}: ${name}={value}: query failed: {e}")),
                Ok(has) => any |= has,
            }
        }
        if !any && !empty_ok {
            failures.push(format!(
                "{label}: no data for any value of ${name} ({:?})\n  {}",
                values[&name], target.text
            ));
        }
    }
    failures
}

async fn check_prometheus_dashboards(
    prom: &Prometheus,
    dashboards: &[&Dashboard],
    start: f64,
    end: f64,
) -> Vec<String> {
    let mut failures = Vec::new();
    let known: BTreeSet<String> = prom
        .api("/api/v1/label/__name__/values", &[])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let range_secs = format!("{}s", (end - start).ceil() as i64);
    let builtins = |name: &str| -> Option<String> {
        match name {
            "__rate_interval" => Some(RATE_INTERVAL.into()),
            "__interval" => Some(INTERVAL.into()),
            "__range" => Some(range_secs.clone()),
            _ => None,
        }
    };
    let mut panels_run = 0;
    for d in dashboards {
        let vars = query_variables(&d.value);
        // Variable values, in order (a variable may use the ones before it).
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &vars {
            let inner = v
                .query
                .trim()
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{}: unsupported variable query {}", d.file, v.query));
            let (selector, label) = match inner.rsplit_once(',') {
                Some((s, l)) => (s.trim().to_string(), l.trim().to_string()),
                None => (String::new(), inner.trim().to_string()),
            };
            let selector = expand_vars(&selector, &|name| {
                builtins(name)
                    .or_else(|| vars.iter().find(|x| x.name == name).map(|x| x.all.clone()))
            });
            for name in metric_names(&selector) {
                if !known.contains(&name) {
                    failures.push(format!(
                        "{}: variable ${}: metric {name} has no series",
                        d.file, v.name
                    ));
                }
            }
            let mut params = vec![("start", format!("{start}")), ("end", format!("{end}"))];
            if !selector.is_empty() {
                params.push(("match[]", selector.clone()));
            }
            let got: Vec<String> = match prom
                .api(&format!("/api/v1/label/{label}/values"), &params)
                .await
            {
                Ok(data) => data
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect(),
                Err(e) => {
                    failures.push(format!("{}: variable ${}: {e}", d.file, v.name));
                    Vec::new()
                }
            };
            if got.is_empty() {
                failures.push(format!(
                    "{}: variable ${} ({}) has no values",
                    d.file, v.name, v.query
                ));
            }
            // Grafana escapes regex characters in the values it interpolates.
            values.insert(
                v.name.clone(),
                got.iter().map(|x| prom_regex_escape(x)).collect(),
            );
        }
        for p in panels(&d.value) {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            assert!(
                !targets.is_empty(),
                "{}: panel {title} has no targets",
                d.file
            );
            panels_run += 1;
            for t in targets.iter().filter(|t| t["hide"] != true) {
                assert_eq!(
                    target_datasource(p, t),
                    "prometheus",
                    "{}: panel {title} mixes datasources",
                    d.file
                );
                let expr = t["expr"].as_str().unwrap_or_default().to_string();
                assert!(
                    !expr.is_empty(),
                    "{}: panel {title} has an empty target",
                    d.file
                );
                for name in metric_names(&expr) {
                    if !known.contains(&name) {
                        failures.push(format!(
                            "{} / {title}: metric {name} has no series (typo, or no traffic makes it)",
                            d.file
                        ));
                    }
                }
                // Built-ins first; the panel's variables next.
                let expr = expand_vars(&expr, &|name| {
                    builtins(name).or_else(|| Some(format!("${{{name}}}")))
                });
                let target = Target {
                    dashboard: d.file.clone(),
                    panel: title.clone(),
                    text: expr,
                    instant: t["instant"] == true,
                };
                let run = |q: String| {
                    let instant = target.instant;
                    async move {
                        let data = if instant {
                            prom.api("/api/v1/query", &[("query", q), ("time", format!("{end}"))])
                                .await?
                        } else {
                            prom.api(
                                "/api/v1/query_range",
                                &[
                                    ("query", q),
                                    ("start", format!("{start}")),
                                    ("end", format!("{end}")),
                                    ("step", "1".into()),
                                ],
                            )
                            .await?
                        };
                        Ok(prom_has_finite_value(&data))
                    }
                };
                failures.extend(check_target(&target, &vars, &values, run).await);
            }
        }
    }
    eprintln!(
        "Prometheus: ran {panels_run} panels of {} dashboards",
        dashboards.len()
    );
    failures
}

// ------------------------------------------------------------------ ClickHouse

/// (year, month, day) of a day number since 1970-01-01.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[test]
fn variables_are_found_and_expanded() {
    let vars: Vec<Variable> = ["model", "model_group", "developer"]
        .iter()
        .map(|n| Variable {
            name: n.to_string(),
            query: String::new(),
            all: ".*".into(),
        })
        .collect();
    let text = r#"x{model=~"${model}", g=~"$model_group"} and '${developer:raw}'"#;
    assert_eq!(
        referenced(text, &vars),
        vec!["model", "model_group", "developer"]
    );
    assert_eq!(referenced("$model_group", &vars), vec!["model_group"]);
    let expanded = expand_vars(text, &|n| Some(format!("<{n}>")));
    assert_eq!(
        expanded,
        r#"x{model=~"<model>", g=~"<model_group>"} and '<developer>'"#
    );
}

#[test]
fn civil_dates() {
    assert_eq!(civil_date(0), (1970, 1, 1));
    assert_eq!(civil_date(19_782), (2024, 2, 29));
    assert_eq!(civil_date(20_454), (2026, 1, 1));
}

fn ch_date(secs: i64) -> String {
    let (y, m, d) = civil_date(secs.div_euclid(86_400));
    format!("toDate('{y:04}-{m:02}-{d:02}')")
}

/// Expands the Grafana ClickHouse plugin's macros this repository's
/// dashboards use (as the plugin does: `$__timeFilter(c)`, `$__dateFilter(c)`,
/// `$__fromTime`, `$__toTime`); any other `$__` macro fails.
fn expand_ch_macros(sql: &str, from: i64, to: i64) -> Result<String, String> {
    let mut out = sql.to_string();
    for (name, render) in [
        (
            "$__timeFilter(",
            (|c: &str, f: i64, t: i64| format!("{c} >= toDateTime({f}) AND {c} <= toDateTime({t})"))
                as fn(&str, i64, i64) -> String,
        ),
        ("$__dateFilter(", |c: &str, f: i64, t: i64| {
            format!("{c} >= {} AND {c} <= {}", ch_date(f), ch_date(t))
        }),
    ] {
        while let Some(i) = out.find(name) {
            let rest = &out[i + name.len()..];
            let end = rest.find(')').ok_or(format!("unclosed {name}"))?;
            let column = rest[..end].trim().to_string();
            let replaced = render(&column, from, to);
            out = format!("{}{replaced}{}", &out[..i], &rest[end + 1..]);
        }
    }
    out = out
        .replace("$__fromTime", &format!("toDateTime({from})"))
        .replace("$__toTime", &format!("toDateTime({to})"));
    if let Some(i) = out.find("$__") {
        return Err(format!(
            "macro {} is not one the dashboards test expands",
            &out[i..(i + 20).min(out.len())]
        ));
    }
    Ok(out)
}

async fn ch_rows(url: &str, sql: &str) -> Result<Vec<Value>, String> {
    let text = aihub_testkit::clickhouse::query(url, &format!("{sql}\nFORMAT JSONCompact"))
        .await
        .map_err(|e| format!("{e:#}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    Ok(v["data"].as_array().cloned().unwrap_or_default())
}

async fn check_clickhouse_dashboards(
    url: &str,
    database: &str,
    dashboards: &[&Dashboard],
    from: i64,
    to: i64,
) -> Vec<String> {
    let mut failures = Vec::new();
    // Macros first (they look like variables), variables next, then the
    // database's name.
    let macros = |sql: &str| -> String {
        assert!(
            sql.contains("aihub."),
            "queries name their tables as aihub.<table>: {sql}"
        );
        assert!(
            !sql.contains("usage_records"),
            "dashboards read the rollups, never raw usage_records: {sql}"
        );
        expand_ch_macros(sql, from, to).unwrap_or_else(|e| panic!("{e}: {sql}"))
    };
    let prepare = |sql: &str| sql.replace("aihub.", &format!("{database}."));
    let mut panels_run = 0;
    for d in dashboards {
        let vars = query_variables(&d.value);
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &vars {
            let sql = expand_vars(&macros(&v.query), &|name| {
                vars.iter().find(|x| x.name == name).map(|x| x.all.clone())
            });
            let got: Vec<String> = match ch_rows(url, &prepare(&sql)).await {
                Ok(rows) => rows
                    .iter()
                    .map(|r| match &r[0] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                Err(e) => {
                    failures.push(format!("{}: variable ${}: {e}", d.file, v.name));
                    Vec::new()
                }
            };
            if got.is_empty() {
                failures.push(format!(
                    "{}: variable ${} ({}) has no values",
                    d.file, v.name, v.query
                ));
            }
            values.insert(v.name.clone(), got);
        }
        for p in panels(&d.value) {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            assert!(
                !targets.is_empty(),
                "{}: panel {title} has no targets",
                d.file
            );
            panels_run += 1;
            for t in targets.iter().filter(|t| t["hide"] != true) {
                assert_eq!(
                    target_datasource(p, t),
                    "grafana-clickhouse-datasource",
                    "{}: panel {title} mixes datasources",
                    d.file
                );
                let sql = t["rawSql"].as_str().unwrap_or_default().to_string();
                assert!(!sql.is_empty(), "{}: panel {title} has no rawSql", d.file);
                let target = Target {
                    dashboard: d.file.clone(),
                    panel: title.clone(),
                    text: macros(&sql),
                    instant: false,
                };
                let run = |q: String| {
                    let prepared = prepare(&q);
                    async move { Ok(!ch_rows(url, &prepared).await?.is_empty()) }
                };
                failures.extend(check_target(&target, &vars, &values, run).await);
            }
        }
    }
    eprintln!(
        "ClickHouse: ran {panels_run} panels of {} dashboards",
        dashboards.len()
    );
    failures
}

// ------------------------------------------------------------------ traffic

struct Traffic {
    main: String,
    limited: String,
    broke: String,
    /// Requests sent to the gateway's public port so far.
    sent: u64,
    /// The request id of the last answered request.
    last_ok: String,
}

impl Traffic {
    async fn send(&mut self, s: &Stack, key: &str, body: Value) -> (u16, String) {
        let endpoint = if body.get("input").is_some() {
            "/v1/embeddings"
        } else {
            "/v1/chat/completions"
        };
        let resp = s.post(endpoint, key, body).await;
        self.sent += 1;
        let status = resp.status().as_u16();
        let rid = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.unwrap();
        if status == 200 {
            self.last_ok = rid;
        }
        (status, text)
    }

    /// One wave: answers, streams, a fallback, an upstream 5xx, an unknown
    /// model, a bad key, rate-limit and quota refusals, the model list.
    async fn wave(&mut self, s: &Stack) {
        let main = self.main.clone();
        for _ in 0..2 {
            let (st, body) = self
                .send(
                    s,
                    &main,
                    chat("gpt-4o-mini", "hello there [[stub words=4]]", false),
                )
                .await;
            assert_eq!(st, 200, "{body}");
        }
        for model in ["gpt-4o-mini", "gpt-4o"] {
            let (st, body) = self
                .send(
                    s,
                    &main,
                    chat(model, "tell me a story [[stub words=6]]", true),
                )
                .await;
            assert_eq!(st, 200, "{body}");
            assert!(body.contains("data: [DONE]"), "{body}");
        }
        // gpt-4o's first deployment answers 503: the gateway falls back.
        let (st, body) = self
            .send(s, &main, chat("gpt-4o", "fallback please", false))
            .await;
        assert_eq!(st, 200, "{body}");
        // Every deployment answers 500: the client gets it.
        let (st, body) = self
            .send(
                s,
                &main,
                chat("gpt-4o-mini", "break [[stub status=500]]", false),
            )
            .await;
        assert_eq!(st, 500, "{body}");
        let (st, body) = self
            .send(s, &main, chat("no-such-model", "hello", false))
            .await;
        assert!((400..500).contains(&st), "unknown model: {st} {body}");
        let (st, body) = self
            .send(s, "ahub_not_a_key", chat("gpt-4o-mini", "hello", false))
            .await;
        assert_eq!(st, 401, "{body}");
        // One request a minute: the second and third are refused.
        let limited = self.limited.clone();
        let mut refused = 0;
        for _ in 0..3 {
            let (st, body) = self
                .send(s, &limited, chat("gpt-4o-mini", "hello", false))
                .await;
            assert!(st == 200 || st == 429, "{st} {body}");
            if st == 429 {
                assert!(body.contains("rate_limit_exceeded"), "{body}");
                refused += 1;
            }
        }
        assert!(refused >= 2, "the rate limit refused {refused} of 3");
        // A quota of one token a month refuses any prompt.
        let broke = self.broke.clone();
        let (st, body) = self
            .send(s, &broke, chat("gpt-4o-mini", "hello there", false))
            .await;
        assert_eq!(st, 429, "{body}");
        assert!(body.contains("insufficient_quota"), "{body}");
        let resp = s
            .client
            .get(s.url("/v1/models"))
            .bearer_auth(&main)
            .send()
            .await
            .unwrap();
        self.sent += 1;
        assert_eq!(resp.status(), 200);
        // The last one answers, so its usage row comes after every other.
        let (st, body) = self
            .send(s, &main, chat("gpt-4o-mini", "last one", false))
            .await;
        assert_eq!(st, 200, "{body}");
    }
}

/// A developer with account limits of its own and one key; returns the key.
fn developer_with_limits(s: &Stack, email: &str, rate: &str, quota: &str) -> String {
    let dev = s.aihub(&[
        "admin",
        "create-developer",
        "--email",
        email,
        "--name",
        "Dashboards Dev",
        "--rate-limit",
        rate,
        "--quota-limit",
        quota,
    ]);
    let key = s.aihub(&[
        "admin",
        "create-key",
        "--developer",
        dev["id"].as_str().unwrap(),
    ]);
    key["secret"].as_str().unwrap().to_string()
}

/// The sum of a gateway counter family over its label sets, from its
/// `/metrics` text.
fn counter_sum(metrics: &str, family: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the gateway has counted `n` requests (its logging hooks ran).
async fn wait_gateway_counted(s: &Stack, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = counter_sum(&s.metrics().await, "aihub_gateway_requests_total");
        if got == n as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway counted {got} requests, {n} were sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_dashboard_panel_runs_and_shows_data() {
    let dashboards = load_dashboards();
    let is_ch = |d: &&Dashboard| {
        panels(&d.value).iter().any(|p| {
            p["datasource"]["type"] == "grafana-clickhouse-datasource"
                || p["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["datasource"]["type"] == "grafana-clickhouse-datasource")
        })
    };
    let prom_dashboards: Vec<&Dashboard> = dashboards.iter().filter(|d| !is_ch(d)).collect();
    let ch_dashboards: Vec<&Dashboard> = dashboards.iter().filter(is_ch).collect();
    assert!(!prom_dashboards.is_empty() && !ch_dashboards.is_empty());

    let good = StubUpstream::start(StubConfig::named("good")).unwrap();
    let flaky = StubUpstream::start(StubConfig {
        fail_status: Some(503),
        ..StubConfig::named("flaky")
    })
    .unwrap();
    let mut s = Stack::start().await;
    s.add_provider("good", "openai", &good.base_url(), "k1");
    s.add_provider("flaky", "openai", &flaky.base_url(), "k2");
    s.add_model("gpt-4o-mini", "good", &[]);
    s.add_model("gpt-4o", "flaky", &["--priority", "0"]);
    s.add_model("gpt-4o", "good", &["--priority", "1"]);
    let (_, _, main) = s.developer_with_key("dash-main@example.com", &[]);
    let limited = developer_with_limits(&s, "dash-limited@example.com", "1", "1000000000");
    let broke = developer_with_limits(&s, "dash-broke@example.com", "100000", "1");
    // Every panel must show data, the fsync wait's too: it exists only with
    // `spool.durability = "fsync"`.
    s.gateway_env
        .push(("AIHUB_GW_SPOOL__DURABILITY".into(), "fsync".into()));
    s.start_gateway().await;

    let mut prom = Prometheus::start(&[
        ("aihub-gateway", format!("127.0.0.1:{}", s.ops_port)),
        ("aihub-control-plane", format!("127.0.0.1:{}", s.cp_port)),
    ])
    .await;
    prom.wait_targets_up(2).await;
    let start = unix_now() - 5.0;

    // Two waves, each seen by Prometheus, so rates and quantiles over the
    // series the first one creates have an increase to show.
    let mut traffic = Traffic {
        main,
        limited,
        broke,
        sent: 0,
        last_ok: String::new(),
    };
    for _ in 0..2 {
        traffic.wave(&s).await;
        wait_gateway_counted(&s, traffic.sent).await;
        // The wave's rows stored (the last answered request's row is the
        // last written) and the spool empty.
        s.wait_usage_row(&traffic.last_ok).await;
        let shipped = {
            let deadline = Instant::now() + WAIT;
            loop {
                let m = s.metrics().await;
                if counter_sum(&m, "aihub_gateway_spool_depth_rows") == 0.0 {
                    break counter_sum(&m, "aihub_gateway_usage_rows_shipped_total");
                }
                assert!(Instant::now() < deadline, "the spool never emptied");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        prom.wait_value("sum(aihub_gateway_requests_total)", traffic.sent as f64)
            .await;
        prom.wait_value("sum(aihub_gateway_usage_rows_shipped_total)", shipped)
            .await;
    }
    // The control plane's own series (its scrapes are requests too) have
    // samples that increase.
    prom.wait_at_least(
        r#"sum(aihub_cp_http_requests_total{route="/metrics"})"#,
        3.0,
    )
    .await;
    // Range queries are evaluated at start + k·step: put `end` (after the
    // last sample Prometheus has) on that grid.
    let end = unix_now();
    let start = end - (end - start).ceil();

    let mut failures = check_prometheus_dashboards(&prom, &prom_dashboards, start, end).await;
    match s.clickhouse.clone() {
        Some((url, database)) => {
            let from = start as i64 - 3600;
            let to = end as i64 + 60;
            failures.extend(
                check_clickhouse_dashboards(&url, &database, &ch_dashboards, from, to).await,
            );
        }
        None => eprintln!(
            "ClickHouse panels skipped ({}): AIHUB_TEST_CLICKHOUSE_URL is not set",
            ch_dashboards
                .iter()
                .map(|d| d.file.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    assert!(
        failures.is_empty(),
        "{} dashboard problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

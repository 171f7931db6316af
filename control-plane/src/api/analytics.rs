//! `/api/v1/developer/analytics/*` and `/api/v1/admin/analytics/*`: the
//! analytics API (`control-plane/docs/analytics-api.md`), answered from
//! rollups by [`crate::analytics`].

use super::guard::{AdminUser, AuthUser};
use super::{Api, ApiFailure};
use crate::analytics::report::{self, Interval, RevenueBy};
use crate::analytics::store::Dim;
use crate::analytics::Period;
use crate::db;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

/// Routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/v1/developer/analytics/overview", get(overview))
        .route("/api/v1/developer/analytics/trends", get(trends))
        .route("/api/v1/developer/analytics/costs", get(costs))
        .route("/api/v1/developer/analytics/performance", get(performance))
        .route("/api/v1/admin/analytics/overview", get(admin_overview))
        .route("/api/v1/admin/analytics/revenue", get(admin_revenue))
        .route("/api/v1/admin/analytics/margin", get(admin_margin))
        .route("/api/v1/admin/analytics/developers", get(admin_developers))
        .route("/api/v1/admin/analytics/models", get(admin_models))
        .route("/api/v1/admin/analytics/providers", get(admin_providers))
        .route("/api/v1/admin/analytics/report", get(admin_report))
}

/// Query parameters of every analytics route (unknown ones are refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    interval: Option<String>,
    group_by: Option<String>,
    limit: Option<i64>,
    month: Option<String>,
    format: Option<String>,
}

type Q = Result<Query<Params>, axum::extract::rejection::QueryRejection>;

fn params(q: Q) -> Result<(Params, Period), ApiFailure> {
    let Query(q) = q.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let p = Period::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.tz.as_deref(),
        db::now_ms(),
    )?;
    Ok((q, p))
}

async fn overview(Api(api): Api, AuthUser(who): AuthUser, q: Q) -> Result<Json<Value>, ApiFailure> {
    let (_, p) = params(q)?;
    Ok(Json(
        report::overview(&api.analytics, &who.developer.id, &p).await?,
    ))
}

async fn trends(Api(api): Api, AuthUser(who): AuthUser, q: Q) -> Result<Json<Value>, ApiFailure> {
    let (q, p) = params(q)?;
    let interval = match q.interval.as_deref().unwrap_or("day") {
        "day" => Interval::Day,
        "hour" => Interval::Hour,
        _ => return Err(ApiFailure::invalid("interval: expected hour or day")),
    };
    let group_by = match q.group_by.as_deref().unwrap_or("none") {
        "none" => None,
        "model" => Some(Dim::Model),
        "key" => Some(Dim::Key),
        "endpoint" => Some(Dim::Endpoint),
        _ => {
            return Err(ApiFailure::invalid(
                "group_by: expected none, model, key or endpoint",
            ))
        }
    };
    let db = api.accounts.db();
    Ok(Json(
        report::trends(
            &api.analytics,
            db,
            &who.developer.id,
            &p,
            interval,
            group_by,
        )
        .await?,
    ))
}

async fn costs(Api(api): Api, AuthUser(who): AuthUser, q: Q) -> Result<Json<Value>, ApiFailure> {
    let (_, p) = params(q)?;
    let db = api.accounts.db();
    Ok(Json(
        report::costs(&api.analytics, db, &who.developer.id, &p).await?,
    ))
}

async fn performance(
    Api(api): Api,
    AuthUser(who): AuthUser,
    q: Q,
) -> Result<Json<Value>, ApiFailure> {
    let (_, p) = params(q)?;
    Ok(Json(
        report::performance(&api.analytics, &who.developer.id, &p).await?,
    ))
}

/// JSON, or with `format=csv` the answer's `rows` (or `key`) as CSV.
fn answer(v: Value, format: Option<&str>, list: &str, name: &str) -> Result<Response, ApiFailure> {
    match format.unwrap_or("json") {
        "json" => Ok(Json(v).into_response()),
        "csv" => Ok(csv_response(
            &to_csv(v.get(list).unwrap_or(&Value::Null)),
            name,
        )),
        _ => Err(ApiFailure::invalid("format: expected json or csv")),
    }
}

fn csv_response(body: &str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

/// An array of flat objects as CSV: the first object's fields as header.
pub fn to_csv(list: &Value) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let items = list.as_array().cloned().unwrap_or_default();
    let Some(Value::Object(first)) = items.first() else {
        return String::new();
    };
    let header: Vec<String> = first.keys().cloned().collect();
    let _ = w.write_record(&header);
    for item in &items {
        let rec: Vec<String> = header
            .iter()
            .map(|h| match item.get(h) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

async fn admin_overview(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::admin_overview(&api.analytics, api.accounts.db(), &p).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(v).into_response()),
        "csv" => {
            let rows: Vec<Value> = v["current"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, c)| {
                            serde_json::json!({"metric": k, "current": c,
                                "previous": v["previous"][k], "change": v["change"][k]})
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(csv_response(&to_csv(&Value::Array(rows)), "overview"))
        }
        _ => Err(ApiFailure::invalid("format: expected json or csv")),
    }
}

async fn admin_revenue(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let by = match q.group_by.as_deref().unwrap_or("day") {
        "day" => RevenueBy::Day,
        "plan" => RevenueBy::Plan,
        "model" => RevenueBy::Model,
        _ => return Err(ApiFailure::invalid("group_by: expected day, plan or model")),
    };
    let v = report::revenue(api.accounts.db(), &p, by).await?;
    answer(v, q.format.as_deref(), "rows", "revenue")
}

async fn admin_margin(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::margin(&api.analytics, api.accounts.db(), &p).await?;
    answer(v, q.format.as_deref(), "rows", "margin")
}

async fn admin_developers(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiFailure::invalid("limit: expected 1 to 100"));
    }
    let v = report::developers(&api.analytics, api.accounts.db(), &p, limit).await?;
    answer(v, q.format.as_deref(), "top", "developers")
}

async fn admin_models(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::models(&api.analytics, &p).await?;
    answer(v, q.format.as_deref(), "rows", "models")
}

async fn admin_providers(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::providers(&api.analytics, api.accounts.db(), &p).await?;
    answer(v, q.format.as_deref(), "rows", "providers")
}

async fn admin_report(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let Query(q) = q.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let tz = crate::analytics::parse_tz(q.tz.as_deref())?;
    let month = match q.month.as_deref() {
        Some(m) => m.to_string(),
        None => {
            let (m, _, _) = Period::this_month(tz, db::now_ms());
            Period::date(m.from)[..7].to_string()
        }
    };
    let p = Period::month(&month, tz)?;
    let v = report::report(&api.analytics, api.accounts.db(), &p).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(v).into_response()),
        "csv" => Ok(csv_response(
            &report_csv(&v),
            &format!("aihub-report-{month}"),
        )),
        "html" => Ok((
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            report_html(&v, &month),
        )
            .into_response()),
        _ => Err(ApiFailure::invalid("format: expected json, csv or html")),
    }
}

/// The report's tables, one after another, each under a `# title` line.
fn report_csv(v: &Value) -> String {
    let mut out = String::new();
    for (title, list) in report_tables(v) {
        out.push_str(&format!("# {title}\n"));
        out.push_str(&to_csv(list));
        out.push('\n');
    }
    out
}

fn report_tables(v: &Value) -> Vec<(&'static str, &Value)> {
    vec![
        ("revenue by day", &v["revenue_by_day"]["rows"]),
        ("revenue by plan", &v["revenue_by_plan"]["rows"]),
        ("revenue by model", &v["revenue_by_model"]["rows"]),
        ("margin by model", &v["margin"]["rows"]),
        ("top developers", &v["developers"]["top"]),
        ("model mix", &v["models"]["rows"]),
        ("providers", &v["providers"]["rows"]),
    ]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// The printable monthly report.
fn report_html(v: &Value, month: &str) -> String {
    let cur = &v["overview"]["current"];
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>AI Hub business report {m}</title><style>\
         body{{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#111}}\
         table{{border-collapse:collapse;margin:0 0 1.5rem;width:100%}}\
         th,td{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}}\
         td.n{{text-align:right}}h2{{margin-top:2rem}}\
         .cards{{display:flex;gap:1rem;flex-wrap:wrap}}.card{{border:1px solid #ddd;padding:.6rem 1rem;border-radius:6px}}\
         @media print{{body{{margin:0}}}}</style></head><body>\
         <h1>Business report — {m}</h1><div class=\"cards\">",
        m = esc(month)
    );
    for (label, key) in [
        ("Revenue", "revenue"),
        ("Usage value", "usage_value"),
        ("Upstream cost", "upstream_cost"),
        ("Margin", "margin"),
        ("Requests", "requests"),
        ("Tokens", "tokens"),
        ("Active developers", "active_developers"),
        ("New developers", "new_developers"),
    ] {
        html.push_str(&format!(
            "<div class=\"card\"><div>{label}</div><strong>{}</strong></div>",
            cell(&cur[key])
        ));
    }
    html.push_str("</div>");
    for (title, list) in report_tables(v) {
        html.push_str(&format!("<h2>{}</h2>", esc(title)));
        let items = list.as_array().cloned().unwrap_or_default();
        let Some(Value::Object(first)) = items.first() else {
            html.push_str("<p>No data.</p>");
            continue;
        };
        let header: Vec<String> = first.keys().cloned().collect();
        html.push_str("<table><thead><tr>");
        for h in &header {
            html.push_str(&format!("<th>{}</th>", esc(&h.replace('_', " "))));
        }
        html.push_str("</tr></thead><tbody>");
        for item in &items {
            html.push_str("<tr>");
            for h in &header {
                let v = &item[h];
                let class = if v.is_number() { " class=\"n\"" } else { "" };
                html.push_str(&format!("<td{class}>{}</td>", cell(v)));
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</body></html>");
    html
}

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
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(trends))
        .routes(routes!(costs))
        .routes(routes!(performance))
        .routes(routes!(admin_overview))
        .routes(routes!(admin_revenue))
        .routes(routes!(admin_margin))
        .routes(routes!(admin_developers))
        .routes(routes!(admin_models))
        .routes(routes!(admin_providers))
        .routes(routes!(admin_report))
}

/// The shapes of the analytics routes' answers, for the OpenAPI document.
#[allow(dead_code)]
pub(crate) mod doc {
    use utoipa::ToSchema;

    /// The period answered: whole local days in `tz`.
    #[derive(ToSchema)]
    pub struct AnalyticsPeriod {
        /// First day, `YYYY-MM-DD`.
        pub from: String,
        /// Last day (included), `YYYY-MM-DD`.
        pub to: String,
        /// IANA time zone, e.g. `UTC`.
        pub tz: String,
        /// Start of `from` in `tz`, UTC ms.
        pub start_ms: i64,
        /// End of `to` in `tz` (exclusive), UTC ms.
        pub end_ms: i64,
    }

    /// The period of the same length just before (`YYYY-MM-DD`).
    #[derive(ToSchema)]
    pub struct AnalyticsPreviousPeriod {
        pub from: String,
        pub to: String,
    }

    /// A developer's usage totals over a period.
    #[derive(ToSchema)]
    pub struct AnalyticsTotals {
        pub requests: i64,
        pub errors: i64,
        /// Errors / requests (0 without requests).
        pub error_rate: f64,
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
        pub cached_tokens: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
        /// `null` without requests.
        pub avg_latency_ms: Option<f64>,
        /// `null` without requests.
        pub p95_latency_ms: Option<f64>,
        /// `null` without streamed requests.
        pub avg_ttft_ms: Option<f64>,
    }

    /// Relative changes against the previous period (`0.25` = +25 %);
    /// `null` when the previous value is 0.
    #[derive(ToSchema)]
    pub struct AnalyticsChange {
        pub requests: Option<f64>,
        pub tokens: Option<f64>,
        pub cost: Option<f64>,
        /// The difference of the rates (not relative); `null` unless both
        /// periods have requests.
        pub error_rate: Option<f64>,
        pub avg_latency_ms: Option<f64>,
        pub p95_latency_ms: Option<f64>,
    }

    /// `GET /api/v1/developer/analytics/overview`.
    #[derive(ToSchema)]
    pub struct AnalyticsOverview {
        pub period: AnalyticsPeriod,
        pub previous_period: AnalyticsPreviousPeriod,
        pub current: AnalyticsTotals,
        pub previous: AnalyticsTotals,
        pub change: AnalyticsChange,
    }

    /// Trend bucket size.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TrendInterval {
        Hour,
        Day,
    }

    /// How trends are split into series.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TrendGroupBy {
        None,
        Model,
        Key,
        Endpoint,
    }

    /// A bucket of the trends.
    #[derive(ToSchema)]
    pub struct TrendBucket {
        /// Start, UTC ms.
        pub t: i64,
        /// `YYYY-MM-DD` (days) or `YYYY-MM-DD HH:MM` (hours), local time.
        pub label: String,
    }

    /// One bucket of a series.
    #[derive(ToSchema)]
    pub struct TrendPoint {
        /// The bucket's start, UTC ms.
        pub t: i64,
        pub requests: i64,
        pub errors: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
        /// 0 without requests.
        pub avg_latency_ms: f64,
    }

    /// A series: one group's points, one per bucket.
    #[derive(ToSchema)]
    pub struct TrendSeries {
        /// The model, key id or endpoint (`all` without grouping).
        pub group: String,
        /// For people: the key's name when grouped by key, else `group`.
        pub name: String,
        pub points: Vec<TrendPoint>,
    }

    /// `GET /api/v1/developer/analytics/trends`.
    #[derive(ToSchema)]
    pub struct AnalyticsTrends {
        pub period: AnalyticsPeriod,
        pub interval: TrendInterval,
        pub group_by: TrendGroupBy,
        pub buckets: Vec<TrendBucket>,
        /// Costliest first.
        pub series: Vec<TrendSeries>,
    }

    /// A model's share of the costs.
    #[derive(ToSchema)]
    pub struct ModelCost {
        pub model: String,
        pub requests: i64,
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
        /// Decimal string.
        pub cost_per_1k_tokens: String,
        /// Of the total cost, 0 to 1.
        pub share: f64,
    }

    /// A key's share of the costs.
    #[derive(ToSchema)]
    pub struct KeyCost {
        pub key_id: String,
        /// The key's name (its id once deleted).
        pub name: String,
        pub requests: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
        /// Of the total cost, 0 to 1.
        pub share: f64,
    }

    /// This month (in `tz`) so far, and where it is heading.
    #[derive(ToSchema)]
    pub struct CostProjection {
        /// `YYYY-MM`
        pub month: String,
        /// Decimal string.
        pub month_to_date_cost: String,
        /// Decimal string.
        pub projected_month_end_cost: String,
        pub days_elapsed: i64,
        pub days_in_month: i64,
    }

    /// A way to spend less.
    #[derive(ToSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum CostSuggestion {
        /// Another model would have cost at least 30 % less for the same tokens.
        CheaperModel {
            model: String,
            alternative: String,
            /// Decimal string.
            estimated_savings: String,
            message: String,
        },
        /// A dearer plan would have cost less this month.
        UpgradePlan {
            /// Plan id.
            plan: String,
            /// Decimal string.
            estimated_savings: String,
            message: String,
        },
    }

    /// `GET /api/v1/developer/analytics/costs`.
    #[derive(ToSchema)]
    pub struct AnalyticsCosts {
        pub period: AnalyticsPeriod,
        /// Decimal string.
        pub total_cost: String,
        /// Costliest first.
        pub by_model: Vec<ModelCost>,
        /// Costliest first.
        pub by_key: Vec<KeyCost>,
        pub projection: CostProjection,
        pub suggestions: Vec<CostSuggestion>,
    }

    /// Mean and percentiles in ms; `null` without data.
    #[derive(ToSchema)]
    pub struct LatencyStats {
        pub avg: Option<f64>,
        pub p50: Option<f64>,
        pub p95: Option<f64>,
        pub p99: Option<f64>,
    }

    /// Answers of one status class (`2xx`, `4xx` without 429, `429`, `5xx`).
    #[derive(ToSchema)]
    pub struct StatusClassCount {
        pub class: String,
        pub count: i64,
    }

    /// A model's performance.
    #[derive(ToSchema)]
    pub struct ModelPerformance {
        pub model: String,
        pub requests: i64,
        pub errors: i64,
        pub error_rate: f64,
        pub p50_ms: Option<f64>,
        pub p95_ms: Option<f64>,
        pub p99_ms: Option<f64>,
        /// Time to first token, `null` without streamed requests.
        pub ttft_p95_ms: Option<f64>,
        pub fallbacks: i64,
    }

    /// `GET /api/v1/developer/analytics/performance`.
    #[derive(ToSchema)]
    pub struct AnalyticsPerformance {
        pub period: AnalyticsPeriod,
        pub latency_ms: LatencyStats,
        /// Time to first token (streamed requests).
        pub ttft_ms: LatencyStats,
        pub requests: i64,
        pub errors: i64,
        pub error_rate: f64,
        /// Requests answered by another deployment after a failure.
        pub fallbacks: i64,
        pub fallback_rate: f64,
        pub status: Vec<StatusClassCount>,
        /// Most requests first.
        pub by_model: Vec<ModelPerformance>,
        /// The percentiles' relative error bound.
        pub percentile_error: f64,
    }

    /// The business over a period (amounts are decimal strings).
    #[derive(ToSchema)]
    pub struct BusinessTotals {
        /// Usage charged plus subscription fees.
        pub revenue: String,
        /// Usage at list price.
        pub usage_value: String,
        pub upstream_cost: String,
        /// Usage value less upstream cost.
        pub margin: String,
        pub requests: i64,
        pub tokens: i64,
        pub active_developers: i64,
        pub new_developers: i64,
    }

    /// Relative changes against the previous period; `null` when the
    /// previous value is 0.
    #[derive(ToSchema)]
    pub struct BusinessChange {
        pub revenue: Option<f64>,
        pub usage_value: Option<f64>,
        pub margin: Option<f64>,
        pub requests: Option<f64>,
        pub tokens: Option<f64>,
        pub active_developers: Option<f64>,
        pub new_developers: Option<f64>,
    }

    /// `GET /api/v1/admin/analytics/overview`.
    #[derive(ToSchema)]
    pub struct BusinessOverview {
        pub period: AnalyticsPeriod,
        pub previous_period: AnalyticsPreviousPeriod,
        pub current: BusinessTotals,
        pub previous: BusinessTotals,
        pub change: BusinessChange,
    }

    /// How revenue is grouped.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum RevenueGroupBy {
        Day,
        Plan,
        Model,
    }

    /// Revenue of one group (decimal strings).
    #[derive(ToSchema)]
    pub struct RevenueRow {
        /// The day (`YYYY-MM-DD`), plan id or model (`(subscriptions)` for fees).
        pub group: String,
        pub usage_revenue: String,
        pub subscription_revenue: String,
        pub revenue: String,
    }

    /// `GET /api/v1/admin/analytics/revenue`.
    #[derive(ToSchema)]
    pub struct RevenueReport {
        pub period: AnalyticsPeriod,
        pub group_by: RevenueGroupBy,
        /// Decimal string.
        pub total: String,
        /// By day: oldest first; else most revenue first.
        pub rows: Vec<RevenueRow>,
    }

    /// A model's margin.
    #[derive(ToSchema)]
    pub struct MarginRow {
        pub model: String,
        pub requests: i64,
        pub prompt_tokens: i64,
        pub completion_tokens: i64,
        /// Decimal string.
        pub usage_value: String,
        /// Decimal string.
        pub upstream_cost: String,
        /// Decimal string.
        pub margin: String,
        /// Margin / usage value; `null` when the usage value is 0.
        pub margin_rate: Option<f64>,
    }

    /// `GET /api/v1/admin/analytics/margin`.
    #[derive(ToSchema)]
    pub struct MarginReport {
        pub period: AnalyticsPeriod,
        /// Most usage value first.
        pub rows: Vec<MarginRow>,
    }

    /// Developers on one local day.
    #[derive(ToSchema)]
    pub struct DeveloperActivityDay {
        /// `YYYY-MM-DD`
        pub day: String,
        /// Developers with requests (counted per UTC day).
        pub active: i64,
        /// Sign-ups.
        pub new: i64,
    }

    /// A developer among the biggest spenders.
    #[derive(ToSchema)]
    pub struct TopDeveloper {
        pub developer_id: String,
        pub email: String,
        pub name: String,
        /// Plan id.
        pub plan: String,
        pub requests: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
    }

    /// `GET /api/v1/admin/analytics/developers`.
    #[derive(ToSchema)]
    pub struct DeveloperActivity {
        pub period: AnalyticsPeriod,
        /// Distinct developers with requests.
        pub active: i64,
        /// Sign-ups.
        pub new: u64,
        pub days: Vec<DeveloperActivityDay>,
        /// Costliest first.
        pub top: Vec<TopDeveloper>,
    }

    /// A model's share of the requests.
    #[derive(ToSchema)]
    pub struct ModelMixRow {
        pub model: String,
        pub requests: i64,
        pub tokens: i64,
        /// Decimal string.
        pub cost: String,
        /// Of all requests, 0 to 1.
        pub share: f64,
    }

    /// `GET /api/v1/admin/analytics/models`.
    #[derive(ToSchema)]
    pub struct ModelMix {
        pub period: AnalyticsPeriod,
        /// Most requests first.
        pub rows: Vec<ModelMixRow>,
    }

    /// An upstream provider's performance.
    #[derive(ToSchema)]
    pub struct ProviderPerformanceRow {
        pub provider_id: String,
        /// Its name (its id once deleted).
        pub provider: String,
        pub requests: i64,
        pub errors: i64,
        pub error_rate: f64,
        pub fallbacks: i64,
        pub p50_ms: Option<f64>,
        pub p95_ms: Option<f64>,
        pub p99_ms: Option<f64>,
    }

    /// `GET /api/v1/admin/analytics/providers`.
    #[derive(ToSchema)]
    pub struct ProviderPerformance {
        pub period: AnalyticsPeriod,
        /// Most requests first.
        pub rows: Vec<ProviderPerformanceRow>,
    }

    /// `GET /api/v1/admin/analytics/report`: all of the above for one month.
    #[derive(ToSchema)]
    pub struct MonthlyReport {
        /// `YYYY-MM`
        pub month: String,
        pub period: AnalyticsPeriod,
        pub overview: BusinessOverview,
        pub revenue_by_day: RevenueReport,
        pub revenue_by_plan: RevenueReport,
        pub revenue_by_model: RevenueReport,
        pub margin: MarginReport,
        /// The top 20 developers.
        pub developers: DeveloperActivity,
        pub models: ModelMix,
        pub providers: ProviderPerformance,
    }
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

/// Summarize the developer's usage.
#[utoipa::path(get, operation_id = "analytics_overview", path = "/api/v1/developer/analytics/overview", tag = "usage", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)")
    ),
    responses(
        (status = 200, description = "Totals against the previous period", body = doc::AnalyticsOverview),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn overview(Api(api): Api, AuthUser(who): AuthUser, q: Q) -> Result<Json<Value>, ApiFailure> {
    let (_, p) = params(q)?;
    Ok(Json(
        report::overview(&api.analytics, &who.developer.id, &p).await?,
    ))
}

/// Chart the developer's usage over time.
#[utoipa::path(get, path = "/api/v1/developer/analytics/trends", tag = "usage", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("interval" = Option<String>, Query, description = "`day` (default) or `hour` (periods of at most 7 days)"),
        ("group_by" = Option<String>, Query, description = "`none` (default), `model`, `key` or `endpoint`")
    ),
    responses(
        (status = 200, description = "Series of buckets", body = doc::AnalyticsTrends),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
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

/// Break down the developer's costs.
#[utoipa::path(get, path = "/api/v1/developer/analytics/costs", tag = "usage", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)")
    ),
    responses(
        (status = 200, description = "Costs by model and key, the month's projection and suggestions", body = doc::AnalyticsCosts),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
async fn costs(Api(api): Api, AuthUser(who): AuthUser, q: Q) -> Result<Json<Value>, ApiFailure> {
    let (_, p) = params(q)?;
    let db = api.accounts.db();
    Ok(Json(
        report::costs(&api.analytics, db, &who.developer.id, &p).await?,
    ))
}

/// Show the developer's latency and errors.
#[utoipa::path(get, path = "/api/v1/developer/analytics/performance", tag = "usage", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)")
    ),
    responses(
        (status = 200, description = "Latency, errors and fallbacks", body = doc::AnalyticsPerformance),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)
    ))]
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

/// Summarize the business.
#[utoipa::path(get, path = "/api/v1/admin/analytics/overview", tag = "admin", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")
    ),
    responses(
        (status = 200, description = "The business against the previous period (CSV: `metric,current,previous,change`)", content((doc::BusinessOverview = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
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

/// Break down revenue.
#[utoipa::path(get, path = "/api/v1/admin/analytics/revenue", tag = "admin", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("group_by" = Option<String>, Query, description = "`day` (default), `plan` or `model`"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")
    ),
    responses(
        (status = 200, description = "Revenue by group (CSV: the rows)", content((doc::RevenueReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
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

/// Show the margin by model.
#[utoipa::path(get, path = "/api/v1/admin/analytics/margin", tag = "admin", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")
    ),
    responses(
        (status = 200, description = "Margin by model (CSV: the rows)", content((doc::MarginReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_margin(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::margin(&api.analytics, api.accounts.db(), &p).await?;
    answer(v, q.format.as_deref(), "rows", "margin")
}

/// Show active, new and top developers.
#[utoipa::path(get, path = "/api/v1/admin/analytics/developers", tag = "admin", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("limit" = Option<i64>, Query, description = "Top developers, 1–100 (default 10)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")
    ),
    responses(
        (status = 200, description = "Active and new developers, and the top spenders (CSV: the top)", content((doc::DeveloperActivity = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_developers(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiFailure::invalid("limit: expected 1 to 100"));
    }
    let v = report::developers(&api.analytics, api.accounts.db(), &p, limit).await?;
    answer(v, q.format.as_deref(), "top", "developers")
}

/// Show the model mix.
#[utoipa::path(get, path = "/api/v1/admin/analytics/models", tag = "admin", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")
    ),
    responses(
        (status = 200, description = "The model mix (CSV: the rows)", content((doc::ModelMix = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_models(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::models(&api.analytics, &p).await?;
    answer(v, q.format.as_deref(), "rows", "models")
}

/// Show upstream providers' performance.
#[utoipa::path(get, path = "/api/v1/admin/analytics/providers", tag = "admin", security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 6 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, included, `YYYY-MM-DD` (default: today in `tz`); at most 366 days after `from`"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")
    ),
    responses(
        (status = 200, description = "Upstream providers' performance (CSV: the rows)", content((doc::ProviderPerformance = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
async fn admin_providers(Api(api): Api, _: AdminUser, q: Q) -> Result<Response, ApiFailure> {
    let (q, p) = params(q)?;
    let v = report::providers(&api.analytics, api.accounts.db(), &p).await?;
    answer(v, q.format.as_deref(), "rows", "providers")
}

/// Build the monthly business report.
#[utoipa::path(get, path = "/api/v1/admin/analytics/report", tag = "admin", security(("bearer" = [])),
    params(
        ("month" = Option<String>, Query, description = "`YYYY-MM` (default: this month in `tz`)"),
        ("tz" = Option<String>, Query, description = "IANA time zone the days are in (default `UTC`)"),
        ("format" = Option<String>, Query, description = "`json` (default), `csv` or `html`")
    ),
    responses(
        (status = 200, description = "The monthly report (CSV: its tables, each under a `# title` line; HTML: a printable page)", content((doc::MonthlyReport = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not an operator", body = super::openapi::ErrorBody)
    ))]
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

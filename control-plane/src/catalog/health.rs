//! Upstream health as the gateways report it ([`HealthReport`], every few
//! seconds each): kept one row per gateway and deployment, summed per
//! deployment for the operator console.

use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use aihub_contract::health::HealthReport;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// Reports older than this are left out of the console's figures.
pub const FRESH_MS: i64 = 30_000;
/// Rows of gateways silent this long are deleted.
const FORGET_MS: i64 = 86_400_000;

/// Stores a gateway's report: its rows are replaced (deployments it no
/// longer reports were idle), and rows of long-silent gateways deleted.
pub async fn record(db: &Db, report: &HealthReport) -> DomainResult<()> {
    let gw = report.gateway_id.trim();
    if gw.is_empty() || gw.len() > 200 || report.deployments.len() > 100_000 {
        return Err(DomainError::invalid(
            "health report: expected a gateway_id of 1 to 200 characters and at most 100000 deployments",
        ));
    }
    let now = db::now_ms();
    let mut tx = db.begin_write().await?;
    for d in &report.deployments {
        sqlx::query(
            "INSERT INTO deployment_health (gateway_id, deployment_id, requests, errors, latency_ms, \
             consecutive_failures, ejected_until, reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (gateway_id, deployment_id) DO UPDATE SET requests = excluded.requests, \
             errors = excluded.errors, latency_ms = excluded.latency_ms, \
             consecutive_failures = excluded.consecutive_failures, \
             ejected_until = excluded.ejected_until, reported_at = excluded.reported_at",
        )
        .bind(gw)
        .bind(&d.deployment_id)
        .bind(i64::try_from(d.requests).unwrap_or(i64::MAX))
        .bind(i64::try_from(d.errors).unwrap_or(i64::MAX))
        .bind(d.latency_ms.map(|l| i64::try_from(l).unwrap_or(i64::MAX)))
        .bind(i64::from(d.consecutive_failures))
        .bind(d.ejected_until_ms.map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM deployment_health WHERE gateway_id = $1 AND reported_at < $2")
        .bind(gw)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM deployment_health WHERE reported_at < $1")
        .bind(now - FORGET_MS)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A deployment's health over every gateway that reported it lately.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeploymentStatus {
    /// `dep_…`
    pub deployment_id: String,
    /// Its public model (`None` when the deployment was deleted since).
    pub model: Option<String>,
    /// Its provider's name.
    pub provider_name: Option<String>,
    /// The model name upstream.
    pub upstream_model: Option<String>,
    /// Attempts in the last minute or so, all gateways.
    pub requests: i64,
    /// Failed ones.
    pub errors: i64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Mean time to response headers of good attempts, ms.
    pub latency_ms: Option<i64>,
    /// The most failures in a row any gateway sees now.
    pub consecutive_failures: i64,
    /// Out of rotation at some gateway (ejected, or awaiting a good probe).
    pub ejected: bool,
    /// The latest end of an ejection reported (unix ms).
    pub ejected_until: Option<i64>,
    /// Gateways reporting it.
    pub gateways: i64,
    /// The newest report (unix ms).
    pub reported_at: i64,
}

/// Deployments reported in the last [`FRESH_MS`], by model then id.
pub async fn current(conn: &mut AnyConnection, now: i64) -> DomainResult<Vec<DeploymentStatus>> {
    let rows = sqlx::query(
        "SELECT h.deployment_id, h.requests, h.errors, h.latency_ms, h.consecutive_failures, \
         h.ejected_until, h.reported_at, d.upstream_model, m.name AS model, p.name AS provider_name \
         FROM deployment_health h LEFT JOIN deployments d ON d.id = h.deployment_id \
         LEFT JOIN models m ON m.id = d.model_id LEFT JOIN providers p ON p.id = d.provider_id \
         WHERE h.reported_at >= $1",
    )
    .bind(now - FRESH_MS)
    .fetch_all(&mut *conn)
    .await?;
    // Latency is averaged over gateways weighted by their good attempts.
    let mut by_id: BTreeMap<String, (DeploymentStatus, i64, i64)> = BTreeMap::new();
    for r in &rows {
        let id: String = r.try_get("deployment_id")?;
        let requests: i64 = r.try_get("requests")?;
        let errors: i64 = r.try_get("errors")?;
        let latency: Option<i64> = r.try_get("latency_ms")?;
        let until: Option<i64> = r.try_get("ejected_until")?;
        let entry = by_id.entry(id.clone()).or_insert_with(|| {
            (
                DeploymentStatus {
                    deployment_id: id,
                    model: None,
                    provider_name: None,
                    upstream_model: None,
                    requests: 0,
                    errors: 0,
                    error_rate: 0.0,
                    latency_ms: None,
                    consecutive_failures: 0,
                    ejected: false,
                    ejected_until: None,
                    gateways: 0,
                    reported_at: 0,
                },
                0,
                0,
            )
        });
        let (s, weighted, good) = entry;
        s.model = r.try_get("model")?;
        s.provider_name = r.try_get("provider_name")?;
        s.upstream_model = r.try_get("upstream_model")?;
        s.requests += requests;
        s.errors += errors;
        if let Some(l) = latency {
            let ok = (requests - errors).max(1);
            *weighted += l.saturating_mul(ok);
            *good += ok;
        }
        s.consecutive_failures = s
            .consecutive_failures
            .max(r.try_get("consecutive_failures")?);
        if until.is_some() {
            s.ejected = true;
            s.ejected_until = s.ejected_until.max(until);
        }
        s.gateways += 1;
        s.reported_at = s.reported_at.max(r.try_get("reported_at")?);
    }
    let mut out: Vec<DeploymentStatus> = by_id
        .into_values()
        .map(|(mut s, weighted, good)| {
            s.latency_ms = weighted.checked_div(good);
            if s.requests > 0 {
                s.error_rate = s.errors as f64 / s.requests as f64;
            }
            s
        })
        .collect();
    out.sort_by(|a, b| (&a.model, &a.deployment_id).cmp(&(&b.model, &b.deployment_id)));
    Ok(out)
}

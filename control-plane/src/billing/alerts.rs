//! Usage alerts: at 50, 80 and 100% of a plan's included tokens and of a
//! key's spend budget, and when prepaid credit runs low or out. Each fires
//! once per subject, kind, threshold and period (`usage_alerts`' primary
//! key), as an `api.usage_alert` event (webhooks, event stream) and an
//! email, in the transaction of the charge that crossed it.

use super::{money, plans, Settings};
use crate::db;
use crate::error::DomainResult;
use aihub_contract::calendar::month_of;
use serde_json::json;
use sqlx::{AnyConnection, Row};

/// The thresholds, percent.
pub const THRESHOLDS: [i64; 3] = [50, 80, 100];

/// Records an alert; true when it is new (so it is sent once).
async fn claim(
    conn: &mut AnyConnection,
    subject: &str,
    kind: &str,
    threshold: i64,
    period: &str,
) -> DomainResult<bool> {
    let n = sqlx::query(
        "INSERT INTO usage_alerts (subject, kind, threshold, period, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(subject)
    .bind(kind)
    .bind(threshold)
    .bind(period)
    .bind(db::now_ms())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Sends one alert: the event and the email.
async fn send(
    conn: &mut AnyConnection,
    settings: &Settings,
    developer_id: &str,
    kind: &str,
    threshold: i64,
    subject_name: &str,
    data: serde_json::Value,
) -> DomainResult<()> {
    crate::audit::emit(conn, "api.usage_alert", developer_id, &data).await?;
    let Some(dev) = crate::developers::fetch_by_id(&mut *conn, developer_id).await? else {
        return Ok(());
    };
    crate::email::outbox::enqueue(
        &mut *conn,
        crate::email::outbox::NewEmail {
            developer_id: Some(&dev.id),
            to: &dev.email,
            template: crate::email::templates::Template::UsageAlert {
                kind,
                threshold,
                subject: subject_name,
                link: &settings.billing_url,
            },
            language: dev.language,
            name: &dev.full_name,
        },
    )
    .await?;
    Ok(())
}

/// Allowance thresholds reached by `used` tokens in `period`.
pub async fn allowance(
    conn: &mut AnyConnection,
    settings: &Settings,
    developer_id: &str,
    period: &str,
    sub: &plans::Subscription,
    used: i64,
) -> DomainResult<()> {
    let included = sub.included_tokens;
    if included <= 0 {
        return Ok(());
    }
    for t in THRESHOLDS {
        if used.saturating_mul(100) < included.saturating_mul(t) {
            break;
        }
        if claim(conn, developer_id, "allowance", t, period).await? {
            send(
                conn,
                settings,
                developer_id,
                "allowance",
                t,
                &sub.plan.name,
                json!({
                    "kind": "allowance",
                    "threshold_percent": t,
                    "period": period,
                    "plan": sub.plan.id,
                    "included_tokens": included,
                    "used_tokens": used,
                }),
            )
            .await?;
        }
    }
    Ok(())
}

/// Budget thresholds of the developer's keys among `key_ids`, from what
/// was charged for them (their usage's list price).
pub async fn keys(
    conn: &mut AnyConnection,
    settings: &Settings,
    developer_id: &str,
    key_ids: &[&str],
    now_ms: i64,
) -> DomainResult<()> {
    let month = month_of(now_ms).name;
    for key_id in key_ids {
        let row = sqlx::query(
            "SELECT name, budget_total_nanos, budget_monthly_nanos FROM api_keys \
             WHERE id = $1 AND developer_id = $2",
        )
        .bind(*key_id)
        .bind(developer_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let name: String = row.try_get("name")?;
        let budgets = [
            (
                "key_budget_total",
                row.try_get::<Option<i64>, _>("budget_total_nanos")?,
                "total",
            ),
            (
                "key_budget_monthly",
                row.try_get::<Option<i64>, _>("budget_monthly_nanos")?,
                month.as_str(),
            ),
        ];
        for (kind, budget, period) in budgets {
            let Some(budget) = budget.filter(|b| *b > 0) else {
                continue;
            };
            let spent: i64 = sqlx::query(
                "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS spent FROM usage_charges \
                 WHERE key_id = $1 AND ($2 = 'total' OR period = $2)",
            )
            .bind(*key_id)
            .bind(period)
            .fetch_one(&mut *conn)
            .await?
            .try_get("spent")?;
            for t in THRESHOLDS {
                if i128::from(spent) * 100 < i128::from(budget) * i128::from(t) {
                    break;
                }
                if claim(conn, key_id, kind, t, period).await? {
                    send(
                        conn,
                        settings,
                        developer_id,
                        kind,
                        t,
                        &name,
                        json!({
                            "kind": kind,
                            "threshold_percent": t,
                            "period": period,
                            "key_id": key_id,
                            "budget": money::format(budget),
                            "spent": money::format(spent),
                        }),
                    )
                    .await?;
                }
            }
        }
    }
    Ok(())
}

/// Low and empty balance, when a charge took the balance across them.
pub async fn balance(
    conn: &mut AnyConnection,
    settings: &Settings,
    developer_id: &str,
    before: i64,
    after: i64,
    now_ms: i64,
) -> DomainResult<()> {
    let period = month_of(now_ms).name;
    let low = settings.low_balance_nanos;
    let crossings = [
        (
            "balance_low",
            low,
            before >= low && after < low && after > 0,
        ),
        ("balance_empty", 0, before > 0 && after <= 0),
    ];
    for (kind, threshold, crossed) in crossings {
        if !crossed {
            continue;
        }
        // Cents, for the message.
        let cents = threshold / 10_000_000;
        if claim(conn, developer_id, kind, cents, &period).await? {
            send(
                conn,
                settings,
                developer_id,
                kind,
                cents,
                "",
                json!({
                    "kind": kind,
                    "period": period,
                    "threshold": money::format(threshold),
                    "balance": money::format(after),
                }),
            )
            .await?;
        }
    }
    Ok(())
}

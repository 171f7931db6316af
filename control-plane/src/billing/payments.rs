//! Payments: Stripe Checkout for top-ups and invoices, Stripe's signed
//! webhooks, and payments operators record by hand.
//!
//! A payment row is written `pending` before Stripe is called (with the
//! payment id as Stripe's `Idempotency-Key`), so a retry never opens two
//! sessions. Stripe's `checkout.session.completed` event, verified with
//! `Stripe-Signature` (HMAC-SHA256 of `t.body`, five minutes' tolerance),
//! marks it succeeded and credits the balance or pays the invoice; each
//! event id is processed once (`payment_events`), and each payment credits
//! once (the ledger's idempotency key), however often Stripe retries.

use super::{credit, invoices, money};
use crate::config::PaymentsConfig;
use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::{AnyConnection, Row};
use std::time::Duration;

/// Webhook timestamps older (or newer) than this are refused.
const TOLERANCE_SECS: i64 = 300;

/// Stripe, when configured.
#[derive(Debug, Clone)]
pub struct Payments {
    stripe: Option<Stripe>,
    /// Smallest top-up, nano-units.
    pub min_top_up_nanos: i64,
    /// Largest top-up, nano-units.
    pub max_top_up_nanos: i64,
    success_url: String,
    cancel_url: String,
}

#[derive(Clone)]
struct Stripe {
    client: reqwest::Client,
    api_base: String,
    secret_key: String,
    webhook_secret: String,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// What to pay.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// Prepaid credit.
    TopUp,
    /// An open invoice.
    Invoice(invoices::Invoice),
}

impl Payments {
    /// From the configuration; `billing_url` is the portal's billing page
    /// (Checkout returns there).
    pub fn from_config(c: &PaymentsConfig, billing_url: &str) -> DomainResult<Payments> {
        let stripe = if c.provider == "stripe" {
            Some(Stripe {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| DomainError::Internal(e.to_string()))?,
                api_base: c.stripe_api_base.trim_end_matches('/').to_string(),
                secret_key: c.stripe_secret_key.expose().to_string(),
                webhook_secret: c.stripe_webhook_secret.expose().to_string(),
            })
        } else {
            None
        };
        Ok(Payments {
            stripe,
            min_top_up_nanos: money::parse_positive(&c.min_top_up, "payments.min_top_up", 2)?,
            max_top_up_nanos: money::parse_positive(&c.max_top_up, "payments.max_top_up", 2)?,
            success_url: format!(
                "{billing_url}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
            ),
            cancel_url: format!("{billing_url}?checkout=cancelled"),
        })
    }

    /// Whether a payment provider is configured.
    pub fn enabled(&self) -> bool {
        self.stripe.is_some()
    }

    /// Opens a Checkout session; returns the payment id and the URL to send
    /// the developer to.
    pub async fn checkout(
        &self,
        db: &Db,
        developer_id: &str,
        email: &str,
        purpose: Purpose,
        amount_nanos: i64,
    ) -> DomainResult<(String, String)> {
        let Some(stripe) = &self.stripe else {
            return Err(DomainError::Conflict(
                "payments_disabled: this AI Hub takes no card payments; ask the operator".into(),
            ));
        };
        let cents = amount_nanos / 10_000_000;
        if cents * 10_000_000 != amount_nanos {
            return Err(DomainError::invalid("amount: at most two decimal places"));
        }
        let payment_id = db::new_id("pay_");
        let (purpose_name, invoice_id, product) = match &purpose {
            Purpose::TopUp => ("top_up", None, "AI Hub credit".to_string()),
            Purpose::Invoice(inv) => (
                "invoice",
                Some(inv.id.clone()),
                format!(
                    "AI Hub invoice {}",
                    inv.number.as_deref().unwrap_or(&inv.period)
                ),
            ),
        };
        {
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "INSERT INTO payments (id, developer_id, purpose, invoice_id, amount_nanos, status, \
                 provider, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 'stripe', $6)",
            )
            .bind(&payment_id)
            .bind(developer_id)
            .bind(purpose_name)
            .bind(&invoice_id)
            .bind(amount_nanos)
            .bind(db::now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        let form: Vec<(String, String)> = vec![
            ("mode".into(), "payment".into()),
            ("success_url".into(), self.success_url.clone()),
            ("cancel_url".into(), self.cancel_url.clone()),
            ("client_reference_id".into(), payment_id.clone()),
            ("customer_email".into(), email.to_string()),
            ("metadata[aihub_payment_id]".into(), payment_id.clone()),
            (
                "metadata[aihub_developer_id]".into(),
                developer_id.to_string(),
            ),
            ("line_items[0][quantity]".into(), "1".into()),
            ("line_items[0][price_data][currency]".into(), "usd".into()),
            (
                "line_items[0][price_data][unit_amount]".into(),
                cents.to_string(),
            ),
            (
                "line_items[0][price_data][product_data][name]".into(),
                product,
            ),
        ];
        let sent = stripe
            .client
            .post(format!("{}/v1/checkout/sessions", stripe.api_base))
            .bearer_auth(&stripe.secret_key)
            .header("Idempotency-Key", &payment_id)
            .form(&form)
            .send()
            .await;
        let session: Result<Value, String> = match sent {
            Ok(resp) if resp.status().is_success() => {
                resp.json::<Value>().await.map_err(|e| e.to_string())
            }
            Ok(resp) => {
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                Err(format!(
                    "Stripe answered {status}: {}",
                    body["error"]["message"].as_str().unwrap_or("no message")
                ))
            }
            Err(e) => Err(e.to_string()),
        };
        let mut conn = db.pool().acquire().await?;
        let (id, url) = match session {
            Ok(s) => match (s["id"].as_str(), s["url"].as_str()) {
                (Some(id), Some(url)) => (id.to_string(), url.to_string()),
                _ => {
                    mark_failed(&mut conn, &payment_id).await?;
                    return Err(DomainError::Internal(
                        "Stripe's session has no id or url".into(),
                    ));
                }
            },
            Err(e) => {
                mark_failed(&mut conn, &payment_id).await?;
                tracing::warn!(error = %e, "creating a Stripe Checkout session failed");
                return Err(DomainError::Internal(format!(
                    "the payment provider could not be reached: {e}"
                )));
            }
        };
        sqlx::query(
            "UPDATE payments SET provider_session_id = $1, checkout_url = $2 WHERE id = $3",
        )
        .bind(&id)
        .bind(&url)
        .bind(&payment_id)
        .execute(&mut *conn)
        .await?;
        Ok((payment_id, url))
    }

    /// Checks a `Stripe-Signature` header over the raw body at `now_secs`.
    pub fn verify(&self, header: &str, body: &[u8], now_secs: i64) -> Result<(), String> {
        let Some(stripe) = &self.stripe else {
            return Err("payments are not configured".into());
        };
        verify_signature(&stripe.webhook_secret, header, body, now_secs)
    }
}

async fn mark_failed(conn: &mut AnyConnection, payment_id: &str) -> DomainResult<()> {
    sqlx::query("UPDATE payments SET status = 'failed', completed_at = $1 WHERE id = $2")
        .bind(db::now_ms())
        .bind(payment_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stripe's scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>` (any
/// of several `v1`), within [`TOLERANCE_SECS`], compared in constant time.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), String> {
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse().ok(),
            Some(("v1", v)) => {
                if let Ok(b) = hex::decode(v) {
                    sigs.push(b);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or("Stripe-Signature: no timestamp")?;
    if sigs.is_empty() {
        return Err("Stripe-Signature: no v1 signature".into());
    }
    if (now_secs - t).abs() > TOLERANCE_SECS {
        return Err("Stripe-Signature: the timestamp is outside the tolerance".into());
    }
    for sig in sigs {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err("Stripe-Signature: no signature matches".into())
}

/// What processing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Applied now.
    Applied,
    /// This event id was processed before.
    Duplicate,
    /// Not an event AI Hub acts on (acknowledged).
    Ignored,
}

/// Processes a verified Stripe event once.
pub async fn handle_event(db: &Db, event: &Value) -> DomainResult<Handled> {
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(DomainError::invalid(
            "event: expected an object with id and type",
        ));
    };
    let mut tx = db.begin_write().await?;
    let fresh = sqlx::query(
        "INSERT INTO payment_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(db::now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if fresh == 0 {
        return Ok(Handled::Duplicate);
    }
    let object = &event["data"]["object"];
    let handled = match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
            if object["payment_status"].as_str() == Some("paid") =>
        {
            succeed(&mut tx, db.backend(), object).await?
        }
        "checkout.session.expired" | "checkout.session.async_payment_failed" => {
            let status = if kind == "checkout.session.expired" {
                "expired"
            } else {
                "failed"
            };
            sqlx::query(
                "UPDATE payments SET status = $1, completed_at = $2 \
                 WHERE provider_session_id = $3 AND status = 'pending'",
            )
            .bind(status)
            .bind(db::now_ms())
            .bind(object["id"].as_str().unwrap_or_default())
            .execute(&mut *tx)
            .await?;
            Handled::Applied
        }
        _ => Handled::Ignored,
    };
    tx.commit().await?;
    Ok(handled)
}

async fn succeed(
    conn: &mut AnyConnection,
    backend: db::Backend,
    session: &Value,
) -> DomainResult<Handled> {
    let session_id = session["id"].as_str().unwrap_or_default();
    let row = sqlx::query(
        "SELECT id, developer_id, purpose, invoice_id, amount_nanos, status FROM payments \
         WHERE provider_session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        tracing::warn!(session_id, "a Stripe session AI Hub does not know was paid");
        return Ok(Handled::Ignored);
    };
    let payment_id: String = row.try_get("id")?;
    let developer_id: String = row.try_get("developer_id")?;
    let purpose: String = row.try_get("purpose")?;
    let invoice_id: Option<String> = row.try_get("invoice_id")?;
    let amount_nanos: i64 = row.try_get("amount_nanos")?;
    let status: String = row.try_get("status")?;
    if status == "succeeded" {
        return Ok(Handled::Duplicate);
    }
    let paid_cents = session["amount_total"].as_i64().unwrap_or(-1);
    if paid_cents * 10_000_000 != amount_nanos {
        return Err(DomainError::Internal(format!(
            "payment {payment_id}: Stripe reports {paid_cents} cents, AI Hub expected {}",
            money::format(amount_nanos)
        )));
    }
    sqlx::query(
        "UPDATE payments SET status = 'succeeded', completed_at = $1, provider_payment_id = $2 \
         WHERE id = $3",
    )
    .bind(db::now_ms())
    .bind(session["payment_intent"].as_str())
    .bind(&payment_id)
    .execute(&mut *conn)
    .await?;
    apply(
        conn,
        backend,
        &payment_id,
        &developer_id,
        &purpose,
        invoice_id.as_deref(),
        amount_nanos,
        "stripe",
    )
    .await?;
    Ok(Handled::Applied)
}

/// Credits a succeeded payment and tells the developer (`billing.payment`).
#[allow(clippy::too_many_arguments)]
async fn apply(
    conn: &mut AnyConnection,
    backend: db::Backend,
    payment_id: &str,
    developer_id: &str,
    purpose: &str,
    invoice_id: Option<&str>,
    amount_nanos: i64,
    provider: &str,
) -> DomainResult<()> {
    // Money received is never refused: what an invoice does not take (it
    // was paid another way meanwhile, or this pays more than is due)
    // becomes paid credit.
    let mut to_credit = amount_nanos;
    if let ("invoice", Some(inv_id)) = (purpose, invoice_id) {
        let inv = invoices::get(conn, inv_id, Some(developer_id)).await?;
        let applied = amount_nanos.min(inv.amount_due());
        if applied > 0 {
            invoices::record_payment(conn, &inv, payment_id, applied).await?;
        }
        to_credit -= applied;
    }
    if to_credit > 0 {
        credit::top_up(conn, backend, developer_id, payment_id, to_credit).await?;
    }
    crate::audit::emit(
        conn,
        "billing.payment",
        developer_id,
        &json!({
            "payment_id": payment_id,
            "purpose": purpose,
            "invoice_id": invoice_id,
            "amount": money::format(amount_nanos),
            "currency": "usd",
            "provider": provider,
            "status": "succeeded",
        }),
    )
    .await?;
    Ok(())
}

/// An operator records a payment of an open invoice received outside
/// Stripe (bank transfer, …).
pub async fn record_manual(
    conn: &mut AnyConnection,
    backend: db::Backend,
    invoice: &invoices::Invoice,
    amount_nanos: Option<i64>,
) -> DomainResult<String> {
    let due = invoice.amount_due();
    let amount = amount_nanos.unwrap_or(due);
    if due <= 0 {
        return Err(DomainError::Conflict(format!(
            "invoice {} has nothing due",
            invoice.number.as_deref().unwrap_or(&invoice.id)
        )));
    }
    if amount > due {
        return Err(DomainError::invalid(format!(
            "amount: at most what is due, {}",
            money::format(due)
        )));
    }
    let payment_id = db::new_id("pay_");
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO payments (id, developer_id, purpose, invoice_id, amount_nanos, status, \
         provider, created_at, completed_at) VALUES ($1, $2, 'invoice', $3, $4, 'succeeded', 'manual', $5, $5)",
    )
    .bind(&payment_id)
    .bind(&invoice.developer_id)
    .bind(&invoice.id)
    .bind(amount)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    apply(
        conn,
        backend,
        &payment_id,
        &invoice.developer_id,
        "invoice",
        Some(&invoice.id),
        amount,
        "manual",
    )
    .await?;
    Ok(payment_id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn stripe_signatures_are_checked() {
        let body = r#"{"id":"evt_1"}"#;
        let h = sign("whsec_x", 1000, body);
        assert!(verify_signature("whsec_x", &h, body.as_bytes(), 1000).is_ok());
        assert!(verify_signature("whsec_x", &h, body.as_bytes(), 1000 + 301).is_err());
        assert!(verify_signature("whsec_y", &h, body.as_bytes(), 1000).is_err());
        assert!(verify_signature("whsec_x", &h, b"{}", 1000).is_err());
        assert!(verify_signature("whsec_x", "t=1000", body.as_bytes(), 1000).is_err());
        assert!(verify_signature("whsec_x", "garbage", body.as_bytes(), 1000).is_err());
        // Several signatures (a secret being rolled): one match is enough.
        let two = format!("{},v1=00ff", h);
        assert!(verify_signature("whsec_x", &two, body.as_bytes(), 1000).is_ok());
    }
}

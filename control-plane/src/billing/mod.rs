//! Money: plans and subscriptions ([`plans`]), prepaid credit ([`credit`]),
//! usage charges ([`charges`]), invoices and month close ([`invoices`]),
//! payments through Stripe ([`payments`]), usage alerts ([`alerts`]),
//! reconciliation ([`reconcile`]), all posted to the double-entry
//! [`ledger`]. Amounts are nano-units (10^-9 USD) in storage and
//! `rust_decimal` at the edges ([`money`]).

pub mod alerts;
pub mod charges;
pub mod credit;
pub mod invoices;
pub mod ledger;
pub mod money;
pub mod payments;
pub mod plans;
pub mod reconcile;

/// What billing needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The portal's billing page, for links in mail.
    pub billing_url: String,
    /// A low-balance alert fires when prepaid credit falls below this, nano-units.
    pub low_balance_nanos: i64,
    /// Hours after a month ends before its invoices are finalized (late usage).
    pub invoice_grace_hours: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            billing_url: "http://localhost:8080/billing".into(),
            low_balance_nanos: 1_000_000_000,
            invoice_grace_hours: 24,
        }
    }
}

/// Billing's running parts, built from the configuration.
#[derive(Debug)]
pub struct Billing {
    /// Thresholds and links.
    pub settings: Settings,
    /// Stripe, when configured (see [`Billing::payments`]).
    payments: std::sync::RwLock<(i64, std::sync::Arc<payments::Payments>)>,
    /// The console's settings, when payments follow them.
    runtime: Option<std::sync::Arc<crate::settings::Runtime>>,
    /// Where usage rows are read from.
    pub source: charges::Source,
    /// Milliseconds between charger rounds.
    pub charge_interval_ms: u64,
    /// Close months on a schedule.
    pub close_months: bool,
    /// The plan new developers start on.
    pub default_plan: String,
}

impl Billing {
    /// From the configuration.
    pub fn from_config(config: &crate::config::Config) -> crate::error::DomainResult<Billing> {
        let billing_url = format!("{}/billing", config.public.portal_base());
        let ch = &config.clickhouse;
        Ok(Billing {
            settings: Settings {
                billing_url: billing_url.clone(),
                low_balance_nanos: money::parse_positive(
                    &config.billing.low_balance_alert,
                    "billing.low_balance_alert",
                    2,
                )?,
                invoice_grace_hours: i64::try_from(config.billing.invoice_grace_hours)
                    .unwrap_or(24),
            },
            payments: std::sync::RwLock::new((
                0,
                std::sync::Arc::new(payments::Payments::from_config(
                    &config.payments,
                    &billing_url,
                )?),
            )),
            runtime: None,
            source: charges::Source::from_config(ch),
            charge_interval_ms: config.billing.charge_interval_ms,
            close_months: config.billing.close_months,
            default_plan: config.billing.default_plan.clone(),
        })
    }

    /// Payments follow the console's settings from now on.
    pub fn following(mut self, runtime: std::sync::Arc<crate::settings::Runtime>) -> Billing {
        self.runtime = Some(runtime);
        self
    }

    /// The payment provider now: rebuilt when the console's settings moved.
    pub fn payments(&self) -> std::sync::Arc<payments::Payments> {
        let current = self
            .payments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(runtime) = &self.runtime else {
            return current.1;
        };
        let version = runtime.version();
        if version == current.0 {
            return current.1;
        }
        let config = runtime.config();
        match payments::Payments::from_config(&config.payments, &self.settings.billing_url) {
            Ok(p) => {
                let p = std::sync::Arc::new(p);
                *self.payments.write().unwrap_or_else(|e| e.into_inner()) = (version, p.clone());
                p
            }
            Err(e) => {
                tracing::warn!("the new payment settings cannot be used, keeping the old: {e}");
                current.1
            }
        }
    }

    /// Writes the settings the database keeps (the default plan).
    pub async fn apply(&self, db: &crate::db::Db) -> crate::error::DomainResult<()> {
        let mut tx = db.begin_write().await?;
        plans::set_default(&mut tx, &self.default_plan).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts the charger and the billing job: every minute it applies
    /// downgrades whose month has begun and, when enabled, closes due months
    /// (both idempotent, so several control planes may run them).
    pub fn spawn(
        &self,
        db: crate::db::Db,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let charger = charges::spawn(
            db.clone(),
            self.settings.clone(),
            self.source.clone(),
            std::time::Duration::from_millis(self.charge_interval_ms),
            shutdown.clone(),
        );
        let (settings, source, close_months) = (
            self.settings.clone(),
            self.source.clone(),
            self.close_months,
        );
        let mut stop = shutdown;
        tokio::spawn(async move {
            loop {
                if let Err(e) = plans::apply_pending_now(&db).await {
                    tracing::warn!(error = %e, "applying plan changes failed; retrying later");
                }
                if close_months {
                    if let Err(e) = invoices::close_due(&db, &settings, &source).await {
                        tracing::warn!(error = %e, "closing months failed; retrying later");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                    _ = stop.changed() => break,
                }
            }
            let _ = charger.await;
        })
    }
}

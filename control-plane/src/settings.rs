//! Settings an operator changes in the console (`/api/v1/admin/settings`):
//! who may sign up, how mail leaves, the payment provider, whether webhook
//! endpoints may be private addresses, and how long raw usage rows are
//! kept. They are stored in the database (`settings`, one row per key,
//! secrets sealed) over the configuration file and environment, which stay
//! the defaults; removing a setting goes back to them.
//!
//! [`Runtime`] holds the effective configuration. Every control plane
//! re-reads the table each second ([`Runtime::spawn_watcher`]), so a change
//! made on one instance applies on all of them; the parts that use these
//! settings read them at use time: sign-up, the mail worker (which rebuilds
//! its SMTP transport), payments (rebuilt), the webhook URL policy (the
//! delivery client's resolver reads it per lookup), retention and the setup
//! checklist.

use crate::config::Config;
use crate::db::{self, Db};
use crate::error::{DomainError, DomainResult};
use crate::seal::Sealer;
use serde_json::{json, Map, Value};
use sqlx::{AnyConnection, Row};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// A console setting: its dotted key in the configuration and whether it
/// is a secret (stored sealed, never shown).
pub struct Editable {
    /// `section.field` of [`Config`].
    pub key: &'static str,
    /// Stored sealed, shown only as set or not.
    pub secret: bool,
}

/// What the console may change.
pub const EDITABLE: &[Editable] = &[
    Editable {
        key: "accounts.signup",
        secret: false,
    },
    Editable {
        key: "accounts.invite_codes",
        secret: false,
    },
    Editable {
        key: "accounts.require_email_verification_for_keys",
        secret: false,
    },
    Editable {
        key: "email.mode",
        secret: false,
    },
    Editable {
        key: "email.smtp_host",
        secret: false,
    },
    Editable {
        key: "email.smtp_port",
        secret: false,
    },
    Editable {
        key: "email.smtp_tls",
        secret: false,
    },
    Editable {
        key: "email.smtp_user",
        secret: false,
    },
    Editable {
        key: "email.smtp_password",
        secret: true,
    },
    Editable {
        key: "email.from",
        secret: false,
    },
    Editable {
        key: "payments.provider",
        secret: false,
    },
    Editable {
        key: "payments.stripe_secret_key",
        secret: true,
    },
    Editable {
        key: "payments.stripe_webhook_secret",
        secret: true,
    },
    Editable {
        key: "payments.min_top_up",
        secret: false,
    },
    Editable {
        key: "payments.max_top_up",
        secret: false,
    },
    Editable {
        key: "webhooks.allow_private_networks",
        secret: false,
    },
    Editable {
        key: "analytics.raw_retention_months",
        secret: false,
    },
];

fn editable(key: &str) -> Option<&'static Editable> {
    EDITABLE.iter().find(|e| e.key == key)
}

/// How a sealed setting is stored (a JSON string with this prefix).
const SEALED: &str = "sealed:v1:";

/// The effective configuration: the configured one with the console's
/// settings over it.
pub struct Runtime {
    base: Value,
    sealer: Sealer,
    current: RwLock<Arc<Config>>,
    overridden: RwLock<Vec<String>>,
    /// Bumped on every reload that changed something.
    version: AtomicI64,
    /// `(rows, newest updated_at)` last read, to notice changes.
    seen: RwLock<(i64, i64)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Reads the stored settings over `base` (refusing to start when they
    /// no longer make a valid configuration with it).
    pub async fn load(base: &Config, db: &Db) -> anyhow::Result<Arc<Runtime>> {
        let rt = Runtime {
            base: serde_json::to_value(base)?,
            sealer: Sealer::new(
                base.auth.token_secret.expose().as_bytes(),
                b"aihub settings v1",
            ),
            current: RwLock::new(Arc::new(base.clone())),
            overridden: RwLock::new(Vec::new()),
            version: AtomicI64::new(0),
            seen: RwLock::new((-1, -1)),
        };
        rt.reload(db)
            .await
            .map_err(|e| anyhow::anyhow!("the settings changed in the console: {e}"))?;
        Ok(Arc::new(rt))
    }

    /// The effective configuration now.
    pub fn config(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes on every reload that changed something (components rebuild
    /// what they made from the settings when it moves).
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire)
    }

    /// Stored values by key, opened.
    async fn stored(&self, conn: &mut AnyConnection) -> DomainResult<Map<String, Value>> {
        let rows = sqlx::query("SELECT key, value FROM settings ORDER BY key")
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Map::new();
        for r in &rows {
            let key: String = r.try_get("key")?;
            let raw: String = r.try_get("value")?;
            let Some(e) = editable(&key) else { continue };
            let mut value: Value = serde_json::from_str(&raw)
                .map_err(|e| DomainError::Internal(format!("setting {key}: {e}")))?;
            if e.secret {
                let sealed = value
                    .as_str()
                    .and_then(|s| s.strip_prefix(SEALED))
                    .unwrap_or("");
                let plain = self
                    .sealer
                    .open(&key, sealed)
                    .and_then(|p| String::from_utf8(p).ok())
                    .ok_or_else(|| {
                        DomainError::Internal(format!(
                            "the setting {key} cannot be read (was auth.token_secret changed?): set it again"
                        ))
                    })?;
                value = Value::String(plain);
            }
            out.insert(key, value);
        }
        Ok(out)
    }

    /// `base` with `values` over it, checked.
    fn effective(&self, values: &Map<String, Value>) -> DomainResult<Config> {
        let mut merged = self.base.clone();
        for (key, value) in values {
            let (section, field) = key.split_once('.').unwrap_or((key.as_str(), ""));
            merged[section][field] = value.clone();
        }
        let config: Config = serde_json::from_value(merged)
            .map_err(|e| DomainError::invalid(format!("settings: {e}")))?;
        config
            .validate()
            .map_err(|e| DomainError::invalid(e.to_string()))?;
        crate::email::Mailer::from_config(&config.email)
            .map_err(|e| DomainError::invalid(format!("email: {e}")))?;
        crate::billing::payments::Payments::from_config(
            &config.payments,
            &format!("{}/billing", config.public.portal_base()),
        )?;
        Ok(config)
    }

    /// Re-reads the settings when they changed; true when they did.
    pub async fn reload(&self, db: &Db) -> DomainResult<bool> {
        let mut conn = db.pool().acquire().await?;
        let row =
            sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS at FROM settings")
                .fetch_one(&mut *conn)
                .await?;
        let stamp: (i64, i64) = (row.try_get("n")?, row.try_get("at")?);
        if *self.seen.read().unwrap_or_else(|p| p.into_inner()) == stamp {
            return Ok(false);
        }
        let values = self.stored(&mut conn).await?;
        let config = self.effective(&values)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        *self.overridden.write().unwrap_or_else(|p| p.into_inner()) =
            values.keys().cloned().collect();
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = stamp;
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Re-reads the settings now, whatever the stamp (after a change here).
    pub async fn reload_now(&self, db: &Db) -> DomainResult<()> {
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = (-1, -1);
        self.reload(db).await.map(|_| ())
    }

    /// Re-reads the settings every second until shutdown.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        db: Db,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let rt = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
                match rt.reload(&db).await {
                    Ok(true) => tracing::info!("settings changed in the console applied"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("cannot apply the console's settings: {e}"),
                }
            }
        })
    }

    /// Every console setting: `{"data": [{"key", "value" (secrets: null),
    /// "secret", "set" (a secret has a value), "overridden" (changed in the
    /// console), "configured" (the file's or environment's value; secrets:
    /// whether set)}]}`.
    pub fn view(&self) -> Value {
        let config = serde_json::to_value(&*self.config()).unwrap_or(Value::Null);
        let overridden = self
            .overridden
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let data: Vec<Value> = EDITABLE
            .iter()
            .map(|e| {
                let (section, field) = e.key.split_once('.').unwrap_or((e.key, ""));
                let value = config[section][field].clone();
                let configured = self.base[section][field].clone();
                let set = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
                json!({
                    "key": e.key,
                    "secret": e.secret,
                    "value": if e.secret { Value::Null } else { value.clone() },
                    "set": if e.secret { set(&value) } else { true },
                    "overridden": overridden.iter().any(|k| k == e.key),
                    "configured": if e.secret { json!(set(&configured)) } else { configured },
                })
            })
            .collect();
        json!({"data": data})
    }

    /// Applies `changes` (`key → value`, `null` to go back to the configured
    /// value) in the caller's transaction after checking that the result is
    /// a valid configuration; returns what changed, secrets as `"set"` or
    /// `"removed"`, for the audit log. Takes effect with the next reload.
    pub async fn change(
        &self,
        conn: &mut AnyConnection,
        changes: &Map<String, Value>,
    ) -> DomainResult<Value> {
        if changes.is_empty() {
            return Err(DomainError::invalid("settings: expected at least one key"));
        }
        let mut values = self.stored(conn).await?;
        let mut audit = Map::new();
        for (key, value) in changes {
            let e = editable(key).ok_or_else(|| {
                DomainError::invalid(format!(
                    "{key}: not a setting the console changes (see GET /api/v1/admin/settings)"
                ))
            })?;
            if value.is_null() {
                values.remove(key);
            } else {
                values.insert(key.clone(), value.clone());
            }
            audit.insert(
                key.clone(),
                match (e.secret, value.is_null()) {
                    (_, true) => json!({"reset": true}),
                    (true, false) => json!("set"),
                    (false, false) => value.clone(),
                },
            );
        }
        self.effective(&values)?;
        let now = db::now_ms();
        for (key, value) in changes {
            sqlx::query("DELETE FROM settings WHERE key = $1")
                .bind(key)
                .execute(&mut *conn)
                .await?;
            if value.is_null() {
                continue;
            }
            let stored = match editable(key) {
                Some(e) if e.secret => {
                    let plain = value
                        .as_str()
                        .ok_or_else(|| DomainError::invalid(format!("{key}: expected a string")))?;
                    json!(format!(
                        "{SEALED}{}",
                        self.sealer.seal(key, plain.as_bytes())?
                    ))
                }
                _ => value.clone(),
            };
            sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)")
                .bind(key)
                .bind(stored.to_string())
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        // A deletion alone must still move the stamp.
        sqlx::query("UPDATE settings SET updated_at = $1")
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(Value::Object(audit))
    }
}

//! Deliveries: created with the event (fan-out, in the emitting
//! transaction), sent by the worker, retried on a schedule.
//!
//! - **At least once, across restarts.** A delivery is a row. The worker
//!   claims a due one by moving its `next_attempt_at` forward by a lease
//!   (another control plane on the same database then skips it); if the
//!   process dies mid-attempt, the lease runs out and the delivery is sent
//!   again. The `webhook-id` is the event id on every attempt and replay, so
//!   receivers can de-duplicate.
//! - **Outcomes.** 2xx is success; anything else (3xx included: redirects
//!   are not followed), a timeout or a refused connection is a failure. A
//!   failure is retried after the next delay of `webhooks.retry_delays_ms`
//!   (±10 % jitter; never sooner than the receiver's `Retry-After`), up to
//!   the endpoint's `max_retries`; then the delivery is failed. `410 Gone`
//!   disables the endpoint at once. An endpoint whose deliveries have all
//!   failed for `disable_after_failing_hours` is disabled and its developer
//!   gets a `webhook.endpoint_disabled` event.
//! - **Isolation.** At most `max_concurrency` attempts run at once, and at
//!   most `per_endpoint_concurrency` to one endpoint, so a slow receiver
//!   holds back only itself.

use super::secrets::{Sealer, SigningSecret};
use super::{safety, signing};
use crate::config::WebhooksConfig;
use crate::db::{self, get_bool, Db};
use crate::error::{DomainError, DomainResult};
use rand::Rng;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};

/// Woken when an event has been emitted (the worker also polls).
pub static WAKE: Notify = Notify::const_new();
/// How often the worker looks for due deliveries when nobody wakes it (an
/// event's wake-up can come before its transaction commits).
const POLL: Duration = Duration::from_millis(50);
/// Most finished attempts written in one transaction.
const RECORD_BATCH: usize = 256;
/// Response bytes kept per attempt.
const BODY_KEEP: usize = 1024;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_MS: i64 = 86_400_000;

/// Creates a pending delivery of event `event_id` for every enabled endpoint
/// of `developer_id` subscribed to `event_type`. Runs in the emitting
/// transaction, so an event and its deliveries commit together.
pub async fn fan_out(
    conn: &mut AnyConnection,
    event_id: &str,
    developer_id: &str,
    event_type: &str,
    now_ms: i64,
) -> DomainResult<usize> {
    let rows = sqlx::query(
        "SELECT id, event_types FROM webhook_endpoints \
         WHERE developer_id = $1 AND enabled AND deleted_at IS NULL",
    )
    .bind(developer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for row in &rows {
        let types: String = row.try_get("event_types")?;
        if !subscribed(&types, event_type) {
            continue;
        }
        let endpoint_id: String = row.try_get("id")?;
        insert(
            &mut *conn,
            &endpoint_id,
            event_id,
            developer_id,
            event_type,
            now_ms,
        )
        .await?;
        n += 1;
    }
    if n > 0 {
        WAKE.notify_one();
    }
    Ok(n)
}

/// Whether an endpoint's `event_types` (a JSON list, `["*"]` = all) include `event_type`.
pub fn subscribed(types_json: &str, event_type: &str) -> bool {
    serde_json::from_str::<Vec<String>>(types_json)
        .map(|t| t.iter().any(|x| x == "*" || x == event_type))
        .unwrap_or(false)
}

/// Inserts one pending delivery, due now; returns its id.
pub async fn insert(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    event_id: &str,
    developer_id: &str,
    event_type: &str,
    now_ms: i64,
) -> DomainResult<String> {
    let id = db::new_id("wd_");
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, developer_id, event_type, \
         status, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)",
    )
    .bind(&id)
    .bind(endpoint_id)
    .bind(event_id)
    .bind(developer_id)
    .bind(event_type)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// `wa_…`
    pub id: String,
    /// Delivery it belongs to.
    pub delivery_id: String,
    /// When it started, unix ms.
    pub attempted_at_ms: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// The receiver's status, if it answered.
    pub status_code: Option<i64>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// The first 1 KiB of the answer.
    pub response_body: String,
}

/// What an attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Succeeded,
    /// Retry after this many ms, or fail when out of retries.
    Failed {
        retry_after_ms: Option<i64>,
    },
    /// 410: the endpoint is gone.
    Gone,
}

/// The delivery machinery, shared by the worker and the API (test sends).
pub struct Deliverer {
    db: Db,
    sealer: Sealer,
    client: reqwest::Client,
    config: WebhooksConfig,
    /// What the client's resolver reads for `allow_private_networks`.
    allow_private: Arc<std::sync::atomic::AtomicBool>,
    /// The console's settings, when the URL policy follows them.
    settings: Option<Arc<crate::settings::Runtime>>,
}

/// A delivery with what sending it needs.
struct Job {
    delivery_id: String,
    endpoint_id: String,
    developer_id: String,
    url: String,
    current: SigningSecret,
    previous: Option<SigningSecret>,
    max_retries: i64,
    attempts: i64,
    event_id: String,
    event_type: String,
    body: Vec<u8>,
    endpoint_usable: bool,
    failing_since: Option<i64>,
}

/// A finished attempt waiting to be written.
struct Outcome {
    job: Job,
    attempt: Attempt,
    verdict: Verdict,
}

impl Deliverer {
    /// Builds the HTTP client: no redirects, the timeout, the guarded resolver.
    pub fn new(db: Db, sealer: Sealer, config: WebhooksConfig) -> anyhow::Result<Self> {
        let resolver = safety::GuardedResolver::fixed(config.allow_private_networks);
        let allow_private = resolver.allow_private.clone();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(config.timeout_secs.min(10)))
            .pool_max_idle_per_host(config.per_endpoint_concurrency)
            .dns_resolver(Arc::new(resolver))
            .no_proxy()
            .build()?;
        Ok(Deliverer {
            db,
            sealer,
            client,
            config,
            allow_private,
            settings: None,
        })
    }

    /// Takes `webhooks.allow_private_networks` from the console's settings
    /// from now on.
    pub fn following(mut self, settings: Arc<crate::settings::Runtime>) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Whether endpoints may be private addresses now (the console may
    /// change it); the delivery client's resolver follows.
    pub fn allow_private(&self) -> bool {
        let allow = match &self.settings {
            Some(s) => s.config().webhooks.allow_private_networks,
            None => self.config.allow_private_networks,
        };
        self.allow_private
            .store(allow, std::sync::atomic::Ordering::Release);
        allow
    }

    /// The secret sealer (the API stores endpoints' secrets with it).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The configuration.
    pub fn config(&self) -> &WebhooksConfig {
        &self.config
    }

    /// How long a claimed delivery is left alone before it may be tried
    /// again (its process may have died): twice the attempt timeout.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.timeout_secs)
            .unwrap_or(300)
            .saturating_mul(2_000)
            .max(2_000)
    }

    /// Claims `delivery_id` if it is pending (due or not), sends it now and
    /// records the attempt. Used for test sends; the worker uses the same path.
    pub async fn attempt_now(&self, delivery_id: &str) -> DomainResult<Attempt> {
        let now = db::now_ms();
        let mut conn = self.db.pool().acquire().await?;
        let claimed = sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(now + self.lease_ms())
        .bind(now)
        .bind(delivery_id)
        .execute(&mut *conn)
        .await?;
        drop(conn);
        if claimed.rows_affected() != 1 {
            return Err(DomainError::Conflict(format!(
                "delivery {delivery_id} is not pending"
            )));
        }
        self.run(delivery_id).await
    }

    async fn load(&self, delivery_id: &str) -> DomainResult<Job> {
        self.load_many(std::slice::from_ref(&delivery_id.to_string()))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DomainError::NotFound(format!("no delivery with id '{delivery_id}'")))?
    }

    /// The jobs of claimed deliveries, in one query. A delivery whose
    /// endpoint secret cannot be read comes back as that error.
    async fn load_many(&self, ids: &[String]) -> DomainResult<Vec<DomainResult<Job>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = (0..ids.len())
            .map(|i| format!("${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT d.id AS delivery_id, d.endpoint_id AS endpoint_id, d.attempts AS attempts, \
             d.developer_id AS developer_id, \
             e.id AS event_id, e.type AS event_type, e.created_at_ms AS created_at_ms, \
             e.data AS data, w.url AS url, w.secret_sealed AS secret_sealed, \
             w.previous_secret_sealed AS previous_secret_sealed, \
             w.previous_expires_at AS previous_expires_at, w.max_retries AS max_retries, \
             w.enabled AS enabled, w.deleted_at AS deleted_at, \
             w.failing_since AS failing_since \
             FROM webhook_deliveries d \
             JOIN events e ON e.id = d.event_id \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.id IN ({list})"
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        let rows = {
            let mut conn = self.db.pool().acquire().await?;
            q.fetch_all(&mut *conn).await?
        };
        Ok(rows.iter().map(|row| self.job_of(row)).collect())
    }

    fn job_of(&self, row: &sqlx::any::AnyRow) -> DomainResult<Job> {
        let endpoint_id: String = row.try_get("endpoint_id")?;
        let data: String = row.try_get("data")?;
        let data: Value = serde_json::from_str(&data)
            .map_err(|e| DomainError::Internal(format!("event data is not JSON: {e}")))?;
        let event_id: String = row.try_get("event_id")?;
        let event_type: String = row.try_get("event_type")?;
        let created_at_ms: i64 = row.try_get("created_at_ms")?;
        let body = serde_json::to_vec(&json!({
            "id": event_id,
            "type": event_type,
            "created_at_ms": created_at_ms,
            "data": data,
        }))
        .map_err(|e| DomainError::Internal(e.to_string()))?;
        let sealed: String = row.try_get("secret_sealed")?;
        let current = self.sealer.open(&endpoint_id, &sealed)?;
        let previous_sealed: Option<String> = row.try_get("previous_secret_sealed")?;
        let previous_until: Option<i64> = row.try_get("previous_expires_at")?;
        let previous = match (previous_sealed, previous_until) {
            (Some(s), Some(until)) if until > db::now_ms() => {
                Some(self.sealer.open(&endpoint_id, &s)?)
            }
            _ => None,
        };
        let deleted: Option<i64> = row.try_get("deleted_at")?;
        Ok(Job {
            delivery_id: row.try_get("delivery_id")?,
            developer_id: row.try_get("developer_id")?,
            url: row.try_get("url")?,
            current,
            previous,
            max_retries: row.try_get("max_retries")?,
            attempts: row.try_get("attempts")?,
            event_id,
            event_type,
            body,
            endpoint_usable: get_bool(row, "enabled")? && deleted.is_none(),
            failing_since: row.try_get("failing_since")?,
            endpoint_id,
        })
    }

    /// Sends a claimed delivery once and records what happened.
    async fn run(&self, delivery_id: &str) -> DomainResult<Attempt> {
        let outcome = self.attempt(delivery_id).await?;
        let attempt = outcome.attempt.clone();
        self.record(std::slice::from_ref(&outcome)).await?;
        Ok(attempt)
    }

    /// Sends a claimed delivery once; what happened is written by [`Deliverer::record`].
    async fn attempt(&self, delivery_id: &str) -> DomainResult<Outcome> {
        let job = self.load(delivery_id).await?;
        Ok(self.attempt_job(job).await)
    }

    async fn attempt_job(&self, job: Job) -> Outcome {
        let started_ms = db::now_ms();
        let t0 = Instant::now();
        let (status, error, body, verdict) = if !job.endpoint_usable {
            (
                None,
                Some("the endpoint is disabled or deleted".to_string()),
                String::new(),
                Verdict::Failed {
                    retry_after_ms: None,
                },
            )
        } else {
            self.send(&job).await
        };
        let attempt = Attempt {
            id: db::new_id("wa_"),
            delivery_id: job.delivery_id.clone(),
            attempted_at_ms: started_ms,
            duration_ms: i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX),
            status_code: status,
            error,
            response_body: body,
        };
        Outcome {
            job,
            attempt,
            verdict,
        }
    }

    async fn send(&self, job: &Job) -> (Option<i64>, Option<String>, String, Verdict) {
        let failed = |e: String| {
            (
                None,
                Some(e),
                String::new(),
                Verdict::Failed {
                    retry_after_ms: None,
                },
            )
        };
        let url = match safety::check_url(&job.url, self.allow_private()) {
            Ok(u) => u,
            Err(e) => return failed(e),
        };
        let headers = signing::headers(
            &job.event_id,
            &job.event_type,
            db::now_ms() / 1000,
            &job.body,
            &job.current,
            job.previous.as_ref(),
        );
        let mut req = self.client.post(url).body(job.body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return failed(describe(&e)),
        };
        let status = resp.status();
        let retry_after_ms = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| (s.saturating_mul(1000)).clamp(0, MAX_RETRY_AFTER_MS));
        let mut kept = Vec::new();
        while kept.len() < BODY_KEEP {
            match resp.chunk().await {
                Ok(Some(c)) => kept.extend_from_slice(&c),
                _ => break,
            }
        }
        kept.truncate(BODY_KEEP);
        let body = String::from_utf8_lossy(&kept).into_owned();
        let code = Some(i64::from(status.as_u16()));
        let verdict = if status.is_success() {
            Verdict::Succeeded
        } else if status.as_u16() == 410 {
            Verdict::Gone
        } else {
            Verdict::Failed { retry_after_ms }
        };
        let error = (!status.is_success()).then(|| format!("the receiver answered {status}"));
        (code, error, body, verdict)
    }

    /// Writes finished attempts, many in one transaction (group commit).
    async fn record(&self, outcomes: &[Outcome]) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        for o in outcomes {
            self.record_one(&mut tx, &o.job, &o.attempt, o.verdict)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_one(
        &self,
        tx: &mut AnyConnection,
        job: &Job,
        a: &Attempt,
        verdict: Verdict,
    ) -> DomainResult<()> {
        let now = db::now_ms();
        let attempts = job.attempts + 1;
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, attempted_at, \
             duration_ms, status_code, error, response_body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&a.id)
        .bind(&a.delivery_id)
        .bind(&job.endpoint_id)
        .bind(a.attempted_at_ms)
        .bind(a.duration_ms)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(&a.response_body)
        .execute(&mut *tx)
        .await?;
        let (status, next, finished) = match verdict {
            Verdict::Succeeded => ("succeeded", now, Some(now)),
            Verdict::Gone => ("failed", now, Some(now)),
            Verdict::Failed { retry_after_ms } => {
                let retries_used = attempts - 1;
                match self.delay_ms(retries_used, job.max_retries) {
                    Some(delay) if job.endpoint_usable => {
                        let delay = delay.max(retry_after_ms.unwrap_or(0));
                        ("pending", now + delay, None)
                    }
                    _ => ("failed", now, Some(now)),
                }
            }
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_status_code = $4, last_error = $5, updated_at = $6, finished_at = $7 \
             WHERE id = $8",
        )
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(now)
        .bind(finished)
        .bind(&job.delivery_id)
        .execute(&mut *tx)
        .await?;
        if job.endpoint_usable {
            self.update_endpoint_health(&mut *tx, job, verdict, now)
                .await?;
        }
        Ok(())
    }

    /// The failing streak of the endpoint; disables it when it is gone or
    /// has failed for too long.
    async fn update_endpoint_health(
        &self,
        conn: &mut AnyConnection,
        job: &Job,
        verdict: Verdict,
        now: i64,
    ) -> DomainResult<()> {
        let reason = match verdict {
            Verdict::Succeeded => {
                // Only an endpoint that was failing needs a write.
                if job.failing_since.is_some() {
                    sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 \
                         AND failing_since IS NOT NULL",
                    )
                    .bind(&job.endpoint_id)
                    .execute(&mut *conn)
                    .await?;
                }
                return Ok(());
            }
            Verdict::Gone => "gone",
            Verdict::Failed { .. } => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 \
                     AND failing_since IS NULL",
                )
                .bind(now)
                .bind(&job.endpoint_id)
                .execute(&mut *conn)
                .await?;
                let since: Option<i64> =
                    sqlx::query("SELECT failing_since FROM webhook_endpoints WHERE id = $1")
                        .bind(&job.endpoint_id)
                        .fetch_one(&mut *conn)
                        .await?
                        .try_get("failing_since")?;
                let limit_ms = i64::try_from(self.config.disable_after_failing_hours)
                    .unwrap_or(i64::MAX / 3_600_000)
                    .saturating_mul(3_600_000);
                if since.is_none_or(|s| now - s < limit_ms) {
                    return Ok(());
                }
                "failing"
            }
        };
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET enabled = $1, disabled_reason = $2, updated_at = $3 \
             WHERE id = $4 AND enabled",
        )
        .bind(false)
        .bind(reason)
        .bind(now)
        .bind(&job.endpoint_id)
        .execute(&mut *conn)
        .await?;
        if changed.rows_affected() == 1 {
            tracing::warn!(endpoint = %job.endpoint_id, reason, "webhook endpoint disabled");
            crate::audit::emit(
                &mut *conn,
                "webhook.endpoint_disabled",
                &job.developer_id,
                &json!({"endpoint_id": job.endpoint_id, "url": job.url, "reason": reason}),
            )
            .await?;
            // The developer's email about it: see `notify_disabled`.
            notify_disabled(
                &mut *conn,
                &job.developer_id,
                &job.endpoint_id,
                &job.url,
                reason,
            )
            .await?;
        }
        Ok(())
    }

    /// Delay before retry number `retry` (0-based), or `None` when the
    /// endpoint allows no more.
    fn delay_ms(&self, retry: i64, max_retries: i64) -> Option<i64> {
        if retry >= max_retries {
            return None;
        }
        let delays = &self.config.retry_delays_ms;
        let base = *delays
            .get(usize::try_from(retry).unwrap_or(usize::MAX))
            .or_else(|| delays.last())?;
        let base = i64::try_from(base).unwrap_or(i64::MAX);
        let jitter = base / 10;
        Some(base + rand::thread_rng().gen_range(-jitter..=jitter))
    }

    /// Claims up to `n` due deliveries, at most `per_endpoint` outstanding
    /// per endpoint counting `busy`: one read, then one `UPDATE … RETURNING`
    /// that takes those still pending and due (another instance may have
    /// taken some).
    async fn claim(
        &self,
        n: usize,
        per_endpoint: &(dyn Fn(&str) -> usize + Send + Sync),
        busy: &HashMap<String, usize>,
    ) -> DomainResult<Vec<String>> {
        let now = db::now_ms();
        let mut conn = self.db.pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT id, endpoint_id FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::try_from(n * 4).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
        let mut wanted: Vec<(String, String)> = Vec::new();
        let mut taking: HashMap<String, usize> = HashMap::new();
        for row in &rows {
            if wanted.len() >= n {
                break;
            }
            let endpoint_id: String = row.try_get("endpoint_id")?;
            let load = busy.get(&endpoint_id).copied().unwrap_or(0)
                + taking.get(&endpoint_id).copied().unwrap_or(0);
            if load >= per_endpoint(&endpoint_id) {
                continue;
            }
            *taking.entry(endpoint_id.clone()).or_default() += 1;
            wanted.push((row.try_get("id")?, endpoint_id));
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let list = (0..wanted.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE webhook_deliveries SET next_attempt_at = $1 \
             WHERE status = 'pending' AND next_attempt_at <= $2 AND id IN ({list}) RETURNING id"
        );
        let mut q = sqlx::query(&sql).bind(now + self.lease_ms()).bind(now);
        for (id, _) in &wanted {
            q = q.bind(id);
        }
        let won: std::collections::HashSet<String> = q
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<Result<_, _>>()?;
        Ok(wanted
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| won.contains(id))
            .collect())
    }
}

/// Tells the developer an endpoint was disabled automatically (inside the
/// disabling transaction): an email in their language, sent by the mail
/// worker. The event is emitted by the caller.
async fn notify_disabled(
    conn: &mut AnyConnection,
    developer_id: &str,
    endpoint_id: &str,
    url: &str,
    reason: &str,
) -> DomainResult<()> {
    let Some(dev) = crate::developers::fetch_by_id(&mut *conn, developer_id).await? else {
        return Ok(());
    };
    crate::email::outbox::enqueue(
        &mut *conn,
        crate::email::outbox::NewEmail {
            developer_id: Some(&dev.id),
            to: &dev.email,
            template: crate::email::templates::Template::WebhookDisabled {
                url,
                endpoint_id,
                reason,
            },
            language: dev.language,
            name: &dev.full_name,
        },
    )
    .await?;
    Ok(())
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = if e.is_timeout() {
        "no answer within the timeout".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg.chars().take(500).collect()
}

/// Runs the worker until shutdown.
///
/// Each endpoint may have more deliveries outstanding (claimed) than it has
/// lanes (`per_endpoint_concurrency` sent at once), so one claim serves many
/// sends: as many as its lanes can send within half a lease at the
/// endpoint's recent speed (at least two per lane, at most 256), so a
/// waiting delivery is sent well before its lease runs out even when the
/// endpoint is slow. The worker claims again when woken, every [`POLL`], or
/// when half of what it holds has finished.
pub fn spawn_worker(
    deliverer: Arc<Deliverer>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let config = deliverer.config.clone();
        let per_endpoint = config.per_endpoint_concurrency;
        let capacity = config.max_concurrency * 4;
        let half_lease_ms = deliverer.lease_ms() as f64 / 2.0;
        // Recent send time per endpoint, ms (moving average).
        let speed: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
        let sending = Arc::new(Semaphore::new(config.max_concurrency));
        let mut lanes: HashMap<String, Arc<Semaphore>> = HashMap::new();
        let outstanding: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        // Finished attempts are written by one task, many per transaction.
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
        let d = deliverer.clone();
        let recorder = tokio::spawn(async move {
            while let Some(first) = done_rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < RECORD_BATCH {
                    match done_rx.try_recv() {
                        Ok(o) => batch.push(o),
                        Err(_) => break,
                    }
                }
                // On failure the leases run out and the deliveries are sent again.
                if let Err(e) = d.record(&batch).await {
                    tracing::warn!(error = %e, n = batch.len(), "cannot record webhook attempts");
                }
            }
        });
        loop {
            if *shutdown.borrow() {
                break;
            }
            let held = outstanding.lock().map(|o| o.clone()).unwrap_or_default();
            let total: usize = held.values().sum();
            let free = capacity.saturating_sub(total);
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let known = speed.lock().map(|s| s.clone()).unwrap_or_default();
                let cap = |endpoint: &str| -> usize {
                    let ms = known
                        .get(endpoint)
                        .copied()
                        .unwrap_or(half_lease_ms)
                        .max(1.0);
                    let n = (per_endpoint as f64 * half_lease_ms / ms) as usize;
                    n.clamp(per_endpoint * 2, 256)
                };
                match deliverer.claim(free, &cap, &held).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook worker cannot claim deliveries");
                        Vec::new()
                    }
                }
            };
            let jobs = match deliverer.load_many(&claimed).await {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker cannot load deliveries");
                    Vec::new()
                }
            };
            let got = jobs.len();
            lanes.retain(|e, _| held.contains_key(e));
            if let Ok(mut sp) = speed.lock() {
                if sp.len() > 4096 {
                    sp.retain(|e, _| held.contains_key(e));
                }
            }
            for job in jobs {
                let job = match job {
                    Ok(j) => j,
                    Err(e) => {
                        // Unreadable secret and the like: retried after the lease.
                        tracing::warn!(error = %e, "webhook delivery cannot be prepared");
                        continue;
                    }
                };
                let endpoint = job.endpoint_id.clone();
                if let Ok(mut o) = outstanding.lock() {
                    *o.entry(endpoint.clone()).or_default() += 1;
                }
                let lane = lanes
                    .entry(endpoint.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(per_endpoint)))
                    .clone();
                let d = deliverer.clone();
                let sending = sending.clone();
                let outstanding = outstanding.clone();
                let done = done_tx.clone();
                let speed = speed.clone();
                tasks.spawn(async move {
                    let lane_permit = lane.acquire_owned().await;
                    let send_permit = sending.acquire_owned().await;
                    if lane_permit.is_ok() && send_permit.is_ok() {
                        let outcome = d.attempt_job(job).await;
                        if let Ok(mut s) = speed.lock() {
                            let ms = outcome.attempt.duration_ms as f64;
                            let avg = s.entry(endpoint.clone()).or_insert(ms);
                            *avg = *avg * 0.8 + ms * 0.2;
                        }
                        let _ = done.send(outcome);
                    }
                    if let Ok(mut o) = outstanding.lock() {
                        if let Some(n) = o.get_mut(&endpoint) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                o.remove(&endpoint);
                            }
                        }
                    }
                });
            }
            while tasks.try_join_next().is_some() {}
            if got > 0 && got == free {
                // Everything asked for was due: there may be more.
                continue;
            }
            // Wait for a reason to claim again.
            let half = tasks.len() / 2;
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = WAKE.notified() => break,
                    _ = tokio::time::sleep(POLL) => break,
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                        if tasks.len() <= half {
                            break;
                        }
                    }
                }
            }
        }
        // Let attempts in flight finish and be written; unfinished ones are
        // retried after their lease.
        let drain = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        drop(done_tx);
        let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
    })
}

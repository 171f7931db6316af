//! The batch worker: claims due items fairly across developers, sends each
//! through the gateway as the batch's key (so scopes, limits, quotas,
//! funds and metering apply, at the batch discount), records the outcome
//! once, retries transient failures with backoff, and finalizes batches.
//!
//! Durability: an item is claimed with a lease (`lease_until`); a worker
//! that dies leaves it `running` until the lease passes, then any worker
//! takes it again. Each item is sent with the request id
//! `<batch id>-<line>` (carried in the signed batch header), so if the
//! first attempt was metered before the crash, the second one's usage row
//! is the same row and is charged once.
//!
//! Fairness: each round visits the developers with due items in turn
//! (starting after the last one served) and gives each at most
//! `per_developer_concurrency` items in flight, within `max_concurrency`.

use super::{store, Settings};
use crate::db::{self, Db};
use crate::error::DomainResult;
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// A claimed item.
#[derive(Debug, Clone)]
struct Claimed {
    batch_id: String,
    line_no: i64,
    key_id: String,
    url: String,
    body: String,
    attempts: i64,
}

/// The worker's shared state.
pub struct Worker {
    db: Db,
    settings: Settings,
    client: reqwest::Client,
    in_flight: AtomicUsize,
    wake: Arc<Notify>,
    next_developer: std::sync::Mutex<String>,
}

/// What an attempt came to.
enum Outcome {
    /// Answered: the status, body and usage.
    Answered {
        status: u16,
        body: String,
        request_id: Option<String>,
        prompt: i64,
        completion: i64,
    },
    /// Try again after this long.
    Retry(Duration, String),
}

impl Worker {
    /// A worker; `wake` is notified when new items are queued.
    pub fn new(db: Db, settings: Settings, wake: Arc<Notify>) -> Arc<Worker> {
        Arc::new(Worker {
            db,
            client: reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.request_timeout_ms))
                .build()
                .unwrap_or_default(),
            settings,
            in_flight: AtomicUsize::new(0),
            wake,
            next_developer: std::sync::Mutex::new(String::new()),
        })
    }

    /// Runs until `shutdown`; items in flight finish or their lease lets
    /// another worker take them.
    pub fn spawn(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "batch worker round failed");
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(self.settings.poll_ms)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    /// One round: recovers expired leases, expires overdue batches, claims
    /// and starts items. Returns how many it started.
    pub async fn round(self: &Arc<Self>) -> DomainResult<usize> {
        let now = db::now_ms();
        {
            let mut tx = self.db.begin_write().await?;
            sqlx::query(
                "UPDATE batch_items SET status = 'pending', lease_until = NULL \
                 WHERE status = 'running' AND lease_until < $1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        let overdue: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM batches WHERE status IN ('in_progress', 'cancelling') AND expires_at <= $1",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        for id in overdue {
            store::finalize(&self.db, &id, true).await?;
        }
        let free = self
            .settings
            .max_concurrency
            .saturating_sub(self.in_flight.load(Ordering::Acquire));
        if free == 0 {
            return Ok(0);
        }
        // Developers with a batch in progress (few rows; claiming finds
        // whether any of their items is due).
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT developer_id FROM batches WHERE status = 'in_progress' ORDER BY developer_id",
        )
        .fetch_all(self.db.pool())
        .await?;
        if due.is_empty() {
            return Ok(0);
        }
        // Start after the developer served first last time.
        let start = {
            let last = self
                .next_developer
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default();
            due.iter().position(|d| *d > last).unwrap_or(0)
        };
        let order: Vec<&String> = due[start..].iter().chain(due[..start].iter()).collect();
        let per = self.settings.per_developer_concurrency;
        let mut claimed = Vec::new();
        let mut budget = free;
        for dev in order {
            if budget == 0 {
                break;
            }
            let running: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM batch_items WHERE developer_id = $1 AND status = 'running'",
            )
            .bind(dev)
            .fetch_one(self.db.pool())
            .await?;
            let room = per
                .saturating_sub(usize::try_from(running).unwrap_or(0))
                .min(budget);
            if room == 0 {
                continue;
            }
            let items = self.claim(dev, room, now).await?;
            budget -= items.len();
            claimed.extend(items);
            if let Ok(mut g) = self.next_developer.lock() {
                *g = dev.clone();
            }
        }
        let n = claimed.len();
        for item in claimed {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            let me = self.clone();
            tokio::spawn(async move {
                let batch_id = item.batch_id.clone();
                if let Err(e) = me.run(item).await {
                    tracing::warn!(error = %e, batch = %batch_id, "batch item failed to record");
                }
                me.in_flight.fetch_sub(1, Ordering::AcqRel);
                me.wake.notify_one();
            });
        }
        Ok(n)
    }

    async fn claim(&self, developer_id: &str, n: usize, now: i64) -> DomainResult<Vec<Claimed>> {
        let mut tx = self.db.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE batch_items SET status = 'running', attempts = attempts + 1, lease_until = $1 \
             WHERE (batch_id, line_no) IN (SELECT i.batch_id, i.line_no FROM batch_items i \
                 JOIN batches b ON b.id = i.batch_id \
                 WHERE i.developer_id = $2 AND i.status = 'pending' AND i.next_at <= $3 \
                   AND b.status = 'in_progress' \
                 ORDER BY i.batch_id, i.line_no LIMIT $4) \
             AND status = 'pending' \
             RETURNING batch_id, line_no, url, body, attempts",
        )
        .bind(now + self.settings.lease_ms)
        .bind(developer_id)
        .bind(now)
        .bind(n as i64)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let batch_id: String = r.try_get("batch_id")?;
            let key_id: String = sqlx::query_scalar("SELECT key_id FROM batches WHERE id = $1")
                .bind(&batch_id)
                .fetch_one(&mut *tx)
                .await?;
            out.push(Claimed {
                batch_id,
                line_no: r.try_get("line_no")?,
                key_id,
                url: r.try_get("url")?,
                body: r.try_get("body")?,
                attempts: r.try_get("attempts")?,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn send(&self, item: &Claimed) -> Outcome {
        let now = db::now_ms() / 1000;
        let header = aihub_contract::signing::sign_batch(
            self.settings.shared_secret.as_bytes(),
            now,
            &item.key_id,
            &item.batch_id,
            u64::try_from(item.line_no).unwrap_or(0),
            self.settings.discount_percent,
            "POST",
            &item.url,
        );
        let sent = self
            .client
            .post(format!("{}{}", self.settings.gateway_url, item.url))
            .header(aihub_contract::signing::BATCH_HEADER, header)
            .header("content-type", "application/json")
            .body(item.body.clone())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry(
                    backoff(item.attempts),
                    format!("the gateway did not answer: {e}"),
                )
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Retry(
                    backoff(item.attempts),
                    format!("reading the answer failed: {e}"),
                )
            }
        };
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let code = parsed["error"]["code"].as_str().unwrap_or_default();
        // Rate limits and answers a retry can fix are retried; a spent
        // quota or balance is an answer. An unknown key is retried too: a
        // key created a moment ago may not have reached the gateway yet (a
        // deleted one fails after the last attempt).
        let transient = status >= 500
            || (status == 429 && (code == "rate_limit_exceeded" || code == "quota_reserved"))
            || (status == 401 && code == "invalid_api_key");
        if transient {
            let wait = retry_after.unwrap_or_default().max(backoff(item.attempts));
            return Outcome::Retry(wait, format!("{status} {code}"));
        }
        Outcome::Answered {
            status,
            prompt: parsed["usage"]["prompt_tokens"].as_i64().unwrap_or(0),
            completion: parsed["usage"]["completion_tokens"].as_i64().unwrap_or(0),
            body,
            request_id,
        }
    }

    async fn run(&self, item: Claimed) -> DomainResult<()> {
        let outcome = self.send(&item).await;
        // A busy database must not leave the item to its lease: the
        // outcome is written again a few times before giving up (the lease
        // then hands the item to a worker, which meters it once).
        let mut last = None;
        for attempt in 0..5u32 {
            match self.record(&item, &outcome).await {
                Ok(finished) => {
                    if finished {
                        store::finalize(&self.db, &item.batch_id, false).await?;
                    }
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| crate::error::DomainError::Internal("recording failed".into())))
    }

    /// Writes an attempt's outcome; true when the batch may be finished.
    async fn record(&self, item: &Claimed, outcome: &Outcome) -> DomainResult<bool> {
        let now = db::now_ms();
        let mut tx = self.db.begin_write().await?;
        match outcome {
            Outcome::Retry(wait, why) if item.attempts < self.settings.max_attempts => {
                let (wait, why) = (*wait, why.as_str());
                sqlx::query(
                    "UPDATE batch_items SET status = 'pending', lease_until = NULL, next_at = $1, error = $2 \
                     WHERE batch_id = $3 AND line_no = $4 AND status = 'running'",
                )
                .bind(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2))
                .bind(json!({"code": "retrying", "message": why}).to_string())
                .bind(&item.batch_id)
                .bind(item.line_no)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(false);
            }
            Outcome::Retry(_, why) => {
                let n = sqlx::query(
                    "UPDATE batch_items SET status = 'failed', lease_until = NULL, finished_at = $1, error = $2 \
                     WHERE batch_id = $3 AND line_no = $4 AND status = 'running'",
                )
                .bind(now)
                .bind(json!({"code": "request_failed", "message": format!("Gave up after {} attempts: {why}", item.attempts)}).to_string())
                .bind(&item.batch_id)
                .bind(item.line_no)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 1 {
                    sqlx::query("UPDATE batches SET failed = failed + 1 WHERE id = $1")
                        .bind(&item.batch_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            Outcome::Answered {
                status,
                body,
                request_id,
                prompt,
                completion,
            } => {
                let (status, prompt, completion) = (*status, *prompt, *completion);
                let ok = (200..300).contains(&status);
                let n = sqlx::query(
                    "UPDATE batch_items SET status = $1, lease_until = NULL, finished_at = $2, \
                     status_code = $3, response = $4, request_id = $5, error = NULL, \
                     prompt_tokens = $6, completion_tokens = $7 \
                     WHERE batch_id = $8 AND line_no = $9 AND status = 'running'",
                )
                .bind(if ok { "succeeded" } else { "failed" })
                .bind(now)
                .bind(i64::from(status))
                .bind(body)
                .bind(request_id)
                .bind(prompt)
                .bind(completion)
                .bind(&item.batch_id)
                .bind(item.line_no)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 1 {
                    sqlx::query(
                        "UPDATE batches SET completed = completed + $1, failed = failed + $2, \
                         prompt_tokens = prompt_tokens + $3, completion_tokens = completion_tokens + $4 \
                         WHERE id = $5",
                    )
                    .bind(i64::from(ok))
                    .bind(i64::from(!ok))
                    .bind(prompt)
                    .bind(completion)
                    .bind(&item.batch_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let finished = progress(&mut tx, &item.batch_id).await?;
        tx.commit().await?;
        Ok(finished)
    }
}

/// Emits `batch.progress` (Batches API) or `task.progress` when the item
/// just finished took the batch past another tenth of its items (the last
/// tenth is the completion event's). Returns whether the batch may be
/// finished now (all items done, or it is being cancelled), so finalizing
/// is not tried after every item.
async fn progress(conn: &mut sqlx::AnyConnection, batch_id: &str) -> DomainResult<bool> {
    let Some(b) = store::by_id(conn, batch_id).await? else {
        return Ok(false);
    };
    let done = b.completed + b.failed;
    if b.status == "cancelling" || b.total <= 0 || done >= b.total {
        return Ok(true);
    }
    let tenth = |n: i64| n * 10 / b.total;
    if tenth(done) == tenth(done - 1) {
        return Ok(false);
    }
    let counts = json!({"total": b.total, "completed": b.completed, "failed": b.failed});
    if b.origin.starts_with("task_") {
        crate::audit::emit(
            conn,
            "task.progress",
            &b.developer_id,
            &json!({"task_id": b.origin, "batch_id": b.id, "progress": done * 100 / b.total, "request_counts": counts}),
        )
        .await?;
    } else {
        crate::audit::emit(
            conn,
            "batch.progress",
            &b.developer_id,
            &json!({"batch_id": b.id, "progress": done * 100 / b.total, "request_counts": counts}),
        )
        .await?;
    }
    Ok(false)
}

/// 1 s, 2 s, 4 s … up to a minute.
fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
    Duration::from_secs((1u64 << exp).min(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let got: Vec<u64> = (1..=8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }
}

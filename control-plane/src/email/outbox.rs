//! The mail queue (`outbound_emails`) and the worker that drains it.
//!
//! Rows are written by [`enqueue`] inside the transaction of the account
//! change that causes them. The worker claims a due row by moving its
//! `next_attempt_at` forward (a lease: another control plane sharing the
//! database skips it), sends it, then marks it sent and clears the bodies,
//! or schedules a retry with exponential backoff. Messages still failing a
//! day after they were queued are marked failed.

use super::templates::{Rendered, Template};
use super::{Mailer, Outgoing};
use crate::db::{self, Db};
use crate::developers::Language;
use crate::error::DomainResult;
use sqlx::{AnyConnection, Row};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How often the worker looks for due mail when nobody wakes it.
const POLL: Duration = Duration::from_secs(1);
/// How long a claimed message is left alone before another attempt may take it.
const LEASE_MS: i64 = 120_000;
const FIRST_RETRY_MS: i64 = 1_000;
const MAX_RETRY_MS: i64 = 300_000;
/// Messages are abandoned this long after they were queued.
const GIVE_UP_MS: i64 = 86_400_000;
const BATCH: i64 = 20;
const MAX_ERROR_LEN: usize = 500;

/// A message to queue.
pub struct NewEmail<'a> {
    /// The account it concerns, if any.
    pub developer_id: Option<&'a str>,
    /// Recipient.
    pub to: &'a str,
    /// What it is (its links included).
    pub template: Template<'a>,
    /// Its language.
    pub language: Language,
    /// The recipient's name, for the greeting.
    pub name: &'a str,
}

/// Renders and queues a message inside the caller's transaction; returns
/// its id. Wake the worker after committing.
pub async fn enqueue(conn: &mut AnyConnection, email: NewEmail<'_>) -> DomainResult<String> {
    let Rendered {
        subject,
        text,
        html,
    } = super::templates::render(&email.template, email.language, email.name);
    let id = db::new_id("eml_");
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO outbound_emails (id, developer_id, to_address, kind, language, subject, \
         body_text, body_html, link, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11)",
    )
    .bind(&id)
    .bind(email.developer_id)
    .bind(email.to)
    .bind(email.template.kind())
    .bind(email.language.as_str())
    .bind(subject)
    .bind(text)
    .bind(html)
    .bind(email.template.link())
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// How many messages of `kind` were queued for `to` since `since_ms` (to
/// cap how much mail one address can be made to receive).
pub async fn recent_count(
    conn: &mut AnyConnection,
    to: &str,
    kind: &str,
    since_ms: i64,
) -> DomainResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM outbound_emails \
         WHERE to_address = $1 AND kind = $2 AND created_at >= $3",
    )
    .bind(to)
    .bind(kind)
    .bind(since_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// Deletes delivered and abandoned messages older than `older_than_ms`.
pub async fn purge(db: &Db, older_than_ms: i64) -> DomainResult<u64> {
    let done = sqlx::query(
        "DELETE FROM outbound_emails WHERE status IN ('sent', 'failed') AND created_at < $1",
    )
    .bind(older_than_ms)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// Delivers queued mail in the background.
pub struct Worker {
    db: Db,
    mailer: Mailer,
    /// Where the mail settings come from, and the version `mailer` was
    /// built at: a change in the console rebuilds it before the next send.
    settings: Option<(Arc<crate::settings::Runtime>, i64)>,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl Worker {
    /// A worker; `wake` is notified after mail is queued.
    pub fn new(
        db: Db,
        mailer: Mailer,
        wake: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> Worker {
        Worker {
            db,
            mailer,
            settings: None,
            wake,
            shutdown,
        }
    }

    /// Follows the console's mail settings: the transport is rebuilt when
    /// they change.
    pub fn following(mut self, settings: Arc<crate::settings::Runtime>) -> Worker {
        let version = settings.version();
        self.settings = Some((settings, version));
        self
    }

    /// Rebuilds the transport if the settings moved since it was built.
    fn refresh_mailer(&mut self) {
        let Some((settings, built)) = self.settings.as_mut() else {
            return;
        };
        let now = settings.version();
        if now == *built {
            return;
        }
        match Mailer::from_config(&settings.config().email) {
            Ok(m) => {
                self.mailer = m;
                *built = now;
                tracing::info!("mail settings changed: transport rebuilt");
            }
            Err(e) => {
                tracing::warn!("the new mail settings cannot be used, keeping the old: {e:#}")
            }
        }
    }

    /// Runs until shutdown.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "email outbox: cannot read the queue");
            }
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }

    /// Sends everything due now; returns how many were attempted.
    pub async fn deliver_due(&mut self) -> DomainResult<usize> {
        self.refresh_mailer();
        let mut attempted = 0;
        loop {
            let now = db::now_ms();
            let due = sqlx::query(
                "SELECT id FROM outbound_emails WHERE status = 'pending' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at LIMIT $2",
            )
            .bind(now)
            .bind(BATCH)
            .fetch_all(self.db.pool())
            .await?;
            if due.is_empty() {
                return Ok(attempted);
            }
            for row in due {
                let id: String = row.try_get("id")?;
                if self.deliver_one(&id).await? {
                    attempted += 1;
                }
                if *self.shutdown.borrow() {
                    return Ok(attempted);
                }
            }
        }
    }

    /// Claims and sends one message; false when another worker had it.
    async fn deliver_one(&self, id: &str) -> DomainResult<bool> {
        let now = db::now_ms();
        let claimed = sqlx::query(
            "UPDATE outbound_emails SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND status = 'pending' AND next_attempt_at <= $3",
        )
        .bind(now + LEASE_MS)
        .bind(id)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(false);
        }
        let row = sqlx::query(
            "SELECT to_address, kind, subject, body_text, body_html, link, attempts, created_at \
             FROM outbound_emails WHERE id = $1",
        )
        .bind(id)
        .fetch_one(self.db.pool())
        .await?;
        let to: String = row.try_get("to_address")?;
        let kind: String = row.try_get("kind")?;
        let subject: String = row.try_get("subject")?;
        let text: Option<String> = row.try_get("body_text")?;
        let html: Option<String> = row.try_get("body_html")?;
        let link: Option<String> = row.try_get("link")?;
        let attempts: i64 = row.try_get("attempts")?;
        let created_at: i64 = row.try_get("created_at")?;

        let sent = self
            .mailer
            .send(&Outgoing {
                to: &to,
                subject: &subject,
                text: text.as_deref().unwrap_or_default(),
                html: html.as_deref().unwrap_or_default(),
                link: link.as_deref(),
            })
            .await;
        let now = db::now_ms();
        match sent {
            Ok(()) => {
                self.finish(id, "sent", None).await?;
                tracing::debug!(email_id = id, kind, attempts, "email sent");
            }
            Err(error) if now - created_at >= GIVE_UP_MS => {
                tracing::error!(email_id = id, kind, attempts, %error, "email abandoned after a day of failures");
                self.finish(id, "failed", Some(&error)).await?;
            }
            Err(error) => {
                let wait = retry_delay_ms(attempts);
                tracing::warn!(email_id = id, kind, attempts, retry_in_ms = wait, %error, "email not sent; will retry");
                sqlx::query(
                    "UPDATE outbound_emails SET next_attempt_at = $1, last_error = $2 WHERE id = $3",
                )
                .bind(now + wait)
                .bind(truncate(&error))
                .bind(id)
                .execute(self.db.pool())
                .await?;
            }
        }
        Ok(true)
    }

    /// Marks a message done and drops its bodies (they may carry a token).
    async fn finish(&self, id: &str, status: &str, error: Option<&str>) -> DomainResult<()> {
        sqlx::query(
            "UPDATE outbound_emails SET status = $1, sent_at = $2, last_error = $3, \
             body_text = NULL, body_html = NULL, link = NULL WHERE id = $4",
        )
        .bind(status)
        .bind((status == "sent").then(db::now_ms))
        .bind(error.map(truncate))
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

/// 1 s after the first failure, doubling, at most 5 minutes.
fn retry_delay_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_MS)
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ERROR_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_a_cap() {
        assert_eq!(retry_delay_ms(1), 1_000);
        assert_eq!(retry_delay_ms(2), 2_000);
        assert_eq!(retry_delay_ms(5), 16_000);
        assert_eq!(retry_delay_ms(40), MAX_RETRY_MS);
        assert_eq!(retry_delay_ms(0), 1_000);
    }
}

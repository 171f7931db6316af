//! Periodic clean-up of authentication data nobody can use any more:
//! expired refresh tokens and ended sessions, expired email tokens, and
//! delivered mail. Runs hourly in every control plane (concurrent runs only
//! delete the same rows).

use crate::auth::{account_tokens, sessions};
use crate::db::{self, Db};
use crate::email::outbox;
use crate::error::DomainResult;
use std::time::Duration;
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(3600);
/// Expired tokens and ended sessions are kept a day (for support questions).
const KEEP_ENDED_MS: i64 = 86_400_000;
/// Delivered and abandoned mail is kept 30 days (without bodies).
const KEEP_MAIL_MS: i64 = 30 * 86_400_000;

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Sessions.
    pub sessions: u64,
    /// Verification and reset tokens.
    pub account_tokens: u64,
    /// Outbound mail rows.
    pub emails: u64,
}

/// One clean-up as of `now_ms`.
pub async fn purge_once(db: &Db, now_ms: i64) -> DomainResult<Purged> {
    let (refresh_tokens, sessions) = sessions::purge(db, now_ms - KEEP_ENDED_MS).await?;
    let account_tokens = account_tokens::purge(db, now_ms - KEEP_ENDED_MS).await?;
    let emails = outbox::purge(db, now_ms - KEEP_MAIL_MS).await?;
    Ok(Purged {
        refresh_tokens,
        sessions,
        account_tokens,
        emails,
    })
}

/// Runs [`purge_once`] every hour until shutdown.
pub fn spawn(db: Db, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            match purge_once(&db, db::now_ms()).await {
                Ok(p) => tracing::debug!(?p, "authentication data cleaned up"),
                Err(e) => tracing::warn!(error = %e, "cannot clean up authentication data"),
            }
        }
    })
}

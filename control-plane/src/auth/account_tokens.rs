//! Single-use, expiring tokens sent by email: email verification (24 h) and
//! password reset (1 h). Stored as SHA-256; consuming one is a conditional
//! update, so two requests racing with the same token cannot both win.

use super::tokens::{hash_token, OpaqueToken};
use crate::db;
use crate::error::DomainResult;
use sqlx::{AnyConnection, Row};
use std::time::Duration;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms the account's email address.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    /// How long a token of this kind is valid.
    pub fn ttl(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::from_secs(24 * 3600),
            Purpose::ResetPassword => Duration::from_secs(3600),
        }
    }
}

/// Creates a token for `developer_id`.
pub async fn issue(
    conn: &mut AnyConnection,
    developer_id: &str,
    purpose: Purpose,
) -> DomainResult<OpaqueToken> {
    let token = OpaqueToken::generate();
    let now = db::now_ms();
    let ttl = i64::try_from(purpose.ttl().as_millis()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, developer_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.hash())
    .bind(developer_id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(now + ttl)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// The account a valid (unused, unexpired) token belongs to, without using it.
pub async fn peek(
    conn: &mut AnyConnection,
    token: &str,
    purpose: Purpose,
) -> DomainResult<Option<String>> {
    let row = sqlx::query(
        "SELECT developer_id FROM account_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash_token(token))
    .bind(purpose.as_str())
    .bind(db::now_ms())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get("developer_id")).transpose()?)
}

/// Uses a valid token; returns its account, `None` when it was not valid.
pub async fn consume(
    conn: &mut AnyConnection,
    token: &str,
    purpose: Purpose,
) -> DomainResult<Option<String>> {
    let hash = hash_token(token);
    let now = db::now_ms();
    let used = sqlx::query(
        "UPDATE account_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $4",
    )
    .bind(now)
    .bind(&hash)
    .bind(purpose.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if used.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT developer_id FROM account_tokens WHERE token_hash = $1")
        .bind(&hash)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Some(row.try_get("developer_id")?))
}

/// Uses up every outstanding token of a kind for an account (after a reset,
/// older reset links must stop working).
pub async fn consume_all(
    conn: &mut AnyConnection,
    developer_id: &str,
    purpose: Purpose,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE account_tokens SET used_at = $1 \
         WHERE developer_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(db::now_ms())
    .bind(developer_id)
    .bind(purpose.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes tokens that expired before `before_ms`; returns how many.
pub async fn purge(db: &crate::db::Db, before_ms: i64) -> DomainResult<u64> {
    let done = sqlx::query("DELETE FROM account_tokens WHERE expires_at < $1")
        .bind(before_ms)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

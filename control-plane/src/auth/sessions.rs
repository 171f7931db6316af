//! Login sessions and their refresh tokens.
//!
//! A login opens a session (the token *family*) and hands out its first
//! refresh token. Each refresh marks the presented token used and issues the
//! next one in the same session. Presenting a token that was already used
//! means it was copied: the whole session is revoked, so neither the thief
//! nor the owner can continue with it. Logout, password reset and password
//! change revoke sessions explicitly. Tokens are stored as SHA-256 only.

use super::tokens::{hash_token, OpaqueToken};
use crate::db;
use crate::error::DomainResult;
use sqlx::{AnyConnection, Row};
use std::time::Duration;

/// How long a refresh token may be used (each rotation starts a new period).
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 86_400);
const MAX_USER_AGENT: usize = 512;

/// Why a session was ended (stored, for operators reading the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The developer logged out.
    Logout,
    /// A rotated refresh token was presented again.
    RefreshTokenReused,
    /// The password was reset by email.
    PasswordReset,
    /// The password was changed from another session.
    PasswordChanged,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::RefreshTokenReused => "refresh_token_reused",
            RevokeReason::PasswordReset => "password_reset",
            RevokeReason::PasswordChanged => "password_changed",
        }
    }
}

/// A session's newest refresh token, in clear for the response.
pub struct IssuedRefresh {
    /// `ses_…`, also the access token's `sid`.
    pub session_id: String,
    /// The refresh token.
    pub token: OpaqueToken,
}

fn ttl_ms() -> i64 {
    i64::try_from(REFRESH_TOKEN_TTL.as_millis()).unwrap_or(i64::MAX)
}

async fn insert_token(conn: &mut AnyConnection, session_id: &str) -> DomainResult<OpaqueToken> {
    let token = OpaqueToken::generate();
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token.hash())
    .bind(session_id)
    .bind(now)
    .bind(now + ttl_ms())
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// Opens a session for a successful login.
pub async fn create(
    conn: &mut AnyConnection,
    developer_id: &str,
    ip: &str,
    user_agent: &str,
) -> DomainResult<IssuedRefresh> {
    let session_id = db::new_id("ses_");
    let now = db::now_ms();
    let user_agent: String = user_agent.chars().take(MAX_USER_AGENT).collect();
    sqlx::query(
        "INSERT INTO sessions (id, developer_id, created_at, last_used_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&session_id)
    .bind(developer_id)
    .bind(now)
    .bind(now)
    .bind(ip)
    .bind(user_agent)
    .execute(&mut *conn)
    .await?;
    let token = insert_token(conn, &session_id).await?;
    Ok(IssuedRefresh { session_id, token })
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// The token was current: here is its successor.
    Rotated {
        /// The session's owner.
        developer_id: String,
        /// The session and its new token.
        issued: IssuedRefresh,
    },
    /// An already-rotated token: the session has just been revoked. The
    /// caller must commit so the revocation sticks.
    Reused {
        /// The revoked session.
        session_id: String,
    },
    /// Unknown, expired, or from a revoked session.
    Invalid,
}

/// Rotates a presented refresh token inside the caller's transaction.
pub async fn rotate(conn: &mut AnyConnection, presented: &str) -> DomainResult<Rotation> {
    let hash = hash_token(presented);
    let row = sqlx::query(
        "SELECT t.session_id, t.expires_at, t.used_at, s.developer_id, s.revoked_at \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    let session_id: String = row.try_get("session_id")?;
    let developer_id: String = row.try_get("developer_id")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let used_at: Option<i64> = row.try_get("used_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let now = db::now_ms();

    if revoked_at.is_some() {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        revoke(conn, &session_id, RevokeReason::RefreshTokenReused).await?;
        return Ok(Rotation::Reused { session_id });
    }
    if expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    // Two requests racing with the same token: only one marks it used; the
    // other sees it as reused, exactly like a replay.
    let claimed = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() != 1 {
        revoke(conn, &session_id, RevokeReason::RefreshTokenReused).await?;
        return Ok(Rotation::Reused { session_id });
    }
    sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&session_id)
        .execute(&mut *conn)
        .await?;
    let token = insert_token(conn, &session_id).await?;
    Ok(Rotation::Rotated {
        developer_id,
        issued: IssuedRefresh { session_id, token },
    })
}

/// The session a refresh token (current or already rotated) belongs to.
pub async fn session_of(conn: &mut AnyConnection, presented: &str) -> DomainResult<Option<String>> {
    let row = sqlx::query("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash_token(presented))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("session_id")).transpose()?)
}

/// Revokes one session (idempotent).
pub async fn revoke(
    conn: &mut AnyConnection,
    session_id: &str,
    reason: RevokeReason,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(db::now_ms())
    .bind(reason.as_str())
    .bind(session_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes every live session of a developer except `keep`; returns how many.
pub async fn revoke_all(
    conn: &mut AnyConnection,
    developer_id: &str,
    keep: Option<&str>,
    reason: RevokeReason,
) -> DomainResult<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE developer_id = $3 AND revoked_at IS NULL AND id <> $4",
    )
    .bind(db::now_ms())
    .bind(reason.as_str())
    .bind(developer_id)
    .bind(keep.unwrap_or(""))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Whether `session_id` belongs to `developer_id` and is not revoked.
pub async fn is_live(
    conn: &mut AnyConnection,
    session_id: &str,
    developer_id: &str,
) -> DomainResult<bool> {
    let row = sqlx::query(
        "SELECT 1 AS live FROM sessions \
         WHERE id = $1 AND developer_id = $2 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Deletes what can no longer matter: refresh tokens expired before
/// `before_ms` or belonging to sessions revoked before it, then sessions
/// left without tokens that were revoked or last used before it. Returns
/// (tokens, sessions) deleted.
pub async fn purge(db: &crate::db::Db, before_ms: i64) -> DomainResult<(u64, u64)> {
    let mut tx = db.begin_write().await?;
    let tokens = sqlx::query(
        "DELETE FROM refresh_tokens WHERE expires_at < $1 \
         OR session_id IN (SELECT id FROM sessions WHERE revoked_at < $2)",
    )
    .bind(before_ms)
    .bind(before_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE (revoked_at < $1 OR last_used_at < $2) \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id)",
    )
    .bind(before_ms)
    .bind(before_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((tokens, sessions))
}

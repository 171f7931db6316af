//! Login, token refresh and logout.

use super::{AccountError, AccountResult, Accounts, ClientMeta};
use crate::auth::sessions::{self, IssuedRefresh, RevokeReason, Rotation};
use crate::developers::{self, Developer, Email};

/// What a successful login or refresh hands out.
pub struct SessionTokens {
    /// Signed access token.
    pub access_token: String,
    /// Its lifetime, seconds.
    pub expires_in: u64,
    /// The session's new refresh token (shown once).
    pub refresh: IssuedRefresh,
    /// The account.
    pub developer: Developer,
}

impl Accounts {
    /// Checks email and password and opens a session.
    ///
    /// Locked accounts and addresses are refused before any work. Unknown
    /// addresses and accounts without a password are verified against the
    /// dummy hash, so every wrong answer costs the same. A suspended account
    /// is told so only after the right password.
    pub async fn login(
        &self,
        raw_email: &str,
        password: String,
        client: &ClientMeta,
    ) -> AccountResult<SessionTokens> {
        let key = raw_email.trim().to_lowercase();
        self.throttle
            .check(&key, &client.ip)
            .map_err(|retry_after| AccountError::TooManyAttempts { retry_after })?;

        let found = match Email::parse(&key) {
            Ok(email) => {
                let mut conn = self.db.pool().acquire().await?;
                developers::find_for_login(&mut conn, &email).await?
            }
            Err(_) => None,
        };
        let (candidate, phc) = match found {
            Some((developer, Some(phc))) => (Some(developer), phc),
            _ => (None, self.dummy_hash.clone()),
        };
        let matches = developers::verify_off_thread(password, phc).await?;
        let Some(developer) = candidate.filter(|_| matches) else {
            let delay = self.throttle.record_failure(&key, &client.ip);
            tokio::time::sleep(delay).await;
            return Err(AccountError::InvalidCredentials);
        };
        self.throttle.record_success(&key);
        if !developer.is_active {
            return Err(AccountError::Suspended);
        }

        let mut tx = self.db.begin_write().await?;
        let refresh =
            sessions::create(&mut tx, &developer.id, &client.ip, &client.user_agent).await?;
        tx.commit().await?;
        self.session_tokens(developer, refresh)
    }

    /// Rotates a refresh token. An already-rotated token revokes its whole
    /// session and is refused like any invalid token.
    pub async fn refresh(&self, refresh_token: &str) -> AccountResult<SessionTokens> {
        let mut tx = self.db.begin_write().await?;
        match sessions::rotate(&mut tx, refresh_token).await? {
            Rotation::Invalid => Err(AccountError::InvalidToken),
            Rotation::Reused { session_id } => {
                tx.commit().await?;
                tracing::warn!(
                    session_id,
                    "a rotated refresh token was presented again; the session is revoked"
                );
                Err(AccountError::InvalidToken)
            }
            Rotation::Rotated {
                developer_id,
                issued,
            } => {
                let developer = developers::fetch_by_id(&mut tx, &developer_id)
                    .await?
                    .ok_or(AccountError::InvalidToken)?;
                if !developer.is_active {
                    // Rolled back: nothing is issued to a suspended account.
                    return Err(AccountError::Suspended);
                }
                tx.commit().await?;
                self.session_tokens(developer, issued)
            }
        }
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are
    /// accepted silently: the caller is logged out either way.
    pub async fn logout(&self, refresh_token: &str) -> AccountResult<()> {
        let mut tx = self.db.begin_write().await?;
        if let Some(session_id) = sessions::session_of(&mut tx, refresh_token).await? {
            sessions::revoke(&mut tx, &session_id, RevokeReason::Logout).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn session_tokens(
        &self,
        developer: Developer,
        refresh: IssuedRefresh,
    ) -> AccountResult<SessionTokens> {
        let access = self
            .tokens
            .issue(&developer.id, developer.role, &refresh.session_id)
            .map_err(|e| {
                AccountError::Domain(crate::error::DomainError::Internal(format!(
                    "cannot sign an access token: {e}"
                )))
            })?;
        Ok(SessionTokens {
            access_token: access.token,
            expires_in: access.expires_in,
            refresh,
            developer,
        })
    }
}

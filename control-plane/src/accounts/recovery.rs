//! Forgotten passwords (reset by email) and password changes.

use super::{AccountError, AccountResult, Accounts, Authenticated, ClientMeta};
use crate::auth::account_tokens::{self, Purpose};
use crate::auth::sessions::{self, RevokeReason};
use crate::developers::{self, Email, Password};
use crate::email::outbox::{self, NewEmail};
use crate::email::templates::Template;

impl Accounts {
    /// Mails a reset link to the account of `raw_email`, if there is one.
    pub async fn request_password_reset(&self, raw_email: &str) -> AccountResult<()> {
        let email = Email::parse(raw_email).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let mut tx = self.db.begin_write().await?;
        if let Some(developer) = developers::find_by_email(&mut tx, &email).await? {
            let kind = Template::PasswordReset { link: "" }.kind();
            if !self.over_mail_cap(&mut tx, &developer.email, kind).await? {
                let token =
                    account_tokens::issue(&mut tx, &developer.id, Purpose::ResetPassword).await?;
                let link = self.link(&format!("/reset-password?token={}", token.expose()));
                outbox::enqueue(
                    &mut tx,
                    NewEmail {
                        developer_id: Some(&developer.id),
                        to: &developer.email,
                        template: Template::PasswordReset { link: &link },
                        language: developer.language,
                        name: &developer.full_name,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.wake_mailer();
        Ok(())
    }

    /// Sets a new password with the token from the reset mail. Every
    /// session of the account ends, every other reset link stops working,
    /// and the address counts as verified (the mail reached it).
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: String,
    ) -> AccountResult<()> {
        let developer = {
            let mut conn = self.db.pool().acquire().await?;
            let id = account_tokens::peek(&mut conn, token, Purpose::ResetPassword)
                .await?
                .ok_or(AccountError::InvalidToken)?;
            developers::fetch_by_id(&mut conn, &id)
                .await?
                .ok_or(AccountError::InvalidToken)?
        };
        let email = Email::parse(&developer.email).map_err(AccountError::Domain)?;
        let password = Password::new(new_password, Some(&email))?;
        let phc = developers::hash_off_thread(password).await?;

        let mut tx = self.db.begin_write().await?;
        // The token may have been used meanwhile: consuming decides.
        let consumed = account_tokens::consume(&mut tx, token, Purpose::ResetPassword).await?;
        if consumed.as_deref() != Some(developer.id.as_str()) {
            return Err(AccountError::InvalidToken);
        }
        developers::set_password_hash(&mut tx, &developer.id, &phc).await?;
        account_tokens::consume_all(&mut tx, &developer.id, Purpose::ResetPassword).await?;
        developers::mark_email_verified(&mut tx, &developer.id).await?;
        sessions::revoke_all(&mut tx, &developer.id, None, RevokeReason::PasswordReset).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the caller's password after checking the current one; every
    /// other session of the account ends, the caller's stays.
    pub async fn change_password(
        &self,
        caller: &Authenticated,
        current_password: String,
        new_password: String,
        client: &ClientMeta,
    ) -> AccountResult<()> {
        let developer = &caller.developer;
        let email = Email::parse(&developer.email).map_err(AccountError::Domain)?;
        let password = Password::new(new_password, Some(&email))?;

        // Guessing the current password with a stolen access token counts
        // against the same limits as guessing at login.
        let key = developer.email.as_str();
        self.throttle
            .check(key, &client.ip)
            .map_err(|retry_after| AccountError::TooManyAttempts { retry_after })?;
        let stored = {
            let mut conn = self.db.pool().acquire().await?;
            developers::password_hash(&mut conn, &developer.id).await?
        };
        let matches = match stored {
            Some(phc) => developers::verify_off_thread(current_password, phc).await?,
            None => false,
        };
        if !matches {
            let delay = self.throttle.record_failure(key, &client.ip);
            tokio::time::sleep(delay).await;
            return Err(AccountError::WrongPassword);
        }
        self.throttle.record_success(key);

        let phc = developers::hash_off_thread(password).await?;
        let mut tx = self.db.begin_write().await?;
        developers::set_password_hash(&mut tx, &developer.id, &phc).await?;
        sessions::revoke_all(
            &mut tx,
            &developer.id,
            Some(&caller.session_id),
            RevokeReason::PasswordChanged,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

//! Sign-up, email verification and resending the verification mail.

use super::{AccountError, AccountResult, Accounts, HOUR_MS, MAIL_CAP_PER_HOUR};
use crate::auth::account_tokens::{self, Purpose};
use crate::config::SignupPolicy;
use crate::db;
use crate::developers::{
    self, Developer, DeveloperType, Email, Language, NewDeveloper, Password, Role,
};
use crate::email::outbox::{self, NewEmail};
use crate::email::templates::Template;
use crate::error::DomainError;
use sqlx::AnyConnection;
use subtle::ConstantTimeEq;

/// What a sign-up form sends.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Login and contact address.
    pub email: String,
    /// Password in clear.
    pub password: String,
    /// Full name.
    pub full_name: String,
    /// Company, optional.
    pub company_name: Option<String>,
    /// `individual` or `enterprise`.
    pub developer_type: String,
    /// `en` or `zh-CN`; English when absent.
    pub language: Option<String>,
    /// Needed when sign-up is invite-only.
    pub invite_code: Option<String>,
}

impl Accounts {
    /// Registers an account and queues its verification mail. When the
    /// address already has an account, nothing changes and that account is
    /// told someone tried; the caller answers the same in both cases.
    pub async fn register(&self, r: Registration) -> AccountResult<()> {
        self.check_signup_allowed(r.invite_code.as_deref())?;
        let email = Email::parse(&r.email).map_err(invalid)?;
        let password = Password::new(r.password, Some(&email))?;
        let developer_type = DeveloperType::parse(r.developer_type.trim()).map_err(invalid)?;
        let language = match r.language.as_deref() {
            Some(l) if !l.trim().is_empty() => Language::parse(l).map_err(invalid)?,
            _ => Language::En,
        };
        // Hashing happens whether or not the address is taken: both answers
        // must cost the same.
        let prepared = developers::prepare(NewDeveloper {
            email: email.clone(),
            full_name: r.full_name,
            company_name: r.company_name,
            developer_type,
            role: Role::Developer,
            password: Some(password),
            email_verified: false,
            language,
        })
        .await
        .map_err(invalid)?;

        let mut tx = self.db.begin_write().await?;
        if let Some(existing) = developers::find_by_email(&mut tx, &email).await? {
            self.notify_already_registered(&mut tx, &existing).await?;
        } else {
            let developer = match developers::insert(&mut tx, self.db.backend(), prepared).await {
                Ok(d) => d,
                // Another sign-up for the same address committed first; it
                // sends its own verification mail.
                Err(DomainError::Conflict(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            self.queue_verification(&mut tx, &developer).await?;
        }
        tx.commit().await?;
        self.wake_mailer();
        Ok(())
    }

    fn check_signup_allowed(&self, invite_code: Option<&str>) -> AccountResult<()> {
        let policy = self.policy();
        match policy.signup {
            SignupPolicy::Open => Ok(()),
            SignupPolicy::Closed => Err(AccountError::SignupClosed),
            SignupPolicy::InviteOnly => {
                let given = invite_code.unwrap_or_default().trim().as_bytes();
                // Compare with every code, in constant time per code.
                let matched = policy.invite_codes.iter().fold(false, |found, code| {
                    found | bool::from(code.trim().as_bytes().ct_eq(given))
                });
                if matched && !given.is_empty() {
                    Ok(())
                } else {
                    Err(AccountError::InvalidInvite)
                }
            }
        }
    }

    /// Confirms an address with the token from the verification mail and
    /// queues the welcome mail (the first time).
    pub async fn verify_email(&self, token: &str) -> AccountResult<()> {
        let mut tx = self.db.begin_write().await?;
        let developer_id = account_tokens::consume(&mut tx, token, Purpose::VerifyEmail)
            .await?
            .ok_or(AccountError::InvalidToken)?;
        let first_time = developers::mark_email_verified(&mut tx, &developer_id).await?;
        if first_time {
            let developer = developers::fetch_by_id(&mut tx, &developer_id)
                .await?
                .ok_or(AccountError::InvalidToken)?;
            let login = self.link("/login");
            outbox::enqueue(
                &mut tx,
                NewEmail {
                    developer_id: Some(&developer.id),
                    to: &developer.email,
                    template: Template::Welcome { login: &login },
                    language: developer.language,
                    name: &developer.full_name,
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.wake_mailer();
        Ok(())
    }

    /// Sends a new verification mail to an unverified account; does
    /// nothing (and says nothing) for unknown or verified addresses.
    pub async fn resend_verification(&self, raw_email: &str) -> AccountResult<()> {
        let email = Email::parse(raw_email).map_err(invalid)?;
        let mut tx = self.db.begin_write().await?;
        if let Some(developer) = developers::find_by_email(&mut tx, &email).await? {
            if !developer.email_verified {
                self.queue_verification(&mut tx, &developer).await?;
            }
        }
        tx.commit().await?;
        self.wake_mailer();
        Ok(())
    }

    async fn queue_verification(
        &self,
        tx: &mut AnyConnection,
        developer: &Developer,
    ) -> AccountResult<()> {
        let template = Template::Verification { link: "" };
        if self
            .over_mail_cap(tx, &developer.email, template.kind())
            .await?
        {
            return Ok(());
        }
        let token = account_tokens::issue(tx, &developer.id, Purpose::VerifyEmail).await?;
        let link = self.link(&format!("/verify-email?token={}", token.expose()));
        outbox::enqueue(
            tx,
            NewEmail {
                developer_id: Some(&developer.id),
                to: &developer.email,
                template: Template::Verification { link: &link },
                language: developer.language,
                name: &developer.full_name,
            },
        )
        .await?;
        Ok(())
    }

    async fn notify_already_registered(
        &self,
        tx: &mut AnyConnection,
        existing: &Developer,
    ) -> AccountResult<()> {
        let login = self.link("/login");
        let reset = self.link("/forgot-password");
        let template = Template::AlreadyRegistered {
            login: &login,
            reset: &reset,
        };
        if self
            .over_mail_cap(tx, &existing.email, template.kind())
            .await?
        {
            return Ok(());
        }
        outbox::enqueue(
            tx,
            NewEmail {
                developer_id: Some(&existing.id),
                to: &existing.email,
                template,
                language: existing.language,
                name: &existing.full_name,
            },
        )
        .await?;
        Ok(())
    }

    /// Whether `to` already got [`MAIL_CAP_PER_HOUR`] messages of `kind`
    /// in the last hour.
    pub(super) async fn over_mail_cap(
        &self,
        tx: &mut AnyConnection,
        to: &str,
        kind: &str,
    ) -> AccountResult<bool> {
        let sent = outbox::recent_count(tx, to, kind, db::now_ms() - HOUR_MS).await?;
        if sent >= MAIL_CAP_PER_HOUR {
            tracing::warn!(
                kind,
                "mail cap reached for an address; not sending more this hour"
            );
            return Ok(true);
        }
        Ok(false)
    }
}

/// Input errors keep their message (which names the field).
fn invalid(e: DomainError) -> AccountError {
    match e {
        DomainError::Invalid(m) => AccountError::Invalid(m),
        other => AccountError::Domain(other),
    }
}

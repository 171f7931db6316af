//! Developer accounts as developers use them: sign-up and email
//! verification ([`signup`]), login, token refresh and logout ([`login`]),
//! password reset and change ([`recovery`]), the own profile
//! ([`profile`]), and the hourly clean-up of spent tokens
//! ([`housekeeping`]).
//!
//! Responses must not tell whether an address is registered: sign-up,
//! resend and reset requests answer the same either way (mail goes only to
//! real accounts), and a login for an unknown address verifies the password
//! against a dummy hash so it takes as long as a wrong password.

pub mod housekeeping;
pub mod login;
pub mod profile;
pub mod recovery;
pub mod signup;

use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::{AccessTokens, OpaqueToken};
use crate::config::{AccountsConfig, Config};
use crate::db::Db;
use crate::developers::{self, Developer, Password, WeakPassword};
use crate::error::DomainError;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// At most this many messages of one kind go to one address per hour, so
/// nobody can use the sign-up or reset forms to flood a mailbox.
const MAIL_CAP_PER_HOUR: i64 = 5;
const HOUR_MS: i64 = 3_600_000;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The input is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The password does not meet the policy; the message says why.
    #[error("{0}")]
    WeakPassword(String),
    /// Wrong email or password (deliberately not saying which).
    #[error("the email address or password is incorrect")]
    InvalidCredentials,
    /// Too many failures: the account or the address is locked for a while.
    #[error("too many failed attempts; try again in {} seconds", retry_after_secs(.retry_after))]
    TooManyAttempts {
        /// How long the lock still lasts.
        retry_after: Duration,
    },
    /// The account is suspended.
    #[error("this account is suspended; contact the operator")]
    Suspended,
    /// `accounts.signup = "closed"`.
    #[error("sign-up is closed; ask the operator for an account")]
    SignupClosed,
    /// `accounts.signup = "invite_only"` and no valid code was given.
    #[error("invite_code: a valid invitation code is required to sign up")]
    InvalidInvite,
    /// A verification, reset or refresh token that is unknown, expired,
    /// already used, or revoked.
    #[error("the token is invalid, has expired or was already used")]
    InvalidToken,
    /// The current password given to change it is wrong.
    #[error("current_password: the current password is incorrect")]
    WrongPassword,
    /// No valid access token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Storage or another internal failure.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// Whole seconds, rounded up, at least 1.
pub fn retry_after_secs(d: &Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Domain(DomainError::Database(e))
    }
}

impl From<WeakPassword> for AccountError {
    fn from(e: WeakPassword) -> Self {
        AccountError::WeakPassword(e.to_string())
    }
}

/// Results of account operations.
pub type AccountResult<T> = Result<T, AccountError>;

/// Where a request came from (sessions record it; throttling counts by IP).
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    /// The client's IP address as far as we can trust it.
    pub ip: String,
    /// Its `User-Agent`.
    pub user_agent: String,
}

/// Everything the account flows share. One per application.
pub struct Accounts {
    db: Db,
    tokens: AccessTokens,
    throttle: LoginThrottle,
    settings: Arc<crate::settings::Runtime>,
    portal: String,
    mail_wake: Arc<Notify>,
    /// A real argon2id hash of a random password: unknown emails are
    /// verified against it so they cost what a known one does.
    dummy_hash: String,
}

impl Accounts {
    /// Builds the account service; computes the dummy hash (once, now). The
    /// sign-up policy is read from `settings` at each use.
    pub async fn new(
        config: &Config,
        settings: Arc<crate::settings::Runtime>,
        db: Db,
        mail_wake: Arc<Notify>,
    ) -> anyhow::Result<Accounts> {
        let random = OpaqueToken::generate();
        let dummy = Password::new(format!("{}-1", random.expose()), None)
            .context("the dummy password does not meet the policy")?;
        let dummy_hash = developers::hash_off_thread(dummy)
            .await
            .context("cannot compute the dummy password hash")?;
        Ok(Accounts {
            db,
            tokens: AccessTokens::new(&config.auth.token_secret),
            throttle: LoginThrottle::new(&config.auth),
            settings,
            portal: config.public.portal_base().to_string(),
            mail_wake,
            dummy_hash,
        })
    }

    /// The account policy now (the console may change it).
    pub fn policy(&self) -> AccountsConfig {
        self.settings.config().accounts.clone()
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A portal page's address, e.g. `link("/login")`.
    fn link(&self, path: &str) -> String {
        format!("{}{path}", self.portal)
    }

    /// Tells the mail worker that something was queued (call after commit).
    fn wake_mailer(&self) {
        self.mail_wake.notify_one();
    }

    /// The developer and session behind a bearer access token.
    pub async fn authenticate(&self, access_token: &str) -> AccountResult<Authenticated> {
        const REFUSED: &str = "missing, invalid or expired access token";
        let claims = self
            .tokens
            .verify(access_token)
            .ok_or(AccountError::Unauthorized(REFUSED))?;
        let mut conn = self.db.pool().acquire().await?;
        if !crate::auth::sessions::is_live(&mut conn, &claims.sid, &claims.sub).await? {
            return Err(AccountError::Unauthorized(REFUSED));
        }
        let developer = developers::fetch_by_id(&mut conn, &claims.sub)
            .await?
            .ok_or(AccountError::Unauthorized(REFUSED))?;
        if !developer.is_active {
            return Err(AccountError::Suspended);
        }
        Ok(Authenticated {
            developer,
            session_id: claims.sid,
        })
    }
}

/// A request authenticated by an access token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The caller's account, as it is now.
    pub developer: Developer,
    /// The login session the token belongs to.
    pub session_id: String,
}

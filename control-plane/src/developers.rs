//! Developer accounts: creation (operators included), lookup, profile
//! changes, passwords (policy and argon2id), suspension, account limits.

use crate::db::{self, get_bool, Db, Entity};
use crate::error::{DomainError, DomainResult};
use crate::keys;
use aihub_contract::snapshot::DeveloperEntry;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest accepted password (argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_LEN: usize = 128;
const MAX_NAME_LEN: usize = 200;

/// A validated, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and checks the shape `local@domain.tld`.
    pub fn parse(raw: &str) -> DomainResult<Email> {
        let email = raw.trim().to_lowercase();
        let bad = || {
            DomainError::invalid(format!(
                "email: expected an address like name@example.com, got '{raw}'"
            ))
        };
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad());
        }
        Ok(Email(email))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password in clear, only on its way to the hasher. Not `Debug`.
pub struct Password(String);

/// Why a password was refused by the policy; the message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WeakPassword(String);

impl From<WeakPassword> for DomainError {
    fn from(e: WeakPassword) -> Self {
        DomainError::Invalid(e.0)
    }
}

impl Password {
    /// Applies the password policy: [`MIN_PASSWORD_LEN`] to
    /// [`MAX_PASSWORD_LEN`] characters, at least one letter and at least one
    /// digit or symbol, and not the account's own email address.
    pub fn new(raw: String, email: Option<&Email>) -> Result<Password, WeakPassword> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD_LEN {
            return Err(WeakPassword(format!(
                "password: expected at least {MIN_PASSWORD_LEN} characters, got {n}"
            )));
        }
        if n > MAX_PASSWORD_LEN {
            return Err(WeakPassword(format!(
                "password: expected at most {MAX_PASSWORD_LEN} characters, got {n}"
            )));
        }
        let has_letter = raw.chars().any(char::is_alphabetic);
        let has_other = raw.chars().any(|c| !c.is_alphabetic());
        if !has_letter || !has_other {
            return Err(WeakPassword(
                "password: use at least one letter and at least one digit or symbol".into(),
            ));
        }
        if email.is_some_and(|e| raw.trim().to_lowercase() == e.as_str()) {
            return Err(WeakPassword(
                "password: must not be the account's email address".into(),
            ));
        }
        Ok(Password(raw))
    }

    /// [`Password::new`] without an email, as a [`DomainError`].
    pub fn parse(raw: String) -> DomainResult<Password> {
        Ok(Password::new(raw, None)?)
    }

    /// Argon2id (the crate's default, OWASP-recommended parameters) with a
    /// random salt, in PHC string form.
    pub fn hash(&self) -> DomainResult<String> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| DomainError::Internal(format!("password hashing failed: {e}")))
    }
}

/// Whether `password` matches a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Individual or enterprise account (the business plan's two kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeveloperType {
    /// A person.
    Individual,
    /// A company.
    Enterprise,
}

impl DeveloperType {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeveloperType::Individual => "individual",
            DeveloperType::Enterprise => "enterprise",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "individual" => Ok(DeveloperType::Individual),
            "enterprise" => Ok(DeveloperType::Enterprise),
            other => Err(DomainError::invalid(format!(
                "developer_type: expected individual or enterprise, got '{other}'"
            ))),
        }
    }
}

/// The language an account's mail is written in (and the portal's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Language {
    /// Every supported language, in the order the portal offers them.
    pub const ALL: [Language; 2] = [Language::En, Language::ZhCn];

    /// Stored spelling (a BCP 47 tag).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::ZhCn => "zh-CN",
        }
    }

    /// Parses `en` or `zh-CN` (any case).
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Ok(Language::En),
            "zh-cn" => Ok(Language::ZhCn),
            _ => Err(DomainError::invalid(format!(
                "language: expected en or zh-CN, got '{s}'"
            ))),
        }
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A customer.
    Developer,
    /// An operator.
    Admin,
}

impl Role {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "developer" => Ok(Role::Developer),
            "admin" => Ok(Role::Admin),
            other => Err(DomainError::Internal(format!("unknown role '{other}'"))),
        }
    }
}

/// Input of [`create_developer`].
pub struct NewDeveloper {
    /// Login and contact address.
    pub email: Email,
    /// Full name (an operator's defaults to "Operator").
    pub full_name: String,
    /// Company, if any.
    pub company_name: Option<String>,
    /// Individual or enterprise.
    pub developer_type: DeveloperType,
    /// Developer or admin.
    pub role: Role,
    /// Password, when the account may log in.
    pub password: Option<Password>,
    /// Whether the email is known to be verified (operators created by hand).
    pub email_verified: bool,
    /// Language of the account's mail.
    pub language: Language,
}

/// A developer account as the domain sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Developer {
    /// `dev_…`
    pub id: String,
    /// Lower-case email.
    pub email: String,
    /// An operator who may look but not change anything.
    pub read_only: bool,
    /// Full name.
    pub full_name: String,
    /// Company.
    pub company_name: Option<String>,
    /// Individual or enterprise.
    pub developer_type: DeveloperType,
    /// Developer or admin.
    pub role: Role,
    /// False when suspended.
    pub is_active: bool,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Language of the account's mail.
    pub language: Language,
    /// Included tokens (business plan's default allowance).
    pub api_quota_limit: i64,
    /// Requests per minute.
    pub api_rate_limit: i64,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
}

/// The columns [`from_row`] reads, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, email, full_name, company_name, developer_type, role, is_active, \
         email_verified, language, api_quota_limit, api_rate_limit, created_at, read_only"
    };
}

/// Reads a row selected with `columns!()`.
fn from_row(row: &AnyRow) -> DomainResult<Developer> {
    Ok(Developer {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        full_name: row.try_get("full_name")?,
        company_name: row.try_get("company_name")?,
        developer_type: DeveloperType::parse(&row.try_get::<String, _>("developer_type")?)?,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        is_active: get_bool(row, "is_active")?,
        email_verified: get_bool(row, "email_verified")?,
        language: Language::parse(&row.try_get::<String, _>("language")?)
            .map_err(|e| DomainError::Internal(e.to_string()))?,
        api_quota_limit: row.try_get("api_quota_limit")?,
        api_rate_limit: row.try_get("api_rate_limit")?,
        created_at_ms: row.try_get("created_at")?,
        read_only: get_bool(row, "read_only")?,
    })
}

/// Makes an operator read-only (support staff: operator pages, no changes)
/// or gives it full rights again.
pub async fn set_read_only(
    conn: &mut AnyConnection,
    id: &str,
    read_only: bool,
) -> DomainResult<()> {
    sqlx::query("UPDATE developers SET read_only = $1, updated_at = $2 WHERE id = $3")
        .bind(read_only)
        .bind(db::now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Trims a name and checks its length and characters.
pub fn clean_name(field: &str, raw: &str) -> DomainResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(DomainError::invalid(format!(
            "{field}: expected 1 to {MAX_NAME_LEN} printable characters, got '{raw}'"
        )));
    }
    Ok(name.to_string())
}

/// Creates an account. Fails with [`DomainError::Conflict`] when the email is
/// taken; writes nothing on any failure.
pub async fn create_developer(db: &Db, new: NewDeveloper) -> DomainResult<Developer> {
    let prepared = prepare(new).await?;
    let mut tx = db.begin_write().await?;
    let developer = insert(&mut tx, db.backend(), prepared).await?;
    tx.commit().await?;
    Ok(developer)
}

/// A [`NewDeveloper`] checked and with its password hashed, ready for [`insert`].
pub struct PreparedDeveloper {
    email: Email,
    full_name: String,
    company_name: Option<String>,
    developer_type: DeveloperType,
    role: Role,
    password_hash: Option<String>,
    email_verified: bool,
    language: Language,
}

/// Checks the names and hashes the password (off the async workers:
/// argon2 is deliberately slow), before any transaction is opened.
pub async fn prepare(new: NewDeveloper) -> DomainResult<PreparedDeveloper> {
    let full_name = clean_name("full_name", &new.full_name)?;
    let company_name = clean_company(new.company_name.as_deref())?;
    let password_hash = match new.password {
        Some(p) => Some(hash_off_thread(p).await?),
        None => None,
    };
    Ok(PreparedDeveloper {
        email: new.email,
        full_name,
        company_name,
        developer_type: new.developer_type,
        role: new.role,
        password_hash,
        email_verified: new.email_verified,
        language: new.language,
    })
}

/// A company name, `None` when empty.
pub fn clean_company(raw: Option<&str>) -> DomainResult<Option<String>> {
    match raw {
        Some(c) if !c.trim().is_empty() => Ok(Some(clean_name("company_name", c)?)),
        _ => Ok(None),
    }
}

/// Hashes a password on the blocking pool.
pub async fn hash_off_thread(password: Password) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || password.hash())
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))?
}

/// Whether `password` matches `phc`, checked on the blocking pool.
pub async fn verify_off_thread(password: String, phc: String) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))
}

/// Inserts a prepared account inside the caller's transaction (so mail or
/// tokens written alongside commit with it). [`DomainError::Conflict`] when
/// the email is taken.
pub async fn insert(
    tx: &mut AnyConnection,
    backend: db::Backend,
    new: PreparedDeveloper,
) -> DomainResult<Developer> {
    let id = db::new_id("dev_");
    let now = db::now_ms();
    let taken = sqlx::query("SELECT id FROM developers WHERE email = $1")
        .bind(new.email.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(email_taken(&new.email));
    }
    let inserted = sqlx::query(
        "INSERT INTO developers (id, email, password_hash, full_name, company_name, developer_type, \
         role, is_active, email_verified, language, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(new.email.as_str())
    .bind(new.password_hash)
    .bind(&new.full_name)
    .bind(new.company_name)
    .bind(new.developer_type.as_str())
    .bind(new.role.as_str())
    .bind(true)
    .bind(new.email_verified)
    .bind(new.language.as_str())
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if db::is_unique_violation(&e) => return Err(email_taken(&new.email)),
        other => other?,
    };
    crate::billing::plans::start(tx, &id).await?;
    db::record_change(tx, backend, Entity::Developer, &id).await?;
    fetch_by_id(tx, &id)
        .await?
        .ok_or_else(|| DomainError::Internal("developer vanished after insert".into()))
}

fn email_taken(email: &Email) -> DomainError {
    DomainError::Conflict(format!(
        "a developer with email {} already exists",
        email.as_str()
    ))
}

/// A developer by id, `None` when there is none.
pub async fn fetch_by_id(conn: &mut AnyConnection, id: &str) -> DomainResult<Option<Developer>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM developers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Finds a developer by id (`dev_…`) or email.
pub async fn resolve(conn: &mut AnyConnection, id_or_email: &str) -> DomainResult<Developer> {
    let needle = id_or_email.trim();
    let found = if needle.contains('@') {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM developers WHERE email = $1"
        ))
        .bind(needle.to_lowercase())
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(from_row).transpose()?
    } else {
        fetch_by_id(conn, needle).await?
    };
    found.ok_or_else(|| DomainError::NotFound(format!("no developer with id or email '{needle}'")))
}

/// Finds a developer by id or email.
pub async fn find(db: &Db, id_or_email: &str) -> DomainResult<Developer> {
    let mut conn = db.pool().acquire().await?;
    resolve(&mut conn, id_or_email).await
}

/// Suspends (`active = false`) or reactivates an account. A suspended
/// developer's keys stop working on every gateway.
pub async fn set_active(db: &Db, id_or_email: &str, active: bool) -> DomainResult<Developer> {
    set_active_by(db, id_or_email, active, &crate::audit::Actor::cli()).await
}

/// Suspends or reactivates an account for `actor`, audited
/// (`developer.suspended` / `developer.activated`) in the same transaction;
/// gateways refuse a suspended account's keys from the next snapshot.
pub async fn set_active_by(
    db: &Db,
    id_or_email: &str,
    active: bool,
    actor: &crate::audit::Actor,
) -> DomainResult<Developer> {
    let mut tx = db.begin_write().await?;
    let dev = resolve(&mut tx, id_or_email).await?;
    if dev.role == Role::Admin && !active {
        return Err(DomainError::invalid("operators cannot be suspended"));
    }
    crate::audit::record(
        &mut tx,
        actor,
        if active {
            "developer.activated"
        } else {
            "developer.suspended"
        },
        &dev.id,
        &serde_json::json!({"email": dev.email, "was_active": dev.is_active}),
    )
    .await?;
    sqlx::query("UPDATE developers SET is_active = $1, updated_at = $2 WHERE id = $3")
        .bind(active)
        .bind(db::now_ms())
        .bind(&dev.id)
        .execute(&mut *tx)
        .await?;
    db::record_change(&mut tx, db.backend(), Entity::Developer, &dev.id).await?;
    let dev = fetch_by_id(&mut tx, &dev.id)
        .await?
        .ok_or_else(|| DomainError::Internal("developer vanished after update".into()))?;
    tx.commit().await?;
    Ok(dev)
}

/// An account's limits as an operator sets them; `None` leaves one alone.
/// 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// Requests per minute, all keys together (`api_rate_limit`).
    pub rate_limit: Option<u64>,
    /// Tokens per calendar month, all keys together (`api_quota_limit`).
    pub quota_limit: Option<u64>,
}

async fn apply_limits(
    conn: &mut AnyConnection,
    id: &str,
    limits: AccountLimits,
) -> DomainResult<()> {
    let stored = |field: &str, v: u64| {
        i64::try_from(v).map_err(|_| {
            DomainError::invalid(format!("{field}: expected 0 (unlimited) to {}", i64::MAX))
        })
    };
    let rate = limits
        .rate_limit
        .map(|v| stored("rate limit", v))
        .transpose()?;
    let quota = limits
        .quota_limit
        .map(|v| stored("quota limit", v))
        .transpose()?;
    sqlx::query(
        "UPDATE developers SET api_rate_limit = COALESCE($1, api_rate_limit), \
         api_quota_limit = COALESCE($2, api_quota_limit), updated_at = $3 WHERE id = $4",
    )
    .bind(rate)
    .bind(quota)
    .bind(db::now_ms())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates an account with its limits (all or nothing).
pub async fn create_developer_with_limits(
    db: &Db,
    new: NewDeveloper,
    limits: AccountLimits,
) -> DomainResult<Developer> {
    let prepared = prepare(new).await?;
    let mut tx = db.begin_write().await?;
    let developer = insert(&mut tx, db.backend(), prepared).await?;
    apply_limits(&mut tx, &developer.id, limits).await?;
    let developer = fetch_by_id(&mut tx, &developer.id)
        .await?
        .ok_or_else(|| DomainError::Internal("developer vanished after insert".into()))?;
    tx.commit().await?;
    Ok(developer)
}

/// Changes an account's rate limit and monthly token quota; gateways see
/// the new limits within a second. Keys keep their own limits even when
/// they now exceed the account's (the account's still apply to them).
pub async fn set_limits(
    db: &Db,
    id_or_email: &str,
    limits: AccountLimits,
) -> DomainResult<Developer> {
    let mut tx = db.begin_write().await?;
    let dev = resolve(&mut tx, id_or_email).await?;
    let dev = set_limits_on(&mut tx, db.backend(), &dev.id, limits).await?;
    tx.commit().await?;
    Ok(dev)
}

/// [`set_limits`] in the caller's transaction, by id; gateways follow
/// with the next snapshot. Returns the account after.
pub async fn set_limits_on(
    conn: &mut AnyConnection,
    backend: db::Backend,
    id: &str,
    limits: AccountLimits,
) -> DomainResult<Developer> {
    apply_limits(conn, id, limits).await?;
    db::record_change(conn, backend, Entity::Developer, id).await?;
    fetch_by_id(conn, id)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("no developer '{id}'")))
}

/// A developer found by email with what login needs: the stored password
/// hash (`None` for accounts that cannot log in).
pub async fn find_for_login(
    conn: &mut AnyConnection,
    email: &Email,
) -> DomainResult<Option<(Developer, Option<String>)>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        ", password_hash FROM developers WHERE email = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((from_row(&r)?, r.try_get("password_hash")?)))
        .transpose()
}

/// A developer by email, `None` when there is none.
pub async fn find_by_email(
    conn: &mut AnyConnection,
    email: &Email,
) -> DomainResult<Option<Developer>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM developers WHERE email = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The stored password hash of an account, `None` when it has none.
pub async fn password_hash(conn: &mut AnyConnection, id: &str) -> DomainResult<Option<String>> {
    let row = sqlx::query("SELECT password_hash FROM developers WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row
        .map(|r| r.try_get::<Option<String>, _>("password_hash"))
        .transpose()?
        .flatten())
}

/// Replaces an account's password hash.
pub async fn set_password_hash(conn: &mut AnyConnection, id: &str, phc: &str) -> DomainResult<()> {
    sqlx::query("UPDATE developers SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(phc)
        .bind(db::now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks an account's email verified; true when it was not before.
pub async fn mark_email_verified(conn: &mut AnyConnection, id: &str) -> DomainResult<bool> {
    let done = sqlx::query(
        "UPDATE developers SET email_verified = $1, updated_at = $2 \
         WHERE id = $3 AND email_verified = $4",
    )
    .bind(true)
    .bind(db::now_ms())
    .bind(id)
    .bind(false)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a developer may change about their own account; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// New full name.
    pub full_name: Option<String>,
    /// New company; an empty string removes it.
    pub company_name: Option<String>,
    /// New account type.
    pub developer_type: Option<DeveloperType>,
    /// New language.
    pub language: Option<Language>,
}

/// Applies a [`ProfileChange`] and returns the account as it now is.
pub async fn update_profile(db: &Db, id: &str, change: ProfileChange) -> DomainResult<Developer> {
    let full_name = change
        .full_name
        .as_deref()
        .map(|n| clean_name("full_name", n))
        .transpose()?;
    let company = change
        .company_name
        .as_deref()
        .map(|c| clean_company(Some(c)))
        .transpose()?;
    let mut tx = db.begin_write().await?;
    let current = fetch_by_id(&mut tx, id)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("no developer with id '{id}'")))?;
    sqlx::query(
        "UPDATE developers SET full_name = $1, company_name = $2, developer_type = $3, \
         language = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(full_name.unwrap_or(current.full_name))
    .bind(company.unwrap_or(current.company_name))
    .bind(
        change
            .developer_type
            .unwrap_or(current.developer_type)
            .as_str(),
    )
    .bind(change.language.unwrap_or(current.language).as_str())
    .bind(db::now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let updated = fetch_by_id(&mut tx, id)
        .await?
        .ok_or_else(|| DomainError::Internal("developer vanished after update".into()))?;
    tx.commit().await?;
    Ok(updated)
}

/// How many accounts hold each role: (developers, operators).
pub async fn count_by_role(db: &Db) -> DomainResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN role = 'developer' THEN 1 ELSE 0 END), 0) AS developers, \
                COALESCE(SUM(CASE WHEN role = 'admin' THEN 1 ELSE 0 END), 0) AS operators \
         FROM developers",
    )
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("developers")?, row.try_get("operators")?))
}

/// The gateway's view of one developer, `None` when there is no such id.
pub async fn developer_entry(
    conn: &mut AnyConnection,
    id: &str,
) -> DomainResult<Option<DeveloperEntry>> {
    let row = sqlx::query(&format!("{ENTRY_COLUMNS} WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// What a [`DeveloperEntry`] is read from (`developers d`).
const ENTRY_COLUMNS: &str = "SELECT d.id, d.is_active, d.api_rate_limit, d.api_quota_limit, \
     (SELECT s.plan_id FROM subscriptions s WHERE s.developer_id = d.id) AS plan_id \
     FROM developers d";

/// A [`DeveloperEntry`] from [`ENTRY_COLUMNS`]; a limit of 0 or less is
/// unlimited (`None`).
fn entry_from_row(r: &AnyRow) -> DomainResult<DeveloperEntry> {
    Ok(DeveloperEntry {
        id: r.try_get("id")?,
        active: get_bool(r, "is_active")?,
        plan_id: r.try_get("plan_id")?,
        requests_per_minute: keys::account_limit(r.try_get("api_rate_limit")?),
        token_quota_monthly: keys::account_limit(r.try_get("api_quota_limit")?),
        funds: None,
        prices: Default::default(),
    })
}

/// Every developer owning a key that can authenticate (the snapshot's list).
pub async fn key_owner_entries(conn: &mut AnyConnection) -> DomainResult<Vec<DeveloperEntry>> {
    let rows = sqlx::query(&format!(
        "{ENTRY_COLUMNS} WHERE EXISTS (SELECT 1 FROM api_keys k \
         WHERE k.developer_id = d.id AND k.enabled AND k.deleted_at IS NULL) ORDER BY d.id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@.com",
            "ada@x..com",
        ] {
            let err = Email::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("email: expected"), "{bad}: {err}");
        }
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("ada@example.com").unwrap();
        let refused = |p: &str| {
            Password::new(p.into(), Some(&email))
                .err()
                .map(|e| e.to_string())
        };
        assert!(refused("Sh0rt").unwrap().contains("at least 10 characters"));
        assert!(refused(&"a1".repeat(65)).unwrap().contains("at most 128"));
        assert!(refused("onlyletterslong")
            .unwrap()
            .contains("digit or symbol"));
        assert!(refused("12345678901234").unwrap().contains("letter"));
        assert!(refused("ADA@example.com")
            .unwrap()
            .contains("email address"));
        for fine in [
            "correct horse battery",
            "abcdefghi1",
            "pässwörd!!",
            "密码密码密码密码密码1",
        ] {
            assert!(refused(fine).is_none(), "{fine}");
        }
    }

    #[test]
    fn languages_parse() {
        assert_eq!(Language::parse("zh-cn").unwrap(), Language::ZhCn);
        assert_eq!(Language::parse("en").unwrap().as_str(), "en");
        assert!(Language::parse("fr").is_err());
        assert_eq!(serde_json::to_string(&Language::ZhCn).unwrap(), "\"zh-CN\"");
    }

    #[test]
    fn passwords_hash_and_verify() {
        assert!(Password::parse("short".into()).is_err());
        let p = Password::parse("correct horse battery".into()).unwrap();
        let phc = p.hash().unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("wrong horse battery", &phc));
    }
}

/// Filters of the operators' developer search.
#[derive(Debug, Default)]
pub struct DeveloperSearch {
    /// Part of the id, email or name (case-insensitive).
    pub q: Option<String>,
    /// `Some(true)` active only, `Some(false)` suspended only.
    pub active: Option<bool>,
    /// Only this role.
    pub role: Option<Role>,
    /// Page size.
    pub limit: i64,
    /// Created before this account (ids are time-ordered).
    pub starting_after: Option<String>,
}

/// An account's columns and its plan id (empty without a subscription).
const WITH_PLAN: &str = concat!(
    "SELECT ",
    columns!(),
    ", COALESCE((SELECT plan_id FROM subscriptions s WHERE s.developer_id = developers.id), '') \
     AS plan_id FROM developers WHERE 1 = 1"
);

/// An account by id with its plan id (empty without a subscription).
pub async fn fetch_with_plan(
    conn: &mut AnyConnection,
    id: &str,
) -> DomainResult<Option<(Developer, String)>> {
    let row = sqlx::query(&format!("{WITH_PLAN} AND id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((from_row(&r)?, r.try_get::<String, _>("plan_id")?)))
        .transpose()
}

/// Accounts matching `f`, newest first, each with its plan id (empty
/// without a subscription), and whether more follow.
pub async fn search(
    conn: &mut AnyConnection,
    f: &DeveloperSearch,
) -> DomainResult<(Vec<(Developer, String)>, bool)> {
    let mut w = db::Where::new(WITH_PLAN);
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let like = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        w.text(
            " AND (LOWER(email) LIKE ? ESCAPE '\\' OR LOWER(full_name) LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')",
            like,
        );
    }
    if let Some(a) = f.active {
        // BOOLEAN on PostgreSQL, 0/1 on SQLite: both read TRUE and FALSE.
        w.raw(if a {
            " AND is_active = TRUE"
        } else {
            " AND is_active = FALSE"
        });
    }
    if let Some(r) = f.role {
        w.text(" AND role = ?", r.as_str().to_string());
    }
    w.page(conn, "id", f.starting_after.as_deref(), f.limit, |r| {
        Ok((from_row(r)?, r.try_get::<String, _>("plan_id")?))
    })
    .await
}

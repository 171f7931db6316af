//! Developer accounts: creation (operators included), lookup, suspension.

use crate::db::{self, get_bool, Db, Entity};
use crate::error::{DomainError, DomainResult};
use aihub_contract::snapshot::DeveloperEntry;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 12;
const MAX_PASSWORD_LEN: usize = 1024;
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

impl Password {
    /// Checks the length policy.
    pub fn parse(raw: String) -> DomainResult<Password> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD_LEN {
            return Err(DomainError::invalid(format!(
                "password: expected at least {MIN_PASSWORD_LEN} characters, got {n}"
            )));
        }
        if n > MAX_PASSWORD_LEN {
            return Err(DomainError::invalid(format!(
                "password: expected at most {MAX_PASSWORD_LEN} characters"
            )));
        }
        Ok(Password(raw))
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
                "developer type: expected individual or enterprise, got '{other}'"
            ))),
        }
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

    fn parse(s: &str) -> DomainResult<Self> {
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
}

/// A developer account as the domain sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Developer {
    /// `dev_…`
    pub id: String,
    /// Lower-case email.
    pub email: String,
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
         email_verified, api_quota_limit, api_rate_limit, created_at"
    };
}

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
        api_quota_limit: row.try_get("api_quota_limit")?,
        api_rate_limit: row.try_get("api_rate_limit")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

fn clean_name(field: &str, raw: &str) -> DomainResult<String> {
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
    let full_name = clean_name("full name", &new.full_name)?;
    let company_name = match new.company_name.as_deref() {
        Some(c) if !c.trim().is_empty() => Some(clean_name("company", c)?),
        _ => None,
    };
    let password_hash = match new.password {
        // Argon2 is deliberately slow: keep it off the async workers.
        Some(p) => Some(
            tokio::task::spawn_blocking(move || p.hash())
                .await
                .map_err(|e| DomainError::Internal(e.to_string()))??,
        ),
        None => None,
    };
    let id = db::new_id("dev_");
    let now = db::now_ms();

    let mut tx = db.begin_write().await?;
    let taken = sqlx::query("SELECT id FROM developers WHERE email = $1")
        .bind(new.email.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(email_taken(&new.email));
    }
    let inserted = sqlx::query(
        "INSERT INTO developers (id, email, password_hash, full_name, company_name, developer_type, \
         role, is_active, email_verified, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(new.email.as_str())
    .bind(password_hash)
    .bind(&full_name)
    .bind(company_name)
    .bind(new.developer_type.as_str())
    .bind(new.role.as_str())
    .bind(true)
    .bind(new.email_verified)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if db::is_unique_violation(&e) => return Err(email_taken(&new.email)),
        other => other?,
    };
    db::record_change(&mut tx, db.backend(), Entity::Developer, &id).await?;
    let developer = fetch_by_id(&mut tx, &id)
        .await?
        .ok_or_else(|| DomainError::Internal("developer vanished after insert".into()))?;
    tx.commit().await?;
    Ok(developer)
}

fn email_taken(email: &Email) -> DomainError {
    DomainError::Conflict(format!(
        "a developer with email {} already exists",
        email.as_str()
    ))
}

async fn fetch_by_id(conn: &mut AnyConnection, id: &str) -> DomainResult<Option<Developer>> {
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
    let mut tx = db.begin_write().await?;
    let dev = resolve(&mut tx, id_or_email).await?;
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

/// The gateway's view of one developer, `None` when there is no such id.
pub async fn developer_entry(
    conn: &mut AnyConnection,
    id: &str,
) -> DomainResult<Option<DeveloperEntry>> {
    let row = sqlx::query("SELECT id, is_active FROM developers WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(DeveloperEntry {
            id: r.try_get("id")?,
            active: get_bool(&r, "is_active")?,
        })
    })
    .transpose()
}

/// Every developer owning a key that can authenticate (the snapshot's list).
pub async fn key_owner_entries(conn: &mut AnyConnection) -> DomainResult<Vec<DeveloperEntry>> {
    let rows = sqlx::query(
        "SELECT d.id, d.is_active FROM developers d \
         WHERE EXISTS (SELECT 1 FROM api_keys k \
                       WHERE k.developer_id = d.id AND k.enabled AND k.deleted_at IS NULL) \
         ORDER BY d.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeveloperEntry {
                id: r.try_get("id")?,
                active: get_bool(r, "is_active")?,
            })
        })
        .collect()
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
    fn passwords_need_twelve_characters_and_verify() {
        assert!(Password::parse("short".into()).is_err());
        let p = Password::parse("correct horse battery".into()).unwrap();
        let phc = p.hash().unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("wrong horse battery", &phc));
    }
}

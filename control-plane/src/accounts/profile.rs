//! The caller's own profile and the operators' overview.

use super::{AccountError, AccountResult, Accounts};
use crate::developers::{self, Developer, DeveloperType, Language, ProfileChange};

/// A profile update as sent; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// New full name.
    pub full_name: Option<String>,
    /// New company; empty removes it.
    pub company_name: Option<String>,
    /// `individual` or `enterprise`.
    pub developer_type: Option<String>,
    /// `en` or `zh-CN`.
    pub language: Option<String>,
}

/// Account counts for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overview {
    /// Accounts with role developer.
    pub developers: i64,
    /// Accounts with role admin.
    pub operators: i64,
}

impl Accounts {
    /// Applies the caller's changes to their own profile.
    pub async fn update_profile(
        &self,
        developer_id: &str,
        update: ProfileUpdate,
    ) -> AccountResult<Developer> {
        let invalid = |e: crate::error::DomainError| AccountError::Invalid(e.to_string());
        let change = ProfileChange {
            full_name: update.full_name,
            company_name: update.company_name,
            developer_type: update
                .developer_type
                .as_deref()
                .map(|t| DeveloperType::parse(t.trim()))
                .transpose()
                .map_err(invalid)?,
            language: update
                .language
                .as_deref()
                .map(Language::parse)
                .transpose()
                .map_err(invalid)?,
        };
        match developers::update_profile(&self.db, developer_id, change).await {
            Err(crate::error::DomainError::Invalid(m)) => Err(AccountError::Invalid(m)),
            other => Ok(other?),
        }
    }

    /// How many developers and operators there are.
    pub async fn overview(&self) -> AccountResult<Overview> {
        let (developers, operators) = developers::count_by_role(&self.db).await?;
        Ok(Overview {
            developers,
            operators,
        })
    }
}

//! The error every domain function returns. The HTTP layer maps it once to a
//! status and the `{"error": {"code", "message"}}` body; the CLI prints it.

/// A domain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input is not acceptable; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// Something named by the input does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The input collides with existing data (duplicate name or email).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// An [`DomainError::Invalid`] from anything printable.
    pub fn invalid(message: impl Into<String>) -> Self {
        DomainError::Invalid(message.into())
    }
}

/// Shorthand for domain results.
pub type DomainResult<T> = Result<T, DomainError>;

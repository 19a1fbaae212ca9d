//! Data access and business rules, one module per aggregate. Knows nothing of GraphQL or
//! HTTP; every failure is a [`ServiceError`].

pub mod attempts;
pub mod audit;
pub mod catalogue;
pub mod items;
pub mod mail;
pub mod mfa;
pub mod outside;
pub mod principal;
pub mod recovery;
pub mod revocations;
pub mod session_store;
pub mod sessions;
pub mod stores;
pub mod tokens;
pub mod users;

use sea_orm::{DbErr, SqlErr};

use crate::auth::error::AuthError;
use crate::auth::password::PasswordError;

/// A service failure: a rule the client broke, or something unexpected (with its source).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("username taken")]
    UsernameTaken,
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: &'static str,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("rate limited for {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// A one-time token (or code) that is wrong, used or expired: one answer for all.
    #[error("verification failed")]
    VerificationFailed,
    /// A feature that needs configuration the server lacks (`FEATURE_DISABLED`).
    #[error("feature disabled: {0}")]
    FeatureDisabled(&'static str),
    /// A credential refused (expired, invalid, revoked …).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The database cannot take the statement now (locked, full, read-only, unreachable):
    /// nothing was written, and the client may try again.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    #[error("database error")]
    Database(#[source] DbErr),
    #[error("password hashing error")]
    Password(#[from] PasswordError),
    #[error("token signing error")]
    Token(#[from] jsonwebtoken::errors::Error),
}

impl From<DbErr> for ServiceError {
    fn from(error: DbErr) -> Self {
        if crate::db::unavailable(&error) {
            Self::Unavailable(error)
        } else {
            Self::Database(error)
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Turns a unique-index violation into the client error for that index (the index names
/// contain the guarded column, and SQLite reports the column): no racy check-then-insert.
pub(crate) fn on_unique_violation(error: DbErr) -> ServiceError {
    let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() else {
        return error.into();
    };
    if message.contains("username_lower") {
        ServiceError::UsernameTaken
    } else if message.contains("email_lower") {
        ServiceError::Conflict {
            field: "email",
            message: "Email is already in use",
        }
    } else if message.contains("stores") {
        ServiceError::Conflict {
            field: "name",
            message: "A store with this name already exists",
        }
    } else if message.contains("items") {
        ServiceError::Conflict {
            field: "name",
            message: "An item with this name already exists in this store",
        }
    } else {
        error.into()
    }
}

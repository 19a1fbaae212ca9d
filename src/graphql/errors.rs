//! `ApiError`: the only error type a client ever sees. One variant per `extensions.code`
//! of API.md "Errors". It deliberately has no `Display`: async-graphql's blanket
//! `From<T: Display>` would copy the message and drop the code.

use async_graphql::ErrorExtensions;

use crate::auth::error::{AuthError, messages};
use crate::error_code::ErrorCode;
use crate::service::ServiceError;

/// A client-visible failure; `code()` is its `extensions.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    AuthorizationRequired(&'static str),
    TokenExpired,
    InvalidToken(String),
    TokenRevoked,
    FreshTokenRequired,
    Forbidden,
    InvalidCredentials,
    UsernameTaken,
    BadUserInput {
        field: &'static str,
        message: String,
    },
    NotFound(&'static str),
    RateLimited {
        retry_after: u64,
    },
    CsrfFailed(&'static str),
    /// A one-time token or code that is wrong, used or expired.
    VerificationFailed,
    /// `REQUIRE_VERIFIED_EMAIL` and the caller's address is not verified.
    EmailNotVerified,
    /// The field needs a second factor the session has not shown; `enroll`: the user has
    /// none.
    MfaRequired {
        enroll: bool,
        /// An outside identity provider's user: no method here (`methods: []`).
        outside: bool,
    },
    /// A feature needs configuration the server lacks.
    FeatureDisabled(&'static str),
    /// The token's outside issuer has no keys yet.
    AuthUnavailable {
        retry_after: u64,
    },
    /// The database cannot take the request now; nothing was written.
    ServiceUnavailable {
        retry_after: u64,
    },
    Internal,
}

impl ApiError {
    /// The `extensions.code` clients switch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::AuthorizationRequired(_) => ErrorCode::AuthorizationRequired,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::InvalidToken(_) => ErrorCode::InvalidToken,
            Self::TokenRevoked => ErrorCode::TokenRevoked,
            Self::FreshTokenRequired => ErrorCode::FreshTokenRequired,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::BadUserInput { .. } => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::CsrfFailed(_) => ErrorCode::CsrfFailed,
            Self::ServiceUnavailable { .. } => ErrorCode::ServiceUnavailable,
            Self::VerificationFailed => ErrorCode::VerificationFailed,
            Self::EmailNotVerified => ErrorCode::EmailNotVerified,
            Self::MfaRequired { .. } => ErrorCode::MfaRequired,
            Self::FeatureDisabled(_) => ErrorCode::FeatureDisabled,
            Self::AuthUnavailable { .. } => ErrorCode::AuthUnavailable,
            Self::Internal => ErrorCode::InternalServerError,
        }
    }

    /// The human message.
    pub fn message(&self) -> String {
        match self {
            Self::AuthorizationRequired(message) | Self::CsrfFailed(message) => {
                (*message).to_owned()
            }
            Self::TokenExpired => messages::EXPIRED.to_owned(),
            Self::InvalidToken(message) => message.clone(),
            Self::TokenRevoked => messages::REVOKED.to_owned(),
            Self::FreshTokenRequired => messages::FRESH_REQUIRED.to_owned(),
            Self::Forbidden => "You are not allowed to do this".to_owned(),
            Self::InvalidCredentials => "Invalid username or password".to_owned(),
            Self::UsernameTaken => "Username is already taken".to_owned(),
            Self::BadUserInput { message, .. } => message.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::RateLimited { retry_after } => {
                format!("Too many requests; try again in {retry_after} seconds")
            }
            Self::VerificationFailed => "The token or code is wrong, used or expired".to_owned(),
            Self::EmailNotVerified => "Verify your email address first".to_owned(),
            Self::MfaRequired { outside: true, .. } => {
                "Sign in at your identity provider with a second factor first".to_owned()
            }
            Self::MfaRequired { enroll: false, .. } => {
                "Confirm with your second factor first (verifyMfa)".to_owned()
            }
            Self::MfaRequired { enroll: true, .. } => {
                "Set up a second factor first (enrollTotp, confirmTotp)".to_owned()
            }
            Self::FeatureDisabled(message) => (*message).to_owned(),
            Self::AuthUnavailable { retry_after } => {
                AuthError::Unavailable(*retry_after).to_string()
            }
            Self::ServiceUnavailable { retry_after } => format!(
                "The service cannot take this request now; try again in {retry_after} seconds"
            ),
            Self::Internal => "Internal server error".to_owned(),
        }
    }

    /// A `BAD_USER_INPUT` naming the input field.
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field,
            message: message.into(),
        }
    }

    /// Logs an unexpected failure with its whole cause chain and answers the generic error.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::Internal
    }
}

impl ApiError {
    /// Logs why the database cannot take the request (a warning: the operator's to fix,
    /// not a bug) and answers `SERVICE_UNAVAILABLE`.
    pub fn unavailable(error: &sea_orm::DbErr) -> Self {
        let cause = crate::db::Unavailable::of(error).unwrap_or(crate::db::Unavailable::Down);
        tracing::warn!(%error, "database unavailable");
        Self::ServiceUnavailable {
            retry_after: cause.retry_after(),
        }
    }
}

impl ApiError {
    /// A refused credential back as the auth error it came from (`logout` weighs it
    /// against a refresh token given beside it); anything else stays what it is.
    pub fn into_refusal(self) -> Result<AuthError, ApiError> {
        match self {
            Self::AuthorizationRequired(message) => Ok(AuthError::Missing(message)),
            Self::TokenExpired => Ok(AuthError::Expired),
            Self::TokenRevoked => Ok(AuthError::Revoked),
            Self::InvalidToken(message) => Ok(AuthError::Invalid(message)),
            Self::AuthUnavailable { retry_after } => Ok(AuthError::Unavailable(retry_after)),
            other => Err(other),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", error.code().as_str());
            match &error {
                ApiError::BadUserInput { field, .. } => ext.set("field", *field),
                ApiError::RateLimited { retry_after }
                | ApiError::ServiceUnavailable { retry_after }
                | ApiError::AuthUnavailable { retry_after } => ext.set("retryAfter", *retry_after),
                ApiError::MfaRequired { enroll, outside } => {
                    let methods: &[&str] = if *outside {
                        &[]
                    } else if *enroll {
                        &["TOTP"]
                    } else {
                        &["TOTP", "RECOVERY_CODE"]
                    };
                    ext.set("methods", methods.to_vec());
                    if *enroll && !*outside {
                        ext.set("enroll", true);
                    }
                }
                _ => {}
            }
        })
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::UsernameTaken => Self::UsernameTaken,
            ServiceError::Conflict { field, message } => Self::bad_input(field, message),
            ServiceError::NotFound(what) => Self::NotFound(what),
            ServiceError::InvalidCredentials => Self::InvalidCredentials,
            ServiceError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            ServiceError::VerificationFailed => Self::VerificationFailed,
            ServiceError::FeatureDisabled(message) => Self::FeatureDisabled(message),
            ServiceError::Auth(error) => error.into(),
            ServiceError::Unavailable(error) => Self::unavailable(&error),
            ServiceError::Database(error) => Self::internal(&error),
            ServiceError::Password(error) => Self::internal(&error),
            ServiceError::Token(error) => Self::internal(&error),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing(message) => Self::AuthorizationRequired(message),
            AuthError::Expired => Self::TokenExpired,
            AuthError::Invalid(message) => Self::InvalidToken(message),
            AuthError::Revoked => Self::TokenRevoked,
            AuthError::Csrf(message) => Self::CsrfFailed(message),
            AuthError::Unavailable(retry_after) => Self::AuthUnavailable { retry_after },
        }
    }
}

impl From<crate::domain::InputError> for ApiError {
    fn from(error: crate::domain::InputError) -> Self {
        Self::bad_input(error.field, error.reason)
    }
}

/// `Result` whose error is already a client error.
pub type ApiResult<T> = Result<T, ApiError>;

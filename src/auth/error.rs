//! `AuthError`: why a credential was refused, worded with Flask-JWT-Extended's (and
//! PyJWT's) exact messages, which API.md "Errors" makes part of the contract. The GraphQL
//! layer maps each variant to its `extensions.code`.

/// Flask-JWT-Extended's default messages, word for word.
pub mod messages {
    pub const MISSING_HEADER: &str = "Missing Authorization Header";
    pub const MISSING_BEARER: &str =
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";
    pub const BAD_HEADER: &str = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
    pub const EXPIRED: &str = "Token has expired";
    pub const REVOKED: &str = "Token has been revoked";
    pub const FRESH_REQUIRED: &str = "Fresh token required";
    pub const ONLY_ACCESS: &str = "Only non-refresh tokens are allowed";
    pub const ONLY_REFRESH: &str = "Only refresh tokens are allowed";
    pub const BAD_SIGNATURE: &str = "Signature verification failed";
    pub const MISSING_COOKIE: &str = "Missing cookie \"access_token_cookie\"";
    pub const MISSING_REFRESH_COOKIE: &str = "Missing cookie \"refresh_token_cookie\"";
    pub const MISSING_CSRF: &str = "Missing CSRF token";
    pub const CSRF_MISMATCH: &str = "CSRF double submit tokens do not match";
}

/// A credential refused, with the message the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential where one is needed (`AUTHORIZATION_REQUIRED`).
    #[error("{0}")]
    Missing(&'static str),
    /// `exp` has passed (`TOKEN_EXPIRED`).
    #[error("{}", messages::EXPIRED)]
    Expired,
    /// Anything else wrong with the token or the header (`INVALID_TOKEN`): the decoder's
    /// reason, as PyJWT words it.
    #[error("{0}")]
    Invalid(String),
    /// Logged out, rotated, its session ended, issued before a password change
    /// (`TOKEN_REVOKED`).
    #[error("{}", messages::REVOKED)]
    Revoked,
    /// A cookie-authenticated mutation without the matching CSRF value (`CSRF_FAILED`).
    #[error("{0}")]
    Csrf(&'static str),
    /// The token's outside issuer has never had keys: the token may be fine
    /// (`AUTH_UNAVAILABLE`, with the seconds to wait).
    #[error("The token's identity provider cannot be reached; try again in {0} seconds")]
    Unavailable(u64),
}

impl AuthError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

//! Every `extensions.code` the server sends (API.md Errors), written once: the GraphQL
//! errors, the HTTP layer's own refusals and the metrics' labels all take them from here.

/// An error code as clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AuthorizationRequired,
    TokenExpired,
    InvalidToken,
    TokenRevoked,
    FreshTokenRequired,
    Forbidden,
    InvalidCredentials,
    UsernameTaken,
    BadUserInput,
    NotFound,
    RateLimited,
    CsrfFailed,
    RequestTimeout,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    ServiceUnavailable,
    VerificationFailed,
    EmailNotVerified,
    MfaRequired,
    FeatureDisabled,
    AuthUnavailable,
    /// A document id that no manifest nor APQ registration knows.
    PersistedDocumentNotFound,
    /// `PERSISTED_DOCUMENTS=require` and the document is not a trusted one.
    PersistedDocumentRequired,
    InternalServerError,
    /// HTTP refusals before any GraphQL work (API.md HTTP surface).
    BadRequest,
    UnsupportedMediaType,
    MethodNotAllowed,
    PayloadTooLarge,
}

impl ErrorCode {
    /// Every code, for the metrics that list them from the start.
    pub const ALL: &[ErrorCode] = &[
        Self::AuthorizationRequired,
        Self::TokenExpired,
        Self::InvalidToken,
        Self::TokenRevoked,
        Self::FreshTokenRequired,
        Self::Forbidden,
        Self::InvalidCredentials,
        Self::UsernameTaken,
        Self::BadUserInput,
        Self::NotFound,
        Self::RateLimited,
        Self::CsrfFailed,
        Self::RequestTimeout,
        Self::GraphqlParseFailed,
        Self::GraphqlValidationFailed,
        Self::ServiceUnavailable,
        Self::VerificationFailed,
        Self::EmailNotVerified,
        Self::MfaRequired,
        Self::FeatureDisabled,
        Self::AuthUnavailable,
        Self::PersistedDocumentNotFound,
        Self::PersistedDocumentRequired,
        Self::InternalServerError,
        Self::BadRequest,
        Self::UnsupportedMediaType,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
    ];

    /// The codes `authql_auth_failures_total` counts: every token error, plus the
    /// refusals of an authenticated caller (API.md Operations).
    pub const AUTH_FAILURES: &[ErrorCode] = &[
        Self::AuthorizationRequired,
        Self::TokenExpired,
        Self::InvalidToken,
        Self::TokenRevoked,
        Self::FreshTokenRequired,
        Self::Forbidden,
        Self::CsrfFailed,
        Self::EmailNotVerified,
        Self::MfaRequired,
        Self::AuthUnavailable,
    ];

    /// The code on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationRequired => "AUTHORIZATION_REQUIRED",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::FreshTokenRequired => "FRESH_TOKEN_REQUIRED",
            Self::Forbidden => "FORBIDDEN",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::UsernameTaken => "USERNAME_TAKEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::RateLimited => "RATE_LIMITED",
            Self::CsrfFailed => "CSRF_FAILED",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::VerificationFailed => "VERIFICATION_FAILED",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::MfaRequired => "MFA_REQUIRED",
            Self::FeatureDisabled => "FEATURE_DISABLED",
            Self::AuthUnavailable => "AUTH_UNAVAILABLE",
            Self::PersistedDocumentNotFound => "PERSISTED_DOCUMENT_NOT_FOUND",
            Self::PersistedDocumentRequired => "PERSISTED_DOCUMENT_REQUIRED",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::BadRequest => "BAD_REQUEST",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
        }
    }

    /// The code a wire string names, if it is one of ours.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|known| known.as_str() == code)
    }

    /// Whether `authql_auth_failures_total` counts it.
    pub fn is_auth_failure(self) -> bool {
        Self::AUTH_FAILURES.contains(&self)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_reads_back_as_itself() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(ErrorCode::parse("NO_SUCH_CODE"), None);
    }
}

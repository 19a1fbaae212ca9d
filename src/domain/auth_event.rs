// The database stores `as_str()`, which is also the GraphQL name.
/// What an audit event records.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthEventKind {
    /// An account was created (by `signup`, or by an operator with `create-user`).
    Signup,
    /// A login succeeded and started a session.
    Login,
    /// A login was refused: unknown user or wrong password.
    LoginFailed,
    /// Logins of one username from one address were refused by the failure limit; written
    /// once per username, address and window, not per refused attempt.
    LoginRateLimited,
    /// A refresh token was traded for a new pair.
    Refresh,
    /// A refresh token already rotated was presented again: its session was ended.
    RefreshReuseDetected,
    /// A `logout` call (one event per call, whatever its scope).
    Logout,
    /// A session was ended by `revokeSession`, or to make room past `MAX_SESSIONS_PER_USER`.
    SessionRevoked,
    /// A password change (every earlier session ended).
    PasswordChanged,
    /// An admin changed a user's role.
    RoleChanged,
    /// A user account was deleted.
    UserDeleted,
    /// A password reset mail was requested for an existing account.
    PasswordResetRequested,
    /// A password was set with a reset token (every session ended).
    PasswordReset,
    /// An address was verified (a signup's, or a re-sent verification).
    EmailVerified,
    /// A `changeEmail` took effect: the new address was verified through its mail.
    EmailChanged,
    /// A TOTP factor was confirmed and is active.
    MfaEnrolled,
    /// A factor was removed: by its user (`disableTotp`) or reset by an admin or operator
    /// (`resetMfa`, `authql reset-mfa`; the actor says which).
    MfaDisabled,
    /// A second-factor code raised a session to level 2.
    MfaVerified,
    /// A wrong, replayed or used second-factor code.
    MfaFailed,
    /// A recovery code was used (it cannot be used again).
    RecoveryCodeUsed,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated,
}

impl AuthEventKind {
    pub const ALL: [Self; 21] = [
        Self::Signup,
        Self::Login,
        Self::LoginFailed,
        Self::LoginRateLimited,
        Self::Refresh,
        Self::RefreshReuseDetected,
        Self::Logout,
        Self::SessionRevoked,
        Self::PasswordChanged,
        Self::RoleChanged,
        Self::UserDeleted,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailVerified,
        Self::EmailChanged,
        Self::MfaEnrolled,
        Self::MfaDisabled,
        Self::MfaVerified,
        Self::MfaFailed,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRegenerated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "SIGNUP",
            Self::Login => "LOGIN",
            Self::LoginFailed => "LOGIN_FAILED",
            Self::LoginRateLimited => "LOGIN_RATE_LIMITED",
            Self::Refresh => "REFRESH",
            Self::RefreshReuseDetected => "REFRESH_REUSE_DETECTED",
            Self::Logout => "LOGOUT",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::PasswordChanged => "PASSWORD_CHANGED",
            Self::RoleChanged => "ROLE_CHANGED",
            Self::UserDeleted => "USER_DELETED",
            Self::PasswordResetRequested => "PASSWORD_RESET_REQUESTED",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::EmailVerified => "EMAIL_VERIFIED",
            Self::EmailChanged => "EMAIL_CHANGED",
            Self::MfaEnrolled => "MFA_ENROLLED",
            Self::MfaDisabled => "MFA_DISABLED",
            Self::MfaVerified => "MFA_VERIFIED",
            Self::MfaFailed => "MFA_FAILED",
            Self::RecoveryCodeUsed => "RECOVERY_CODE_USED",
            Self::RecoveryCodesRegenerated => "RECOVERY_CODES_REGENERATED",
        }
    }

    /// `None` for a name this version does not know (written by a newer one).
    pub fn from_db(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_are_the_graphql_names_and_round_trip() {
        for kind in AuthEventKind::ALL {
            assert_eq!(AuthEventKind::from_db(kind.as_str()), Some(kind));
            assert_eq!(
                <AuthEventKind as async_graphql::resolver_utils::EnumType>::items()
                    .iter()
                    .find(|item| item.value == kind)
                    .map(|item| item.name),
                Some(kind.as_str())
            );
        }
        assert_eq!(AuthEventKind::from_db("login"), None);
    }
}

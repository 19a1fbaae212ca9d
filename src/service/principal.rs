//! Who a verified token stands for: its user, with the role of the moment, checked
//! against the revocation view (API.md Tokens) — no database round trip while the view
//! knows the user. Guards read it; sockets re-check it on every change about their user.

use std::sync::Arc;

use super::revocations::{Revocations, UserFacts};
use super::{ServiceError, ServiceResult, tokens};
use crate::auth::error::AuthError;
use crate::auth::tokens::Claims;
use crate::domain::Role;

/// The caller a valid, unrevoked access token stands for, with the role of the moment.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i32,
    pub role: Role,
    /// The user's address is verified (as of the view's last change about the user).
    pub email_verified: bool,
    /// The user has an active second factor (as of the view's last change).
    pub mfa_enabled: bool,
    pub claims: Claims,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The token's assurance level (API.md Second factor).
    pub fn aal(&self) -> u8 {
        self.claims.aal
    }

    /// A user with a second factor holding a level-1 token: only partly logged in.
    pub fn partial(&self) -> bool {
        self.mfa_enabled && self.aal() < 2
    }

    /// The token came from an outside identity provider.
    pub fn outside(&self) -> bool {
        self.claims.issuer.is_some()
    }

    /// A credential of authql's own: the password and the second factor are managed here.
    /// A user of an outside identity provider has neither (`FEATURE_DISABLED`).
    pub fn local_credentials(&self) -> ServiceResult<()> {
        if self.outside() {
            Err(ServiceError::FeatureDisabled(
                "Your identity provider manages your password, address and second factor",
            ))
        } else {
            Ok(())
        }
    }
}

/// Checks decoded access-token claims against the revocation view: the user must exist
/// and the token be good ([`check`]). Answers the role of the moment.
pub async fn resolve(view: &Revocations, claims: Claims) -> ServiceResult<Principal> {
    let facts = facts_of(view, &claims).await?;
    check(&facts, &claims)?;
    Ok(Principal {
        user_id: user_id(&claims)?,
        role: facts.role,
        email_verified: facts.email_verified,
        mfa_enabled: facts.mfa_enabled,
        claims,
    })
}

/// Re-checks a token held by an open socket, from the view (no statement when the user's
/// facts are known).
pub async fn still_valid(view: &Revocations, claims: &Claims) -> ServiceResult<()> {
    let facts = facts_of(view, claims).await?;
    check(&facts, claims)
}

/// Whether the claims are still good against the user's facts. A token with a session
/// needs that session live; one without needs not to be revoked by itself nor issued
/// before the user's last revoke-all.
pub fn check(facts: &UserFacts, claims: &Claims) -> ServiceResult<()> {
    let good = match &claims.sid {
        Some(sid) => facts.live_sessions.contains(sid),
        None => {
            !facts.revoked_tokens.contains(&claims.jti)
                && !tokens::before_cutoff(facts.tokens_valid_after, claims)
        }
    };
    if good {
        Ok(())
    } else {
        Err(AuthError::Revoked.into())
    }
}

/// The facts of the token's user, reloaded once when they do not know the token's
/// session; a user that does not exist makes the token invalid.
async fn facts_of(view: &Revocations, claims: &Claims) -> ServiceResult<Arc<UserFacts>> {
    let id = user_id(claims)?;
    let facts = match view.facts(id).await? {
        Some(facts) if unheard_of(&facts, claims) => {
            view.reload(id);
            view.facts(id).await?
        }
        other => other,
    };
    facts.ok_or_else(|| unknown_user(claims))
}

/// Whether the view may simply not know the token's session yet (started on another
/// instance after this one loaded the user's facts).
fn unheard_of(facts: &UserFacts, claims: &Claims) -> bool {
    claims.sid.as_ref().is_some_and(|sid| {
        !facts.live_sessions.contains(sid) && !facts.ended_sessions.contains(sid)
    })
}

/// The user the token names, or the token is invalid.
pub(super) fn user_id(claims: &Claims) -> ServiceResult<i32> {
    claims.user_id().ok_or_else(|| unknown_user(claims))
}

/// Flask-JWT-Extended's user-lookup error: the token names no (longer) existing user.
pub(super) fn unknown_user(claims: &Claims) -> ServiceError {
    AuthError::Invalid(format!("Error loading the user {}", claims.sub)).into()
}

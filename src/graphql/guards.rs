//! Guards: one rule per type, combined in field attributes with `.and()` / `.or()`
//! (`.or` reports its last branch's error, so the branch whose code clients should see goes
//! last). Each fails with an [`ApiError`], so `extensions.code` survives.
//!
//! The second factor is deny by default: [`principal`] refuses a partial login (a user with
//! a factor holding a level-1 token) with `MFA_REQUIRED`, so every guard built on it does;
//! only [`AnyLevel`] and [`SelfAnyLevelOrAdmin`] let one through. API.md's order of checks
//! — credential, partial login, role or ownership, the admin level, freshness, verified
//! email — is the order rules are written in: `Role.and(FreshToken)`, never the reverse.
//!
//! async-graphql turns a failing guard on a nullable field into an error that nulls the
//! parent (async-graphql issues #1532, #798). Nullable fields therefore check their rule
//! with [`allow`], which records the error and nulls only that field.

use std::sync::Arc;

use async_graphql::{Context, Guard, Result, parser::types::OperationType};

use crate::domain::Role;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::ApiError;
use crate::service::items;
use crate::service::principal::Principal;

/// The verified caller, fully logged in: a partial login (before the second factor) is
/// `MFA_REQUIRED`. Inside a mutation the cookie CSRF check applies as well.
pub async fn principal(ctx: &Context<'_>) -> Result<Arc<Principal>, ApiError> {
    let principal = principal_any_level(ctx).await?;
    if principal.partial() {
        return Err(ApiError::MfaRequired {
            enroll: false,
            outside: false,
        });
    }
    Ok(principal)
}

/// The verified caller, a partial login included.
pub async fn principal_any_level(ctx: &Context<'_>) -> Result<Arc<Principal>, ApiError> {
    let auth = ctx.auth()?;
    // `query_env` is hidden API, but it is the only place the operation type is known.
    if ctx.query_env.operation.node.ty == OperationType::Mutation {
        auth.principal_for_mutation().await
    } else {
        auth.principal().await
    }
}

/// `MFA_REQUIRED_FOR_ADMINS`: where the ADMIN branch of a rule grants access, the session
/// must be at level 2 (an admin without a factor is told to enrol one).
fn admin_level(ctx: &Context<'_>, principal: &Principal) -> Result<(), ApiError> {
    if ctx.state()?.config.mfa_required_for_admins && principal.aal() < 2 {
        return Err(ApiError::MfaRequired {
            enroll: !principal.mfa_enabled,
            outside: principal.outside(),
        });
    }
    Ok(())
}

/// A valid, unrevoked access token of an existing user, fully logged in.
pub struct Authenticated;

impl Guard for Authenticated {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        principal(ctx).await?;
        Ok(())
    }
}

/// A valid, unrevoked access token, a partial login included: for what such a login may
/// do (`me`, `verifyMfa`).
pub struct AnyLevel;

impl Guard for AnyLevel {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        principal_any_level(ctx).await?;
        Ok(())
    }
}

/// A session at level 2: a second factor was shown in it. A user without a factor is told
/// to enrol one.
pub struct MfaVerified;

impl Guard for MfaVerified {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx).await?;
        if principal.aal() >= 2 {
            Ok(())
        } else {
            Err(ApiError::MfaRequired {
                enroll: !principal.mfa_enabled,
                outside: principal.outside(),
            }
            .into())
        }
    }
}

/// An authenticated caller whose token is fresh (issued by login, signup or a password
/// change, not by refresh).
pub struct FreshToken;

impl Guard for FreshToken {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if principal(ctx).await?.claims.fresh {
            Ok(())
        } else {
            Err(ApiError::FreshTokenRequired.into())
        }
    }
}

/// An authenticated caller whose current role is `0`.
pub struct HasRole(pub Role);

impl Guard for HasRole {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx).await?;
        if principal.role != self.0 {
            return Err(ApiError::Forbidden.into());
        }
        if self.0 == Role::Admin {
            admin_level(ctx, &principal)?;
        }
        Ok(())
    }
}

/// An authenticated caller who is the user with this id, or an ADMIN.
pub struct SelfOrAdmin(Option<i32>);

impl SelfOrAdmin {
    /// `id` is the raw GraphQL id; one that does not parse matches nobody.
    pub fn new(id: &str) -> Self {
        Self(id.parse().ok())
    }

    pub fn user(id: i32) -> Self {
        Self(Some(id))
    }
}

impl Guard for SelfOrAdmin {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx).await?;
        self_or_admin(ctx, &principal, self.0)?;
        Ok(())
    }
}

/// The user themself — a partial login included, and the user this very operation
/// issued tokens to (`AuthPayload.user` of a `login`) — or an ADMIN (fully logged in): for
/// what a partial login may read of itself (`User.mfaEnabled`).
pub struct SelfAnyLevelOrAdmin(pub i32);

impl Guard for SelfAnyLevelOrAdmin {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if ctx.auth()?.issued_to(self.0) {
            return Ok(());
        }
        let caller = principal_any_level(ctx).await?;
        if caller.user_id == self.0 {
            return Ok(());
        }
        let caller = principal(ctx).await?;
        self_or_admin(ctx, &caller, Some(self.0))?;
        Ok(())
    }
}

/// The user themself (fully logged in), and nobody else.
pub struct IsSelf(pub i32);

impl Guard for IsSelf {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if principal(ctx).await?.user_id == self.0 {
            Ok(())
        } else {
            Err(ApiError::Forbidden.into())
        }
    }
}

/// "Self or ADMIN": the admin branch on someone else's data needs the admin level.
fn self_or_admin(ctx: &Context<'_>, caller: &Principal, user: Option<i32>) -> Result<(), ApiError> {
    if Some(caller.user_id) == user {
        Ok(())
    } else if caller.is_admin() {
        admin_level(ctx, caller)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// With `REQUIRE_VERIFIED_EMAIL` on, an authenticated caller whose email address is
/// verified (a user without one counts as unverified); with it off, anyone authenticated.
pub struct VerifiedEmail;

impl Guard for VerifiedEmail {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx).await?;
        if principal.email_verified || !ctx.state()?.config.require_verified_email {
            Ok(())
        } else {
            Err(ApiError::EmailNotVerified.into())
        }
    }
}

/// An authenticated caller who owns the item with this id, or an ADMIN. An id that names
/// no item is `NOT_FOUND`.
pub struct OwnerOrAdmin(Option<i32>);

impl OwnerOrAdmin {
    /// `id` is the raw GraphQL id of the item.
    pub fn item(id: &str) -> Self {
        Self(id.parse().ok())
    }
}

impl Guard for OwnerOrAdmin {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx).await?;
        let state = ctx.state()?;
        let item = match self.0 {
            Some(id) => items::find(&state.db, id).await.map_err(ApiError::from)?,
            None => None,
        }
        .ok_or(ApiError::NotFound("Item"))?;
        if !items::can_edit(principal.user_id, principal.is_admin(), &item) {
            return Err(ApiError::Forbidden.into());
        }
        if item.owner_id != principal.user_id {
            admin_level(ctx, &principal)?;
        }
        // The resolver acts on this row: it need not read it again.
        ctx.auth()?.remember_checked(item);
        Ok(())
    }
}

/// Checks `guard` for a nullable field: on failure the error is recorded with this field's
/// path and `None` is returned, so only this field goes null (`allow(ctx, g).await?`).
pub async fn allow(ctx: &Context<'_>, guard: impl Guard) -> Option<()> {
    match guard.check(ctx).await {
        Ok(()) => Some(()),
        Err(error) => {
            ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
            None
        }
    }
}

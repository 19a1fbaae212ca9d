//! Guards: one rule per type, combined in field attributes with `.and()` / `.or()`
//! (`.or` reports its last branch's error, so the branch whose code clients should see goes
//! last). Each fails with an [`ApiError`], so `extensions.code` survives.
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

/// The verified caller. Inside a mutation the cookie CSRF check applies as well.
pub async fn principal(ctx: &Context<'_>) -> Result<Arc<Principal>, ApiError> {
    let auth = ctx.auth()?;
    // `query_env` is hidden API, but it is the only place the operation type is known.
    if ctx.query_env.operation.node.ty == OperationType::Mutation {
        auth.principal_for_mutation().await
    } else {
        auth.principal().await
    }
}

/// A valid, unrevoked access token of an existing user.
pub struct Authenticated;

impl Guard for Authenticated {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        principal(ctx).await?;
        Ok(())
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
        if principal(ctx).await?.role == self.0 {
            Ok(())
        } else {
            Err(ApiError::Forbidden.into())
        }
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
        if principal.is_admin() || Some(principal.user_id) == self.0 {
            Ok(())
        } else {
            Err(ApiError::Forbidden.into())
        }
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
        if items::can_edit(principal.user_id, principal.is_admin(), &item) {
            // The resolver acts on this row: it need not read it again.
            ctx.auth()?.remember_checked(item);
            Ok(())
        } else {
            Err(ApiError::Forbidden.into())
        }
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

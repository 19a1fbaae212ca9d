//! Mutation root: parse input into domain types, check the rule, call services, and set
//! cookies through the context in cookie mode.

use async_graphql::{Context, ID, Object, Result};
use sea_orm::TransactionTrait;

use crate::auth::context::{Presented, auth_cookie_missing, check_csrf, load_principal};
use crate::auth::cookies;
use crate::auth::guards::{
    Authenticated, FreshToken, HasRole, SelfOrAdmin, auth_context, principal,
};
use crate::auth::tokens::TokenKind;
use crate::domain::{Email, Password, Role, Username};
use crate::graphql::errors::{ApiError, ApiResult};
use crate::graphql::inputs::{ChangePasswordInput, LoginInput, SignupInput};
use crate::graphql::types::{AuthPayload, User};
use crate::graphql::{ClientAddr, state};
use crate::service::tokens::{self, Rotation, TokenPair};
use crate::service::users;
use crate::state::AppState;

pub struct Mutation;

fn payload(state: &AppState, pair: TokenPair, user: entity::user::Model) -> AuthPayload {
    AuthPayload {
        access_token: pair.access.token,
        refresh_token: pair.refresh.token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl_secs(),
        user: User(user),
    }
}

/// A malformed id in a mutation names nothing: `NOT_FOUND`.
fn parse_id(id: &ID, what: &'static str) -> ApiResult<i32> {
    id.parse().map_err(|_| ApiError::NotFound(what))
}

#[Object]
impl Mutation {
    /// Creates an account and returns a fresh access token and a refresh token.
    async fn signup(&self, ctx: &Context<'_>, input: SignupInput) -> Result<AuthPayload> {
        let state = state(ctx)?;
        let username = Username::parse(&input.username).map_err(ApiError::from)?;
        let password = Password::parse(&input.password, "password").map_err(ApiError::from)?;
        let email = input
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(Email::parse)
            .transpose()
            .map_err(ApiError::from)?;
        let hash = state
            .passwords
            .hash(&password)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let (user, pair) = async {
            let txn = state.db.begin().await?;
            let user = users::create(&txn, &username, email.as_ref(), hash, Role::User).await?;
            let pair = tokens::issue_pair(&txn, &state.keys, &user, true).await?;
            txn.commit().await?;
            Ok::<_, crate::service::ServiceError>((user, pair))
        }
        .await
        .map_err(ApiError::from)?;
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Checks the password (ignoring the username's case) and returns a fresh token pair.
    /// An unknown user and a wrong password answer the same error in the same time.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let state = state(ctx)?;
        let client = ctx
            .data::<ClientAddr>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        state
            .login_limiter
            .begin(&state.db, &input.username, &client)
            .await?;
        let user = users::find_by_username(&state.db, &input.username)
            .await
            .map_err(ApiError::from)?;
        let matches = state
            .passwords
            .verify(
                &input.password,
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let Some(user) = user.filter(|_| matches) else {
            return Err(ApiError::InvalidCredentials.into());
        };
        state
            .login_limiter
            .succeeded(&state.db, &input.username, &client)
            .await?;
        let pair = tokens::issue_pair(&state.db, &state.keys, &user, true)
            .await
            .map_err(ApiError::from)?;
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Trades a refresh token (argument, or the refresh cookie in cookie mode) for a new,
    /// non-fresh access token and a new refresh token. The used token is revoked; presenting
    /// a revoked refresh token revokes every token of its user (reuse detection).
    async fn refresh(
        &self,
        ctx: &Context<'_>,
        refresh_token: Option<String>,
    ) -> Result<AuthPayload> {
        let state = state(ctx)?;
        let auth = auth_context(ctx)?;
        let (token, csrf_header) = match (refresh_token, auth.refresh_cookie()) {
            (Some(token), _) => (token, None),
            (None, Some(cookie)) => (cookie.token.clone(), Some(cookie.csrf_header.clone())),
            (None, None) => return Err(auth_cookie_missing(&state.config, true).into()),
        };
        let principal = load_principal(state, &token, TokenKind::Refresh).await?;
        if let Some(csrf_header) = csrf_header {
            check_csrf(csrf_header.as_deref(), principal.claims.csrf.as_deref())?;
        }
        let user = principal.user;
        let txn = state.db.begin().await.map_err(|e| ApiError::internal(&e))?;
        let result = async {
            match tokens::consume_refresh(&txn, &user, &principal.claims).await? {
                Rotation::Rotated => Ok(Some(
                    tokens::issue_pair(&txn, &state.keys, &user, false).await?,
                )),
                Rotation::Reused => {
                    tracing::warn!(
                        user_id = user.id,
                        "refresh token reuse: revoking every token"
                    );
                    tokens::revoke_all(&txn, user.id).await?;
                    Ok::<_, crate::service::ServiceError>(None)
                }
            }
        }
        .await
        .map_err(ApiError::from)?;
        txn.commit().await.map_err(|e| ApiError::internal(&e))?;
        let Some(pair) = result else {
            return Err(ApiError::TokenRevoked.into());
        };
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Revokes the access token used for this request and, when given (or in the refresh
    /// cookie), the refresh token. Clears the cookies in cookie mode.
    #[graphql(guard = "Authenticated")]
    async fn logout(&self, ctx: &Context<'_>, refresh_token: Option<String>) -> Result<bool> {
        let state = state(ctx)?;
        let auth = auth_context(ctx)?;
        let caller = principal(ctx).await?;
        let refresh_token = refresh_token.or_else(|| {
            matches!(auth.presented(), Presented::Cookie { .. })
                .then(|| auth.refresh_cookie().map(|c| c.token.clone()))
                .flatten()
        });
        let refresh = match refresh_token {
            None => None,
            Some(token) => match load_principal(state, &token, TokenKind::Refresh).await {
                Ok(refresh) if refresh.user.id == caller.user.id => Some(refresh.claims),
                Ok(_) => {
                    return Err(ApiError::InvalidToken(
                        "The refresh token belongs to another user".to_owned(),
                    )
                    .into());
                }
                // An expired refresh token is harmless: nothing left to revoke.
                Err(ApiError::TokenExpired) => None,
                Err(error) => return Err(error.into()),
            },
        };
        let txn = state.db.begin().await.map_err(|e| ApiError::internal(&e))?;
        tokens::revoke(&txn, caller.user.id, &caller.claims)
            .await
            .map_err(ApiError::from)?;
        if let Some(refresh) = &refresh {
            tokens::revoke(&txn, caller.user.id, refresh)
                .await
                .map_err(ApiError::from)?;
        }
        txn.commit().await.map_err(|e| ApiError::internal(&e))?;
        cookies::clear_session(ctx, &state.config);
        Ok(true)
    }

    /// Sets a new password (fresh token required), revokes every earlier token and returns
    /// a fresh pair. A wrong current password is `INVALID_CREDENTIALS`.
    #[graphql(guard = "FreshToken")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> Result<AuthPayload> {
        let state = state(ctx)?;
        let caller = principal(ctx).await?;
        let new_password =
            Password::parse(&input.new_password, "newPassword").map_err(ApiError::from)?;
        let matches = state
            .passwords
            .verify(&input.current_password, Some(&caller.user.password_hash))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if !matches {
            return Err(ApiError::InvalidCredentials.into());
        }
        let hash = state
            .passwords
            .hash(&new_password)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let (user, pair) = async {
            let txn = state.db.begin().await?;
            tokens::revoke_all(&txn, caller.user.id).await?;
            let user = users::set_password(&txn, caller.user.clone(), hash).await?;
            let pair = tokens::issue_pair(&txn, &state.keys, &user, true).await?;
            txn.commit().await?;
            Ok::<_, crate::service::ServiceError>((user, pair))
        }
        .await
        .map_err(ApiError::from)?;
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Changes a user's role; takes effect on that user's next request. ADMIN only.
    #[graphql(guard = "HasRole(Role::Admin)")]
    async fn set_user_role(&self, ctx: &Context<'_>, user_id: ID, role: Role) -> Result<User> {
        let state = state(ctx)?;
        let id = parse_id(&user_id, "User")?;
        let user = users::set_role(&state.db, id, role)
            .await
            .map_err(ApiError::from)?;
        Ok(User(user))
    }

    /// Deletes a user, their items and their tokens. Fresh token, and ADMIN or the user
    /// themself.
    #[graphql(guard = "FreshToken.and(SelfOrAdmin::new(&id))")]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let state = state(ctx)?;
        let user_id = parse_id(&id, "User")?;
        users::delete(&state.db, user_id)
            .await
            .map_err(ApiError::from)?;
        Ok(id)
    }
}

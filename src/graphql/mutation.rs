//! Mutation root: parse input into domain types, check the rule, call services, and set
//! cookies through the context in cookie mode.

use async_graphql::{Context, ID, MaybeUndefined, Object, Result};
use sea_orm::TransactionTrait;

use crate::auth::context::{
    Presented, auth_cookie_missing, check_csrf, load_principal, token_error,
};
use crate::auth::cookies;
use crate::auth::guards::{
    Authenticated, FreshToken, HasRole, OwnerOrAdmin, SelfOrAdmin, auth_context, principal,
};
use crate::auth::tokens::TokenKind;
use crate::domain::{Description, Email, Name, Password, Price, Role, Username};
use crate::events::ItemEvent;
use crate::graphql::errors::{ApiError, ApiResult};
use crate::graphql::inputs::{
    ChangePasswordInput, CreateItemInput, CreateStoreInput, LoginInput, SignupInput,
    UpdateItemInput,
};
use crate::graphql::types::{AuthPayload, Item, Store, User};
use crate::graphql::{ClientAddr, state};
use crate::service::items::{self, ItemChanges, NewItem, Parent};
use crate::service::sessions::{self, NewAccount};
use crate::service::tokens::{self, TokenPair};
use crate::service::{stores, users};
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

/// One `DELETED` event per removed item.
async fn publish_deleted(state: &AppState, deleted: &[entity::item::Model]) {
    let events = deleted
        .iter()
        .map(|item| ItemEvent::deleted(item.id, item.store_id))
        .collect();
    state.events.publish(events).await;
}

/// The item a mutation names (its guard already checked who may touch it).
async fn find_item(state: &AppState, id: &ID) -> ApiResult<entity::item::Model> {
    items::find(&state.db, parse_id(id, "Item")?)
        .await?
        .ok_or(ApiError::NotFound("Item"))
}

/// A malformed id in a mutation names nothing: `NOT_FOUND`.
fn parse_id(id: &ID, what: &'static str) -> ApiResult<i32> {
    id.parse().map_err(|_| ApiError::NotFound(what))
}

#[authql_macros::guarded]
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
        let account = NewAccount {
            username: &username,
            email: email.as_ref(),
            password: &password,
            role: Role::User,
        };
        let (user, pair) =
            sessions::register(&state.db, &state.passwords, Some(&state.keys), account)
                .await
                .map_err(ApiError::from)?;
        let pair = pair.ok_or_else(|| {
            tracing::error!("BUG: register was given keys but issued no tokens");
            ApiError::Internal
        })?;
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Checks the password (ignoring the username's case) and returns a fresh token pair.
    /// An unknown user and a wrong password answer the same error in the same time.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let state = state(ctx)?;
        let client = ctx
            .data::<ClientAddr>()
            .map(|c| c.0.as_str())
            .unwrap_or_default();
        let (user, pair) = sessions::login(state, &input.username, &input.password, client)
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
        let claims = state
            .keys
            .decode(&token, TokenKind::Refresh)
            .map_err(token_error)?;
        if let Some(csrf_header) = csrf_header {
            check_csrf(csrf_header.as_deref(), claims.csrf.as_deref())?;
        }
        let (user, pair) = sessions::refresh(state, &claims)
            .await
            .map_err(ApiError::from)?;
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Revokes the access token used for this request and, when given (or in the refresh
    /// cookie), the refresh token. Clears the cookies in cookie mode.
    #[auth(Authenticated)]
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

    /// Sets a new password, revokes every earlier token and returns a fresh pair. A wrong
    /// current password is `INVALID_CREDENTIALS`, and counts toward a limit per user.
    #[auth(FreshToken)]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> Result<AuthPayload> {
        let state = state(ctx)?;
        let caller = principal(ctx).await?;
        let new_password =
            Password::parse(&input.new_password, "newPassword").map_err(ApiError::from)?;
        let (user, pair) =
            sessions::change_password(state, &caller.user, &input.current_password, &new_password)
                .await
                .map_err(ApiError::from)?;
        cookies::set_session(ctx, &state.config, &pair);
        Ok(payload(state, pair, user))
    }

    /// Changes a user's role; takes effect on that user's next request.
    #[auth(HasRole(Role::Admin))]
    async fn set_user_role(&self, ctx: &Context<'_>, user_id: ID, role: Role) -> Result<User> {
        let state = state(ctx)?;
        let id = parse_id(&user_id, "User")?;
        let user = users::set_role(&state.db, id, role)
            .await
            .map_err(ApiError::from)?;
        Ok(User(user))
    }

    /// Deletes a user, their items and their tokens.
    #[auth(FreshToken.and(SelfOrAdmin::new(&id)))]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let state = state(ctx)?;
        let user_id = parse_id(&id, "User")?;
        let deleted = items::delete_with_items(&state.db, Parent::Owner(user_id))
            .await
            .map_err(ApiError::from)?;
        publish_deleted(state, &deleted).await;
        Ok(id)
    }

    /// Creates a store; the name is unique ignoring case.
    #[auth(HasRole(Role::Admin))]
    async fn create_store(&self, ctx: &Context<'_>, input: CreateStoreInput) -> Result<Store> {
        let state = state(ctx)?;
        let name = Name::parse(&input.name).map_err(ApiError::from)?;
        let store = stores::create(&state.db, &name)
            .await
            .map_err(ApiError::from)?;
        Ok(Store(store))
    }

    /// Deletes a store and all its items; returns its id.
    #[auth(HasRole(Role::Admin))]
    async fn delete_store(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let state = state(ctx)?;
        let store_id = parse_id(&id, "Store")?;
        let deleted = items::delete_with_items(&state.db, Parent::Store(store_id))
            .await
            .map_err(ApiError::from)?;
        publish_deleted(state, &deleted).await;
        Ok(id)
    }

    /// Creates an item in a store; the caller becomes its owner. Names are unique within a
    /// store, ignoring case.
    #[auth(Authenticated)]
    async fn create_item(&self, ctx: &Context<'_>, input: CreateItemInput) -> Result<Item> {
        let state = state(ctx)?;
        let caller = principal(ctx).await?;
        let new = NewItem {
            store_id: parse_id(&input.store_id, "Store")?,
            owner_id: caller.user.id,
            name: Name::parse(&input.name).map_err(ApiError::from)?,
            description: input
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(ApiError::from)?,
            price: Price::parse(input.price.0).map_err(ApiError::from)?,
        };
        let item = items::create(&state.db, new)
            .await
            .map_err(ApiError::from)?;
        state.events.publish(vec![ItemEvent::created(&item)]).await;
        Ok(Item::new(item))
    }

    /// Changes an item. Absent fields stay; `description: null` clears it.
    #[auth(Authenticated.and(OwnerOrAdmin::item(&id)))]
    async fn update_item(&self, ctx: &Context<'_>, id: ID, input: UpdateItemInput) -> Result<Item> {
        let state = state(ctx)?;
        let changes = ItemChanges {
            name: match input.name {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => {
                    return Err(ApiError::bad_input("name", "name cannot be null").into());
                }
                MaybeUndefined::Value(name) => Some(Name::parse(&name).map_err(ApiError::from)?),
            },
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(text) => {
                    Some(Some(Description::parse(&text).map_err(ApiError::from)?))
                }
            },
            price: match input.price {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => {
                    return Err(ApiError::bad_input("price", "price cannot be null").into());
                }
                MaybeUndefined::Value(price) => {
                    Some(Price::parse(price.0).map_err(ApiError::from)?)
                }
            },
        };
        let item = find_item(state, &id).await?;
        let item = items::update(&state.db, item, changes)
            .await
            .map_err(ApiError::from)?;
        state.events.publish(vec![ItemEvent::updated(&item)]).await;
        Ok(Item::new(item))
    }

    /// Deletes an item; returns its id.
    #[auth(FreshToken.and(OwnerOrAdmin::item(&id)))]
    async fn delete_item(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let state = state(ctx)?;
        let item = find_item(state, &id).await?;
        items::delete(&state.db, item.id)
            .await
            .map_err(ApiError::from)?;
        publish_deleted(state, std::slice::from_ref(&item)).await;
        Ok(id)
    }
}

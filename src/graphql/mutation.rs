//! Mutation root: parse input into domain types, call a service, map the result, and set
//! cookies in cookie mode. Rules are declared with `#[auth(…)]`.

use async_graphql::{Context, ID, MaybeUndefined, Object};

use crate::auth::credentials::{Presented, check_csrf, missing};
use crate::auth::tokens::{Claims, TokenKind};
use crate::domain::{Description, Email, Name, Password, Price, Role, Username, without_nul};
use crate::events::ItemEvent;
use crate::graphql::context::ContextExt;
use crate::graphql::cookies;
use crate::graphql::errors::{ApiError, ApiResult};
use crate::graphql::guards::{
    Authenticated, FreshToken, HasRole, OwnerOrAdmin, SelfOrAdmin, principal,
};
use crate::graphql::inputs::{
    ChangePasswordInput, CreateItemInput, CreateStoreInput, LoginInput, LogoutScope, SignupInput,
    UpdateItemInput,
};
use crate::graphql::types::{AuthPayload, Item, Store, User};
use crate::metrics::LoginOutcome;
use crate::service::items::{self, ItemChanges, NewItem};
use crate::service::sessions::{self, Issued, NewAccount};
use crate::service::{stores, users};
use crate::state::AppState;

pub struct Mutation;

/// The payload of a new pair; with cookies only, the tokens stay out of it (script never
/// sees one) and the CSRF values are given instead (API.md Cookies).
fn payload(ctx: &Context<'_>, state: &AppState, issued: Issued) -> AuthPayload {
    cookies::set_session(ctx, &state.config, &issued.pair);
    let location = state.config.jwt_token_location;
    let Issued { user, pair } = issued;
    AuthPayload {
        csrf_token: pair.access.csrf.filter(|_| location.cookies),
        refresh_csrf_token: pair.refresh.csrf.filter(|_| location.cookies),
        access_token: location.headers.then_some(pair.access.token),
        refresh_token: location.headers.then_some(pair.refresh.token),
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

/// A refresh token a mutation was given.
struct GivenRefresh {
    claims: Claims,
    /// From the refresh cookie: the `X-CSRF-TOKEN` sent beside it, still to be checked
    /// against the token's `csrf` claim (double submit). `None` for an argument: a
    /// cross-site page cannot know the token, so it is proof enough.
    cookie_csrf: Option<Option<String>>,
}

impl GivenRefresh {
    /// The double-submit check of a refresh cookie.
    fn check_csrf(&self) -> ApiResult<()> {
        if let Some(header) = &self.cookie_csrf {
            check_csrf(header.as_deref(), self.claims.csrf.as_deref())?;
        }
        Ok(())
    }
}

/// The refresh token a mutation was given: the argument, else (cookie mode, and only for
/// a cookie-mode client) the refresh cookie. `None`: neither.
fn given_refresh(
    ctx: &Context<'_>,
    state: &AppState,
    argument: Option<String>,
) -> ApiResult<Option<GivenRefresh>> {
    let auth = ctx.auth()?;
    let cookie_client = !matches!(auth.presented(), Presented::Bearer(_));
    let (token, cookie_csrf) = match (argument, auth.refresh_cookie()) {
        (Some(token), _) => {
            without_nul(&token, "refreshToken")?;
            (token, None)
        }
        (None, Some(cookie)) if cookie_client => {
            (cookie.token.clone(), Some(cookie.csrf_header.clone()))
        }
        _ => return Ok(None),
    };
    let claims = state.keys.decode(&token, TokenKind::Refresh)?;
    Ok(Some(GivenRefresh {
        claims,
        cookie_csrf,
    }))
}

/// `logout`'s credentials: a valid access token, or a refresh token alone.
async fn logout(
    ctx: &Context<'_>,
    state: &AppState,
    refresh_token: Option<String>,
    scope: LogoutScope,
) -> ApiResult<()> {
    // An expired refresh token has nothing left to end (its access tokens expired
    // before it); the access token, if any, still says whose session to end.
    let refresh = match given_refresh(ctx, state, refresh_token) {
        Ok(given) => given,
        Err(ApiError::TokenExpired) => None,
        Err(error) => return Err(error),
    };
    // With a valid access token (its own CSRF check done, in cookie mode) the request is
    // proven; a refresh token alone must pass its own.
    let (access, access_error) = match principal(ctx).await {
        Ok(principal) => (Some(principal), None),
        // A refresh token alone is enough: a missing, expired, revoked or otherwise bad
        // access token does not stop a logout.
        Err(
            error @ (ApiError::AuthorizationRequired(_)
            | ApiError::TokenExpired
            | ApiError::TokenRevoked
            | ApiError::InvalidToken(_)),
        ) if refresh.is_some() => (None, Some(error)),
        Err(error) => return Err(error),
    };
    if access.is_none()
        && let Some(refresh) = &refresh
        && let Err(csrf) = refresh.check_csrf()
    {
        // The access token's own problem says more than the refresh cookie's CSRF value.
        return Err(access_error.unwrap_or(csrf));
    }
    let refresh = refresh.as_ref().map(|given| &given.claims);
    state
        .sessions
        .logout(access.as_deref(), refresh, scope.into(), &ctx.client())
        .await?;
    Ok(())
}

#[authql_macros::guarded]
#[Object]
impl Mutation {
    /// Creates an account, starts a session and returns a fresh access token and a refresh
    /// token.
    async fn signup(&self, ctx: &Context<'_>, input: SignupInput) -> ApiResult<AuthPayload> {
        let state = ctx.state()?;
        let username = Username::parse(&input.username)?;
        let password = Password::parse(&input.password, "password")?;
        let email = input
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(Email::parse)
            .transpose()?;
        let account = NewAccount {
            username: &username,
            email: email.as_ref(),
            password: &password,
            role: Role::User,
        };
        let keys = Some(state.keys.as_ref());
        let (user, pair) = sessions::register(
            &state.db,
            state.revocations.origin(),
            &state.passwords,
            keys,
            account,
            &ctx.client(),
        )
        .await?;
        state.revocations.data_changed();
        let pair = pair.ok_or_else(|| {
            tracing::error!("BUG: register was given keys but issued no tokens");
            ApiError::Internal
        })?;
        Ok(payload(ctx, state, Issued { user, pair }))
    }

    /// Checks the password (ignoring the username's case), starts a session and returns a
    /// fresh token pair. An unknown user and a wrong password answer the same error in the
    /// same time.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> ApiResult<AuthPayload> {
        let state = ctx.state()?;
        let client = ctx.client();
        // No password can hold NUL: refused as input, before anything is counted.
        without_nul(&input.password, "password")?;
        let issued = state
            .sessions
            .login(&input.username, &input.password, &client)
            .await
            .map_err(ApiError::from);
        let outcome = match &issued {
            Ok(_) => Some(LoginOutcome::Success),
            Err(ApiError::InvalidCredentials) => Some(LoginOutcome::InvalidCredentials),
            // The limit and the hash queue's shedding alike.
            Err(ApiError::RateLimited { .. }) => Some(LoginOutcome::RateLimited),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            state.metrics.login(outcome);
        }
        Ok(payload(ctx, state, issued?))
    }

    /// Trades a refresh token (argument, or the refresh cookie in cookie mode) for a new,
    /// non-fresh access token and a new refresh token of the same session. The used token
    /// is revoked; presenting one already rotated ends its session (reuse detection).
    async fn refresh(
        &self,
        ctx: &Context<'_>,
        refresh_token: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let state = ctx.state()?;
        let location = state.config.jwt_token_location;
        let given = given_refresh(ctx, state, refresh_token)?
            .ok_or_else(|| ApiError::from(missing(location, true)))?;
        given.check_csrf()?;
        let issued = state.sessions.refresh(&given.claims, &ctx.client()).await?;
        Ok(payload(ctx, state, issued))
    }

    /// Ends the presented token's session (`CURRENT`), every other session of the user
    /// (`OTHERS`) or every token the user holds (`ALL`). Needs a valid access token, or a
    /// refresh token alone (argument or cookie) — so a user whose access token expired can
    /// still log out. Clears the cookies in cookie mode.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: Option<String>,
        #[graphql(default_with = "Some(LogoutScope::Current)")] scope: Option<LogoutScope>,
    ) -> ApiResult<bool> {
        let state = ctx.state()?;
        let scope = scope.unwrap_or(LogoutScope::Current);
        let result = logout(ctx, state, refresh_token, scope).await;
        // Signing out the other devices keeps this one signed in; otherwise the cookies
        // go — also when the logout failed because they are dead already (revoked,
        // expired, invalid): a browser must not keep replaying them. A refused CSRF check
        // clears nothing.
        let dead = matches!(
            result,
            Err(ApiError::TokenRevoked | ApiError::TokenExpired | ApiError::InvalidToken(_))
        );
        if scope != LogoutScope::Others && (result.is_ok() || dead) {
            cookies::clear_session(ctx, &state.config);
        }
        result.map(|()| true)
    }

    /// Ends one of the caller's own sessions (its tokens answer `TOKEN_REVOKED` at once,
    /// its WebSockets close). Another user's, an ended or an unknown id: `NOT_FOUND`.
    #[auth(Authenticated)]
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        // A session id with NUL is malformed: it names no session.
        if id.contains('\0') {
            return Err(ApiError::NotFound("Session"));
        }
        state
            .sessions
            .revoke_session(&caller, &id, &ctx.client())
            .await?;
        Ok(true)
    }

    /// Sets a new password, ends every session and returns a fresh pair in a new one. A
    /// wrong current password is `INVALID_CREDENTIALS`, and counts toward a limit per user.
    #[auth(FreshToken)]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> ApiResult<AuthPayload> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        without_nul(&input.current_password, "currentPassword")?;
        let new_password = Password::parse(&input.new_password, "newPassword")?;
        let client = ctx.client();
        let issued = state
            .sessions
            .change_password(&caller, &input.current_password, &new_password, &client)
            .await?;
        Ok(payload(ctx, state, issued))
    }

    /// Changes a user's role; in force from that user's next request.
    #[auth(HasRole(Role::Admin))]
    async fn set_user_role(&self, ctx: &Context<'_>, user_id: ID, role: Role) -> ApiResult<User> {
        let state = ctx.state()?;
        let id = parse_id(&user_id, "User")?;
        let admin = principal(ctx).await?;
        let client = ctx.client();
        let user = users::set_role(
            &state.db,
            &state.revocations,
            id,
            role,
            admin.user_id,
            &client,
        )
        .await?;
        Ok(User(user))
    }

    /// Deletes a user, their items, sessions and tokens.
    #[auth(FreshToken.and(SelfOrAdmin::new(&id)))]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let state = ctx.state()?;
        let user_id = parse_id(&id, "User")?;
        let caller = principal(ctx).await?;
        let client = ctx.client();
        let deleted = users::delete_account(
            &state.db,
            &state.revocations,
            user_id,
            caller.user_id,
            &client,
        )
        .await?;
        publish_deleted(state, &deleted).await;
        Ok(id)
    }

    /// Creates a store; the name is unique ignoring case.
    #[auth(HasRole(Role::Admin))]
    async fn create_store(&self, ctx: &Context<'_>, input: CreateStoreInput) -> ApiResult<Store> {
        let state = ctx.state()?;
        let name = Name::parse(&input.name)?;
        let store = state
            .revocations
            .write_data(&state.db, async |txn| stores::create(txn, &name).await)
            .await?;
        Ok(Store(store))
    }

    /// Deletes a store and all its items; returns its id.
    #[auth(HasRole(Role::Admin))]
    async fn delete_store(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let state = ctx.state()?;
        let store_id = parse_id(&id, "Store")?;
        let deleted = items::delete_store(&state.db, &state.revocations, store_id).await?;
        publish_deleted(state, &deleted).await;
        Ok(id)
    }

    /// Creates an item in a store; the caller becomes its owner. Names are unique within a
    /// store, ignoring case.
    #[auth(Authenticated)]
    async fn create_item(&self, ctx: &Context<'_>, input: CreateItemInput) -> ApiResult<Item> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        let new = NewItem {
            store_id: parse_id(&input.store_id, "Store")?,
            owner_id: caller.user_id,
            name: Name::parse(&input.name)?,
            description: input
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            price: Price::parse(input.price.0)?,
        };
        let item = state
            .revocations
            .write_data(&state.db, async |txn| items::create(txn, new).await)
            .await?;
        state.events.publish(vec![ItemEvent::created(&item)]).await;
        Ok(Item::new(item))
    }

    /// Changes an item. Absent fields stay; `description: null` clears it.
    #[auth(Authenticated.and(OwnerOrAdmin::item(&id)))]
    async fn update_item(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateItemInput,
    ) -> ApiResult<Item> {
        let state = ctx.state()?;
        let changes = ItemChanges {
            name: match input.name {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => {
                    return Err(ApiError::bad_input("name", "name cannot be null"));
                }
                MaybeUndefined::Value(name) => Some(Name::parse(&name)?),
            },
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(text) => Some(Some(Description::parse(&text)?)),
            },
            price: match input.price {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => {
                    return Err(ApiError::bad_input("price", "price cannot be null"));
                }
                MaybeUndefined::Value(price) => Some(Price::parse(price.0)?),
            },
        };
        let item = find_item(state, &id).await?;
        let item = state
            .revocations
            .write_data(&state.db, async |txn| {
                items::update(txn, item, changes).await
            })
            .await?;
        state.events.publish(vec![ItemEvent::updated(&item)]).await;
        Ok(Item::new(item))
    }

    /// Deletes an item; returns its id.
    #[auth(FreshToken.and(OwnerOrAdmin::item(&id)))]
    async fn delete_item(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let state = ctx.state()?;
        let item = find_item(state, &id).await?;
        state
            .revocations
            .write_data(&state.db, async |txn| items::delete(txn, item.id).await)
            .await?;
        publish_deleted(state, std::slice::from_ref(&item)).await;
        Ok(id)
    }
}

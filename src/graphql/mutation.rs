//! Mutation root: parse input into domain types, call a service, map the result, and set
//! cookies in cookie mode. Rules are declared with `#[auth(…)]`.

use async_graphql::{Context, ID, MaybeUndefined, Object};

use crate::auth::credentials::{Presented, missing};
use crate::auth::error::AuthError;
use crate::domain::{
    Description, Email, Name, OneTimeToken, Password, Price, Role, Username, without_nul,
};
use crate::graphql::context::{ContextExt, RebindGuard, SocketCredential};
use crate::graphql::cookies;
use crate::graphql::errors::{ApiError, ApiResult};
use crate::graphql::guards::{
    AnyLevel, Authenticated, FreshToken, HasRole, MfaVerified, OwnerOrAdmin, SelfOrAdmin,
    VerifiedEmail, principal, principal_any_level,
};
use crate::graphql::inputs::{
    ChangePasswordInput, CreateItemInput, CreateStoreInput, LoginInput, LogoutScope, SignupInput,
    UpdateItemInput,
};
use crate::graphql::types::{AuthPayload, Item, MfaActivation, Store, TotpEnrollment, User};
use crate::service::items::{ItemChanges, NewItem};
use crate::service::sessions::{GivenRefresh, Issued, NewAccount};
use crate::state::AppState;

pub struct Mutation;

/// The payload of a new pair; with cookies only, the tokens stay out of it (script never
/// sees one) and the CSRF values are given instead (API.md Cookies).
fn payload(ctx: &Context<'_>, state: &AppState, issued: Issued) -> AuthPayload {
    cookies::set_session(ctx, &state.config, &issued.pair);
    if let Ok(auth) = ctx.auth() {
        auth.issued(issued.user.id);
    }
    let location = state.config.jwt_token_location;
    let Issued {
        user,
        pair,
        mfa_required,
    } = issued;
    AuthPayload {
        csrf_token: pair.access.csrf.filter(|_| location.cookies),
        refresh_csrf_token: pair.refresh.csrf.filter(|_| location.cookies),
        access_token: location.headers.then_some(pair.access.token),
        refresh_token: location.headers.then_some(pair.refresh.token),
        token_type: "Bearer",
        expires_in: state.keys.access_ttl_secs(),
        user: User::from(user),
        mfa_required,
    }
}

/// A socket a mutation's new pair will re-bind, and the guard held while it runs.
type Rebinding = Option<(std::sync::Arc<SocketCredential>, RebindGuard)>;

/// Over a WebSocket whose credential came from `connection_init`, a mutation that answers
/// a new pair makes its access token the socket's credential (API.md "Keeping a socket past
/// its token"). Over a cookie-authenticated socket it is refused before it changes
/// anything: a socket cannot set cookies, and a rotation the browser never saw would make
/// its next HTTP `refresh` look like reuse.
fn rebinding(ctx: &Context<'_>, mutation: &'static str) -> ApiResult<Rebinding> {
    match ctx.data_opt::<std::sync::Arc<SocketCredential>>() {
        None => Ok(None),
        Some(socket) if socket.from_cookie() => Err(ApiError::bad_input(
            mutation,
            "Over a cookie-authenticated WebSocket this would change cookies the browser never \
             sees: send it over HTTP",
        )),
        Some(socket) => Ok(Some((socket.clone(), socket.begin()))),
    }
}

/// The socket (if any) now holds the new access token.
fn rebind(socket: Rebinding, issued: &Issued) {
    if let Some((socket, _running)) = socket {
        socket.rebind(issued.pair.access.token.clone());
    }
}

/// The item a mutation names, as its ownership guard (`OwnerOrAdmin`) loaded it.
fn checked_item(ctx: &Context<'_>, id: &ID) -> ApiResult<entity::item::Model> {
    let id = parse_id(id, "Item")?;
    ctx.auth()?.take_checked(id).ok_or_else(|| {
        tracing::error!("BUG: an item mutation ran without its ownership guard");
        ApiError::Internal
    })
}

/// A malformed id in a mutation names nothing: `NOT_FOUND`.
fn parse_id(id: &ID, what: &'static str) -> ApiResult<i32> {
    id.parse().map_err(|_| ApiError::NotFound(what))
}

/// The refresh token a mutation was given: the argument, else (cookie mode, and only for
/// a cookie-mode client: a header token wins) the refresh cookie. `None`: neither.
fn given_refresh(
    ctx: &Context<'_>,
    state: &AppState,
    argument: Option<String>,
) -> ApiResult<Option<Result<GivenRefresh, AuthError>>> {
    let auth = ctx.auth()?;
    let cookie_client = !matches!(auth.presented(), Presented::Bearer(_));
    Ok(match (argument, auth.refresh_cookie()) {
        (Some(token), _) => {
            without_nul(&token, "refreshToken")?;
            Some(GivenRefresh::argument(&state.keys, &token))
        }
        (None, Some(cookie)) if cookie_client => Some(GivenRefresh::cookie(
            &state.keys,
            &cookie.token,
            cookie.csrf_header.as_deref(),
        )),
        _ => None,
    })
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
        let issued = state.sessions.signup(account, &ctx.client()).await?;
        Ok(payload(ctx, state, issued))
    }

    /// Checks the password (ignoring the username's case), starts a session and returns a
    /// fresh token pair. An unknown user and a wrong password answer the same error in the
    /// same time.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> ApiResult<AuthPayload> {
        let state = ctx.state()?;
        let client = ctx.client();
        // No password can hold NUL: refused as input, before anything is counted.
        without_nul(&input.password, "password")?;
        let socket = rebinding(ctx, "login")?;
        let issued = state
            .sessions
            .login(&input.username, &input.password, &client)
            .await?;
        rebind(socket, &issued);
        Ok(payload(ctx, state, issued))
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
        let socket = rebinding(ctx, "refresh")?;
        let given = given_refresh(ctx, state, refresh_token)?
            .ok_or_else(|| ApiError::from(missing(location, true)))??;
        let issued = state.sessions.refresh_given(&given, &ctx.client()).await?;
        rebind(socket, &issued);
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
        let refresh = given_refresh(ctx, state, refresh_token)?;
        let access = match principal_any_level(ctx).await {
            // A partial login may end itself, nothing more (API.md Second factor).
            Ok(principal) if principal.partial() && scope != LogoutScope::Current => {
                return Err(ApiError::MfaRequired {
                    enroll: false,
                    outside: false,
                });
            }
            // An outside token has no session: it can end itself only.
            Ok(principal) if principal.outside() && scope != LogoutScope::Current => {
                return Err(ApiError::bad_input(
                    "scope",
                    "A token of an identity provider can only log itself out (CURRENT)",
                ));
            }
            Ok(principal) => Ok(principal),
            Err(error) => Err(error.into_refusal()?),
        };
        let result = state
            .sessions
            .logout_given(access, refresh, scope.into(), &ctx.client())
            .await
            .map_err(ApiError::from);
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
        let socket = rebinding(ctx, "changePassword")?;
        let issued = state
            .sessions
            .change_password(&caller, &input.current_password, &new_password, &client)
            .await?;
        rebind(socket, &issued);
        Ok(payload(ctx, state, issued))
    }

    /// Changes a user's role; in force from that user's next request.
    #[auth(HasRole(Role::Admin))]
    async fn set_user_role(&self, ctx: &Context<'_>, user_id: ID, role: Role) -> ApiResult<User> {
        let state = ctx.state()?;
        let id = parse_id(&user_id, "User")?;
        let admin = principal(ctx).await?;
        let client = ctx.client();
        let user = state
            .accounts
            .set_role(id, role, admin.user_id, &client)
            .await?;
        Ok(User::from(user))
    }

    /// Deletes a user, their items, sessions and tokens.
    #[auth(SelfOrAdmin::new(&id).and(FreshToken))]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let state = ctx.state()?;
        let user_id = parse_id(&id, "User")?;
        let caller = principal(ctx).await?;
        let client = ctx.client();
        state
            .accounts
            .delete(user_id, caller.user_id, &client)
            .await?;
        Ok(id)
    }

    /// Mails a one-time password reset link to the account with this address, if there is
    /// one (at most 3 per address and hour). Always `true`, answered before anything is
    /// looked up: the answer tells nobody whether the address has an account.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> ApiResult<bool> {
        let state = ctx.state()?;
        let email = Email::parse(&email)?;
        state.recovery.request_password_reset(email, ctx.client());
        Ok(true)
    }

    /// Sets a new password with a token from a reset mail, ends every session and token of
    /// the user and mails them a notice; logs nobody in. A wrong, used, expired or dead
    /// token: `VERIFICATION_FAILED`.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> ApiResult<bool> {
        let state = ctx.state()?;
        let token = OneTimeToken::parse(&token, "token")?;
        let new_password = Password::parse(&new_password, "newPassword")?;
        state
            .recovery
            .reset_password(&token, &new_password, &ctx.client())
            .await?;
        Ok(true)
    }

    /// Marks an address verified with the token from its verification mail; for a
    /// `changeEmail`, makes the new address the account's. A wrong, used or expired token:
    /// `VERIFICATION_FAILED`.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> ApiResult<bool> {
        let state = ctx.state()?;
        let token = OneTimeToken::parse(&token, "token")?;
        state.recovery.verify_email(&token, &ctx.client()).await?;
        Ok(true)
    }

    /// Mails a new verification link for the caller's unverified address; `false`, and
    /// nothing sent, when the caller has no address or it is verified.
    #[auth(Authenticated)]
    async fn request_email_verification(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        Ok(state.recovery.request_email_verification(&caller).await?)
    }

    /// Mails a verification link to a new address; the account's address changes only
    /// once it is followed (then the old address is told). Always `true`: an address
    /// another account uses gets a mail saying so instead.
    #[auth(FreshToken)]
    async fn change_email(&self, ctx: &Context<'_>, new_email: String) -> ApiResult<bool> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        let new_email = Email::parse_field(&new_email, "newEmail")?;
        state.recovery.change_email(&caller, &new_email).await?;
        Ok(true)
    }

    /// Starts setting up an authenticator app: a new secret (replacing a pending one), its
    /// `otpauth://` URI and QR code. Nothing changes until `confirmTotp`. With an active
    /// factor: `BAD_USER_INPUT` (disable it first).
    #[auth(FreshToken)]
    async fn enroll_totp(&self, ctx: &Context<'_>) -> ApiResult<TotpEnrollment> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        let enrollment = state.second_factor.enroll(&caller).await?;
        Ok(TotpEnrollment {
            secret: enrollment.secret,
            uri: enrollment.uri,
            qr_svg: enrollment.qr_svg,
        })
    }

    /// Activates the pending factor with a current code; answers ten recovery codes (shown
    /// this once) and a fresh level-2 pair for this session.
    #[auth(Authenticated)]
    async fn confirm_totp(&self, ctx: &Context<'_>, code: String) -> ApiResult<MfaActivation> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        let socket = rebinding(ctx, "confirmTotp")?;
        let (recovery_codes, issued) = state
            .second_factor
            .confirm(&caller, &code, &ctx.client())
            .await?;
        rebind(socket, &issued);
        Ok(MfaActivation {
            recovery_codes,
            tokens: payload(ctx, state, issued),
        })
    }

    /// Shows the second factor: a TOTP code or a recovery code raises this session to
    /// level 2 and answers a fresh level-2 pair. Wrong, replayed and used codes alike:
    /// `VERIFICATION_FAILED`.
    #[auth(AnyLevel)]
    async fn verify_mfa(&self, ctx: &Context<'_>, code: String) -> ApiResult<AuthPayload> {
        let state = ctx.state()?;
        let caller = principal_any_level(ctx).await?;
        let socket = rebinding(ctx, "verifyMfa")?;
        let issued = state
            .second_factor
            .verify(&caller, &code, &ctx.client())
            .await?;
        rebind(socket, &issued);
        Ok(payload(ctx, state, issued))
    }

    /// Removes the second factor and its recovery codes, given a current code (or a
    /// recovery code).
    #[auth(MfaVerified.and(FreshToken))]
    async fn disable_totp(&self, ctx: &Context<'_>, code: String) -> ApiResult<bool> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        state
            .second_factor
            .disable(&caller, &code, &ctx.client())
            .await?;
        Ok(true)
    }

    /// Replaces the recovery codes with ten new ones (shown this once).
    #[auth(MfaVerified.and(FreshToken))]
    async fn regenerate_recovery_codes(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        let state = ctx.state()?;
        let caller = principal(ctx).await?;
        Ok(state
            .second_factor
            .regenerate_recovery_codes(&caller, &ctx.client())
            .await?)
    }

    /// Removes a user's second factor (the support path for a lost authenticator); the
    /// user is mailed.
    #[auth(HasRole(Role::Admin).and(FreshToken))]
    async fn reset_mfa(&self, ctx: &Context<'_>, user_id: ID) -> ApiResult<bool> {
        let state = ctx.state()?;
        let id = parse_id(&user_id, "User")?;
        let admin = principal(ctx).await?;
        state
            .second_factor
            .reset(id, Some(admin.user_id), &ctx.client())
            .await?;
        Ok(true)
    }

    /// Creates a store; the name is unique ignoring case.
    #[auth(HasRole(Role::Admin))]
    async fn create_store(&self, ctx: &Context<'_>, input: CreateStoreInput) -> ApiResult<Store> {
        let state = ctx.state()?;
        let name = Name::parse(&input.name)?;
        Ok(Store(state.catalogue.create_store(&name).await?))
    }

    /// Deletes a store and all its items; returns its id.
    #[auth(HasRole(Role::Admin))]
    async fn delete_store(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let state = ctx.state()?;
        let store_id = parse_id(&id, "Store")?;
        state.catalogue.delete_store(store_id).await?;
        Ok(id)
    }

    /// Creates an item in a store; the caller becomes its owner. Names are unique within a
    /// store, ignoring case.
    #[auth(Authenticated.and(VerifiedEmail))]
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
        Ok(Item::new(state.catalogue.create_item(new).await?))
    }

    /// Changes an item. Absent fields stay; `description: null` clears it.
    #[auth(Authenticated.and(OwnerOrAdmin::item(&id)).and(VerifiedEmail))]
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
        let item = checked_item(ctx, &id)?;
        Ok(Item::new(state.catalogue.update_item(item, changes).await?))
    }

    /// Deletes an item; returns its id.
    #[auth(OwnerOrAdmin::item(&id).and(FreshToken))]
    async fn delete_item(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let state = ctx.state()?;
        let item = checked_item(ctx, &id)?;
        state.catalogue.delete_item(&item).await?;
        Ok(id)
    }
}

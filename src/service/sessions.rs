//! The auth workflows: register, login, refresh rotation and password change. Each owns
//! its transaction and answers a [`ServiceError`]; resolvers only parse, call and map.
//!
//! Every workflow that issues tokens for an existing user first locks the user's row
//! ([`users::lock`]) inside its transaction, and so does a password change: a login or a
//! refresh racing with `changePassword` is therefore either entirely before it (and its
//! tokens are revoked by it) or entirely after it (and sees the new password hash, or the
//! refresh token revoked) — no token issued before the change commits survives it.

use entity::user;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::attempts::{self, AttemptKey};
use super::tokens::{self, Rotation, TokenPair};
use super::{ServiceError, ServiceResult, users};
use crate::auth::password::{Overloaded, Passwords};
use crate::auth::tokens::{Claims, JwtKeys};
use crate::domain::{Email, Password, Role, Username};
use crate::state::AppState;

impl From<Overloaded> for ServiceError {
    /// API.md `PASSWORD_HASH_QUEUE`: shed at once, try again in a second.
    fn from(_: Overloaded) -> Self {
        Self::RateLimited { retry_after: 1 }
    }
}

/// A new account with the given role; with `keys`, also its first, fresh token pair in
/// the same transaction (`signup`). `create-user` passes no keys: it issues no tokens.
pub async fn register(
    db: &DatabaseConnection,
    passwords: &Passwords,
    keys: Option<&JwtKeys>,
    new: NewAccount<'_>,
) -> ServiceResult<(user::Model, Option<TokenPair>)> {
    let hash = passwords.admit()?.hash(new.password).await?;
    let txn = db.begin().await?;
    let user = users::create(&txn, new.username, new.email, hash, new.role).await?;
    let pair = match keys {
        Some(keys) => Some(tokens::issue_pair(&txn, keys, &user, true).await?),
        None => None,
    };
    txn.commit().await?;
    Ok((user, pair))
}

/// What `register` needs, already parsed.
pub struct NewAccount<'a> {
    pub username: &'a Username,
    pub email: Option<&'a Email>,
    pub password: &'a Password,
    pub role: Role,
}

/// Checks the password of `username` (ignoring case) and returns a fresh pair.
///
/// API.md "Login limiting": a username that breaks the username rule cannot exist, so it
/// is `INVALID_CREDENTIALS` without hashing or counting; a shed hash is not counted; every
/// other attempt takes its place before the password is checked, and an unknown user
/// costs the same hash as a wrong password.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    client_addr: &str,
) -> ServiceResult<(user::Model, TokenPair)> {
    let Ok(username) = Username::parse(username) else {
        return Err(ServiceError::InvalidCredentials);
    };
    let key = AttemptKey::login(&username, client_addr);
    // The place first: an attempt refused by the limit never holds a hashing place. A
    // shed attempt gives its place back (the attempt is dropped): it is not counted.
    let attempt = attempts::reserve(&state.db, &key, state.attempt_limit).await?;
    let permit = state.passwords.admit()?;
    let user = users::find_by_username(&state.db, username.as_str()).await?;
    let hash = user.as_ref().map(|u| u.password_hash.as_str());
    let matches = permit.verify(password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        attempts::failed(&state.db, attempt).await?;
        return Err(ServiceError::InvalidCredentials);
    };
    let txn = state.db.begin().await?;
    // The password may have changed while it was being checked.
    let Some(user) = users::lock(&txn, user.id)
        .await?
        .filter(|current| current.password_hash == user.password_hash)
    else {
        txn.rollback().await?;
        attempts::failed(&state.db, attempt).await?;
        return Err(ServiceError::InvalidCredentials);
    };
    attempts::succeeded(&txn, &attempt).await?;
    let pair = tokens::issue_pair(&txn, &state.keys, &user, true).await?;
    txn.commit().await?;
    attempt.kept();
    Ok((user, pair))
}

/// Rotates a refresh token (already decoded and checked to be a refresh token): a live
/// one is revoked and a new non-fresh pair issued; presenting one already used or revoked
/// is reuse, which revokes every token of the user and answers `TOKEN_REVOKED`.
pub async fn refresh(state: &AppState, claims: &Claims) -> ServiceResult<(user::Model, TokenPair)> {
    let user_id: i32 = claims
        .sub
        .parse()
        .map_err(|_| ServiceError::UnknownUser(claims.sub.clone()))?;
    let txn = state.db.begin().await?;
    let user = users::lock(&txn, user_id)
        .await?
        .ok_or_else(|| ServiceError::UnknownUser(claims.sub.clone()))?;
    match tokens::consume_refresh(&txn, &user, claims).await? {
        Rotation::Rotated => {
            let pair = tokens::issue_pair(&txn, &state.keys, &user, false).await?;
            txn.commit().await?;
            Ok((user, pair))
        }
        Rotation::Reused => {
            tracing::warn!(
                user_id = user.id,
                "refresh token reuse: revoking every token"
            );
            tokens::revoke_all(&txn, user.id).await?;
            txn.commit().await?;
            Err(ServiceError::TokenRevoked)
        }
    }
}

/// Checks `current` (limited per user, API.md "Login limiting"), stores the hash of `new`,
/// revokes every token the user held and returns a fresh pair.
pub async fn change_password(
    state: &AppState,
    user: &user::Model,
    current: &str,
    new: &Password,
) -> ServiceResult<(user::Model, TokenPair)> {
    let key = AttemptKey::password_change(user.id);
    let attempt = attempts::reserve(&state.db, &key, state.attempt_limit).await?;
    let permit = state.passwords.admit()?;
    if !permit.verify(current, Some(&user.password_hash)).await? {
        attempts::failed(&state.db, attempt).await?;
        return Err(ServiceError::InvalidCredentials);
    }
    let hash = permit.hash(new).await?;
    let txn = state.db.begin().await?;
    // Another change may have committed while this one was checking the old password.
    let Some(locked) = users::lock(&txn, user.id)
        .await?
        .filter(|current| current.password_hash == user.password_hash)
    else {
        txn.rollback().await?;
        attempts::failed(&state.db, attempt).await?;
        return Err(ServiceError::InvalidCredentials);
    };
    tokens::revoke_all(&txn, locked.id).await?;
    let user = users::set_password(&txn, locked, hash).await?;
    attempts::succeeded(&txn, &attempt).await?;
    let pair = tokens::issue_pair(&txn, &state.keys, &user, true).await?;
    txn.commit().await?;
    attempt.kept();
    Ok((user, pair))
}

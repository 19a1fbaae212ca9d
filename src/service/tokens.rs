//! Token records. Every refresh token the server issues is recorded by `jti` with its
//! session, and when it is rotated, with the token that replaced it: so rotation is atomic
//! even under racing refreshes, and reuse of an *already rotated* token can be told from
//! one revoked another way (API.md Tokens). Access tokens are governed by their session
//! and need no record; an access token without a session (minted elsewhere, or issued
//! before sessions existed) gets a record when it is revoked. Records live until their
//! token expires, plus the leeway.

use chrono::{DateTime, Utc};
use entity::{session, token, user};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};

use super::ServiceResult;
use crate::auth::tokens::{Assurance, Claims, IssuedToken, JwtKeys, Subject, TokenKind};
use crate::domain::Role;

/// An access/refresh pair handed to a client.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access: IssuedToken,
    pub refresh: IssuedToken,
}

/// What a pair is issued with: the session's level, and for a partial login the end of
/// its challenge (its refresh tokens expire then, never later: refreshing does not extend
/// it).
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub assurance: Assurance,
    pub refresh_until: Option<DateTime<Utc>>,
}

impl Grant {
    /// A session at level 1 that is not a partial login.
    pub const PASSWORD: Grant = Grant {
        assurance: Assurance::Password,
        refresh_until: None,
    };

    /// The grant of an existing session: its level, and its challenge's end if partial.
    pub fn of(session: &session::Model) -> Self {
        Self {
            assurance: Assurance::of_level(session.aal),
            refresh_until: session.mfa_pending.then_some(session.expires_at),
        }
    }
}

fn subject<'a>(user: &'a user::Model, sid: &'a str, assurance: Assurance) -> Subject<'a> {
    Subject {
        user_id: user.id,
        role: Role::from_db(&user.role).as_str(),
        sid: Some(sid),
        assurance,
    }
}

/// Signs a pair for `user` in session `sid` and records the refresh token.
pub(super) async fn issue_pair(
    db: &impl ConnectionTrait,
    keys: &JwtKeys,
    user: &user::Model,
    sid: &str,
    fresh: bool,
    grant: Grant,
) -> ServiceResult<TokenPair> {
    let subject = subject(user, sid, grant.assurance);
    let access = keys.issue(&subject, TokenKind::Access, fresh)?;
    let refresh = match grant.refresh_until {
        Some(until) => keys.issue_until(&subject, TokenKind::Refresh, false, until)?,
        None => keys.issue(&subject, TokenKind::Refresh, false)?,
    };
    record(
        db,
        user.id,
        &refresh.jti,
        refresh.expires_at,
        Some(sid),
        None,
    )
    .await?;
    Ok(TokenPair { access, refresh })
}

/// A new access token beside an existing refresh token (the reuse grace: the successor
/// is answered again, with the same `jti` and expiry).
pub(super) fn reissue_pair(
    keys: &JwtKeys,
    user: &user::Model,
    session: &session::Model,
    successor: &token::Model,
) -> ServiceResult<TokenPair> {
    let subject = subject(user, &session.id, Grant::of(session).assurance);
    Ok(TokenPair {
        access: keys.issue(&subject, TokenKind::Access, false)?,
        refresh: keys.reissue_refresh(&subject, &successor.jti, successor.expires_at)?,
    })
}

async fn record(
    db: &impl ConnectionTrait,
    user_id: i32,
    jti: &str,
    expires_at: DateTime<Utc>,
    session_id: Option<&str>,
    revoked: Option<(DateTime<Utc>, &str)>,
) -> ServiceResult<u64> {
    Ok(token::Entity::insert(token::ActiveModel {
        jti: Set(jti.to_owned()),
        user_id: Set(user_id),
        kind: Set(TokenKind::Refresh.as_str().to_owned()),
        expires_at: Set(expires_at),
        revoked_at: Set(revoked.map(|(at, _)| at)),
        session_id: Set(session_id.map(str::to_owned)),
        rotated_to: Set(revoked.map(|(_, to)| to.to_owned())),
    })
    .on_conflict(
        OnConflict::column(token::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?)
}

/// The live refresh token of session `sid` issued last, if any.
pub(super) async fn live_in_session(
    db: &impl ConnectionTrait,
    sid: &str,
) -> ServiceResult<Option<token::Model>> {
    use sea_orm::QueryOrder;
    Ok(token::Entity::find()
        .filter(token::Column::SessionId.eq(sid))
        .filter(token::Column::Kind.eq(TokenKind::Refresh.as_str()))
        .filter(token::Column::RevokedAt.is_null())
        .order_by_desc(token::Column::ExpiresAt)
        .one(db)
        .await?)
}

/// The server's record of a token, if it issued (a refresh token) or revoked it.
pub async fn find_record(
    db: &impl ConnectionTrait,
    jti: &str,
) -> ServiceResult<Option<token::Model>> {
    Ok(token::Entity::find_by_id(jti.to_owned()).one(db).await?)
}

/// Marks a live refresh token as rotated into `successor`, in session `sid` (a token issued
/// before sessions existed joins the one its rotation starts). A conditional `UPDATE`
/// decides, so of two racing refreshes with one token at most one rotates it.
pub(super) async fn rotate(
    db: &impl ConnectionTrait,
    jti: &str,
    successor: &str,
    sid: &str,
) -> ServiceResult<bool> {
    let updated = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(token::Column::RotatedTo, Expr::value(successor))
        .col_expr(token::Column::SessionId, Expr::value(sid))
        .filter(token::Column::Jti.eq(jti))
        .filter(token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// A refresh token minted elsewhere (no record, no session), seen for the first time: it
/// is recorded as rotated into `successor`, in the session it starts. False when it was
/// seen before (the insert conflicts): then it is reuse.
pub(super) async fn adopt(
    db: &impl ConnectionTrait,
    user_id: i32,
    claims: &Claims,
    sid: &str,
    successor: &str,
) -> ServiceResult<bool> {
    let inserted = record(
        db,
        user_id,
        &claims.jti,
        claims.expires_at(),
        Some(sid),
        Some((Utc::now(), successor)),
    )
    .await?;
    Ok(inserted == 1)
}

/// Revokes one token that has no session (logout of a token minted elsewhere).
pub(super) async fn revoke(
    db: &impl ConnectionTrait,
    user_id: i32,
    claims: &Claims,
) -> ServiceResult<()> {
    token::Entity::insert(token::ActiveModel {
        jti: Set(claims.jti.clone()),
        user_id: Set(user_id),
        kind: Set(claims.kind.as_str().to_owned()),
        expires_at: Set(claims.expires_at()),
        revoked_at: Set(Some(Utc::now())),
        session_id: Set(None),
        rotated_to: Set(None),
    })
    .on_conflict(
        OnConflict::column(token::Column::Jti)
            .update_column(token::Column::RevokedAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Revokes the live refresh tokens of the given sessions (they are ending).
pub(super) async fn revoke_in_sessions(
    db: &impl ConnectionTrait,
    sids: &[String],
) -> ServiceResult<()> {
    if sids.is_empty() {
        return Ok(());
    }
    token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(token::Column::SessionId.is_in(sids.iter().cloned()))
        .filter(token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every token of the user without a session: recorded ones by row, the others
/// (minted elsewhere) by the user's cut-off.
pub(super) async fn revoke_sessionless(
    db: &impl ConnectionTrait,
    user_id: i32,
) -> ServiceResult<()> {
    let now = Utc::now();
    token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .filter(token::Column::UserId.eq(user_id))
        .filter(token::Column::SessionId.is_null())
        .filter(token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    user::Entity::update_many()
        .col_expr(user::Column::TokensValidAfter, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether a token without a record was issued in or before the second of the user's last
/// revoke-all (`iat` has one-second resolution).
pub fn before_cutoff(tokens_valid_after: Option<i64>, claims: &Claims) -> bool {
    tokens_valid_after.is_some_and(|cutoff| claims.iat <= cutoff)
}

/// Deletes records of tokens that can no longer be accepted; returns how many.
pub async fn prune_expired(db: &impl ConnectionTrait, before: DateTime<Utc>) -> ServiceResult<u64> {
    let result = token::Entity::delete_many()
        .filter(token::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

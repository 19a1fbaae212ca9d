//! Token records: every token the server issues is recorded by `jti` until it expires, so
//! revocation (logout, rotation, reuse, password change) is exact and visible to every
//! instance on the database. Tokens minted elsewhere with our key (Flask-JWT-Extended)
//! have no record; for them the user's `tokens_valid_after` decides.

use chrono::{DateTime, Utc};
use entity::{token, user};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};

use super::ServiceResult;
use crate::auth::tokens::{Claims, IssuedToken, JwtKeys, TokenKind};
use crate::domain::Role;

/// An access/refresh pair handed to a client.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access: IssuedToken,
    pub refresh: IssuedToken,
}

/// Signs and records a new pair for `user`.
pub async fn issue_pair(
    db: &impl ConnectionTrait,
    keys: &JwtKeys,
    user: &user::Model,
    fresh: bool,
) -> ServiceResult<TokenPair> {
    let role = Role::from_db(&user.role).as_str();
    let access = keys.issue(user.id, role, TokenKind::Access, fresh)?;
    let refresh = keys.issue(user.id, role, TokenKind::Refresh, false)?;
    let record = |issued: &IssuedToken| token::ActiveModel {
        jti: Set(issued.jti.clone()),
        user_id: Set(user.id),
        kind: Set(issued.kind.as_str().to_owned()),
        expires_at: Set(issued.expires_at),
        revoked_at: Set(None),
    };
    token::Entity::insert_many([record(&access), record(&refresh)])
        .exec_without_returning(db)
        .await?;
    Ok(TokenPair { access, refresh })
}

/// The server's record of a token, if it issued or revoked it.
pub async fn find_record(
    db: &impl ConnectionTrait,
    jti: &str,
) -> ServiceResult<Option<token::Model>> {
    Ok(token::Entity::find_by_id(jti.to_owned()).one(db).await?)
}

/// Whether the token is revoked: by its own record, or (no record) by the user's cut-off.
pub fn is_revoked(record: Option<&token::Model>, user: &user::Model, claims: &Claims) -> bool {
    match record {
        Some(record) => record.revoked_at.is_some() || record.user_id != user.id,
        None => issued_before_cutoff(user, claims),
    }
}

/// Tokens without a record that were issued in or before the second of the last
/// revoke-all are revoked (`iat` has one-second resolution).
fn issued_before_cutoff(user: &user::Model, claims: &Claims) -> bool {
    user.tokens_valid_after
        .is_some_and(|cutoff| claims.iat <= cutoff.timestamp())
}

/// Revokes one token (logout). Tokens without a record get a revoked record.
pub async fn revoke(db: &impl ConnectionTrait, user_id: i32, claims: &Claims) -> ServiceResult<()> {
    let now = Utc::now();
    token::Entity::insert(token::ActiveModel {
        jti: Set(claims.jti.clone()),
        user_id: Set(user_id),
        kind: Set(claims.kind.as_str().to_owned()),
        expires_at: Set(claims.expires_at()),
        revoked_at: Set(Some(now)),
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

/// The outcome of presenting a refresh token for rotation.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live and is now revoked: issue a new pair.
    Rotated,
    /// The token had already been used or revoked: reuse.
    Reused,
}

/// Atomically marks a refresh token used. A conditional `UPDATE` (or an insert that
/// conflicts) decides, so two racing refreshes with one token cannot both rotate.
pub async fn consume_refresh(
    db: &impl ConnectionTrait,
    user: &user::Model,
    claims: &Claims,
) -> ServiceResult<Rotation> {
    let now = Utc::now();
    let updated = token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .filter(token::Column::Jti.eq(claims.jti.clone()))
        .filter(token::Column::UserId.eq(user.id))
        .filter(token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if updated.rows_affected == 1 {
        return Ok(Rotation::Rotated);
    }
    if issued_before_cutoff(user, claims) {
        return Ok(Rotation::Reused);
    }
    // No live record: either a foreign token seen for the first time, or reuse.
    let inserted = token::Entity::insert(token::ActiveModel {
        jti: Set(claims.jti.clone()),
        user_id: Set(user.id),
        kind: Set(claims.kind.as_str().to_owned()),
        expires_at: Set(claims.expires_at()),
        revoked_at: Set(Some(now)),
    })
    .on_conflict(
        OnConflict::column(token::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(if inserted == 1 {
        Rotation::Rotated
    } else {
        Rotation::Reused
    })
}

/// Revokes every token of the user: recorded ones by row, foreign ones by the cut-off.
pub async fn revoke_all(db: &impl ConnectionTrait, user_id: i32) -> ServiceResult<()> {
    let now = Utc::now();
    token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, Expr::value(now))
        .filter(token::Column::UserId.eq(user_id))
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

/// Deletes records of tokens that have expired anyway; returns how many.
pub async fn prune_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> ServiceResult<u64> {
    let result = token::Entity::delete_many()
        .filter(token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

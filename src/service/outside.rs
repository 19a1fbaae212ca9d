//! Users of outside identity providers (API.md "External identity providers"): a verified
//! outside token ([`OutsideToken`]) becomes a [`Principal`] of the local user linked to its
//! (issuer, `sub`) — created on the first valid token, in one transaction with its link,
//! so two concurrent first requests make one user (the link is unique). The role comes
//! from the token on every request; revocation (a `logout`) and deletion from the same
//! view as authql's own tokens.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::Utc;
use entity::{external_identity, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
};

use super::audit::Event;
use super::principal::{self, Principal};
use super::revocations::{Notice, Revocations, publish};
use super::sessions::ClientInfo;
use super::{ServiceError, ServiceResult, users};
use crate::auth::error::AuthError;
use crate::auth::outside::OutsideToken;
use crate::auth::tokens::{Claims, TokenKind};
use crate::domain::{AuthEventKind, Email, Role};

/// Links kept in memory at most (then the map starts over; each reloads on demand).
const MAX_LINKS: usize = 100_000;
/// Longest username made from a claim, before a `-N` suffix.
const USERNAME_STEM: usize = 28;

/// The links of outside identities to local users; cheap to clone.
#[derive(Clone)]
pub struct OutsideUsers {
    db: DatabaseConnection,
    revocations: Revocations,
    links: std::sync::Arc<RwLock<HashMap<(String, String), i32>>>,
}

impl OutsideUsers {
    pub fn new(db: DatabaseConnection, revocations: Revocations) -> Self {
        Self {
            db,
            revocations,
            links: Default::default(),
        }
    }

    /// The principal an outside token stands for: its linked user (made on first sight),
    /// with the token's role, level and freshness. A deleted user's identity is blocked:
    /// `INVALID_TOKEN`.
    pub async fn principal(
        &self,
        token: OutsideToken,
        client: &ClientInfo,
    ) -> ServiceResult<Principal> {
        let user_id = self.link(&token, client).await?;
        let claims = Claims {
            sub: user_id.to_string(),
            kind: TokenKind::Access,
            fresh: token.fresh,
            // Outside tokens need not carry a `jti`: `logout` revokes one by its digest.
            jti: format!("sha256:{}", token.digest),
            iat: token.iat.unwrap_or(0),
            exp: token.exp,
            sid: None,
            aal: token.aal,
            csrf: None,
            issuer: Some(token.issuer.clone()),
        };
        let mut principal = principal::resolve(&self.revocations, claims).await?;
        let role = if token.admin { Role::Admin } else { Role::User };
        if principal.role != role {
            // The provider changed the role: the stored one follows, so answers that show
            // it (`me { role }`, `users`) agree with the guards.
            self.store_role(user_id, role).await?;
            principal.role = role;
        }
        Ok(principal)
    }

    async fn store_role(&self, user_id: i32, role: Role) -> ServiceResult<()> {
        let txn = users::begin_write(&self.db).await?;
        user::Entity::update_many()
            .col_expr(
                user::Column::Role,
                sea_orm::sea_query::Expr::value(role.as_str()),
            )
            .col_expr(
                user::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(user::Column::Id.eq(user_id))
            .exec(&txn)
            .await?;
        let origin = self.revocations.origin();
        publish(&txn, origin, Notice::User(user_id)).await?;
        publish(&txn, origin, Notice::Data).await?;
        txn.commit().await?;
        self.revocations.changed(user_id);
        self.revocations.data_changed();
        Ok(())
    }

    /// The local user of (issuer, `sub`), made on first sight.
    async fn link(&self, token: &OutsideToken, client: &ClientInfo) -> ServiceResult<i32> {
        let key = (token.issuer.clone(), token.subject.clone());
        if let Some(id) = self
            .links
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(*id);
        }
        let id = match self.find(token).await? {
            Some(id) => id,
            None => self.first_sight(token, client).await?,
        };
        let mut links = self.links.write().unwrap_or_else(|e| e.into_inner());
        if links.len() >= MAX_LINKS {
            links.clear();
        }
        links.insert(key, id);
        Ok(id)
    }

    /// The linked user's id; `None`: never seen. A blocked identity is refused.
    async fn find(&self, token: &OutsideToken) -> ServiceResult<Option<i32>> {
        let row = external_identity::Entity::find()
            .filter(external_identity::Column::Issuer.eq(&token.issuer))
            .filter(external_identity::Column::Subject.eq(&token.subject))
            .one(&self.db)
            .await?;
        match row {
            None => Ok(None),
            Some(row) => row.user_id.map(Some).ok_or_else(|| blocked(token)),
        }
    }

    /// Creates the user and its link in one transaction. A concurrent first sight that
    /// won the race makes this one's link insert fail on the unique index: then its user is
    /// the one.
    async fn first_sight(&self, token: &OutsideToken, client: &ClientInfo) -> ServiceResult<i32> {
        for _ in 0..5 {
            let txn = users::begin_write(&self.db).await?;
            let username = free_username(&txn, &token.username).await?;
            let email = self.unused_email(&txn, token).await?;
            let now = Utc::now();
            let created = user::Entity::insert(user::ActiveModel {
                username: Set(username.clone()),
                username_lower: Set(username.to_ascii_lowercase()),
                email: Set(email.as_ref().map(|e| e.as_str().to_owned())),
                email_lower: Set(email.as_ref().map(Email::lower)),
                // No password can match: a linked user never logs in with one.
                password_hash: Set("!outside".to_owned()),
                role: Set(Role::User.as_str().to_owned()),
                tokens_valid_after: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                email_verified_at: Set(email
                    .as_ref()
                    .filter(|_| token.email_verified)
                    .map(|_| now)),
                mfa_enabled_at: Set(None),
                external_issuer: Set(Some(token.issuer.clone())),
                ..Default::default()
            })
            .exec_with_returning(&txn)
            .await;
            let user = match created {
                Ok(user) => user,
                // The username or address was taken meanwhile: choose again.
                Err(error)
                    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let linked = external_identity::Entity::insert(external_identity::ActiveModel {
                issuer: Set(token.issuer.clone()),
                subject: Set(token.subject.clone()),
                user_id: Set(Some(user.id)),
                created_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await;
            match linked {
                Ok(_) => {}
                Err(error)
                    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    txn.rollback().await?;
                    return self.find(token).await?.ok_or_else(|| blocked(token));
                }
                Err(error) => return Err(error.into()),
            }
            Event::new(AuthEventKind::Signup, client)
                .about(&user)
                .issuer(Some(&token.issuer))
                .record(&txn)
                .await?;
            publish(&txn, self.revocations.origin(), Notice::Data).await?;
            txn.commit().await?;
            self.revocations.data_changed();
            tracing::info!(user_id = user.id, issuer = %token.issuer, "outside user seen first: linked to a new user");
            return Ok(user.id);
        }
        Err(ServiceError::Conflict {
            field: "username",
            message: "No free username for this identity",
        })
    }

    /// The token's address, if it is one and no other account uses it: users are never
    /// linked by email, so a taken address is stored as none.
    async fn unused_email(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        token: &OutsideToken,
    ) -> ServiceResult<Option<Email>> {
        let Some(email) = token.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
            return Ok(None);
        };
        let taken = user::Entity::find()
            .filter(user::Column::EmailLower.eq(email.lower()))
            .one(txn)
            .await?
            .is_some();
        Ok((!taken).then_some(email))
    }

    /// Forgets the link of a deleted user (the database row, now blocking, stays).
    pub fn forget(&self, user_id: i32) {
        self.links
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, id| *id != user_id);
    }
}

fn blocked(token: &OutsideToken) -> ServiceError {
    AuthError::Invalid(format!(
        "The user of this token was deleted ({})",
        token.issuer
    ))
    .into()
}

/// The claim's name made a username: characters outside the rule become `_`, cut to 28
/// characters, at least 3; then `-2`, `-3`, … until free.
async fn free_username(db: &impl sea_orm::ConnectionTrait, claimed: &str) -> ServiceResult<String> {
    let mut stem: String = claimed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(USERNAME_STEM)
        .collect();
    while stem.chars().count() < 3 {
        stem.push('_');
    }
    for n in 1..10_000 {
        let candidate = if n == 1 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let taken = user::Entity::find()
            .filter(user::Column::UsernameLower.eq(candidate.to_ascii_lowercase()))
            .one(db)
            .await?
            .is_some();
        if !taken {
            return Ok(candidate);
        }
    }
    Err(ServiceError::Conflict {
        field: "username",
        message: "No free username for this identity",
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn usernames_follow_the_rule_and_are_made_unique() {
        let db = crate::db::connect("sqlite::memory:", &Default::default())
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        assert_eq!(
            super::free_username(&db, "Ann Smith (auth0|x)")
                .await
                .unwrap(),
            "Ann_Smith__auth0_x_"
        );
        assert_eq!(super::free_username(&db, "a").await.unwrap(), "a__");
        let long = "x".repeat(60);
        assert_eq!(super::free_username(&db, &long).await.unwrap().len(), 28);
    }
}

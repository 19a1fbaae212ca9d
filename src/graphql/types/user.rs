use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use entity::user;

use super::ItemConnection;
use super::connection::{PageInfo, connection};
use crate::domain::Role;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::ApiResult;
use crate::graphql::guards::{IsSelf, SelfAnyLevelOrAdmin, SelfOrAdmin};
use crate::graphql::types::timestamp::DateTime;
use crate::service::items::Parent;
use crate::service::users;

/// A user account as clients see it. Shared: a page of items shows each owner many
/// times, each a clone of this.
#[derive(Clone)]
pub struct User(pub Arc<user::Model>);

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        Self(Arc::new(model))
    }
}

#[authql_macros::guarded]
#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn username(&self) -> &str {
        &self.0.username
    }

    async fn role(&self) -> Role {
        Role::from_db(&self.0.role)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// The email address, if one was given.
    #[auth(SelfOrAdmin::user(self.0.id))]
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// Whether the address was shown to be the user's (a link from its verification mail
    /// was followed, or an operator gave it); false without an address.
    #[auth(SelfOrAdmin::user(self.0.id))]
    async fn email_verified(&self, ctx: &Context<'_>) -> Option<bool> {
        Some(self.0.email.is_some() && self.0.email_verified_at.is_some())
    }

    /// Whether the user has an active second factor (TOTP).
    #[auth(SelfAnyLevelOrAdmin(self.0.id))]
    async fn mfa_enabled(&self, ctx: &Context<'_>) -> Option<bool> {
        Some(self.0.mfa_enabled_at.is_some())
    }

    /// How many unused recovery codes the user has left; null without a second factor.
    #[auth(IsSelf(self.0.id))]
    async fn recovery_codes_left(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        let state = ctx.state()?;
        let left = state.second_factor.recovery_codes_left(&self.0).await?;
        Ok(left.map(|n| n as i32))
    }

    /// The items this user owns, oldest first.
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ItemConnection> {
        // Boxed: see `Item.owner`.
        Box::pin(ItemConnection::nested(
            ctx,
            Parent::Owner(self.0.id),
            first,
            after,
        ))
        .await
    }
}

/// `totalCount` of the users connection.
pub struct UserCount;

impl UserCount {
    pub async fn total(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let state = ctx.state()?;
        Ok(users::count(&state.db).await? as i64)
    }
}

connection!(
    UserConnection, UserEdge, User, UserCount,
    rows: user::Model => User::from,
    cursor: "user"
);

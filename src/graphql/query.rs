//! Query root: thin — parse arguments, check the rule, call a service.

use async_graphql::{Context, ID, Object, Result};

use crate::auth::guards::{Authenticated, HasRole, allow, principal};
use crate::domain::{PageArgs, Role};
use crate::graphql::errors::ApiError;
use crate::graphql::state;
use crate::graphql::types::{User, UserConnection, user::UserCount};
use crate::service::users;

pub struct Query;

#[Object]
impl Query {
    /// The caller. Requires a valid access token.
    #[graphql(guard = "Authenticated")]
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(principal(ctx).await?.user.clone()))
    }

    /// A user by id, for authenticated callers; null when there is no such user.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        if allow(ctx, Authenticated).await.is_none() {
            return Ok(None);
        }
        let Ok(id) = id.parse::<i32>() else {
            return Ok(None);
        };
        let state = state(ctx)?;
        Ok(users::find(&state.db, id)
            .await
            .map_err(ApiError::from)?
            .map(User))
    }

    /// All users, one page at a time. ADMIN only.
    #[graphql(guard = "HasRole(Role::Admin)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        let state = state(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), "user", &state.cursors)
            .map_err(ApiError::from)?;
        let (rows, has_next_page) = users::page(&state.db, args).await.map_err(ApiError::from)?;
        Ok(UserConnection {
            cursors: rows
                .iter()
                .map(|u| state.cursors.encode("user", u.id))
                .collect(),
            nodes: rows.into_iter().map(User).collect(),
            has_next_page,
            has_previous_page: args.after.is_some(),
            count: UserCount,
        })
    }
}

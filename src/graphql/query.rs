//! Query root: thin — parse arguments, call a service, wrap the rows. Rules are declared
//! with `#[auth(…)]` (see `authql_macros::guarded`).

use async_graphql::{Context, ID, Object, Result};

use crate::auth::guards::{Authenticated, HasRole, principal};
use crate::domain::{PageArgs, Role};
use crate::graphql::errors::ApiError;
use crate::graphql::state;
use crate::graphql::types::item::{ItemCount, Prefetched};
use crate::graphql::types::store::StoreCount;
use crate::graphql::types::user::UserCount;
use crate::graphql::types::{Item, ItemConnection, Store, StoreConnection, User, UserConnection};
use crate::service::items::ItemFilter;
use crate::service::{items, stores, users};

pub struct Query;

/// A malformed id in a query names nothing: the field answers null.
fn parse_id(id: &ID) -> Option<i32> {
    id.parse().ok()
}

#[authql_macros::guarded]
#[Object]
impl Query {
    /// The caller.
    #[auth(Authenticated)]
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(principal(ctx).await?.user.clone()))
    }

    /// A user by id; null when there is no such user.
    #[auth(Authenticated)]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        let state = state(ctx)?;
        Ok(users::find(&state.db, id)
            .await
            .map_err(ApiError::from)?
            .map(User))
    }

    /// All users, oldest first.
    #[auth(HasRole(Role::Admin))]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        let state = state(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), "user", &state.cursors)
            .map_err(ApiError::from)?;
        let (rows, has_next) = users::page(&state.db, args).await.map_err(ApiError::from)?;
        Ok(UserConnection::from_page(
            rows,
            has_next,
            args,
            &state.cursors,
            UserCount,
        ))
    }

    /// A store by id; null when there is no such store. Public.
    async fn store(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Store>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(stores::find(&state(ctx)?.db, id)
            .await
            .map_err(ApiError::from)?
            .map(Store))
    }

    /// All stores, oldest first. Public.
    async fn stores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StoreConnection> {
        let state = state(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), "store", &state.cursors)
            .map_err(ApiError::from)?;
        let (rows, has_next) = stores::page(&state.db, args)
            .await
            .map_err(ApiError::from)?;
        Ok(StoreConnection::from_page(
            rows,
            has_next,
            args,
            &state.cursors,
            StoreCount,
        ))
    }

    /// An item by id; null when there is no such item. Public.
    async fn item(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Item>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(items::find(&state(ctx)?.db, id)
            .await
            .map_err(ApiError::from)?
            .map(Item::new))
    }

    /// Items, oldest first, optionally of one store and/or whose name contains `search`
    /// (ignoring case; `%` and `_` are literal). `totalCount` counts what the filters
    /// match. Public.
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        store_id: Option<ID>,
        search: Option<String>,
    ) -> Result<ItemConnection> {
        let state = state(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), "item", &state.cursors)
            .map_err(ApiError::from)?;
        let filter = ItemFilter {
            // A malformed store id matches no store.
            store_id: store_id.map(|id| parse_id(&id).unwrap_or(-1)),
            owner_id: None,
            search: search.filter(|s| !s.is_empty()),
        };
        let (rows, has_next) = items::page(&state.db, &filter, args)
            .await
            .map_err(ApiError::from)?;
        let prefetched = Prefetched::for_page(ctx, &rows).await?;
        ItemConnection::new(
            ctx,
            rows,
            has_next,
            args,
            ItemCount::Filter(filter),
            prefetched,
        )
    }
}

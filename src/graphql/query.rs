//! Query root: thin — parse arguments, call a service, wrap the rows. Rules are declared
//! with `#[auth(…)]` (see `authql_macros::guarded`).

use async_graphql::{Context, ID, Object};

use crate::domain::{AuthEventKind, PageArgs, RecentPageArgs, Role, Search};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::{ApiError, ApiResult};
use crate::graphql::guards::{
    AnyLevel, Authenticated, HasRole, SelfOrAdmin, principal, principal_any_level,
};
use crate::graphql::types::auth_event::CURSOR_KIND as EVENT_CURSOR;
use crate::graphql::types::item::{ItemCount, Prefetched};
use crate::graphql::types::store::StoreCount;
use crate::graphql::types::user::UserCount;
use crate::graphql::types::{
    AuthEventConnection, Item, ItemConnection, Session, Store, StoreConnection, User,
    UserConnection,
};
use crate::service::audit::EventFilter;
use crate::service::items::ItemFilter;
use crate::service::{audit, items, stores, users};

pub struct Query;

/// A malformed id in a query names nothing: the field answers null.
fn parse_id(id: &ID) -> Option<i32> {
    id.parse().ok()
}

#[authql_macros::guarded]
#[Object]
impl Query {
    /// The caller; a partial login (before the second factor) sees its `id`, `username`,
    /// `role`, `createdAt` and `mfaEnabled` only.
    #[auth(AnyLevel)]
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let caller = principal_any_level(ctx).await?;
        let state = ctx.state()?;
        // Deleted between the check and this read: the token names no user any more.
        let user = users::find(&state.db, caller.user_id)
            .await?
            .ok_or_else(|| {
                ApiError::InvalidToken(format!("Error loading the user {}", caller.user_id))
            })?;
        Ok(User::from(user))
    }

    /// The caller's live sessions (not ended, refresh token not expired), newest first.
    #[auth(Authenticated)]
    async fn my_sessions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Session>> {
        let caller = principal(ctx).await?;
        let current = caller.claims.sid.as_deref();
        Ok(ctx
            .state()?
            .sessions
            .list(&caller)
            .await?
            .into_iter()
            .map(|row| Session::new(row, current))
            .collect())
    }

    /// A user by id: the caller themself, or anyone for an ADMIN (null when there is no
    /// such user). A USER asking for another id — an unknown one too — is refused, so
    /// nobody can walk the ids to list users and roles.
    #[auth(SelfOrAdmin::new(&id))]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<User>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        let state = ctx.state()?;
        Ok(users::find(&state.db, id).await?.map(User::from))
    }

    /// All users, oldest first.
    #[auth(HasRole(Role::Admin))]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<UserConnection> {
        let state = ctx.state()?;
        let args = PageArgs::parse(first, after.as_deref(), "user", &state.cursors)?;
        let (rows, has_next) = users::page(&state.db, args).await?;
        Ok(UserConnection::from_page(rows, has_next, args, UserCount))
    }

    /// A store by id; null when there is no such store. Public.
    async fn store(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Store>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(stores::find(&ctx.state()?.db, id).await?.map(Store))
    }

    /// All stores, oldest first. Public.
    async fn stores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<StoreConnection> {
        let state = ctx.state()?;
        let args = PageArgs::parse(first, after.as_deref(), "store", &state.cursors)?;
        let (rows, has_next) = stores::page(&state.db, args).await?;
        Ok(StoreConnection::from_page(rows, has_next, args, StoreCount))
    }

    /// An item by id; null when there is no such item. Public.
    async fn item(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Item>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(items::find(&ctx.state()?.db, id).await?.map(Item::new))
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
    ) -> ApiResult<ItemConnection> {
        let state = ctx.state()?;
        let args = PageArgs::parse(first, after.as_deref(), "item", &state.cursors)?;
        let search = match search {
            Some(raw) => Search::parse(&raw)?.map(Search::into_inner),
            None => None,
        };
        let filter = ItemFilter {
            // A malformed store id matches no store.
            store_id: store_id.map(|id| parse_id(&id).unwrap_or(-1)),
            search,
        };
        let wanted = Prefetched::wanted(ctx);
        let (rows, owners, has_next) = if wanted.owners {
            items::page_with_owners(&state.db, state.sqlite_reads.as_deref(), &filter, args).await?
        } else {
            let (rows, has_next) =
                items::page(&state.db, state.sqlite_reads.as_deref(), &filter, args).await?;
            (rows, Vec::new(), has_next)
        };
        let prefetched = Prefetched::for_page(ctx, &rows, wanted, owners).await?;
        Ok(ItemConnection::new(
            rows,
            has_next,
            args,
            ItemCount::Filter(filter),
            prefetched,
        ))
    }

    /// The audit trail: auth events, newest first (by time, then id), of one user (the
    /// user an event is about) and/or of one kind. Events outlive the users they name.
    #[auth(HasRole(Role::Admin))]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        user_id: Option<ID>,
        kind: Option<AuthEventKind>,
    ) -> ApiResult<AuthEventConnection> {
        let state = ctx.state()?;
        let args = RecentPageArgs::parse(first, after.as_deref(), EVENT_CURSOR, &state.cursors)?;
        let filter = EventFilter {
            // A malformed user id names no user.
            user_id: user_id.map(|id| parse_id(&id).unwrap_or(-1)),
            kind,
        };
        let (rows, has_next) = audit::page(&state.db, filter, args).await?;
        Ok(AuthEventConnection::from_page(
            rows,
            has_next,
            args,
            &state.cursors,
            filter,
        ))
    }
}

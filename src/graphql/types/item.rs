use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::item;

use super::connection::{PageInfo, connection};
use super::{Decimal, Store, User};
use crate::auth::guards::Authenticated;
use crate::domain::{PageArgs, Price};
use crate::graphql::errors::ApiError;
use crate::graphql::loaders::{Loaders, PageKey};
use crate::graphql::state;
use crate::service::items::{self, ItemFilter, Parent};

/// An item of a store, owned by the user who created it.
#[derive(Clone)]
pub struct Item(pub item::Model);

/// The per-request loaders attached to the schema.
pub fn loaders<'a>(ctx: &Context<'a>) -> Result<&'a Loaders, ApiError> {
    ctx.data::<Loaders>().map_err(|_| {
        tracing::error!("BUG: Loaders are not attached to the schema");
        ApiError::Internal
    })
}

#[authql_macros::guarded]
#[Object]
impl Item {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn price(&self) -> Decimal {
        Decimal(Price::from_cents(self.0.price_cents).to_decimal())
    }

    async fn store(&self, ctx: &Context<'_>) -> Result<Store> {
        let store = loaders(ctx)?
            .stores
            .load_one(self.0.store_id)
            .await?
            .ok_or(ApiError::NotFound("Store"))?;
        Ok(Store(store))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The user who created the item.
    #[auth(Authenticated)]
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .users
            .load_one(self.0.owner_id)
            .await?
            .map(User))
    }
}

/// `totalCount` of an item connection: the filters of a top-level query, or a parent.
pub enum ItemCount {
    Filter(ItemFilter),
    Parent(Parent),
}

impl ItemCount {
    pub async fn total(&self, ctx: &Context<'_>) -> Result<i64> {
        let count = match self {
            Self::Filter(filter) => items::count(&state(ctx)?.db, filter)
                .await
                .map_err(ApiError::from)?,
            Self::Parent(parent) => loaders(ctx)?
                .item_counts
                .load_one(*parent)
                .await?
                .unwrap_or(0),
        };
        Ok(count as i64)
    }
}

connection!(ItemConnection, ItemEdge, Item, ItemCount);

impl ItemConnection {
    /// A connection over `rows` with cursors from this server.
    pub fn new(
        ctx: &Context<'_>,
        rows: Vec<item::Model>,
        has_next_page: bool,
        args: PageArgs,
        count: ItemCount,
    ) -> Result<Self> {
        let cursors = &state(ctx)?.cursors;
        Ok(Self {
            cursors: rows.iter().map(|i| cursors.encode("item", i.id)).collect(),
            nodes: rows.into_iter().map(Item).collect(),
            has_next_page,
            has_previous_page: args.after.is_some(),
            count,
        })
    }

    /// `Store.items` / `User.items`: batched across the parents of a page.
    pub async fn nested(
        ctx: &Context<'_>,
        parent: Parent,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Self> {
        let args = PageArgs::parse(first, after.as_deref(), "item", &state(ctx)?.cursors)
            .map_err(ApiError::from)?;
        let (rows, has_next) = loaders(ctx)?
            .item_pages
            .load_one(PageKey {
                parent,
                first: args.first,
                after: args.after,
            })
            .await?
            .unwrap_or_default();
        Self::new(ctx, rows, has_next, args, ItemCount::Parent(parent))
    }
}

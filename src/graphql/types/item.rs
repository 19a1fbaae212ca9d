use std::{collections::HashMap, sync::Arc};

use async_graphql::{Context, ID, Object};
use entity::{item, store, user};

use super::connection::{PageCursors, PageInfo, connection};
use super::{Decimal, Store, User};
use crate::domain::{PageArgs, Price};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::{ApiError, ApiResult};
use crate::graphql::guards::Authenticated;
use crate::graphql::loaders::{Loaders, PageKey};
use crate::graphql::types::timestamp::DateTime;
use crate::service::items::{self, ItemFilter, Parent};
use crate::service::stores;

/// An item of a store, owned by the user who created it.
#[derive(Clone)]
pub struct Item {
    pub row: item::Model,
    /// The page's stores and owners, when the page loaded them up front.
    prefetched: Option<Arc<Prefetched>>,
}

impl Item {
    pub fn new(row: item::Model) -> Self {
        Self {
            row,
            prefetched: None,
        }
    }
}

/// Stores and owners of a whole top-level page, loaded with one statement each when the
/// query selects them (look-ahead). Deterministic, unlike a DataLoader's time window;
/// nested pages still batch through the loaders across their parents.
#[derive(Default)]
pub struct Prefetched {
    stores: HashMap<i32, store::Model>,
    owners: HashMap<i32, Arc<user::Model>>,
}

impl Prefetched {
    /// Whether the page's selection shows each item's store and owner.
    pub fn wanted(ctx: &Context<'_>) -> Wanted {
        let look_ahead = ctx.look_ahead();
        let selects = |field: &str| {
            look_ahead.field("nodes").field(field).exists()
                || look_ahead
                    .field("edges")
                    .field("node")
                    .field(field)
                    .exists()
        };
        Wanted {
            stores: selects("store"),
            owners: selects("owner"),
        }
    }

    /// What the page shows: the owners already joined into the page's own statement
    /// (`owners`), the stores with one more.
    pub async fn for_page(
        ctx: &Context<'_>,
        rows: &[item::Model],
        wanted: Wanted,
        owners: Vec<user::Model>,
    ) -> ApiResult<Option<Arc<Self>>> {
        if rows.is_empty() || !(wanted.stores || wanted.owners) {
            return Ok(None);
        }
        let stores = match wanted.stores {
            true => {
                let mut ids: Vec<i32> = rows.iter().map(|row| row.store_id).collect();
                ids.sort_unstable();
                ids.dedup();
                stores::find_many(&ctx.state()?.db, &ids).await?
            }
            false => Vec::new(),
        };
        Ok(Some(Arc::new(Self {
            stores: stores.into_iter().map(|s| (s.id, s)).collect(),
            owners: owners.into_iter().map(|u| (u.id, Arc::new(u))).collect(),
        })))
    }
}

/// What a page of items shows besides the items.
#[derive(Clone, Copy)]
pub struct Wanted {
    pub stores: bool,
    pub owners: bool,
}

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
        ID(self.row.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    async fn price(&self) -> Decimal {
        Decimal(Price::from_cents(self.row.price_cents).to_decimal())
    }

    async fn store(&self, ctx: &Context<'_>) -> ApiResult<Store> {
        let prefetched = self.prefetched.as_ref();
        if let Some(store) = prefetched.and_then(|p| p.stores.get(&self.row.store_id)) {
            return Ok(Store(store.clone()));
        }
        // Boxed, like the owner's: see `owner`.
        let store = Box::pin(loaders(ctx)?.stores.load_one(self.row.store_id))
            .await?
            .ok_or(ApiError::NotFound("Store"))?;
        Ok(Store(store))
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.row.created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.row.updated_at)
    }

    /// The user who created the item.
    #[auth(Authenticated)]
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let prefetched = self.prefetched.as_ref();
        if let Some(owner) = prefetched.and_then(|p| p.owners.get(&self.row.owner_id)) {
            return Ok(Some(User(owner.clone())));
        }
        // Boxed: async-graphql runs every field of an item as one future sized for its
        // largest field; a DataLoader's await inline would make `id` and `name` as large.
        Ok(Box::pin(loaders(ctx)?.users.load_one(self.row.owner_id))
            .await?
            .map(User::from))
    }
}

/// `totalCount` of an item connection: the filters of a top-level query, or a parent.
pub enum ItemCount {
    Filter(ItemFilter),
    Parent(Parent),
}

impl ItemCount {
    pub async fn total(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let count = match self {
            Self::Filter(filter) => items::count(&ctx.state()?.db, filter).await?,
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
        rows: Vec<item::Model>,
        has_next_page: bool,
        args: PageArgs,
        count: ItemCount,
        prefetched: Option<Arc<Prefetched>>,
    ) -> Self {
        Self {
            cursors: PageCursors::Ids {
                kind: "item",
                ids: rows.iter().map(|row| row.id).collect(),
            },
            nodes: rows
                .into_iter()
                .map(|row| Item {
                    row,
                    prefetched: prefetched.clone(),
                })
                .collect(),
            has_next_page,
            has_previous_page: args.after.is_some(),
            count,
        }
    }

    /// `Store.items` / `User.items`: batched across the parents of a page.
    pub async fn nested(
        ctx: &Context<'_>,
        parent: Parent,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Self> {
        let args = PageArgs::parse(first, after.as_deref(), "item", &ctx.state()?.cursors)?;
        let (rows, has_next) = loaders(ctx)?
            .item_pages
            .load_one(PageKey {
                parent,
                first: args.first,
                after: args.after,
            })
            .await?
            .unwrap_or_default();
        Ok(Self::new(
            rows,
            has_next,
            args,
            ItemCount::Parent(parent),
            None,
        ))
    }
}

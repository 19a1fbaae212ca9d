use async_graphql::{Context, ID, Object};
use entity::store;

use super::connection::{PageInfo, connection};
use super::item::ItemConnection;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::ApiResult;
use crate::graphql::types::timestamp::DateTime;
use crate::service::{items::Parent, stores};

/// A store; its items are public.
#[derive(Clone)]
pub struct Store(pub store::Model);

#[Object]
impl Store {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// The store's items, oldest first.
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ItemConnection> {
        ItemConnection::nested(ctx, Parent::Store(self.0.id), first, after).await
    }
}

/// `totalCount` of the stores connection.
pub struct StoreCount;

impl StoreCount {
    pub async fn total(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        let state = ctx.state()?;
        Ok(stores::count(&state.db).await? as i64)
    }
}

connection!(
    StoreConnection, StoreEdge, Store, StoreCount,
    rows: store::Model => Store,
    cursor: "store"
);

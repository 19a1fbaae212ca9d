//! DataLoaders for relations reached per row (`Item.store`, `Item.owner`, nested item
//! connections and their counts), so a page costs a handful of statements, not one per row.
//!
//! They keep no cache (async-graphql's default `NoCache`): each load hits the database,
//! batched with the other loads of the same tick, so a role change or deletion is seen by
//! the very next request even though the loaders live in the schema data.

use std::{collections::HashMap, time::Duration};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{item, store, user};
use sea_orm::DatabaseConnection;

use crate::domain::PageArgs;
use crate::graphql::errors::ApiError;
use crate::service::items::{self, Parent};
use crate::service::{stores, users};

/// All loaders, attached to the schema.
pub struct Loaders {
    pub stores: DataLoader<StoreLoader>,
    pub users: DataLoader<UserLoader>,
    pub item_pages: DataLoader<ItemPageLoader>,
    pub item_counts: DataLoader<ItemCountLoader>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        let delay = Duration::from_millis(2);
        Self {
            stores: DataLoader::new(StoreLoader(db.clone()), tokio::spawn).delay(delay),
            users: DataLoader::new(UserLoader(db.clone()), tokio::spawn).delay(delay),
            item_pages: DataLoader::new(ItemPageLoader(db.clone()), tokio::spawn).delay(delay),
            item_counts: DataLoader::new(ItemCountLoader(db.clone()), tokio::spawn).delay(delay),
        }
    }
}

pub struct StoreLoader(DatabaseConnection);

impl Loader<i32> for StoreLoader {
    type Value = store::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = stores::find_many(&self.0, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

pub struct UserLoader(DatabaseConnection);

impl Loader<i32> for UserLoader {
    type Value = user::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[i32]) -> Result<HashMap<i32, Self::Value>, Self::Error> {
        let rows = users::find_many(&self.0, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// A nested page: its parent and paging arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub parent: Parent,
    pub first: u64,
    pub after: Option<i32>,
}

pub struct ItemPageLoader(DatabaseConnection);

impl Loader<PageKey> for ItemPageLoader {
    type Value = (Vec<item::Model>, bool);
    type Error = ApiError;

    async fn load(&self, keys: &[PageKey]) -> Result<HashMap<PageKey, Self::Value>, Self::Error> {
        // One statement per (parent kind, first, after) group; usually just one.
        let mut groups: HashMap<(bool, u64, Option<i32>), Vec<Parent>> = HashMap::new();
        for key in keys {
            let is_store = matches!(key.parent, Parent::Store(_));
            groups
                .entry((is_store, key.first, key.after))
                .or_default()
                .push(key.parent);
        }
        let mut result = HashMap::new();
        for ((_, first, after), parents) in groups {
            let pages =
                items::pages_by_parent(&self.0, &parents, PageArgs { first, after }).await?;
            for (parent, page) in pages {
                result.insert(
                    PageKey {
                        parent,
                        first,
                        after,
                    },
                    page,
                );
            }
        }
        Ok(result)
    }
}

pub struct ItemCountLoader(DatabaseConnection);

impl Loader<Parent> for ItemCountLoader {
    type Value = u64;
    type Error = ApiError;

    async fn load(&self, keys: &[Parent]) -> Result<HashMap<Parent, u64>, Self::Error> {
        let (by_store, by_owner): (Vec<Parent>, Vec<Parent>) = keys
            .iter()
            .partition(|parent| matches!(parent, Parent::Store(_)));
        let mut counts = items::count_by_parent(&self.0, &by_store).await?;
        counts.extend(items::count_by_parent(&self.0, &by_owner).await?);
        Ok(counts)
    }
}

//! The catalogue's write workflows — stores and items. Each runs in one transaction with
//! its data notice (so every instance's response cache hears of it: API.md Tokens, "at
//! once"), moves this instance's data version before answering, then publishes its item
//! events. The row-level writes they use are private to `service`: a resolver has no way
//! to write a store or an item but through these.

use entity::{item, store};

use super::items::{self, ItemChanges, NewItem, Parent};
use super::revocations::Revocations;
use super::{ServiceResult, stores};
use crate::domain::Name;
use crate::events::{EventBus, ItemEvent};
use sea_orm::DatabaseConnection;

/// Stores and items, written; cheap to clone, built once at start.
#[derive(Clone)]
pub struct Catalogue {
    db: DatabaseConnection,
    revocations: Revocations,
    events: EventBus,
}

impl Catalogue {
    pub fn new(db: DatabaseConnection, revocations: Revocations, events: EventBus) -> Self {
        Self {
            db,
            revocations,
            events,
        }
    }

    /// A new store; a taken name (ignoring case) is refused by the unique index.
    pub async fn create_store(&self, name: &Name) -> ServiceResult<store::Model> {
        self.revocations
            .write_data(&self.db, async |txn| stores::create(txn, name).await)
            .await
    }

    /// Deletes a store and its items, one `DELETED` event per item.
    pub async fn delete_store(&self, id: i32) -> ServiceResult<()> {
        let deleted = self
            .revocations
            .write_data(&self.db, async |txn| {
                let deleted = items::delete_all_of(txn, Parent::Store(id)).await?;
                stores::delete(txn, id).await?;
                Ok(deleted)
            })
            .await?;
        self.events.publish(deleted_events(&deleted)).await;
        Ok(())
    }

    /// A new item (`CREATED`).
    pub async fn create_item(&self, new: NewItem) -> ServiceResult<item::Model> {
        let item = self
            .revocations
            .write_data(&self.db, async |txn| items::create(txn, new).await)
            .await?;
        self.events.publish(vec![ItemEvent::created(&item)]).await;
        Ok(item)
    }

    /// Applies `changes` to `item`, whose ownership rule a guard already checked
    /// (`UPDATED`); gone meanwhile: `NOT_FOUND`.
    pub async fn update_item(
        &self,
        item: item::Model,
        changes: ItemChanges,
    ) -> ServiceResult<item::Model> {
        let item = self
            .revocations
            .write_data(&self.db, async |txn| {
                items::update(txn, item, changes).await
            })
            .await?;
        self.events.publish(vec![ItemEvent::updated(&item)]).await;
        Ok(item)
    }

    /// Deletes `item`, whose ownership rule a guard already checked (`DELETED`).
    pub async fn delete_item(&self, item: &item::Model) -> ServiceResult<()> {
        self.revocations
            .write_data(&self.db, async |txn| items::delete(txn, item.id).await)
            .await?;
        self.events
            .publish(deleted_events(std::slice::from_ref(item)))
            .await;
        Ok(())
    }
}

/// One `DELETED` event per removed item.
pub(super) fn deleted_events(deleted: &[item::Model]) -> Vec<ItemEvent> {
    deleted
        .iter()
        .map(|item| ItemEvent::deleted(item.id, item.store_id))
        .collect()
}

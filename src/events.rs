//! The item event bus behind `Subscription.itemEvents`. In-process it is a tokio broadcast
//! channel; on PostgreSQL, events are published with `NOTIFY` and every instance (this one
//! included) re-broadcasts what its `LISTEN` connection receives, so a subscriber on any
//! instance sees an event raised on any other.

use chrono::{DateTime, Utc};
use entity::item;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The PostgreSQL channel events travel on.
const CHANNEL: &str = "authql_item_events";
/// The largest payload sent whole: `NOTIFY` refuses 8,000 bytes and more.
const MAX_PAYLOAD: usize = 7_900;
/// Events a slow subscriber may fall behind by before it skips ahead.
const CAPACITY: usize = 1024;

/// What happened to an item.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemEventKind {
    Created,
    Updated,
    Deleted,
}

/// One change to one item. `item` is the row after the change (`None` for `Deleted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemEvent {
    pub kind: ItemEventKind,
    pub item_id: i32,
    pub store_id: i32,
    pub item: Option<EventItem>,
}

/// `item::Model` on the wire between instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventItem {
    pub id: i32,
    pub store_id: i32,
    pub owner_id: i32,
    pub name: String,
    pub description: Option<String>,
    pub price_cents: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&item::Model> for EventItem {
    fn from(row: &item::Model) -> Self {
        Self {
            id: row.id,
            store_id: row.store_id,
            owner_id: row.owner_id,
            name: row.name.clone(),
            description: row.description.clone(),
            price_cents: row.price_cents,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<EventItem> for item::Model {
    fn from(item: EventItem) -> Self {
        Self {
            id: item.id,
            store_id: item.store_id,
            owner_id: item.owner_id,
            name_lower: item.name.to_lowercase(),
            name: item.name,
            description: item.description,
            price_cents: item.price_cents,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

impl ItemEvent {
    pub fn created(row: &item::Model) -> Self {
        Self::with_item(ItemEventKind::Created, row)
    }

    pub fn updated(row: &item::Model) -> Self {
        Self::with_item(ItemEventKind::Updated, row)
    }

    pub fn deleted(item_id: i32, store_id: i32) -> Self {
        Self {
            kind: ItemEventKind::Deleted,
            item_id,
            store_id,
            item: None,
        }
    }

    fn with_item(kind: ItemEventKind, row: &item::Model) -> Self {
        Self {
            kind,
            item_id: row.id,
            store_id: row.store_id,
            item: Some(row.into()),
        }
    }
}

/// An event as a `NOTIFY` payload. One that would not fit (a 2,000-character description
/// alone may take 8,000 bytes) travels without its item, marked `reread`: each instance
/// then reads the item once from the database before fanning the event out.
#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(flatten)]
    event: ItemEvent,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reread: bool,
}

impl Payload {
    fn encode(event: ItemEvent) -> serde_json::Result<String> {
        let whole = serde_json::to_string(&Payload {
            event,
            reread: false,
        })?;
        if whole.len() <= MAX_PAYLOAD {
            return Ok(whole);
        }
        let Payload { mut event, .. } = serde_json::from_str(&whole)?;
        event.item = None;
        serde_json::to_string(&Payload {
            event,
            reread: true,
        })
    }

    /// The event whole: a reread item is read now (it may have changed since; a deleted
    /// one leaves the event without its item).
    async fn decode(text: &str, db: &DatabaseConnection) -> Result<ItemEvent, String> {
        let Payload { mut event, reread } =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        if reread {
            event.item = item::Entity::find_by_id(event.item_id)
                .one(db)
                .await
                .map_err(|e| e.to_string())?
                .as_ref()
                .map(EventItem::from);
        }
        Ok(event)
    }
}

/// Publishes and fans out item events; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<ItemEvent>,
    /// Set on PostgreSQL: publish through `NOTIFY` instead of the local channel.
    notify: Option<DatabaseConnection>,
}

impl EventBus {
    /// An in-process bus; on PostgreSQL also starts the `LISTEN` task.
    pub async fn start(
        db: &DatabaseConnection,
        database_url: &str,
    ) -> Result<Self, sea_orm::sqlx::Error> {
        let (sender, _) = broadcast::channel(CAPACITY);
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(Self {
                sender,
                notify: None,
            });
        }
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect(database_url).await?;
        listener.listen(CHANNEL).await?;
        let fan_out = sender.clone();
        let reader = db.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        match Payload::decode(notification.payload(), &reader).await {
                            Ok(event) => {
                                let _ = fan_out.send(event);
                            }
                            Err(error) => tracing::warn!(%error, "unreadable item event"),
                        }
                    }
                    // PgListener reconnects by itself on the next recv.
                    Err(error) => {
                        tracing::warn!(%error, "item event listener error");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self {
            sender,
            notify: Some(db.clone()),
        })
    }

    /// Publishes after the change is committed. A failure to publish is logged, never
    /// turned into a failed mutation: the write itself succeeded.
    pub async fn publish(&self, events: Vec<ItemEvent>) {
        for event in events {
            match &self.notify {
                None => {
                    let _ = self.sender.send(event);
                }
                Some(db) => {
                    let payload = match Payload::encode(event) {
                        Ok(payload) => payload,
                        Err(error) => {
                            tracing::error!(%error, "cannot serialize item event");
                            continue;
                        }
                    };
                    let statement = Statement::from_sql_and_values(
                        DatabaseBackend::Postgres,
                        "SELECT pg_notify($1, $2)",
                        [CHANNEL.into(), payload.into()],
                    );
                    if let Err(error) = db.execute_raw(statement).await {
                        tracing::error!(%error, "cannot publish item event");
                    }
                }
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ItemEvent> {
        self.sender.subscribe()
    }
}

//! Subscription root: `itemEvents`, fed by the event bus. The connection's token comes from
//! `connection_init` (see `http::ws`); without one, subscribing answers
//! `AUTHORIZATION_REQUIRED`.

use async_graphql::{Context, ID, Object, Subscription as SubscriptionRoot};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::events::{ItemEvent, ItemEventKind};
use crate::graphql::context::ContextExt;
use crate::graphql::guards::Authenticated;
use crate::graphql::types::Item;

pub struct Subscription;

/// A change to an item; `item` is null for `DELETED`.
pub struct ItemEventObject(ItemEvent);

#[Object(name = "ItemEvent")]
impl ItemEventObject {
    async fn kind(&self) -> ItemEventKind {
        self.0.kind
    }

    async fn item_id(&self) -> ID {
        ID(self.0.item_id.to_string())
    }

    async fn item(&self) -> Option<Item> {
        self.0.item.clone().map(|item| Item::new(item.into()))
    }
}

#[authql_macros::guarded]
#[SubscriptionRoot]
impl Subscription {
    /// Items created, updated and deleted from now on, optionally of one store (deleting a
    /// store or a user sends one `DELETED` per item).
    #[auth(Authenticated)]
    async fn item_events(
        &self,
        ctx: &Context<'_>,
        store_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = ItemEventObject> + use<>> {
        // A malformed store id matches no store.
        let store = store_id.map(|id| id.parse::<i32>().unwrap_or(-1));
        let receiver = ctx.state()?.events.subscribe();
        // Listening from here on: a `ping` after the `subscribe` may be answered.
        ctx.mark_live();
        Ok(futures_util::stream::unfold(
            receiver,
            move |mut receiver| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) if store.is_none_or(|s| s == event.store_id) => {
                            return Some((ItemEventObject(event), receiver));
                        }
                        Ok(_) => continue,
                        // A subscriber that fell behind skips ahead rather than dying.
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "item event subscriber lagged");
                            continue;
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}

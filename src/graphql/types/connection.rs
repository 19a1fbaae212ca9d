//! Relay connections (`edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`). The
//! count is resolved only when asked for, through the per-request loaders.

use async_graphql::{Context, SimpleObject};

use crate::graphql::context::ContextExt;
use crate::graphql::errors::ApiResult;

/// Relay `PageInfo`.
#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn new(
        ctx: &Context<'_>,
        cursors: &PageCursors,
        has_next_page: bool,
        has_previous_page: bool,
    ) -> ApiResult<Self> {
        Ok(Self {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.at(ctx, 0)?,
            end_cursor: match cursors.len() {
                0 => None,
                n => cursors.at(ctx, n - 1)?,
            },
        })
    }
}

/// The cursors of a page's nodes, made only when a client asks for them: each is an HMAC,
/// most clients page through `nodes` and `pageInfo`, and making all of them for every page
/// took 5 % of the cache-missed read's CPU (docs/benchmarks.md).
pub enum PageCursors {
    /// Cursors of kind `kind` over the nodes' ids, for lists ordered by id.
    Ids { kind: &'static str, ids: Vec<i32> },
    /// Made already (the audit trail's places).
    Made(Vec<String>),
}

impl PageCursors {
    /// The cursor of the node at `index`.
    fn at(&self, ctx: &Context<'_>, index: usize) -> ApiResult<Option<String>> {
        Ok(match self {
            Self::Ids { kind, ids } => match ids.get(index) {
                Some(id) => Some(ctx.state()?.cursors.encode(kind, *id)),
                None => None,
            },
            Self::Made(cursors) => cursors.get(index).cloned(),
        })
    }

    pub fn all(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        Ok(match self {
            Self::Ids { kind, ids } => {
                let codec = &ctx.state()?.cursors;
                ids.iter().map(|id| codec.encode(kind, *id)).collect()
            }
            Self::Made(cursors) => cursors.clone(),
        })
    }

    fn len(&self) -> usize {
        match self {
            Self::Ids { ids, .. } => ids.len(),
            Self::Made(cursors) => cursors.len(),
        }
    }
}

/// Defines `<Node>Connection` and `<Node>Edge` for one node type. The second form also
/// gives the connection `from_page`, which wraps a page of entity rows (anything with an
/// `id: i32`) and issues their cursors of kind `$kind`.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty, $count:ty, rows: $row:ty => $wrap:path, cursor: $kind:literal) => {
        connection!($connection, $edge, $node, $count);

        impl $connection {
            /// A page of `rows` with cursors from this server.
            pub fn from_page(
                rows: Vec<$row>,
                has_next_page: bool,
                args: crate::domain::PageArgs,
                count: $count,
            ) -> Self {
                Self {
                    cursors: $crate::graphql::types::connection::PageCursors::Ids {
                        kind: $kind,
                        ids: rows.iter().map(|row| row.id).collect(),
                    },
                    nodes: rows.into_iter().map($wrap).collect(),
                    has_next_page,
                    has_previous_page: args.after.is_some(),
                    count,
                }
            }
        }
    };
    ($connection:ident, $edge:ident, $node:ty, $count:ty) => {
        /// A page of nodes with Relay cursors.
        pub struct $connection {
            pub nodes: Vec<$node>,
            pub cursors: $crate::graphql::types::connection::PageCursors,
            pub has_next_page: bool,
            pub has_previous_page: bool,
            pub count: $count,
        }

        /// One node with its cursor.
        pub struct $edge {
            node: $node,
            cursor: String,
        }

        #[async_graphql::Object]
        impl $edge {
            async fn cursor(&self) -> &str {
                &self.cursor
            }

            async fn node(&self) -> &$node {
                &self.node
            }
        }

        #[async_graphql::Object]
        impl $connection {
            async fn edges(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> crate::graphql::errors::ApiResult<Vec<$edge>> {
                Ok(self
                    .nodes
                    .iter()
                    .zip(self.cursors.all(ctx)?)
                    .map(|(node, cursor)| $edge {
                        node: node.clone(),
                        cursor,
                    })
                    .collect())
            }

            async fn nodes(&self) -> &[$node] {
                &self.nodes
            }

            async fn page_info(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> crate::graphql::errors::ApiResult<PageInfo> {
                PageInfo::new(
                    ctx,
                    &self.cursors,
                    self.has_next_page,
                    self.has_previous_page,
                )
            }

            /// How many nodes the filters match, across all pages.
            async fn total_count(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> crate::graphql::errors::ApiResult<i64> {
                // Boxed: a database count inline would size every field's future of the
                // connection (`nodes` included) for it.
                Box::pin(self.count.total(ctx)).await
            }
        }
    };
}

pub(crate) use connection;

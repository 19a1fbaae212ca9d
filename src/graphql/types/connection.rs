//! Relay connections (`edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`). The
//! count is resolved only when asked for, through the per-request loaders.

use async_graphql::SimpleObject;

/// Relay `PageInfo`.
#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn new(cursors: &[String], has_next_page: bool, has_previous_page: bool) -> Self {
        Self {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
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
                cursors: &crate::domain::CursorCodec,
                count: $count,
            ) -> Self {
                Self {
                    cursors: rows
                        .iter()
                        .map(|row| cursors.encode($kind, row.id))
                        .collect(),
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
            pub cursors: Vec<String>,
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
            async fn edges(&self) -> Vec<$edge> {
                self.nodes
                    .iter()
                    .zip(&self.cursors)
                    .map(|(node, cursor)| $edge {
                        node: node.clone(),
                        cursor: cursor.clone(),
                    })
                    .collect()
            }

            async fn nodes(&self) -> &[$node] {
                &self.nodes
            }

            async fn page_info(&self) -> PageInfo {
                PageInfo::new(&self.cursors, self.has_next_page, self.has_previous_page)
            }

            /// How many nodes the filters match, across all pages.
            async fn total_count(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> crate::graphql::errors::ApiResult<i64> {
                self.count.total(ctx).await
            }
        }
    };
}

pub(crate) use connection;

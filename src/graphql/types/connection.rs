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

/// Defines `<Node>Connection` and `<Node>Edge` for one node type.
macro_rules! connection {
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
            ) -> async_graphql::Result<i64> {
                self.count.total(ctx).await
            }
        }
    };
}

pub(crate) use connection;

/// The complexity of a connection: its subtree counted once per requested node (`first`,
/// default 20, within 1–100). Saturating and capped, so absurd nesting is simply "too
/// complex" instead of overflowing async-graphql's arithmetic.
pub fn weigh(first: Option<i32>, child_complexity: usize) -> usize {
    const CAP: usize = 1 << 40;
    let first = first.unwrap_or(20).clamp(1, 100) as usize;
    first.saturating_mul(child_complexity).min(CAP)
}

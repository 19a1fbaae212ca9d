//! Which operations the response cache (`http::response_cache`) may keep: queries whose
//! root fields answer only from data every write announces (stores, items, users — see
//! `service::revocations::Notice::Data`) and from who is asking. Everything else always
//! executes: mutations, subscriptions, `mySessions` (its `lastUsedAt` and `current` move
//! without a notice), and any root field not listed here — a new field stays uncached
//! until someone decides it is safe to cache.

use std::collections::HashSet;

use async_graphql::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};

/// Root fields whose answers change only through announced writes.
const CACHEABLE_ROOTS: &[&str] = &[
    "me",
    "user",
    "users",
    "store",
    "stores",
    "item",
    "items",
    "__typename",
    "__schema",
    "__type",
];

/// Whether the operation the request selects is a query of cacheable root fields only.
/// An operation that cannot be told for sure (several operations and no name, say) is not.
pub fn is_cacheable(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let Some(operation) = selected_operation(document, operation_name) else {
        return false;
    };
    operation.node.ty == OperationType::Query
        && roots_cacheable(
            document,
            &operation.node.selection_set.node,
            &mut HashSet::new(),
        )
}

/// The operation a request runs: the named one, or the only one when no name is given;
/// `None` when that cannot be told (async-graphql then refuses the request).
pub fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, operation)| operation),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        _ => None,
    }
}

/// The name of the operation a request runs; `None` when it is anonymous or cannot be
/// told. A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`), so it is safe on a log line.
pub fn selected_operation_name<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a str> {
    let DocumentOperations::Multiple(operations) = &document.operations else {
        return None;
    };
    match operation_name {
        Some(wanted) => operations.keys().find(|name| name.as_str() == wanted),
        None if operations.len() == 1 => operations.keys().next(),
        None => None,
    }
    .map(|name| name.as_str())
}

/// The root fields of `set`, through fragments (each fragment looked at once: a cycle is
/// a validation error the executor reports, not a loop here).
fn roots_cacheable<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> bool {
    set.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => CACHEABLE_ROOTS.contains(&field.node.name.node.as_str()),
        Selection::InlineFragment(fragment) => {
            roots_cacheable(document, &fragment.node.selection_set.node, seen)
        }
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            if !seen.insert(name) {
                return true;
            }
            match document.fragments.get(name) {
                Some(fragment) => {
                    roots_cacheable(document, &fragment.node.selection_set.node, seen)
                }
                None => false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cacheable(query: &str, name: Option<&str>) -> bool {
        is_cacheable(&async_graphql::parser::parse_query(query).unwrap(), name)
    }

    #[test]
    fn queries_of_listed_roots_only() {
        assert!(cacheable("{ items { nodes { id } } me { id } }", None));
        assert!(cacheable(
            "query Q { ...F } fragment F on Query { users { totalCount } }",
            Some("Q")
        ));
        assert!(!cacheable(
            "{ items { totalCount } mySessions { id } }",
            None
        ));
        assert!(!cacheable("{ ... on Query { mySessions { id } } }", None));
        assert!(!cacheable(
            "{ ...F } fragment F on Query { mySessions { id } }",
            None
        ));
        assert!(!cacheable("mutation { logout }", None));
        assert!(!cacheable("subscription { itemEvents { kind } }", None));
        assert!(!cacheable("{ unknownField }", None));
    }

    #[test]
    fn the_operation_must_be_known_for_sure() {
        let two = "query A { items { totalCount } } query B { mySessions { id } }";
        assert!(cacheable(two, Some("A")));
        assert!(!cacheable(two, Some("B")));
        assert!(!cacheable(two, None));
        assert!(!cacheable(two, Some("C")));
        assert!(!cacheable("{ items { totalCount } }", Some("A")));
        assert!(cacheable(
            "{ ...F } fragment F on Query { ...F items { totalCount } }",
            None
        ));
    }
}

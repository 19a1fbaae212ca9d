//! Parsed documents, kept by their exact text. Clients send the same few documents over
//! and over (with other variables), and parsing one cost ~7 % of a cache-missed read's CPU
//! (docs/benchmarks.md). Only what the text alone decides is kept: the document, where it
//! passes variables to arguments, and which of its operations passed async-graphql's
//! validation. Limits and the operation to run are decided per request. A document that
//! does not parse is not kept.
//!
//! Validation against a fixed schema depends on the request only through its variables:
//! their values where they meet arguments, and the complexity and depth they lead to. An
//! operation that was validated and executed once is then checked for those alone, as a
//! trusted document is (`Prevalidated`, vendor/README.md patch 3) — the rest of the rules
//! cost ~6 % of a cache-missed read's CPU (docs/benchmarks.md).
//!
//! Bounded: at most [`MAX_BYTES`] of document text, a document longer than
//! [`MAX_DOCUMENT_BYTES`] is never kept, and when full everything is dropped (a flood of
//! distinct documents costs their parsing, as without this).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::parser::{self, types::ExecutableDocument};

use crate::graphql::error_codes::VariableArguments;

/// Document text kept at most, in bytes.
pub const MAX_BYTES: usize = 4 << 20;
/// The longest document kept.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 10;

/// A parsed document and what its text alone decides.
pub struct Parsed {
    pub document: ExecutableDocument,
    pub variables: VariableArguments,
    /// The operations (by the request's `operationName`) that passed validation.
    validated: Mutex<Vec<Option<String>>>,
}

impl Parsed {
    pub fn new(document: ExecutableDocument) -> Self {
        Self {
            variables: VariableArguments::of(&document),
            document,
            validated: Mutex::default(),
        }
    }

    /// Whether `operation` passed validation before: what depends on no variable holds.
    pub fn validated(&self, operation: Option<&str>) -> bool {
        lock(&self.validated)
            .iter()
            .any(|name| name.as_deref() == operation)
    }

    /// `operation` passed validation (it executed).
    pub fn mark_validated(&self, operation: Option<&str>) {
        let mut validated = lock(&self.validated);
        if !validated.iter().any(|name| name.as_deref() == operation) {
            validated.push(operation.map(str::to_owned));
        }
    }
}

/// The value stays whole whatever a panicking holder did: take it as it is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub struct Documents {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    bytes: usize,
    parsed: HashMap<String, Arc<Parsed>>,
}

impl Documents {
    /// `query` parsed, from memory when it was parsed before.
    pub fn parse(&self, query: &str) -> Result<Arc<Parsed>, parser::Error> {
        if let Some(parsed) = self.lock().parsed.get(query) {
            return Ok(parsed.clone());
        }
        let parsed = Arc::new(Parsed::new(parser::parse_query(query)?));
        if query.len() <= MAX_DOCUMENT_BYTES {
            let mut inner = self.lock();
            if inner.bytes + query.len() > MAX_BYTES {
                inner.parsed.clear();
                inner.bytes = 0;
            }
            if inner
                .parsed
                .insert(query.to_owned(), parsed.clone())
                .is_none()
            {
                inner.bytes += query.len();
            }
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_a_bad_one_never_kept() {
        let documents = Documents::default();
        let first = documents.parse("{ items { totalCount } }").unwrap();
        let again = documents.parse("{ items { totalCount } }").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(documents.parse("{ items {").is_err());
        assert_eq!(documents.lock().parsed.len(), 1);
    }

    #[test]
    fn memory_stays_bounded() {
        let documents = Documents::default();
        let long = format!("{{ __typename }} # {}", "x".repeat(MAX_DOCUMENT_BYTES));
        documents.parse(&long).unwrap();
        assert_eq!(
            documents.lock().bytes,
            0,
            "an overlong document is not kept"
        );
        let filler = "y".repeat(MAX_DOCUMENT_BYTES - 40);
        for i in 0..(MAX_BYTES / MAX_DOCUMENT_BYTES + 4) {
            documents
                .parse(&format!("{{ __typename }} # {i} {filler}"))
                .unwrap();
            assert!(documents.lock().bytes <= MAX_BYTES);
        }
    }
}

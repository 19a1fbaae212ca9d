//! The response cache (`RESPONSE_CACHE`, on by default): a repeated query is answered from
//! memory only when the answer is exactly what executing it would give now.
//!
//! - **What**: a single query over HTTP (`POST` body or `GET` query string, byte for
//!   byte) whose root fields are all cacheable (`graphql::cacheable`), answered without
//!   cookies, and without errors (but for an anonymous caller's guard refusals).
//! - **For whom**: an answer whose execution never read the credential is the same for
//!   everyone ([`Class::Public`]); an answer to a caller who presented no credential, whose
//!   only errors are the guards' `AUTHORIZATION_REQUIRED`, is the same for every such
//!   caller ([`Class::Anonymous`]); any other is kept for the principal it was computed
//!   for — user, role of the moment and freshness ([`Class::Principal`]). A lookup of the
//!   latter verifies the presented token first (signature, expiry, revocation, current
//!   role, all from memory), so a revoked, demoted or deleted caller never matches.
//! - **Until when**: every write of data an answer can show (stores, items, users)
//!   commits with a data notice and moves `Revocations::data_version` — on the writing
//!   instance before its response is sent, on the others when the notice arrives (API.md
//!   Tokens: within 1 s). Answers are kept under the version they were computed at: the
//!   version read *before* executing, so an answer that raced a write is never kept.
//!   While an instance may be missing notices, its view resets and the version moves.
//! - **How much**: at most [`MAX_BYTES`] of memory, counted as the process pays it: each
//!   entry's request and answer in allocations of their own (a request received is a
//!   slice of the connection's read buffer, which keeping it would pin whole; an answer
//!   serialized into a growing vector has spare capacity), plus [`ENTRY_OVERHEAD`] for
//!   the map's slot and the allocator's headers. An answer larger than
//!   [`MAX_ENTRY_BYTES`] is not kept. When full, everything is dropped (a flood of
//!   distinct queries costs their execution, never a wrong answer).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use axum::body::Bytes;

use crate::domain::Role;
use crate::service::principal::Principal;
use crate::service::revocations::Revocations;

/// Requests and answers kept at most, in bytes.
pub const MAX_BYTES: usize = 8 << 20;
/// The largest request plus answer kept.
pub const MAX_ENTRY_BYTES: usize = 256 << 10;
/// What an entry costs besides its request and answer bytes: its slot in the map (key,
/// class, answer: ~100 bytes, at the map's load factor), the allocator's header and
/// rounding of the two byte allocations and of the operation's name.
pub const ENTRY_OVERHEAD: usize = 256;

/// Whose answer an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// The execution never read the credential: the answer is everyone's.
    Public,
    /// The caller presented no credential, and the answer holds the guards' refusals
    /// (`AUTHORIZATION_REQUIRED`, the same for every such caller: the anonymous page with
    /// owners). Served only to callers who present nothing — never to one whose token
    /// failed, who must get that token's error.
    Anonymous,
    /// Computed for this principal: the same user with the same role, freshness, level
    /// and second factor (or lack of one) gets the same answer. Enabling or disabling a
    /// factor changes the class, so the user's earlier answers are never served again.
    Principal {
        user_id: i32,
        role: Role,
        fresh: bool,
        aal: u8,
        mfa_enabled: bool,
    },
}

impl Class {
    pub fn of(principal: &Principal) -> Self {
        Self::Principal {
            user_id: principal.user_id,
            role: principal.role,
            fresh: principal.claims.fresh,
            aal: principal.aal(),
            mfa_enabled: principal.mfa_enabled,
        }
    }
}

/// The request as received: a `POST` body, or a `GET` query string behind `?` (which no
/// JSON body starts with).
pub type RequestKey = Bytes;

#[derive(PartialEq, Eq, Hash)]
struct Key {
    request: RequestKey,
    class: Class,
}

impl Key {
    fn new(request: &RequestKey, class: Class) -> Self {
        Self {
            request: request.clone(),
            class,
        }
    }
}

/// Cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    view: Revocations,
    inner: Arc<RwLock<Inner>>,
}

/// A kept answer: the response body, the name of the operation that produced it (for the
/// log line of a request it answers), and whether it holds the guards' refusals (an
/// anonymous answer: each request it answers counts an `AUTHORIZATION_REQUIRED`, as if
/// executed).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub body: Bytes,
    pub operation: Option<Arc<str>>,
    pub refused: bool,
}

#[derive(Default)]
struct Inner {
    /// The data version every entry was computed at.
    version: u64,
    entries: HashMap<Key, Answer>,
    /// Whether some entry of a request is for a principal (so a lookup must verify one).
    for_principals: HashSet<RequestKey>,
    bytes: usize,
}

impl Inner {
    fn clear(&mut self, version: u64) {
        self.version = version;
        self.entries.clear();
        self.for_principals.clear();
        self.bytes = 0;
    }

    fn lookup(&self, current: u64, request: &RequestKey) -> Lookup {
        if self.version != current {
            return Lookup::Miss;
        }
        match self.entries.get(&Key::new(request, Class::Public)) {
            Some(answer) => Lookup::Hit(answer.clone()),
            None if self.for_principals.contains(request) => Lookup::TryPrincipal,
            None => Lookup::Miss,
        }
    }

    fn get(&self, current: u64, request: &RequestKey, class: Class) -> Option<Answer> {
        if self.version != current {
            return None;
        }
        self.entries.get(&Key::new(request, class)).cloned()
    }

    /// Keeps the answer unless data changed since `version` (`current` is the version now).
    fn put(
        &mut self,
        current: u64,
        version: u64,
        request: RequestKey,
        class: Class,
        answer: Answer,
    ) {
        let size = entry_size(&request, &answer);
        if version != current || size > MAX_ENTRY_BYTES {
            return;
        }
        if self.version != current || self.bytes + size > MAX_BYTES {
            self.clear(current);
        }
        let request_len = request.len();
        if class != Class::Public && !self.for_principals.contains(&request) {
            self.for_principals.insert(request.clone());
        }
        match self.entries.insert(Key { request, class }, answer) {
            // A concurrent miss computed the same answer: count it once.
            Some(previous) => {
                self.bytes =
                    self.bytes - (request_len + previous.body.len() + ENTRY_OVERHEAD) + size
            }
            None => self.bytes += size,
        }
    }
}

/// What an entry costs: its bytes and the bookkeeping around them.
fn entry_size(request: &RequestKey, answer: &Answer) -> usize {
    request.len() + answer.body.len() + ENTRY_OVERHEAD
}

/// Exactly their own bytes: not the connection's read buffer the request is a slice of,
/// nor the spare capacity of the vector the answer was written into, which a kept slice
/// would pin for as long as the entry lives.
fn owned(request: RequestKey, answer: Answer) -> (RequestKey, Answer) {
    let request = Bytes::copy_from_slice(&request);
    let answer = Answer {
        body: Bytes::copy_from_slice(&answer.body),
        ..answer
    };
    (request, answer)
}

/// What a lookup found.
pub enum Lookup {
    Hit(Answer),
    /// Nothing public; an answer for some principal may be kept, so verify the caller
    /// and look again with [`ResponseCache::get`].
    TryPrincipal,
    Miss,
}

impl ResponseCache {
    pub fn new(view: Revocations) -> Self {
        Self {
            view,
            inner: Arc::default(),
        }
    }

    /// The version to read before executing, and to give [`Self::put`].
    pub fn version(&self) -> u64 {
        self.view.data_version()
    }

    /// The public answer to `request`, or whether one for a principal may be kept.
    pub fn lookup(&self, request: &RequestKey) -> Lookup {
        if !self.view.trusted() {
            // Other instances' writes may go unheard: nothing kept can be trusted.
            return Lookup::Miss;
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.lookup(self.view.data_version(), request)
    }

    /// The answer to `request` kept for `class`.
    pub fn get(&self, request: &RequestKey, class: Class) -> Option<Answer> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.get(self.view.data_version(), request, class)
    }

    /// Keeps `answer` for `request` and `class`, unless data changed since `version` was
    /// read (the answer may predate the change).
    pub fn put(&self, request: RequestKey, class: Class, version: u64, answer: Answer) {
        if !self.view.trusted() {
            return;
        }
        if version != self.view.data_version() || entry_size(&request, &answer) > MAX_ENTRY_BYTES {
            return;
        }
        // Copied before the lock is taken, so readers never wait on a copy.
        let (request, answer) = owned(request, answer);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: a change after this clears what is put now at its next use.
        let current = self.view.data_version();
        inner.put(current, version, request, class, answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &'static str) -> RequestKey {
        Bytes::from_static(text.as_bytes())
    }

    fn body(text: &'static str) -> Answer {
        bytes(Bytes::from_static(text.as_bytes()))
    }

    fn bytes(body: Bytes) -> Answer {
        Answer {
            body,
            operation: None,
            refused: false,
        }
    }

    const ALICE: Class = Class::Principal {
        user_id: 1,
        role: Role::User,
        fresh: true,
        aal: 1,
        mfa_enabled: false,
    };

    #[test]
    fn an_answer_computed_before_a_change_is_not_kept() {
        let mut inner = Inner::default();
        inner.put(1, 0, key("q"), Class::Public, body("old"));
        assert!(matches!(inner.lookup(1, &key("q")), Lookup::Miss));
        inner.put(1, 1, key("q"), Class::Public, body("new"));
        assert!(matches!(inner.lookup(1, &key("q")), Lookup::Hit(answer) if answer.body == "new"));
        // Data moved on: nothing kept is answered any more.
        assert!(matches!(inner.lookup(2, &key("q")), Lookup::Miss));
        assert_eq!(inner.get(2, &key("q"), Class::Public), None);
    }

    #[test]
    fn answers_for_a_principal_are_only_theirs() {
        let mut inner = Inner::default();
        inner.put(0, 0, key("me"), ALICE, body("alice"));
        assert!(matches!(inner.lookup(0, &key("me")), Lookup::TryPrincipal));
        assert_eq!(inner.get(0, &key("me"), ALICE), Some(body("alice")));
        let bob = Class::Principal {
            user_id: 2,
            role: Role::User,
            fresh: true,
            aal: 1,
            mfa_enabled: false,
        };
        let admin_alice = Class::Principal {
            user_id: 1,
            role: Role::Admin,
            fresh: true,
            aal: 1,
            mfa_enabled: false,
        };
        assert_eq!(inner.get(0, &key("me"), bob), None);
        assert_eq!(inner.get(0, &key("me"), admin_alice), None);
        assert_eq!(inner.get(0, &key("me"), Class::Public), None);
        assert!(matches!(inner.lookup(0, &key("other")), Lookup::Miss));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut inner = Inner::default();
        let big = Bytes::from(vec![b'x'; MAX_ENTRY_BYTES + 1]);
        inner.put(0, 0, key("big"), Class::Public, bytes(big));
        assert_eq!(inner.bytes, 0);
        let answer = bytes(Bytes::from(vec![b'x'; MAX_ENTRY_BYTES / 2]));
        for n in 0..(2 * MAX_BYTES / answer.body.len()) {
            inner.put(
                0,
                0,
                Bytes::from(n.to_string()),
                Class::Public,
                answer.clone(),
            );
            assert!(inner.bytes <= MAX_BYTES);
        }
        // Each entry is counted with its overhead.
        let mut small = Inner::default();
        small.put(0, 0, key("q"), Class::Public, body("a"));
        assert_eq!(small.bytes, 2 + ENTRY_OVERHEAD);
        // The same answer kept twice is counted once.
        let before = inner.bytes;
        inner.put(0, 0, key("0"), Class::Public, answer.clone());
        let again = inner.bytes;
        inner.put(0, 0, key("0"), Class::Public, answer);
        assert_eq!(inner.bytes, again);
        assert!(again >= before);
    }

    /// A request is received as a slice of the connection's read buffer, and an answer is
    /// written into a vector with room to spare: what [`ResponseCache::put`] keeps holds
    /// neither alive.
    #[tokio::test]
    async fn an_entry_keeps_only_its_own_bytes() {
        let db = crate::db::connect("sqlite::memory:", &Default::default())
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        let view = Revocations::start(&db, "sqlite::memory:", chrono::Duration::minutes(15))
            .await
            .unwrap();
        let cache = ResponseCache::new(view);
        let read_buffer = Bytes::from(vec![b'q'; 64 << 10]);
        let request = read_buffer.slice(..100);
        let mut written = Vec::with_capacity(64 << 10);
        written.extend_from_slice(b"{\"data\":{}}");
        let answer = Bytes::from(written);
        cache.put(
            request.clone(),
            Class::Public,
            cache.version(),
            bytes(answer.clone()),
        );
        let inner = cache.inner.read().unwrap();
        let (key, kept) = inner.entries.iter().next().expect("kept");
        assert_eq!(key.request, request);
        assert_eq!(kept.body, answer);
        assert_ne!(
            key.request.as_ptr(),
            request.as_ptr(),
            "the read buffer is pinned"
        );
        assert_ne!(
            kept.body.as_ptr(),
            answer.as_ptr(),
            "the spare capacity is kept"
        );
    }
}

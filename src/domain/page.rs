use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::InputError;

/// Relay paging arguments after validation: `first` in 1–100 (default 20) and the id the
/// page starts after, taken from a cursor this server issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageArgs {
    pub first: u64,
    pub after: Option<i32>,
}

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

impl PageArgs {
    /// `kind` binds the cursor to one connection (a user cursor is no item cursor).
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        kind: &str,
        codec: &CursorCodec,
    ) -> Result<Self, InputError> {
        Ok(Self {
            first: parse_first(first)?,
            after: parse_after(after, |cursor| codec.decode(kind, cursor))?,
        })
    }
}

/// A place in a list ordered newest first by time, then by id (the audit trail): paging
/// by id alone would skip or repeat rows whose ids are not in time order (events written
/// by instances whose clocks differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub at_micros: i64,
    pub id: i64,
}

/// Relay paging arguments of a newest-first list: `first` as for [`PageArgs`], and the
/// [`Position`] the page starts after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentPageArgs {
    pub first: u64,
    pub after: Option<Position>,
}

impl RecentPageArgs {
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        kind: &str,
        codec: &CursorCodec,
    ) -> Result<Self, InputError> {
        Ok(Self {
            first: parse_first(first)?,
            after: parse_after(after, |cursor| codec.decode_position(kind, cursor))?,
        })
    }
}

fn parse_first(first: Option<i32>) -> Result<u64, InputError> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&first) {
        return Err(InputError::new("first", "first must be between 1 and 100"));
    }
    Ok(first as u64)
}

fn parse_after<T>(
    after: Option<&str>,
    decode: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, InputError> {
    after
        .map(|cursor| decode(cursor).ok_or_else(|| InputError::new("after", "Unknown cursor")))
        .transpose()
}

const TAG_LEN: usize = 12;

/// Issues and checks opaque cursors: the row id plus a truncated HMAC, so a cursor the
/// server did not issue (or one edited by hand) is refused instead of silently paging.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl CursorCodec {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .expect("BUG: HMAC accepts keys of any length");
        mac.update(payload);
        mac
    }

    pub fn encode(&self, kind: &str, id: i32) -> String {
        self.seal(kind, &id.to_string())
    }

    pub fn decode(&self, kind: &str, cursor: &str) -> Option<i32> {
        self.open(kind, cursor)?.parse().ok()
    }

    pub fn encode_position(&self, kind: &str, at: Position) -> String {
        self.seal(kind, &format!("{}.{}", at.at_micros, at.id))
    }

    pub fn decode_position(&self, kind: &str, cursor: &str) -> Option<Position> {
        let place = self.open(kind, cursor)?;
        let (at_micros, id) = place.split_once('.')?;
        Some(Position {
            at_micros: at_micros.parse().ok()?,
            id: id.parse().ok()?,
        })
    }

    /// `kind:place` and its tag, URL-safe.
    fn seal(&self, kind: &str, place: &str) -> String {
        let mut bytes = format!("{kind}:{place}").into_bytes();
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The place of a cursor this server sealed for `kind`.
    fn open(&self, kind: &str, cursor: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let split = bytes.len().checked_sub(TAG_LEN)?;
        let (payload, tag) = bytes.split_at(split);
        self.mac(payload).verify_truncated_left(tag).ok()?;
        let payload = std::str::from_utf8(payload).ok()?;
        let (cursor_kind, place) = payload.split_once(':')?;
        (cursor_kind == kind).then(|| place.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let codec = CursorCodec::new(b"key");
        let cursor = codec.encode("item", 42);
        assert_eq!(codec.decode("item", &cursor), Some(42));
        assert_eq!(codec.decode("user", &cursor), None);
        assert_eq!(CursorCodec::new(b"other").decode("item", &cursor), None);
        assert_eq!(codec.decode("item", "garbage"), None);
        assert_eq!(codec.decode("item", ""), None);
        let mut tampered = cursor.into_bytes();
        tampered[2] ^= 1;
        assert_eq!(
            codec.decode("item", std::str::from_utf8(&tampered).unwrap()),
            None
        );
    }

    #[test]
    fn positions_round_trip_and_are_no_id_cursors() {
        let codec = CursorCodec::new(b"key");
        let at = Position {
            at_micros: 1_795_000_000_123_456,
            id: 7,
        };
        let cursor = codec.encode_position("event", at);
        assert_eq!(codec.decode_position("event", &cursor), Some(at));
        assert_eq!(codec.decode("event", &cursor), None);
        assert_eq!(
            codec.decode_position("event", &codec.encode("event", 7)),
            None
        );
    }

    #[test]
    fn first_is_bounded() {
        let codec = CursorCodec::new(b"key");
        assert_eq!(
            PageArgs::parse(None, None, "item", &codec).unwrap().first,
            20
        );
        assert_eq!(
            PageArgs::parse(Some(0), None, "item", &codec)
                .unwrap_err()
                .field,
            "first"
        );
        assert_eq!(
            PageArgs::parse(Some(101), None, "item", &codec)
                .unwrap_err()
                .field,
            "first"
        );
        assert_eq!(
            PageArgs::parse(Some(5), Some("nope"), "item", &codec)
                .unwrap_err()
                .field,
            "after"
        );
    }
}

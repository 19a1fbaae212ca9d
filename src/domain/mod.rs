//! Validated input newtypes: raw client input becomes one of these once, at the edge
//! ("parse, don't validate"); services only ever see the parsed types.

mod auth_event;
mod catalogue;
mod page;
mod user;

pub use auth_event::AuthEventKind;
pub use catalogue::{Description, Name, Price, Search};
pub use page::{CursorCodec, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageArgs, Position, RecentPageArgs};
pub use user::{Email, OneTimeToken, Password, Role, Username};

/// Why a piece of input was refused; `field` is the bare input field name (API.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InputError {
    pub field: &'static str,
    pub reason: String,
}

impl InputError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// API.md Input rules: no string input may contain NUL (U+0000) — PostgreSQL cannot store
/// it, and no honest client sends it. `raw` back when it holds none.
pub fn without_nul<'a>(raw: &'a str, field: &'static str) -> Result<&'a str, InputError> {
    if raw.contains('\0') {
        Err(InputError::new(field, "Must not contain NUL characters"))
    } else {
        Ok(raw)
    }
}

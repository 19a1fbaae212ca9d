//! sea-orm entities for authql: one module per table, nothing else.

pub mod item;
pub mod login_failure;
pub mod store;
pub mod token;
pub mod user;

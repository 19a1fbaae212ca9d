//! sea-orm entities for authql: one module per table, nothing else.

pub mod auth_attempt;
pub mod auth_event;
pub mod change_log;
pub mod external_identity;
pub mod item;
pub mod mail_outbox;
pub mod mail_quota;
pub mod one_time_token;
pub mod recovery_code;
pub mod session;
pub mod store;
pub mod token;
pub mod totp_factor;
pub mod user;

//! GraphQL output types and scalars.

pub mod auth_event;
pub mod auth_payload;
pub mod connection;
pub mod decimal;
pub mod item;
pub mod mfa;
pub mod session;
pub mod store;
pub mod timestamp;
pub mod user;

pub use auth_event::{AuthEvent, AuthEventConnection};
pub use auth_payload::AuthPayload;
pub use decimal::Decimal;
pub use item::{Item, ItemConnection};
pub use mfa::{MfaActivation, TotpEnrollment};
pub use session::Session;
pub use store::{Store, StoreConnection};
pub use timestamp::DateTime;
pub use user::{User, UserConnection};

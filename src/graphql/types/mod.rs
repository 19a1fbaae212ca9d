//! GraphQL output types.

pub mod auth_payload;
pub mod connection;
pub mod user;

pub use auth_payload::AuthPayload;
pub use user::{User, UserConnection};

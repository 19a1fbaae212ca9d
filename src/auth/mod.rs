//! Authentication mechanics, the bottom floor: tokens and keys, passwords, what a request
//! presented, and the errors worded as Flask-JWT-Extended words them. Nothing here knows
//! of users, sessions, GraphQL or HTTP handlers.

pub mod credentials;
pub mod error;
pub mod keys;
pub mod outside;
pub mod password;
pub mod second_factor;
pub mod tokens;

//! Authentication: tokens, passwords, the per-request auth context and the guards.

pub mod context;
pub mod cookies;
pub mod guards;
pub mod password;
pub mod tokens;

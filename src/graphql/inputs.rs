//! Input objects, exactly as API.md names them. Converted to domain types in resolvers
//! before any service call.

use async_graphql::{Enum, InputObject, MaybeUndefined};

use crate::graphql::types::Decimal;

#[derive(InputObject)]
pub struct SignupInput {
    pub username: String,
    pub password: String,
    pub email: Option<String>,
}

#[derive(InputObject)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    pub current_password: String,
    pub new_password: String,
}

#[derive(InputObject)]
pub struct CreateStoreInput {
    pub name: String,
}

#[derive(InputObject)]
pub struct CreateItemInput {
    pub store_id: async_graphql::ID,
    pub name: String,
    pub description: Option<String>,
    pub price: Decimal,
}

/// Absent fields stay as they are; `description: null` clears the description.
#[derive(InputObject)]
pub struct UpdateItemInput {
    pub name: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub price: MaybeUndefined<Decimal>,
}

/// Which sessions `logout` ends.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// The presented token's session (a token without one: just that token).
    Current,
    /// Every other session of the user.
    Others,
    /// Every token the user holds, with or without a session.
    All,
}

impl From<LogoutScope> for crate::service::sessions::LogoutScope {
    fn from(scope: LogoutScope) -> Self {
        match scope {
            LogoutScope::Current => Self::Current,
            LogoutScope::Others => Self::Others,
            LogoutScope::All => Self::All,
        }
    }
}

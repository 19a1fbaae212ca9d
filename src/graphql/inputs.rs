//! Input objects, exactly as API.md names them. Converted to domain types in resolvers
//! before any service call.

use async_graphql::InputObject;

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

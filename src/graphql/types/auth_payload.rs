use async_graphql::SimpleObject;

use super::User;

/// What `signup`, `login`, `refresh` and `changePassword` return.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
}

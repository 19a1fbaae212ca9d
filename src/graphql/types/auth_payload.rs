use async_graphql::SimpleObject;

use super::User;

/// What `signup`, `login`, `refresh`, `changePassword`, `confirmTotp` (inside
/// `MfaActivation`) and `verifyMfa` return.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// The access token; null when tokens travel in cookies only, so script never sees one.
    pub access_token: Option<String>,
    /// The refresh token; null when tokens travel in cookies only.
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
    /// Cookie mode: the value to send as `X-CSRF-TOKEN` with mutations (the
    /// `csrf_access_token` cookie's, for an app that cannot read the API's cookies).
    pub csrf_token: Option<String>,
    /// Cookie mode: the value to send as `X-CSRF-TOKEN` with `refresh`.
    pub refresh_csrf_token: Option<String>,
    /// True when these are level-1 tokens of a user with a second factor: a partial login,
    /// good for `me`, `verifyMfa`, `refresh` and `logout` only until `verifyMfa`.
    pub mfa_required: bool,
}

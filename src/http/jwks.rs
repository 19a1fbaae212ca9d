//! `GET /.well-known/jwks.json` (API.md Keys): the public keys tokens are verified with,
//! for other services (an API gateway, Hasura, Apollo Router) that verify authql's tokens
//! without a shared secret. Empty with HS256: a shared secret is never published.

use axum::{Json, extract::State, http::header, response::IntoResponse};

use super::HttpState;

/// The JWK Set, cacheable for five minutes (a rotation keeps the previous key published
/// for longer than that).
pub async fn jwks(State(app): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.state.keys.jwks()),
    )
}

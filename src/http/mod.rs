//! HTTP surface: routes, layers and handlers.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod router;
pub mod ws;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// A GraphQL-shaped error body for failures before any GraphQL work (415, 400, 405).
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    (status, Json(body)).into_response()
}

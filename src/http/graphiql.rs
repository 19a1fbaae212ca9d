//! GraphiQL, with the header editor enabled so a user can paste `Authorization: Bearer …`.

use axum::response::{Html, IntoResponse, Response};
use axum::{extract::State, http::StatusCode};

use super::router::HttpState;

/// The GraphiQL page, or 404 when GraphiQL is off (production).
pub async fn page(State(app): State<HttpState>) -> Response {
    if !app.state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .title("authql")
            .finish(),
    )
    .into_response()
}

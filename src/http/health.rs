//! `/healthz` and `/schema.graphql`.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::HttpState;

/// 200 `{"status":"ok"}` when the database answers, 503 otherwise.
pub async fn healthz(State(app): State<HttpState>) -> impl IntoResponse {
    if crate::db::ping(&app.state.db).await {
        (StatusCode::OK, Json(serde_json::json!({ "status": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable" })),
        )
    }
}

/// The SDL, byte-equal to `schema.graphql` and `authql schema`.
pub async fn schema_sdl(State(app): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        app.sdl.to_string(),
    )
}

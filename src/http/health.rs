//! `/livez`, `/readyz` = `/healthz`, and `/schema.graphql`.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::HttpState;

/// 200 while the process serves: a liveness probe must not restart a server that still
/// answers reads because its disk is full.
pub async fn livez() -> impl IntoResponse {
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" })))
}

/// 200 `{"status":"ok"}` when the database answers and can take writes, 503 otherwise
/// (`db::Health`: no write per call).
pub async fn healthz(State(app): State<HttpState>) -> impl IntoResponse {
    if app.state.health.can_write().await {
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

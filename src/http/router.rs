//! Routes and layers: request id, one trace line and the HTTP metrics per request, body
//! limit (413), CORS.

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath},
    http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header},
    routing::get,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::Span;

use super::response_cache::ResponseCache;
use super::{HttpState, graphiql, graphql, health, jwks, ws};
use crate::error_code::ErrorCode;
use crate::graphql::execution::Executor;
use crate::state::AppState;

pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn router(state: AppState, executor: Executor) -> Router {
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let app = HttpState {
        sdl: crate::graphql::schema::sdl().into(),
        cache: config
            .response_cache
            .then(|| ResponseCache::new(state.revocations.clone())),
        state,
        executor,
    };
    let mut router = Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::healthz))
        .route("/healthz", get(health::healthz))
        .route("/.well-known/jwks.json", get(jwks::jwks));
    // The SDL tells as much as introspection does (API.md HTTP surface).
    if config.introspection_enabled() {
        router = router.route("/schema.graphql", get(health::schema_sdl));
    }
    let mut router = router
        .with_state(app)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        // A `Content-Length` over the limit is answered 413 from the head alone, before a
        // byte of the body is read; a body without one is cut at the limit as it arrives.
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        // A request still running after REQUEST_TIMEOUT (a slow body included: the body
        // is read inside the handler) is dropped — an open transaction rolls back — and
        // answered 408; the body says so with the REQUEST_TIMEOUT code.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(axum::middleware::map_response(coded_bodies));
    if let Some(cors) = cors(&config) {
        router = router.layer(cors);
    }
    router
        .layer(
            // Only method, path, request id and GraphQL operation name are recorded: never
            // headers, query strings or variables, which may carry tokens or passwords. The path (unmatched ones are the client's)
            // and the request id (a client may send its own) are quoted and escaped, so
            // neither can forge `status=…` or other fields on the line.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let path = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or(request.uri().path(), MatchedPath::as_str);
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = ?path,
                        request_id = ?request_id,
                        // Filled in by the GraphQL handler (`telemetry::record_operation`).
                        operation = tracing::field::Empty,
                    )
                })
                .on_request(())
                // One line per request, 5xx included: the default `on_failure` would add
                // a second line for every server error.
                .on_response(move |response: &Response<_>, latency: Duration, _: &Span| {
                    let status = response.status().as_u16();
                    metrics.http_request(status, latency.as_secs_f64());
                    if response.status().is_server_error() {
                        tracing::error!(status, ?latency, "finished processing request");
                    } else {
                        tracing::info!(status, ?latency, "finished processing request");
                    }
                })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// The longest client request id kept (API.md Operations).
const MAX_REQUEST_ID: usize = 128;

/// A client's `X-Request-Id` is kept only when it is at most [`MAX_REQUEST_ID`] characters
/// of `A–Z a–z 0–9 - _ .`; otherwise it is removed here, before one is generated, so
/// nothing a client sends can stretch or garble the log lines that carry it.
async fn drop_unusable_request_id<B>(mut request: Request<B>) -> Request<B> {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|id| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The 408 of the timeout layer and the 413 of the body limit get a GraphQL-shaped body
/// with their code.
async fn coded_bodies(response: axum::response::Response) -> axum::response::Response {
    match response.status() {
        StatusCode::REQUEST_TIMEOUT => super::error_response(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            "The request took too long",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => super::error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "The request body is too large",
        ),
        _ => response,
    }
}

/// Browser apps on the listed origins may call the API; with cookies, credentials are
/// allowed for exactly those origins. Unset: same origin only (no CORS headers).
fn cors(config: &crate::config::Config) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        // A browser's `Origin` never ends in `/`; `https://app.example/` must still match.
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .filter_map(|o| o.parse().ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("x-csrf-token"),
            ])
            .expose_headers([REQUEST_ID])
            .allow_credentials(config.jwt_token_location.cookies)
            .max_age(Duration::from_secs(600)),
    )
}

//! HTTP surface: routes, layers and handlers.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod jwks;
pub mod metrics;
pub mod response_cache;
pub mod router;
pub mod server;
pub mod streams;
pub mod ws;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::config::Config;
use crate::error_code::ErrorCode;
use crate::graphql::execution::Executor;
use crate::service::sessions::ClientInfo;
use crate::state::AppState;

/// What handlers share: the app state, the executor, the response cache (when on) and the
/// SDL.
#[derive(Clone)]
pub struct HttpState {
    pub state: AppState,
    pub executor: Executor,
    pub cache: Option<response_cache::ResponseCache>,
    pub sdl: Arc<str>,
}

/// A GraphQL-shaped error body for failures before any GraphQL work (415, 400, 405).
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    });
    (status, Json(body)).into_response()
}

/// Where a request came from: its client address, user agent and request id (set by the
/// router's request-id layer before any handler runs).
pub fn client_info(headers: &HeaderMap, peer: SocketAddr, config: &Config) -> ClientInfo {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    ClientInfo {
        addr: client_addr(headers, peer, config),
        user_agent: text(axum::http::header::USER_AGENT.as_str()),
        request_id: text(router::REQUEST_ID.as_str()),
    }
}

/// The client's address: the peer, or behind `TRUSTED_PROXY_HOPS` proxies of our own the
/// `X-Forwarded-For` entry that many places from the right. Each proxy appends the address
/// it received from, so only the right end is trustworthy; the left end is whatever the
/// client wrote. A header with fewer entries than that: the peer address.
pub fn client_addr(headers: &HeaderMap, peer: SocketAddr, config: &Config) -> String {
    if config.trust_proxy_headers {
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let hops = config.trusted_proxy_hops;
        if let Some(entry) = entries
            .len()
            .checked_sub(hops)
            .map(|index| entries[index])
            .filter(|entry| !entry.is_empty())
        {
            return entry.to_owned();
        }
    }
    peer.ip().to_string()
}

/// One GraphQL response on the wire, written straight from async-graphql's ordered values
/// (fields in the order the query selected them): `data` (left out when execution never
/// started), then `errors` and `extensions` when there are any.
pub struct WireResponse<'a>(pub &'a async_graphql::Response);

impl serde::Serialize for WireResponse<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let response = self.0;
        let mut map = serializer.serialize_map(None)?;
        if !crate::graphql::error_codes::failed_before_execution(response) {
            map.serialize_entry("data", &response.data)?;
        }
        if !response.errors.is_empty() {
            map.serialize_entry("errors", &response.errors)?;
        }
        if !response.extensions.is_empty() {
            map.serialize_entry("extensions", &response.extensions)?;
        }
        map.end()
    }
}

//! `GET /graphql/ws`: subscriptions over WebSocket (`graphql-transport-ws`, and the legacy
//! `graphql-ws`). The token comes from the `connection_init` payload
//! (`{"Authorization": "Bearer …"}`) or, in cookie mode, from the upgrade request's access
//! cookie. An invalid, expired or revoked token closes the socket with 4403 and the error
//! code as the reason — at `connection_init`, and later when the token expires or is
//! revoked while subscriptions are live.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage},
};
use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;

use super::router::HttpState;
use crate::auth::context::{AuthContext, Presented, Principal, still_valid};
use crate::config::TokenLocation;
use crate::graphql::ClientAddr;
use crate::graphql::errors::ApiError;
use crate::state::AppState;

/// Close code for a refused or expired credential (API.md Subscriptions).
const CLOSE_FORBIDDEN: u16 = 4403;
/// How often a live connection re-checks that its token is not revoked.
const REVOCATION_CHECK: Duration = Duration::from_secs(1);

/// The upgrade handler.
pub async fn upgrade(
    State(app): State<HttpState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response();
    };
    let protocol = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    // Cookie mode: the access cookie of the upgrade request counts as presented — but only
    // from our own origin or an allowed one. CORS does not apply to WebSocket upgrades, so
    // without this check any page could open a subscription as the logged-in user.
    let cookie = if app.state.config.jwt_token_location.cookies
        && origin_allowed(&headers, &app.state.config.cors_allowed_origins)
    {
        Presented::from_headers(
            &headers,
            TokenLocation {
                headers: false,
                cookies: true,
            },
        )
    } else {
        Presented::Nothing
    };
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(app, socket, protocol, cookie))
}

/// No `Origin` (not a browser), the server's own origin, or one of `CORS_ALLOWED_ORIGINS`.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_origin = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
    });
    same_origin
        || allowed
            .iter()
            .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The outcome of `connection_init`, shared between the init callback and the socket loop.
#[derive(Default)]
enum Session {
    #[default]
    Pending,
    Anonymous,
    Authenticated(Box<Principal>),
    Refused(&'static str),
}

/// The credential in a `connection_init` payload: `Authorization` (any case), also under
/// `headers`.
fn presented_in(payload: &serde_json::Value, cookie: &Presented) -> Presented {
    let find = |object: &serde_json::Value| {
        object.as_object().and_then(|map| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| value.as_str().map(str::to_owned))
        })
    };
    let value = find(payload).or_else(|| payload.get("headers").and_then(find));
    match value {
        Some(value) => {
            let mut headers = HeaderMap::new();
            match HeaderValue::from_str(&value) {
                Ok(value) => {
                    headers.insert(header::AUTHORIZATION, value);
                    Presented::from_headers(
                        &headers,
                        TokenLocation {
                            headers: true,
                            cookies: false,
                        },
                    )
                }
                Err(_) => Presented::BadHeader,
            }
        }
        None => cookie.clone(),
    }
}

async fn serve(app: HttpState, socket: WebSocket, protocol: WebSocketProtocols, cookie: Presented) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| futures_util::future::ready(message.is_ok()))
        .filter_map(|message| {
            futures_util::future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        });
    let session = Arc::new(Mutex::new(Session::default()));
    let state = app.state.clone();
    let init_session = session.clone();
    let graphql = GraphQLWebSocket::new(app.schema.clone(), input, protocol).on_connection_init(
        move |payload| async move {
            let presented = presented_in(&payload, &cookie);
            let auth = AuthContext::new(presented.clone(), None, state.clone());
            let outcome = match presented {
                Presented::Nothing | Presented::OtherScheme => Session::Anonymous,
                _ => match auth.principal().await {
                    Ok(principal) => Session::Authenticated(Box::new(principal.clone())),
                    Err(error) => Session::Refused(error.code()),
                },
            };
            let refused = match &outcome {
                Session::Refused(code) => Some(*code),
                _ => None,
            };
            if let Ok(mut slot) = init_session.lock() {
                *slot = outcome;
            }
            if let Some(code) = refused {
                return Err(async_graphql::Error::new(code));
            }
            let mut data = Data::default();
            data.insert(auth);
            data.insert(ClientAddr(String::new()));
            Ok(data)
        },
    );
    let mut graphql = std::pin::pin!(graphql);
    let mut ticker = tokio::time::interval(REVOCATION_CHECK);
    let mut operations = Operations::default();
    loop {
        tokio::select! {
            message = graphql.next() => match message {
                Some(WsMessage::Text(text)) => {
                    let Some(text) = as_error_message(text, &mut operations) else {
                        continue;
                    };
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let code = if is_token_code(&reason) { CLOSE_FORBIDDEN } else { code };
                    close(&mut sink, code, &reason).await;
                    break;
                }
                None => {
                    // The legacy protocol reports a refused init as a message, then ends.
                    let refused = match session.lock().as_deref() {
                        Ok(Session::Refused(code)) => Some(*code),
                        _ => None,
                    };
                    if let Some(code) = refused {
                        close(&mut sink, CLOSE_FORBIDDEN, code).await;
                    }
                    break;
                }
            },
            _ = ticker.tick() => {
                let principal = match session.lock().as_deref() {
                    Ok(Session::Authenticated(principal)) => Some(principal.as_ref().clone()),
                    _ => None,
                };
                if let Some(principal) = principal
                    && let Err(error) = check_live(&app.state, &principal).await
                {
                    close(&mut sink, CLOSE_FORBIDDEN, error.code()).await;
                    break;
                }
            }
        }
    }
}

/// Per-connection bookkeeping of subscription ids for [`as_error_message`].
#[derive(Default)]
struct Operations {
    /// Ids that have delivered at least one event.
    delivered: std::collections::HashSet<String>,
    /// Ids refused before their first event; their trailing `complete` is dropped.
    refused: std::collections::HashSet<String>,
}

/// A subscription refused before its first event (a failing guard) is reported as an
/// `error` message, as both protocols define it, not as a `next`/`data` carrying errors;
/// the `complete` that follows it is dropped. Returns `None` for a message to drop.
fn as_error_message(text: String, operations: &mut Operations) -> Option<String> {
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Some(text);
    };
    let kind = message["type"].as_str().unwrap_or_default().to_owned();
    let id = message["id"].as_str().unwrap_or_default().to_owned();
    match kind.as_str() {
        "next" | "data"
            if !operations.delivered.contains(&id)
                && message["payload"]["data"].is_null()
                && message["payload"]["errors"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty()) =>
        {
            let errors = message["payload"]["errors"].take();
            operations.refused.insert(id.clone());
            Some(serde_json::json!({ "id": id, "type": "error", "payload": errors }).to_string())
        }
        "next" | "data" => {
            operations.delivered.insert(id);
            Some(text)
        }
        "complete" => {
            operations.delivered.remove(&id);
            (!operations.refused.remove(&id)).then_some(text)
        }
        _ => Some(text),
    }
}

/// A live connection's token must still be unexpired, unrevoked and its user present.
async fn check_live(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    let leeway = state.config.jwt_leeway.as_secs() as i64;
    if chrono::Utc::now().timestamp() > principal.claims.exp + leeway {
        return Err(ApiError::TokenExpired);
    }
    still_valid(state, principal).await
}

fn is_token_code(reason: &str) -> bool {
    matches!(
        reason,
        "TOKEN_EXPIRED" | "TOKEN_REVOKED" | "INVALID_TOKEN" | "AUTHORIZATION_REQUIRED"
    )
}

async fn close(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &str,
) {
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned().into(),
        })))
        .await;
    let _ = sink.close().await;
}

//! `GET /graphql/ws`: GraphQL over WebSocket, `graphql-transport-ws` and the legacy
//! `graphql-ws` (subscriptions-transport-ws) subprotocol.
//!
//! The protocols are spoken here rather than by async-graphql's `WebSocket`, which shares
//! one request context across every operation of a connection: here the connection keeps
//! only the credential it was given at `connection_init`, and each operation gets its own
//! auth context, so it is authorized when it starts with the role of that moment (API.md
//! "Subscriptions"). It also lets each operation go through the same limits as over HTTP
//! and adds the socket limits: `WS_INIT_TIMEOUT` (close 4408), messages over
//! `MAX_BODY_BYTES` (close 1009) and `WS_MAX_OPERATIONS` running at once (`RATE_LIMITED`).
//!
//! A `connection_init` whose token is invalid, expired or revoked closes the socket with
//! 4403 and the error code as the reason; so does the token expiring, or its session or
//! token being revoked or its user deleted while the connection is open — learnt from the
//! revocation view's notices (`service::revocations`), never by polling the database per
//! socket: 10,000 idle sockets cost no more database work than one.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use async_graphql::{Request, Response};
use axum::{
    extract::{
        ConnectInfo, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response as HttpResponse},
};
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use http::HeaderValue;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    sync::{broadcast, mpsc, watch},
    task::AbortHandle,
};

use super::HttpState;
use super::WireResponse;
use crate::auth::credentials::Presented;
use crate::auth::tokens::Claims;
use crate::config::TokenLocation;
use crate::error_code::ErrorCode;
use crate::graphql::context::{AuthContext, OperationLive, SocketCredential};
use crate::graphql::error_codes::failed_before_execution;
use crate::graphql::errors::ApiError;
use crate::service::principal;
use crate::service::revocations::Change;
use crate::service::sessions::ClientInfo;

/// A refused or no longer valid credential (API.md Subscriptions).
const CLOSE_FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: no `connection_init` in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// RFC 6455: a message too big to process.
const CLOSE_TOO_BIG: u16 = 1009;
/// graphql-transport-ws: a message the protocol does not allow.
const CLOSE_BAD_MESSAGE: u16 = 4400;
/// graphql-transport-ws: `subscribe` before the connection was acknowledged.
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// graphql-transport-ws: a second operation with an id still in use.
const CLOSE_DUPLICATE_ID: u16 = 4409;
/// graphql-transport-ws: a second `connection_init`.
const CLOSE_TOO_MANY_INITS: u16 = 4429;
/// When a re-check could not be made (database unreachable), how soon to try again.
const RETRY_CHECK: Duration = Duration::from_secs(1);

/// The two subprotocols; they differ in message names only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws` (the `graphql-ws` library).
    TransportWs,
    /// `graphql-ws` (the legacy subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    const NAMES: [&'static str; 2] = ["graphql-transport-ws", "graphql-ws"];

    fn next(self) -> &'static str {
        match self {
            Self::TransportWs => "next",
            Self::Legacy => "data",
        }
    }
}

/// Bytes read from a socket at a time (docs/benchmarks.md, "Idle sockets").
const READ_BUFFER: usize = 4096;

/// The upgrade handler.
pub async fn upgrade(
    State(app): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> HttpResponse {
    let Ok(ws) = ws else {
        return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response();
    };
    let ws = ws.protocols(Protocol::NAMES);
    let protocol = match ws.selected_protocol().map(HeaderValue::as_bytes) {
        Some(b"graphql-ws") => Protocol::Legacy,
        _ => Protocol::TransportWs,
    };
    let config = &app.state.config;
    // Cookie mode: the access cookie of the upgrade request counts as presented — but only
    // from our own origin or an allowed one. CORS does not apply to WebSocket upgrades, so
    // without this check any page could open a subscription as the logged-in user.
    let cookie = if config.jwt_token_location.cookies
        && origin_allowed(&headers, &config.cors_allowed_origins)
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
    // API.md: logins over a socket count against the upgrade request's client address.
    let client = super::client_info(&headers, peer, config);
    let max = config.max_body_bytes;
    // tungstenite reads into a 128 KiB buffer per socket by default, allocated up front:
    // 10,000 idle sockets held 1.4 GiB. Client messages are small; a larger one is still
    // read whole (up to MAX_BODY_BYTES), in more reads.
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            let (rebound_tx, rebound_rx) = mpsc::unbounded_channel();
            Connection {
                app,
                protocol,
                cookie,
                client,
                credential: None,
                rebound: rebound_tx,
                live: None,
                live_generation: 0,
                operations: HashMap::new(),
                generation: 0,
            }
            .serve(socket, rebound_rx)
        })
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

/// A client message of either protocol.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        payload: Box<Request>,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate,
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {},
}

/// What an operation's task reports to the connection.
enum Output {
    Response {
        id: String,
        generation: u64,
        response: Box<Response>,
    },
    Done {
        id: String,
        generation: u64,
    },
    /// The answer to a `ping`, once every operation started before it was live.
    Pong {
        payload: Option<Value>,
    },
}

/// One operation in flight.
struct Running {
    /// Tells this operation's task from an earlier one that used the same id.
    generation: u64,
    task: AbortHandle,
    /// Whether it has sent anything yet.
    delivered: bool,
    /// Becomes true once it is live: a subscription listening for events, a query
    /// answered, or anything ended.
    live: watch::Receiver<bool>,
    /// A subscription listening for events (not a query or mutation).
    listening: Arc<std::sync::atomic::AtomicBool>,
}

/// Why the connection ends: the close frame to send, if any.
struct Close(u16, String);

type Sink = SplitSink<WebSocket, Message>;

struct Connection {
    app: HttpState,
    protocol: Protocol,
    cookie: Presented,
    client: ClientInfo,
    /// The socket's credential: what `connection_init` presented, until a mutation over the
    /// socket re-binds it (API.md "Keeping a socket past its token"); `None` until then.
    credential: Option<Arc<SocketCredential>>,
    /// Told when the credential was re-bound (or a mutation that may re-bind it ended).
    rebound: mpsc::UnboundedSender<()>,
    /// The socket's token as verified, re-checked on every change to its user.
    live: Option<Claims>,
    /// The credential generation `live` is of.
    live_generation: u64,
    /// Running operations by id.
    operations: HashMap<String, Running>,
    generation: u64,
}

impl Connection {
    async fn serve(mut self, socket: WebSocket, mut rebound: mpsc::UnboundedReceiver<()>) {
        let (mut sink, mut stream) = socket.split();
        let (output, mut outputs) = mpsc::channel::<Output>(64);
        let init_deadline = tokio::time::sleep(self.app.state.config.ws_init_timeout);
        tokio::pin!(init_deadline);
        // Subscribed before `connection_init` is checked, so no change in between is missed.
        let mut changes = self.app.state.revocations.subscribe();
        let expiry = tokio::time::sleep(Duration::MAX);
        tokio::pin!(expiry);
        let mut expiry_set = false;
        let retry = tokio::time::sleep(Duration::MAX);
        tokio::pin!(retry);
        let mut retrying = false;
        let metrics = self.app.state.metrics.clone();
        metrics.ws_opened();
        // How the client ended it: its close frame's code, 1005 for a frame without one,
        // 1006 when the connection just dropped.
        let mut client_code = 1006;
        let close = loop {
            if !expiry_set && let Some(claims) = &self.live {
                expiry.as_mut().reset(expires(claims, &self.app));
                expiry_set = true;
            }
            tokio::select! {
                message = stream.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text.to_string(),
                        Some(Ok(Message::Binary(bytes))) => {
                            String::from_utf8_lossy(&bytes).into_owned()
                        }
                        Some(Ok(Message::Close(frame))) => {
                            client_code = frame.map_or(1005, |frame| frame.code);
                            break None;
                        }
                        None => break None,
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => break Some(read_error(&error)),
                    };
                    match self.receive(&text, &mut sink, &output).await {
                        Ok(()) => {}
                        Err(close) => break close,
                    }
                }
                Some(out) = outputs.recv() => {
                    if let Err(close) = self.deliver(out, &mut sink).await {
                        break close;
                    }
                }
                () = &mut init_deadline, if self.credential.is_none() => {
                    let reason = "Connection initialisation timeout";
                    if self.protocol == Protocol::Legacy {
                        let message = json!({ "type": "connection_error",
                            "payload": { "message": reason } });
                        let _ = send(&mut sink, message).await;
                    }
                    break Some(Close(CLOSE_INIT_TIMEOUT, reason.into()));
                }
                Some(()) = rebound.recv() => {
                    match self.sync_credential(&mut sink).await {
                        Ok(true) => expiry_set = false,
                        Ok(false) => {}
                        Err(error) => break Some(Close(CLOSE_FORBIDDEN, error.code().as_str().into())),
                    }
                }
                () = &mut expiry, if expiry_set => {
                    break Some(Close(CLOSE_FORBIDDEN, ApiError::TokenExpired.code().as_str().into()));
                }
                change = changes.recv(), if self.live.is_some() => {
                    let concerns_us = match change {
                        Ok(Change::User(user_id)) => self.user_id() == Some(user_id),
                        // Missed some (this socket fell behind): re-check to be sure.
                        Ok(Change::Everything) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                        // The view is gone (shutting down): nothing more will come.
                        Err(broadcast::error::RecvError::Closed) => break None,
                    };
                    if concerns_us {
                        match self.check_live(&mut sink).await {
                            Ok(true) => expiry_set = false,
                            Ok(false) => {}
                            // The check itself failed (database unreachable), or a mutation
                            // that will re-bind the socket is running (its own password
                            // change ends the old session): try again shortly rather than
                            // tell the client its token went bad.
                            Err(ApiError::Internal) => {
                                retry.as_mut().reset(tokio::time::Instant::now() + RETRY_CHECK);
                                retrying = true;
                            }
                            Err(_) if self.rebinding() => {
                                retry.as_mut().reset(tokio::time::Instant::now() + RETRY_CHECK);
                                retrying = true;
                            }
                            Err(error) => break Some(Close(CLOSE_FORBIDDEN, error.code().as_str().into())),
                        }
                    }
                }
                () = &mut retry, if retrying => {
                    retrying = false;
                    match self.check_live(&mut sink).await {
                        Ok(true) => expiry_set = false,
                        Ok(false) => {}
                        Err(ApiError::Internal) => {
                            retry.as_mut().reset(tokio::time::Instant::now() + RETRY_CHECK);
                            retrying = true;
                        }
                        Err(_) if self.rebinding() => {
                            retry.as_mut().reset(tokio::time::Instant::now() + RETRY_CHECK);
                            retrying = true;
                        }
                        Err(error) => break Some(Close(CLOSE_FORBIDDEN, error.code().as_str().into())),
                    }
                }
            }
        };
        for running in self.operations.values() {
            running.task.abort();
        }
        match &close {
            Some(Close(code, reason)) => {
                if *code == CLOSE_FORBIDDEN {
                    // The token went bad on a live socket: a token error like any other.
                    metrics.auth_failures(ErrorCode::parse(reason));
                }
                metrics.ws_closed(*code);
            }
            None => metrics.ws_closed(client_code),
        }
        if let Some(Close(code, reason)) = close {
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: close_reason(reason).into(),
                })))
                .await;
        }
        let _ = sink.close().await;
    }

    /// Handles one client message; `Err` ends the connection (with a close frame, if any).
    async fn receive(
        &mut self,
        text: &str,
        sink: &mut Sink,
        output: &mpsc::Sender<Output>,
    ) -> Result<(), Option<Close>> {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) => {
                return Err(Some(Close(
                    CLOSE_BAD_MESSAGE,
                    format!("Invalid message received: {error}"),
                )));
            }
        };
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.credential.is_some() {
                    return Err(Some(Close(
                        CLOSE_TOO_MANY_INITS,
                        "Too many initialisation requests".into(),
                    )));
                }
                let payload = payload.unwrap_or(Value::Null);
                match self
                    .init(Presented::from_init_payload(&payload, &self.cookie))
                    .await
                {
                    Ok(()) => send(sink, json!({ "type": "connection_ack" })).await,
                    Err(error) => {
                        if self.protocol == Protocol::Legacy {
                            let message = json!({ "type": "connection_error",
                                "payload": { "message": error.message() } });
                            send(sink, message).await?;
                        }
                        Err(Some(Close(CLOSE_FORBIDDEN, error.code().as_str().into())))
                    }
                }
            }
            ClientMessage::Subscribe { id, payload } => {
                self.start(id, *payload, sink, output).await
            }
            ClientMessage::Complete { id } => {
                if let Some(running) = self.operations.remove(&id) {
                    running.task.abort();
                    // The legacy protocol confirms a `stop`; the other one does not.
                    if self.protocol == Protocol::Legacy {
                        send(sink, json!({ "type": "complete", "id": id })).await?;
                    }
                }
                Ok(())
            }
            ClientMessage::ConnectionTerminate => Err(None),
            ClientMessage::Ping { payload } => self.pong(payload, sink, output).await,
            ClientMessage::Pong {} => Ok(()),
        }
    }

    /// Answers a `ping` once every operation started before it is live: a client that
    /// subscribes, then pings, knows from the `pong` that no event raised after it is
    /// missed (graphql-transport-ws has no acknowledgement of a `subscribe`). Waits at most
    /// [`PONG_WAIT`]; meanwhile the connection goes on.
    async fn pong(
        &self,
        payload: Option<Value>,
        sink: &mut Sink,
        output: &mpsc::Sender<Output>,
    ) -> Result<(), Option<Close>> {
        let mut pending: Vec<watch::Receiver<bool>> = self
            .operations
            .values()
            .filter(|running| !*running.live.borrow())
            .map(|running| running.live.clone())
            .collect();
        if pending.is_empty() {
            return send(sink, pong(payload)).await;
        }
        let output = output.clone();
        tokio::spawn(async move {
            let all_live = async {
                for live in &mut pending {
                    // Err: the operation is gone (completed, aborted): nothing to wait for.
                    let _ = live.wait_for(|live| *live).await.is_ok();
                }
            };
            let _ = tokio::time::timeout(PONG_WAIT, all_live).await;
            let _ = output.send(Output::Pong { payload }).await;
        });
        Ok(())
    }

    /// Verifies the presented credential once; the connection keeps it, and each
    /// operation resolves its own principal from it.
    async fn init(&mut self, presented: Presented) -> Result<(), ApiError> {
        let anonymous = presented.is_anonymous();
        let socket = Arc::new(SocketCredential::new(presented, self.rebound.clone()));
        if !anonymous {
            let auth = AuthContext::for_socket(socket.clone(), self.app.state.clone())
                .with_client(self.client.clone());
            let principal = auth.principal().await?;
            self.live = Some(principal.claims.clone());
        }
        self.live_generation = socket.generation();
        self.credential = Some(socket);
        Ok(())
    }

    /// Whether a mutation that may re-bind the socket is running.
    fn rebinding(&self) -> bool {
        self.credential
            .as_ref()
            .is_some_and(|socket| socket.rebinding())
    }

    /// Follows a re-bound credential: the new token is verified and becomes the one the
    /// socket's expiry and checks follow; when it is another user's, the running operations
    /// are completed first. `Ok(true)`: the token changed.
    async fn sync_credential(&mut self, sink: &mut Sink) -> Result<bool, ApiError> {
        let Some(socket) = self.credential.clone() else {
            return Ok(false);
        };
        let generation = socket.generation();
        if generation == self.live_generation {
            return Ok(false);
        }
        let auth = AuthContext::for_socket(socket, self.app.state.clone())
            .with_client(self.client.clone());
        let principal = auth.principal().await?;
        let before = self.user_id();
        if before.is_some() && before != principal.claims.user_id() {
            // Another user now: the previous one's subscriptions end. (Only subscriptions:
            // the mutation that re-bound the socket is still running, its answer to come.)
            let listening: Vec<String> = self
                .operations
                .iter()
                .filter(|(_, running)| running.listening.load(std::sync::atomic::Ordering::Acquire))
                .map(|(id, _)| id.clone())
                .collect();
            for id in listening {
                if let Some(running) = self.operations.remove(&id) {
                    running.task.abort();
                    let _ = send(sink, json!({ "type": "complete", "id": id })).await;
                }
            }
        }
        self.live = Some(principal.claims.clone());
        self.live_generation = generation;
        Ok(true)
    }

    fn user_id(&self) -> Option<i32> {
        self.live.as_ref().and_then(Claims::user_id)
    }

    async fn start(
        &mut self,
        id: String,
        request: Request,
        sink: &mut Sink,
        output: &mpsc::Sender<Output>,
    ) -> Result<(), Option<Close>> {
        let Some(credential) = self.credential.clone() else {
            return Err(Some(Close(CLOSE_UNAUTHORIZED, "Unauthorized".into())));
        };
        if self.operations.contains_key(&id) {
            return Err(Some(Close(
                CLOSE_DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            )));
        }
        if self.operations.len() >= self.app.state.config.ws_max_operations {
            let refused = async_graphql::Error::from(ApiError::RateLimited { retry_after: 1 });
            let errors = [refused.into_server_error(async_graphql::Pos::default())];
            return send_errors(sink, &id, &errors).await;
        }
        let state = self.app.state.clone();
        let (live, is_live) = watch::channel(false);
        let listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let live = OperationLive::new(live, listening.clone());
        let request = request
            .data(Arc::new(
                AuthContext::for_socket(credential.clone(), state).with_client(self.client.clone()),
            ))
            .data(credential)
            .data(self.client.clone())
            .data(live.clone());
        let mut responses = self.app.executor.execute_stream(request);
        self.generation += 1;
        let generation = self.generation;
        let output = output.clone();
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            while let Some(response) = responses.next().await {
                // A query's answer, or a subscription's first event or refusal: live.
                live.mark();
                let id = task_id.clone();
                let response = Box::new(response);
                if output
                    .send(Output::Response {
                        id,
                        generation,
                        response,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            live.mark();
            let _ = output
                .send(Output::Done {
                    id: task_id,
                    generation,
                })
                .await;
        });
        let running = Running {
            generation,
            task: task.abort_handle(),
            delivered: false,
            live: is_live,
            listening,
        };
        self.operations.insert(id, running);
        Ok(())
    }

    /// Sends what an operation produced. A response that failed before execution, or a
    /// first response refused outright (no data, only errors: a failing guard on the
    /// subscription field), is an `error` message, as both protocols define it; the
    /// operation then ends without a `complete`.
    async fn deliver(&mut self, out: Output, sink: &mut Sink) -> Result<(), Option<Close>> {
        match out {
            Output::Response {
                id,
                generation,
                response,
            } => {
                // An operation ended by `complete` may have sent something before its task
                // was aborted; that must not reach a new operation with the same id.
                let Some(running) = self
                    .operations
                    .get_mut(&id)
                    .filter(|running| running.generation == generation)
                else {
                    return Ok(());
                };
                let refused = failed_before_execution(&response)
                    || (!running.delivered
                        && response.data == async_graphql::Value::Null
                        && !response.errors.is_empty());
                running.delivered = true;
                if refused {
                    if let Some(running) = self.operations.remove(&id) {
                        running.task.abort();
                    }
                    return send_errors(sink, &id, &response.errors).await;
                }
                let message = ServerMessage {
                    kind: self.protocol.next(),
                    id: &id,
                    payload: WireResponse(&response),
                };
                match serde_json::to_string(&message) {
                    Ok(text) => send_text(sink, text).await,
                    Err(error) => {
                        tracing::error!(%error, "cannot serialize a response");
                        Err(Some(Close(1011, "Internal server error".into())))
                    }
                }
            }
            Output::Pong { payload } => send(sink, pong(payload)).await,
            Output::Done { id, generation } => {
                match self.operations.get(&id) {
                    Some(running) if running.generation == generation => {
                        self.operations.remove(&id);
                    }
                    _ => return Ok(()),
                }
                send(sink, json!({ "type": "complete", "id": id })).await
            }
        }
    }

    /// The connection's token must still be unrevoked and its user present; answered by
    /// the revocation view (a statement only when the user's facts were just dropped). A
    /// re-bound credential is followed first. `Ok(true)`: the token changed.
    async fn check_live(&mut self, sink: &mut Sink) -> Result<bool, ApiError> {
        let changed = self.sync_credential(sink).await?;
        let Some(claims) = &self.live else {
            return Ok(changed);
        };
        principal::still_valid(&self.app.state.revocations, claims).await?;
        Ok(changed)
    }
}

/// When the connection's token stops being accepted: its `exp` plus the leeway.
fn expires(claims: &Claims, app: &HttpState) -> tokio::time::Instant {
    // Expired from the instant the clock reaches `exp` (plus the leeway): to the
    // millisecond, so the socket closes at once, not up to a second or two late.
    let leeway = app.state.config.jwt_leeway.as_secs() as i64;
    let deadline_ms = claims.exp.saturating_add(leeway).saturating_mul(1000);
    let left = deadline_ms
        .saturating_sub(chrono::Utc::now().timestamp_millis())
        .clamp(0, 100 * 365 * 86_400 * 1000);
    tokio::time::Instant::now() + Duration::from_millis(left as u64)
}

/// RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code; a
/// longer reason (an echoed id, a parser message) would make the close frame invalid.
fn close_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// A read error: a message over `MAX_BODY_BYTES` is 1009; anything else just ends it.
fn read_error(error: &axum::Error) -> Close {
    let too_big = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        Close(CLOSE_TOO_BIG, "Message too big".into())
    } else {
        Close(1002, "Protocol error".into())
    }
}

/// A result message, its payload written in the order the query selected the fields.
#[derive(serde::Serialize)]
struct ServerMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    payload: WireResponse<'a>,
}

/// How long a `pong` waits for the operations started before its `ping` to be live.
const PONG_WAIT: Duration = Duration::from_secs(5);

fn pong(payload: Option<Value>) -> Value {
    let mut pong = json!({ "type": "pong" });
    if let Some(payload) = payload {
        pong["payload"] = payload;
    }
    pong
}

/// An `error` message; each error's fields in GraphQL's order (`message` first), which a
/// detour through `serde_json::Value` would sort.
#[derive(serde::Serialize)]
struct ErrorMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    payload: &'a [async_graphql::ServerError],
}

async fn send_errors(
    sink: &mut Sink,
    id: &str,
    errors: &[async_graphql::ServerError],
) -> Result<(), Option<Close>> {
    let message = ErrorMessage {
        kind: "error",
        id,
        payload: errors,
    };
    match serde_json::to_string(&message) {
        Ok(text) => send_text(sink, text).await,
        Err(error) => {
            tracing::error!(%error, "cannot serialize an error message");
            Err(Some(Close(1011, "Internal server error".into())))
        }
    }
}

async fn send(sink: &mut Sink, message: Value) -> Result<(), Option<Close>> {
    send_text(sink, message.to_string()).await
}

async fn send_text(sink: &mut Sink, text: String) -> Result<(), Option<Close>> {
    sink.send(Message::Text(text.into()))
        .await
        .map_err(|_| None)
}

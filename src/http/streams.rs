//! Subscriptions over HTTP (API.md "Subscriptions over HTTP"), for networks and hosts that
//! block WebSockets: a subscription `POST /graphql` that accepts `text/event-stream` is
//! answered as GraphQL over Server-Sent Events (graphql-sse's distinct connections mode),
//! one that accepts `multipart/mixed;subscriptionSpec="1.0"` as Apollo's multipart
//! subscriptions (with heartbeats).
//!
//! The operation runs through the same executor as over a socket — same guards, limits
//! and metrics — and the stream follows its credential as a socket does, from the
//! revocation view's notices (no database polling per stream): a revoked token, a deleted
//! user or the token's `exp` ends the stream with a last result carrying the code. The
//! stream holds its connection, so `MAX_CONNECTIONS` bounds streams; `REQUEST_TIMEOUT`
//! bounds only the time to the response head, not a running stream.

use std::{convert::Infallible, time::Duration};

use async_graphql::Response;
use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response as HttpResponse},
};
use futures_util::{StreamExt, stream::BoxStream};
use serde_json::json;
use tokio::sync::{broadcast, watch};

use super::WireResponse;
use crate::auth::tokens::Claims;
use crate::graphql::errors::ApiError;
use crate::metrics::{Metrics, StreamGuard};
use crate::service::principal;
use crate::service::revocations::{Change, Revocations};

/// How a stream is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text/event-stream`: `event: next` / `event: complete`, a comment as keep-alive.
    Sse,
    /// `multipart/mixed; boundary="graphql"; subscriptionSpec="1.0"`: one JSON part per
    /// result (`{"payload": …}`), `{}` as heartbeat.
    Multipart,
}

/// SSE keep-alive comment period (at least every 10 s, API.md).
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Apollo's multipart heartbeat period (its client expects one at least every 5 s).
const MULTIPART_HEARTBEAT: Duration = Duration::from_secs(5);

impl Kind {
    /// The stream the `Accept` header asks for, if any: a media range `multipart/mixed`
    /// whose `subscriptionSpec` is `1.0` (quoted or not, any other parameters beside it),
    /// or `text/event-stream`; a range with `q=0` asks for nothing (RFC 9110 §12.4.2).
    pub fn wanted(accept: &str) -> Option<Self> {
        let ranges = || {
            accept
                .split(',')
                .map(MediaRange::parse)
                .filter(|r| !r.refused)
        };
        if ranges().any(|range| {
            range.is("multipart/mixed")
                && range
                    .param("subscriptionspec")
                    .is_some_and(|spec| spec == "1.0")
        }) {
            Some(Self::Multipart)
        } else if ranges().any(|range| range.is("text/event-stream")) {
            Some(Self::Sse)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Sse => "text/event-stream",
            Self::Multipart => "multipart/mixed; boundary=\"graphql\"; subscriptionSpec=\"1.0\"",
        }
    }

    fn keep_alive(self) -> Duration {
        match self {
            Self::Sse => SSE_KEEP_ALIVE,
            Self::Multipart => MULTIPART_HEARTBEAT,
        }
    }
}

/// One media range of an `Accept` header.
struct MediaRange<'a> {
    mime: &'a str,
    params: Vec<(&'a str, &'a str)>,
    /// `q=0`: "not acceptable".
    refused: bool,
}

impl<'a> MediaRange<'a> {
    fn parse(range: &'a str) -> Self {
        let mut parts = range.split(';');
        let mime = parts.next().unwrap_or_default().trim();
        let params: Vec<(&str, &str)> = parts
            .filter_map(|param| param.split_once('='))
            .map(|(name, value)| (name.trim(), value.trim().trim_matches('"')))
            .collect();
        let refused = params.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("q") && value.parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        Self {
            mime,
            params,
            refused,
        }
    }

    fn is(&self, mime: &str) -> bool {
        self.mime.eq_ignore_ascii_case(mime)
    }

    fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

/// What the stream writes next.
enum Frame {
    Result(Box<Response>),
    /// The credential went bad: a last result with the code, then the end.
    Refused(ApiError),
    KeepAlive,
    Complete,
}

/// Everything the stream follows.
struct Follow {
    responses: BoxStream<'static, Response>,
    kind: Kind,
    view: Revocations,
    changes: broadcast::Receiver<Change>,
    /// The caller's token, if the operation ran with one.
    claims: Option<Claims>,
    expiry: std::pin::Pin<Box<tokio::time::Sleep>>,
    keep_alive: tokio::time::Interval,
    /// Until the subscription listens for its events: the first keep-alive is sent then,
    /// so a client (or a test) knows an event raised from now on reaches it.
    listening: Option<watch::Receiver<bool>>,
    /// Something was written (multipart: the opening delimiter).
    opened: bool,
    ended: bool,
    /// Counts the stream in `authql_http_streams` while it lives.
    _open: StreamGuard,
}

/// The streamed answer to a subscription (or, over SSE, to a query or mutation: one
/// `next`, then `complete`).
pub fn respond(
    kind: Kind,
    responses: BoxStream<'static, Response>,
    listening: watch::Receiver<bool>,
    view: Revocations,
    claims: Option<Claims>,
    leeway: Duration,
    metrics: &Metrics,
) -> HttpResponse {
    let expiry = match &claims {
        Some(claims) => {
            let deadline_ms = claims
                .exp
                .saturating_add(leeway.as_secs() as i64)
                .saturating_mul(1000);
            let left = deadline_ms
                .saturating_sub(chrono::Utc::now().timestamp_millis())
                .clamp(0, 100 * 365 * 86_400 * 1000);
            tokio::time::Instant::now() + Duration::from_millis(left as u64)
        }
        None => tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 86_400),
    };
    let mut keep_alive = tokio::time::interval_at(
        tokio::time::Instant::now() + kind.keep_alive(),
        kind.keep_alive(),
    );
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let follow = Follow {
        responses,
        kind,
        changes: view.subscribe(),
        view,
        claims,
        expiry: Box::pin(tokio::time::sleep_until(expiry)),
        keep_alive,
        listening: Some(listening),
        opened: false,
        ended: false,
        _open: metrics.http_stream_opened(),
    };
    let frames = futures_util::stream::unfold(follow, |mut follow| async move {
        if follow.ended {
            return None;
        }
        let frame = follow.next_frame().await;
        let mut bytes = String::new();
        if !std::mem::replace(&mut follow.opened, true) && follow.kind == Kind::Multipart {
            bytes.push_str(DELIMITER);
        }
        encode(follow.kind, &frame, &mut bytes);
        match frame {
            Frame::Complete => follow.ended = true,
            Frame::Refused(_) => {
                // A last result with the code, then the end of the stream.
                encode(follow.kind, &Frame::Complete, &mut bytes);
                follow.ended = true;
            }
            Frame::Result(_) | Frame::KeepAlive => {}
        }
        Some((Ok::<_, Infallible>(Bytes::from(bytes)), follow))
    });
    streamed(kind, Body::from_stream(frames))
}

/// A stream refused before it began (a cookie without its CSRF header): the refusal as
/// its one result, then the end.
pub fn refuse(kind: Kind, error: &ApiError) -> HttpResponse {
    let mut body = String::new();
    if kind == Kind::Multipart {
        body.push_str(DELIMITER);
    }
    encode(kind, &Frame::Refused(error.clone()), &mut body);
    encode(kind, &Frame::Complete, &mut body);
    streamed(kind, Body::from(body))
}

/// The response head of a stream.
fn streamed(kind: Kind, body: Body) -> HttpResponse {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) must pass events on at once, not buffer them.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

impl Follow {
    async fn next_frame(&mut self) -> Frame {
        loop {
            let following = self.claims.is_some();
            tokio::select! {
                next = self.responses.next() => {
                    return match next {
                        Some(response) => Frame::Result(Box::new(response)),
                        None => Frame::Complete,
                    };
                }
                _ = self.keep_alive.tick() => return Frame::KeepAlive,
                changed = wait_listening(&mut self.listening) => {
                    self.listening = None;
                    if changed {
                        return Frame::KeepAlive;
                    }
                }
                () = &mut self.expiry, if following => return Frame::Refused(ApiError::TokenExpired),
                change = self.changes.recv(), if following => {
                    let concerns = match change {
                        Ok(Change::User(user_id)) => {
                            self.claims.as_ref().and_then(Claims::user_id) == Some(user_id)
                        }
                        Ok(Change::Everything) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return Frame::Complete,
                    };
                    if concerns && let Some(claims) = &self.claims {
                        match principal::still_valid(&self.view, claims).await {
                            Ok(()) => {}
                            Err(error) => match ApiError::from(error) {
                                // The check itself failed: the next change checks again.
                                ApiError::Internal | ApiError::ServiceUnavailable { .. } => {}
                                refused => return Frame::Refused(refused),
                            },
                        }
                    }
                }
            }
        }
    }
}

/// True once the operation listens; false if it ended first. Pending forever once
/// `listening` is `None` (announced already).
async fn wait_listening(listening: &mut Option<watch::Receiver<bool>>) -> bool {
    match listening {
        Some(receiver) => receiver.wait_for(|live| *live).await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Apollo's multipart delimiter. It opens the body and closes every part at once, as
/// Apollo Router writes it: a client hands a part on when it reads the delimiter after it,
/// so a part must not wait for the next one's opening.
const DELIMITER: &str = "\r\n--graphql";

/// Appends `frame` as `kind` writes it.
fn encode(kind: Kind, frame: &Frame, out: &mut String) {
    match (kind, frame) {
        (Kind::Sse, Frame::Result(response)) => sse_next(out, &json_of(response)),
        (Kind::Sse, Frame::Refused(error)) => sse_next(out, &refusal(error)),
        (Kind::Sse, Frame::KeepAlive) => out.push_str(":\n\n"),
        (Kind::Sse, Frame::Complete) => out.push_str("event: complete\ndata:\n\n"),
        (Kind::Multipart, Frame::Result(response)) => {
            part(out, &format!("{{\"payload\":{}}}", json_of(response)));
        }
        (Kind::Multipart, Frame::Refused(error)) => {
            part(out, &format!("{{\"payload\":{}}}", refusal(error)));
        }
        (Kind::Multipart, Frame::KeepAlive) => part(out, "{}"),
        // The delimiter is already written: `--` makes it the closing one.
        (Kind::Multipart, Frame::Complete) => out.push_str("--\r\n"),
    }
}

/// An SSE `next` event; JSON text holds no raw line break, so one `data:` line.
fn sse_next(out: &mut String, json: &str) {
    out.push_str("event: next\ndata: ");
    out.push_str(json);
    out.push_str("\n\n");
}

/// One multipart part, closed by the delimiter.
fn part(out: &mut String, json: &str) {
    out.push_str("\r\nContent-Type: application/json; charset=utf-8\r\n\r\n");
    out.push_str(json);
    out.push_str(DELIMITER);
}

fn json_of(response: &Response) -> String {
    serde_json::to_string(&WireResponse(response)).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialize a streamed response");
        r#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_owned()
    })
}

/// The last result of a stream whose credential went bad.
fn refusal(error: &ApiError) -> String {
    json!({
        "data": null,
        "errors": [{ "message": error.message(), "extensions": { "code": error.code().as_str() } }],
    })
    .to_string()
}

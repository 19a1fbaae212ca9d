//! The accept loop: HTTP/1.1 only (with upgrades, for WebSockets) on hyper directly,
//! because `axum::serve` sets no timer, and hyper-util's protocol sniffing (which
//! `http1_only` does not turn off for upgradable connections) waits for 24 bytes with no
//! timer at all: a socket that sent nothing stayed open for good (API.md HTTP surface).
//!
//! Each connection:
//! - takes one of `MAX_CONNECTIONS` permits, or is closed at once (never queued); the
//!   permit lives in the connection's I/O, so a WebSocket keeps it after the upgrade;
//! - is closed when it has not sent a whole first request head within
//!   `REQUEST_HEAD_TIMEOUT`, when a later head takes longer than that once begun, or when
//!   it idles between requests past `KEEP_ALIVE_TIMEOUT` ([`Timers`]). A request being
//!   handled is bounded by `REQUEST_TIMEOUT` instead (the router's layer).
//!
//! An HTTP/2 prior-knowledge preface is not HTTP/1.1: hyper answers it as a malformed
//! request and closes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long requests in flight at shutdown may still take; after that they are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The connection limits of API.md HTTP surface.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// `REQUEST_HEAD_TIMEOUT`.
    pub head_timeout: Duration,
    /// `KEEP_ALIVE_TIMEOUT`.
    pub keep_alive_timeout: Duration,
}

/// Serves `app` until `shutdown` completes, then lets requests in flight finish (within
/// [`SHUTDOWN_GRACE`]) while refusing new connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // Every connection task holds a receiver: `true` asks it to finish its request and
    // close; the sender's `closed()` tells when every task has ended.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over MAX_CONNECTIONS: closed at once, so a flood of idle sockets cannot
            // queue up in front of real clients.
            tracing::debug!(%peer, "MAX_CONNECTIONS reached: connection closed");
            drop(stream);
            continue;
        };
        let timers = Arc::new(Timers::new(limits));
        let service = {
            let started = timers.clone();
            app.clone()
                .map_request(move |mut request: http::Request<Incoming>| {
                    started.request_started();
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request
                })
                .map_response({
                    let timers = timers.clone();
                    move |response: axum::response::Response| {
                        let guard = ResponseGuard(timers.clone());
                        response.map(|body| {
                            axum::body::Body::new(GuardedBody {
                                inner: body,
                                _guard: guard,
                            })
                        })
                    }
                })
        };
        let io = TimedIo {
            stream,
            timers: timers.clone(),
            _permit: permit,
        };
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            // The head timer is ours (`Timers`): hyper's would also run while the
            // connection idles between requests, where KEEP_ALIVE_TIMEOUT applies.
            http.timer(TokioTimer::new()).header_read_timeout(None);
            let connection = http
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            let mut shutting_down = false;
            loop {
                // While a request is being handled there is no deadline; look again a
                // head timeout later, so the idle timer starts once it is answered.
                let deadline = timers
                    .deadline()
                    .unwrap_or_else(|| Instant::now() + limits.head_timeout);
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                        return;
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        if timers.deadline().is_some_and(|d| d <= Instant::now()) {
                            tracing::debug!("connection idle or slow past its timeout: closed");
                            return;
                        }
                    }
                    _ = stopping.changed(), if !shutting_down => {
                        // Finish the request in flight, then close.
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(stopping);
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop.send(true);
    // Draining waits for every open request, and a client that stops sending halfway
    // through a body would otherwise keep the process alive until it is killed.
    if tokio::time::timeout(SHUTDOWN_GRACE, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still open {}s after shutdown began are dropped",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// When a connection must be closed for sending nothing, too slowly, or idling.
struct Timers {
    limits: Limits,
    state: Mutex<TimerState>,
}

#[derive(Clone, Copy)]
struct TimerState {
    /// Requests handed to the app whose response has not been sent whole yet.
    in_flight: usize,
    /// No request completed yet: the first head must arrive within the head timeout of
    /// the connection's start.
    first: bool,
    /// When the connection last became idle (its start, or the end of a response).
    idle_since: Instant,
    /// When the first byte of the next request arrived, while idle.
    head_started: Option<Instant>,
}

impl Timers {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: Mutex::new(TimerState {
                in_flight: 0,
                first: true,
                idle_since: Instant::now(),
                head_started: None,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut TimerState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// When the connection is to be closed, as things stand: `None` while a request is
    /// being handled.
    fn deadline(&self) -> Option<Instant> {
        let state = self.with(|state| *state);
        if state.in_flight > 0 {
            return None;
        }
        let head = self.limits.head_timeout;
        Some(if state.first {
            state.idle_since + head
        } else if let Some(started) = state.head_started {
            (started + head).min(state.idle_since + self.limits.keep_alive_timeout + head)
        } else {
            state.idle_since + self.limits.keep_alive_timeout
        })
    }

    /// Bytes arrived from the client.
    fn read(&self) {
        self.with(|state| {
            if state.in_flight == 0 && state.head_started.is_none() {
                state.head_started = Some(Instant::now());
            }
        });
    }

    /// A whole head arrived: the request is the app's now.
    fn request_started(&self) {
        self.with(|state| {
            state.in_flight += 1;
            state.head_started = None;
        });
    }

    /// A response was sent whole (or dropped): idle again when no other is pending.
    fn response_done(&self) {
        self.with(|state| {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.first = false;
                state.idle_since = Instant::now();
                state.head_started = None;
            }
        });
    }
}

/// Marks its response done when dropped: hyper drops a response body once it has been
/// written whole (or the connection failed).
struct ResponseGuard(Arc<Timers>);

impl Drop for ResponseGuard {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

/// A response body that carries its [`ResponseGuard`].
struct GuardedBody {
    inner: axum::body::Body,
    _guard: ResponseGuard,
}

impl axum::body::HttpBody for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The client's socket, telling [`Timers`] when bytes arrive, and holding the
/// connection's place under `MAX_CONNECTIONS` for as long as the socket lives (a
/// WebSocket included).
struct TimedIo {
    stream: TcpStream,
    timers: Arc<Timers>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.timers.read();
        }
        polled
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Raises the soft open-file limit to the hard one, and warns, naming `MAX_CONNECTIONS`,
/// when even that is below what that many connections need (plus some for the database,
/// the log and the listeners).
pub fn raise_open_file_limit(max_connections: usize) {
    const SPARE: u64 = 64;
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if let Some(hard) = limit.maximum
            && limit.current.is_some_and(|soft| soft < hard)
        {
            limit.current = Some(hard);
            if let Err(error) = setrlimit(Resource::Nofile, limit) {
                tracing::warn!(%error, "cannot raise the open-file limit");
            }
        }
        let soft = getrlimit(Resource::Nofile).current;
        let needed = max_connections as u64 + SPARE;
        if let Some(soft) = soft.filter(|soft| *soft < needed) {
            tracing::warn!(
                "the open-file limit ({soft}) is below MAX_CONNECTIONS ({max_connections}) plus \
                 {SPARE}: connections beyond it will fail to be accepted; lower MAX_CONNECTIONS \
                 or raise the limit (ulimit -n, LimitNOFILE=)"
            );
        }
    }
}

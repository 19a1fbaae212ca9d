//! The accept loop: HTTP/1.1 (with upgrades, for WebSockets) on hyper directly, because
//! `axum::serve` sets no timer and so cannot bound how long a client may take to send a
//! request head (slowloris). hyper's own `header_read_timeout` does it here
//! (`REQUEST_HEAD_TIMEOUT`); graceful shutdown is hyper-util's.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long requests in flight at shutdown may still take; after that they are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` until `shutdown` completes, then lets requests in flight finish (within
/// [`SHUTDOWN_GRACE`]) while refusing new connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    head_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
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
        let service = app
            .clone()
            .map_request(move |mut request: http::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut http = Builder::new(TokioExecutor::new()).http1_only();
            http.http1()
                .timer(TokioTimer::new())
                .header_read_timeout(head_timeout);
            let connection = http.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    // Draining waits for every open request, and a client that stops sending halfway
    // through a body would otherwise keep the process alive until it is killed.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still open {}s after shutdown began are dropped",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

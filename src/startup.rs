//! `Application::build` binds the listener first (so port 0 works and tests can learn the
//! real port), connects, migrates and builds state and schema; `run_until` serves until the
//! shutdown future completes, letting in-flight requests finish.

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use tokio::net::TcpListener;

use crate::auth::{password::Passwords, rate_limit::LoginLimiter, tokens::JwtKeys};
use crate::config::{Config, ConfigError};
use crate::domain::CursorCodec;
use crate::events::EventBus;
use crate::service::{login_failures, tokens};
use crate::state::AppState;
use crate::{db, graphql, http};

/// A built, not yet running server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    addr: SocketAddr,
}

impl Application {
    /// Everything that can fail at start fails here, with the variable to blame.
    pub async fn build(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let keys = JwtKeys::from_config(&config)?;
        let db = db::connect(&config.database_url)
            .await
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("cannot connect: {e}")))?;
        db::migrate(&db)
            .await
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("cannot migrate: {e}")))?;
        let events = EventBus::start(&db, &config.database_url)
            .await
            .map_err(|e| {
                ConfigError::new("DATABASE_URL", format!("cannot listen for events: {e}"))
            })?;
        let passwords = tokio::task::spawn_blocking(Passwords::new)
            .await
            .map_err(|e| ConfigError::new("APP_ENV", format!("startup task failed: {e}")))?
            .map_err(|e| {
                ConfigError::new("APP_ENV", format!("password hashing unavailable: {e}"))
            })?;
        let listener = TcpListener::bind(config.listen_addr).await.map_err(|e| {
            ConfigError::new(
                "LISTEN_ADDR",
                format!("cannot bind {}: {e}", config.listen_addr),
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ConfigError::new("LISTEN_ADDR", e.to_string()))?;
        let state = AppState {
            db,
            cursors: CursorCodec::new(keys.mac_key()),
            keys: Arc::new(keys),
            passwords,
            login_limiter: LoginLimiter {
                max_failures: config.login_max_failures,
                window: config.login_failure_window,
            },
            events,
            config: Arc::new(config),
        };
        Ok(Self {
            listener,
            state,
            addr,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Calls `callback` after every SQL statement the server runs (tests count statements
    /// to prove there is no N+1).
    pub fn on_statement(&mut self, callback: impl Fn(&str) + Send + Sync + 'static) {
        self.state
            .db
            .set_metric_callback(move |info| callback(&info.statement.sql));
    }

    /// Serves until `shutdown` completes; requests in flight finish (within
    /// [`SHUTDOWN_GRACE`]), new connections are refused.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let schema = graphql::schema::build(self.state.clone());
        let app = http::router::router(self.state.clone(), schema);
        let pruner = tokio::spawn(prune_periodically(self.state.clone()));
        tracing::info!("listening on http://{}", self.addr);
        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            let _ = draining_tx.send(());
        };
        let serve = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .into_future();
        // Draining waits for every open request, and a client that stops sending halfway
        // through a body would otherwise keep the process alive until it is killed.
        let grace_over = async move {
            match draining_rx.await {
                Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            result = serve => result,
            () = grace_over => {
                tracing::warn!(
                    "requests still open {}s after shutdown began are dropped",
                    SHUTDOWN_GRACE.as_secs()
                );
                Ok(())
            }
        };
        pruner.abort();
        result
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// How long requests in flight at shutdown may still take; after that they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Deletes token records and login failures that can no longer matter.
async fn prune_periodically(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        let window = chrono::Duration::from_std(state.config.login_failure_window)
            .unwrap_or(chrono::Duration::MAX);
        match tokens::prune_expired(&state.db, now).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "pruned expired token records"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "token pruning failed"),
        }
        if let Err(e) = login_failures::prune(&state.db, now - window).await {
            tracing::warn!(error = %e, "login failure pruning failed");
        }
    }
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is called, before
/// `listening on` is logged: a signal sent as soon as that line appears must drain the
/// server, not kill it with the default action (tokio installs a handler only when its
/// future is first polled, which `axum::serve` does after the line is out).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        [
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ]
    };
    async move {
        #[cfg(unix)]
        {
            let [terminate, interrupt] = signals.map(|signal| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            });
            tokio::select! {
                () = terminate => {},
                () = interrupt => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

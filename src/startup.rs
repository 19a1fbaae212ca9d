//! `Application::build` binds the listener first (so port 0 works and tests can learn the
//! real port), connects, migrates and builds state and schema; `run_until` serves until the
//! shutdown future completes, letting in-flight requests finish.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::auth::outside::{self, FetchOutcome, OutsideIssuers};
use crate::auth::{password::Passwords, second_factor::SecretBox, tokens::JwtKeys};
use crate::config::{Config, ConfigError};
use crate::db::{DbSettings, Health, OnStatement, SqliteReads};
use crate::domain::CursorCodec;
use crate::events::EventBus;
use crate::graphql::trusted::TrustedDocuments;
use crate::metrics::Metrics;
use crate::service::attempts;
use crate::service::catalogue::Catalogue;
use crate::service::mail::{self, SmtpMailer};
use crate::service::mfa::{self, MfaClock, SecondFactor};
use crate::service::outside::OutsideUsers;
use crate::service::recovery::{self, Outbox, Recovery};
use crate::service::revocations::{self, Revocations};
use crate::service::sessions::Sessions;
use crate::service::users::Accounts;
use crate::service::{audit, session_store, tokens};
use crate::state::{AppState, Services};
use crate::{db, graphql, http};

/// Called with the SQL of every statement the server runs.
pub type StatementHook = Box<dyn Fn(&str) + Send + Sync>;

/// What tests and benches may attach to a server they build in-process.
#[derive(Default)]
pub struct Hooks {
    /// Called after every SQL statement the server runs, its background work included
    /// (tests count statements to prove there is no N+1, benches measure the database
    /// work of idle sockets).
    pub on_statement: Option<StatementHook>,
    /// `PRAGMA`s for every SQLite connection of the pool (tests bound the file with
    /// `max_page_count` to meet a full disk).
    pub sqlite_pragmas: Vec<(String, String)>,
    /// Each `requestPasswordReset` is handled only once it gets a permit (tests prove the
    /// answer comes before any lookup).
    pub reset_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// The Unix time second-factor codes are checked against, when not 0 (tests step
    /// through TOTP windows without sleeping).
    pub totp_clock: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// How soon outside issuers' keys are retried and refetched (tests shorten the 30 s).
    pub outside_timing: Option<outside::Timing>,
}

/// A built, not yet running server.
pub struct Application {
    /// The background work that runs while the server serves.
    workers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    listener: TcpListener,
    /// `METRICS_ADDR`'s listener, when set.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The trusted documents (`PERSISTED_DOCUMENTS_FILES`), reloaded on `SIGHUP`.
    trusted: Arc<TrustedDocuments>,
    addr: SocketAddr,
}

impl Application {
    /// Everything that can fail at start fails here, with the variable to blame.
    pub async fn build(config: Config) -> Result<Self, ConfigError> {
        Self::build_with(config, Hooks::default()).await
    }

    /// Like [`build`](Self::build), with [`Hooks`] attached.
    pub async fn build_with(config: Config, hooks: Hooks) -> Result<Self, ConfigError> {
        config.validate()?;
        let keys = JwtKeys::from_config(&config)?;
        // The addresses first: a port in use is reported before any database work.
        let listener = TcpListener::bind(config.listen_addr).await.map_err(|e| {
            ConfigError::new(
                "LISTEN_ADDR",
                format!("cannot bind {}: {e}", config.listen_addr),
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ConfigError::new("LISTEN_ADDR", e.to_string()))?;
        let metrics_listener = match config.metrics_addr {
            Some(metrics_addr) => Some(TcpListener::bind(metrics_addr).await.map_err(|e| {
                ConfigError::new("METRICS_ADDR", format!("cannot bind {metrics_addr}: {e}"))
            })?),
            None => None,
        };
        let settings = DbSettings {
            sqlite_pragmas: hooks.sqlite_pragmas,
            ..DbSettings::from_config(&config)
        };
        let mut db = db::connect(&config.database_url, &settings)
            .await
            .map_err(|why| ConfigError::new("DATABASE_URL", why))?;
        let on_statement: Option<OnStatement> = hooks.on_statement.map(Arc::from);
        // Set before the connection is cloned into anything.
        if let Some(hook) = on_statement.clone() {
            db.set_metric_callback(move |info| hook(&info.statement.sql));
        }
        db::migrate(&db)
            .await
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("cannot migrate: {e}")))?;
        // A database that cannot be written (a read-only file, `mode=ro`, a full disk)
        // would serve reads and fail every write: refuse to start instead.
        db::probe_write(&db)
            .await
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("cannot write: {e}")))?;
        let events = EventBus::start(&db, &config.database_url)
            .await
            .map_err(|e| {
                ConfigError::new("DATABASE_URL", format!("cannot listen for events: {e}"))
            })?;
        // How long after issue a token can still be presented: what the view must know.
        let horizon =
            chrono::Duration::from_std(config.jwt_access_token_expires + config.jwt_leeway)
                .unwrap_or(chrono::Duration::MAX);
        let revocations = Revocations::start(&db, &config.database_url, horizon)
            .await
            .map_err(|e| {
                ConfigError::new(
                    "DATABASE_URL",
                    format!("cannot listen for revocations: {e}"),
                )
            })?;
        let sqlite_reads = SqliteReads::open(&db, on_statement)
            .await
            .map_err(|e| ConfigError::new("DATABASE_URL", format!("cannot open for reads: {e}")))?
            .map(Arc::new);
        let passwords = Passwords::new(config.password_hash_queue);
        let keys = Arc::new(keys);
        let metrics = Metrics::new();
        let mail_wake = Arc::new(tokio::sync::Notify::new());
        let outbox = Outbox::new(&config, mail_wake.clone());
        let mut workers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
        match &config.mail_url {
            Some(url) => {
                if config.is_production() && config.mail_in_clear() {
                    tracing::warn!(
                        "MAIL_URL sends in clear to a remote host: use smtps:// or \
                         ?tls=required, so reset links and the SMTP password are encrypted"
                    );
                }
                let mailer = SmtpMailer::new(&url.0, &config.mail_from)
                    .map_err(|why| ConfigError::new("MAIL_URL", why))?;
                let sender = mail::Sender::new(
                    db.clone(),
                    Arc::new(mailer),
                    metrics.clone(),
                    mail_wake.clone(),
                );
                workers.push(Box::pin(sender.run()));
            }
            None => tracing::warn!(
                "MAIL_URL is not set: mail (password resets, verifications) stays in the outbox \
                 unsent; `authql mail-outbox` prints it"
            ),
        }
        let (recovery, reset_worker) = Recovery::new(
            db.clone(),
            revocations.clone(),
            passwords.clone(),
            outbox.clone(),
            hooks.reset_gate,
        );
        workers.push(Box::pin(reset_worker.run()));
        let sessions = Sessions::new(
            db.clone(),
            keys.clone(),
            passwords.clone(),
            revocations.clone(),
            metrics.clone(),
            outbox.clone(),
            &config,
        )
        .with_direct_reads(sqlite_reads.clone());
        let (mfa_key, mfa_previous) = config.mfa_keys()?;
        let secrets = SecretBox::new(mfa_key, &mfa_previous);
        if !secrets.seals() {
            tracing::warn!(
                "MFA_ENCRYPTION_KEY is not set: TOTP secrets are stored unencrypted{}",
                if config.is_production() {
                    " (production: enrollTotp answers FEATURE_DISABLED)"
                } else {
                    ""
                }
            );
        }
        mfa::reseal(&db, &secrets, config.is_production()).await?;
        let outside_settings = match &config.external_issuers_file {
            Some(path) => outside::load(path, config.jwt_issuer.as_deref())?,
            None => Vec::new(),
        };
        let trusted = Arc::new(TrustedDocuments::load(
            config.persisted_documents,
            config.persisted_documents_files.clone(),
            graphql::schema::validator(&config),
            metrics.clone(),
        )?);
        let fetch_metrics = metrics.clone();
        let outside = OutsideIssuers::new(
            outside_settings,
            config.jwt_leeway.as_secs(),
            hooks.outside_timing.unwrap_or_default(),
            Arc::new(move |issuer: &str, outcome: FetchOutcome| {
                fetch_metrics.jwks_fetch(issuer, outcome.label())
            }),
        );
        metrics.jwks_issuers(&outside.names());
        outside.start();
        let outside_users = OutsideUsers::new(db.clone(), revocations.clone());
        let second_factor = SecondFactor::new(
            db.clone(),
            sessions.clone(),
            revocations.clone(),
            metrics.clone(),
            outbox,
            secrets,
            &config,
            hooks.totp_clock.map(MfaClock::fixed).unwrap_or_default(),
        );
        let catalogue = Catalogue::new(db.clone(), revocations.clone(), events.clone());
        let accounts = Accounts::new(db.clone(), revocations.clone(), events.clone());
        let state = AppState::new(Services {
            catalogue,
            accounts,
            recovery,
            second_factor,
            outside,
            outside_users,
            health: Arc::new(Health::new(db.clone())),
            db,
            sqlite_reads,
            cursors: CursorCodec::new(keys.mac_key()),
            keys,
            passwords,
            sessions,
            events,
            revocations,
            metrics,
            config: Arc::new(config),
        });
        Ok(Self {
            workers,
            listener,
            metrics_listener,
            state,
            trusted,
            addr,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's bound address, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes; requests in flight finish (within
    /// [`http::server::SHUTDOWN_GRACE`]), new connections are refused.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let executor = graphql::execution::Executor::new(self.state.clone(), self.trusted.clone());
        let app = http::router::router(self.state.clone(), executor);
        let pruner = tokio::spawn(prune_periodically(self.state.clone()));
        let reloader = tokio::spawn(reload_on_hangup(self.trusted.clone()));
        let workers: Vec<_> = self.workers.into_iter().map(tokio::spawn).collect();
        let metrics = match self.metrics_listener {
            Some(listener) => Some(http::metrics::serve(listener, self.state.clone())?),
            None => None,
        };
        http::server::raise_open_file_limit(self.state.config.max_connections);
        tracing::info!("listening on http://{}", self.addr);
        let config = &self.state.config;
        let limits = http::server::Limits {
            max_connections: config.max_connections,
            head_timeout: config.request_head_timeout,
            keep_alive_timeout: config.keep_alive_timeout,
        };
        http::server::serve(self.listener, app, limits, shutdown).await;
        pruner.abort();
        reloader.abort();
        for worker in workers {
            worker.abort();
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Deletes token records, login attempts, sessions and change notices that can no longer
/// matter, and auth events past `AUDIT_RETENTION`: at start, then hourly.
async fn prune_periodically(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        let window = chrono::Duration::from_std(state.config.login_failure_window)
            .unwrap_or(chrono::Duration::MAX);
        // A record must outlive its token's acceptance, leeway included: without it a
        // rotated refresh token would pass for one minted elsewhere and rotate again.
        let leeway = chrono::Duration::from_std(state.config.jwt_leeway).unwrap_or_default();
        match tokens::prune_expired(&state.db, now - leeway).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "pruned expired token records"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "token pruning failed"),
        }
        if let Err(e) = attempts::prune(&state.db, now - window).await {
            tracing::warn!(error = %e, "login attempt pruning failed");
        }
        if let Err(e) = session_store::prune(&state.db, now - leeway).await {
            tracing::warn!(error = %e, "session pruning failed");
        }
        let retention = chrono::Duration::from_std(state.config.audit_retention)
            .unwrap_or(chrono::Duration::MAX);
        match audit::prune(&state.db, now - retention).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "pruned auth events past AUDIT_RETENTION"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "auth event pruning failed"),
        }
        match mail::prune_expired(&state.db).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "dropped mails whose token expired"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "mail outbox pruning failed"),
        }
        if let Err(e) = recovery::prune_quota(&state.db).await {
            tracing::warn!(error = %e, "mail quota pruning failed");
        }
        if let Err(e) = recovery::prune_tokens(&state.db).await {
            tracing::warn!(error = %e, "one-time token pruning failed");
        }
        // Every instance reads the change log every 250 ms: a minute is plenty.
        if let Err(e) = revocations::prune(&state.db, now - chrono::Duration::minutes(1)).await {
            tracing::warn!(error = %e, "change log pruning failed");
        }
    }
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is called, before
/// Reloads the trusted documents on each `SIGHUP` (a reload that fails keeps the set).
async fn reload_on_hangup(trusted: Arc<TrustedDocuments>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: trusted documents load at start only");
            return;
        };
        while hangups.recv().await.is_some() {
            // Reading and validating the files is blocking work.
            let trusted = trusted.clone();
            let _ = tokio::task::spawn_blocking(move || trusted.reload()).await;
        }
    }
    #[cfg(not(unix))]
    drop(trusted);
}

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
    }
}

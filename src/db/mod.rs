//! Database connection: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL, chosen by
//! the `DATABASE_URL` scheme; what makes a failure "the database cannot take this now"
//! rather than a bug ([`unavailable`]); the write [`Health`] behind `/healthz`; and
//! [`SqliteReads`] for the bounded reads that run on the request's own thread.

mod columns;
mod health;
mod sqlite_reads;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx;
use sea_orm::{ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DbErr, RuntimeErr};

pub use crate::config::Synchronous;
pub use columns::{Columns, ModelColumns};
pub use health::{Health, probe_write};
pub use sqlite_reads::{OnStatement, SqliteReads};

/// How long a start-up connection to PostgreSQL may take before it is reported
/// (API.md Data safety: "within 5 s").
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the pool treats the database (API.md "Data safety").
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// How long a statement waits for another process's lock (SQLite's busy timeout), and
    /// how long a request waits for a pooled connection, before it is answered
    /// `SERVICE_UNAVAILABLE` (`DB_BUSY_TIMEOUT`).
    pub busy_timeout: Duration,
    /// SQLite's `synchronous` (`DATABASE_SYNCHRONOUS`).
    pub synchronous: Synchronous,
    /// Connections in the pool (`DATABASE_POOL_SIZE`); `None`: [`default_pool_size`].
    pub pool_size: Option<u32>,
    /// Extra `PRAGMA name = value` run on every new SQLite connection of the pool (tests
    /// bound the file with `max_page_count` to meet a full disk without mounting one).
    pub sqlite_pragmas: Vec<(String, String)>,
}

impl DbSettings {
    /// The settings `config` asks for.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            busy_timeout: config.db_busy_timeout,
            synchronous: config.database_synchronous,
            pool_size: config.database_pool_size,
            sqlite_pragmas: Vec::new(),
        }
    }
}

impl Default for DbSettings {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
            pool_size: None,
            sqlite_pragmas: Vec::new(),
        }
    }
}

/// The pool's size when `DATABASE_POOL_SIZE` is unset. SQLite writes one at a time and
/// its bounded reads run on connections of their own: 8. PostgreSQL: twice the CPUs plus
/// one, at least 4 — measured on 2 CPUs with the server beside authql, 20 connections gave
/// the cache-missed page ~6 % less throughput and a third more p99 than 4 or 5: each
/// connection past what the CPUs serve only waits inside PostgreSQL (docs/benchmarks.md).
pub fn default_pool_size(postgres: bool) -> u32 {
    if !postgres {
        return 8;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    (2 * cpus + 1).max(4)
}

/// The connections the pool holds now, and the most it opens (the `authql_db_pool_*`
/// gauges).
pub fn pool_connections(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.options().get_max_connections())
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.options().get_max_connections())
        }
        _ => (0, 0),
    }
}

/// Opens a pool for `url` and makes sure a connection can be made, with the reason when
/// not (PostgreSQL: host, port and what went wrong, within [`CONNECT_TIMEOUT`]).
///
/// SQLite gets WAL (readers do not block the writer), the busy timeout (a statement waits
/// that long for another process's lock, then fails) and foreign keys (cascading deletes).
/// A SQLite connection whose transaction could not be ended cleanly is closed instead of
/// going back to the pool (see [`release_clean`]).
pub async fn connect(url: &str, settings: &DbSettings) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(CONNECT_TIMEOUT)
        // A request waits for a pooled connection no longer than for a lock: an exhausted
        // pool or an unreachable server is SERVICE_UNAVAILABLE, not a hang.
        .acquire_timeout(settings.busy_timeout);
    if url.starts_with("sqlite:") {
        // A file of one's own (`sqlite:///var/lib/authql.db`) is created when missing, as
        // the default URL's `mode=rwc` does; an explicit `mode=` is the operator's choice.
        let create = !url.contains("mode=");
        // A connection to a local file cannot go stale: no ping before each use (sqlx's
        // default), which cost every statement a second trip to the connection's thread.
        options.test_before_acquire(false);
        let settings = settings.clone();
        options
            .max_connections(settings.pool_size.unwrap_or(default_pool_size(false)))
            .map_sqlx_sqlite_opts(move |opts| {
                let mut opts = if create {
                    opts.create_if_missing(true)
                } else {
                    opts
                };
                for (name, value) in &settings.sqlite_pragmas {
                    opts = opts.pragma(name.clone(), value.clone());
                }
                opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(match settings.synchronous {
                        Synchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
                        Synchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
                    })
                    .busy_timeout(settings.busy_timeout)
                    .foreign_keys(true)
            })
            .map_sqlx_sqlite_pool_opts(|pool| {
                pool.after_release(|connection, _| Box::pin(release_clean(connection)))
            });
        return Database::connect(options)
            .await
            .map_err(|e| explain(url, &e));
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        check_postgres(url).await?;
    }
    // Ping only a connection idle long enough for a proxy or firewall to have dropped
    // it, not every checkout (a round trip per statement).
    options
        .max_connections(settings.pool_size.unwrap_or(default_pool_size(true)))
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    Database::connect(options)
        .await
        .map_err(|e| explain(url, &e))
}

/// Decides whether a SQLite connection may go back to the pool: only when no transaction
/// is left open on it.
///
/// SQLite may roll a whole transaction back by itself when a statement fails with
/// `SQLITE_FULL` or `SQLITE_IOERR`; sqlx's `ROLLBACK` then fails ("no transaction is
/// active") and sqlx still counts the transaction as open. The connection's next `BEGIN`
/// becomes a `SAVEPOINT`, whose rollback leaves a real transaction open: every later
/// statement on that connection "succeeds" inside a transaction that never commits, and
/// it holds the write lock for good. Such a connection is closed here (closing rolls back
/// whatever it holds) before anyone else can use it.
async fn release_clean(connection: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queues its rollback; the ping runs after it.
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!("a database connection left inside a failed transaction is closed");
        return Ok(false);
    }
    Ok(true)
}

/// Connects once, directly, to report why PostgreSQL cannot be reached: the pool would
/// retry until its timeout and then say only "pool timed out".
async fn check_postgres(url: &str) -> Result<(), String> {
    use sqlx::ConnectOptions as _;
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    let place = format!(
        "PostgreSQL at {}:{}",
        options.get_host(),
        options.get_port()
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Err(_) => Err(format!(
            "cannot connect to {place}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
        Ok(Err(error)) => Err(format!(
            "cannot connect to {place}: {}",
            postgres_reason(&error)
        )),
        Ok(Ok(connection)) => {
            let _ = sqlx::Connection::close(connection).await;
            Ok(())
        }
    }
}

/// The reason an operator can act on, in the words API.md uses.
fn postgres_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_owned()
        }
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            format!("no such host ({io})")
        }
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// Why `url` could not be opened, with a hint where SQLite's own words do not help.
pub fn explain(url: &str, error: &DbErr) -> String {
    let message = error.to_string();
    if url.starts_with("sqlite:") && message.contains("unable to open database file") {
        format!(
            "{message} (does the file's directory exist, and may authql write there? \
             SQLite URLs: sqlite://relative.db or sqlite:///absolute/path.db)"
        )
    } else {
        message
    }
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when `error` says the database cannot run the statement *now* — locked by another
/// process, disk full, read-only, unreachable, no connection free in time — rather than
/// that the statement or the data is wrong. Such a failure is answered
/// `SERVICE_UNAVAILABLE` with `retryAfter`, and nothing was written.
pub fn unavailable(error: &DbErr) -> bool {
    Unavailable::of(error).is_some()
}

/// A passing cause that keeps the database from running a statement, and how soon to try
/// again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Another connection or process holds the lock (`DB_BUSY_TIMEOUT` passed).
    Busy,
    /// Disk full, read-only, I/O error, or the server cannot be reached.
    Down,
}

impl Unavailable {
    /// The cause, when `error` is one (see [`unavailable`]).
    pub fn of(error: &DbErr) -> Option<Self> {
        match error {
            DbErr::ConnectionAcquire(_) => Some(Self::Busy),
            // Connection errors come from connecting (sea-orm) and from the direct reads.
            DbErr::Conn(_) => Some(Self::Down),
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                Self::of_sqlx(e)
            }
            _ => None,
        }
    }

    fn of_sqlx(error: &sqlx::Error) -> Option<Self> {
        match error {
            sqlx::Error::PoolTimedOut => Some(Self::Busy),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Some(Self::Down),
            sqlx::Error::Database(db) => {
                let code = db.code()?;
                if let Ok(sqlite) = code.parse::<i32>() {
                    Self::of_sqlite_code(sqlite)
                } else {
                    Self::of_sqlstate(&code)
                }
            }
            _ => None,
        }
    }

    /// SQLite's primary result codes (the low byte of an extended code).
    pub fn of_sqlite_code(code: i32) -> Option<Self> {
        match code & 0xff {
            5 | 6 => Some(Self::Busy),            // SQLITE_BUSY, SQLITE_LOCKED
            8 | 10 | 13 | 14 => Some(Self::Down), // READONLY, IOERR, FULL, CANTOPEN
            _ => None,
        }
    }

    /// PostgreSQL's SQLSTATE classes for a server that cannot take the statement now.
    fn of_sqlstate(code: &str) -> Option<Self> {
        match code {
            // lock_not_available, query_canceled (statement timeout), serialization
            "55P03" | "57014" => Some(Self::Busy),
            // read_only_sql_transaction, shutdown and "cannot connect now"
            "25006" | "57P01" | "57P02" | "57P03" => Some(Self::Down),
            // connection exceptions; insufficient resources (disk full, out of memory,
            // too many connections)
            _ if code.starts_with("08") || code.starts_with("53") => Some(Self::Down),
            _ => None,
        }
    }

    /// Seconds a client should wait before trying again.
    pub fn retry_after(self) -> u64 {
        match self {
            Self::Busy => 1,
            Self::Down => 5,
        }
    }
}

/// A database of a unit test's own on the PostgreSQL server that `TEST_DATABASE_URL`
/// names (CI's PostgreSQL step runs `cargo test --lib postgres_`); dropped with the value,
/// also when the test fails.
#[cfg(test)]
pub(crate) struct ScratchPostgres {
    admin_url: String,
    name: String,
    /// The scratch database's URL.
    pub url: String,
}

#[cfg(test)]
impl ScratchPostgres {
    /// `None` when `TEST_DATABASE_URL` names no PostgreSQL server: the test does not run.
    pub async fn create() -> Option<Self> {
        use sea_orm::ConnectionTrait;
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| url.starts_with("postgres"))?;
        let name = format!("authql_unit_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

#[cfg(test)]
impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Dropped inside the test's runtime, which cannot block on itself: a thread with a
        // runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sea_orm::ConnectionTrait;
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = admin.execute_unprepared(&drop).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

    use super::DbSettings;

    /// `.cargo/config.toml` builds the embedded SQLite with the query planner stability
    /// guarantee; without it every `LIMIT ?` statement is re-prepared at each execution.
    #[tokio::test]
    async fn embedded_sqlite_plans_without_peeking_at_bound_values() {
        let db = super::connect("sqlite::memory:", &DbSettings::default())
            .await
            .unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "PRAGMA compile_options",
            ))
            .await
            .unwrap();
        let options: Vec<String> = rows
            .iter()
            .map(|row| row.try_get_by_index(0).unwrap())
            .collect();
        assert!(
            options.iter().any(|o| o == "ENABLE_QPSG"),
            "SQLite built without SQLITE_ENABLE_QPSG: {options:?}"
        );
    }
}

//! Database connection: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL, chosen by
//! the `DATABASE_URL` scheme; [`SqliteReads`] for the bounded reads that run on the
//! request's own thread.

mod sqlite_reads;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

pub use sqlite_reads::{ModelColumns, OnStatement, SqliteReads};

/// Opens a pool for `url`. SQLite gets WAL (readers do not block the writer), a busy
/// timeout (writers queue instead of failing) and foreign keys (cascading deletes).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        // A file of one's own (`sqlite:///var/lib/authql.db`) is created when missing, as
        // the default URL's `mode=rwc` does; an explicit `mode=` is the operator's choice.
        let create = !url.contains("mode=");
        // A connection to a local file cannot go stale: no ping before each use (sqlx's
        // default), which cost every statement a second trip to the connection's thread.
        options.test_before_acquire(false);
        options
            .max_connections(8)
            .map_sqlx_sqlite_opts(move |opts| {
                let opts = if create {
                    opts.create_if_missing(true)
                } else {
                    opts
                };
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
    } else {
        // Ping only a connection idle long enough for a proxy or firewall to have dropped
        // it, not every checkout (a round trip per statement).
        options
            .max_connections(20)
            .test_before_acquire_if_idle_for(Duration::from_secs(30));
    }
    Database::connect(options).await
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

/// True when the database answers.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

    /// `.cargo/config.toml` builds the embedded SQLite with the query planner stability
    /// guarantee; without it every `LIMIT ?` statement is re-prepared at each execution.
    #[tokio::test]
    async fn embedded_sqlite_plans_without_peeking_at_bound_values() {
        let db = super::connect("sqlite::memory:").await.unwrap();
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

//! Whether the database can take writes, for `/healthz` and `/readyz` (API.md "Data
//! safety"): answered from the last outcome and a probe at most once a second, so a
//! probe every few seconds from a load balancer costs no write while all is well.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait, Value};

/// How long one probe's verdict is reused.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The probe writes a row this large: it needs new pages, as real writes do, so a full
/// disk fails it (an update in place could still succeed there).
const PROBE_BYTES: usize = 8192;

/// The database's fitness for writes, shared by the whole instance.
pub struct Health {
    db: DatabaseConnection,
    /// Set when a statement failed for a passing cause; cleared by a probe that writes.
    failing: AtomicBool,
    /// The last probe: when, and whether it succeeded.
    last: Mutex<Option<(Instant, bool)>>,
    /// One probe at a time; callers meanwhile wait for its verdict.
    probing: tokio::sync::Mutex<()>,
}

impl Health {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            failing: AtomicBool::new(false),
            last: Mutex::new(None),
            probing: tokio::sync::Mutex::new(()),
        }
    }

    /// A statement could not run for a passing cause (see [`super::unavailable`]): until
    /// a probe write succeeds, the database counts as unable to take writes.
    pub fn failed(&self) {
        if !self.failing.swap(true, Ordering::AcqRel) {
            tracing::warn!("the database cannot take writes; /healthz answers 503 until it can");
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// True when the database answers and can take writes. While nothing failed, a read
    /// proves it answers; after a failure, only a write that commits clears it.
    pub async fn can_write(&self) -> bool {
        if let Some(verdict) = self.recent() {
            return verdict;
        }
        let _one = self.probing.lock().await;
        if let Some(verdict) = self.recent() {
            return verdict;
        }
        let ok = if self.failing.load(Ordering::Acquire) {
            let written = probe_write(&self.db).await;
            if let Err(error) = &written {
                tracing::warn!(%error, "the database still cannot take writes");
            } else if self.failing.swap(false, Ordering::AcqRel) {
                tracing::info!("the database takes writes again");
            }
            written.is_ok()
        } else {
            self.db.ping().await.is_ok()
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), ok));
        ok
    }

    fn recent(&self) -> Option<bool> {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.filter(|(at, _)| at.elapsed() < PROBE_EVERY)
            .map(|(_, ok)| ok)
    }
}

/// Writes a row and deletes it in one transaction, and commits: what any write needs
/// (the write lock, new pages, room in the journal) without leaving anything behind.
pub async fn probe_write(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DatabaseBackend::Postgres => "INSERT INTO write_probe (filler) VALUES ($1)",
            _ => "INSERT INTO write_probe (filler) VALUES (?)",
        },
        [Value::Bytes(Some(vec![0x5a; PROBE_BYTES]))],
    ))
    .await?;
    txn.execute_unprepared("DELETE FROM write_probe").await?;
    txn.commit().await
}

//! Bounded SQLite reads on the calling thread, through connections of their own.
//!
//! sqlx gives every SQLite connection a worker thread: each statement is a command sent to
//! it and rows sent back one message each, at least two context switches per statement, and
//! every value copied on the way. For a page read that costs more CPU than the statement
//! itself (docs/benchmarks.md, "cache-missed read"). The reads routed here are bounded — an
//! indexed range of at most 101 rows, tens of microseconds — so they run where the request
//! runs, like any other short computation, on connections to the same file that only read
//! (`query_only`). WAL lets them run beside the pool's writer without waiting for it, and a
//! read starts after every commit that finished before it: what a client wrote, it reads.
//! Writes, transactions, and reads whose cost grows with the table (searches) stay on the
//! pool, off the request threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::{FromSqlError, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, Row, params_from_iter};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, Value as OrmValue,
};

use super::Columns;

/// Called with the SQL of each statement run (tests count statements).
pub type OnStatement = Arc<dyn Fn(&str) + Send + Sync>;

/// Read-only connections to the pool's SQLite file, taken and given back per statement.
/// As many exist as statements ever ran at once: one per runtime thread at most, since a
/// statement runs start to end without yielding.
pub struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    on_statement: Option<OnStatement>,
}

impl SqliteReads {
    /// Reads beside `pool`, when it is a SQLite database in a file; `None` for PostgreSQL
    /// and for an in-memory database (another connection would see another database).
    pub async fn open(
        pool: &DatabaseConnection,
        on_statement: Option<OnStatement>,
    ) -> Result<Option<Self>, DbErr> {
        if pool.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(None);
        }
        let file: Option<String> = pool
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
            ))
            .await?
            .map(|row| row.try_get_by_index(0))
            .transpose()?;
        let Some(file) = file.filter(|file| !file.is_empty()) else {
            return Ok(None);
        };
        let reads = Self {
            path: PathBuf::from(file),
            idle: Mutex::new(Vec::new()),
            on_statement,
        };
        // Fails at start, with the reason, rather than on the first request.
        let first = reads.connect().map_err(query_error)?;
        reads.give_back(first);
        Ok(Some(reads))
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait for a lock on the request's thread: a busy database (another process
        // holding the WAL locks, a recovery) hands the read to the pool, whose threads
        // may wait (`DB_BUSY_TIMEOUT`).
        connection.busy_timeout(Duration::ZERO)?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => self.connect(),
        }
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
    }

    /// Runs `statement` (built for SQLite) and reads each row with `read`; `None` when the
    /// database is locked: the caller reads through the pool instead.
    pub fn all<T>(
        &self,
        statement: &Statement,
        mut read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<Vec<T>>, DbErr> {
        let values = match &statement.values {
            Some(values) => values.0.iter().map(sql_value).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let connection = self.take().map_err(query_error)?;
        let rows = (|| {
            let mut prepared = connection.prepare_cached(&statement.sql)?;
            let mut rows = prepared.query(params_from_iter(values.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(read(row)?);
            }
            Ok(out)
        })();
        self.give_back(connection);
        if let Some(on_statement) = &self.on_statement {
            on_statement(&statement.sql);
        }
        match rows {
            Ok(rows) => Ok(Some(rows)),
            Err(error) if unavailable(&error) == Some(super::Unavailable::Busy) => Ok(None),
            Err(error) => Err(query_error(error)),
        }
    }
}

/// Why the database could not run the read now, if that is why it failed.
fn unavailable(error: &rusqlite::Error) -> Option<super::Unavailable> {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => {
            super::Unavailable::of_sqlite_code(failure.extended_code)
        }
        _ => None,
    }
}

/// A failed read: a connection error when the database cannot be read now (so it is
/// answered `SERVICE_UNAVAILABLE`), a query error otherwise.
fn query_error(error: rusqlite::Error) -> DbErr {
    let message = format!("SQLite read: {error}");
    if unavailable(&error).is_some() {
        DbErr::Conn(sea_orm::RuntimeErr::Internal(message))
    } else {
        DbErr::Custom(message)
    }
}

/// The values sea-query binds in the statements routed here.
fn sql_value(value: &OrmValue) -> Result<SqlValue, DbErr> {
    let integer = |v: Option<i64>| v.map_or(SqlValue::Null, SqlValue::Integer);
    Ok(match value {
        OrmValue::Bool(v) => integer(v.map(i64::from)),
        OrmValue::TinyInt(v) => integer(v.map(i64::from)),
        OrmValue::SmallInt(v) => integer(v.map(i64::from)),
        OrmValue::Int(v) => integer(v.map(i64::from)),
        OrmValue::BigInt(v) => integer(*v),
        OrmValue::TinyUnsigned(v) => integer(v.map(i64::from)),
        OrmValue::SmallUnsigned(v) => integer(v.map(i64::from)),
        OrmValue::Unsigned(v) => integer(v.map(i64::from)),
        OrmValue::BigUnsigned(v) => match v.map(i64::try_from).transpose() {
            Ok(v) => integer(v),
            Err(_) => return Err(DbErr::Custom("SQLite read: integer out of range".into())),
        },
        OrmValue::String(v) => v.clone().map_or(SqlValue::Null, SqlValue::Text),
        other => {
            return Err(DbErr::Custom(format!(
                "SQLite read: no binding for {other:?}"
            )));
        }
    })
}

/// rusqlite's rows, with timestamps in either of the shapes SQLite holds them in.
impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn optional_int(&self, at: usize) -> rusqlite::Result<Option<i32>> {
        self.get(at)
    }
    fn int(&self, at: usize) -> rusqlite::Result<i32> {
        self.get(at)
    }
    fn big_int(&self, at: usize) -> rusqlite::Result<i64> {
        self.get(at)
    }
    fn text(&self, at: usize) -> rusqlite::Result<String> {
        self.get(at)
    }
    fn optional_text(&self, at: usize) -> rusqlite::Result<Option<String>> {
        self.get(at)
    }
    fn time(&self, at: usize) -> rusqlite::Result<DateTime<Utc>> {
        timestamp(self, at)
    }
    fn optional_time(&self, at: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        match self.get_ref(at)? {
            ValueRef::Null => Ok(None),
            _ => timestamp(self, at).map(Some),
        }
    }
}

/// A timestamp as sqlx writes it (RFC 3339) or as SQLite's own functions do
/// (`YYYY-MM-DD HH:MM:SS[.fff]`, UTC).
fn timestamp(row: &Row<'_>, at: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text = row.get_ref(at)?.as_str()?;
    if let Some(time) = utc_rfc3339(text) {
        return Ok(time);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%F %T%.f").map(|time| time.and_utc()))
        .map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                at,
                rusqlite::types::Type::Text,
                Box::new(FromSqlError::Other(Box::new(error))),
            )
        })
}

/// The shape sqlx writes a `DateTime<Utc>` in, `2026-11-29T10:06:33.123456789+00:00`,
/// decoded without chrono's general parser (a page decodes several per row); `None` for
/// anything else, which the general parsers then read.
fn utc_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes.get(range)?.iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !punctuation.iter().all(|&(at, b)| bytes.get(at) == Some(&b)) {
        return None;
    }
    let (mut nanos, mut end) = (0, 19);
    if bytes.get(19) == Some(&b'.') {
        let digits = bytes[20..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = number(20..20 + digits)? * 10u32.pow(9 - digits as u32);
        end = 20 + digits;
    }
    if !matches!(bytes.get(end..), Some(b"+00:00" | b"Z")) {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time = date.and_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use entity::user;
    use sea_orm::{DatabaseBackend, Statement};

    use super::*;
    use crate::db::ModelColumns;

    /// Another connection to `sqlite::memory:` would open another, empty database.
    #[tokio::test]
    async fn an_in_memory_database_has_no_direct_reads() {
        let db = crate::db::connect("sqlite::memory:", &Default::default())
            .await
            .unwrap();
        assert!(SqliteReads::open(&db, None).await.unwrap().is_none());
    }

    /// The fast path reads what chrono's RFC 3339 parser reads, and leaves the rest to it.
    #[test]
    fn timestamps_decode_as_chrono_does() {
        for text in [
            "2026-11-29T10:06:33.123456789+00:00",
            "2026-11-29T10:06:33.123456+00:00",
            "2026-11-29T10:06:33.1Z",
            "2026-11-29T10:06:33+00:00",
            "2024-02-29T23:59:59.999999999Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text).unwrap().to_utc();
            assert_eq!(utc_rfc3339(text), Some(chrono), "{text}");
        }
        for text in [
            "2026-11-29T10:06:33.123+01:00",
            "2026-11-29 10:06:33.123",
            "2026-02-30T10:06:33Z",
            "2026-11-29T24:06:33Z",
            "2026-11-29T10:06:33.Z",
            "2026-11-29T10:06:33.1234567891Z",
            "2026-11-29T10:06:33+00:00 ",
            "2026-11-29T10:06",
            "2026-11-29T10:06:3",
            "2026-11-29T10:06:33",
            "+026-11-29T10:06:33Z",
            "2026-11-29T10:06:33.12é+00:00",
        ] {
            assert_eq!(utc_rfc3339(text), None, "{text}");
        }
    }

    /// The connections only read, whatever statement reaches them; the statement hook
    /// sees each statement, failed or not.
    #[tokio::test]
    async fn direct_connections_only_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("reads.db").display());
        let db = crate::db::connect(&url, &Default::default()).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        let hook: OnStatement = Arc::new(move |sql| log.lock().unwrap().push(sql.to_owned()));
        let reads = SqliteReads::open(&db, Some(hook)).await.unwrap().unwrap();
        let write = Statement::from_string(DatabaseBackend::Sqlite, "DELETE FROM users");
        let error = reads.all(&write, |_| Ok(())).unwrap_err();
        assert!(error.to_string().contains("readonly"), "{error}");
        let missing = Statement::from_string(DatabaseBackend::Sqlite, "SELECT NULL");
        let owner = reads.all(&missing, |row| user::Model::read_optional(row, 0));
        assert_eq!(owner.unwrap(), Some(vec![None]));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}

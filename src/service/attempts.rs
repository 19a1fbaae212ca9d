//! Password-check limiting (API.md "Login limiting"): `LOGIN_MAX_FAILURES` per
//! (scope, subject, client address) within a sliding `LOGIN_FAILURE_WINDOW`, and for logins
//! also `LOGIN_MAX_FAILURES_PER_ACCOUNT` per username from all addresses together (so a
//! botnet cannot guess without bound), counted in the database so the limits hold across
//! instances.
//!
//! An attempt takes its place in the count *before* the password is checked, so a burst of
//! concurrent guesses (a batch, aliases, one WebSocket, several instances) can neither get
//! more checks than the limit allows nor learn which guess was right: once the places are
//! taken every answer is `RATE_LIMITED`. The place is taken under a lock on the subject —
//! on PostgreSQL a transaction-scoped advisory lock, on SQLite the database write lock that
//! the taking statement holds — so two attempts can never both count the same free place,
//! from one address or from several.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::auth_attempt;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
    sea_query::{Condition, Expr},
};

use super::audit::Event;
use super::session_store::ClientInfo;
use super::{ServiceError, ServiceResult, users};
use crate::domain::{AuthEventKind, Username};

/// What is being limited, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKey {
    scope: &'static str,
    subject: String,
    client_addr: String,
}

impl AttemptKey {
    /// Logins of one username (ignoring case) from one client address.
    pub fn login(username: &Username, client_addr: &str) -> Self {
        Self {
            scope: "login",
            subject: username.lower(),
            client_addr: client_addr.to_owned(),
        }
    }

    /// Current-password checks of `changePassword` for one user, from anywhere: a stolen
    /// fresh token must not become an unlimited password oracle.
    pub fn password_change(user_id: i32) -> Self {
        Self {
            scope: "password",
            subject: user_id.to_string(),
            client_addr: String::new(),
        }
    }

    /// Second-factor codes of one user, from anywhere (API.md Second factor: counted per
    /// user before the check, like failed logins).
    pub fn second_factor(user_id: i32) -> Self {
        Self {
            scope: "mfa",
            subject: user_id.to_string(),
            client_addr: String::new(),
        }
    }

    /// The advisory lock attempts on one subject take, whatever their address: the
    /// per-account count spans addresses.
    fn lock_name(&self) -> String {
        format!("{}\u{1f}{}", self.scope, self.subject)
    }

    fn matches(&self) -> Condition {
        self.matches_scope(self.scope)
    }

    /// Every address's attempts on the subject.
    fn matches_account(&self) -> Condition {
        Condition::all()
            .add(auth_attempt::Column::Scope.eq(self.scope))
            .add(auth_attempt::Column::Subject.eq(self.subject.clone()))
    }

    /// The marker a key's first audited refusal in a window leaves (never counted as an
    /// attempt: its scope differs).
    fn limited_scope(&self) -> String {
        format!("{}:limited", self.scope)
    }

    fn matches_scope(&self, scope: &str) -> Condition {
        Condition::all()
            .add(auth_attempt::Column::Scope.eq(scope))
            .add(auth_attempt::Column::Subject.eq(self.subject.clone()))
            .add(auth_attempt::Column::ClientAddr.eq(self.client_addr.clone()))
    }
}

/// Whether refusals are written to the audit trail.
#[derive(Debug, Clone, Copy)]
pub enum Refusals<'a> {
    Silent,
    /// Logins: the first refusal of a username and address in a window is a
    /// `LOGIN_RATE_LIMITED` event (API.md Operations), the others write nothing, so a
    /// credential-stuffing burst cannot turn refusals into unbounded writes.
    Audited(&'a ClientInfo),
}

/// `LOGIN_MAX_FAILURES` within `LOGIN_FAILURE_WINDOW`, and for logins
/// `LOGIN_MAX_FAILURES_PER_ACCOUNT`.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimit {
    pub max: u32,
    pub window: Duration,
    /// Attempts on one subject from all addresses together; `None`: no such bound.
    pub max_per_account: Option<u32>,
}

impl AttemptLimit {
    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }
}

/// A place taken in the count. A wrong password settles it with [`failed`]; a right one
/// with [`succeeded`] inside the transaction that issues the tokens, then [`Attempt::kept`]
/// once that committed. Dropped unsettled — an internal failure, or the request cancelled
/// (client gone, timeout, a WebSocket `complete`) — the place is given back: no answer
/// reached anyone, so nothing was learnt from it.
#[derive(Debug)]
pub struct Attempt {
    id: i32,
    key: AttemptKey,
    db: DatabaseConnection,
    settled: bool,
}

impl Attempt {
    /// The transaction that called [`succeeded`] committed: nothing is left to give back.
    pub fn kept(mut self) {
        self.settled = true;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (db, id) = (self.db.clone(), self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = auth_attempt::Entity::delete_by_id(id).exec(&db).await {
                    tracing::warn!(%error, "cannot give back an attempt's place");
                }
            });
        }
    }
}

/// How long a check may plausibly still be running: a pending attempt older than this
/// was abandoned by a crash and counts as the failure it may have been.
const CHECK_IN_FLIGHT: chrono::Duration = chrono::Duration::seconds(60);

/// Takes a place for one password check, or refuses with `RateLimited` (seconds until the
/// oldest counted attempt leaves the window) when the window's places are all taken.
///
/// The taking runs to its end on a task of its own. Cancelled in the middle (the client
/// gone, a WebSocket `complete`), a statement or commit already sent would still write the
/// pending row, with no [`Attempt`] left to give it back: the place would stay taken for
/// `CHECK_IN_FLIGHT` and then count as a failure. On its own task, an `Attempt` nobody
/// awaits any more is dropped there, and that gives the place back.
pub async fn reserve(
    db: &DatabaseConnection,
    key: &AttemptKey,
    limit: AttemptLimit,
    refusals: Refusals<'_>,
) -> ServiceResult<Attempt> {
    let (db, key) = (db.clone(), key.clone());
    let client = match refusals {
        Refusals::Audited(client) => Some(client.clone()),
        Refusals::Silent => None,
    };
    let taking = tokio::spawn(async move {
        let refusals = client.as_ref().map_or(Refusals::Silent, Refusals::Audited);
        take_place(&db, &key, limit, refusals).await
    });
    match taking.await {
        Ok(taken) => taken,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(DbErr::Custom("the runtime is shutting down".into()).into()),
    }
}

async fn take_place(
    db: &DatabaseConnection,
    key: &AttemptKey,
    limit: AttemptLimit,
    refusals: Refusals<'_>,
) -> ServiceResult<Attempt> {
    let now = Utc::now();
    if db.get_database_backend() == DatabaseBackend::Sqlite
        && let Some(id) = take_free_place(db, key, limit, now).await?
    {
        return Ok(Attempt {
            id,
            key: key.clone(),
            db: db.clone(),
            settled: false,
        });
    }
    // PostgreSQL, or a refusal on SQLite: the place is counted in a transaction that can
    // also leave the refusal's marker and work out when a place frees.
    let txn = db.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [key.lock_name().into()],
        ))
        .await?;
    }
    // On SQLite this insert takes the write lock, so the count below sees every attempt
    // that could compete for the same place.
    let id = auth_attempt::Entity::insert(auth_attempt::ActiveModel {
        scope: Set(key.scope.to_owned()),
        subject: Set(key.subject.clone()),
        client_addr: Set(key.client_addr.clone()),
        attempted_at: Set(now),
        pending: Set(true),
        ..Default::default()
    })
    .exec(&txn)
    .await?
    .last_insert_id;
    // One read serves both counts: the subject's attempts from every address (or from
    // this one, without a per-account bound), split by address here.
    let scope = match limit.max_per_account {
        Some(_) => key.matches_account(),
        None => key.matches(),
    };
    let attempts: Vec<(DateTime<Utc>, bool, String)> = auth_attempt::Entity::find()
        .select_only()
        .column(auth_attempt::Column::AttemptedAt)
        .column(auth_attempt::Column::Pending)
        .column(auth_attempt::Column::ClientAddr)
        .filter(scope)
        .filter(auth_attempt::Column::AttemptedAt.gt(now - limit.window()))
        .filter(auth_attempt::Column::Id.ne(id))
        .order_by_asc(auth_attempt::Column::AttemptedAt)
        .into_tuple()
        .all(&txn)
        .await?;
    let from_here: Vec<(DateTime<Utc>, bool)> = attempts
        .iter()
        .filter(|(_, _, addr)| *addr == key.client_addr)
        .map(|(at, pending, _)| (*at, *pending))
        .collect();
    let allowed = limit.max as usize;
    let account_allowed = limit.max_per_account.map_or(usize::MAX, |max| max as usize);
    let (others, allowed) = if attempts.len() >= account_allowed {
        let all = attempts
            .iter()
            .map(|(at, pending, _)| (*at, *pending))
            .collect();
        (all, account_allowed)
    } else {
        (from_here, allowed)
    };
    if others.len() >= allowed {
        match refusals {
            Refusals::Audited(client)
                if !limited_since(&txn, key, now - limit.window()).await? =>
            {
                // Still under the key's lock: no other refusal can be first as well.
                mark_limited(&txn, key, id, client).await?;
                txn.commit().await?;
            }
            _ => txn.rollback().await?,
        }
        // A check still running may end in a success that frees every place: ask to come
        // back in a second rather than in a whole window.
        let in_flight =
            |(at, pending): &(DateTime<Utc>, bool)| *pending && *at > now - CHECK_IN_FLIGHT;
        let retry_after = if others.iter().any(in_flight) {
            1
        } else {
            let times: Vec<DateTime<Utc>> = others.iter().map(|(at, _)| *at).collect();
            retry_after(&times, allowed, limit.window(), now)
        };
        return Err(ServiceError::RateLimited { retry_after });
    }
    txn.commit().await?;
    Ok(Attempt {
        id,
        key: key.clone(),
        db: db.clone(),
        settled: false,
    })
}

/// SQLite: takes a place in one statement when the window has one free, `None` when it
/// has not. One statement is atomic under the database write lock it takes before reading
/// the count, so two attempts cannot both take the last place — what the transaction in
/// [`reserve`] does in four statements, each a trip to the connection's thread.
async fn take_free_place(
    db: &DatabaseConnection,
    key: &AttemptKey,
    limit: AttemptLimit,
    now: DateTime<Utc>,
) -> ServiceResult<Option<i32>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "INSERT INTO auth_attempts (scope, subject, client_addr, attempted_at, pending) \
             SELECT ?1, ?2, ?3, ?4, ?5 \
             WHERE (SELECT COUNT(*) FROM auth_attempts \
                    WHERE scope = ?1 AND subject = ?2 AND client_addr = ?3 \
                      AND attempted_at > ?6) < ?7 \
               AND (SELECT COUNT(*) FROM auth_attempts \
                    WHERE scope = ?1 AND subject = ?2 AND attempted_at > ?6) < ?8 \
             RETURNING id",
            [
                key.scope.into(),
                key.subject.clone().into(),
                key.client_addr.clone().into(),
                now.into(),
                true.into(),
                (now - limit.window()).into(),
                i64::from(limit.max).into(),
                limit.max_per_account.map_or(i64::MAX, i64::from).into(),
            ],
        ))
        .await?;
    Ok(row.map(|row| row.try_get::<i32>("", "id")).transpose()?)
}

/// The first refusal of a key in a window: its place `id` becomes the key's marker, and a
/// `LOGIN_RATE_LIMITED` event names the user when the username names one (API.md
/// Operations: never a username typed by someone who has no account).
async fn mark_limited(
    db: &impl ConnectionTrait,
    key: &AttemptKey,
    id: i32,
    client: &ClientInfo,
) -> ServiceResult<()> {
    auth_attempt::Entity::update_many()
        .col_expr(
            auth_attempt::Column::Scope,
            Expr::value(key.limited_scope()),
        )
        .col_expr(auth_attempt::Column::Pending, Expr::value(false))
        .filter(auth_attempt::Column::Id.eq(id))
        .exec(db)
        .await?;
    let user = users::find_by_username(db, &key.subject).await?;
    Event::new(AuthEventKind::LoginRateLimited, client)
        .about_any(user.as_ref())
        .record(db)
        .await
}

/// Whether the key's logins were already refused by the limit since `since`.
async fn limited_since(
    db: &impl ConnectionTrait,
    key: &AttemptKey,
    since: DateTime<Utc>,
) -> ServiceResult<bool> {
    Ok(auth_attempt::Entity::find()
        .filter(key.matches_scope(&key.limited_scope()))
        .filter(auth_attempt::Column::AttemptedAt.gt(since))
        .count(db)
        .await?
        > 0)
}

/// Seconds until a place frees: when attempt number `len - allowed` (0-based, oldest
/// first) leaves the window. With a limit of 0 there is never a place: a whole window.
fn retry_after(
    times: &[DateTime<Utc>],
    allowed: usize,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> u64 {
    let frees_at = match times.len().checked_sub(allowed.max(1)) {
        Some(index) => times[index] + window,
        None => now + window,
    };
    let millis = (frees_at - now).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}

/// The password was wrong: the place stays taken, as a failure.
pub async fn failed(db: &impl ConnectionTrait, mut attempt: Attempt) -> ServiceResult<()> {
    auth_attempt::Entity::update_many()
        .col_expr(auth_attempt::Column::Pending, Expr::value(false))
        .filter(auth_attempt::Column::Id.eq(attempt.id))
        .exec(db)
        .await?;
    attempt.settled = true;
    Ok(())
}

/// The password was right: the place is given back and the key's failures are cleared
/// (successes never lock anyone out). Attempts of others still being checked keep theirs.
pub async fn succeeded(db: &impl ConnectionTrait, attempt: &Attempt) -> ServiceResult<()> {
    auth_attempt::Entity::delete_many()
        .filter(attempt.key.matches())
        .filter(
            Condition::any()
                .add(auth_attempt::Column::Pending.eq(false))
                .add(auth_attempt::Column::Id.eq(attempt.id)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes attempts older than the window; returns how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> ServiceResult<u64> {
    Ok(auth_attempt::Entity::delete_many()
        .filter(auth_attempt::Column::AttemptedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Cancels `reserve` `after` its start, however far it got, and lets what it left run.
    async fn reserve_cancelled(db: &DatabaseConnection, key: &AttemptKey, after: Duration) {
        let limit = AttemptLimit {
            max: 10_000,
            window: Duration::from_secs(900),
            max_per_account: None,
        };
        let until = Instant::now() + after;
        tokio::select! {
            biased;
            _ = reserve(db, key, limit, Refusals::Silent) => {}
            _ = async {
                while Instant::now() < until {
                    tokio::task::yield_now().await;
                }
            } => {}
        }
    }

    async fn pending_places(db: &DatabaseConnection) -> u64 {
        auth_attempt::Entity::find()
            .filter(auth_attempt::Column::Pending.eq(true))
            .count(db)
            .await
            .unwrap()
    }

    /// Cancels reservations at 200 points spread over twice what a whole one takes, then
    /// waits for what they left running: no place may stay taken.
    async fn cancel_reservations_everywhere(db: &DatabaseConnection) {
        let key = AttemptKey::login(&Username::parse("alice").unwrap(), "127.0.0.1");
        let started = Instant::now();
        reserve_cancelled(db, &key, Duration::from_secs(60)).await;
        let one = started.elapsed();
        for step in 0..200u32 {
            reserve_cancelled(db, &key, one * step / 100).await;
        }
        let mut left = u64::MAX;
        for _ in 0..100 {
            left = pending_places(db).await;
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(left, 0, "places left taken by cancelled reservations");
        // A reservation still waiting for its lock or a connection may insert only now.
        tokio::time::sleep(one * 2).await;
        assert_eq!(pending_places(db).await, 0, "a place taken late and left");
    }

    /// A request cancelled while its place was being taken (after the insert reached the
    /// database, before its answer came back) must not leave the place taken: the next
    /// attempts of that user would find it counted, then counted as a failure.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reservation_cancelled_at_any_point_leaves_no_place_taken() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("attempts.db").display());
        let db = crate::db::connect(&url, &Default::default()).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        cancel_reservations_everywhere(&db).await;
    }

    /// The same on PostgreSQL, whose place is taken in a transaction of several statements
    /// under the key's advisory lock: runs where `TEST_DATABASE_URL` names a PostgreSQL
    /// server (CI's PostgreSQL step).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_reservation_cancelled_at_any_point_leaves_no_place_taken() {
        let Some(scratch) = crate::db::ScratchPostgres::create().await else {
            return;
        };
        let db = crate::db::connect(&scratch.url, &Default::default())
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        cancel_reservations_everywhere(&db).await;
        db.close().await.unwrap();
    }

    #[test]
    fn retry_after_is_when_the_oldest_counted_attempt_leaves_the_window() {
        let now = Utc::now();
        let window = chrono::Duration::seconds(900);
        let times = [
            now - chrono::Duration::seconds(600),
            now - chrono::Duration::seconds(10),
        ];
        assert_eq!(retry_after(&times, 2, window, now), 300);
        assert_eq!(retry_after(&times, 1, window, now), 890);
        assert_eq!(retry_after(&[], 0, window, now), 900);
    }
}

//! The in-memory view of what has been revoked or changed: for each user seen, their role
//! of the moment, the sessions ended and the tokens revoked that could still be presented,
//! and the cut-off for tokens without a session. Every principal is checked against it, so
//! an authenticated request needs no database round trip for revocation or role, and open
//! WebSockets learn of a revocation by notification instead of polling the database.
//!
//! API.md "Tokens" defines "at once": in force on the instance that made the change before
//! its response is sent, and on every other instance within 1 s. So:
//!
//! - a change is written together with a notice, in the same transaction ([`publish`]):
//!   `NOTIFY` on PostgreSQL (delivered at commit), a row of `change_log` on SQLite;
//! - after commit, the writer calls [`Revocations::changed`] itself before answering;
//! - other instances hear it through `LISTEN` (PostgreSQL) or by reading `change_log`
//!   every 250 ms (SQLite: processes sharing one file have no channel) — a few cheap
//!   statements per instance per second, never one per socket or per request;
//! - notices may be missed — a `LISTEN` connection lost and re-established, a half-open
//!   connection that delivers nothing, change-log rows pruned before a suspended process
//!   read them — so each instance checks that its channel works: on PostgreSQL it sends
//!   itself a heartbeat notice every 500 ms. From the moment the listener loses its
//!   connection (or a heartbeat is overdue) the view is *distrusted*: it keeps nothing,
//!   every check reads the database, the response cache neither answers nor keeps. Only
//!   when the instance's own heartbeat arrives again — proof that it is listening — is
//!   the view trusted again, starting empty, so nothing loaded during the gap survives
//!   it. On SQLite a gap in the change log's ids or a failed read drops the whole view.
//!
//! The same notices carry changes of data that answers show (stores, items, users): they
//! move [`Revocations::data_version`], which the response cache (`http::response_cache`)
//! keeps its answers under — so a write empties it at once on the writing instance and
//! within the same bound on the others.
//!
//! A user's facts are loaded on first sight (three statements), then kept until a change
//! about that user arrives. Only what can still matter is loaded: the live sessions,
//! sessions ended within an access token's lifetime (plus the leeway), and revoked tokens
//! not yet expired.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use entity::{change_log, session, token, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait, sea_query::Condition,
};
use tokio::sync::{OnceCell, broadcast};

use super::ServiceResult;
use crate::domain::Role;

/// The PostgreSQL channel notices travel on; the payload is the writer's [`Origin`], a
/// space, and the user id, [`DATA`] or [`HEARTBEAT`].
const CHANNEL: &str = "authql_changes";
/// What a data notice names.
const DATA: &str = "data";
/// What an instance's notice to itself names.
const HEARTBEAT: &str = "heartbeat";
/// Users whose facts are kept at most.
const MAX_USERS: usize = 100_000;
/// How often an instance on SQLite reads `change_log`.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often an instance on PostgreSQL notifies itself, to know its `LISTEN` works.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// A heartbeat later than this: notices may be going astray.
const HEARTBEAT_OVERDUE: Duration = Duration::from_millis(1500);

/// What a token check needs to know about one user.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub role: Role,
    /// Tokens without a session issued at or before this second are revoked (logout of
    /// every session, password change).
    pub tokens_valid_after: Option<i64>,
    /// Sessions not ended.
    pub live_sessions: HashSet<String>,
    /// Ended sessions whose tokens may not have expired yet.
    pub ended_sessions: HashSet<String>,
    /// Revoked access tokens without a session that may not have expired yet.
    pub revoked_tokens: HashSet<String>,
    /// The user has an address and it is verified (`REQUIRE_VERIFIED_EMAIL`).
    pub email_verified: bool,
    /// The user has an active second factor: their level-1 tokens are a partial login.
    pub mfa_enabled: bool,
}

/// What a committed write tells every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The user's tokens, sessions or role changed, or the user is gone.
    User(i32),
    /// Data that answers show changed (stores, items, users and their visible fields).
    Data,
}

/// Which instance wrote a notice. The writer has applied its own change before answering,
/// so it skips the notice when it comes back (applied twice, a data notice would empty the
/// response cache a second time, up to 250 ms after the write). Random per instance; the
/// CLI, which keeps no view, writes [`Origin::OUTSIDE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin(i64);

impl Origin {
    /// No instance: every instance applies the notice.
    pub const OUTSIDE: Origin = Origin(0);

    fn new() -> Self {
        Origin(rand::random_range(1..=i64::MAX))
    }
}

/// A change sockets must re-check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Something about this user changed.
    User(i32),
    /// Notices may have been missed: everything is to be re-checked.
    Everything,
}

type Entry = Arc<OnceCell<Option<Arc<UserFacts>>>>;

/// The view; cheap to clone.
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    origin: Origin,
    /// How long a token can still be presented after it was issued: the access token
    /// lifetime plus the leeway. Older ended sessions cannot matter.
    horizon: chrono::Duration,
    users: RwLock<HashMap<i32, Entry>>,
    /// Bumped on every change: a request's memoized principal is re-checked when it moved.
    version: AtomicU64,
    /// Bumped on every data notice (and whenever notices may have been missed).
    data_version: AtomicU64,
    /// False while notices may be going astray (PostgreSQL's listener lost its connection,
    /// or its heartbeat is overdue): nothing may be kept then.
    trusted: AtomicBool,
    changes: broadcast::Sender<Change>,
}

impl Revocations {
    /// The view, plus the tasks that keep it current from other instances' changes.
    /// `horizon`: the access token lifetime plus the leeway.
    pub async fn start(
        db: &DatabaseConnection,
        database_url: &str,
        horizon: chrono::Duration,
    ) -> Result<Self, sea_orm::sqlx::Error> {
        let (changes, _) = broadcast::channel(1024);
        let view = Self {
            inner: Arc::new(Inner {
                db: db.clone(),
                origin: Origin::new(),
                horizon,
                users: RwLock::new(HashMap::new()),
                version: AtomicU64::new(0),
                data_version: AtomicU64::new(0),
                trusted: AtomicBool::new(true),
                changes,
            }),
        };
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let mut listener = sea_orm::sqlx::postgres::PgListener::connect(database_url).await?;
            listener.listen(CHANNEL).await?;
            tokio::spawn(send_heartbeats(Arc::downgrade(&view.inner)));
            tokio::spawn(listen(Arc::downgrade(&view.inner), listener));
        } else {
            let last = change_log::Entity::find()
                .select_only()
                .column_as(change_log::Column::Id.max(), "id")
                .into_tuple::<Option<i32>>()
                .one(db)
                .await
                .map_err(|e| sea_orm::sqlx::Error::Protocol(e.to_string()))?
                .flatten()
                .unwrap_or(0);
            tokio::spawn(poll(Arc::downgrade(&view.inner), last));
        }
        Ok(view)
    }

    /// The user's facts as of the last change seen: `None` when there is no such user.
    pub async fn facts(&self, user_id: i32) -> ServiceResult<Option<Arc<UserFacts>>> {
        if !self.trusted() {
            // Changes may go unheard: what is read now cannot be kept.
            return load(&self.inner, user_id).await;
        }
        let entry = {
            let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
            users.get(&user_id).cloned()
        };
        let entry = match entry {
            Some(entry) => entry,
            None => {
                let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
                // Bounded: past this many users seen, start over (each reloads on demand).
                if users.len() >= MAX_USERS {
                    users.clear();
                }
                users.entry(user_id).or_default().clone()
            }
        };
        // Concurrent first sights of one user share one load.
        let facts = entry.get_or_try_init(|| load(&self.inner, user_id)).await?;
        Ok(facts.clone())
    }

    /// Something about `user_id` changed (this instance's write, after commit, or another
    /// instance's notice): forget what is known, tell the sockets.
    pub fn changed(&self, user_id: i32) {
        {
            let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
            users.remove(&user_id);
        }
        self.inner.version.fetch_add(1, Ordering::Release);
        let _ = self.inner.changes.send(Change::User(user_id));
    }

    /// Forget what is known of `user_id` without telling anyone: the next check reloads
    /// it (a token names a session this instance has not heard of yet).
    pub fn reload(&self, user_id: i32) {
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        users.remove(&user_id);
    }

    /// Data that answers show changed (this instance's write, after commit, or another
    /// instance's notice).
    pub fn data_changed(&self) {
        self.inner.data_version.fetch_add(1, Ordering::Release);
    }

    /// Runs a write of data that answers show in one transaction with its [`Notice::Data`],
    /// then moves this instance's data version before the caller answers. Only the write
    /// workflows of `service` call it: a resolver cannot write data without its notice.
    pub(super) async fn write_data<T>(
        &self,
        db: &DatabaseConnection,
        write: impl AsyncFnOnce(&DatabaseTransaction) -> ServiceResult<T>,
    ) -> ServiceResult<T> {
        let txn = db.begin().await?;
        let written = write(&txn).await?;
        publish(&txn, self.origin(), Notice::Data).await?;
        txn.commit().await?;
        self.data_changed();
        Ok(written)
    }

    /// False while this instance may be missing other instances' notices: then nothing
    /// read may be kept (the response cache neither answers nor keeps).
    pub fn trusted(&self) -> bool {
        self.inner.trusted.load(Ordering::Acquire)
    }

    /// Notices may be going astray from now on: keep nothing until [`trust`](Self::trust).
    fn distrust(&self) {
        self.inner.trusted.store(false, Ordering::Release);
        self.reset();
    }

    /// Notices are heard again (this instance's own heartbeat came through): start over
    /// from an empty view, and keep what is read from now on.
    fn trust(&self) {
        self.reset();
        self.inner.trusted.store(true, Ordering::Release);
        // Sockets re-check against what the database says now.
        self.reset();
    }

    /// Forget everything (notices may have been missed).
    fn reset(&self) {
        {
            let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
            users.clear();
        }
        self.inner.data_version.fetch_add(1, Ordering::Release);
        self.inner.version.fetch_add(1, Ordering::Release);
        let _ = self.inner.changes.send(Change::Everything);
    }

    /// What this instance's notices are marked with.
    pub fn origin(&self) -> Origin {
        self.inner.origin
    }

    /// Moves on every change.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// Moves on every data change: an answer computed under one value may be kept only
    /// while it has not moved.
    pub fn data_version(&self) -> u64 {
        self.inner.data_version.load(Ordering::Acquire)
    }

    /// Changes as they happen, for open WebSockets.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }
}

/// Records `notice` in the transaction making the change, so every instance hears of it
/// once the transaction commits; the instance `from` skips it (it applies its own change
/// itself, after commit).
pub async fn publish(db: &impl ConnectionTrait, from: Origin, notice: Notice) -> ServiceResult<()> {
    let user_id = match notice {
        Notice::User(id) => Some(id),
        Notice::Data => None,
    };
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let payload = match user_id {
            Some(id) => format!("{} {id}", from.0),
            None => format!("{} {DATA}", from.0),
        };
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    } else {
        change_log::Entity::insert(change_log::ActiveModel {
            user_id: Set(user_id),
            origin: Set(from.0),
            changed_at: Set(Utc::now()),
            ..Default::default()
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// PostgreSQL: every [`HEARTBEAT_EVERY`], a notice to this instance itself.
async fn send_heartbeats(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let heartbeat = format!("{} {HEARTBEAT}", inner.origin.0);
        let sent = inner
            .db
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                // Named, so statement counts can tell the instance's own upkeep apart.
                "SELECT pg_notify($1, $2) /* heartbeat */",
                [CHANNEL.into(), heartbeat.into()],
            ))
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "cannot send the auth change heartbeat");
        }
    }
}

/// PostgreSQL: applies other instances' notices. When the listener loses its connection
/// (sqlx reconnects it on the next receive) or this instance's own heartbeat is overdue,
/// the view is distrusted at once; it is trusted again, from empty, only when the own
/// heartbeat arrives through the listener — after it is listening again, so no revocation
/// committed during the gap can hide behind something loaded before it.
async fn listen(inner: std::sync::Weak<Inner>, mut listener: sea_orm::sqlx::postgres::PgListener) {
    let mut last_heartbeat = tokio::time::Instant::now();
    let mut watchdog = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            received = listener.try_recv() => {
                let Some(inner) = inner.upgrade() else { return };
                let view = Revocations { inner };
                match received {
                    Ok(Some(notice)) => {
                        let (from, what) = notice.payload().split_once(' ').unwrap_or_default();
                        let own = from == view.origin().0.to_string();
                        match what {
                            HEARTBEAT if own => {
                                last_heartbeat = tokio::time::Instant::now();
                                if !view.trusted() {
                                    tracing::info!("auth change notices flow again: view trusted, from empty");
                                    view.trust();
                                }
                            }
                            _ if own => {}
                            HEARTBEAT => {}
                            DATA => view.data_changed(),
                            _ => match what.parse() {
                                Ok(user_id) => view.changed(user_id),
                                Err(_) => tracing::warn!("unreadable auth change notice"),
                            },
                        }
                    }
                    Ok(None) => {
                        tracing::warn!("auth change listener lost its connection: keeping nothing until it listens again");
                        view.distrust();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "auth change listener error: keeping nothing until it listens again");
                        view.distrust();
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
            _ = watchdog.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                let view = Revocations { inner };
                if last_heartbeat.elapsed() > HEARTBEAT_OVERDUE {
                    if view.trusted() {
                        tracing::warn!("auth change heartbeat overdue: keeping nothing until it is back");
                    }
                    // Also tells the sockets, every tick, to re-check against the database.
                    view.distrust();
                } else if !view.trusted() {
                    // Distrusted since a reconnect: sockets re-check each tick until then.
                    view.reset();
                }
            }
        }
    }
}

/// SQLite: reads the changes other processes logged since `last`, every [`POLL_EVERY`].
/// The log's ids have no gaps (writers are serialized, a rolled-back insert takes no id),
/// so a gap means rows were pruned before they were read: everything is dropped then, as
/// after a failed read.
async fn poll(inner: std::sync::Weak<Inner>, mut last: i32) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let view = Revocations { inner };
        let rows = change_log::Entity::find()
            .filter(change_log::Column::Id.gt(last))
            .order_by_asc(change_log::Column::Id)
            .all(&view.inner.db)
            .await;
        match rows {
            Ok(rows) => {
                if rows.first().is_some_and(|row| row.id != last + 1) {
                    tracing::warn!("auth change log has a gap: view reset");
                    view.reset();
                }
                for row in rows {
                    last = row.id;
                    if row.origin == view.origin().0 {
                        continue;
                    }
                    match row.user_id {
                        Some(user_id) => view.changed(user_id),
                        None => view.data_changed(),
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read auth changes: view reset");
                view.reset();
            }
        }
    }
}

/// Deletes change notices old enough that every instance has read them.
pub async fn prune(db: &impl ConnectionTrait, before: chrono::DateTime<Utc>) -> ServiceResult<u64> {
    Ok(change_log::Entity::delete_many()
        .filter(change_log::Column::ChangedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

async fn load(inner: &Inner, user_id: i32) -> ServiceResult<Option<Arc<UserFacts>>> {
    let db = &inner.db;
    let Some(user) = user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let mut live_sessions = HashSet::new();
    let mut ended_sessions = HashSet::new();
    let sessions: Vec<(String, Option<chrono::DateTime<Utc>>)> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::EndedAt)
        .filter(session::Column::UserId.eq(user_id))
        .filter(
            Condition::any()
                .add(session::Column::EndedAt.is_null())
                .add(session::Column::EndedAt.gt(now - inner.horizon)),
        )
        .into_tuple()
        .all(db)
        .await?;
    for (sid, ended_at) in sessions {
        match ended_at {
            None => live_sessions.insert(sid),
            Some(_) => ended_sessions.insert(sid),
        };
    }
    let revoked_tokens = token::Entity::find()
        .select_only()
        .column(token::Column::Jti)
        .filter(token::Column::UserId.eq(user_id))
        .filter(token::Column::Kind.eq("access"))
        .filter(token::Column::RevokedAt.is_not_null())
        .filter(token::Column::ExpiresAt.gt(now - inner.horizon))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(Some(Arc::new(UserFacts {
        role: Role::from_db(&user.role),
        email_verified: user.email.is_some() && user.email_verified_at.is_some(),
        mfa_enabled: user.mfa_enabled_at.is_some(),
        tokens_valid_after: user.tokens_valid_after.map(|t| t.timestamp()),
        live_sessions,
        ended_sessions,
        revoked_tokens,
    })))
}

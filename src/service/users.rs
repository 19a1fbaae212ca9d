//! Users: creation, lookup, roles, paging, deletion.

use chrono::Utc;
use entity::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sea_query::Expr,
};

use super::audit::Event;
use super::catalogue::deleted_events;
use super::items::{self, Parent};
use super::revocations::{Notice, Revocations, publish};
use super::session_store::ClientInfo;
use super::{ServiceError, ServiceResult, on_unique_violation};
use crate::db::{ModelColumns, SqliteReads};
use crate::domain::{AuthEventKind, Email, PageArgs, Role, Username};
use crate::events::EventBus;

/// Inserts a user; a taken username or email (ignoring case) is a client error decided by
/// the unique index, so racing signups of one name yield exactly one row.
pub(super) async fn create(
    db: &impl ConnectionTrait,
    username: &Username,
    email: Option<&Email>,
    password_hash: String,
    role: Role,
    email_verified: bool,
) -> ServiceResult<user::Model> {
    let now = Utc::now();
    user::ActiveModel {
        username: Set(username.as_str().to_owned()),
        username_lower: Set(username.lower()),
        email: Set(email.map(|e| e.as_str().to_owned())),
        email_lower: Set(email.map(Email::lower)),
        password_hash: Set(password_hash),
        role: Set(role.as_str().to_owned()),
        tokens_valid_after: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        email_verified_at: Set(email.filter(|_| email_verified).map(|_| now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(on_unique_violation)
}

/// Begins a transaction holding the user's row locked until it ends, and returns it with
/// the row (`None`: no such user). On SQLite the transaction begins `IMMEDIATE`: it holds
/// the database write lock from its start, which serializes as a row lock would, so the
/// row is read, not rewritten as [`lock`] must.
/// Begins a transaction that will write: on SQLite `IMMEDIATE`, holding the write lock
/// from its start, so two of them wait for each other (within the busy timeout) instead of
/// failing when both try to turn a read into a write.
pub(super) async fn begin_write(db: &DatabaseConnection) -> ServiceResult<DatabaseTransaction> {
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        return Ok(db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?);
    }
    Ok(db.begin().await?)
}

pub(super) async fn begin_locked(
    db: &DatabaseConnection,
    id: i32,
) -> ServiceResult<(DatabaseTransaction, Option<user::Model>)> {
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let user = find(&txn, id).await?;
        return Ok((txn, user));
    }
    let txn = db.begin().await?;
    let user = lock(&txn, id).await?;
    Ok((txn, user))
}

/// Locks the user's row until the open transaction `txn` ends and returns it (`None`: no
/// such user). A no-op `UPDATE … RETURNING` rather than `SELECT … FOR UPDATE`, because
/// SQLite has no row locks: there the write takes the database write lock, which
/// serializes just as well.
pub(super) async fn lock(txn: &DatabaseTransaction, id: i32) -> ServiceResult<Option<user::Model>> {
    Ok(user::Entity::update_many()
        .col_expr(user::Column::Id, Expr::col(user::Column::Id))
        .filter(user::Column::Id.eq(id))
        .exec_with_returning(txn)
        .await?
        .into_iter()
        .next())
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> ServiceResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

/// A login's lookup, before its password is checked (the transaction that acts on the
/// check reads the row again, locked): on SQLite read on the request's own thread, not
/// a trip to the pool's.
pub async fn find_to_check(
    db: &DatabaseConnection,
    reads: Option<&SqliteReads>,
    username: &str,
) -> ServiceResult<Option<user::Model>> {
    let Some(reads) = reads else {
        return find_by_username(db, username).await;
    };
    let query = by_username(username)
        .limit(1)
        .build(DatabaseBackend::Sqlite);
    match reads.all(&query, |row| user::Model::read(row, 0))? {
        Some(rows) => Ok(rows.into_iter().next()),
        None => find_by_username(db, username).await,
    }
}

/// The account with this address (ignoring case), if any.
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &Email,
) -> ServiceResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::EmailLower.eq(email.lower()))
        .one(db)
        .await?)
}

/// Login matches the username ignoring case.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> ServiceResult<Option<user::Model>> {
    Ok(by_username(username).one(db).await?)
}

fn by_username(username: &str) -> sea_orm::Select<user::Entity> {
    user::Entity::find().filter(user::Column::UsernameLower.eq(username.to_ascii_lowercase()))
}

/// Users by id, for the DataLoader.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[i32]) -> ServiceResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// One page in id order, plus whether more follow.
pub async fn page(
    db: &impl ConnectionTrait,
    args: PageArgs,
) -> ServiceResult<(Vec<user::Model>, bool)> {
    let mut query = user::Entity::find().order_by_asc(user::Column::Id);
    if let Some(after) = args.after {
        query = query.filter(user::Column::Id.gt(after));
    }
    let mut rows = query.limit(args.first + 1).all(db).await?;
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    Ok((rows, has_next))
}

pub async fn count(db: &impl ConnectionTrait) -> ServiceResult<u64> {
    Ok(user::Entity::find().count(db).await?)
}

/// Stores a new hash and marks every earlier token invalid.
pub(super) async fn set_password(
    db: &impl ConnectionTrait,
    user: user::Model,
    password_hash: String,
) -> ServiceResult<user::Model> {
    let now = Utc::now();
    let mut active: user::ActiveModel = user.into();
    active.password_hash = Set(password_hash);
    active.tokens_valid_after = Set(Some(now));
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}

/// The account workflows an administrator or the user runs — a role change, a deletion —
/// each in one transaction with its notices and audit event, then its item events; cheap
/// to clone, built once at start.
#[derive(Clone)]
pub struct Accounts {
    db: DatabaseConnection,
    revocations: Revocations,
    events: EventBus,
}

impl Accounts {
    pub fn new(db: DatabaseConnection, revocations: Revocations, events: EventBus) -> Self {
        Self {
            db,
            revocations,
            events,
        }
    }

    /// Changes a user's role (by the admin `actor_id`, audited); in force on this instance
    /// before it returns, on the others within a second (API.md Tokens).
    pub async fn set_role(
        &self,
        id: i32,
        role: Role,
        actor_id: i32,
        client: &ClientInfo,
    ) -> ServiceResult<user::Model> {
        let (txn, user) = begin_locked(&self.db, id).await?;
        let user = user.ok_or(ServiceError::NotFound("User"))?;
        if user.external_issuer.is_some() {
            return Err(ServiceError::Conflict {
                field: "userId",
                message: "This user's role comes from their identity provider",
            });
        }
        let mut active: user::ActiveModel = user.into();
        active.role = Set(role.as_str().to_owned());
        active.updated_at = Set(Utc::now());
        let user = active.update(&txn).await?;
        Event::new(AuthEventKind::RoleChanged, client)
            .about(&user)
            .by(actor_id)
            .record(&txn)
            .await?;
        // The role is an auth fact and shown data (`users { role }`).
        let origin = self.revocations.origin();
        publish(&txn, origin, Notice::User(id)).await?;
        publish(&txn, origin, Notice::Data).await?;
        txn.commit().await?;
        self.revocations.changed(id);
        self.revocations.data_changed();
        Ok(user)
    }

    /// Deletes a user (by `actor_id`: the user or an admin, audited) with their items, in
    /// one transaction; their sessions and token records go with them (foreign-key
    /// cascade), their tokens stop working everywhere (API.md Tokens), and each item is a
    /// `DELETED` event.
    pub async fn delete(&self, id: i32, actor_id: i32, client: &ClientInfo) -> ServiceResult<()> {
        let view = &self.revocations;
        let deleted = view
            .write_data(&self.db, async |txn| {
                let user = lock(txn, id).await?.ok_or(ServiceError::NotFound("User"))?;
                let deleted = items::delete_all_of(txn, Parent::Owner(id)).await?;
                user::Entity::delete_by_id(id).exec(txn).await?;
                Event::new(AuthEventKind::UserDeleted, client)
                    .about(&user)
                    .by(actor_id)
                    .record(txn)
                    .await?;
                publish(txn, view.origin(), Notice::User(id)).await?;
                Ok(deleted)
            })
            .await?;
        view.changed(id);
        self.events.publish(deleted_events(&deleted)).await;
        Ok(())
    }
}

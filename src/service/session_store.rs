//! The `sessions` table: one row per login, ended by logout, revocation, reuse detection
//! or a password change, and pruned once none of its tokens can be accepted.

use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::ServiceResult;
use super::tokens;

/// Where a request came from, as sessions and audit events record it. The default is no
/// client at all (the command line).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client address (the peer, or `X-Forwarded-For` behind trusted proxies).
    pub addr: String,
    pub user_agent: Option<String>,
    /// The request's `X-Request-Id` (the client's, when usable, else generated).
    pub request_id: Option<String>,
}

/// Longest user agent kept; a client may send anything.
const MAX_USER_AGENT: usize = 512;

impl ClientInfo {
    /// The client address as stored: none for no client.
    pub fn ip_address(&self) -> Option<String> {
        Some(self.addr.clone()).filter(|addr| !addr.is_empty())
    }

    /// The user agent as stored: at most [`MAX_USER_AGENT`] bytes.
    pub fn user_agent(&self) -> Option<String> {
        self.user_agent.as_ref().map(|agent| {
            let mut end = agent.len().min(MAX_USER_AGENT);
            while !agent.is_char_boundary(end) {
                end -= 1;
            }
            agent[..end].to_owned()
        })
    }
}

/// How a session starts: its level, and whether it is a partial login.
#[derive(Debug, Clone, Copy)]
pub(super) struct Opening {
    pub aal: i32,
    pub mfa_pending: bool,
}

impl Opening {
    /// A password login of a user without a second factor (or an account just made).
    pub const PASSWORD: Opening = Opening {
        aal: 1,
        mfa_pending: false,
    };
}

/// Starts a session for `user_id`, whose first refresh token expires at `expires_at`.
pub(super) async fn start(
    db: &impl ConnectionTrait,
    user_id: i32,
    client: &ClientInfo,
    expires_at: DateTime<Utc>,
    opening: Opening,
) -> ServiceResult<session::Model> {
    let now = Utc::now();
    Ok(session::ActiveModel {
        id: Set(Uuid::new_v4().to_string()),
        user_id: Set(user_id),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(expires_at),
        user_agent: Set(client.user_agent()),
        ip_address: Set(client.ip_address()),
        ended_at: Set(None),
        aal: Set(opening.aal),
        mfa_pending: Set(opening.mfa_pending),
    }
    .insert(db)
    .await?)
}

pub async fn find(db: &impl ConnectionTrait, sid: &str) -> ServiceResult<Option<session::Model>> {
    Ok(session::Entity::find_by_id(sid.to_owned()).one(db).await?)
}

/// A refresh used the session: `lastUsedAt` moves, and it lives as long as the refresh
/// token about to be issued (`expires_at`) — unless it is a partial login, which ends with
/// its challenge. Returns the session as updated (`None`: no such session).
pub(super) async fn touch(
    db: &impl ConnectionTrait,
    sid: &str,
    expires_at: DateTime<Utc>,
) -> ServiceResult<Option<session::Model>> {
    let expiry = Expr::case(
        session::Column::MfaPending.eq(true),
        Expr::col(session::Column::ExpiresAt),
    )
    .finally(Expr::value(expires_at));
    Ok(session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(Utc::now()))
        .col_expr(session::Column::ExpiresAt, expiry.into())
        .filter(session::Column::Id.eq(sid))
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next())
}

/// A second factor was shown in the session: it is at level 2 from now on, a full session
/// (no longer a partial login) living as long as `expires_at`. `None`: it is not live.
pub(super) async fn raise(
    db: &impl ConnectionTrait,
    sid: &str,
    expires_at: DateTime<Utc>,
) -> ServiceResult<Option<session::Model>> {
    Ok(session::Entity::update_many()
        .col_expr(session::Column::Aal, Expr::value(2))
        .col_expr(session::Column::MfaPending, Expr::value(false))
        .col_expr(session::Column::LastUsedAt, Expr::value(Utc::now()))
        .col_expr(session::Column::ExpiresAt, Expr::value(expires_at))
        .filter(session::Column::Id.eq(sid))
        .filter(session::Column::EndedAt.is_null())
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next())
}

/// The user's live sessions (not ended, refresh token not expired), newest first.
pub async fn live(db: &impl ConnectionTrait, user_id: i32) -> ServiceResult<Vec<session::Model>> {
    Ok(live_of(user_id)
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?)
}

/// Ends the given sessions of `user_id` that are still live, and revokes their refresh
/// tokens; returns the ones it ended.
pub(super) async fn end(
    db: &impl ConnectionTrait,
    user_id: i32,
    sids: &[String],
) -> ServiceResult<Vec<String>> {
    if sids.is_empty() {
        return Ok(Vec::new());
    }
    let ended: Vec<String> = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(Utc::now()))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::Id.is_in(sids.iter().cloned()))
        .filter(session::Column::EndedAt.is_null())
        .exec_with_returning(db)
        .await?
        .into_iter()
        .map(|session| session.id)
        .collect();
    tokens::revoke_in_sessions(db, &ended).await?;
    Ok(ended)
}

/// Ends every session of `user_id` still open, but `except`; returns the ones it ended.
pub(super) async fn end_all(
    db: &impl ConnectionTrait,
    user_id: i32,
    except: Option<&str>,
) -> ServiceResult<Vec<String>> {
    let mut open = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::EndedAt.is_null());
    if let Some(except) = except {
        open = open.filter(session::Column::Id.ne(except));
    }
    let sids: Vec<String> = open.into_tuple().all(db).await?;
    end(db, user_id, &sids).await
}

/// API.md `MAX_SESSIONS_PER_USER`: before a new session starts, ends the least recently
/// used ones so that at most `max - 1` stay live. Returns the ended ones.
///
/// One read finds them: the live sessions past the `max - 1` most recently used.
pub(super) async fn make_room(
    db: &impl ConnectionTrait,
    user_id: i32,
    max: u64,
) -> ServiceResult<Vec<String>> {
    let oldest: Vec<String> = past_the_newest(user_id, max.max(1) - 1)
        .into_tuple()
        .all(db)
        .await?;
    end(db, user_id, &oldest).await
}

/// Ids of the user's live sessions but the `keep` most recently used; partial logins
/// neither count nor are ended (API.md Second factor).
fn past_the_newest(user_id: i32, keep: u64) -> sea_orm::Select<session::Entity> {
    live_of(user_id)
        .filter(session::Column::MfaPending.eq(false))
        .select_only()
        .column(session::Column::Id)
        .order_by_desc(session::Column::LastUsedAt)
        .order_by_desc(session::Column::Id)
        // SQLite takes no OFFSET without a LIMIT; the driver binds both as i64.
        .limit(i64::MAX as u64)
        .offset(keep.min(i64::MAX as u64))
}

/// The user's live sessions. `sessions_user_live_idx` (user, ended, last use) finds them
/// without reading the ended ones, however many logins the user has behind them.
fn live_of(user_id: i32) -> sea_orm::Select<session::Entity> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::EndedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(Utc::now()))
}

/// Deletes sessions none of whose tokens can be accepted any more.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> ServiceResult<u64> {
    Ok(session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DatabaseBackend, QueryTrait, Statement};

    /// A login's read of the sessions past the limit reads the live ones only: SQLite
    /// searches the index by user *and* `ended_at`, not every session of the user.
    #[tokio::test]
    async fn live_sessions_are_found_without_reading_ended_ones() {
        let db = crate::db::connect("sqlite::memory:", &Default::default())
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        let query = super::past_the_newest(1, 99).build(DatabaseBackend::Sqlite);
        let plan = db
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", query.sql),
                query.values.map(|values| values.0).unwrap_or_default(),
            ))
            .await
            .unwrap();
        let plan: Vec<String> = plan
            .iter()
            .map(|row| row.try_get_by_index::<String>(3).unwrap())
            .collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("(user_id=? AND ended_at=?)")),
            "{plan:?}"
        );
    }
}

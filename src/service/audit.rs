//! The audit trail (API.md Operations): auth events written in the transaction of the
//! change they describe — a rolled-back change leaves no event, a committed one always has
//! its event — read newest first by admins, and deleted after `AUDIT_RETENTION`.
//!
//! `userId` is whom an event is about, `actorId` who acted: the user a valid credential
//! proved (an access token; for login, refresh and a logout by refresh token, the password
//! or refresh token itself), null when nothing proved anyone (signup, a failed or limited
//! login, a reused refresh token, the command line).

use chrono::{DateTime, Utc};
use entity::{auth_event, user};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::Condition,
};

use super::ServiceResult;
use super::session_store::ClientInfo;
use crate::domain::{AuthEventKind, Position, RecentPageArgs};

/// One event about to be written; built with the `about`/`by`/`session` steps.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    kind: AuthEventKind,
    client: &'a ClientInfo,
    user_id: Option<i32>,
    username: Option<&'a str>,
    actor_id: Option<i32>,
    session_id: Option<&'a str>,
    issuer: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(kind: AuthEventKind, client: &'a ClientInfo) -> Self {
        Self {
            kind,
            client,
            user_id: None,
            username: None,
            actor_id: None,
            session_id: None,
            issuer: None,
        }
    }

    /// The user the event is about (id and username, which the event keeps after the user
    /// is gone).
    pub fn about(mut self, user: &'a user::Model) -> Self {
        self.user_id = Some(user.id);
        self.username = Some(&user.username);
        self
    }

    /// The user the event is about, if there is one.
    pub fn about_any(self, user: Option<&'a user::Model>) -> Self {
        match user {
            Some(user) => self.about(user),
            None => self,
        }
    }

    /// The user who acted.
    pub fn by(mut self, actor_id: i32) -> Self {
        self.actor_id = Some(actor_id);
        self
    }

    /// The session concerned.
    pub fn session(mut self, session_id: Option<&'a str>) -> Self {
        self.session_id = session_id;
        self
    }

    /// The outside issuer of the credential the event is about.
    pub fn issuer(mut self, issuer: Option<&'a str>) -> Self {
        self.issuer = issuer;
        self
    }

    /// Writes the event with `db` — the transaction of the change it describes.
    pub(super) async fn record(self, db: &impl ConnectionTrait) -> ServiceResult<()> {
        auth_event::Entity::insert(auth_event::ActiveModel {
            id: NotSet,
            kind: Set(self.kind.as_str().to_owned()),
            at_micros: Set(Utc::now().timestamp_micros()),
            user_id: Set(self.user_id),
            actor_id: Set(self.actor_id),
            username: Set(self.username.map(str::to_owned)),
            session_id: Set(self.session_id.map(str::to_owned)),
            ip_address: Set(self.client.ip_address()),
            user_agent: Set(self.client.user_agent()),
            request_id: Set(self.client.request_id.clone()),
            issuer: Set(self.issuer.map(str::to_owned)),
        })
        .exec_without_returning(db)
        .await?;
        Ok(())
    }
}

/// Which events `auditEvents` reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub user_id: Option<i32>,
    pub kind: Option<AuthEventKind>,
}

impl EventFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(user_id) = self.user_id {
            condition = condition.add(auth_event::Column::UserId.eq(user_id));
        }
        if let Some(kind) = self.kind {
            condition = condition.add(auth_event::Column::Kind.eq(kind.as_str()));
        }
        condition
    }
}

/// One page, newest first (by time, then id), plus whether more follow.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: EventFilter,
    args: RecentPageArgs,
) -> ServiceResult<(Vec<auth_event::Model>, bool)> {
    let mut query = auth_event::Entity::find()
        .filter(filter.condition())
        .order_by_desc(auth_event::Column::AtMicros)
        .order_by_desc(auth_event::Column::Id);
    if let Some(Position { at_micros, id }) = args.after {
        query = query.filter(
            Condition::any()
                .add(auth_event::Column::AtMicros.lt(at_micros))
                .add(
                    Condition::all()
                        .add(auth_event::Column::AtMicros.eq(at_micros))
                        .add(auth_event::Column::Id.lt(id)),
                ),
        );
    }
    let mut rows = query.limit(args.first + 1).all(db).await?;
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    Ok((rows, has_next))
}

/// How many events the filter matches.
pub async fn count(db: &impl ConnectionTrait, filter: EventFilter) -> ServiceResult<u64> {
    Ok(auth_event::Entity::find()
        .filter(filter.condition())
        .count(db)
        .await?)
}

/// The row's place in the newest-first order (its cursor).
pub fn position(row: &auth_event::Model) -> Position {
    Position {
        at_micros: row.at_micros,
        id: row.id,
    }
}

/// The event time of a row.
pub fn at(row: &auth_event::Model) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(row.at_micros).unwrap_or_default()
}

/// Deletes events older than `before` (`AUDIT_RETENTION`); returns how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> ServiceResult<u64> {
    Ok(auth_event::Entity::delete_many()
        .filter(auth_event::Column::AtMicros.lt(before.timestamp_micros()))
        .exec(db)
        .await?
        .rows_affected)
}

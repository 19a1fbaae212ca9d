use async_graphql::{Context, ID, Object};
use entity::auth_event;

use super::connection::{PageCursors, PageInfo, connection};
use crate::domain::{AuthEventKind, CursorCodec, RecentPageArgs};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::ApiResult;
use crate::graphql::types::timestamp::DateTime;
use crate::service::audit::{self, EventFilter};

/// One entry of the audit trail (API.md Operations); admins read them with `auditEvents`.
#[derive(Clone)]
pub struct AuthEvent(pub auth_event::Model);

#[Object]
impl AuthEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What happened. An event of a kind this version does not know (written by a newer
    /// one to a shared database) reads as the field's error.
    async fn kind(&self) -> async_graphql::Result<AuthEventKind> {
        AuthEventKind::from_db(&self.0.kind)
            .ok_or_else(|| async_graphql::Error::new("Unknown event kind"))
    }

    async fn at(&self) -> DateTime {
        DateTime(audit::at(&self.0))
    }

    /// The user the event is about (for `ROLE_CHANGED` and `USER_DELETED`, the target);
    /// the user may no longer exist.
    async fn user_id(&self) -> Option<ID> {
        self.0.user_id.map(|id| ID(id.to_string()))
    }

    /// The user who acted (the admin, for `ROLE_CHANGED`); null when no credential proved
    /// anyone: signup, a failed or limited login, a reused refresh token.
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(|id| ID(id.to_string()))
    }

    /// The username of `userId` when the event was written. A failed login of a username
    /// that names nobody stores none.
    async fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }

    /// The session concerned (for `SESSION_REVOKED`, the ended one).
    async fn session_id(&self) -> Option<ID> {
        self.0.session_id.clone().map(ID)
    }

    /// The client address of the request.
    async fn ip_address(&self) -> Option<&str> {
        self.0.ip_address.as_deref()
    }

    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// The request's `X-Request-Id`, to find its log lines.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The outside identity provider whose token the event was written for (`SIGNUP` of a
    /// user seen first through it); null for authql's own credentials.
    async fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }
}

/// `totalCount` of the audit trail: the events the filters match.
pub struct AuthEventCount(pub EventFilter);

impl AuthEventCount {
    pub async fn total(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(audit::count(&ctx.state()?.db, self.0).await? as i64)
    }
}

connection!(
    AuthEventConnection,
    AuthEventEdge,
    AuthEvent,
    AuthEventCount
);

/// Cursors of the audit trail: a place in the newest-first order.
pub const CURSOR_KIND: &str = "event";

impl AuthEventConnection {
    pub fn from_page(
        rows: Vec<auth_event::Model>,
        has_next_page: bool,
        args: RecentPageArgs,
        cursors: &CursorCodec,
        filter: EventFilter,
    ) -> Self {
        Self {
            cursors: PageCursors::Made(
                rows.iter()
                    .map(|row| cursors.encode_position(CURSOR_KIND, audit::position(row)))
                    .collect(),
            ),
            nodes: rows.into_iter().map(AuthEvent).collect(),
            has_next_page,
            has_previous_page: args.after.is_some(),
            count: AuthEventCount(filter),
        }
    }
}

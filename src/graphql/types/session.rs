use async_graphql::{ID, SimpleObject};

use super::DateTime;

/// A signed-in device: a login and every token pair refreshed from it.
#[derive(SimpleObject)]
pub struct Session {
    /// The `sid` of the session's tokens.
    pub id: ID,
    pub created_at: DateTime,
    /// The last login or refresh.
    pub last_used_at: DateTime,
    /// The user agent of the login.
    pub user_agent: Option<String>,
    /// The client address of the login.
    pub ip_address: Option<String>,
    /// True for the session of the token making this request.
    pub current: bool,
    /// The assurance level: 2 once a second factor was shown in the session, else 1.
    pub aal: i32,
}

impl Session {
    pub fn new(row: entity::session::Model, current_sid: Option<&str>) -> Self {
        Self {
            current: current_sid == Some(row.id.as_str()),
            id: ID(row.id),
            created_at: DateTime(row.created_at),
            last_used_at: DateTime(row.last_used_at),
            user_agent: row.user_agent,
            ip_address: row.ip_address,
            aal: row.aal,
        }
    }
}

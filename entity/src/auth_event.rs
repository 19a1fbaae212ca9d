use sea_orm::entity::prelude::*;

/// One auth event of the audit trail (API.md Operations). No relations: events outlive
/// the users and sessions they name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `AuthEventKind` name, e.g. `LOGIN_FAILED`.
    pub kind: String,
    /// When, in microseconds since the Unix epoch (an integer orders the same on every
    /// backend; SQLite's text timestamps do not).
    pub at_micros: i64,
    /// The user the event is about.
    pub user_id: Option<i32>,
    /// The user who acted; null when nobody was proven.
    pub actor_id: Option<i32>,
    /// The username of `user_id` at the time (kept after the user is gone).
    pub username: Option<String>,
    pub session_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The outside issuer of the credential; none for authql's own.
    pub issuer: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

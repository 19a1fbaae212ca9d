use sea_orm::entity::prelude::*;

/// A login and every token pair rotated from it; `id` is the `sid` of its tokens.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: i32,
    pub created_at: DateTimeUtc,
    /// The last login or refresh.
    pub last_used_at: DateTimeUtc,
    /// When its newest refresh token expires.
    pub expires_at: DateTimeUtc,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    /// Set when the session was ended (logout, revocation, reuse, password change).
    pub ended_at: Option<DateTimeUtc>,
    /// The assurance level: 1 (a password), 2 (a second factor shown in this session).
    pub aal: i32,
    /// A partial login (a user with a factor, before `verifyMfa`): it neither counts toward
    /// nor evicts under `MAX_SESSIONS_PER_USER`, and lives `MFA_CHALLENGE_EXPIRES`.
    pub mfa_pending: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

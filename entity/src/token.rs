use sea_orm::entity::prelude::*;

/// A refresh token the server issued, or any token it revoked, kept until the token
/// expires (plus the leeway).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    pub user_id: i32,
    /// `access` or `refresh`.
    pub kind: String,
    pub expires_at: DateTimeUtc,
    /// Set when the token was revoked, by rotation or otherwise.
    pub revoked_at: Option<DateTimeUtc>,
    /// The session the token belongs to (none: issued before sessions, or minted elsewhere).
    pub session_id: Option<String>,
    /// The refresh token that replaced this one, when it was rotated.
    pub rotated_to: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// An account. `username_lower` / `email_lower` carry the case-insensitive unique indexes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub username: String,
    pub username_lower: String,
    pub email: Option<String>,
    pub email_lower: Option<String>,
    pub password_hash: String,
    /// `USER` or `ADMIN`.
    pub role: String,
    /// Tokens issued before this instant are revoked (password change, refresh reuse).
    pub tokens_valid_after: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the current `email` was verified; none while it is not (or there is none).
    pub email_verified_at: Option<DateTimeUtc>,
    /// When the user's TOTP factor was confirmed; none while they have no active factor.
    pub mfa_enabled_at: Option<DateTimeUtc>,
    /// The outside issuer of a user linked to an identity provider (no password, no local
    /// factor); none for a local account.
    pub external_issuer: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

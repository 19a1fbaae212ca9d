use sea_orm::entity::prelude::*;

/// A mail waiting to be sent. It may carry a one-time token in clear (the only place one
/// is), so it is deleted once delivered, given up, or past `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub queued_at: DateTimeUtc,
    /// When the token it carries expires (never delivered after); none for a notice.
    pub expires_at: Option<DateTimeUtc>,
    /// Not before this (backoff after a failed attempt).
    pub next_attempt_at: DateTimeUtc,
    /// Claimed by a sender until then; another sender takes it only after.
    pub lease_until: Option<DateTimeUtc>,
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

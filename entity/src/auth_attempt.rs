use sea_orm::entity::prelude::*;

/// One password check, counted per (scope, subject, client address) within a window: it
/// takes its place while `pending`, stays as a failure, and is deleted on success.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `login` (subject: lower-cased username) or `password` (subject: user id).
    pub scope: String,
    pub subject: String,
    pub client_addr: String,
    pub attempted_at: DateTimeUtc,
    /// True while the password is being checked; false once it was wrong.
    pub pending: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// A user's TOTP factor, pending until confirmed. The secret is sealed with
/// `MFA_ENCRYPTION_KEY` (`v1:…`), or in clear (`plain:…`) in development without one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i32,
    pub secret: String,
    pub created_at: DateTimeUtc,
    /// Set by `confirmTotp`: the factor is active.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last TOTP step accepted: a code of it, or of an earlier one, is refused.
    pub last_step: Option<i64>,
    /// Consecutive wrong codes.
    pub failures: i32,
    /// Set when `failures` reached `MFA_MAX_FAILURES`: every code is refused until a reset.
    pub locked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

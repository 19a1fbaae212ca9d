use sea_orm::entity::prelude::*;

/// One committed change other instances must hear of: the log instances sharing one SQLite
/// file poll (PostgreSQL sends the same notices with `NOTIFY`). `user_id` names the user
/// whose tokens, sessions or role changed; `NULL` means data that answers may show
/// (stores, items, users) changed. `origin` marks the instance that wrote it (it skips its
/// own rows); 0 is none (the CLI).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: Option<i32>,
    pub origin: i64,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Password checks are limited by counting *attempts*, each taking its place before the
//! password is checked (API.md "Login limiting"), for logins and for `changePassword`.
//! Replaces `login_failures`, whose rows (failures of the last window) move over.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthAttempts {
    Table,
    Id,
    Scope,
    Subject,
    ClientAddr,
    AttemptedAt,
    Pending,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    UsernameLower,
    ClientAddr,
    FailedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthAttempts::Table)
                    .col(pk_auto(AuthAttempts::Id))
                    .col(string(AuthAttempts::Scope))
                    .col(string(AuthAttempts::Subject))
                    .col(string(AuthAttempts::ClientAddr))
                    .col(timestamp_with_time_zone(AuthAttempts::AttemptedAt))
                    .col(boolean(AuthAttempts::Pending))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("auth_attempts_lookup_idx")
                    .table(AuthAttempts::Table)
                    .col(AuthAttempts::Scope)
                    .col(AuthAttempts::Subject)
                    .col(AuthAttempts::ClientAddr)
                    .col(AuthAttempts::AttemptedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuthAttempts::Table)
                    .columns([
                        AuthAttempts::Scope,
                        AuthAttempts::Subject,
                        AuthAttempts::ClientAddr,
                        AuthAttempts::AttemptedAt,
                        AuthAttempts::Pending,
                    ])
                    .select_from(
                        Query::select()
                            .expr(Expr::val("login"))
                            .column(LoginFailures::UsernameLower)
                            .column(LoginFailures::ClientAddr)
                            .column(LoginFailures::FailedAt)
                            .expr(Expr::val(false))
                            .from(LoginFailures::Table)
                            .to_owned(),
                    )
                    .map_err(|e| DbErr::Migration(e.to_string()))?
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(LoginFailures::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(pk_auto(Alias::new("id")))
                    .col(string(LoginFailures::UsernameLower))
                    .col(string(LoginFailures::ClientAddr))
                    .col(timestamp_with_time_zone(LoginFailures::FailedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuthAttempts::Table).to_owned())
            .await
    }
}

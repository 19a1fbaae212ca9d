//! Sessions (API.md "Sessions"): `signup`/`login` start one, `refresh` rotates inside it,
//! and every token carries its `sid`. Token records learn which session they belong to and
//! which token replaced them, so reuse of an *already rotated* refresh token can be told
//! from one revoked another way. `change_log` is the log other instances on one SQLite
//! file poll to learn of revocations and data changes (PostgreSQL uses `NOTIFY` instead);
//! `user_id` is null for a change of data only.
//!
//! Existing rows move forward unchanged: tokens issued before have no `sid` and no
//! session, and keep working as tokens minted elsewhere do.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    UserAgent,
    IpAddress,
    EndedAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    SessionId,
    RotatedTo,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ChangeLog {
    Table,
    Id,
    UserId,
    Origin,
    ChangedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::Id).primary_key())
                    .col(integer(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastUsedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(string_null(Sessions::UserAgent))
                    .col(string_null(Sessions::IpAddress))
                    .col(timestamp_with_time_zone_null(Sessions::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user_id_idx")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Tokens::Table)
                    .add_column(string_null(Tokens::SessionId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tokens::Table)
                    .add_column(string_null(Tokens::RotatedTo))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tokens_session_id_idx")
                    .table(Tokens::Table)
                    .col(Tokens::SessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .col(pk_auto(ChangeLog::Id))
                    .col(integer_null(ChangeLog::UserId))
                    .col(big_integer(ChangeLog::Origin))
                    .col(timestamp_with_time_zone(ChangeLog::ChangedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChangeLog::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("tokens_session_id_idx")
                    .table(Tokens::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Tokens::SessionId, Tokens::RotatedTo] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}

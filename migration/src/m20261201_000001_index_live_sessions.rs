//! Each user's sessions indexed by whether they ended, then by last use: a login counts
//! the user's live sessions and ends the least recently used past `MAX_SESSIONS_PER_USER`.
//! Through `sessions_user_id_idx` (user only) both read every session of the user that
//! has not been pruned — ended ones included, for as long as a refresh token lives — so a
//! user who logs in often paid for their whole history at every login. The new index
//! starts with the user, so it serves every lookup the old one did; the old one goes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    UserId,
    LastUsedAt,
    EndedAt,
}

const OLD: &str = "sessions_user_id_idx";
const NEW: &str = "sessions_user_live_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NEW)
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::EndedAt)
                    .col(Sessions::LastUsedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(OLD).table(Sessions::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD)
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(NEW).table(Sessions::Table).to_owned())
            .await
    }
}

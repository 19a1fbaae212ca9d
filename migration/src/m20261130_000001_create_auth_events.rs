//! The audit trail (API.md Operations): one row per auth event, written in the
//! transaction of the change it describes. No foreign keys: events outlive the users and
//! sessions they name. `at_micros` is the event time in microseconds since the Unix epoch —
//! an integer, because SQLite keeps timestamps as text whose fractional digits vary, and
//! the trail is ordered and paged by time, then id.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthEvents {
    Table,
    Id,
    Kind,
    AtMicros,
    UserId,
    ActorId,
    Username,
    SessionId,
    IpAddress,
    UserAgent,
    RequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthEvents::Table)
                    .col(big_pk_auto(AuthEvents::Id))
                    .col(string(AuthEvents::Kind))
                    .col(big_integer(AuthEvents::AtMicros))
                    .col(integer_null(AuthEvents::UserId))
                    .col(integer_null(AuthEvents::ActorId))
                    .col(string_null(AuthEvents::Username))
                    .col(string_null(AuthEvents::SessionId))
                    .col(string_null(AuthEvents::IpAddress))
                    .col(string_null(AuthEvents::UserAgent))
                    .col(string_null(AuthEvents::RequestId))
                    .to_owned(),
            )
            .await?;
        // Newest first, whole or filtered by user or by kind.
        for (name, lead) in [
            ("auth_events_at_idx", None),
            ("auth_events_user_id_idx", Some(AuthEvents::UserId)),
            ("auth_events_kind_idx", Some(AuthEvents::Kind)),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuthEvents::Table);
            if let Some(lead) = lead {
                index.col(lead);
            }
            index.col(AuthEvents::AtMicros).col(AuthEvents::Id);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthEvents::Table).to_owned())
            .await
    }
}

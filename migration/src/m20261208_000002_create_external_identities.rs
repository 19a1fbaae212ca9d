//! Outside identity providers (API.md "External identity providers"):
//!
//! - `external_identities`: the local user each (issuer, `sub`) is linked to, unique, so two
//!   concurrent first sights create one user. `user_id` becomes null when that user is
//!   deleted: the row then blocks the (issuer, `sub`) — its tokens are refused and no user
//!   is made for it again.
//! - `users.external_issuer`: the issuer of a linked user (none for local accounts): such a
//!   user has no password and no local factor.
//! - `auth_events.issuer`: the outside issuer of the credential an event was written for.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ExternalIdentities {
    Table,
    Id,
    Issuer,
    Subject,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    ExternalIssuer,
}

#[derive(DeriveIden)]
enum AuthEvents {
    Table,
    Issuer,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExternalIdentities::Table)
                    .col(pk_auto(ExternalIdentities::Id))
                    .col(string(ExternalIdentities::Issuer))
                    .col(string(ExternalIdentities::Subject))
                    .col(integer_null(ExternalIdentities::UserId))
                    .col(timestamp_with_time_zone(ExternalIdentities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExternalIdentities::Table, ExternalIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("external_identities_subject_idx")
                    .table(ExternalIdentities::Table)
                    .col(ExternalIdentities::Issuer)
                    .col(ExternalIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_null(Users::ExternalIssuer))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthEvents::Table)
                    .add_column(string_null(AuthEvents::Issuer))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuthEvents::Table)
                    .drop_column(AuthEvents::Issuer)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::ExternalIssuer)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ExternalIdentities::Table).to_owned())
            .await
    }
}

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameLower,
    Email,
    EmailLower,
    PasswordHash,
    Role,
    TokensValidAfter,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Jti,
    UserId,
    Kind,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Stores {
    Table,
    Id,
    Name,
    NameLower,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Items {
    Table,
    Id,
    StoreId,
    OwnerId,
    Name,
    NameLower,
    Description,
    PriceCents,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Id,
    UsernameLower,
    ClientAddr,
    FailedAt,
}

/// A unique index whose name contains the column it guards, so a violation can be mapped
/// to a client error by name on both SQLite (reports columns) and PostgreSQL (reports names).
fn unique_index(name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table).unique();
    for col in cols {
        index.col(col);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_auto(Users::Id))
                    .col(string(Users::Username))
                    .col(string(Users::UsernameLower))
                    .col(string_null(Users::Email))
                    .col(string_null(Users::EmailLower))
                    .col(string(Users::PasswordHash))
                    .col(string(Users::Role))
                    .col(timestamp_with_time_zone_null(Users::TokensValidAfter))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "users_username_lower_key",
                Users::Table,
                vec![Users::UsernameLower.into_iden()],
            ))
            .await?;
        manager
            .create_index(unique_index(
                "users_email_lower_key",
                Users::Table,
                vec![Users::EmailLower.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(string(Tokens::Jti).primary_key())
                    .col(integer(Tokens::UserId))
                    .col(string(Tokens::Kind))
                    .col(timestamp_with_time_zone(Tokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Tokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tokens::Table, Tokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tokens_user_id_idx")
                    .table(Tokens::Table)
                    .col(Tokens::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tokens_expires_at_idx")
                    .table(Tokens::Table)
                    .col(Tokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Stores::Table)
                    .col(pk_auto(Stores::Id))
                    .col(string(Stores::Name))
                    .col(string(Stores::NameLower))
                    .col(timestamp_with_time_zone(Stores::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "stores_name_lower_key",
                Stores::Table,
                vec![Stores::NameLower.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Items::Table)
                    .col(pk_auto(Items::Id))
                    .col(integer(Items::StoreId))
                    .col(integer(Items::OwnerId))
                    .col(string(Items::Name))
                    .col(string(Items::NameLower))
                    .col(text_null(Items::Description))
                    .col(big_integer(Items::PriceCents))
                    .col(timestamp_with_time_zone(Items::CreatedAt))
                    .col(timestamp_with_time_zone(Items::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Items::Table, Items::StoreId)
                            .to(Stores::Table, Stores::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Items::Table, Items::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "items_store_id_name_lower_key",
                Items::Table,
                vec![Items::StoreId.into_iden(), Items::NameLower.into_iden()],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("items_owner_id_idx")
                    .table(Items::Table)
                    .col(Items::OwnerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(pk_auto(LoginFailures::Id))
                    .col(string(LoginFailures::UsernameLower))
                    .col(string(LoginFailures::ClientAddr))
                    .col(timestamp_with_time_zone(LoginFailures::FailedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("login_failures_lookup_idx")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::UsernameLower)
                    .col(LoginFailures::ClientAddr)
                    .col(LoginFailures::FailedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginFailures::Table.into_iden(),
            Items::Table.into_iden(),
            Stores::Table.into_iden(),
            Tokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

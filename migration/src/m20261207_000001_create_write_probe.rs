//! `write_probe`: an empty table that `/healthz` writes to (and empties in the same
//! transaction) to learn whether the database can take writes again after a write failed
//! for a passing cause (disk full, locked, read-only), and that the start writes to once
//! so a database that cannot be written stops the start (API.md "Data safety").

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WriteProbe {
    Table,
    Id,
    Filler,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WriteProbe::Table)
                    .col(pk_auto(WriteProbe::Id))
                    .col(blob(WriteProbe::Filler))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WriteProbe::Table).to_owned())
            .await
    }
}

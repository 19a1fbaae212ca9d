//! Schema migrations, portable across SQLite and PostgreSQL (SeaQuery only, no raw SQL).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_tables;
mod m20261128_000001_create_auth_attempts;
mod m20261129_000001_create_sessions;
mod m20261130_000001_create_auth_events;
mod m20261201_000001_index_live_sessions;
mod m20261207_000001_create_write_probe;
mod m20261207_000002_create_mail_and_recovery;
mod m20261208_000001_create_second_factor;
mod m20261208_000002_create_external_identities;

/// Every migration in order; `Migrator::up` runs at server start and in `authql migrate`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tables::Migration),
            Box::new(m20261128_000001_create_auth_attempts::Migration),
            Box::new(m20261129_000001_create_sessions::Migration),
            Box::new(m20261130_000001_create_auth_events::Migration),
            Box::new(m20261201_000001_index_live_sessions::Migration),
            Box::new(m20261207_000001_create_write_probe::Migration),
            Box::new(m20261207_000002_create_mail_and_recovery::Migration),
            Box::new(m20261208_000001_create_second_factor::Migration),
            Box::new(m20261208_000002_create_external_identities::Migration),
        ]
    }
}

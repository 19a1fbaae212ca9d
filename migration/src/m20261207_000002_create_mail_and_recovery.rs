//! Account recovery (API.md "Mail", "Password reset and email verification"):
//!
//! - `mail_outbox`: mail written in the transaction of the change that causes it, sent by
//!   a sender task that claims it with a lease (`lease_until`), retried with backoff
//!   (`next_attempt_at`), deleted once delivered or given up, or when the token it carries
//!   expires (`expires_at`). It is the one place a one-time token is stored in clear.
//! - `one_time_tokens`: reset and verification tokens, stored only as the SHA-256 of the
//!   token, bound to a purpose and a user, single use (`used_at`, set by a compare-and-set).
//!   `email` is the address a verification token proves (for an email change, the new one).
//! - `mail_quota`: one row per mail a limit counts (per recipient, per user), pruned after
//!   the hour the limits look at.
//! - `users.email_verified_at`: when the account's current address was verified.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    ToAddress,
    Subject,
    Body,
    QueuedAt,
    ExpiresAt,
    NextAttemptAt,
    LeaseUntil,
    Attempts,
}

#[derive(DeriveIden)]
enum OneTimeTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum MailQuota {
    Table,
    Id,
    Scope,
    Subject,
    SentAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(pk_auto(MailOutbox::Id))
                    .col(string(MailOutbox::ToAddress))
                    .col(string(MailOutbox::Subject))
                    .col(text(MailOutbox::Body))
                    .col(timestamp_with_time_zone(MailOutbox::QueuedAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::ExpiresAt))
                    .col(timestamp_with_time_zone(MailOutbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::LeaseUntil))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_due_idx")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OneTimeTokens::Table)
                    .col(pk_auto(OneTimeTokens::Id))
                    .col(integer(OneTimeTokens::UserId))
                    .col(string(OneTimeTokens::Purpose))
                    .col(string(OneTimeTokens::TokenHash).unique_key())
                    .col(string_null(OneTimeTokens::Email))
                    .col(timestamp_with_time_zone(OneTimeTokens::CreatedAt))
                    .col(timestamp_with_time_zone(OneTimeTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OneTimeTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OneTimeTokens::Table, OneTimeTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("one_time_tokens_user_idx")
                    .table(OneTimeTokens::Table)
                    .col(OneTimeTokens::UserId)
                    .col(OneTimeTokens::Purpose)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MailQuota::Table)
                    .col(pk_auto(MailQuota::Id))
                    .col(string(MailQuota::Scope))
                    .col(string(MailQuota::Subject))
                    .col(timestamp_with_time_zone(MailQuota::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_quota_lookup_idx")
                    .table(MailQuota::Table)
                    .col(MailQuota::Scope)
                    .col(MailQuota::Subject)
                    .col(MailQuota::SentAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::EmailVerifiedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailVerifiedAt)
                    .to_owned(),
            )
            .await?;
        for table in [
            MailQuota::Table.into_iden(),
            OneTimeTokens::Table.into_iden(),
            MailOutbox::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

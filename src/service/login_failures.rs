//! Failed logins per (username ignoring case, client address), counted in the database so
//! the limit holds across server instances.

use chrono::{DateTime, Utc};
use entity::login_failure;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::ServiceResult;

/// The failures inside the window, oldest first (only their times).
pub async fn recent(
    db: &impl ConnectionTrait,
    username: &str,
    client_addr: &str,
    since: DateTime<Utc>,
) -> ServiceResult<Vec<DateTime<Utc>>> {
    Ok(login_failure::Entity::find()
        .filter(login_failure::Column::UsernameLower.eq(username.to_lowercase()))
        .filter(login_failure::Column::ClientAddr.eq(client_addr))
        .filter(login_failure::Column::FailedAt.gt(since))
        .order_by_asc(login_failure::Column::FailedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.failed_at)
        .collect())
}

pub async fn record(
    db: &impl ConnectionTrait,
    username: &str,
    client_addr: &str,
) -> ServiceResult<()> {
    login_failure::ActiveModel {
        username_lower: Set(username.to_lowercase()),
        client_addr: Set(client_addr.to_owned()),
        failed_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A successful login clears the slate for that username and address.
pub async fn clear(
    db: &impl ConnectionTrait,
    username: &str,
    client_addr: &str,
) -> ServiceResult<()> {
    login_failure::Entity::delete_many()
        .filter(login_failure::Column::UsernameLower.eq(username.to_lowercase()))
        .filter(login_failure::Column::ClientAddr.eq(client_addr))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes failures older than the window.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> ServiceResult<u64> {
    Ok(login_failure::Entity::delete_many()
        .filter(login_failure::Column::FailedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

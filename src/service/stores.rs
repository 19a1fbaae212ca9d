//! Stores: creation, lookup, paging, deletion (with their items).

use chrono::Utc;
use entity::store;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::{ServiceError, ServiceResult, on_unique_violation};
use crate::domain::{Name, PageArgs};

/// Inserts a store; a taken name (ignoring case) is refused by the unique index.
pub(super) async fn create(db: &impl ConnectionTrait, name: &Name) -> ServiceResult<store::Model> {
    store::ActiveModel {
        name: Set(name.as_str().to_owned()),
        name_lower: Set(name.lower()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(on_unique_violation)
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> ServiceResult<Option<store::Model>> {
    Ok(store::Entity::find_by_id(id).one(db).await?)
}

/// Stores by id, for the DataLoader.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[i32]) -> ServiceResult<Vec<store::Model>> {
    Ok(store::Entity::find()
        .filter(store::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// One page in id order, plus whether more follow.
pub async fn page(
    db: &impl ConnectionTrait,
    args: PageArgs,
) -> ServiceResult<(Vec<store::Model>, bool)> {
    let mut query = store::Entity::find().order_by_asc(store::Column::Id);
    if let Some(after) = args.after {
        query = query.filter(store::Column::Id.gt(after));
    }
    let mut rows = query.limit(args.first + 1).all(db).await?;
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    Ok((rows, has_next))
}

pub async fn count(db: &impl ConnectionTrait) -> ServiceResult<u64> {
    Ok(store::Entity::find().count(db).await?)
}

/// Deletes the store; its items go with it (foreign-key cascade).
pub(super) async fn delete(db: &impl ConnectionTrait, id: i32) -> ServiceResult<()> {
    let result = store::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(ServiceError::NotFound("Store"));
    }
    Ok(())
}

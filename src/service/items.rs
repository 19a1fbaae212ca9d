//! Items: creation, updates by owner or ADMIN, filtered paging, batched nested pages.

use std::collections::HashMap;

use chrono::Utc;
use entity::{item, user};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, Statement,
    sea_query::{Expr, Func, LikeExpr},
};

use super::revocations::Revocations;
use super::{ServiceError, ServiceResult, on_unique_violation};
use crate::domain::{Description, Name, PageArgs, Price};

/// What the top-level `items` query filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemFilter {
    pub store_id: Option<i32>,
    /// Case-insensitive substring of the name; `%` and `_` are literal.
    pub search: Option<String>,
}

/// The parent of a nested item connection (`Store.items`, `User.items`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parent {
    Store(i32),
    Owner(i32),
}

impl Parent {
    fn column(self) -> item::Column {
        match self {
            Self::Store(_) => item::Column::StoreId,
            Self::Owner(_) => item::Column::OwnerId,
        }
    }

    fn id(self) -> i32 {
        match self {
            Self::Store(id) | Self::Owner(id) => id,
        }
    }

    fn of(self, item: &item::Model) -> Self {
        match self {
            Self::Store(_) => Self::Store(item.store_id),
            Self::Owner(_) => Self::Owner(item.owner_id),
        }
    }
}

/// The fields of a new item, already validated.
pub struct NewItem {
    pub store_id: i32,
    pub owner_id: i32,
    pub name: Name,
    pub description: Option<Description>,
    pub price: Price,
}

/// Changes to an item; `None` leaves a field as it is, `Some(None)` clears the description.
#[derive(Default)]
pub struct ItemChanges {
    pub name: Option<Name>,
    pub description: Option<Option<Description>>,
    pub price: Option<Price>,
}

/// A store that vanished between lookup and insert fails the foreign key: `NOT_FOUND`.
fn on_insert_error(error: sea_orm::DbErr) -> ServiceError {
    if matches!(
        error.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) {
        return ServiceError::NotFound("Store");
    }
    on_unique_violation(error)
}

/// The ownership rule: the owner or an ADMIN may change or delete an item.
pub fn can_edit(user_id: i32, is_admin: bool, item: &item::Model) -> bool {
    is_admin || item.owner_id == user_id
}

pub async fn create(db: &impl ConnectionTrait, new: NewItem) -> ServiceResult<item::Model> {
    let now = Utc::now();
    item::ActiveModel {
        store_id: Set(new.store_id),
        owner_id: Set(new.owner_id),
        name: Set(new.name.as_str().to_owned()),
        name_lower: Set(new.name.lower()),
        description: Set(new.description.map(Description::into_inner)),
        price_cents: Set(new.price.cents()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(on_insert_error)
}

pub async fn find(db: &impl ConnectionTrait, id: i32) -> ServiceResult<Option<item::Model>> {
    Ok(item::Entity::find_by_id(id).one(db).await?)
}

/// Applies `changes`; the row must still exist.
pub async fn update(
    db: &impl ConnectionTrait,
    item: item::Model,
    changes: ItemChanges,
) -> ServiceResult<item::Model> {
    let mut active: item::ActiveModel = item.into();
    if let Some(name) = changes.name {
        active.name = Set(name.as_str().to_owned());
        active.name_lower = Set(name.lower());
    }
    if let Some(description) = changes.description {
        active.description = Set(description.map(Description::into_inner));
    }
    if let Some(price) = changes.price {
        active.price_cents = Set(price.cents());
    }
    active.updated_at = Set(Utc::now());
    active.update(db).await.map_err(|error| match error {
        sea_orm::DbErr::RecordNotUpdated => ServiceError::NotFound("Item"),
        error => on_unique_violation(error),
    })
}

pub async fn delete(db: &impl ConnectionTrait, id: i32) -> ServiceResult<()> {
    let result = item::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(ServiceError::NotFound("Item"));
    }
    Ok(())
}

/// Deletes every item of a store or user and returns them; run in the same transaction as
/// the parent's deletion so no item escapes unannounced.
pub(super) async fn delete_all_of(
    db: &impl ConnectionTrait,
    parent: Parent,
) -> ServiceResult<Vec<item::Model>> {
    Ok(item::Entity::delete_many()
        .filter(parent.column().eq(parent.id()))
        .exec_with_returning(db)
        .await?)
}

/// Deletes a store together with its items, in one transaction, and returns the items (for
/// `DELETED` events). A user and their items: [`super::users::delete_account`].
pub async fn delete_store(
    db: &DatabaseConnection,
    view: &Revocations,
    store_id: i32,
) -> ServiceResult<Vec<item::Model>> {
    view.write_data(db, async |txn| {
        let deleted = delete_all_of(txn, Parent::Store(store_id)).await?;
        super::stores::delete(txn, store_id).await?;
        Ok(deleted)
    })
    .await
}

/// `%`, `_` and the escape character itself match literally.
fn like_pattern(search: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('\\')
}

fn filtered(filter: &ItemFilter) -> sea_orm::Select<item::Entity> {
    let mut query = item::Entity::find();
    if let Some(store_id) = filter.store_id {
        query = query.filter(item::Column::StoreId.eq(store_id));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(item::Column::NameLower.like(like_pattern(search)));
    }
    query
}

/// One page of the filtered items in id order, plus whether more follow.
pub async fn page(
    db: &impl ConnectionTrait,
    filter: &ItemFilter,
    args: PageArgs,
) -> ServiceResult<(Vec<item::Model>, bool)> {
    let mut rows = paged(filter, args).all(db).await?;
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    Ok((rows, has_next))
}

/// [`page`] with each item's owner, joined in the same statement (a page that shows
/// owners costs one statement, not two).
pub async fn page_with_owners(
    db: &impl ConnectionTrait,
    filter: &ItemFilter,
    args: PageArgs,
) -> ServiceResult<(Vec<(item::Model, Option<user::Model>)>, bool)> {
    let mut rows = paged(filter, args)
        .find_also_related(user::Entity)
        .all(db)
        .await?;
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    Ok((rows, has_next))
}

fn paged(filter: &ItemFilter, args: PageArgs) -> sea_orm::Select<item::Entity> {
    let mut query = filtered(filter).order_by_asc(item::Column::Id);
    if let Some(after) = args.after {
        query = query.filter(item::Column::Id.gt(after));
    }
    query.limit(args.first + 1)
}

/// How many items the filters match.
pub async fn count(db: &impl ConnectionTrait, filter: &ItemFilter) -> ServiceResult<u64> {
    Ok(filtered(filter).count(db).await?)
}

/// Item counts for many parents of one kind, in one grouped query.
pub async fn count_by_parent(
    db: &impl ConnectionTrait,
    parents: &[Parent],
) -> ServiceResult<HashMap<Parent, u64>> {
    let mut counts: HashMap<Parent, u64> = parents.iter().map(|p| (*p, 0)).collect();
    let Some(first) = parents.first().copied() else {
        return Ok(counts);
    };
    let column = first.column();
    let rows: Vec<(i32, i64)> = item::Entity::find()
        .select_only()
        .column(column)
        .column_as(Expr::from(Func::count(Expr::col(item::Column::Id))), "n")
        .filter(column.is_in(parents.iter().map(|p| p.id())))
        .group_by(column)
        .into_tuple()
        .all(db)
        .await?;
    for (id, n) in rows {
        let parent = match first {
            Parent::Store(_) => Parent::Store(id),
            Parent::Owner(_) => Parent::Owner(id),
        };
        counts.insert(parent, n.max(0) as u64);
    }
    Ok(counts)
}

/// The first page (`args`) of items for each parent of one kind, in one query: a window
/// function numbers each parent's rows, so a page of 100 stores costs one statement.
pub async fn pages_by_parent(
    db: &impl ConnectionTrait,
    parents: &[Parent],
    args: PageArgs,
) -> ServiceResult<HashMap<Parent, (Vec<item::Model>, bool)>> {
    let mut pages: HashMap<Parent, (Vec<item::Model>, bool)> =
        parents.iter().map(|p| (*p, (Vec::new(), false))).collect();
    let Some(first) = parents.first().copied() else {
        return Ok(pages);
    };
    let backend = db.get_database_backend();
    let placeholder = |n: usize| match backend {
        sea_orm::DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let column = match first {
        Parent::Store(_) => "store_id",
        Parent::Owner(_) => "owner_id",
    };
    let mut values: Vec<sea_orm::Value> = parents.iter().map(|p| p.id().into()).collect();
    let ids: Vec<String> = (1..=parents.len()).map(placeholder).collect();
    values.push(args.after.unwrap_or(0).into());
    let after = placeholder(values.len());
    values.push((args.first as i64 + 1).into());
    let limit = placeholder(values.len());
    let sql = format!(
        "SELECT id, store_id, owner_id, name, name_lower, description, price_cents, created_at, updated_at \
         FROM (SELECT items.*, ROW_NUMBER() OVER (PARTITION BY {column} ORDER BY id) AS rn \
               FROM items WHERE {column} IN ({ids}) AND id > {after}) numbered \
         WHERE rn <= {limit} ORDER BY {column}, id",
        ids = ids.join(", "),
    );
    let rows = item::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?;
    for row in rows {
        let (page, has_next) = pages.entry(first.of(&row)).or_default();
        if page.len() as u64 == args.first {
            *has_next = true;
        } else {
            page.push(row);
        }
    }
    Ok(pages)
}

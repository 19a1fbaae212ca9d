//! Items: creation, updates by owner or ADMIN, filtered paging, batched nested pages.

use std::collections::HashMap;

use chrono::Utc;
use entity::{item, user};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, Statement,
    sea_query::{Expr, Func, LikeExpr},
};

use super::{ServiceError, ServiceResult, on_unique_violation};
use crate::db::{Columns, ModelColumns, SqliteReads};
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

/// Inserts an item (in a [`super::catalogue::Catalogue`] workflow's transaction).
pub(super) async fn create(db: &impl ConnectionTrait, new: NewItem) -> ServiceResult<item::Model> {
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
pub(super) async fn update(
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

pub(super) async fn delete(db: &impl ConnectionTrait, id: i32) -> ServiceResult<()> {
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
    reads: Option<&SqliteReads>,
    filter: &ItemFilter,
    args: PageArgs,
) -> ServiceResult<(Vec<item::Model>, bool)> {
    let direct = match on_this_thread(reads, filter) {
        Some(reads) => reads.all(
            &unfiltered_page(DatabaseBackend::Sqlite, SQLITE_PAGE, args),
            |row| item::Model::read(row, 0),
        )?,
        None if unfiltered(filter) && db.get_database_backend() == DatabaseBackend::Postgres => {
            Some(postgres_page(db, args).await?)
        }
        None => None,
    };
    let mut rows = match direct {
        Some(rows) => rows,
        None => paged(filter, args).all(db).await?,
    };
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    Ok((rows, has_next))
}

/// [`page`] with the items' owners, joined in the same statement (a page that shows
/// owners costs one statement, not two): the items, then each owner once, then whether
/// more follow. A page repeats few owners many times; each is decoded once.
pub async fn page_with_owners(
    db: &impl ConnectionTrait,
    reads: Option<&SqliteReads>,
    filter: &ItemFilter,
    args: PageArgs,
) -> ServiceResult<(Vec<item::Model>, Vec<user::Model>, bool)> {
    let mut decoded: Vec<i32> = Vec::new();
    let direct = match on_this_thread(reads, filter) {
        Some(reads) => reads.all(
            &unfiltered_page(DatabaseBackend::Sqlite, SQLITE_PAGE_WITH_OWNERS, args),
            |row| item_and_new_owner(row, &mut decoded),
        )?,
        None if unfiltered(filter) && db.get_database_backend() == DatabaseBackend::Postgres => {
            Some(postgres_page_with_owners(db, args).await?)
        }
        None => None,
    };
    let mut owners: Vec<user::Model> = Vec::new();
    let mut rows = match direct {
        Some(rows) => rows,
        None => {
            paged(filter, args)
                .find_also_related(user::Entity)
                .all(db)
                .await?
        }
    }
    .into_iter()
    .map(|(item, owner)| {
        if let Some(owner) = owner.filter(|o| !owners.iter().any(|s| s.id == o.id)) {
            owners.push(owner);
        }
        item
    })
    .collect::<Vec<_>>();
    let has_next = rows.len() as u64 > args.first;
    rows.truncate(args.first as usize);
    owners.retain(|owner| rows.iter().any(|row| row.owner_id == owner.id));
    Ok((rows, owners, has_next))
}

/// The direct SQLite reads, for a page whose cost is bounded by its size: the unfiltered
/// page is a range of the primary key, at most `first + 1` rows. A filtered page may scan
/// a store's items or the whole table first, which belongs on the pool's threads.
fn on_this_thread<'a>(
    reads: Option<&'a SqliteReads>,
    filter: &ItemFilter,
) -> Option<&'a SqliteReads> {
    reads.filter(|_| unfiltered(filter))
}

fn unfiltered(filter: &ItemFilter) -> bool {
    filter.store_id.is_none() && filter.search.is_none()
}

// The unfiltered pages in texts that never change, as `paged` asks them of sea-orm (with
// `find_also_related`: a LEFT JOIN, the item's columns then the owner's, in the order
// `ModelColumns` reads them). Building the statement per request with sea-query cost ~8 %
// of a cache-missed read's CPU on SQLite; on PostgreSQL sea-orm also formats each value's
// alias (`A_id`, …) to look it up by name (docs/benchmarks.md). A fixed text is prepared
// once per connection (rusqlite's and sqlx's statement caches) and read by position. The
// first parameter is the id after which the page starts (ids are positive: 0 is the
// first page), the second the limit.
macro_rules! item_columns {
    () => {
        "i.id, i.store_id, i.owner_id, i.name, i.name_lower, i.description, i.price_cents, \
         i.created_at, i.updated_at"
    };
}
macro_rules! owner_columns {
    () => {
        "u.id, u.username, u.username_lower, u.email, u.email_lower, u.password_hash, u.role, \
         u.tokens_valid_after, u.created_at, u.updated_at, u.email_verified_at, \
         u.mfa_enabled_at, u.external_issuer"
    };
}
const SQLITE_PAGE: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM items i WHERE i.id > ?1 ORDER BY i.id LIMIT ?2"
);
const SQLITE_PAGE_WITH_OWNERS: &str = concat!(
    "SELECT ",
    item_columns!(),
    ", ",
    owner_columns!(),
    " FROM items i LEFT JOIN users u ON u.id = i.owner_id WHERE i.id > ?1 ORDER BY i.id LIMIT ?2"
);
const POSTGRES_PAGE: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM items i WHERE i.id > $1 ORDER BY i.id LIMIT $2"
);
const POSTGRES_PAGE_WITH_OWNERS: &str = concat!(
    "SELECT ",
    item_columns!(),
    ", ",
    owner_columns!(),
    " FROM items i LEFT JOIN users u ON u.id = i.owner_id WHERE i.id > $1 ORDER BY i.id LIMIT $2"
);

/// One of the texts above with the page's parameters.
fn unfiltered_page(backend: DatabaseBackend, sql: &'static str, args: PageArgs) -> Statement {
    Statement::from_sql_and_values(
        backend,
        sql,
        [
            args.after.unwrap_or(0).into(),
            (args.first as i64 + 1).into(),
        ],
    )
}

async fn postgres_page(
    db: &impl ConnectionTrait,
    args: PageArgs,
) -> ServiceResult<Vec<item::Model>> {
    let rows = db
        .query_all_raw(unfiltered_page(
            DatabaseBackend::Postgres,
            POSTGRES_PAGE,
            args,
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|row| item::Model::read(row, 0))
        .collect::<Result<_, _>>()?)
}

async fn postgres_page_with_owners(
    db: &impl ConnectionTrait,
    args: PageArgs,
) -> ServiceResult<Vec<(item::Model, Option<user::Model>)>> {
    let rows = db
        .query_all_raw(unfiltered_page(
            DatabaseBackend::Postgres,
            POSTGRES_PAGE_WITH_OWNERS,
            args,
        ))
        .await?;
    let mut decoded: Vec<i32> = Vec::new();
    Ok(rows
        .iter()
        .map(|row| item_and_new_owner(row, &mut decoded))
        .collect::<Result<_, _>>()?)
}

/// A row of a page with owners: the item, and its owner unless an earlier row of the page
/// (in `decoded`) had it. A page repeats few owners many times: each is decoded once.
fn item_and_new_owner<R: Columns>(
    row: &R,
    decoded: &mut Vec<i32>,
) -> Result<(item::Model, Option<user::Model>), R::Error> {
    let item = item::Model::read(row, 0)?;
    let owner = if decoded.contains(&item.owner_id) {
        None
    } else {
        decoded.push(item.owner_id);
        user::Model::read_optional(row, item::Model::WIDTH)?
    };
    Ok((item, owner))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Role, Username};
    use crate::service::{stores, users};
    use sea_orm::DatabaseConnection;

    /// A file database with two owners (one with an email and a token cut-off), a store and
    /// five items, one without a description.
    async fn seeded() -> (tempfile::TempDir, DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("items.db").display());
        (dir, seeded_at(&url).await)
    }

    async fn seeded_at(url: &str) -> DatabaseConnection {
        let db = crate::db::connect(url, &Default::default()).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let email = Email::parse("ann@example.com").unwrap();
        let ann = users::create(
            &db,
            &Username::parse("ann").unwrap(),
            Some(&email),
            "hash-a".into(),
            Role::Admin,
            false,
        )
        .await
        .unwrap();
        let mut active: user::ActiveModel = ann.into();
        active.tokens_valid_after = Set(Some(Utc::now()));
        let ann = active.update(&db).await.unwrap();
        let bob = users::create(
            &db,
            &Username::parse("bob").unwrap(),
            None,
            "hash-b".into(),
            Role::User,
            false,
        )
        .await
        .unwrap();
        let store = stores::create(&db, &Name::parse("Shop").unwrap())
            .await
            .unwrap();
        for n in 0..5 {
            create(
                &db,
                NewItem {
                    store_id: store.id,
                    owner_id: if n % 2 == 0 { ann.id } else { bob.id },
                    name: Name::parse(&format!("Item {n}")).unwrap(),
                    description: (n != 3)
                        .then(|| Description::parse(&format!("about {n}")).unwrap()),
                    price: Price::from_cents(100 * n + 5),
                },
            )
            .await
            .unwrap();
        }
        db
    }

    /// On PostgreSQL the unfiltered page with owners is a fixed text read by position: it
    /// decodes exactly what sea-orm's own statement and decoding give. Runs where
    /// `TEST_DATABASE_URL` names a PostgreSQL server (CI's PostgreSQL step), in a database
    /// of its own.
    #[tokio::test]
    async fn postgres_fixed_pages_equal_sea_orms() {
        let Some(scratch) = crate::db::ScratchPostgres::create().await else {
            return;
        };
        let db = seeded_at(&scratch.url).await;
        let all = ItemFilter::default();
        for after in [None, Some(1), Some(4), Some(5)] {
            let args = PageArgs { first: 2, after };
            let fixed = postgres_page_with_owners(&db, args).await.unwrap();
            let mut decoded = Vec::new();
            let sea_orm: Vec<_> = paged(&all, args)
                .find_also_related(user::Entity)
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|(item, owner)| {
                    let new = !decoded.contains(&item.owner_id);
                    decoded.push(item.owner_id);
                    (item, owner.filter(|_| new))
                })
                .collect();
            assert_eq!(fixed, sea_orm, "after {after:?}");
            let items: Vec<_> = sea_orm.into_iter().map(|(item, _)| item).collect();
            assert_eq!(postgres_page(&db, args).await.unwrap(), items);
            if let Some((_, first_owner)) = fixed.first() {
                assert!(first_owner.is_some(), "a page's first row has its owner");
            }
        }
        db.close().await.unwrap();
    }

    /// The direct reads decode exactly what sea-orm decodes, page by page.
    #[tokio::test]
    async fn direct_pages_equal_the_pools() {
        let (_dir, db) = seeded().await;
        let reads = SqliteReads::open(&db, None).await.unwrap().expect("a file");
        let all = ItemFilter::default();
        for after in [None, Some(1), Some(4), Some(5)] {
            let args = PageArgs { first: 2, after };
            let direct = page_with_owners(&db, Some(&reads), &all, args)
                .await
                .unwrap();
            let pooled = page_with_owners(&db, None, &all, args).await.unwrap();
            assert_eq!(direct, pooled, "after {after:?}");
            // Each item's owner, once (the seed alternates two owners).
            let mut owner_ids: Vec<i32> = direct.0.iter().map(|item| item.owner_id).collect();
            owner_ids.sort_unstable();
            owner_ids.dedup();
            let mut shown: Vec<i32> = direct.1.iter().map(|owner| owner.id).collect();
            shown.sort_unstable();
            assert_eq!(shown, owner_ids, "after {after:?}");
            let direct = page(&db, Some(&reads), &all, args).await.unwrap();
            assert_eq!(direct, page(&db, None, &all, args).await.unwrap());
        }
        let whole = page_with_owners(
            &db,
            Some(&reads),
            &all,
            PageArgs {
                first: 10,
                after: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(whole.0.len(), 5);
        assert_eq!(whole.1.len(), 2);
        assert!(!whole.2);
        assert!(whole.0.iter().any(|item| item.description.is_none()));
        assert!(
            whole
                .1
                .iter()
                .any(|o| o.email.is_some() && o.tokens_valid_after.is_some())
        );
    }

    /// A page read directly sees every commit that finished before it, and an open write
    /// transaction neither blocks it nor shows through.
    #[tokio::test]
    async fn direct_pages_see_commits_at_once() {
        use sea_orm::TransactionTrait;
        let (_dir, db) = seeded().await;
        let reads = SqliteReads::open(&db, None).await.unwrap().expect("a file");
        let all = ItemFilter::default();
        let args = PageArgs {
            first: 100,
            after: None,
        };
        let count = async || page(&db, Some(&reads), &all, args).await.unwrap().0.len();
        assert_eq!(count().await, 5);
        let txn = db.begin().await.unwrap();
        delete(&txn, 1).await.unwrap();
        assert_eq!(count().await, 5, "an uncommitted delete shows");
        txn.commit().await.unwrap();
        assert_eq!(count().await, 4, "a committed delete does not show");
    }
}

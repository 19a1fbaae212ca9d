//! Models read by position from a result row, whichever driver produced it. The fixed SQL
//! texts of the hot reads (service/items.rs) select an entity's columns in its column
//! order — the order sea-orm selects them in — on SQLite through rusqlite and on
//! PostgreSQL through sqlx; the one column list here keeps both readers in step.

use chrono::{DateTime, Utc};
use entity::{item, user};
use sea_orm::{DbErr, QueryResult};

/// A result row, read by column position.
pub trait Columns {
    type Error;

    fn optional_int(&self, at: usize) -> Result<Option<i32>, Self::Error>;
    fn int(&self, at: usize) -> Result<i32, Self::Error>;
    fn big_int(&self, at: usize) -> Result<i64, Self::Error>;
    fn text(&self, at: usize) -> Result<String, Self::Error>;
    fn optional_text(&self, at: usize) -> Result<Option<String>, Self::Error>;
    fn time(&self, at: usize) -> Result<DateTime<Utc>, Self::Error>;
    fn optional_time(&self, at: usize) -> Result<Option<DateTime<Utc>>, Self::Error>;
}

/// A model read from consecutive columns starting at `at`, in the entity's column order.
pub trait ModelColumns: Sized {
    const WIDTH: usize;

    fn read<R: Columns>(row: &R, at: usize) -> Result<Self, R::Error>;

    /// `None` when the first column (the id) is NULL: the missing side of a LEFT JOIN.
    fn read_optional<R: Columns>(row: &R, at: usize) -> Result<Option<Self>, R::Error> {
        match row.optional_int(at)? {
            None => Ok(None),
            Some(_) => Self::read(row, at).map(Some),
        }
    }
}

impl ModelColumns for item::Model {
    const WIDTH: usize = 9;

    fn read<R: Columns>(row: &R, at: usize) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.int(at)?,
            store_id: row.int(at + 1)?,
            owner_id: row.int(at + 2)?,
            name: row.text(at + 3)?,
            name_lower: row.text(at + 4)?,
            description: row.optional_text(at + 5)?,
            price_cents: row.big_int(at + 6)?,
            created_at: row.time(at + 7)?,
            updated_at: row.time(at + 8)?,
        })
    }
}

impl ModelColumns for user::Model {
    const WIDTH: usize = 13;

    fn read<R: Columns>(row: &R, at: usize) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.int(at)?,
            username: row.text(at + 1)?,
            username_lower: row.text(at + 2)?,
            email: row.optional_text(at + 3)?,
            email_lower: row.optional_text(at + 4)?,
            password_hash: row.text(at + 5)?,
            role: row.text(at + 6)?,
            tokens_valid_after: row.optional_time(at + 7)?,
            created_at: row.time(at + 8)?,
            updated_at: row.time(at + 9)?,
            email_verified_at: row.optional_time(at + 10)?,
            mfa_enabled_at: row.optional_time(at + 11)?,
            external_issuer: row.optional_text(at + 12)?,
        })
    }
}

/// sea-orm's rows (PostgreSQL), decoded by sqlx.
impl Columns for QueryResult {
    type Error = DbErr;

    fn optional_int(&self, at: usize) -> Result<Option<i32>, DbErr> {
        self.try_get_by_index(at)
    }
    fn int(&self, at: usize) -> Result<i32, DbErr> {
        self.try_get_by_index(at)
    }
    fn big_int(&self, at: usize) -> Result<i64, DbErr> {
        self.try_get_by_index(at)
    }
    fn text(&self, at: usize) -> Result<String, DbErr> {
        self.try_get_by_index(at)
    }
    fn optional_text(&self, at: usize) -> Result<Option<String>, DbErr> {
        self.try_get_by_index(at)
    }
    fn time(&self, at: usize) -> Result<DateTime<Utc>, DbErr> {
        self.try_get_by_index(at)
    }
    fn optional_time(&self, at: usize) -> Result<Option<DateTime<Utc>>, DbErr> {
        self.try_get_by_index(at)
    }
}

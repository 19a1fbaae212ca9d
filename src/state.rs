//! `AppState`: everything a request needs, built once at startup and shared behind one
//! `Arc` (every request clones it). No globals: tests run many servers in one process.

use std::{ops::Deref, sync::Arc};

use sea_orm::DatabaseConnection;

use crate::auth::outside::OutsideIssuers;
use crate::auth::{password::Passwords, tokens::JwtKeys};
use crate::config::Config;
use crate::db::{Health, SqliteReads};
use crate::domain::CursorCodec;
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::service::catalogue::Catalogue;
use crate::service::mfa::SecondFactor;
use crate::service::outside::OutsideUsers;
use crate::service::recovery::Recovery;
use crate::service::revocations::Revocations;
use crate::service::sessions::Sessions;
use crate::service::users::Accounts;

/// Cheap to clone; derefs to [`Services`].
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub db: DatabaseConnection,
    /// Whether the database can take writes (`/healthz`).
    pub health: Arc<Health>,
    /// Bounded reads of a SQLite file on the request's own thread (`None` otherwise).
    pub sqlite_reads: Option<Arc<SqliteReads>>,
    pub config: Arc<Config>,
    pub keys: Arc<JwtKeys>,
    pub passwords: Passwords,
    pub cursors: CursorCodec,
    /// The auth workflows (signup, login, refresh, logout, password change).
    pub sessions: Sessions,
    /// Writes of stores and items, with their notices and events.
    pub catalogue: Catalogue,
    /// Role changes and account deletions.
    pub accounts: Accounts,
    /// Password reset and email verification.
    pub recovery: Recovery,
    /// The second factor: TOTP, recovery codes, assurance levels.
    pub second_factor: SecondFactor,
    /// Outside identity providers and their keys (`EXTERNAL_ISSUERS_FILE`).
    pub outside: OutsideIssuers,
    /// The local users linked to outside identities.
    pub outside_users: OutsideUsers,
    pub events: EventBus,
    /// What has been revoked or changed, kept current across instances.
    pub revocations: Revocations,
    pub metrics: Metrics,
}

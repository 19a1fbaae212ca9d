//! `AppState`: everything a request needs, cheap to clone, built once at startup. No
//! globals: tests run many servers in one process.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::{password::Passwords, tokens::JwtKeys};
use crate::config::Config;
use crate::domain::CursorCodec;
use crate::events::EventBus;
use crate::service::revocations::Revocations;
use crate::service::sessions::Sessions;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub keys: Arc<JwtKeys>,
    pub passwords: Passwords,
    pub cursors: CursorCodec,
    /// The auth workflows (register, login, refresh, logout, password change).
    pub sessions: Sessions,
    pub events: EventBus,
    /// What has been revoked or changed, kept current across instances.
    pub revocations: Revocations,
}

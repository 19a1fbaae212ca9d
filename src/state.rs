//! `AppState`: everything a request needs, cheap to clone, built once at startup. No
//! globals: tests run many servers in one process.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::{password::Passwords, tokens::JwtKeys};
use crate::config::Config;
use crate::domain::CursorCodec;
use crate::events::EventBus;
use crate::service::attempts::AttemptLimit;
use crate::service::revocations::Revocations;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub keys: Arc<JwtKeys>,
    pub passwords: Passwords,
    pub cursors: CursorCodec,
    /// `LOGIN_MAX_FAILURES` within `LOGIN_FAILURE_WINDOW`, for logins and password changes.
    pub attempt_limit: AttemptLimit,
    pub events: EventBus,
    /// What has been revoked or changed, kept current across instances.
    pub revocations: Revocations,
}

//! Failed-login limiting per (username ignoring case, client address), `LOGIN_MAX_FAILURES`
//! within `LOGIN_FAILURE_WINDOW`, then `RATE_LIMITED` even with the right password.
//!
//! An attempt is recorded as a failure *before* the password is checked and forgotten on
//! success, so concurrent guesses (on any instance sharing the database) cannot slip past
//! the count between "check" and "record".

use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::graphql::errors::ApiError;
use crate::service::login_failures;

/// Limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimiter {
    pub max_failures: u32,
    pub window: Duration,
}

impl LoginLimiter {
    /// Records the attempt; refuses it if the window is already full.
    pub async fn begin(
        &self,
        db: &DatabaseConnection,
        username: &str,
        client_addr: &str,
    ) -> Result<(), ApiError> {
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        login_failures::record(db, username, client_addr).await?;
        let recent = login_failures::recent(db, username, client_addr, now - window).await?;
        let allowed = self.max_failures as usize;
        if recent.len() > allowed {
            // Refused attempts do not count: only real password checks fill the window.
            self.forget_last(db, username, client_addr).await?;
            let frees_at = recent[recent.len() - allowed - 1] + window;
            let millis = (frees_at - now).num_milliseconds().max(0) as u64;
            let retry_after = millis.div_ceil(1000).max(1);
            return Err(ApiError::RateLimited { retry_after });
        }
        Ok(())
    }

    async fn forget_last(
        &self,
        db: &DatabaseConnection,
        username: &str,
        client_addr: &str,
    ) -> Result<(), ApiError> {
        login_failures::delete_newest(db, username, client_addr).await?;
        Ok(())
    }

    /// The password was right: clear the slate for this username and address.
    pub async fn succeeded(
        &self,
        db: &DatabaseConnection,
        username: &str,
        client_addr: &str,
    ) -> Result<(), ApiError> {
        login_failures::clear(db, username, client_addr).await?;
        Ok(())
    }
}

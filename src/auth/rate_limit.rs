//! Failed-login limiting per (username ignoring case, client address), `LOGIN_MAX_FAILURES`
//! within `LOGIN_FAILURE_WINDOW`, then `RATE_LIMITED` even with the right password.
//!
//! Failures are counted in the database (so the limit holds across instances) and checked
//! twice: before the password check, to spend no Argon2 work on a full window, and again
//! after a *correct* password, so a burst of concurrent guesses cannot slip a right answer
//! past the count — a right password is accepted only if fewer than the allowed failures
//! were recorded before its own check finished, exactly as if the attempts had been
//! sequential. Concurrent correct logins are never refused: only failures count.

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
    /// `RATE_LIMITED` (with the seconds until a failure leaves the window) when the window
    /// already holds the allowed number of failures.
    pub async fn check(
        &self,
        db: &DatabaseConnection,
        username: &str,
        client_addr: &str,
    ) -> Result<(), ApiError> {
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let recent = login_failures::recent(db, username, client_addr, now - window).await?;
        let allowed = self.max_failures as usize;
        if recent.len() < allowed {
            return Ok(());
        }
        // A place frees when failure number `len - allowed` (0-based) ages out; with
        // LOGIN_MAX_FAILURES=0 there is never a place, so report a whole window.
        let frees_at = match recent.len().checked_sub(allowed.max(1)) {
            Some(index) => recent[index] + window,
            None => now + window,
        };
        let millis = (frees_at - now).num_milliseconds().max(0) as u64;
        Err(ApiError::RateLimited {
            retry_after: millis.div_ceil(1000).max(1),
        })
    }

    /// A wrong password (or an unknown username) for this username and address.
    pub async fn failed(
        &self,
        db: &DatabaseConnection,
        username: &str,
        client_addr: &str,
    ) -> Result<(), ApiError> {
        login_failures::record(db, username, client_addr).await?;
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

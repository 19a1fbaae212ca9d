//! Password reset and email verification (API.md "Password reset and email verification",
//! OWASP's Forgot Password cheat sheet).
//!
//! One-time tokens carry 256 random bits, are stored only as their SHA-256, bound to a
//! purpose and a user, and used at most once: the use is a compare-and-set on `used_at`
//! inside the transaction that acts on it, so two requests with one token cannot both
//! succeed. A reset token dies when the password changes by any path, when the account's
//! address changes, and when another reset token of the user is used (its rows are
//! deleted in those transactions). Each mail goes to the outbox in the transaction that
//! makes its token (`service::mail`).
//!
//! `requestPasswordReset` answers before it looks anything up: the request is handed to a
//! worker ([`ResetWorker`]), so known and unknown addresses take the same path to the same
//! answer in the same time, and the limit (3 mails per address per hour) answers the same
//! too. Mails are limited (API.md Mail): reset mails per address, verification mails per
//! recipient and per user, counted in the database (`mail_quota`) under the user's row
//! lock — and an advisory lock per recipient on PostgreSQL — so concurrent requests cannot
//! overshoot.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{mail_quota, one_time_token, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, Statement,
    sea_query::Expr,
};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, mpsc};

use super::audit::Event;
use super::mail::{self, Mail};
use super::principal::Principal;
use super::revocations::{Notice, Revocations, publish};
use super::session_store::ClientInfo;
use super::{ServiceError, ServiceResult, on_unique_violation, session_store, tokens, users};
use crate::auth::password::Passwords;
use crate::config::Config;
use crate::domain::{AuthEventKind, Email, OneTimeToken, Password};

/// What a one-time token is for; a token of one purpose never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    PasswordReset,
    EmailVerification,
    EmailChange,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::EmailChange => "email_change",
        }
    }
}

/// Mails counted per hour (API.md Mail).
const QUOTA_WINDOW: chrono::Duration = chrono::Duration::hours(1);
const RESET_MAILS_PER_ADDRESS: u64 = 3;
const VERIFICATION_MAILS_PER_RECIPIENT: u64 = 3;
const VERIFICATION_MAILS_PER_USER: u64 = 10;
/// Reset requests waiting for the worker at most; more are dropped (still answered `true`).
const RESET_QUEUE: usize = 1024;

/// What mail needs from the configuration, and how to wake this instance's sender.
#[derive(Clone)]
pub struct Outbox {
    app_base: Arc<str>,
    reset_ttl: chrono::Duration,
    verification_ttl: chrono::Duration,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(config: &Config, wake: Arc<Notify>) -> Self {
        let ttl = |d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Self {
            app_base: config.app_base().into(),
            reset_ttl: ttl(config.password_reset_expires),
            verification_ttl: ttl(config.email_verification_expires),
            wake,
        }
    }

    /// Mail was committed: this instance's sender looks at once.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    fn link(&self, page: &str, token: &str) -> String {
        // The token in the fragment: browsers never send it to a server, not even the app's.
        format!("{}/{page}#token={token}", self.app_base)
    }
}

/// A new token: the token to mail, and the hash to store.
fn new_token() -> (String, String) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = hash(&token);
    (token, hash)
}

fn hash(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn insert_token(
    txn: &impl ConnectionTrait,
    user_id: i32,
    purpose: Purpose,
    email: Option<&str>,
    expires_at: DateTime<Utc>,
) -> ServiceResult<String> {
    let (token, hash) = new_token();
    one_time_token::ActiveModel {
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_owned()),
        token_hash: Set(hash),
        email: Set(email.map(str::to_owned)),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(token)
}

/// The live token (unused, unexpired) of one of `purposes` that `token` is.
async fn find_live(
    db: &impl ConnectionTrait,
    token: &OneTimeToken,
    purposes: &[Purpose],
) -> ServiceResult<one_time_token::Model> {
    one_time_token::Entity::find()
        .filter(one_time_token::Column::TokenHash.eq(hash(token.expose())))
        .filter(one_time_token::Column::Purpose.is_in(purposes.iter().map(|p| p.as_str())))
        .filter(one_time_token::Column::UsedAt.is_null())
        .filter(one_time_token::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await?
        .ok_or(ServiceError::VerificationFailed)
}

/// Uses the token: true for exactly one of any number of concurrent attempts.
async fn consume(txn: &impl ConnectionTrait, id: i32) -> ServiceResult<bool> {
    let now = Utc::now();
    let result = one_time_token::Entity::update_many()
        .col_expr(one_time_token::Column::UsedAt, Expr::value(now))
        .filter(one_time_token::Column::Id.eq(id))
        .filter(one_time_token::Column::UsedAt.is_null())
        .filter(one_time_token::Column::ExpiresAt.gt(now))
        .exec(txn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes the user's tokens of `purposes`.
async fn end_tokens(
    txn: &impl ConnectionTrait,
    user_id: i32,
    purposes: &[Purpose],
) -> ServiceResult<()> {
    one_time_token::Entity::delete_many()
        .filter(one_time_token::Column::UserId.eq(user_id))
        .filter(one_time_token::Column::Purpose.is_in(purposes.iter().map(|p| p.as_str())))
        .exec(txn)
        .await?;
    Ok(())
}

/// The password changed (by any path): every reset link dies, and so does every pending
/// email change — a link an intruder asked for before the owner took the account back
/// must not hand it over afterwards. (Verification links stay: they can only confirm the
/// address the account has.)
pub(super) async fn password_changed(
    txn: &impl ConnectionTrait,
    user_id: i32,
) -> ServiceResult<()> {
    end_tokens(
        txn,
        user_id,
        &[Purpose::PasswordReset, Purpose::EmailChange],
    )
    .await
}

/// Counts one mail against each `(scope, subject, max)` of the last hour, unless one of
/// them is used up: then nothing is counted and the mail is not to be sent. Runs in a
/// transaction holding the user's row (SQLite: the write lock); on PostgreSQL each subject
/// also takes an advisory lock, for subjects shared by several users (a recipient).
async fn take_quota(
    txn: &DatabaseTransaction,
    limits: &[(&'static str, String, u64)],
) -> ServiceResult<bool> {
    let now = Utc::now();
    for (scope, subject, max) in limits {
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))",
                [format!("{scope}\u{1f}{subject}").into()],
            ))
            .await?;
        }
        if quota_used(txn, scope, subject).await? >= *max {
            return Ok(false);
        }
    }
    for (scope, subject, _) in limits {
        mail_quota::ActiveModel {
            scope: Set((*scope).to_owned()),
            subject: Set(subject.clone()),
            sent_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(true)
}

/// Mails counted for `(scope, subject)` in the last hour.
async fn quota_used(db: &impl ConnectionTrait, scope: &str, subject: &str) -> ServiceResult<u64> {
    Ok(mail_quota::Entity::find()
        .filter(mail_quota::Column::Scope.eq(scope))
        .filter(mail_quota::Column::Subject.eq(subject))
        .filter(mail_quota::Column::SentAt.gt(Utc::now() - QUOTA_WINDOW))
        .count(db)
        .await?)
}

/// Deletes the counts older than the hour the limits look at.
pub async fn prune_quota(db: &impl ConnectionTrait) -> ServiceResult<u64> {
    Ok(mail_quota::Entity::delete_many()
        .filter(mail_quota::Column::SentAt.lt(Utc::now() - QUOTA_WINDOW))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes tokens that can no longer be used (expired, or used more than an hour ago).
pub async fn prune_tokens(db: &impl ConnectionTrait) -> ServiceResult<u64> {
    Ok(one_time_token::Entity::delete_many()
        .filter(one_time_token::Column::ExpiresAt.lt(Utc::now() - QUOTA_WINDOW))
        .exec(db)
        .await?
        .rows_affected)
}

/// Queues the verification mail for `user`'s `email` in `txn`, within the limits per
/// recipient and per user; false when a limit held it back.
pub(super) async fn queue_verification(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    user: &user::Model,
    email: &str,
    purpose_change: bool,
) -> ServiceResult<bool> {
    let lower = email.to_lowercase();
    let limits = [
        ("verify:recipient", lower, VERIFICATION_MAILS_PER_RECIPIENT),
        (
            "verify:user",
            user.id.to_string(),
            VERIFICATION_MAILS_PER_USER,
        ),
    ];
    if !take_quota(txn, &limits).await? {
        return Ok(false);
    }
    let expires_at = Utc::now() + outbox.verification_ttl;
    let purpose = if purpose_change {
        Purpose::EmailChange
    } else {
        Purpose::EmailVerification
    };
    let token = insert_token(txn, user.id, purpose, Some(email), expires_at).await?;
    let link = outbox.link("verify-email", &token);
    // No username in mails: whoever signs up chooses it, and the address may be a
    // stranger's (`secure-login.example-bank.com` would read as a link).
    let (subject, intro) = if purpose_change {
        (
            "Confirm your new email address",
            "An authql account asked to use this address from now on.",
        )
    } else {
        (
            "Verify your email address",
            "An authql account was given this address.",
        )
    };
    mail::queue(
        txn,
        Mail {
            to: email.to_owned(),
            subject: subject.to_owned(),
            body: format!(
                "{intro} To confirm it is yours, open this link within {ttl}:\n\n{link}\n\n\
                 or enter this code: {token}\n\n\
                 If you did not ask for this, ignore this mail: nothing changes.\n",
                ttl = human(outbox.verification_ttl),
            ),
            expires_at: Some(expires_at),
        },
    )
    .await?;
    Ok(true)
}

/// `30 minutes`, `24 hours`.
fn human(duration: chrono::Duration) -> String {
    let minutes = duration.num_minutes();
    if minutes % 60 == 0 && minutes >= 60 {
        let hours = minutes / 60;
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    } else {
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

/// A notice to an address (no token): queued in `txn`.
pub(super) async fn notice(
    txn: &impl ConnectionTrait,
    to: &str,
    subject: &str,
    body: String,
) -> ServiceResult<()> {
    mail::queue(
        txn,
        Mail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body,
            expires_at: None,
        },
    )
    .await
}

/// A `requestPasswordReset` waiting for the worker.
struct ResetRequest {
    email: Email,
    client: ClientInfo,
}

/// The recovery workflows; cheap to clone, built once at start.
#[derive(Clone)]
pub struct Recovery {
    db: DatabaseConnection,
    revocations: Revocations,
    passwords: Passwords,
    outbox: Outbox,
    requests: mpsc::Sender<ResetRequest>,
    /// Addresses (lower case) with a request waiting: a flood for one address takes one
    /// place in the queue, not all of them.
    waiting: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// Handles the reset requests after their answer, one at a time.
pub struct ResetWorker {
    recovery: Recovery,
    requests: mpsc::Receiver<ResetRequest>,
    /// Test seam (`startup::Hooks`): each request waits for a permit.
    gate: Option<Arc<Semaphore>>,
}

impl Recovery {
    pub fn new(
        db: DatabaseConnection,
        revocations: Revocations,
        passwords: Passwords,
        outbox: Outbox,
        gate: Option<Arc<Semaphore>>,
    ) -> (Self, ResetWorker) {
        let (sender, requests) = mpsc::channel(RESET_QUEUE);
        let recovery = Self {
            db,
            revocations,
            passwords,
            outbox,
            requests: sender,
            waiting: Arc::default(),
        };
        let worker = ResetWorker {
            recovery: recovery.clone(),
            requests,
            gate,
        };
        (recovery, worker)
    }

    /// `requestPasswordReset`: hands the request to the worker and returns; the answer is
    /// the same whatever the address.
    pub fn request_password_reset(&self, email: Email, client: ClientInfo) {
        let lower = email.lower();
        if !self.waiting_set().insert(lower.clone()) {
            return; // One for this address waits already: it does what this one would.
        }
        if self
            .requests
            .try_send(ResetRequest { email, client })
            .is_err()
        {
            self.waiting_set().remove(&lower);
            tracing::warn!("password reset requests are coming faster than handled: one dropped");
        }
    }

    fn waiting_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        // A panic elsewhere cannot leave the set inconsistent: take it as it is.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A reset request, after its answer: an account with the address gets a mail with a
    /// reset token — at most [`RESET_MAILS_PER_ADDRESS`] per address and hour.
    async fn handle_reset_request(&self, request: ResetRequest) -> ServiceResult<()> {
        self.waiting_set().remove(&request.email.lower());
        let Some(user) = users::find_by_email(&self.db, &request.email).await? else {
            return Ok(());
        };
        // A user of an outside identity provider has no password here to reset.
        if user.external_issuer.is_some() {
            return Ok(());
        }
        // Used up: no need for the write lock (checked again under it).
        if quota_used(&self.db, "reset:address", &request.email.lower()).await?
            >= RESET_MAILS_PER_ADDRESS
        {
            return Ok(());
        }
        let (txn, user) = users::begin_locked(&self.db, user.id).await?;
        let lower = request.email.lower();
        let Some(user) = user.filter(|u| u.email_lower.as_deref() == Some(lower.as_str())) else {
            return Ok(());
        };
        let limits = [("reset:address", lower, RESET_MAILS_PER_ADDRESS)];
        if !take_quota(&txn, &limits).await? {
            return Ok(());
        }
        let expires_at = Utc::now() + self.outbox.reset_ttl;
        let token = insert_token(&txn, user.id, Purpose::PasswordReset, None, expires_at).await?;
        let link = self.outbox.link("reset-password", &token);
        // To the address as the account has it, whatever case the request used.
        let to = user
            .email
            .clone()
            .unwrap_or_else(|| request.email.as_str().to_owned());
        mail::queue(
            &txn,
            Mail {
                to,
                subject: "Reset your password".to_owned(),
                body: format!(
                    "Someone asked to reset the password of the authql account of this \
                     address. If it was you, open this link within {ttl} and choose a new \
                     password:\n\n{link}\n\nor enter this code: {token}\n\n\
                     If it was not you, ignore this mail: your password stays as it is.\n",
                    ttl = human(self.outbox.reset_ttl),
                ),
                expires_at: Some(expires_at),
            },
        )
        .await?;
        Event::new(AuthEventKind::PasswordResetRequested, &request.client)
            .about(&user)
            .record(&txn)
            .await?;
        txn.commit().await?;
        self.outbox.committed();
        Ok(())
    }

    /// `resetPassword`: sets the password with a live reset token, ends every session and
    /// token of the user, logs nobody in, and mails the user that the password changed.
    pub async fn reset_password(
        &self,
        token: &OneTimeToken,
        new: &Password,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        // The token first: a wrong one costs no hash.
        let record = find_live(&self.db, token, &[Purpose::PasswordReset]).await?;
        let hash = self.passwords.admit()?.hash(new).await?;
        let (txn, user) = users::begin_locked(&self.db, record.user_id).await?;
        let user = user.ok_or(ServiceError::VerificationFailed)?;
        if !consume(&txn, record.id).await? {
            return Err(ServiceError::VerificationFailed);
        }
        session_store::end_all(&txn, user.id, None).await?;
        tokens::revoke_sessionless(&txn, user.id).await?;
        let user = users::set_password(&txn, user, hash).await?;
        password_changed(&txn, user.id).await?;
        // A reset lifts a locked second factor, never the factor itself.
        super::mfa::unlock(&txn, user.id).await?;
        Event::new(AuthEventKind::PasswordReset, client)
            .about(&user)
            .record(&txn)
            .await?;
        if let Some(email) = &user.email {
            notice(
                &txn,
                email,
                "Your password was changed",
                "The password of your authql account was just changed with a reset link, \
                 and every device was signed out. If that was not you, reset it again at \
                 once and tell your administrator.\n"
                    .to_owned(),
            )
            .await?;
        }
        publish(&txn, self.revocations.origin(), Notice::User(user.id)).await?;
        txn.commit().await?;
        self.revocations.changed(user.id);
        self.outbox.committed();
        Ok(())
    }

    /// `verifyEmail`: a signup's or re-sent verification marks the address verified; an
    /// email change's makes the new address the account's (verified), and the old one is
    /// told.
    pub async fn verify_email(
        &self,
        token: &OneTimeToken,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let purposes = [Purpose::EmailVerification, Purpose::EmailChange];
        let record = find_live(&self.db, token, &purposes).await?;
        let address = record
            .email
            .clone()
            .ok_or(ServiceError::VerificationFailed)?;
        let (txn, user) = users::begin_locked(&self.db, record.user_id).await?;
        let user = user.ok_or(ServiceError::VerificationFailed)?;
        let changing = record.purpose == Purpose::EmailChange.as_str();
        if !changing && user.email_lower.as_deref() != Some(address.to_lowercase().as_str()) {
            // The address changed since this token was mailed to it: the token is dead.
            one_time_token::Entity::delete_by_id(record.id)
                .exec(&txn)
                .await?;
            txn.commit().await?;
            return Err(ServiceError::VerificationFailed);
        }
        if !consume(&txn, record.id).await? {
            return Err(ServiceError::VerificationFailed);
        }
        let now = Utc::now();
        let old = user.email.clone();
        let mut active: user::ActiveModel = user.into();
        if changing {
            active.email = Set(Some(address.clone()));
            active.email_lower = Set(Some(address.to_lowercase()));
        }
        active.email_verified_at = Set(Some(now));
        active.updated_at = Set(now);
        let user = active
            .update(&txn)
            .await
            // Taken by another account since the mail left: this token cannot take it.
            .map_err(|e| match on_unique_violation(e) {
                ServiceError::Conflict { .. } => ServiceError::VerificationFailed,
                other => other,
            })?;
        let kind = if changing {
            // Every link of the old address dies with it: resets, other changes, its
            // verification.
            let all = [
                Purpose::PasswordReset,
                Purpose::EmailChange,
                Purpose::EmailVerification,
            ];
            end_tokens(&txn, user.id, &all).await?;
            if let Some(old) = old.filter(|old| !old.eq_ignore_ascii_case(&address)) {
                notice(
                    &txn,
                    &old,
                    "Your email address was changed",
                    format!(
                        "Your authql account uses {address} from now on instead of this \
                         address. If that was not you, tell your administrator at once.\n"
                    ),
                )
                .await?;
            }
            AuthEventKind::EmailChanged
        } else {
            AuthEventKind::EmailVerified
        };
        // Whoever followed the link acted without a token: no actor, as for a reset.
        Event::new(kind, client).about(&user).record(&txn).await?;
        let origin = self.revocations.origin();
        publish(&txn, origin, Notice::User(user.id)).await?;
        publish(&txn, origin, Notice::Data).await?;
        txn.commit().await?;
        self.revocations.changed(user.id);
        self.revocations.data_changed();
        self.outbox.committed();
        Ok(())
    }

    /// `requestEmailVerification`: a new verification mail for the caller's unverified
    /// address; false (nothing sent) without one, or when it is verified. A limit that
    /// holds the mail back answers true all the same.
    pub async fn request_email_verification(&self, caller: &Principal) -> ServiceResult<bool> {
        caller.local_credentials()?;
        let (txn, user) = users::begin_locked(&self.db, caller.user_id).await?;
        let user = user.ok_or(ServiceError::NotFound("User"))?;
        let Some(email) = user
            .email
            .clone()
            .filter(|_| user.email_verified_at.is_none())
        else {
            return Ok(false);
        };
        if queue_verification(&txn, &self.outbox, &user, &email, false).await? {
            txn.commit().await?;
            self.outbox.committed();
        }
        Ok(true)
    }

    /// `changeEmail`: nothing changes until the new address is verified through its mail.
    /// An address another account uses gets a mail saying so instead of a token, and the
    /// answer is the same (no enumeration).
    pub async fn change_email(&self, caller: &Principal, new: &Email) -> ServiceResult<()> {
        caller.local_credentials()?;
        let (txn, user) = users::begin_locked(&self.db, caller.user_id).await?;
        let user = user.ok_or(ServiceError::NotFound("User"))?;
        // Only the latest request counts: earlier links die, mailed or held back.
        end_tokens(&txn, user.id, &[Purpose::EmailChange]).await?;
        let owner = users::find_by_email(&txn, new)
            .await?
            .filter(|owner| owner.id != user.id);
        let queued = if let Some(owner) = owner {
            // Told at the address as its account has it.
            let to = owner.email.unwrap_or_else(|| new.as_str().to_owned());
            let limits = [
                (
                    "verify:recipient",
                    new.lower(),
                    VERIFICATION_MAILS_PER_RECIPIENT,
                ),
                (
                    "verify:user",
                    user.id.to_string(),
                    VERIFICATION_MAILS_PER_USER,
                ),
            ];
            if take_quota(&txn, &limits).await? {
                notice(
                    &txn,
                    &to,
                    "This address already has an account",
                    "Someone asked to use this address for an authql account, but it already \
                     belongs to one. If that was you, sign in with the account that has it; \
                     if not, ignore this mail.\n"
                        .to_owned(),
                )
                .await?;
                true
            } else {
                false
            }
        } else {
            queue_verification(&txn, &self.outbox, &user, new.as_str(), true).await?
        };
        txn.commit().await?;
        if queued {
            self.outbox.committed();
        }
        Ok(())
    }
}

impl ResetWorker {
    /// Runs until the server stops.
    pub async fn run(mut self) {
        while let Some(request) = self.requests.recv().await {
            let _permit = match &self.gate {
                Some(gate) => match gate.clone().acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                },
                None => None,
            };
            if let Err(error) = self.recovery.handle_reset_request(request).await {
                tracing::warn!(%error, "a password reset request failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_stored_as_their_sha256() {
        let (token, stored) = new_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(stored, hash(&token));
        assert_eq!(stored.len(), 64);
        assert_ne!(stored, token);
        assert_ne!(new_token().0, token);
    }

    #[test]
    fn lifetimes_read_as_people_say_them() {
        assert_eq!(human(chrono::Duration::minutes(30)), "30 minutes");
        assert_eq!(human(chrono::Duration::hours(24)), "24 hours");
        assert_eq!(human(chrono::Duration::hours(1)), "1 hour");
    }
}

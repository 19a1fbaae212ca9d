//! The second factor's workflows (API.md "Second factor (TOTP) and assurance levels"):
//! enrolment and confirmation, `verifyMfa`, disabling, new recovery codes, and the support
//! path that resets a lost factor. Each runs in one transaction holding the user's row
//! locked ([`users::begin_locked`]), so two requests with one code are serialized: the
//! step last accepted and a recovery code's `used_at` are also compared-and-set, and the
//! session is raised in that same transaction — exactly one of them succeeds.
//!
//! Wrong codes take a place in the per-user limit before the check (like failed logins),
//! and count toward `MFA_MAX_FAILURES` consecutive failures, which lock the factor until a
//! reset and mail the user.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use chrono::Utc;
use entity::{recovery_code, totp_factor, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr,
};

use super::attempts::{self, AttemptKey, AttemptLimit, Refusals};
use super::audit::Event;
use super::principal::{Principal, unknown_user};
use super::recovery::{Outbox, notice};
use super::revocations::{Notice, Revocations, publish};
use super::sessions::{ClientInfo, Issued, Sessions};
use super::{ServiceError, ServiceResult, users};
use crate::auth::second_factor::{
    Code, OpenError, SecretBox, TotpSecret, new_recovery_codes, normalized, qr_svg,
};
use crate::auth::tokens::Assurance;
use crate::config::{Config, ConfigError};
use crate::domain::AuthEventKind;
use crate::metrics::{Metrics, MfaOutcome};

/// What `enrollTotp` answers: shown once, never again.
pub struct Enrollment {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// The clock codes are checked against: the system's, or one a test sets (Unix seconds).
#[derive(Clone, Default)]
pub struct MfaClock(Option<Arc<AtomicU64>>);

impl MfaClock {
    /// A clock that reads `now` (0: the system clock).
    pub fn fixed(now: Arc<AtomicU64>) -> Self {
        Self(Some(now))
    }

    fn now(&self) -> u64 {
        match &self.0 {
            Some(now) if now.load(Ordering::Acquire) != 0 => now.load(Ordering::Acquire),
            _ => Utc::now().timestamp().max(0) as u64,
        }
    }
}

/// The second-factor workflows; cheap to clone, built once at start.
#[derive(Clone)]
pub struct SecondFactor {
    db: DatabaseConnection,
    sessions: Sessions,
    revocations: Revocations,
    metrics: Metrics,
    outbox: Outbox,
    secrets: SecretBox,
    issuer: String,
    production: bool,
    max_failures: u32,
    limit: AttemptLimit,
    clock: MfaClock,
}

/// How a code check came out (the transaction commits either way: a failure is counted).
enum Checked {
    Totp,
    Recovery,
    Wrong { locked_now: bool },
}

impl SecondFactor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: DatabaseConnection,
        sessions: Sessions,
        revocations: Revocations,
        metrics: Metrics,
        outbox: Outbox,
        secrets: SecretBox,
        config: &Config,
        clock: MfaClock,
    ) -> Self {
        Self {
            db,
            sessions,
            revocations,
            metrics,
            outbox,
            secrets,
            issuer: config.mfa_issuer.clone(),
            production: config.is_production(),
            max_failures: config.mfa_max_failures,
            limit: AttemptLimit {
                max: config.login_max_failures,
                window: config.login_failure_window,
                max_per_account: None,
            },
            clock,
        }
    }

    /// `enrollTotp`: a new pending secret (replacing a pending one), its URI and QR code.
    /// With an active factor: `BAD_USER_INPUT` (disable it first). In production without
    /// `MFA_ENCRYPTION_KEY`: `FEATURE_DISABLED` (no secret is kept in clear there).
    pub async fn enroll(&self, caller: &Principal) -> ServiceResult<Enrollment> {
        caller.local_credentials()?;
        if self.production && !self.secrets.seals() {
            return Err(ServiceError::FeatureDisabled(
                "Second factors need MFA_ENCRYPTION_KEY on this server",
            ));
        }
        let (txn, user) = users::begin_locked(&self.db, caller.user_id).await?;
        let user = user.ok_or_else(|| unknown_user(&caller.claims))?;
        if user.mfa_enabled_at.is_some() {
            return Err(ServiceError::Conflict {
                field: "enrollTotp",
                message: "A second factor is already active: disable it first",
            });
        }
        let secret = TotpSecret::generate();
        let uri = secret
            .uri(&user.username, &self.issuer)
            .ok_or(ServiceError::Conflict {
                field: "enrollTotp",
                message: "This username cannot be written into an authenticator URI",
            })?;
        let qr_svg = qr_svg(&uri).ok_or(ServiceError::Conflict {
            field: "enrollTotp",
            message: "The authenticator URI does not fit a QR code",
        })?;
        totp_factor::Entity::delete_by_id(user.id)
            .exec(&txn)
            .await?;
        totp_factor::Entity::insert(totp_factor::ActiveModel {
            user_id: Set(user.id),
            secret: Set(self.secrets.seal(user.id, &secret)),
            created_at: Set(Utc::now()),
            confirmed_at: Set(None),
            last_step: Set(None),
            failures: Set(0),
            locked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(Enrollment {
            secret: secret.base32(),
            uri,
            qr_svg,
        })
    }

    /// `confirmTotp`: a current code of the pending secret activates it; answers the
    /// recovery codes (shown this once) and a level-2 pair for the caller's session.
    pub async fn confirm(
        &self,
        caller: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<(Vec<String>, Issued)> {
        caller.local_credentials()?;
        let (txn, user, factor, attempt) = self.begin_check(caller).await?;
        let Some(factor) = factor.filter(|f| f.confirmed_at.is_none()) else {
            return self.refuse(txn, &user, None, attempt, client).await;
        };
        let secret = self.open(&factor)?;
        let step = match Code::parse(code) {
            Some(Code::Totp(code)) => secret.accept(&code, self.clock.now(), factor.last_step),
            _ => None,
        };
        let Some(step) = step else {
            return self.refuse(txn, &user, None, attempt, client).await;
        };
        let now = Utc::now();
        totp_factor::Entity::update_many()
            .col_expr(totp_factor::Column::ConfirmedAt, Expr::value(now))
            .col_expr(totp_factor::Column::LastStep, Expr::value(step))
            .col_expr(totp_factor::Column::Failures, Expr::value(0))
            .filter(totp_factor::Column::UserId.eq(user.id))
            .exec(&txn)
            .await?;
        let user = set_enabled(&txn, user, Some(now)).await?;
        let codes = replace_recovery_codes(&txn, user.id, &secret).await?;
        attempts::succeeded(&txn, &attempt).await?;
        let (issued, sid) = self
            .sessions
            .raise(&txn, &user, &caller.claims, Assurance::Totp, client)
            .await?;
        Event::new(AuthEventKind::MfaEnrolled, client)
            .about(&user)
            .by(user.id)
            .session(Some(&sid))
            .record(&txn)
            .await?;
        let mailed = self
            .tell(
                &txn,
                &user,
                "A second factor was added to your account",
                "An authenticator app was just set up as the second factor of your authql \
                 account. If that was not you, reset your password at once and tell your \
                 administrator.\n",
            )
            .await?;
        self.finish(txn, user.id, mailed).await?;
        attempt.kept();
        self.metrics.mfa_verification(MfaOutcome::Success);
        Ok((codes, issued))
    }

    /// `verifyMfa`: a TOTP code or a recovery code raises the caller's session to level 2
    /// and answers a fresh level-2 pair for it.
    pub async fn verify(
        &self,
        caller: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Issued> {
        caller.local_credentials()?;
        let (txn, user, factor, attempt) = self.begin_check(caller).await?;
        let factor = factor.filter(|f| f.confirmed_at.is_some());
        let Some(factor) = factor else {
            return self.refuse(txn, &user, None, attempt, client).await;
        };
        let checked = self.check(&txn, &user, &factor, code).await?;
        let assurance = match checked {
            Checked::Totp => Assurance::Totp,
            Checked::Recovery => Assurance::RecoveryCode,
            Checked::Wrong { locked_now } => {
                return self
                    .refuse(txn, &user, Some(locked_now), attempt, client)
                    .await;
            }
        };
        attempts::succeeded(&txn, &attempt).await?;
        let (issued, sid) = self
            .sessions
            .raise(&txn, &user, &caller.claims, assurance, client)
            .await?;
        Event::new(AuthEventKind::MfaVerified, client)
            .about(&user)
            .by(user.id)
            .session(Some(&sid))
            .record(&txn)
            .await?;
        let mailed = if assurance == Assurance::RecoveryCode {
            self.recovery_code_used(&txn, &user, Some(&sid), client)
                .await?
        } else {
            false
        };
        self.finish(txn, user.id, mailed).await?;
        attempt.kept();
        self.metrics.mfa_verification(MfaOutcome::Success);
        Ok(issued)
    }

    /// `disableTotp`: a current code (or a recovery code) removes the factor and its
    /// recovery codes.
    pub async fn disable(
        &self,
        caller: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        caller.local_credentials()?;
        let (txn, user, factor, attempt) = self.begin_check(caller).await?;
        let Some(factor) = factor.filter(|f| f.confirmed_at.is_some()) else {
            return self.refuse(txn, &user, None, attempt, client).await;
        };
        let checked = self.check(&txn, &user, &factor, code).await?;
        if let Checked::Wrong { locked_now } = checked {
            return self
                .refuse(txn, &user, Some(locked_now), attempt, client)
                .await;
        }
        attempts::succeeded(&txn, &attempt).await?;
        let sid = caller.claims.sid.as_deref();
        if let Checked::Recovery = checked {
            self.recovery_code_used(&txn, &user, sid, client).await?;
        }
        let user = remove(&txn, user).await?;
        Event::new(AuthEventKind::MfaDisabled, client)
            .about(&user)
            .by(user.id)
            .session(sid)
            .record(&txn)
            .await?;
        let mailed = self
            .tell(
                &txn,
                &user,
                "The second factor of your account was removed",
                "The authenticator app of your authql account was just removed: a password \
                 alone signs in now. If that was not you, reset your password at once and \
                 tell your administrator.\n",
            )
            .await?;
        self.finish(txn, user.id, mailed).await?;
        attempt.kept();
        self.metrics.mfa_verification(MfaOutcome::Success);
        Ok(())
    }

    /// `regenerateRecoveryCodes`: a new set replaces the old one (used or not).
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Principal,
        client: &ClientInfo,
    ) -> ServiceResult<Vec<String>> {
        caller.local_credentials()?;
        let (txn, user) = users::begin_locked(&self.db, caller.user_id).await?;
        let user = user.ok_or_else(|| unknown_user(&caller.claims))?;
        let factor = totp_factor::Entity::find_by_id(user.id)
            .one(&txn)
            .await?
            .filter(|f| f.confirmed_at.is_some())
            .ok_or(ServiceError::Conflict {
                field: "regenerateRecoveryCodes",
                message: "There is no active second factor",
            })?;
        let secret = self.open(&factor)?;
        let codes = replace_recovery_codes(&txn, user.id, &secret).await?;
        Event::new(AuthEventKind::RecoveryCodesRegenerated, client)
            .about(&user)
            .by(user.id)
            .session(caller.claims.sid.as_deref())
            .record(&txn)
            .await?;
        txn.commit().await?;
        Ok(codes)
    }

    /// The support path for a lost authenticator (`resetMfa`): see [`reset`].
    pub async fn reset(
        &self,
        user_id: i32,
        actor: Option<i32>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let mailed = reset(&self.db, self.revocations.origin(), user_id, actor, client).await?;
        self.revocations.changed(user_id);
        self.revocations.data_changed();
        if mailed {
            self.outbox.committed();
        }
        Ok(())
    }

    /// How many of the user's recovery codes are unused (`User.recoveryCodesLeft`); none
    /// without an active factor.
    pub async fn recovery_codes_left(&self, user: &user::Model) -> ServiceResult<Option<u64>> {
        if user.mfa_enabled_at.is_none() {
            return Ok(None);
        }
        Ok(Some(
            recovery_code::Entity::find()
                .filter(recovery_code::Column::UserId.eq(user.id))
                .filter(recovery_code::Column::UsedAt.is_null())
                .count(&self.db)
                .await?,
        ))
    }

    /// The start of a code check: a place in the per-user limit (`RATE_LIMITED` when
    /// none is left), then the user's row locked, with their factor. A locked factor is
    /// `RATE_LIMITED` until a reset.
    async fn begin_check(
        &self,
        caller: &Principal,
    ) -> ServiceResult<(
        DatabaseTransaction,
        user::Model,
        Option<totp_factor::Model>,
        attempts::Attempt,
    )> {
        let key = AttemptKey::second_factor(caller.user_id);
        let attempt = match attempts::reserve(&self.db, &key, self.limit, Refusals::Silent).await {
            Ok(attempt) => attempt,
            Err(error) => {
                if matches!(error, ServiceError::RateLimited { .. }) {
                    self.metrics.mfa_verification(MfaOutcome::RateLimited);
                }
                return Err(error);
            }
        };
        let (txn, user) = users::begin_locked(&self.db, caller.user_id).await?;
        let user = user.ok_or_else(|| unknown_user(&caller.claims))?;
        let factor = totp_factor::Entity::find_by_id(user.id).one(&txn).await?;
        if factor.as_ref().is_some_and(|f| f.locked_at.is_some()) {
            self.metrics.mfa_verification(MfaOutcome::RateLimited);
            return Err(ServiceError::RateLimited {
                retry_after: self.limit.window.as_secs().max(1),
            });
        }
        Ok((txn, user, factor, attempt))
    }

    /// Checks `code` against an active factor: a TOTP code whose step is later than the
    /// last accepted one (compared-and-set), or an unused recovery code (used now). A wrong
    /// one counts toward `MFA_MAX_FAILURES`.
    async fn check(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        factor: &totp_factor::Model,
        code: &str,
    ) -> ServiceResult<Checked> {
        let secret = self.open(factor)?;
        let accepted = match Code::parse(code) {
            Some(Code::Totp(code)) => {
                match secret.accept(&code, self.clock.now(), factor.last_step) {
                    Some(step) => accept_step(txn, user.id, step)
                        .await?
                        .then_some(Checked::Totp),
                    None => None,
                }
            }
            Some(Code::Recovery(code)) => {
                use_recovery_code(txn, user.id, &secret.recovery_hash(&code))
                    .await?
                    .then_some(Checked::Recovery)
            }
            None => None,
        };
        if let Some(checked) = accepted {
            return Ok(checked);
        }
        let failures = factor.failures.saturating_add(1);
        let locked_now = u32::try_from(failures).unwrap_or(u32::MAX) >= self.max_failures;
        totp_factor::Entity::update_many()
            .col_expr(totp_factor::Column::Failures, Expr::value(failures))
            .col_expr(
                totp_factor::Column::LockedAt,
                Expr::value(locked_now.then(Utc::now)),
            )
            .filter(totp_factor::Column::UserId.eq(user.id))
            .exec(txn)
            .await?;
        Ok(Checked::Wrong { locked_now })
    }

    /// A refused code: the failure (and, with `locked_now`, the lock and its mail) is
    /// committed, the attempt stays counted, and the answer is `VERIFICATION_FAILED` — the
    /// same for a wrong, a replayed and a used code, and for a user without a factor.
    async fn refuse<T>(
        &self,
        txn: DatabaseTransaction,
        user: &user::Model,
        locked_now: Option<bool>,
        attempt: attempts::Attempt,
        client: &ClientInfo,
    ) -> ServiceResult<T> {
        Event::new(AuthEventKind::MfaFailed, client)
            .about(user)
            .record(&txn)
            .await?;
        let mailed = if locked_now == Some(true) {
            tracing::warn!(
                user_id = user.id,
                "second factor locked after repeated wrong codes"
            );
            self.tell(
                &txn,
                user,
                "Your second factor was locked",
                "Too many wrong codes were entered for the second factor of your authql \
                 account, so it was locked. Resetting your password unlocks it; if you lost \
                 your authenticator, ask an administrator to reset it. If those attempts \
                 were not yours, reset your password at once.\n",
            )
            .await?
        } else {
            false
        };
        attempts::failed(&txn, attempt).await?;
        txn.commit().await?;
        if mailed {
            self.outbox.committed();
        }
        self.metrics.mfa_verification(MfaOutcome::Failure);
        Err(ServiceError::VerificationFailed)
    }

    /// A recovery code was used: its event, and a notice mail. Whether a mail was queued.
    async fn recovery_code_used(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        sid: Option<&str>,
        client: &ClientInfo,
    ) -> ServiceResult<bool> {
        Event::new(AuthEventKind::RecoveryCodeUsed, client)
            .about(user)
            .by(user.id)
            .session(sid)
            .record(txn)
            .await?;
        self.tell(
            txn,
            user,
            "A recovery code of your account was used",
            "One of the recovery codes of your authql account was just used to sign in; it \
             cannot be used again. If that was not you, reset your password at once and \
             tell your administrator.\n",
        )
        .await
    }

    /// A notice to the user's address, if they have one; whether one was queued.
    async fn tell(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        subject: &str,
        body: &str,
    ) -> ServiceResult<bool> {
        match &user.email {
            Some(email) => {
                notice(txn, email, subject, body.to_owned()).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Commits a change about the user's factor: every instance hears of it (guards read
    /// whether the user has one; answers show `mfaEnabled`).
    async fn finish(
        &self,
        txn: DatabaseTransaction,
        user_id: i32,
        mailed: bool,
    ) -> ServiceResult<()> {
        let origin = self.revocations.origin();
        publish(&txn, origin, Notice::User(user_id)).await?;
        publish(&txn, origin, Notice::Data).await?;
        txn.commit().await?;
        self.revocations.changed(user_id);
        self.revocations.data_changed();
        if mailed {
            self.outbox.committed();
        }
        Ok(())
    }

    fn open(&self, factor: &totp_factor::Model) -> ServiceResult<TotpSecret> {
        self.secrets
            .open(factor.user_id, &factor.secret)
            .map(|opened| opened.secret)
            .map_err(|error| {
                tracing::error!(user_id = factor.user_id, %error, "cannot open a TOTP secret");
                ServiceError::FeatureDisabled("The second factor cannot be checked on this server")
            })
    }
}

/// Moves the last accepted step to `step` if it is later (compare-and-set); false when
/// another request accepted it, or a later one, first.
async fn accept_step(txn: &impl ConnectionTrait, user_id: i32, step: i64) -> ServiceResult<bool> {
    let updated = totp_factor::Entity::update_many()
        .col_expr(totp_factor::Column::LastStep, Expr::value(step))
        .col_expr(totp_factor::Column::Failures, Expr::value(0))
        .filter(totp_factor::Column::UserId.eq(user_id))
        .filter(
            sea_orm::sea_query::Condition::any()
                .add(totp_factor::Column::LastStep.is_null())
                .add(totp_factor::Column::LastStep.lt(step)),
        )
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Marks an unused recovery code with this hash used (compare-and-set); false when there
/// is none.
async fn use_recovery_code(
    txn: &impl ConnectionTrait,
    user_id: i32,
    hash: &str,
) -> ServiceResult<bool> {
    let updated = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(Utc::now()))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(hash))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    if updated.rows_affected == 1 {
        totp_factor::Entity::update_many()
            .col_expr(totp_factor::Column::Failures, Expr::value(0))
            .filter(totp_factor::Column::UserId.eq(user_id))
            .exec(txn)
            .await?;
    }
    Ok(updated.rows_affected == 1)
}

/// A new set of recovery codes for the user, replacing any earlier one: their keyed
/// hashes are stored, the codes answered (the one time they are shown).
async fn replace_recovery_codes(
    txn: &impl ConnectionTrait,
    user_id: i32,
    secret: &TotpSecret,
) -> ServiceResult<Vec<String>> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    let codes = new_recovery_codes();
    let rows = codes.iter().map(|shown| {
        let code = normalized(shown).expect("generated codes are recovery codes");
        recovery_code::ActiveModel {
            user_id: Set(user_id),
            code_hash: Set(secret.recovery_hash(&code)),
            used_at: Set(None),
            ..Default::default()
        }
    });
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(codes)
}

/// Marks the user as having (or not) an active factor.
async fn set_enabled(
    txn: &impl ConnectionTrait,
    user: user::Model,
    at: Option<chrono::DateTime<Utc>>,
) -> ServiceResult<user::Model> {
    let mut active: user::ActiveModel = user.into();
    active.mfa_enabled_at = Set(at);
    Ok(sea_orm::ActiveModelTrait::update(active, txn).await?)
}

/// Removes the user's factor and recovery codes.
async fn remove(txn: &impl ConnectionTrait, user: user::Model) -> ServiceResult<user::Model> {
    totp_factor::Entity::delete_by_id(user.id).exec(txn).await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user.id))
        .exec(txn)
        .await?;
    set_enabled(txn, user, None).await
}

/// The support path for a lost authenticator (`resetMfa`, `authql reset-mfa`): the user's
/// factor and recovery codes go (a lock with them), and a user who had one is mailed.
/// `actor`: the admin, or none for the command line; `from` marks the notices
/// ([`Origin::OUTSIDE`](super::revocations::Origin::OUTSIDE) from the command line).
/// `NOT_FOUND` for an unknown user. Whether a mail was queued.
pub async fn reset(
    db: &DatabaseConnection,
    from: super::revocations::Origin,
    user_id: i32,
    actor: Option<i32>,
    client: &ClientInfo,
) -> ServiceResult<bool> {
    let (txn, user) = users::begin_locked(db, user_id).await?;
    let user = user.ok_or(ServiceError::NotFound("User"))?;
    let had = user.mfa_enabled_at.is_some();
    let user = remove(&txn, user).await?;
    let mut event = Event::new(AuthEventKind::MfaDisabled, client).about(&user);
    if let Some(actor) = actor {
        event = event.by(actor);
    }
    event.record(&txn).await?;
    let mailed = match (&user.email, had) {
        (Some(email), true) => {
            notice(
                &txn,
                email,
                "The second factor of your account was reset",
                "An administrator just removed the second factor of your authql account: a \
                 password alone signs in now, and you can set up a new authenticator. If you \
                 did not ask for this, tell your administrator at once.\n"
                    .to_owned(),
            )
            .await?;
            true
        }
        _ => false,
    };
    publish(&txn, from, Notice::User(user.id)).await?;
    publish(&txn, from, Notice::Data).await?;
    txn.commit().await?;
    Ok(mailed)
}

/// A password reset lifts a lock (API.md: locked "until a password reset, `resetMfa` or
/// `authql reset-mfa`"); the factor itself stays.
pub(super) async fn unlock(txn: &impl ConnectionTrait, user_id: i32) -> ServiceResult<()> {
    totp_factor::Entity::update_many()
        .col_expr(totp_factor::Column::Failures, Expr::value(0))
        .col_expr(
            totp_factor::Column::LockedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(totp_factor::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// At start: seals again every secret kept in clear or under a previous key, now that a
/// (new) `MFA_ENCRYPTION_KEY` is configured. A secret that cannot be opened stops a
/// production start (exit 2, naming the variable); in development it is reported and left.
pub async fn reseal(
    db: &DatabaseConnection,
    secrets: &SecretBox,
    production: bool,
) -> Result<(), ConfigError> {
    let failed = |error: sea_orm::DbErr| {
        ConfigError::new(
            "DATABASE_URL",
            format!("cannot read the TOTP factors: {error}"),
        )
    };
    let factors = totp_factor::Entity::find().all(db).await.map_err(failed)?;
    let (mut resealed, mut unreadable) = (0, 0);
    for factor in factors {
        match secrets.open(factor.user_id, &factor.secret) {
            Ok(opened) if opened.stale => {
                totp_factor::Entity::update_many()
                    .col_expr(
                        totp_factor::Column::Secret,
                        Expr::value(secrets.seal(factor.user_id, &opened.secret)),
                    )
                    .filter(totp_factor::Column::UserId.eq(factor.user_id))
                    .filter(totp_factor::Column::Secret.eq(factor.secret.clone()))
                    .exec(db)
                    .await
                    .map_err(failed)?;
                resealed += 1;
            }
            Ok(_) => {}
            Err(error) => {
                if production {
                    let variable = match error {
                        OpenError::NoKey => "MFA_ENCRYPTION_KEY",
                        OpenError::UnknownKey | OpenError::Malformed => {
                            "MFA_PREVIOUS_ENCRYPTION_KEYS"
                        }
                    };
                    return Err(ConfigError::new(
                        variable,
                        format!("a stored TOTP secret cannot be opened: {error}"),
                    ));
                }
                unreadable += 1;
            }
        }
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            "TOTP secrets sealed with the current MFA_ENCRYPTION_KEY"
        );
    }
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            "TOTP secrets cannot be opened (set MFA_ENCRYPTION_KEY or MFA_PREVIOUS_ENCRYPTION_KEYS): their users cannot pass the second factor"
        );
    }
    Ok(())
}

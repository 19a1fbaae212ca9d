//! The auth workflows (API.md "Tokens", "Sessions", "Login limiting"): register, login,
//! refresh rotation, logout scopes, session revocation, password change, and resolving
//! the principal a token stands for. Each owns its transaction, publishes what it revoked
//! ([`revocations::publish`], then [`Revocations::changed`] before answering) and answers
//! a [`ServiceError`]; resolvers only parse, call and map.
//!
//! Every workflow that issues tokens for an existing user first locks the user's row
//! ([`users::begin_locked`]), and so do the ones that revoke: a login or a
//! refresh racing with `changePassword` or a logout is therefore either entirely before it
//! (and its tokens are revoked by it) or entirely after it (and sees the new password
//! hash, or its refresh token revoked) — no token issued before a revocation commits
//! survives it.

use std::sync::Arc;

use chrono::Utc;
use entity::{session, user};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};

use super::attempts::{self, Attempt, AttemptKey, AttemptLimit, Refusals};
use super::audit::Event;
use super::principal::{Principal, unknown_user, user_id};
use super::recovery::{self, Outbox};
use super::revocations::{self, Notice, Origin, Revocations};
pub use super::session_store::ClientInfo;
use super::session_store::Opening;
use super::tokens::{self, Grant, TokenPair};
use super::{ServiceError, ServiceResult, session_store, users};
use crate::auth::credentials::check_csrf;
use crate::auth::error::AuthError;
use crate::auth::error::messages;
use crate::auth::password::{Overloaded, Passwords};
use crate::auth::tokens::{Assurance, Claims, JwtKeys, TokenKind};
use crate::config::Config;
use crate::db::SqliteReads;
use crate::domain::{AuthEventKind, Email, Password, Role, Username};
use crate::metrics::{LoginOutcome, Metrics};

impl From<Overloaded> for ServiceError {
    /// API.md `PASSWORD_HASH_QUEUE`: shed at once, try again in a second.
    fn from(_: Overloaded) -> Self {
        Self::RateLimited { retry_after: 1 }
    }
}

/// A refresh token a client gave `refresh` or `logout`: the argument — whose possession
/// is proof enough, a cross-site page cannot know it — or the refresh cookie, with the
/// `X-CSRF-TOKEN` sent beside it still to be checked against the token's `csrf` claim
/// (double submit, API.md Cookies).
pub struct GivenRefresh {
    pub claims: Claims,
    cookie_csrf: Option<Option<String>>,
}

impl GivenRefresh {
    /// A refresh token given as an argument.
    pub fn argument(keys: &JwtKeys, token: &str) -> Result<Self, AuthError> {
        Ok(Self {
            claims: keys.decode(token, TokenKind::Refresh)?,
            cookie_csrf: None,
        })
    }

    /// The refresh cookie, and the `X-CSRF-TOKEN` header sent with it.
    pub fn cookie(
        keys: &JwtKeys,
        token: &str,
        csrf_header: Option<&str>,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            claims: keys.decode(token, TokenKind::Refresh)?,
            cookie_csrf: Some(csrf_header.map(str::to_owned)),
        })
    }

    /// The double-submit check of a refresh cookie.
    fn check_csrf(&self) -> Result<(), AuthError> {
        match &self.cookie_csrf {
            Some(header) => check_csrf(header.as_deref(), self.claims.csrf.as_deref()),
            None => Ok(()),
        }
    }
}

/// A session and the pair issued in it.
#[derive(Debug)]
pub struct Issued {
    pub user: user::Model,
    pub pair: TokenPair,
    /// The pair is level 1 and the user has a second factor: only a partial login
    /// (`AuthPayload.mfaRequired`).
    pub mfa_required: bool,
}

impl Issued {
    pub(super) fn new(user: user::Model, pair: TokenPair, assurance: Assurance) -> Self {
        let mfa_required = assurance.aal() < 2 && user.mfa_enabled_at.is_some();
        Self {
            user,
            pair,
            mfa_required,
        }
    }
}

/// The auth workflows and what they need; cheap to clone, built once at start.
#[derive(Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    keys: Arc<JwtKeys>,
    passwords: Passwords,
    revocations: Revocations,
    metrics: Metrics,
    /// SQLite's direct reads, for the lookup before a password check.
    reads: Option<Arc<SqliteReads>>,
    attempt_limit: AttemptLimit,
    /// `MAX_SESSIONS_PER_USER`.
    max_sessions: u64,
    /// `JWT_REFRESH_REUSE_GRACE`.
    reuse_grace: chrono::Duration,
    /// For the verification mail of a signup with an address.
    outbox: Outbox,
    /// `MFA_CHALLENGE_EXPIRES`: how long a partial login lives.
    mfa_challenge: chrono::Duration,
}

impl Sessions {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<JwtKeys>,
        passwords: Passwords,
        revocations: Revocations,
        metrics: Metrics,
        outbox: Outbox,
        config: &Config,
    ) -> Self {
        Self {
            db,
            keys,
            passwords,
            revocations,
            metrics,
            reads: None,
            attempt_limit: AttemptLimit {
                max: config.login_max_failures,
                window: config.login_failure_window,
                max_per_account: Some(config.login_max_failures_per_account),
            },
            max_sessions: config.max_sessions_per_user,
            reuse_grace: chrono::Duration::from_std(config.jwt_refresh_reuse_grace)
                .unwrap_or(chrono::Duration::MAX),
            outbox,
            mfa_challenge: chrono::Duration::from_std(config.mfa_challenge_expires)
                .unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Looks users up before a password check through SQLite's direct reads.
    pub fn with_direct_reads(mut self, reads: Option<Arc<SqliteReads>>) -> Self {
        self.reads = reads;
        self
    }

    /// `signup`: a new account with its first session and fresh pair, in one transaction;
    /// this instance's response cache hears of the new user before the answer.
    pub async fn signup(&self, new: NewAccount<'_>, client: &ClientInfo) -> ServiceResult<Issued> {
        let hash = self.passwords.admit()?.hash(new.password).await?;
        let txn = self.db.begin().await?;
        let user = insert_account(&txn, self.revocations.origin(), &new, hash, false).await?;
        let (sid, pair) =
            start_session(&txn, &self.keys, &user, client, true, Opening::PASSWORD).await?;
        Event::new(AuthEventKind::Signup, client)
            .about(&user)
            .session(Some(&sid))
            .record(&txn)
            .await?;
        let mailed = match &user.email {
            Some(email) => {
                recovery::queue_verification(&txn, &self.outbox, &user, email, false).await?
            }
            None => false,
        };
        txn.commit().await?;
        self.revocations.data_changed();
        if mailed {
            self.outbox.committed();
        }
        Ok(Issued::new(user, pair, Assurance::Password))
    }

    /// [`Self::check_and_start`], counted in `authql_logins_total` by outcome (API.md
    /// Operations: a shed login is `rate_limited`, an impossible username
    /// `invalid_credentials`).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Issued> {
        let issued = self.check_and_start(username, password, client).await;
        let outcome = match &issued {
            Ok(_) => Some(LoginOutcome::Success),
            Err(ServiceError::InvalidCredentials) => Some(LoginOutcome::InvalidCredentials),
            // The limit and the hash queue's shedding alike.
            Err(ServiceError::RateLimited { .. }) => Some(LoginOutcome::RateLimited),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.login(outcome);
        }
        issued
    }

    /// Checks the password of `username` (ignoring case) and starts a session.
    ///
    /// API.md "Login limiting": a username that breaks the username rule cannot exist, so it
    /// is `INVALID_CREDENTIALS` without hashing or counting; every other attempt takes its
    /// place before the password is checked; a shed hash is not counted; an unknown user costs
    /// the same hash as a wrong password. Past `MAX_SESSIONS_PER_USER` the least recently used
    /// session ends.
    async fn check_and_start(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Issued> {
        let Ok(username) = Username::parse(username) else {
            return Err(ServiceError::InvalidCredentials);
        };
        let key = AttemptKey::login(&username, &client.addr);
        // The place first: an attempt refused by the limit never holds a hashing place. A
        // shed attempt gives its place back (the attempt is dropped): it is not counted.
        let attempt = attempts::reserve(
            &self.db,
            &key,
            self.attempt_limit,
            Refusals::Audited(client),
        )
        .await?;
        let permit = self.passwords.admit()?;
        let user = users::find_to_check(&self.db, self.reads.as_deref(), username.as_str())
            .await?
            // A user of an outside identity provider has no password: as if unknown (the
            // same hash is spent).
            .filter(|u| u.external_issuer.is_none());
        let hash = user.as_ref().map(|u| u.password_hash.as_str());
        let matches = permit.verify(password, hash).await?;
        let Some(user) = user.as_ref().filter(|_| matches) else {
            self.fail(attempt, Some(login_failed(client, user.as_ref())))
                .await?;
            return Err(ServiceError::InvalidCredentials);
        };
        let failed = Some(login_failed(client, Some(user)));
        let (txn, user, attempt) = self.lock_unchanged(user, attempt, failed).await?;
        attempts::succeeded(&txn, &attempt).await?;
        let (session, evicted) = self.open_session(&txn, &user, client).await?;
        let sid = session.id.clone();
        let pair =
            tokens::issue_pair(&txn, &self.keys, &user, &sid, true, Grant::of(&session)).await?;
        Event::new(AuthEventKind::Login, client)
            .about(&user)
            .by(user.id)
            .session(Some(&sid))
            .record(&txn)
            .await?;
        txn.commit().await?;
        attempt.kept();
        if evicted {
            self.revocations.changed(user.id);
        }
        Ok(Issued::new(user, pair, Assurance::Password))
    }

    /// Opens the transaction that acts on a password just checked against `checked`, with
    /// the user's row locked — unless the password changed while it was being checked (a
    /// password change committed meanwhile): then the attempt counts as failed, with
    /// `failed` (a login's) as its event.
    async fn lock_unchanged(
        &self,
        checked: &user::Model,
        attempt: Attempt,
        failed: Option<Event<'_>>,
    ) -> ServiceResult<(DatabaseTransaction, user::Model, Attempt)> {
        let (txn, locked) = users::begin_locked(&self.db, checked.id).await?;
        match locked.filter(|current| current.password_hash == checked.password_hash) {
            Some(locked) => Ok((txn, locked, attempt)),
            None => {
                txn.rollback().await?;
                self.fail(attempt, failed).await?;
                Err(ServiceError::InvalidCredentials)
            }
        }
    }

    /// Settles a wrong password: the attempt stays counted and, with `event` (a login's
    /// `LOGIN_FAILED`), the trail says so — in one transaction.
    async fn fail(&self, attempt: Attempt, event: Option<Event<'_>>) -> ServiceResult<()> {
        let txn = self.db.begin().await?;
        attempts::failed(&txn, attempt).await?;
        if let Some(event) = event {
            event.record(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Starts a session for `user` (who proved who they are with a password, or a token
    /// minted elsewhere), first ending the least recently used ones past
    /// `MAX_SESSIONS_PER_USER` (published and audited in `txn`). A user with a second
    /// factor gets a partial login instead: level 1, living `MFA_CHALLENGE_EXPIRES`,
    /// neither counted nor evicting. Returns it and whether any session ended.
    async fn open_session(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        client: &ClientInfo,
    ) -> ServiceResult<(session::Model, bool)> {
        if user.mfa_enabled_at.is_some() {
            let opening = Opening {
                aal: 1,
                mfa_pending: true,
            };
            let expires_at = Utc::now() + self.mfa_challenge;
            let session = session_store::start(txn, user.id, client, expires_at, opening).await?;
            return Ok((session, false));
        }
        let evicted = self.make_room(txn, user, client).await?;
        let expires_at = Utc::now() + self.keys.refresh_ttl();
        let session =
            session_store::start(txn, user.id, client, expires_at, Opening::PASSWORD).await?;
        Ok((session, evicted))
    }

    /// Ends the least recently used sessions of `user` past `MAX_SESSIONS_PER_USER - 1`
    /// (published and audited in `txn`); whether any ended.
    pub(super) async fn make_room(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        client: &ClientInfo,
    ) -> ServiceResult<bool> {
        let evicted = session_store::make_room(txn, user.id, self.max_sessions).await?;
        for sid in &evicted {
            Event::new(AuthEventKind::SessionRevoked, client)
                .about(user)
                .by(user.id)
                .session(Some(sid))
                .record(txn)
                .await?;
        }
        let evicted = !evicted.is_empty();
        if evicted {
            revocations::publish(txn, self.revocations.origin(), Notice::User(user.id)).await?;
        }
        Ok(evicted)
    }

    /// A second factor was shown (`confirmTotp`, `verifyMfa`), in `txn` (which holds the
    /// user's row locked): the caller's session is raised to level 2 and its refresh token
    /// rotated as `refresh` rotates it (so `JWT_REFRESH_REUSE_GRACE` applies to the one
    /// replaced), with a fresh level-2 access token. A partial login becomes a full session
    /// then, making room under `MAX_SESSIONS_PER_USER`; a token without a session starts
    /// one at level 2. Returns the pair and its session. (Sessions ended to make room are
    /// published in `txn`; the caller tells this instance's view after commit.)
    pub(super) async fn raise(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        claims: &Claims,
        assurance: Assurance,
        client: &ClientInfo,
    ) -> ServiceResult<(Issued, String)> {
        let grant = Grant {
            assurance,
            refresh_until: None,
        };
        let until = Utc::now() + self.keys.refresh_ttl();
        let Some(sid) = &claims.sid else {
            self.make_room(txn, user, client).await?;
            let opening = Opening {
                aal: i32::from(assurance.aal()),
                mfa_pending: false,
            };
            let session = session_store::start(txn, user.id, client, until, opening).await?;
            let pair = tokens::issue_pair(txn, &self.keys, user, &session.id, true, grant).await?;
            return Ok((Issued::new(user.clone(), pair, assurance), session.id));
        };
        let session = session_store::find(txn, sid)
            .await?
            .filter(|s| s.ended_at.is_none() && s.user_id == user.id)
            .ok_or(AuthError::Revoked)?;
        if session.mfa_pending {
            self.make_room(txn, user, client).await?;
        }
        session_store::raise(txn, sid, until)
            .await?
            .ok_or(AuthError::Revoked)?;
        let current = tokens::live_in_session(txn, sid).await?;
        let pair = tokens::issue_pair(txn, &self.keys, user, sid, true, grant).await?;
        if let Some(current) = current {
            tokens::rotate(txn, &current.jti, &pair.refresh.jti, sid).await?;
        }
        Ok((Issued::new(user.clone(), pair, assurance), sid.clone()))
    }

    /// Rotates a refresh token (already decoded and known to be one) within its session.
    ///
    /// API.md Tokens: a live token is revoked and a new non-fresh pair of the same session
    /// issued; presenting one *already rotated* is reuse, which ends its session — unless it
    /// was rotated less than `JWT_REFRESH_REUSE_GRACE` ago and its successor is still unused,
    /// then the same successor is answered again. A token revoked any other way (logout,
    /// session revocation, password change) just answers `TOKEN_REVOKED`. A token with no
    /// record (minted elsewhere) starts a session.
    pub async fn refresh(&self, claims: &Claims, client: &ClientInfo) -> ServiceResult<Issued> {
        let user_id = user_id(claims)?;
        let (txn, user) = users::begin_locked(&self.db, user_id).await?;
        let user = user.ok_or_else(|| unknown_user(claims))?;
        let outcome = self.rotate(&txn, &user, claims, client).await?;
        let event = match &outcome {
            Outcome::Issued { sid, .. } => Event::new(AuthEventKind::Refresh, client)
                .about(&user)
                .by(user.id)
                .session(Some(sid)),
            // Whoever presented a rotated token proved nothing: no actor.
            Outcome::Reused { ended } => Event::new(AuthEventKind::RefreshReuseDetected, client)
                .about(&user)
                .session(ended.as_deref()),
        };
        event.record(&txn).await?;
        txn.commit().await?;
        match outcome {
            Outcome::Issued {
                issued, evicted, ..
            } => {
                if evicted {
                    self.revocations.changed(user.id);
                }
                Ok(*issued)
            }
            Outcome::Reused { .. } => {
                self.revocations.changed(user.id);
                self.metrics.refresh_reuse_detected();
                Err(AuthError::Revoked.into())
            }
        }
    }

    async fn rotate(
        &self,
        txn: &DatabaseTransaction,
        user: &user::Model,
        claims: &Claims,
        client: &ClientInfo,
    ) -> ServiceResult<Outcome> {
        let keys = &self.keys;
        let revoked = || Err(AuthError::Revoked.into());
        let Some(record) = tokens::find_record(txn, &claims.jti).await? else {
            // A token naming a session was issued here: its record is gone because it
            // ended and was pruned, never a reason for a new session (API.md Tokens).
            if claims.sid.is_some() {
                return revoked();
            }
            // Minted elsewhere: good unless issued before the user's last revoke-all.
            if tokens::before_cutoff(user.tokens_valid_after.map(|t| t.timestamp()), claims) {
                return revoked();
            }
            let (session, evicted) = self.open_session(txn, user, client).await?;
            let grant = Grant::of(&session);
            let sid = session.id;
            let pair = tokens::issue_pair(txn, keys, user, &sid, false, grant).await?;
            if !tokens::adopt(txn, user.id, claims, &sid, &pair.refresh.jti).await? {
                // Recorded meanwhile (refreshes of one user are serialized by its row lock, so
                // only in theory): not a first sight after all.
                return revoked();
            }
            return Ok(Outcome::issued(user, pair, sid, evicted, grant));
        };
        if record.user_id != user.id {
            return revoked();
        }
        match (&record.revoked_at, &record.rotated_to) {
            (None, _) => {
                let (session, evicted) = match &record.session_id {
                    // The session lives as long as the refresh token about to be issued
                    // (a partial login: until its challenge ends); its level is kept.
                    Some(sid) => {
                        let until = Utc::now() + keys.refresh_ttl();
                        match session_store::touch(txn, sid, until).await? {
                            Some(session) => (session, false),
                            None => return revoked(),
                        }
                    }
                    // Issued before sessions existed: its rotation starts one.
                    None => self.open_session(txn, user, client).await?,
                };
                let grant = Grant::of(&session);
                let sid = session.id;
                let pair = tokens::issue_pair(txn, keys, user, &sid, false, grant).await?;
                if !tokens::rotate(txn, &record.jti, &pair.refresh.jti, &sid).await? {
                    // Rotated meanwhile: the transaction rolls back, nothing is issued.
                    return revoked();
                }
                Ok(Outcome::issued(user, pair, sid, evicted, grant))
            }
            (Some(rotated_at), Some(successor)) => {
                let grace = self.reuse_grace;
                let session = match &record.session_id {
                    Some(sid) => session_store::find(txn, sid).await?,
                    None => None,
                };
                if within_grace(Utc::now() - *rotated_at, grace)
                    && let Some(session) = session.as_ref().filter(|s| s.ended_at.is_none())
                    && let Some(next) = tokens::find_record(txn, successor)
                        .await?
                        .filter(|next| next.revoked_at.is_none())
                {
                    let pair = tokens::reissue_pair(keys, user, session, &next)?;
                    let grant = Grant::of(session);
                    return Ok(Outcome::issued(
                        user,
                        pair,
                        session.id.clone(),
                        false,
                        grant,
                    ));
                }
                tracing::warn!(user_id = user.id, "refresh token reuse: ending its session");
                let ended = session.map(|session| session.id);
                if let Some(sid) = &ended {
                    session_store::end(txn, user.id, std::slice::from_ref(sid)).await?;
                    revocations::publish(txn, self.revocations.origin(), Notice::User(user.id))
                        .await?;
                }
                Ok(Outcome::Reused { ended })
            }
            (Some(_), None) => revoked(),
        }
    }

    /// `refresh`: rotates the refresh token the client gave (a cookie's CSRF value checked).
    pub async fn refresh_given(
        &self,
        given: &GivenRefresh,
        client: &ClientInfo,
    ) -> ServiceResult<Issued> {
        given.check_csrf()?;
        self.refresh(&given.claims, client).await
    }

    /// `logout`, with what the client presented: its access token as checked (`Err`: why
    /// it was refused), and the refresh token it gave, if any, as decoded.
    ///
    /// A refresh token alone is enough: a missing, expired, revoked or otherwise bad access
    /// token does not stop a logout (a user whose access token expired can still log out).
    /// An expired refresh token has nothing left to end (its access tokens expired before
    /// it): the access token says whose session to end. With a valid access token (its own
    /// CSRF check done, in cookie mode) the request is proven; a refresh cookie alone must
    /// pass its own, and when it fails, the access token's problem says more.
    pub async fn logout_given(
        &self,
        access: Result<Arc<Principal>, AuthError>,
        refresh: Option<Result<GivenRefresh, AuthError>>,
        scope: LogoutScope,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let refresh = match refresh {
            Some(Ok(given)) => Some(given),
            Some(Err(AuthError::Expired)) | None => None,
            Some(Err(error)) => return Err(error.into()),
        };
        let (access, access_error) = match access {
            Ok(principal) => (Some(principal), None),
            Err(error) if refresh.is_some() => (None, Some(error)),
            Err(error) => return Err(error.into()),
        };
        if access.is_none()
            && let Some(refresh) = &refresh
            && let Err(csrf) = refresh.check_csrf()
        {
            return Err(access_error.unwrap_or(csrf).into());
        }
        let refresh = refresh.as_ref().map(|given| &given.claims);
        self.logout(access.as_deref(), refresh, scope, client).await
    }

    /// Ends sessions for a logout. `access` is the caller's valid access token, if any;
    /// `refresh` a refresh token given beside it (or alone, when the access token is missing
    /// or expired). At least one of them is present.
    async fn logout(
        &self,
        access: Option<&Principal>,
        refresh: Option<&Claims>,
        scope: LogoutScope,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let Some(claims) = access.map(|p| &p.claims).or(refresh) else {
            return Err(AuthError::Missing(messages::MISSING_HEADER).into());
        };
        let user_id = user_id(claims)?;
        let (txn, user) = users::begin_locked(&self.db, user_id).await?;
        let user = user.ok_or_else(|| unknown_user(claims))?;
        if refresh.is_some_and(|c| c.sub != claims.sub) {
            return Err(AuthError::invalid("The refresh token belongs to another user").into());
        }
        // The refresh token's own record says which session it belongs to, and whether it
        // is still good: a revoked one proves nothing (an old stolen token must not log its
        // owner out again and again), so alone it is refused, and beside a valid access
        // token it is ignored.
        let refresh_record = match refresh {
            Some(claims) => tokens::find_record(&txn, &claims.jti).await?,
            None => None,
        };
        let refresh_good = refresh.is_some_and(|claims| match &refresh_record {
            Some(record) => record.user_id == user_id && record.revoked_at.is_none(),
            None => !tokens::before_cutoff(user.tokens_valid_after.map(|t| t.timestamp()), claims),
        });
        if access.is_none() && !refresh_good {
            return Err(AuthError::Revoked.into());
        }
        let (refresh, refresh_record) = if refresh_good {
            (refresh, refresh_record)
        } else {
            (None, None)
        };
        let refresh_sid = refresh_record
            .as_ref()
            .and_then(|r| r.session_id.clone())
            .or_else(|| refresh.and_then(|c| c.sid.clone()));
        let current_sid = access
            .and_then(|p| p.claims.sid.clone())
            .or(refresh_sid.clone());
        match scope {
            LogoutScope::Current => {
                let sids: Vec<String> = current_sid
                    .iter()
                    .chain(refresh_sid.iter())
                    .cloned()
                    .collect();
                session_store::end(&txn, user_id, &sids).await?;
                if let Some(principal) = access.filter(|p| p.claims.sid.is_none()) {
                    tokens::revoke(&txn, user_id, &principal.claims).await?;
                }
                if let Some(claims) = refresh.filter(|_| refresh_sid.is_none()) {
                    tokens::revoke(&txn, user_id, claims).await?;
                }
            }
            LogoutScope::Others => {
                session_store::end_all(&txn, user_id, current_sid.as_deref()).await?;
            }
            LogoutScope::All => {
                session_store::end_all(&txn, user_id, None).await?;
                tokens::revoke_sessionless(&txn, user_id).await?;
            }
        }
        // One event per call, whatever the scope ended (API.md Operations).
        Event::new(AuthEventKind::Logout, client)
            .about(&user)
            .by(user_id)
            .session(current_sid.as_deref())
            .record(&txn)
            .await?;
        revocations::publish(&txn, self.revocations.origin(), Notice::User(user_id)).await?;
        txn.commit().await?;
        self.revocations.changed(user_id);
        Ok(())
    }

    /// Ends one of the caller's own live sessions; another user's, an ended or an unknown one
    /// is `NOT_FOUND` (API.md Sessions: an ADMIN has no power over others' sessions here).
    pub async fn revoke_session(
        &self,
        caller: &Principal,
        sid: &str,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let (txn, user) = users::begin_locked(&self.db, caller.user_id).await?;
        let user = user.ok_or_else(|| unknown_user(&caller.claims))?;
        let ended = session_store::end(&txn, caller.user_id, &[sid.to_owned()]).await?;
        if ended.is_empty() {
            return Err(ServiceError::NotFound("Session"));
        }
        Event::new(AuthEventKind::SessionRevoked, client)
            .about(&user)
            .by(user.id)
            .session(Some(sid))
            .record(&txn)
            .await?;
        revocations::publish(
            &txn,
            self.revocations.origin(),
            Notice::User(caller.user_id),
        )
        .await?;
        txn.commit().await?;
        self.revocations.changed(caller.user_id);
        Ok(())
    }

    /// The caller's live sessions, newest first.
    pub async fn list(&self, caller: &Principal) -> ServiceResult<Vec<session::Model>> {
        session_store::live(&self.db, caller.user_id).await
    }

    /// Checks `current` (limited per user, API.md "Login limiting"), stores the hash of `new`,
    /// ends every session and revokes every token the user held, and starts a new session for
    /// the fresh pair it returns.
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: &str,
        new: &Password,
        client: &ClientInfo,
    ) -> ServiceResult<Issued> {
        caller.local_credentials()?;
        let user = users::find(&self.db, caller.user_id)
            .await?
            .ok_or_else(|| unknown_user(&caller.claims))?;
        let key = AttemptKey::password_change(user.id);
        let attempt =
            attempts::reserve(&self.db, &key, self.attempt_limit, Refusals::Silent).await?;
        let permit = self.passwords.admit()?;
        if !permit.verify(current, Some(&user.password_hash)).await? {
            self.fail(attempt, None).await?;
            return Err(ServiceError::InvalidCredentials);
        }
        let hash = permit.hash(new).await?;
        let (txn, locked, attempt) = self.lock_unchanged(&user, attempt, None).await?;
        session_store::end_all(&txn, locked.id, None).await?;
        tokens::revoke_sessionless(&txn, locked.id).await?;
        let user = users::set_password(&txn, locked, hash).await?;
        // API.md: a reset token dies when the password changes by any path (and so does a
        // pending email change).
        recovery::password_changed(&txn, user.id).await?;
        attempts::succeeded(&txn, &attempt).await?;
        // The new session keeps the caller's level (API.md Second factor).
        let opening = Opening {
            aal: i32::from(caller.claims.aal),
            mfa_pending: false,
        };
        let (sid, pair) = start_session(&txn, &self.keys, &user, client, true, opening).await?;
        Event::new(AuthEventKind::PasswordChanged, client)
            .about(&user)
            .by(user.id)
            .session(Some(&sid))
            .record(&txn)
            .await?;
        revocations::publish(&txn, self.revocations.origin(), Notice::User(user.id)).await?;
        txn.commit().await?;
        attempt.kept();
        self.revocations.changed(user.id);
        let assurance = Assurance::of_level(opening.aal);
        Ok(Issued::new(user, pair, assurance))
    }
}

/// A refused login's event: about the user only when the username names one — a password
/// typed into the username box is never stored (API.md Operations).
fn login_failed<'a>(client: &'a ClientInfo, user: Option<&'a user::Model>) -> Event<'a> {
    Event::new(AuthEventKind::LoginFailed, client).about_any(user)
}

/// What `register` needs, already parsed.
pub struct NewAccount<'a> {
    pub username: &'a Username,
    pub email: Option<&'a Email>,
    pub password: &'a Password,
    pub role: Role,
}

/// `authql create-user`: a new account, without a session; its address, if any, counts as
/// verified (an operator gave it). `from` marks the data notice ([`Origin::OUTSIDE`] from
/// the CLI, which keeps no view).
pub async fn create_account(
    db: &DatabaseConnection,
    from: Origin,
    passwords: &Passwords,
    new: NewAccount<'_>,
    client: &ClientInfo,
) -> ServiceResult<user::Model> {
    let hash = passwords.admit()?.hash(new.password).await?;
    let txn = db.begin().await?;
    let user = insert_account(&txn, from, &new, hash, true).await?;
    Event::new(AuthEventKind::Signup, client)
        .about(&user)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(user)
}

/// Inserts the account and its data notice (a new user shows in `users`: every
/// instance's response cache must hear of it).
async fn insert_account(
    txn: &DatabaseTransaction,
    from: Origin,
    new: &NewAccount<'_>,
    hash: String,
    email_verified: bool,
) -> ServiceResult<user::Model> {
    let user = users::create(txn, new.username, new.email, hash, new.role, email_verified).await?;
    revocations::publish(txn, from, Notice::Data).await?;
    Ok(user)
}

/// A new session for `user`: its id and first pair.
async fn start_session(
    txn: &DatabaseTransaction,
    keys: &JwtKeys,
    user: &user::Model,
    client: &ClientInfo,
    fresh: bool,
    opening: Opening,
) -> ServiceResult<(String, TokenPair)> {
    let expires_at = Utc::now() + keys.refresh_ttl();
    let session = session_store::start(txn, user.id, client, expires_at, opening).await?;
    let pair = tokens::issue_pair(txn, keys, user, &session.id, fresh, Grant::of(&session)).await?;
    Ok((session.id, pair))
}

/// What presenting a refresh token came to.
enum Outcome {
    Issued {
        issued: Box<Issued>,
        /// The session the pair belongs to.
        sid: String,
        /// A session was ended to make room for a new one.
        evicted: bool,
    },
    /// Reuse of an already rotated token: its session (if it had one) was ended.
    Reused { ended: Option<String> },
}

impl Outcome {
    fn issued(
        user: &user::Model,
        pair: TokenPair,
        sid: String,
        evicted: bool,
        grant: Grant,
    ) -> Self {
        Self::Issued {
            issued: Box::new(Issued::new(user.clone(), pair, grant.assurance)),
            sid,
            evicted,
        }
    }
}

/// Whether a rotation `since` ago is within `grace`. A zero grace is no grace, and a
/// rotation "in the future" (another instance's clock ahead of this one's) is not within
/// any: either would let a replayed token through where it must count as reuse.
fn within_grace(since: chrono::Duration, grace: chrono::Duration) -> bool {
    grace > chrono::Duration::zero() && since >= chrono::Duration::zero() && since <= grace
}

/// API.md `logout(scope:)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// The presented token's session (a token without one: just that token).
    Current,
    /// Every other session of the user.
    Others,
    /// Every token the user holds, with or without a session.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_grace_is_no_grace_whatever_the_clocks_say() {
        let ms = chrono::Duration::milliseconds;
        assert!(!within_grace(ms(-5), ms(0)));
        assert!(!within_grace(ms(0), ms(0)));
        assert!(!within_grace(ms(-5), ms(10_000)));
        assert!(within_grace(ms(5), ms(10_000)));
        assert!(!within_grace(ms(10_001), ms(10_000)));
    }
}

//! The request's authentication context: what was presented (parsed once by the HTTP or
//! WebSocket layer), and the principal it stands for, resolved lazily by the first field
//! that asks. The token is decoded once; revocation and role come from the revocation
//! view and are re-checked whenever the view changed since (so a subscription's events
//! see the role of the moment, API.md Subscriptions), else reused.
//!
//! It also records whether the operation looked at the credential at all: an answer that
//! never did is the same for every caller, which the response cache relies on.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::Context;
use tokio::sync::{Mutex, OnceCell};

use crate::auth::credentials::{Presented, RefreshCookie, check_csrf};
use crate::auth::tokens::{Claims, TokenKind};
use crate::graphql::errors::ApiError;
use crate::service::principal::{self, Principal};
use crate::service::sessions::ClientInfo;
use crate::state::AppState;

/// Per-operation authentication state; attached (in an `Arc`) by `http::graphql` and
/// `http::ws`.
pub struct AuthContext {
    presented: Presented,
    /// Cookie mode: the refresh cookie and the `X-CSRF-TOKEN` header, for `refresh`.
    refresh_cookie: Option<RefreshCookie>,
    state: AppState,
    claims: OnceCell<Result<Claims, ApiError>>,
    /// The principal, and the view's version it was checked at.
    principal: Mutex<Option<(u64, Resolved)>>,
    /// Whether the operation read the credential or the principal.
    consulted: AtomicBool,
    /// Rows an ownership rule loaded to decide, for the resolver that acts on them (one
    /// read, not two).
    checked_items: std::sync::Mutex<Vec<entity::item::Model>>,
    /// The user this operation just issued tokens to (`login`, `signup`, `verifyMfa`, …):
    /// their `AuthPayload.user` may show what a partial login may read of itself
    /// (`mfaEnabled`), though the request itself carried no credential.
    issued_to: std::sync::atomic::AtomicI64,
    /// Where the request came from: the audit trail of an outside user's first sight.
    client: ClientInfo,
}

type Resolved = Result<Arc<Principal>, ApiError>;

impl AuthContext {
    pub fn new(
        presented: Presented,
        refresh_cookie: Option<RefreshCookie>,
        state: AppState,
    ) -> Self {
        Self {
            presented,
            refresh_cookie,
            state,
            claims: OnceCell::new(),
            principal: Mutex::new(None),
            consulted: AtomicBool::new(false),
            checked_items: std::sync::Mutex::new(Vec::new()),
            issued_to: std::sync::atomic::AtomicI64::new(i64::MIN),
            client: ClientInfo::default(),
        }
    }

    /// Where the request came from (address, agent, request id).
    pub fn with_client(mut self, client: ClientInfo) -> Self {
        self.client = client;
        self
    }

    /// An item an ownership guard loaded and let through.
    pub fn remember_checked(&self, item: entity::item::Model) {
        self.checked_items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(item);
    }

    /// The item `id` as its guard loaded it, taken (a resolver acts on it once).
    pub fn take_checked(&self, id: i32) -> Option<entity::item::Model> {
        let mut items = self.checked_items.lock().unwrap_or_else(|e| e.into_inner());
        let at = items.iter().position(|item| item.id == id)?;
        Some(items.swap_remove(at))
    }

    /// This operation issued tokens to `user_id`.
    pub fn issued(&self, user_id: i32) {
        self.issued_to.store(i64::from(user_id), Ordering::Relaxed);
    }

    /// Whether this operation issued tokens to `user_id`.
    pub fn issued_to(&self, user_id: i32) -> bool {
        self.issued_to.load(Ordering::Relaxed) == i64::from(user_id)
    }

    pub fn presented(&self) -> &Presented {
        self.consult();
        &self.presented
    }

    pub fn refresh_cookie(&self) -> Option<&RefreshCookie> {
        self.consult();
        self.refresh_cookie.as_ref()
    }

    fn consult(&self) {
        self.consulted.store(true, Ordering::Relaxed);
    }

    /// Whether anything of the operation read the credential: when not, its answer does
    /// not depend on who asked.
    pub fn consulted(&self) -> bool {
        self.consulted.load(Ordering::Relaxed)
    }

    /// The verified caller, or the token error every guarded field reports.
    pub async fn principal(&self) -> Result<Arc<Principal>, ApiError> {
        self.consult();
        self.principal_unrecorded().await
    }

    /// [`Self::principal`] without counting as a read: for looking up a cached answer
    /// before the operation runs (the memo is shared, so the operation does not verify the
    /// token again).
    pub async fn principal_unrecorded(&self) -> Result<Arc<Principal>, ApiError> {
        let version = self.state.revocations.version();
        let mut memo = self.principal.lock().await;
        if let Some((checked_at, principal)) = memo.as_ref()
            && *checked_at == version
        {
            return principal.clone();
        }
        // Boxed: the verification and a first load of the user's facts are a large future,
        // and every guarded field's future would otherwise carry its size (moved and
        // allocated per field, though the memo answers all but the first).
        let principal = Box::pin(self.resolve()).await;
        *memo = Some((version, principal.clone()));
        principal
    }

    /// For a mutation authenticated by cookie, the `X-CSRF-TOKEN` header must equal the
    /// token's `csrf` claim (double submit). Header tokens need no CSRF check.
    pub async fn principal_for_mutation(&self) -> Result<Arc<Principal>, ApiError> {
        let principal = self.principal().await?;
        if let Presented::Cookie { csrf_header, .. } = &self.presented {
            check_csrf(csrf_header.as_deref(), principal.claims.csrf.as_deref())?;
        }
        Ok(principal)
    }

    /// The presented access token's claims, decoded once.
    pub async fn claims(&self) -> Result<&Claims, ApiError> {
        self.consult();
        self.decoded().await
    }

    async fn decoded(&self) -> Result<&Claims, ApiError> {
        self.claims
            .get_or_init(|| async {
                let location = self.state.config.jwt_token_location;
                let token = self.presented.token(location)?;
                Ok(self.state.keys.decode(token, TokenKind::Access)?)
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn resolve(&self) -> Result<Arc<Principal>, ApiError> {
        // A token naming a configured outside issuer is that issuer's to verify, with its
        // keys only (API.md External identity providers).
        let location = self.state.config.jwt_token_location;
        if let Ok(token) = self.presented.token(location)
            && let Some(issuer) = self.state.outside.issuer_of(token)
        {
            let verified = issuer.verify(token).await?;
            let principal = self
                .state
                .outside_users
                .principal(verified, &self.client)
                .await?;
            return Ok(Arc::new(principal));
        }
        let claims = self.decoded().await?.clone();
        Ok(Arc::new(
            principal::resolve(&self.state.revocations, claims).await?,
        ))
    }
}

/// Attached to an operation over a WebSocket: it tells the connection when it is live —
/// a subscription listening for events — so a `ping` sent after it is answered only then
/// (`http::ws`).
#[derive(Clone)]
pub struct OperationLive(Arc<tokio::sync::watch::Sender<bool>>);

impl OperationLive {
    pub fn new(live: tokio::sync::watch::Sender<bool>) -> Self {
        Self(Arc::new(live))
    }

    /// The operation is live.
    pub fn mark(&self) {
        self.0.send_replace(true);
    }
}

/// What resolvers and guards read from the GraphQL context.
pub trait ContextExt {
    /// The application state attached to the schema.
    fn state(&self) -> Result<&AppState, ApiError>;
    /// The operation's auth context.
    fn auth(&self) -> Result<&AuthContext, ApiError>;
    /// Where the request came from (address, user agent).
    fn client(&self) -> ClientInfo;
    /// A subscription now listens for its events (see [`OperationLive`]).
    fn mark_live(&self);
}

impl ContextExt for Context<'_> {
    fn state(&self) -> Result<&AppState, ApiError> {
        self.data::<AppState>().map_err(|_| {
            tracing::error!("BUG: AppState is not attached to the schema");
            ApiError::Internal
        })
    }

    fn auth(&self) -> Result<&AuthContext, ApiError> {
        self.data::<Arc<AuthContext>>()
            .map(Arc::as_ref)
            .map_err(|_| {
                tracing::error!("BUG: AuthContext is not attached to the request");
                ApiError::Internal
            })
    }

    fn client(&self) -> ClientInfo {
        self.data::<ClientInfo>().cloned().unwrap_or_default()
    }

    fn mark_live(&self) {
        if let Some(live) = self.data_opt::<OperationLive>() {
            live.mark();
        }
    }
}

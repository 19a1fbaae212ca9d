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
use tokio::sync::Mutex;

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
    /// Over a WebSocket: the socket's credential, which a `refresh` (and the like) over it
    /// replaces; read instead of `presented`.
    socket: Option<Arc<SocketCredential>>,
    /// Cookie mode: the refresh cookie and the `X-CSRF-TOKEN` header, for `refresh`.
    refresh_cookie: Option<RefreshCookie>,
    state: AppState,
    /// The decoded claims, and the credential generation they are of.
    claims: Mutex<Option<(u64, Result<Claims, ApiError>)>>,
    /// The principal, and the view's version and credential generation it was checked at.
    principal: Mutex<Option<((u64, u64), Resolved)>>,
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
            socket: None,
            refresh_cookie,
            state,
            claims: Mutex::new(None),
            principal: Mutex::new(None),
            consulted: AtomicBool::new(false),
            checked_items: std::sync::Mutex::new(Vec::new()),
            issued_to: std::sync::atomic::AtomicI64::new(i64::MIN),
            client: ClientInfo::default(),
        }
    }

    /// An operation over a WebSocket: its credential is the socket's, as of each check.
    pub fn for_socket(socket: Arc<SocketCredential>, state: AppState) -> Self {
        let mut auth = Self::new(Presented::Nothing, None, state);
        auth.socket = Some(socket);
        auth
    }

    /// The credential now, and its generation (0 over HTTP: it never changes).
    fn credential(&self) -> (u64, Presented) {
        match &self.socket {
            Some(socket) => socket.current(),
            None => (0, self.presented.clone()),
        }
    }

    fn generation(&self) -> u64 {
        self.socket.as_ref().map_or(0, |socket| socket.generation())
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

    pub fn presented(&self) -> Presented {
        self.consult();
        self.credential().1
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
    /// The caller presented no credential at all (no `Authorization` header, no access
    /// cookie, where the server reads them): every such caller gets the same answers.
    pub fn presented_nothing(&self) -> bool {
        matches!(self.credential().1, Presented::Nothing)
    }

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
        let version = (self.state.revocations.version(), self.generation());
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
        if let Presented::Cookie { csrf_header, .. } = &self.credential().1 {
            check_csrf(csrf_header.as_deref(), principal.claims.csrf.as_deref())?;
        }
        Ok(principal)
    }

    /// The presented access token's claims, decoded once per credential.
    async fn decoded(&self, generation: u64, presented: &Presented) -> Result<Claims, ApiError> {
        let mut memo = self.claims.lock().await;
        if let Some((of, claims)) = memo.as_ref()
            && *of == generation
        {
            return claims.clone();
        }
        let location = self.state.config.jwt_token_location;
        let claims = presented
            .token(location)
            .map_err(ApiError::from)
            .and_then(|token| Ok(self.state.keys.decode(token, TokenKind::Access)?));
        *memo = Some((generation, claims.clone()));
        claims
    }

    async fn resolve(&self) -> Result<Arc<Principal>, ApiError> {
        let (generation, presented) = self.credential();
        // A token naming a configured outside issuer is that issuer's to verify, with its
        // keys only (API.md External identity providers).
        let location = self.state.config.jwt_token_location;
        if let Ok(token) = presented.token(location)
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
        let claims = self.decoded(generation, &presented).await?;
        Ok(Arc::new(
            principal::resolve(&self.state.revocations, claims).await?,
        ))
    }
}

/// The credential of a WebSocket (API.md "Keeping a socket past its token"): what
/// `connection_init` presented, until a `refresh`, `login`, `verifyMfa`, `confirmTotp` or
/// `changePassword` over the socket answers a new access token — then that one, for the
/// operations started afterwards and the running subscriptions alike. The connection hears
/// of each change ([`SocketCredential::rebound`]) to move its expiry and its checks to the
/// new token.
pub struct SocketCredential {
    presented: std::sync::RwLock<Presented>,
    generation: std::sync::atomic::AtomicU64,
    /// Mutations that may re-bind the socket, running now: a revocation they cause (a
    /// password change ends the old session) must not close the socket before they do.
    rebinding: std::sync::atomic::AtomicUsize,
    rebound: tokio::sync::mpsc::UnboundedSender<()>,
}

impl SocketCredential {
    pub fn new(presented: Presented, rebound: tokio::sync::mpsc::UnboundedSender<()>) -> Self {
        Self {
            presented: std::sync::RwLock::new(presented),
            generation: std::sync::atomic::AtomicU64::new(1),
            rebinding: std::sync::atomic::AtomicUsize::new(0),
            rebound,
        }
    }

    pub fn current(&self) -> (u64, Presented) {
        let presented = self.presented.read().unwrap_or_else(|e| e.into_inner());
        (self.generation(), presented.clone())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The credential came from the access cookie: a socket cannot set cookies, so it is
    /// never re-bound (the browser would not see the rotation).
    pub fn from_cookie(&self) -> bool {
        matches!(
            *self.presented.read().unwrap_or_else(|e| e.into_inner()),
            Presented::Cookie { .. }
        )
    }

    /// A mutation that may re-bind the socket starts; the guard marks its end.
    pub fn begin(self: &Arc<Self>) -> RebindGuard {
        self.rebinding.fetch_add(1, Ordering::AcqRel);
        RebindGuard(self.clone())
    }

    /// Whether such a mutation is running.
    pub fn rebinding(&self) -> bool {
        self.rebinding.load(Ordering::Acquire) > 0
    }

    /// The access token a mutation over the socket answered becomes its credential.
    pub fn rebind(&self, token: String) {
        *self.presented.write().unwrap_or_else(|e| e.into_inner()) = Presented::Bearer(token);
        self.generation.fetch_add(1, Ordering::AcqRel);
        let _ = self.rebound.send(());
    }
}

/// Held while a mutation that may re-bind the socket runs.
pub struct RebindGuard(Arc<SocketCredential>);

impl Drop for RebindGuard {
    fn drop(&mut self) {
        self.0.rebinding.fetch_sub(1, Ordering::AcqRel);
        // The connection re-checks once it ends (a deferred check, or nothing new).
        let _ = self.0.rebound.send(());
    }
}

/// Attached to an operation over a WebSocket: it tells the connection when it is live —
/// a subscription listening for events — so a `ping` sent after it is answered only then
/// (`http::ws`).
#[derive(Clone)]
pub struct OperationLive {
    live: Arc<tokio::sync::watch::Sender<bool>>,
    /// Set by a subscription once it listens (not by a query's answer): what a re-bound
    /// socket completes when the user changes.
    listening: Arc<AtomicBool>,
}

impl OperationLive {
    pub fn new(live: tokio::sync::watch::Sender<bool>, listening: Arc<AtomicBool>) -> Self {
        Self {
            live: Arc::new(live),
            listening,
        }
    }

    /// The operation is live.
    pub fn mark(&self) {
        self.live.send_replace(true);
    }

    /// A subscription listens for its events.
    pub fn listening(&self) {
        self.listening.store(true, Ordering::Release);
        self.mark();
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
            live.listening();
        }
    }
}

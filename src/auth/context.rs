//! The request's credential, parsed once from the `Authorization` header (or cookies) into
//! what was presented — never a verdict, because a bad token must fail only the fields that
//! need one. The principal (token decoded, revocation checked, user and role loaded from the
//! database) is resolved lazily on the first guard that asks, at most once per request.

use http::HeaderMap;
use tokio::sync::OnceCell;

use entity::user;

use crate::auth::tokens::{Claims, TokenError, TokenKind};
use crate::config::TokenLocation;
use crate::domain::Role;
use crate::graphql::errors::{ApiError, messages};
use crate::service::{tokens, users};
use crate::state::AppState;

pub const ACCESS_COOKIE: &str = "access_token_cookie";
pub const REFRESH_COOKIE: &str = "refresh_token_cookie";
pub const CSRF_ACCESS_COOKIE: &str = "csrf_access_token";
pub const CSRF_REFRESH_COOKIE: &str = "csrf_refresh_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the client presented, before any verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No credential at all.
    Nothing,
    /// An `Authorization` header with another scheme only (`Basic …`).
    OtherScheme,
    /// `Bearer` with no token, more than one word after it, or an unreadable header.
    BadHeader,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// The access cookie, and the `X-CSRF-TOKEN` header if one was sent.
    Cookie {
        token: String,
        csrf_header: Option<String>,
    },
}

impl Presented {
    /// Reads the headers once. A header token wins over a cookie (API.md Cookies).
    pub fn from_headers(headers: &HeaderMap, location: TokenLocation) -> Self {
        let header = if location.headers {
            Self::from_authorization(headers)
        } else {
            Self::Nothing
        };
        // Only a Bearer header (or a broken one) hides the cookie. Another scheme is no
        // token at all — say Basic auth added by a proxy in front of a browser app — so, as
        // in Flask-JWT-Extended, the cookie is still looked for.
        if !matches!(header, Self::Nothing | Self::OtherScheme) || !location.cookies {
            return header;
        }
        match cookie(headers, ACCESS_COOKIE) {
            Some(token) => Self::Cookie {
                token,
                csrf_header: csrf_header(headers),
            },
            None => header,
        }
    }

    fn from_authorization(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Self::Nothing;
        };
        if values.next().is_some() {
            return Self::BadHeader;
        }
        let Ok(value) = value.to_str() else {
            return Self::BadHeader;
        };
        // Like Flask-JWT-Extended, look for the Bearer part among comma-separated schemes.
        for part in value.split(',') {
            let mut words = part.split_whitespace();
            let Some(scheme) = words.next() else { continue };
            if !scheme.eq_ignore_ascii_case("bearer") {
                continue;
            }
            return match (words.next(), words.next()) {
                (Some(token), None) => Self::Bearer(token.to_owned()),
                _ => Self::BadHeader,
            };
        }
        if value.trim().is_empty() {
            Self::BadHeader
        } else {
            Self::OtherScheme
        }
    }
}

/// The refresh cookie of a cookie-mode request, with the CSRF header sent beside it.
#[derive(Debug, Clone)]
pub struct RefreshCookie {
    pub token: String,
    pub csrf_header: Option<String>,
}

impl RefreshCookie {
    pub fn from_headers(headers: &HeaderMap, location: TokenLocation) -> Option<Self> {
        if !location.cookies {
            return None;
        }
        Some(Self {
            token: cookie(headers, REFRESH_COOKIE)?,
            csrf_header: csrf_header(headers),
        })
    }
}

/// The `X-CSRF-TOKEN` header, if one readable value was sent.
fn csrf_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// The authenticated caller of this request.
#[derive(Clone)]
pub struct Principal {
    pub user: user::Model,
    pub claims: Claims,
}

/// Never the password hash (nor the email): a `Debug` print may end up in a log.
impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("user_id", &self.user.id)
            .field("username", &self.user.username)
            .field("role", &self.user.role)
            .field("claims", &self.claims)
            .finish()
    }
}

impl Principal {
    /// The role as stored now (a demotion bites on the next request).
    pub fn role(&self) -> Role {
        Role::from_db(&self.user.role)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }
}

/// Per-request authentication state; attached to the GraphQL request by `http::graphql`.
pub struct AuthContext {
    presented: Presented,
    /// Cookie mode: the refresh cookie and the `X-CSRF-TOKEN` header, for `refresh`.
    refresh_cookie: Option<RefreshCookie>,
    state: AppState,
    principal: OnceCell<Result<Principal, ApiError>>,
}

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
            principal: OnceCell::new(),
        }
    }

    pub fn presented(&self) -> &Presented {
        &self.presented
    }

    pub fn refresh_cookie(&self) -> Option<&RefreshCookie> {
        self.refresh_cookie.as_ref()
    }

    /// The verified caller, or the token error every guarded field reports. Resolved once.
    pub async fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .get_or_init(|| self.resolve())
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// For a mutation authenticated by cookie, the `X-CSRF-TOKEN` header must equal the
    /// token's `csrf` claim (double submit). Header tokens need no CSRF check.
    pub async fn principal_for_mutation(&self) -> Result<&Principal, ApiError> {
        let principal = self.principal().await?;
        if let Presented::Cookie { csrf_header, .. } = &self.presented {
            check_csrf(csrf_header.as_deref(), principal.claims.csrf.as_deref())?;
        }
        Ok(principal)
    }

    async fn resolve(&self) -> Result<Principal, ApiError> {
        let token = match &self.presented {
            Presented::Nothing => return Err(auth_cookie_missing(&self.state.config, false)),
            Presented::OtherScheme => {
                return Err(ApiError::AuthorizationRequired(messages::MISSING_BEARER));
            }
            Presented::BadHeader => {
                return Err(ApiError::InvalidToken(messages::BAD_HEADER.to_owned()));
            }
            Presented::Bearer(token) | Presented::Cookie { token, .. } => token,
        };
        load_principal(&self.state, token, TokenKind::Access).await
    }
}

/// Decodes `token`, loads its user and checks revocation. Shared by the auth context
/// (access tokens) and `refresh` / `logout` (refresh tokens).
pub async fn load_principal(
    state: &AppState,
    token: &str,
    kind: TokenKind,
) -> Result<Principal, ApiError> {
    let claims = state.keys.decode(token, kind).map_err(token_error)?;
    // Refresh tokens are checked (and consumed) atomically by the rotation itself.
    let user = match kind {
        TokenKind::Access => unrevoked_user(state, &claims).await?,
        TokenKind::Refresh => user_of(state, &claims).await?,
    };
    Ok(Principal { user, claims })
}

/// The token's user, provided the token is not revoked. The user row and the token record
/// are fetched concurrently: one round trip of latency per authenticated request.
async fn unrevoked_user(state: &AppState, claims: &Claims) -> Result<user::Model, ApiError> {
    let unknown = || unknown_user(claims);
    let id: i32 = claims.sub.parse().map_err(|_| unknown())?;
    let (user, record) = tokio::try_join!(
        users::find(&state.db, id),
        tokens::find_record(&state.db, &claims.jti)
    )?;
    let user = user.ok_or_else(unknown)?;
    if tokens::is_revoked(record.as_ref(), &user, claims) {
        return Err(ApiError::TokenRevoked);
    }
    Ok(user)
}

/// Re-checks a principal resolved earlier (long-lived WebSocket connections): the user
/// must still exist and the token must not have been revoked since.
pub async fn still_valid(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    unrevoked_user(state, &principal.claims).await.map(drop)
}

/// Flask-JWT-Extended's user-lookup error: the token names no (longer) existing user.
fn unknown_user(claims: &Claims) -> ApiError {
    ApiError::InvalidToken(format!("Error loading the user {}", claims.sub))
}

/// The user a token names; a deleted (or never existing) user makes the token invalid.
async fn user_of(state: &AppState, claims: &Claims) -> Result<user::Model, ApiError> {
    let unknown = || unknown_user(claims);
    let id: i32 = claims.sub.parse().map_err(|_| unknown())?;
    users::find(&state.db, id).await?.ok_or_else(unknown)
}

/// `AUTHORIZATION_REQUIRED` worded for the configured token location.
pub fn auth_cookie_missing(config: &crate::config::Config, refresh: bool) -> ApiError {
    ApiError::AuthorizationRequired(match (config.jwt_token_location.headers, refresh) {
        (true, _) => messages::MISSING_HEADER,
        (false, false) => messages::MISSING_COOKIE,
        (false, true) => messages::MISSING_REFRESH_COOKIE,
    })
}

pub fn token_error(error: TokenError) -> ApiError {
    match error {
        TokenError::Expired => ApiError::TokenExpired,
        TokenError::Invalid(message) => ApiError::InvalidToken(message),
    }
}

/// Double-submit comparison in constant time.
pub fn check_csrf(header: Option<&str>, expected: Option<&str>) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let header = header.ok_or(ApiError::CsrfFailed(messages::MISSING_CSRF))?;
    let expected = expected.ok_or(ApiError::CsrfFailed(messages::CSRF_MISMATCH))?;
    if bool::from(header.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::CsrfFailed(messages::CSRF_MISMATCH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(value: &str) -> Presented {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        Presented::from_headers(
            &headers,
            TokenLocation {
                headers: true,
                cookies: false,
            },
        )
    }

    #[test]
    fn authorization_header_forms() {
        assert_eq!(presented("Bearer abc"), Presented::Bearer("abc".into()));
        assert_eq!(presented("bEaReR abc"), Presented::Bearer("abc".into()));
        assert_eq!(presented("Basic abc"), Presented::OtherScheme);
        assert_eq!(presented("Token abc"), Presented::OtherScheme);
        assert_eq!(presented("Bearer"), Presented::BadHeader);
        assert_eq!(presented("Bearer a b"), Presented::BadHeader);
        assert_eq!(presented(""), Presented::BadHeader);
        assert_eq!(
            presented("Basic x, Bearer abc"),
            Presented::Bearer("abc".into())
        );
    }

    #[test]
    fn a_principal_never_prints_the_password_hash() {
        let now = chrono::Utc::now();
        let principal = Principal {
            user: user::Model {
                id: 7,
                username: "alice".into(),
                username_lower: "alice".into(),
                email: Some("alice@example.com".into()),
                email_lower: Some("alice@example.com".into()),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                role: "USER".into(),
                tokens_valid_after: None,
                created_at: now,
                updated_at: now,
            },
            claims: Claims {
                sub: "7".into(),
                kind: TokenKind::Access,
                fresh: true,
                jti: "j".into(),
                iat: 0,
                exp: 0,
                csrf: None,
            },
        };
        let printed = format!("{principal:?}");
        assert!(printed.contains("alice"), "{printed}");
        assert!(!printed.contains("argon2"), "{printed}");
        assert!(!printed.contains("example.com"), "{printed}");
    }

    #[test]
    fn a_bearer_header_hides_the_cookie_but_another_scheme_does_not() {
        let both = TokenLocation {
            headers: true,
            cookies: true,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=b; access_token_cookie=cookie".parse().unwrap(),
        );
        headers.insert(CSRF_HEADER, "csrf".parse().unwrap());
        let from_cookie = Presented::Cookie {
            token: "cookie".into(),
            csrf_header: Some("csrf".into()),
        };
        assert_eq!(Presented::from_headers(&headers, both), from_cookie);
        headers.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(Presented::from_headers(&headers, both), from_cookie);
        headers.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(
            Presented::from_headers(&headers, both),
            Presented::Bearer("abc".into())
        );
        headers.remove(http::header::COOKIE);
        headers.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(
            Presented::from_headers(&headers, both),
            Presented::OtherScheme
        );
    }
}

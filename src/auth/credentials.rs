//! What a request presented, parsed once — from the `Authorization` header and cookies of
//! an HTTP request, or from a WebSocket's `connection_init` payload — and never a verdict:
//! a bad token must fail only the fields that need one (API.md "Errors").

use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;

use crate::auth::error::{AuthError, messages};
use crate::config::TokenLocation;

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

    /// The credential of a WebSocket `connection_init` payload: `Authorization` (any
    /// case), also accepted under `headers`; without one, `cookie` (what the upgrade
    /// request's cookie presented, when it may count).
    pub fn from_init_payload(payload: &Value, cookie: &Presented) -> Self {
        let find = |object: &Value| {
            object.as_object().and_then(|map| {
                map.iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
                    .and_then(|(_, value)| value.as_str().map(str::to_owned))
            })
        };
        let Some(value) = find(payload).or_else(|| payload.get("headers").and_then(find)) else {
            return cookie.clone();
        };
        let Ok(value) = HeaderValue::from_str(&value) else {
            return Self::BadHeader;
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        Self::from_authorization(&headers)
    }

    fn from_authorization(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
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

    /// True when nothing that could be a token was presented (the connection or request
    /// is anonymous, not refused).
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Nothing | Self::OtherScheme)
    }

    /// The token presented, or why there is none, worded for where tokens may come from.
    pub fn token(&self, location: TokenLocation) -> Result<&str, AuthError> {
        match self {
            Self::Nothing => Err(missing(location, false)),
            Self::OtherScheme => Err(AuthError::Missing(messages::MISSING_BEARER)),
            Self::BadHeader => Err(AuthError::invalid(messages::BAD_HEADER)),
            Self::Bearer(token) | Self::Cookie { token, .. } => Ok(token),
        }
    }
}

/// `AUTHORIZATION_REQUIRED` worded for the configured token location.
pub fn missing(location: TokenLocation, refresh: bool) -> AuthError {
    AuthError::Missing(match (location.headers, refresh) {
        (true, _) => messages::MISSING_HEADER,
        (false, false) => messages::MISSING_COOKIE,
        (false, true) => messages::MISSING_REFRESH_COOKIE,
    })
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
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// Double-submit comparison in constant time (Flask-JWT-Extended's CSRF protection).
pub fn check_csrf(header: Option<&str>, expected: Option<&str>) -> Result<(), AuthError> {
    use subtle::ConstantTimeEq;
    let header = header.ok_or(AuthError::Csrf(messages::MISSING_CSRF))?;
    let expected = expected.ok_or(AuthError::Csrf(messages::CSRF_MISMATCH))?;
    if bool::from(header.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::Csrf(messages::CSRF_MISMATCH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(value: &str) -> Presented {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
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
    fn a_bearer_header_hides_the_cookie_but_another_scheme_does_not() {
        let both = TokenLocation {
            headers: true,
            cookies: true,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; access_token_cookie=cookie".parse().unwrap(),
        );
        headers.insert(CSRF_HEADER, "csrf".parse().unwrap());
        let from_cookie = Presented::Cookie {
            token: "cookie".into(),
            csrf_header: Some("csrf".into()),
        };
        assert_eq!(Presented::from_headers(&headers, both), from_cookie);
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(Presented::from_headers(&headers, both), from_cookie);
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(
            Presented::from_headers(&headers, both),
            Presented::Bearer("abc".into())
        );
        headers.remove(header::COOKIE);
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(
            Presented::from_headers(&headers, both),
            Presented::OtherScheme
        );
    }

    #[test]
    fn an_init_payload_carries_the_header_in_any_case_or_under_headers() {
        let cookie = Presented::Nothing;
        let bearer = Presented::Bearer("t".into());
        let payload = serde_json::json!({ "authorization": "Bearer t" });
        assert_eq!(Presented::from_init_payload(&payload, &cookie), bearer);
        let payload = serde_json::json!({ "headers": { "Authorization": "Bearer t" } });
        assert_eq!(Presented::from_init_payload(&payload, &cookie), bearer);
        let payload = serde_json::json!({});
        assert_eq!(Presented::from_init_payload(&payload, &bearer), bearer);
    }
}

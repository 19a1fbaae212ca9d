//! Cookie mode (`JWT_TOKEN_LOCATION` includes `cookies`, API.md Cookies): HttpOnly token
//! cookies plus CSRF cookies for the double submit, named as Flask-JWT-Extended names
//! them, with the configured `Domain`, `SameSite` and `Secure`.

use async_graphql::Context;

use crate::auth::credentials::{
    ACCESS_COOKIE, CSRF_ACCESS_COOKIE, CSRF_REFRESH_COOKIE, REFRESH_COOKIE,
};
use crate::config::Config;
use crate::service::tokens::TokenPair;

fn cookie(config: &Config, name: &str, value: &str, max_age: i64, http_only: bool) -> String {
    let mut cookie = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; SameSite={}",
        config.jwt_cookie_samesite
    );
    if let Some(domain) = &config.jwt_cookie_domain {
        cookie.push_str("; Domain=");
        cookie.push_str(domain.trim());
    }
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if config.secure_cookies() {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Sets the four session cookies for a new pair (cookie mode only).
pub fn set_session(ctx: &Context<'_>, config: &Config, pair: &TokenPair) {
    if !config.jwt_token_location.cookies {
        return;
    }
    let now = chrono::Utc::now();
    let access_age = (pair.access.expires_at - now).num_seconds().max(0);
    let refresh_age = (pair.refresh.expires_at - now).num_seconds().max(0);
    let csrf_access = pair.access.csrf.as_deref().unwrap_or_default();
    let csrf_refresh = pair.refresh.csrf.as_deref().unwrap_or_default();
    for cookie in [
        cookie(config, ACCESS_COOKIE, &pair.access.token, access_age, true),
        cookie(
            config,
            REFRESH_COOKIE,
            &pair.refresh.token,
            refresh_age,
            true,
        ),
        cookie(config, CSRF_ACCESS_COOKIE, csrf_access, access_age, false),
        cookie(
            config,
            CSRF_REFRESH_COOKIE,
            csrf_refresh,
            refresh_age,
            false,
        ),
    ] {
        ctx.append_http_header(http::header::SET_COOKIE, cookie);
    }
}

/// Expires the four session cookies (logout).
pub fn clear_session(ctx: &Context<'_>, config: &Config) {
    if !config.jwt_token_location.cookies {
        return;
    }
    for (name, http_only) in [
        (ACCESS_COOKIE, true),
        (REFRESH_COOKIE, true),
        (CSRF_ACCESS_COOKIE, false),
        (CSRF_REFRESH_COOKIE, false),
    ] {
        ctx.append_http_header(
            http::header::SET_COOKIE,
            cookie(config, name, "", 0, http_only),
        );
    }
}

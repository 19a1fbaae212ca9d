//! Cookie mode (`JWT_TOKEN_LOCATION`), the CSRF double submit and CORS, over real HTTP.
//! There is no cookie store: `Set-Cookie` is parsed by hand so its attributes can be
//! checked, and the `Cookie` header is built from what a browser would keep.

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::*;

const COOKIES: (&str, &str) = ("jwt-token-location", "cookies");
const BOTH: (&str, &str) = ("jwt-token-location", "headers,cookies");
const ACCESS: &str = "access_token_cookie";
const REFRESH_COOKIE: &str = "refresh_token_cookie";
const CSRF_ACCESS: &str = "csrf_access_token";
const CSRF_REFRESH: &str = "csrf_refresh_token";
const ALL: [&str; 4] = [ACCESS, REFRESH_COOKIE, CSRF_ACCESS, CSRF_REFRESH];
const LOGOUT: &str = "mutation { logout }";
const CHANGE_PASSWORD: &str = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { user { username } } }";
const NEW_PASSWORD: &str = "a brand new password";

fn claims(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// One `Set-Cookie` header: name, value and attributes (names lowercased).
#[derive(Debug)]
struct SetCookie {
    name: String,
    value: String,
    attributes: Vec<(String, String)>,
}

impl SetCookie {
    fn parse(header: &str) -> Self {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .unwrap_or_else(|| panic!("malformed Set-Cookie {header:?}"));
        let attributes = parts
            .map(|attribute| {
                let (name, value) = attribute.split_once('=').unwrap_or((attribute, ""));
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes,
        }
    }

    fn has(&self, attribute: &str) -> bool {
        self.attribute(attribute).is_some()
    }

    fn attribute(&self, attribute: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .map(|(_, value)| value.as_str())
    }

    fn max_age(&self) -> i64 {
        self.attribute("max-age")
            .and_then(|age| age.parse().ok())
            .unwrap_or_else(|| panic!("no Max-Age in {self:?}"))
    }
}

/// The cookies a browser keeps for the server, by name.
#[derive(Debug, Clone, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no cookie {name} in {self:?}"))
    }

    fn only(&self, names: &[&str]) -> Jar {
        Jar(self
            .0
            .iter()
            .filter(|(name, _)| names.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect())
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What a request carries besides its body.
#[derive(Default, Clone, Copy)]
struct Creds<'a> {
    cookies: Option<&'a Jar>,
    csrf: Option<&'a str>,
    bearer: Option<&'a str>,
}

impl<'a> Creds<'a> {
    fn cookies(jar: &'a Jar) -> Self {
        Self {
            cookies: Some(jar),
            ..Self::default()
        }
    }

    fn csrf(self, csrf: &'a str) -> Self {
        Self {
            csrf: Some(csrf),
            ..self
        }
    }

    fn bearer(self, token: &'a str) -> Self {
        Self {
            bearer: Some(token),
            ..self
        }
    }
}

/// A GraphQL response with the cookies it set.
struct Reply {
    body: Value,
    set_cookies: Vec<SetCookie>,
}

impl Reply {
    fn set_cookie(&self, name: &str) -> &SetCookie {
        let mut found = self.set_cookies.iter().filter(|c| c.name == name);
        let cookie = found
            .next()
            .unwrap_or_else(|| panic!("no Set-Cookie {name} in {:?}", self.set_cookies));
        assert!(found.next().is_none(), "{name} set twice");
        cookie
    }

    /// The cookies a browser would keep from this response.
    fn jar(&self) -> Jar {
        Jar(self
            .set_cookies
            .iter()
            .filter(|c| c.max_age() > 0)
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect())
    }
}

async fn post(app: &TestApp, query: &str, variables: Value, creds: Creds<'_>) -> Reply {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(jar) = creds.cookies {
        request = request.header("cookie", jar.header());
    }
    if let Some(csrf) = creds.csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(token) = creds.bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    assert!(response.status().is_success(), "{}", response.status());
    let set_cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| SetCookie::parse(v.to_str().expect("ASCII Set-Cookie")))
        .collect();
    Reply {
        body: response.json().await.expect("JSON body"),
        set_cookies,
    }
}

/// `login` with the cookie-mode fields of the payload too.
const LOGIN_FULL: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken csrfToken refreshCsrfToken user { id username } } }";

async fn login(app: &TestApp, username: &str) -> Reply {
    let reply = post(
        app,
        LOGIN_FULL,
        json!({ "input": { "username": username, "password": PASSWORD } }),
        Creds::default(),
    )
    .await;
    assert!(reply.body["data"]["login"].is_object(), "{}", reply.body);
    reply
}

/// Signs `username` up (over headers, which sets cookies in cookie mode too) and logs in;
/// returns the login reply.
async fn signed_in(app: &TestApp, username: &str) -> Reply {
    let signup = post(
        app,
        SIGNUP,
        json!({ "input": { "username": username, "password": PASSWORD } }),
        Creds::default(),
    )
    .await;
    assert!(signup.body["data"]["signup"].is_object(), "{}", signup.body);
    login(app, username).await
}

async fn me(app: &TestApp, creds: Creds<'_>) -> Value {
    post(app, ME, json!({}), creds).await.body
}

fn change_password() -> Value {
    json!({ "input": { "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD } })
}

#[tokio::test]
async fn login_in_cookie_mode_sets_the_four_cookies_with_their_attributes() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let reply = signed_in(&app, "alice").await;
    let payload = &reply.body["data"]["login"];
    assert_eq!(reply.set_cookies.len(), 4, "{:?}", reply.set_cookies);
    for name in ALL {
        let cookie = reply.set_cookie(name);
        assert_eq!(cookie.attribute("path"), Some("/"), "{cookie:?}");
        assert_eq!(cookie.attribute("samesite"), Some("Lax"), "{cookie:?}");
        assert!(
            !cookie.has("secure"),
            "no Secure in development: {cookie:?}"
        );
        assert!(!cookie.has("domain"), "host-only: {cookie:?}");
        assert_eq!(
            cookie.has("httponly"),
            name == ACCESS || name == REFRESH_COOKIE,
            "only the token cookies are HttpOnly: {cookie:?}"
        );
        assert!(cookie.max_age() > 0, "{cookie:?}");
    }
    // With cookies only, script never sees a token: the payload has none, and gives the
    // CSRF values instead (for an app that cannot read the API's cookies).
    assert!(payload["accessToken"].is_null(), "{payload}");
    assert!(payload["refreshToken"].is_null(), "{payload}");
    let access = reply.set_cookie(ACCESS).value.as_str();
    let refresh = reply.set_cookie(REFRESH_COOKIE).value.as_str();
    assert_eq!(payload["csrfToken"], reply.set_cookie(CSRF_ACCESS).value);
    assert_eq!(
        payload["refreshCsrfToken"],
        reply.set_cookie(CSRF_REFRESH).value
    );
    assert!((reply.set_cookie(ACCESS).max_age() - 900).abs() <= 2);
    assert!((reply.set_cookie(REFRESH_COOKIE).max_age() - 30 * 86_400).abs() <= 2);
    assert_eq!(
        reply.set_cookie(CSRF_ACCESS).max_age(),
        reply.set_cookie(ACCESS).max_age()
    );
    // The readable CSRF cookies hold the `csrf` claims: the values to send back.
    let csrf_access = claims(access)["csrf"]
        .as_str()
        .expect("csrf claim")
        .to_owned();
    let csrf_refresh = claims(refresh)["csrf"]
        .as_str()
        .expect("csrf claim")
        .to_owned();
    assert_eq!(reply.set_cookie(CSRF_ACCESS).value, csrf_access);
    assert_eq!(reply.set_cookie(CSRF_REFRESH).value, csrf_refresh);
    assert_ne!(csrf_access, csrf_refresh);
}

#[tokio::test]
async fn signup_in_cookie_mode_sets_the_cookies_too() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let reply = post(
        &app,
        SIGNUP,
        json!({ "input": { "username": "alice", "password": PASSWORD } }),
        Creds::default(),
    )
    .await;
    let jar = reply.jar();
    assert!(
        reply.body["data"]["signup"]["accessToken"].is_null(),
        "{}",
        reply.body
    );
    assert_eq!(jar.0.len(), 4);
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn cookies_are_secure_in_production() {
    let app = TestApp::spawn_with(&[COOKIES, ("app-env", "production")]).await;
    let reply = signed_in(&app, "alice").await;
    for name in ALL {
        let cookie = reply.set_cookie(name);
        assert!(cookie.has("secure"), "{cookie:?}");
        assert_eq!(cookie.attribute("samesite"), Some("Lax"), "{cookie:?}");
    }
    // Clearing a Secure cookie needs a Secure Set-Cookie as well.
    let jar = reply.jar();
    let logout = post(
        &app,
        LOGOUT,
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_ACCESS)),
    )
    .await;
    assert_eq!(logout.body["data"]["logout"], true, "{}", logout.body);
    for name in ALL {
        assert!(logout.set_cookie(name).has("secure"));
    }
}

#[tokio::test]
async fn a_query_authenticated_by_cookie_needs_no_csrf_header() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar().only(&[ACCESS]);
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_cookie_authenticated_mutation_needs_the_matching_csrf_header() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let missing = post(
        &app,
        CHANGE_PASSWORD,
        change_password(),
        Creds::cookies(&jar),
    )
    .await;
    assert_code(&missing.body, "CSRF_FAILED");
    assert_eq!(message(&missing.body), "Missing CSRF token");
    assert!(missing.body["data"].is_null(), "{}", missing.body);
    // A wrong value, and the refresh token's CSRF value, which guards only `refresh`.
    for wrong in ["not-the-csrf-value", "", jar.get(CSRF_REFRESH)] {
        let refused = post(
            &app,
            CHANGE_PASSWORD,
            change_password(),
            Creds::cookies(&jar).csrf(wrong),
        )
        .await;
        assert_code(&refused.body, "CSRF_FAILED");
        assert!(refused.set_cookies.is_empty(), "{:?}", refused.set_cookies);
    }
    // Nothing changed: the password and the session are still the old ones.
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());

    let changed = post(
        &app,
        CHANGE_PASSWORD,
        change_password(),
        Creds::cookies(&jar).csrf(jar.get(CSRF_ACCESS)),
    )
    .await;
    assert_eq!(
        changed.body["data"]["changePassword"]["user"]["username"], "alice",
        "{}",
        changed.body
    );
    assert_code(&app.login("alice", PASSWORD).await, "INVALID_CREDENTIALS");
    // The new pair arrives as cookies; the old access cookie is revoked.
    let renewed = changed.jar();
    assert_ne!(renewed.get(ACCESS), jar.get(ACCESS));
    assert_code(&me(&app, Creds::cookies(&jar)).await, "TOKEN_REVOKED");
    let body = me(&app, Creds::cookies(&renewed)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn a_header_token_wins_over_the_access_cookie() {
    let app = TestApp::spawn_with(&[BOTH]).await;
    let alice = signed_in(&app, "alice").await.jar();
    let bob = app.signup("bob").await;
    let body = me(&app, Creds::cookies(&alice).bearer(&bob.access)).await;
    assert_eq!(body["data"]["me"]["username"], "bob", "{body}");
    // A broken Bearer header is an error even with a good cookie beside it.
    let body = me(&app, Creds::cookies(&alice).bearer("not-a-jwt")).await;
    assert_code(&body, "INVALID_TOKEN");
    let body = me(&app, Creds::cookies(&alice)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn a_bearer_authenticated_mutation_needs_no_csrf_header_even_beside_cookies() {
    let app = TestApp::spawn_with(&[BOTH]).await;
    let alice = signed_in(&app, "alice").await.jar();
    let bob = app.signup("bob").await;
    let reply = post(
        &app,
        LOGOUT,
        json!({}),
        Creds::cookies(&alice).bearer(&bob.access),
    )
    .await;
    assert_eq!(reply.body["data"]["logout"], true, "{}", reply.body);
    // Bob's token is what was logged out; Alice's cookies were not touched.
    assert_code(
        &app.gql_as(&bob.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    let body = me(&app, Creds::cookies(&alice)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
    let refreshed = post(
        &app,
        REFRESH,
        json!({}),
        Creds::cookies(&alice).csrf(alice.get(CSRF_REFRESH)),
    )
    .await;
    assert!(
        refreshed.body["data"]["refresh"].is_object(),
        "{}",
        refreshed.body
    );
}

#[tokio::test]
async fn an_authorization_header_of_another_scheme_does_not_hide_the_cookie() {
    // Basic auth from a proxy in front of a browser app is not a token (Flask-JWT-Extended
    // then looks at the cookies as well).
    let app = TestApp::spawn_with(&[BOTH]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let body = app
        .post_json(
            &[
                ("authorization", "Basic dXNlcjpwYXNz"),
                ("cookie", &jar.header()),
            ],
            &json!({ "query": ME }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn refresh_without_an_argument_uses_the_refresh_cookie_and_its_csrf_token() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let missing = post(&app, REFRESH, json!({}), Creds::cookies(&jar)).await;
    assert_code(&missing.body, "CSRF_FAILED");
    // The access token's CSRF value does not open `refresh`.
    for wrong in ["nope", jar.get(CSRF_ACCESS)] {
        let refused = post(&app, REFRESH, json!({}), Creds::cookies(&jar).csrf(wrong)).await;
        assert_code(&refused.body, "CSRF_FAILED");
        assert!(refused.set_cookies.is_empty());
    }
    // The refused attempts did not use the refresh token up: this is not a reuse.
    let rotated = post(
        &app,
        REFRESH,
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_REFRESH)),
    )
    .await;
    let payload = &rotated.body["data"]["refresh"];
    assert!(payload.is_object(), "{}", rotated.body);
    let renewed = rotated.jar();
    assert_eq!(renewed.0.len(), 4, "{:?}", rotated.set_cookies);
    for name in ALL {
        assert_ne!(renewed.get(name), jar.get(name), "{name} was not renewed");
    }
    assert!(payload["accessToken"].is_null(), "{payload}");
    assert_eq!(
        renewed.get(CSRF_REFRESH),
        claims(renewed.get(REFRESH_COOKIE))["csrf"]
    );
    assert_eq!(claims(renewed.get(ACCESS))["fresh"], false);
    let body = me(&app, Creds::cookies(&renewed)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");

    // Rotation: the old refresh cookie again is a reuse, which ends the session.
    let reuse = post(
        &app,
        REFRESH,
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_REFRESH)),
    )
    .await;
    assert_code(&reuse.body, "TOKEN_REVOKED");
    assert_eq!(message(&reuse.body), "Token has been revoked");
    assert_code(&me(&app, Creds::cookies(&renewed)).await, "TOKEN_REVOKED");
}

#[tokio::test]
async fn refresh_in_cookie_mode_without_the_cookie_requires_authorization() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice")
        .await
        .jar()
        .only(&[ACCESS, CSRF_ACCESS]);
    let body = post(
        &app,
        REFRESH,
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_ACCESS)),
    )
    .await
    .body;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    assert_eq!(message(&body), "Missing cookie \"refresh_token_cookie\"");
}

#[tokio::test]
async fn refresh_with_an_argument_needs_no_csrf_header_in_cookie_mode() {
    // The token in the body is proof enough: a cross-site page cannot know it.
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let refresh = jar.get(REFRESH_COOKIE);
    let rotated = post(&app, REFRESH, json!({ "t": refresh }), Creds::default()).await;
    assert!(
        rotated.body["data"]["refresh"].is_object(),
        "{}",
        rotated.body
    );
    assert_eq!(rotated.jar().0.len(), 4);
}

#[tokio::test]
async fn logout_clears_the_four_cookies_and_revokes_both_tokens() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let refused = post(&app, LOGOUT, json!({}), Creds::cookies(&jar)).await;
    assert_code(&refused.body, "CSRF_FAILED");
    assert!(refused.set_cookies.is_empty());
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");

    let reply = post(
        &app,
        LOGOUT,
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_ACCESS)),
    )
    .await;
    assert_eq!(reply.body["data"]["logout"], true, "{}", reply.body);
    assert_eq!(reply.set_cookies.len(), 4, "{:?}", reply.set_cookies);
    for name in ALL {
        let cleared = reply.set_cookie(name);
        assert_eq!(cleared.value, "", "{cleared:?}");
        assert_eq!(cleared.max_age(), 0, "{cleared:?}");
        // Same Path (and SameSite) as when set, or the browser keeps the original.
        assert_eq!(cleared.attribute("path"), Some("/"), "{cleared:?}");
    }
    assert!(reply.jar().0.is_empty());

    // The old cookies, replayed, are dead.
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_code(&body, "TOKEN_REVOKED");
    assert_eq!(message(&body), "Token has been revoked");
    let refresh = post(
        &app,
        REFRESH,
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_REFRESH)),
    )
    .await;
    assert_code(&refresh.body, "TOKEN_REVOKED");
}

#[tokio::test]
async fn headers_mode_ignores_cookies_and_sets_none() {
    let app = TestApp::spawn().await;
    let reply = signed_in(&app, "alice").await;
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    let payload = &reply.body["data"]["login"];
    let access = payload["accessToken"].as_str().unwrap();
    let refresh = payload["refreshToken"].as_str().unwrap();
    assert!(claims(access).get("csrf").is_none(), "no csrf claim");
    let jar = Jar(BTreeMap::from([
        (ACCESS.to_owned(), access.to_owned()),
        (REFRESH_COOKIE.to_owned(), refresh.to_owned()),
    ]));
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    assert_eq!(message(&body), "Missing Authorization Header");
    let body = post(&app, REFRESH, json!({}), Creds::cookies(&jar).csrf("x"))
        .await
        .body;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    // Logging out sets no cookies either.
    let logout = post(&app, LOGOUT, json!({}), Creds::default().bearer(access)).await;
    assert_eq!(logout.body["data"]["logout"], true, "{}", logout.body);
    assert!(logout.set_cookies.is_empty());
}

#[tokio::test]
async fn cookies_only_mode_ignores_a_bearer_header() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let reply = signed_in(&app, "alice").await;
    let jar = reply.jar();
    let access = jar.get(ACCESS);
    let body = app.gql_as(access, ME, json!({})).await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    assert_eq!(message(&body), "Missing cookie \"access_token_cookie\"");
    // And a Bearer header does not hide the cookie either: it is simply not looked at.
    let body = me(&app, Creds::cookies(&jar).bearer("not-a-jwt")).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

// CORS.

const ORIGINS: (&str, &str) = (
    "cors-allowed-origins",
    "https://app.example,https://admin.example",
);

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-csrf-token",
        )
        .send()
        .await
        .unwrap()
}

async fn post_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.post_json(&[("origin", origin)], &json!({ "query": "{ __typename }" }))
        .await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// A comma-separated header as a lowercased list.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .collect()
}

fn no_cors_headers(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .all(|name| !name.as_str().starts_with("access-control-"))
}

#[tokio::test]
async fn a_cors_preflight_from_an_allowed_origin_may_send_credentials_and_the_csrf_header() {
    let app = TestApp::spawn_with(&[COOKIES, ORIGINS]).await;
    for origin in ["https://app.example", "https://admin.example"] {
        let response = preflight(&app, origin).await;
        assert!(response.status().is_success(), "{}", response.status());
        let headers = response.headers();
        assert_eq!(header(headers, "access-control-allow-origin"), Some(origin));
        assert_eq!(
            header(headers, "access-control-allow-credentials"),
            Some("true")
        );
        let allowed = list(headers, "access-control-allow-headers");
        for needed in ["content-type", "x-csrf-token", "authorization"] {
            assert!(allowed.iter().any(|h| h == needed), "{needed}: {allowed:?}");
        }
        assert!(list(headers, "access-control-allow-methods").contains(&"post".to_owned()));
        // The answer depends on the origin, so caches must key on it.
        assert!(list(headers, "vary").contains(&"origin".to_owned()));
    }
}

#[tokio::test]
async fn a_cors_preflight_from_another_origin_is_not_allowed() {
    let app = TestApp::spawn_with(&[COOKIES, ORIGINS]).await;
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "null",
    ] {
        let response = preflight(&app, origin).await;
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        let response = post_from(&app, origin).await;
        assert_eq!(
            header(response.headers(), "access-control-allow-origin"),
            None,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn a_post_from_an_allowed_origin_echoes_it_with_credentials() {
    let app = TestApp::spawn_with(&[COOKIES, ORIGINS]).await;
    let response = post_from(&app, "https://admin.example").await;
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://admin.example")
    );
    assert_eq!(
        header(headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(list(headers, "vary").contains(&"origin".to_owned()));
}

#[tokio::test]
async fn without_cors_allowed_origins_no_cors_headers_are_sent() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let response = preflight(&app, "https://app.example").await;
    assert!(
        no_cors_headers(response.headers()),
        "{:?}",
        response.headers()
    );
    let response = post_from(&app, "https://app.example").await;
    assert!(response.status().is_success());
    assert!(
        no_cors_headers(response.headers()),
        "{:?}",
        response.headers()
    );
}

#[tokio::test]
async fn cors_in_headers_mode_does_not_allow_credentials() {
    // The contract allows credentials "with cookies"; without cookies there are no
    // credentials a browser would attach (the bearer token is an ordinary header the app
    // sets itself), so `Access-Control-Allow-Credentials` is left out altogether.
    let app = TestApp::spawn_with(&[ORIGINS]).await;
    let response = preflight(&app, "https://app.example").await;
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(headers, "access-control-allow-credentials"), None);
    let response = post_from(&app, "https://app.example").await;
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(headers, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn an_allowed_origin_written_with_a_trailing_slash_still_matches() {
    let app = TestApp::spawn_with(&[("cors-allowed-origins", "https://app.example/")]).await;
    let response = preflight(&app, "https://app.example").await;
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[tokio::test]
async fn cookie_domain_samesite_and_secure_are_configurable() {
    let app = TestApp::spawn_with(&[
        COOKIES,
        ("jwt-cookie-domain", "example.test"),
        ("jwt-cookie-samesite", "None"),
        ("jwt-cookie-secure", "true"),
    ])
    .await;
    let reply = signed_in(&app, "alice").await;
    for name in ALL {
        let cookie = reply.set_cookie(name);
        assert_eq!(
            cookie.attribute("domain"),
            Some("example.test"),
            "{cookie:?}"
        );
        assert_eq!(cookie.attribute("samesite"), Some("None"), "{cookie:?}");
        assert!(cookie.has("secure"), "{cookie:?}");
    }
    // Secure can be turned off in production too (behind a TLS-terminating proxy that
    // rewrites nothing, say), and Strict chosen.
    let app = TestApp::spawn_with(&[
        COOKIES,
        ("app-env", "production"),
        ("jwt-cookie-secure", "false"),
        ("jwt-cookie-samesite", "Strict"),
    ])
    .await;
    let reply = signed_in(&app, "alice").await;
    for name in ALL {
        let cookie = reply.set_cookie(name);
        assert!(!cookie.has("secure"), "{cookie:?}");
        assert_eq!(cookie.attribute("samesite"), Some("Strict"), "{cookie:?}");
    }
}

#[test]
fn samesite_none_without_secure_refuses_to_start() {
    let output = authql_command()
        .args(["serve", "--listen-addr", "127.0.0.1:0"])
        .args(["--jwt-secret-key", SECRET])
        .args(["--database-url", "sqlite::memory:"])
        .args(["--jwt-cookie-samesite", "None"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_COOKIE_SAMESITE"), "{stderr}");
}

#[tokio::test]
async fn signing_out_the_other_devices_keeps_this_ones_cookies() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let reply = post(
        &app,
        "mutation { logout(scope: OTHERS) }",
        json!({}),
        Creds::cookies(&jar).csrf(jar.get(CSRF_ACCESS)),
    )
    .await;
    assert_eq!(reply.body["data"]["logout"], true, "{}", reply.body);
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    let body = me(&app, Creds::cookies(&jar)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn a_failed_cookie_logout_still_clears_the_cookies() {
    let app = TestApp::spawn_with(&[COOKIES]).await;
    let jar = signed_in(&app, "alice").await.jar();
    let csrf = jar.get(CSRF_ACCESS).to_owned();
    let first = post(&app, LOGOUT, json!({}), Creds::cookies(&jar).csrf(&csrf)).await;
    assert_eq!(first.body["data"]["logout"], true, "{}", first.body);
    // The browser replays the dead cookies: refused, and told to drop them.
    let again = post(&app, LOGOUT, json!({}), Creds::cookies(&jar).csrf(&csrf)).await;
    assert_code(&again.body, "TOKEN_REVOKED");
    assert_eq!(again.set_cookies.len(), 4, "{:?}", again.set_cookies);
    assert!(again.jar().0.is_empty());
}

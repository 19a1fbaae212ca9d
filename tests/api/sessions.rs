//! API.md "Sessions" and the session rules of "Tokens": every login a session that lists,
//! ends and rotates on its own; reuse ends only its session; logout scopes; the reuse
//! grace; the session cap; tokens minted elsewhere; rows from before sessions existed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const MY_SESSIONS: &str = "{ mySessions { id createdAt lastUsedAt userAgent ipAddress current } }";
const REVOKE_SESSION: &str = "mutation($id: ID!) { revokeSession(id: $id) }";
const LOGOUT_SCOPE: &str =
    "mutation($t: String, $scope: LogoutScope) { logout(refreshToken: $t, scope: $scope) }";

fn claims(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn sid(token: &str) -> String {
    claims(token)["sid"].as_str().expect("a sid").to_owned()
}

/// Logs in from a device named by its user agent.
async fn login_from(app: &TestApp, username: &str, user_agent: &str) -> Session {
    let body: Value = app.post_json(&[("user-agent", user_agent)], &json!({ "query": LOGIN, "variables": { "input": { "username": username, "password": PASSWORD } } })).await
        .json()
        .await
        .unwrap();
    Session::from_payload(&body["data"]["login"]).unwrap_or_else(|| panic!("login: {body}"))
}

async fn refresh(app: &TestApp, token: &str) -> Value {
    app.gql(REFRESH, json!({ "t": token })).await
}

fn is_revoked(body: &Value) -> bool {
    body["errors"][0]["extensions"]["code"] == "TOKEN_REVOKED"
}

async fn me_works(app: &TestApp, token: &str) -> bool {
    app.gql_as(token, ME, json!({})).await["data"]["me"].is_object()
}

#[tokio::test]
async fn each_login_is_a_session_listed_newest_first_with_its_device() {
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let laptop = login_from(&app, "alice", "Laptop/1.0").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let phone = login_from(&app, "alice", "Phone/2.0").await;
    assert_eq!(sid(&laptop.access), sid(&laptop.refresh));
    assert_ne!(sid(&laptop.access), sid(&phone.access));

    let body = app.gql_as(&laptop.access, MY_SESSIONS, json!({})).await;
    let sessions = body["data"]["mySessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    // The signup's session is the third, oldest.
    assert_eq!(sessions.len(), 3, "{body}");
    assert_eq!(sessions[0]["id"], sid(&phone.access));
    assert_eq!(sessions[0]["userAgent"], "Phone/2.0");
    assert_eq!(sessions[0]["ipAddress"], "127.0.0.1");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["id"], sid(&laptop.access));
    assert_eq!(sessions[1]["userAgent"], "Laptop/1.0");
    assert_eq!(sessions[1]["current"], true);
    assert!(sessions[0]["createdAt"].as_str() > sessions[1]["createdAt"].as_str());

    // A refresh rotates inside the session and moves `lastUsedAt`.
    let before = sessions[1]["lastUsedAt"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = Session::from_payload(&refresh(&app, &laptop.refresh).await["data"]["refresh"])
        .expect("refreshed");
    assert_eq!(sid(&rotated.access), sid(&laptop.access));
    let body = app.gql_as(&rotated.access, MY_SESSIONS, json!({})).await;
    let laptop_row = body["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid(&laptop.access))
        .unwrap()
        .clone();
    assert!(laptop_row["lastUsedAt"].as_str().unwrap() > before.as_str());
    assert_eq!(laptop_row["createdAt"], sessions[1]["createdAt"]);
}

#[tokio::test]
async fn ending_the_phones_session_from_the_laptop_stops_its_requests_and_socket_at_once() {
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let laptop = login_from(&app, "alice", "Laptop").await;
    let phone = login_from(&app, "alice", "Phone").await;
    let mut socket = open(&app, Some(&phone.access)).await;
    start_live(
        &mut socket,
        "1",
        "subscription { itemEvents { itemId } }",
        json!({}),
    )
    .await;

    let body = app
        .gql_as(
            &laptop.access,
            REVOKE_SESSION,
            json!({ "id": sid(&phone.access) }),
        )
        .await;
    assert_eq!(body["data"]["revokeSession"], true, "{body}");
    assert!(is_revoked(&app.gql_as(&phone.access, ME, json!({})).await));
    assert!(is_revoked(&refresh(&app, &phone.refresh).await));
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "TOKEN_REVOKED".to_owned()))
    );
    // The laptop is untouched, and the phone's session is no longer listed.
    let body = app.gql_as(&laptop.access, MY_SESSIONS, json!({})).await;
    let ids: Vec<&Value> = body["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert!(!ids.contains(&&json!(sid(&phone.access))), "{body}");
    assert!(refresh(&app, &laptop.refresh).await["data"]["refresh"].is_object());
}

#[tokio::test]
async fn another_users_an_ended_or_an_unknown_session_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let root = app.admin("root").await;
    for (caller, id) in [
        (&alice, sid(&bob.access)),
        // An ADMIN has no power over other users' sessions here.
        (&root, sid(&bob.access)),
        (&alice, "no-such-session".to_owned()),
    ] {
        let body = app
            .gql_as(&caller.access, REVOKE_SESSION, json!({ "id": id }))
            .await;
        assert_code(&body, "NOT_FOUND");
    }
    assert!(me_works(&app, &bob.access).await);
    let second = login_from(&app, "alice", "Second").await;
    let ended = sid(&second.access);
    app.gql_as(&alice.access, REVOKE_SESSION, json!({ "id": ended }))
        .await;
    let again = app
        .gql_as(&alice.access, REVOKE_SESSION, json!({ "id": ended }))
        .await;
    assert_code(&again, "NOT_FOUND");
}

#[tokio::test]
async fn logout_current_others_and_all() {
    let app = TestApp::spawn().await;
    let first = app.signup("alice").await;
    let second = login_from(&app, "alice", "Second").await;
    let third = login_from(&app, "alice", "Third").await;

    // OTHERS: every session but the caller's.
    let body = app
        .gql_as(&third.access, LOGOUT_SCOPE, json!({ "scope": "OTHERS" }))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    for ended in [&first, &second] {
        assert!(is_revoked(&app.gql_as(&ended.access, ME, json!({})).await));
        assert!(is_revoked(&refresh(&app, &ended.refresh).await));
    }
    assert!(me_works(&app, &third.access).await);

    // CURRENT (the default): the caller's session, its refresh token included.
    let body = app.gql_as(&third.access, LOGOUT_SCOPE, json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert!(is_revoked(&app.gql_as(&third.access, ME, json!({})).await));
    assert!(is_revoked(&refresh(&app, &third.refresh).await));

    // ALL: every token, a token without a session (minted elsewhere) included.
    let fourth = login_from(&app, "alice", "Fourth").await;
    let foreign = mint_without_session(&fourth.user_id);
    assert!(me_works(&app, &foreign).await);
    let body = app
        .gql_as(&fourth.access, LOGOUT_SCOPE, json!({ "scope": "ALL" }))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert!(is_revoked(&app.gql_as(&fourth.access, ME, json!({})).await));
    assert!(is_revoked(&app.gql_as(&foreign, ME, json!({})).await));
    // Logging in again works.
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
}

/// An access token as Flask-JWT-Extended mints it with our secret: no `sid`.
fn mint_without_session(user_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "fresh": false, "iat": now - 1, "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access", "sub": user_id, "nbf": now - 1, "exp": now + 900,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn mint_refresh_without_session(user_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "fresh": false, "iat": now - 1, "jti": uuid::Uuid::new_v4().to_string(),
        "type": "refresh", "sub": user_id, "nbf": now - 1, "exp": now + 86_400,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn logout_with_a_refresh_token_alone_ends_its_session() {
    let app = TestApp::spawn_with(&[("jwt-access-token-expires", "1s")]).await;
    let alice = app.signup("alice").await;
    let other = login_from(&app, "alice", "Other").await;
    // No access token at all.
    let body = app.gql(LOGOUT_SCOPE, json!({ "t": alice.refresh })).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert!(is_revoked(&refresh(&app, &alice.refresh).await));
    // An expired access token beside a refresh token.
    until_expired(&app, &other.access).await;
    let body = app
        .gql_as(&other.access, LOGOUT_SCOPE, json!({ "t": other.refresh }))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert!(is_revoked(&refresh(&app, &other.refresh).await));
    // Neither: a logout needs one or the other.
    assert_code(
        &app.gql(LOGOUT_SCOPE, json!({})).await,
        "AUTHORIZATION_REQUIRED",
    );
}

#[tokio::test]
async fn reuse_of_a_rotated_refresh_token_ends_its_session_only() {
    let app = TestApp::spawn().await;
    let laptop = app.signup("alice").await;
    let phone = login_from(&app, "alice", "Phone").await;
    let rotated = Session::from_payload(&refresh(&app, &laptop.refresh).await["data"]["refresh"])
        .expect("refreshed");
    // The stolen, already rotated token comes back.
    assert!(is_revoked(&refresh(&app, &laptop.refresh).await));
    for token in [&laptop.access, &rotated.access] {
        assert!(is_revoked(&app.gql_as(token, ME, json!({})).await));
    }
    assert!(is_revoked(&refresh(&app, &rotated.refresh).await));
    // The phone's session is untouched.
    assert!(me_works(&app, &phone.access).await);
    assert!(refresh(&app, &phone.refresh).await["data"]["refresh"].is_object());
}

#[tokio::test]
async fn a_refresh_token_revoked_by_logout_answers_revoked_and_revokes_nothing_more() {
    let app = TestApp::spawn().await;
    let old = app.signup("alice").await;
    app.gql_as(&old.access, LOGOUT_SCOPE, json!({ "t": old.refresh }))
        .await;
    let new = app.login("alice", PASSWORD).await;
    let new = Session::from_payload(&new["data"]["login"]).unwrap();
    // The old, logged-out refresh token, presented again and again, changes nothing.
    for _ in 0..3 {
        assert!(is_revoked(&refresh(&app, &old.refresh).await));
    }
    assert!(me_works(&app, &new.access).await);
    assert!(refresh(&app, &new.refresh).await["data"]["refresh"].is_object());
}

#[tokio::test]
async fn within_the_reuse_grace_concurrent_refreshes_get_the_same_successor() {
    let app = TestApp::spawn_with(&[("jwt-refresh-reuse-grace", "10s")]).await;
    let alice = app.signup("alice").await;
    // Three queries fail with TOKEN_EXPIRED at once and a naive client refreshes three
    // times with the same token.
    let answers =
        futures_util::future::join_all((0..3).map(|_| refresh(&app, &alice.refresh))).await;
    let sessions: Vec<Session> = answers
        .iter()
        .map(|body| {
            Session::from_payload(&body["data"]["refresh"]).unwrap_or_else(|| panic!("{body}"))
        })
        .collect();
    let successor = claims(&sessions[0].refresh)["jti"].clone();
    for session in &sessions {
        assert_eq!(claims(&session.refresh)["jti"], successor);
        assert!(me_works(&app, &session.access).await);
    }
    // The successor rotates normally, once.
    let next = refresh(&app, &sessions[0].refresh).await;
    assert!(next["data"]["refresh"].is_object(), "{next}");
}

#[tokio::test]
async fn without_a_grace_concurrent_refreshes_with_one_token_succeed_at_most_once() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let answers =
        futures_util::future::join_all((0..3).map(|_| refresh(&app, &alice.refresh))).await;
    let succeeded = answers
        .iter()
        .filter(|body| body["data"]["refresh"].is_object())
        .count();
    assert!(succeeded <= 1, "{answers:?}");
}

#[tokio::test]
async fn past_max_sessions_per_user_a_login_ends_the_least_recently_used() {
    let app = TestApp::spawn_with(&[("max-sessions-per-user", "2")]).await;
    let first = app.signup("alice").await;
    let second = login_from(&app, "alice", "Second").await;
    // The first is used again: the second is now the least recently used.
    let first = Session::from_payload(&refresh(&app, &first.refresh).await["data"]["refresh"])
        .expect("refreshed");
    let third = login_from(&app, "alice", "Third").await;
    assert!(is_revoked(&app.gql_as(&second.access, ME, json!({})).await));
    assert!(me_works(&app, &first.access).await);
    assert!(me_works(&app, &third.access).await);
    let body = app.gql_as(&third.access, MY_SESSIONS, json!({})).await;
    assert_eq!(body["data"]["mySessions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn tokens_minted_elsewhere_work_and_a_sessionless_refresh_token_starts_a_session() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let access = mint_without_session(&alice.user_id);
    assert!(me_works(&app, &access).await);
    let foreign = mint_refresh_without_session(&alice.user_id);
    let started = Session::from_payload(&refresh(&app, &foreign).await["data"]["refresh"])
        .expect("refreshed");
    let new_sid = sid(&started.access);
    let body = app.gql_as(&started.access, MY_SESSIONS, json!({})).await;
    assert!(
        body["data"]["mySessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == new_sid && s["current"] == true),
        "{body}"
    );
    // Presented again it is reuse: the session it started ends, the signup's does not.
    assert!(is_revoked(&refresh(&app, &foreign).await));
    assert!(is_revoked(
        &app.gql_as(&started.access, ME, json!({})).await
    ));
    assert!(me_works(&app, &alice.access).await);
}

/// A refresh token whose records the pruner deleted (its session ended long ago) names a
/// session the server no longer knows: `TOKEN_REVOKED`, never a new 30-day session as if
/// it had been minted elsewhere.
#[tokio::test]
async fn a_refresh_token_of_a_pruned_session_is_revoked_not_a_new_session() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let phone =
        Session::from_payload(&app.login("alice", PASSWORD).await["data"]["login"]).unwrap();
    let phone_sid = sid(&phone.access);
    {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        for sql in [
            format!("DELETE FROM tokens WHERE session_id = '{phone_sid}'"),
            format!("DELETE FROM sessions WHERE id = '{phone_sid}'"),
        ] {
            db.execute_unprepared(&sql).await.unwrap();
        }
        db.close().await.ok();
    }
    assert!(is_revoked(&refresh(&app, &phone.refresh).await));
    let body = app.gql_as(&alice.access, MY_SESSIONS, json!({})).await;
    assert_eq!(
        body["data"]["mySessions"].as_array().unwrap().len(),
        1,
        "{body}"
    );
}

#[tokio::test]
async fn no_token_from_a_refresh_racing_a_password_change_survives_it() {
    let app = TestApp::spawn_with(&[("login-max-failures", "100")]).await;
    let alice = app.signup("alice").await;
    let mut refresh_tokens = Vec::new();
    for i in 0..8 {
        refresh_tokens.push(
            login_from(&app, "alice", &format!("Device {i}"))
                .await
                .refresh,
        );
    }
    let change = app.gql_as(
        &alice.access,
        "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken refreshToken user { id } } }",
        json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a brand new password" } }),
    );
    let app_ref = &app;
    let refreshes = futures_util::future::join_all(refresh_tokens.iter().enumerate().map(
        |(i, token)| async move {
            tokio::time::sleep(Duration::from_millis(3 * i as u64)).await;
            refresh(app_ref, token).await
        },
    ));
    let (changed, refreshes) = tokio::join!(change, refreshes);
    let new = Session::from_payload(&changed["data"]["changePassword"])
        .unwrap_or_else(|| panic!("{changed}"));
    for body in &refreshes {
        match Session::from_payload(&body["data"]["refresh"]) {
            Some(raced) => {
                assert!(is_revoked(&app.gql_as(&raced.access, ME, json!({})).await));
                assert!(is_revoked(&refresh(&app, &raced.refresh).await));
            }
            None => assert!(is_revoked(body), "{body}"),
        }
    }
    // Refresh tokens revoked by the change revoke nothing more: only its pair is alive.
    assert!(me_works(&app, &new.access).await);
    assert!(refresh(&app, &new.refresh).await["data"]["refresh"].is_object());
}

#[tokio::test]
async fn an_old_revoked_or_rotated_refresh_token_cannot_log_its_owner_out() {
    let app = TestApp::spawn().await;
    let old = app.signup("alice").await;
    // Logged out: its refresh token is revoked.
    app.gql_as(&old.access, LOGOUT_SCOPE, json!({ "t": old.refresh }))
        .await;
    let current = login_from(&app, "alice", "Current").await;
    // Rotated: the previous refresh token of the current session.
    let rotated = Session::from_payload(&refresh(&app, &current.refresh).await["data"]["refresh"])
        .expect("refreshed");
    for stale in [&old.refresh, &current.refresh] {
        for scope in ["CURRENT", "OTHERS", "ALL"] {
            let body = app
                .gql(LOGOUT_SCOPE, json!({ "t": stale, "scope": scope }))
                .await;
            assert_code(&body, "TOKEN_REVOKED");
        }
    }
    assert!(me_works(&app, &rotated.access).await);
    assert!(refresh(&app, &rotated.refresh).await["data"]["refresh"].is_object());
}

#[tokio::test]
async fn a_token_naming_a_session_that_does_not_exist_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "fresh": false, "iat": now - 1, "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access", "sub": alice.user_id, "nbf": now - 1, "exp": now + 900,
        "sid": uuid::Uuid::new_v4().to_string(),
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert!(is_revoked(&app.gql_as(&token, ME, json!({})).await));
    assert!(me_works(&app, &alice.access).await);
}

#[tokio::test]
async fn a_session_started_by_a_sessionless_refresh_token_counts_toward_the_cap() {
    let app = TestApp::spawn_with(&[("max-sessions-per-user", "2")]).await;
    let first = app.signup("alice").await;
    let second = login_from(&app, "alice", "Second").await;
    let started = Session::from_payload(
        &refresh(&app, &mint_refresh_without_session(&first.user_id)).await["data"]["refresh"],
    )
    .expect("refreshed");
    // The least recently used (the signup's) made room.
    assert!(is_revoked(&app.gql_as(&first.access, ME, json!({})).await));
    assert!(me_works(&app, &second.access).await);
    assert!(me_works(&app, &started.access).await);
}

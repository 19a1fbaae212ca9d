//! Rotation, reuse detection, logout, password change and freshness.

use serde_json::json;

use crate::helpers::*;

const CHANGE_PASSWORD: &str = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken refreshToken user { id } } }";
const LOGOUT: &str = "mutation($t: String) { logout(refreshToken: $t) }";

fn claims(token: &str) -> serde_json::Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> serde_json::Value {
    app.gql(REFRESH, json!({ "t": token })).await
}

#[tokio::test]
async fn refresh_returns_a_non_fresh_access_token_and_a_new_refresh_token() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let body = refresh(&app, &session.refresh).await;
    let rotated =
        Session::from_payload(&body["data"]["refresh"]).unwrap_or_else(|| panic!("{body}"));
    assert_ne!(rotated.refresh, session.refresh);
    assert_eq!(claims(&rotated.access)["fresh"], false);
    assert_eq!(claims(&rotated.refresh)["type"], "refresh");
    let me = app.gql_as(&rotated.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice");
    // The earlier access token is still valid: rotation revokes only the refresh token.
    let me = app.gql_as(&session.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice");
}

#[tokio::test]
async fn a_rotated_refresh_token_presented_again_revokes_every_token_of_the_user() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let rotated =
        Session::from_payload(&refresh(&app, &session.refresh).await["data"]["refresh"]).unwrap();
    let reuse = refresh(&app, &session.refresh).await;
    assert_code(&reuse, "TOKEN_REVOKED");
    assert_eq!(message(&reuse), "Token has been revoked");
    for token in [&session.access, &rotated.access] {
        assert_code(&app.gql_as(token, ME, json!({})).await, "TOKEN_REVOKED");
    }
    assert_code(&refresh(&app, &rotated.refresh).await, "TOKEN_REVOKED");
    // Logging in again works.
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn racing_refreshes_with_one_token_rotate_at_most_once() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let (a, b) = tokio::join!(
        refresh(&app, &session.refresh),
        refresh(&app, &session.refresh)
    );
    let successes = [&a, &b].iter().filter(|b| b["errors"].is_null()).count();
    assert!(successes <= 1, "{a} {b}");
}

#[tokio::test]
async fn refresh_without_a_token_in_header_mode_requires_authorization() {
    let app = TestApp::spawn().await;
    let body = app
        .gql("mutation { refresh { accessToken } }", json!({}))
        .await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_the_given_refresh_token() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let other =
        Session::from_payload(&app.login("alice", PASSWORD).await["data"]["login"]).unwrap();
    let body = app
        .gql_as(&session.access, LOGOUT, json!({ "t": session.refresh }))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let me = app.gql_as(&session.access, ME, json!({})).await;
    assert_code(&me, "TOKEN_REVOKED");
    assert_eq!(message(&me), "Token has been revoked");
    assert_code(&refresh(&app, &session.refresh).await, "TOKEN_REVOKED");
    // Another session of the same user is untouched by a plain logout... until reuse
    // detection fires above, which revokes everything: log in afresh to check.
    let fresh =
        Session::from_payload(&app.login("alice", PASSWORD).await["data"]["login"]).unwrap();
    assert_eq!(
        app.gql_as(&fresh.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
    let _ = other;
}

#[tokio::test]
async fn logout_without_refresh_token_leaves_other_sessions_alone() {
    let app = TestApp::spawn().await;
    let first = app.signup("alice").await;
    let second =
        Session::from_payload(&app.login("alice", PASSWORD).await["data"]["login"]).unwrap();
    let body = app.gql_as(&first.access, LOGOUT, json!({})).await;
    assert_eq!(body["data"]["logout"], true);
    assert_code(
        &app.gql_as(&first.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    assert_eq!(
        app.gql_as(&second.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
}

#[tokio::test]
async fn logout_requires_a_token() {
    let app = TestApp::spawn().await;
    let body = app.gql(LOGOUT, json!({})).await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
}

#[tokio::test]
async fn change_password_revokes_every_earlier_token_and_returns_a_fresh_pair() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let other =
        Session::from_payload(&app.login("alice", PASSWORD).await["data"]["login"]).unwrap();
    let body = app
        .gql_as(
            &session.access,
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a brand new password" } }),
        )
        .await;
    let changed =
        Session::from_payload(&body["data"]["changePassword"]).unwrap_or_else(|| panic!("{body}"));
    assert_eq!(claims(&changed.access)["fresh"], true);
    for token in [&session.access, &other.access] {
        assert_code(&app.gql_as(token, ME, json!({})).await, "TOKEN_REVOKED");
    }
    assert_code(&refresh(&app, &other.refresh).await, "TOKEN_REVOKED");
    assert_code(&app.login("alice", PASSWORD).await, "INVALID_CREDENTIALS");
    let login = app.login("alice", "a brand new password").await;
    let fresh = Session::from_payload(&login["data"]["login"]).unwrap_or_else(|| panic!("{login}"));
    assert_eq!(
        app.gql_as(&fresh.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
}

#[tokio::test]
async fn change_password_checks_the_current_password_and_the_new_one() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let wrong = app
        .gql_as(
            &session.access,
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": "not my password", "newPassword": "a brand new password" } }),
        )
        .await;
    assert_code(&wrong, "INVALID_CREDENTIALS");
    let short = app
        .gql_as(
            &session.access,
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "short" } }),
        )
        .await;
    assert_code(&short, "BAD_USER_INPUT");
    assert_eq!(short["errors"][0]["extensions"]["field"], "newPassword");
    // Nothing changed: the old password and token still work.
    assert_eq!(
        app.gql_as(&session.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn change_password_with_a_refreshed_token_needs_a_fresh_one() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let rotated =
        Session::from_payload(&refresh(&app, &session.refresh).await["data"]["refresh"]).unwrap();
    let body = app
        .gql_as(
            &rotated.access,
            CHANGE_PASSWORD,
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a brand new password" } }),
        )
        .await;
    assert_code(&body, "FRESH_TOKEN_REQUIRED");
    assert_eq!(message(&body), "Fresh token required");
}

#[tokio::test]
async fn revocation_is_in_force_at_once_here_and_within_a_second_on_another_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(
        first.database_url.clone(),
        TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
        &[],
    )
    .await;
    let session = first.signup("alice").await;
    assert_eq!(
        second.gql_as(&session.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
    first.gql_as(&session.access, LOGOUT, json!({})).await;
    // In force on the instance that made it before it answered…
    assert_code(
        &first.gql_as(&session.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    // …and on the other within a second.
    within(
        OTHER_INSTANCES,
        "revocation on the other instance",
        || async {
            let body = second.gql_as(&session.access, ME, json!({})).await;
            body["errors"][0]["extensions"]["code"] == "TOKEN_REVOKED"
        },
    )
    .await;
}

#[tokio::test]
async fn no_token_from_a_login_racing_a_password_change_survives_it() {
    // Room for every racing login: this is about the race, not the limit.
    let app = TestApp::spawn_with(&[("login-max-failures", "100")]).await;
    let alice = app.signup("alice").await;
    let change = app.gql_as(
        &alice.access,
        CHANGE_PASSWORD,
        json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a brand new password" } }),
    );
    // Logins keep arriving while the change runs, so some check the old password before
    // it commits and get to issue their tokens only after.
    let app_ref = &app;
    let logins = futures_util::future::join_all((0..30).map(|i| async move {
        tokio::time::sleep(std::time::Duration::from_millis(5 * i)).await;
        app_ref.login("alice", PASSWORD).await
    }));
    let (changed, logins) = tokio::join!(change, logins);
    let new = Session::from_payload(&changed["data"]["changePassword"])
        .unwrap_or_else(|| panic!("{changed}"));
    let raced: Vec<Session> = logins
        .iter()
        .filter_map(|b| Session::from_payload(&b["data"]["login"]))
        .collect();
    // Only access tokens are presented: presenting a revoked refresh token is reuse,
    // which would revoke everything and hide a survivor.
    for session in &raced {
        assert_code(
            &app.gql_as(&session.access, ME, json!({})).await,
            "TOKEN_REVOKED",
        );
    }
    let me = app.gql_as(&new.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice", "{me}");
}

#[tokio::test]
async fn a_rotated_refresh_token_still_within_the_leeway_stays_known_after_pruning() {
    let first =
        TestApp::spawn_with(&[("jwt-refresh-token-expires", "1s"), ("jwt-leeway", "1h")]).await;
    let session = first.signup("alice").await;
    assert!(refresh(&first, &session.refresh).await["data"]["refresh"].is_object());
    // The rotated token is past its `exp`, but within the leeway it is still accepted:
    // its record must survive the pruning a new instance runs when it starts.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let second = TestApp::spawn_on(
        first.database_url.clone(),
        TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
        &[("jwt-refresh-token-expires", "1s"), ("jwt-leeway", "1h")],
    )
    .await;
    settle(&second).await;
    assert_code(&refresh(&second, &session.refresh).await, "TOKEN_REVOKED");
}

//! API.md "Keeping a socket past its token": a `refresh`, `login`, `verifyMfa`,
//! `confirmTotp` or `changePassword` over a WebSocket makes the access token it answers the
//! socket's credential — running subscriptions go on with it, and the socket no longer
//! closes at the old token's `exp` or with its session.

use serde_json::{Value, json};

use crate::helpers::*;

const EVENTS: &str = "subscription { itemEvents { kind item { name } } }";
const REFRESH_OVER: &str =
    "mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken } }";

/// Runs one operation over the socket and answers its result.
async fn over(socket: &mut Socket, id: &str, query: &str, variables: Value) -> Value {
    start(socket, id, query, variables).await;
    let mut results = results(socket, &[id.to_owned()]).await;
    results.remove(id).unwrap()
}

async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = next(socket)
            .await
            .unwrap_or_else(|close| panic!("closed: {close:?}"));
        if message["id"] == "events" && message["type"] == "next" {
            return message["payload"]["data"]["itemEvents"].clone();
        }
    }
}

#[tokio::test]
async fn a_refresh_over_the_socket_keeps_it_and_its_subscription_past_the_old_exp() {
    let app = TestApp::spawn_with(&[("jwt-access-token-expires", "4s")]).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let alice = app.signup("alice").await;
    let mut socket = open(&app, Some(&alice.access)).await;
    start_live(&mut socket, "events", EVENTS, json!({})).await;
    // Halfway through the first token's life, so the new one outlives it by seconds.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let body = over(
        &mut socket,
        "r1",
        REFRESH_OVER,
        json!({ "t": alice.refresh }),
    )
    .await;
    let refreshed = body["data"]["refresh"]["refreshToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    // Past the first token's `exp`: the socket is still open and its subscription runs.
    until_expired(&app, &alice.access).await;
    let admin = Session::from_payload(&app.login("root", PASSWORD).await["data"]["login"]).unwrap();
    app.item(&admin, &store, "Lamp", "3").await;
    assert_eq!(next_event(&mut socket).await["item"]["name"], "Lamp");
    // And again, with the refreshed refresh token: one socket for as long as refreshes go on.
    let body = over(&mut socket, "r2", REFRESH_OVER, json!({ "t": refreshed })).await;
    assert!(body["data"]["refresh"]["accessToken"].is_string(), "{body}");
    let me = over(&mut socket, "me", "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice", "{me}");
}

#[tokio::test]
async fn a_password_change_over_the_socket_rebinds_it_instead_of_closing_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let alice = app.signup("alice").await;
    let mut socket = open(&app, Some(&alice.access)).await;
    start_live(&mut socket, "events", EVENTS, json!({})).await;
    let body = over(
        &mut socket,
        "pw",
        "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken } }",
        json!({ "i": { "currentPassword": PASSWORD, "newPassword": "another good password" } }),
    )
    .await;
    let new_access = body["data"]["changePassword"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    // The old token is dead everywhere else…
    assert_code(
        &app.gql_as(&alice.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    // …but this socket now holds the new one: its subscription keeps running.
    app.item(&admin, &store, "Desk", "9").await;
    assert_eq!(next_event(&mut socket).await["item"]["name"], "Desk");
    let me = over(&mut socket, "me", "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice", "{me}");
    // A logout of the new token's session closes it, as it should.
    app.gql_as(&new_access, "mutation { logout }", json!({}))
        .await;
    loop {
        match next(&mut socket).await {
            Err(close) => {
                assert_eq!(close, (4403, "TOKEN_REVOKED".to_owned()));
                break;
            }
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn a_login_as_another_user_completes_the_running_subscriptions_first() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    app.signup("bob").await;
    let mut socket = open(&app, Some(&alice.access)).await;
    start_live(&mut socket, "events", EVENTS, json!({})).await;
    start(
        &mut socket,
        "login",
        "mutation($i: LoginInput!) { login(input: $i) { user { username } } }",
        json!({ "i": { "username": "bob", "password": PASSWORD } }),
    )
    .await;
    let mut completed = false;
    let mut logged_in = false;
    while !(completed && logged_in) {
        let message = next(&mut socket)
            .await
            .unwrap_or_else(|close| panic!("closed: {close:?}"));
        match (message["id"].as_str(), message["type"].as_str()) {
            (Some("events"), Some("complete")) => completed = true,
            (Some("login"), Some("next")) => {
                assert_eq!(
                    message["payload"]["data"]["login"]["user"]["username"],
                    "bob"
                );
                logged_in = true;
            }
            _ => {}
        }
    }
    let me = over(&mut socket, "me", "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "bob", "{me}");
    // An anonymous socket is signed in by a login over it too.
    let mut anonymous = open(&app, None).await;
    over(
        &mut anonymous,
        "login",
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        json!({ "i": { "username": "alice", "password": PASSWORD } }),
    )
    .await;
    let me = over(&mut anonymous, "me", "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice", "{me}");
}

#[tokio::test]
async fn a_cookie_authenticated_socket_is_never_rebound() {
    let app = TestApp::spawn_with(&[("jwt-token-location", "cookies")]).await;
    app.gql(
        SIGNUP,
        json!({ "input": { "username": "alice", "password": PASSWORD } }),
    )
    .await;
    let response = app
        .post_json(
            &[],
            &json!({ "query": LOGIN, "variables": { "input": { "username": "alice", "password": PASSWORD } } }),
        )
        .await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let mut socket = connect_with(&app, "graphql-transport-ws", &[("cookie", &cookie)]).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let body = over(
        &mut socket,
        "r",
        "mutation { refresh { csrfToken } }",
        json!({}),
    )
    .await;
    assert_code(&body, "BAD_USER_INPUT");
    let me = over(&mut socket, "me", "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice", "{me}");
}

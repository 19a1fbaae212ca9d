//! API.md "Login limiting": an attempt takes its place before the password is checked, so
//! bursts — a batch, one WebSocket, concurrent requests — get no more checks than the
//! limit and the right password gains nothing once it is reached; impossible usernames
//! cost nothing; `changePassword` has its own limit per user; shed hashes do not count.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::*;

const LOGIN_FIELDS: &str = "accessToken";

fn login_operation(username: &str, password: &str) -> Value {
    json!({
        "query": format!("mutation($u: String!, $p: String!) {{ login(input: {{username: $u, password: $p}}) {{ {LOGIN_FIELDS} }} }}"),
        "variables": { "u": username, "p": password },
    })
}

/// `ok`, or the error code of a login response.
fn outcome(body: &Value) -> String {
    if body["data"]["login"].is_object() {
        return "ok".to_owned();
    }
    code(body).to_owned()
}

fn tally<'a>(outcomes: impl IntoIterator<Item = &'a String>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for outcome in outcomes {
        *counts.entry(outcome.as_str()).or_default() += 1;
    }
    counts
}

/// The password was checked for the answers `ok` and `INVALID_CREDENTIALS` only.
fn checked(counts: &HashMap<&str, usize>) -> usize {
    counts.get("ok").copied().unwrap_or(0) + counts.get("INVALID_CREDENTIALS").copied().unwrap_or(0)
}

#[tokio::test]
async fn a_batch_of_guesses_gets_no_more_checks_than_the_limit() {
    let app = TestApp::spawn_with(&[("login-max-failures", "5")]).await;
    app.signup("alice").await;
    // Ten wrong guesses in one POST, run concurrently: five are checked, five refused.
    let batch: Vec<Value> = (0..10)
        .map(|_| login_operation("alice", "wrong guess"))
        .collect();
    let outcomes: Vec<String> = app.batch(&batch).await.iter().map(outcome).collect();
    let counts = tally(&outcomes);
    assert_eq!(counts.get("INVALID_CREDENTIALS"), Some(&5), "{outcomes:?}");
    assert_eq!(counts.get("RATE_LIMITED"), Some(&5), "{outcomes:?}");
    assert_code(&app.login("alice", PASSWORD).await, "RATE_LIMITED");
}

#[tokio::test]
async fn the_right_password_in_a_batch_of_guesses_tells_nothing() {
    let app = TestApp::spawn_with(&[("login-max-failures", "5")]).await;
    app.signup("alice").await;
    // Nine wrong guesses, the right password last: one POST, run concurrently.
    let batch: Vec<Value> = (0..10)
        .map(|i| login_operation("alice", if i == 9 { PASSWORD } else { "wrong guess" }))
        .collect();
    let outcomes: Vec<String> = app.batch(&batch).await.iter().map(outcome).collect();
    let counts = tally(&outcomes);
    // The right password either had one of the places (and logged in) or is refused
    // exactly like a wrong one: its answer tells nothing. Which of the two depends on the
    // order the batch's operations took their places in. A success clears the failures
    // already counted (API.md), so guesses settled after it count anew: the bound of five
    // checks holds for a batch the right password is refused in.
    assert!(
        outcomes[9] == "ok" || outcomes[9] == "RATE_LIMITED",
        "{outcomes:?}"
    );
    if outcomes[9] == "RATE_LIMITED" {
        assert_eq!(checked(&counts), 5, "{outcomes:?}");
        assert_eq!(counts.get("INVALID_CREDENTIALS"), Some(&5), "{outcomes:?}");
        assert_code(&app.login("alice", PASSWORD).await, "RATE_LIMITED");
    }
}

#[tokio::test]
async fn concurrent_guesses_over_one_websocket_cannot_tell_the_right_password() {
    let app = TestApp::spawn_with(&[("login-max-failures", "5")]).await;
    app.signup("alice").await;
    let mut socket = open(&app, None).await;
    let ids: Vec<String> = (0..60).map(|i| i.to_string()).collect();
    for (i, id) in ids.iter().enumerate() {
        let password = if i == 59 { PASSWORD } else { "wrong guess" };
        let operation = login_operation("alice", password);
        start(
            &mut socket,
            id,
            operation["query"].as_str().unwrap(),
            operation["variables"].clone(),
        )
        .await;
    }
    let results = results(&mut socket, &ids).await;
    let outcomes: Vec<String> = ids.iter().map(|id| outcome(&results[id])).collect();
    let counts = tally(&outcomes);
    assert!(checked(&counts) <= 5, "{counts:?}");
    assert!(
        outcomes[59] == "ok" || outcomes[59] == "RATE_LIMITED",
        "{outcomes:?}"
    );
    if outcomes[59] == "RATE_LIMITED" {
        assert_eq!(counts.get("INVALID_CREDENTIALS"), Some(&5), "{counts:?}");
    }
}

#[tokio::test]
async fn concurrent_wrong_guesses_over_http_take_exactly_the_allowed_places() {
    let app = TestApp::spawn_with(&[("login-max-failures", "5")]).await;
    app.signup("alice").await;
    let guesses = (0..20).map(|_| app.login("alice", "wrong guess"));
    let outcomes: Vec<String> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(outcome)
        .collect();
    let counts = tally(&outcomes);
    assert_eq!(counts.get("INVALID_CREDENTIALS"), Some(&5), "{counts:?}");
    assert_eq!(counts.get("RATE_LIMITED"), Some(&15), "{counts:?}");
    let body = app.login("alice", PASSWORD).await;
    assert_code(&body, "RATE_LIMITED");
    // The window is full of failures, not of checks still running: a whole window.
    let retry_after = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{body}");
}

#[tokio::test]
async fn right_logins_within_the_limit_all_succeed_and_give_their_places_back() {
    let app = TestApp::spawn_with(&[("login-max-failures", "3")]).await;
    app.signup("alice").await;
    for _ in 0..3 {
        let logins = (0..3).map(|_| app.login("alice", PASSWORD));
        for body in futures_util::future::join_all(logins).await {
            assert!(body["data"]["login"].is_object(), "{body}");
        }
    }
    assert_eq!(count_rows(&app.database_url, "auth_attempts").await, 0);
    // A success clears the failures before it.
    assert_code(
        &app.login("alice", "wrong guess").await,
        "INVALID_CREDENTIALS",
    );
    assert_code(
        &app.login("alice", "wrong guess").await,
        "INVALID_CREDENTIALS",
    );
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
    for _ in 0..3 {
        assert_code(
            &app.login("alice", "wrong guess").await,
            "INVALID_CREDENTIALS",
        );
    }
    assert_code(&app.login("alice", PASSWORD).await, "RATE_LIMITED");
}

#[tokio::test]
async fn a_username_that_cannot_exist_is_refused_without_counting_or_storing() {
    let app = TestApp::spawn_with(&[("login-max-failures", "1")]).await;
    for username in ["a b", "x", "correct horse battery staple!", &"y".repeat(40)] {
        for _ in 0..3 {
            assert_code(
                &app.login(username, "whatever it is").await,
                "INVALID_CREDENTIALS",
            );
        }
    }
    assert_eq!(count_rows(&app.database_url, "auth_attempts").await, 0);
}

#[tokio::test]
async fn logins_over_a_websocket_count_against_the_upgrade_requests_address() {
    let app =
        TestApp::spawn_with(&[("login-max-failures", "1"), ("trust-proxy-headers", "true")]).await;
    app.signup("alice").await;
    let mut socket = connect_with(
        &app,
        "graphql-transport-ws",
        &[("x-forwarded-for", "203.0.113.7")],
    )
    .await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let guess = login_operation("alice", "wrong guess");
    start(
        &mut socket,
        "1",
        guess["query"].as_str().unwrap(),
        guess["variables"].clone(),
    )
    .await;
    let ids = ["1".to_owned()];
    assert_code(
        &results(&mut socket, &ids).await["1"],
        "INVALID_CREDENTIALS",
    );

    let over_http = |forwarded: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", forwarded)
            .json(&login_operation("alice", PASSWORD))
            .send()
    };
    let same: Value = over_http("203.0.113.7")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_code(&same, "RATE_LIMITED");
    let other: Value = over_http("198.51.100.9")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(other["data"]["login"].is_object(), "{other}");
}

const CHANGE_PASSWORD: &str = "mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { accessToken } }";

#[tokio::test]
async fn wrong_current_passwords_in_change_password_are_limited_per_user() {
    let app = TestApp::spawn_with(&[("login-max-failures", "2")]).await;
    let alice = app.signup("alice").await;
    let change = |current: &'static str| {
        app.gql_as(
            &alice.access,
            CHANGE_PASSWORD,
            json!({ "c": current, "n": "a brand new password" }),
        )
    };
    assert_code(&change("wrong guess").await, "INVALID_CREDENTIALS");
    assert_code(&change("wrong guess").await, "INVALID_CREDENTIALS");
    assert_code(&change(PASSWORD).await, "RATE_LIMITED");
    // Its own counter: logins of the same user are not affected, nor do they affect it.
    assert!(app.login("alice", PASSWORD).await["data"]["login"].is_object());
    assert_code(&change(PASSWORD).await, "RATE_LIMITED");
}

#[tokio::test]
async fn a_login_storm_beyond_the_hash_queue_is_shed_at_once_and_not_counted() {
    let app =
        TestApp::spawn_with(&[("password-hash-queue", "2"), ("login-max-failures", "1000")]).await;
    app.signup("alice").await;
    let health = {
        let client = app.client.clone();
        let url = app.url("/healthz");
        tokio::spawn(async move {
            let mut answers = 0;
            for _ in 0..20 {
                let status = client.get(&url).send().await.unwrap().status();
                assert_eq!(status, 200);
                answers += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            answers
        })
    };
    let storm = (0..40).map(|_| {
        app.client
            .post(app.url("/graphql"))
            .json(&login_operation("alice", "wrong guess"))
            .send()
    });
    let mut outcomes = Vec::new();
    for response in futures_util::future::join_all(storm).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        if code(&body) == "RATE_LIMITED" {
            assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");
        }
        outcomes.push(outcome(&body));
    }
    assert_eq!(health.await.unwrap(), 20);
    let counts = tally(&outcomes);
    let shed = counts.get("RATE_LIMITED").copied().unwrap_or(0);
    assert!(shed > 0, "{counts:?}");
    // Only checked attempts are counted.
    assert_eq!(
        count_rows(&app.database_url, "auth_attempts").await as usize,
        counts.get("INVALID_CREDENTIALS").copied().unwrap_or(0)
    );
}

/// NIST SP 800-63B §5.2.2: many addresses together get at most
/// `LOGIN_MAX_FAILURES_PER_ACCOUNT` password checks on one account per window — sent
/// concurrently from 20 addresses too — and past it every address, a new one with the
/// right password included, is `RATE_LIMITED`; other accounts are untouched.
#[tokio::test]
async fn many_addresses_together_get_no_more_checks_than_the_per_account_limit() {
    let app = TestApp::spawn_with(&[
        ("login-max-failures", "5"),
        ("login-max-failures-per-account", "12"),
        ("trust-proxy-headers", "true"),
    ])
    .await;
    app.signup("alice").await;
    app.signup("bob").await;
    let login_from = |address: String, username: &'static str, password: &'static str| {
        let request = app
            .client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", address)
            .json(&login_operation(username, password));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let guesses = (0..20).flat_map(|address| {
        (0..3).map(move |_| (format!("10.0.0.{address}"), "alice", "wrong guess"))
    });
    let answers = futures_util::future::join_all(
        guesses.map(|(address, user, password)| login_from(address, user, password)),
    )
    .await;
    let outcomes: Vec<String> = answers.iter().map(outcome).collect();
    let counts = tally(&outcomes);
    assert_eq!(checked(&counts), 12, "{counts:?}");
    assert_eq!(counts.get("RATE_LIMITED"), Some(&48), "{counts:?}");
    let fresh = login_from("10.9.9.9".into(), "alice", PASSWORD).await;
    assert_code(&fresh, "RATE_LIMITED");
    assert!(
        fresh["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let bob = login_from("10.0.0.1".into(), "bob", PASSWORD).await;
    assert_eq!(outcome(&bob), "ok", "{bob}");
}

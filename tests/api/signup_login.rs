use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn signup_returns_a_fresh_token_pair_and_the_user() {
    let app = TestApp::spawn().await;
    let body = app
        .gql(
            SIGNUP,
            json!({ "input": { "username": "Alice", "password": PASSWORD } }),
        )
        .await;
    let payload = &body["data"]["signup"];
    assert_eq!(payload["tokenType"], "Bearer", "{body}");
    assert_eq!(payload["expiresIn"], 900);
    assert_eq!(payload["user"]["username"], "Alice");
    assert_eq!(payload["user"]["role"], "USER");
    let session = Session::from_payload(payload).unwrap();
    let me = app.gql_as(&session.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "Alice", "{me}");
}

#[tokio::test]
async fn signup_with_a_taken_username_in_another_case_returns_username_taken() {
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let body = app
        .gql(
            SIGNUP,
            json!({ "input": { "username": "ALICE", "password": PASSWORD } }),
        )
        .await;
    assert_code(&body, "USERNAME_TAKEN");
    assert_eq!(count_rows(&app.database_url, "users").await, 1);
}

#[tokio::test]
async fn signup_with_invalid_input_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({ "username": "ab", "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "username": "a".repeat(33), "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "username": "bad name", "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "username": "b\u{e9}b", "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "username": "bob", "password": "short" }),
            "password",
        ),
        (
            json!({ "username": "bob", "password": "p".repeat(129) }),
            "password",
        ),
        (
            json!({ "username": "bob", "password": PASSWORD, "email": "nope" }),
            "email",
        ),
        (
            json!({ "username": "bob", "password": PASSWORD, "email": "a@b" }),
            "email",
        ),
        (
            json!({ "username": "bob", "password": PASSWORD, "email": "a@@b.co" }),
            "email",
        ),
    ];
    for (input, field) in cases {
        let body = app.gql(SIGNUP, json!({ "input": input })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input} → {body}"
        );
        assert!(body["data"].is_null(), "{body}");
    }
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
    assert_eq!(count_rows(&app.database_url, "tokens").await, 0);
}

#[tokio::test]
async fn signup_with_a_taken_email_in_another_case_is_refused_on_email() {
    let app = TestApp::spawn().await;
    app.signup_with("alice", PASSWORD, Some("Alice@Example.com"))
        .await;
    let body = app
        .gql(
            SIGNUP,
            json!({ "input": { "username": "bob", "password": PASSWORD, "email": " alice@example.COM " } }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    assert_eq!(count_rows(&app.database_url, "users").await, 1);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_with_owasp_parameters() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT password_hash FROM users",
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "password_hash").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn login_ignores_username_case_and_returns_a_fresh_pair() {
    let app = TestApp::spawn().await;
    app.signup("Alice").await;
    let body = app.login("aLICE", PASSWORD).await;
    let session = Session::from_payload(&body["data"]["login"]).unwrap_or_else(|| panic!("{body}"));
    let me = app.gql_as(&session.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "Alice");
}

#[tokio::test]
async fn login_with_wrong_password_or_unknown_user_returns_the_same_invalid_credentials() {
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let wrong = app.login("alice", "wrong password").await;
    let unknown = app.login("nobody", "wrong password").await;
    assert_code(&wrong, "INVALID_CREDENTIALS");
    assert_code(&unknown, "INVALID_CREDENTIALS");
    assert_eq!(message(&wrong), message(&unknown));
    assert!(wrong["data"].is_null());
}

#[tokio::test]
async fn login_after_too_many_failures_is_rate_limited_even_with_the_right_password() {
    let app =
        TestApp::spawn_with(&[("login-max-failures", "3"), ("login-failure-window", "10m")]).await;
    app.signup("alice").await;
    for _ in 0..3 {
        assert_code(
            &app.login("ALICE", "wrong password").await,
            "INVALID_CREDENTIALS",
        );
    }
    let body = app.login("alice", PASSWORD).await;
    assert_code(&body, "RATE_LIMITED");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"]
        .as_i64()
        .unwrap();
    assert!((1..=600).contains(&retry_after), "{body}");
    // Another username from the same address is not affected.
    app.signup("bob").await;
    assert!(app.login("bob", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn login_limit_holds_across_instances_on_one_database() {
    let first = TestApp::spawn_with(&[("login-max-failures", "2")]).await;
    let (url, db) = (first.database_url.clone(), fresh_placeholder());
    let second = TestApp::spawn_on(url, db, &[("login-max-failures", "2")]).await;
    first.signup("alice").await;
    assert_code(
        &first.login("alice", "wrong password").await,
        "INVALID_CREDENTIALS",
    );
    assert_code(
        &second.login("alice", "wrong password").await,
        "INVALID_CREDENTIALS",
    );
    assert_code(&first.login("alice", PASSWORD).await, "RATE_LIMITED");
    assert_code(&second.login("alice", PASSWORD).await, "RATE_LIMITED");
}

/// A database handle that owns nothing (the first app owns and drops the database).
fn fresh_placeholder() -> TestDatabase {
    TestDatabase::Sqlite(tempfile::tempdir().unwrap())
}

#[tokio::test]
async fn two_hundred_concurrent_signups_create_two_hundred_users_without_errors() {
    // Room for every hash to wait: this is about concurrent writes, not load shedding.
    let app = TestApp::spawn_with(&[("password-hash-queue", "256")]).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = app.client.clone();
        let url = app.url("/graphql");
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({ "query": SIGNUP, "variables": { "input": { "username": format!("user{i}"), "password": PASSWORD } } }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200);
        assert!(body["errors"].is_null(), "{body}");
    }
    assert_eq!(count_rows(&app.database_url, "users").await, 200);
}

#[tokio::test]
async fn racing_signups_of_one_name_in_different_cases_yield_exactly_one_user() {
    let app = TestApp::spawn().await;
    let names = [
        "racer", "RACER", "Racer", "rAcEr", "racER", "RaceR", "RACer", "raCER",
    ];
    let mut tasks = Vec::new();
    for name in names {
        let client = app.client.clone();
        let url = app.url("/graphql");
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({ "query": SIGNUP, "variables": { "input": { "username": name, "password": PASSWORD } } }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        let body = task.await.unwrap();
        if body["errors"].is_null() {
            created += 1;
        } else {
            assert_code(&body, "USERNAME_TAKEN");
        }
    }
    assert_eq!(created, 1);
    assert_eq!(count_rows(&app.database_url, "users").await, 1);
}

async fn login_from(app: &TestApp, forwarded_for: &str, password: &str) -> serde_json::Value {
    app.post_json(&[("x-forwarded-for", forwarded_for)], &json!({ "query": LOGIN, "variables": { "input": { "username": "alice", "password": password } } })).await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn forwarded_for_counts_from_the_right_only_when_trusted() {
    let trusted =
        TestApp::spawn_with(&[("login-max-failures", "1"), ("trust-proxy-headers", "true")]).await;
    trusted.signup("alice").await;
    assert_code(
        &login_from(&trusted, "203.0.113.7", "wrong password").await,
        "INVALID_CREDENTIALS",
    );
    assert_code(
        &login_from(&trusted, "203.0.113.7", PASSWORD).await,
        "RATE_LIMITED",
    );
    // The client writes the left end itself; our proxy appended the right end, which is
    // the address that counts: a made-up entry per request escapes nothing.
    assert_code(
        &login_from(&trusted, "198.51.100.9, 203.0.113.7", PASSWORD).await,
        "RATE_LIMITED",
    );
    // Another client behind the same proxy is another address.
    let other = login_from(&trusted, "203.0.113.7, 198.51.100.9", PASSWORD).await;
    assert!(other["data"]["login"].is_object(), "{other}");

    let untrusted = TestApp::spawn_with(&[("login-max-failures", "1")]).await;
    untrusted.signup("alice").await;
    assert_code(
        &login_from(&untrusted, "203.0.113.7", "wrong password").await,
        "INVALID_CREDENTIALS",
    );
    // A forged header does not escape the limit: the peer address is what counts.
    assert_code(
        &login_from(&untrusted, "198.51.100.9", PASSWORD).await,
        "RATE_LIMITED",
    );
}

#[tokio::test]
async fn with_two_trusted_hops_the_client_is_the_second_entry_from_the_right() {
    let app = TestApp::spawn_with(&[
        ("login-max-failures", "1"),
        ("trust-proxy-headers", "true"),
        ("trusted-proxy-hops", "2"),
    ])
    .await;
    app.signup("alice").await;
    // client, then the first proxy of ours (the second one is the peer).
    assert_code(
        &login_from(&app, "forged, 203.0.113.7, 10.0.0.2", "wrong password").await,
        "INVALID_CREDENTIALS",
    );
    assert_code(
        &login_from(&app, "203.0.113.7, 10.0.0.3", PASSWORD).await,
        "RATE_LIMITED",
    );
    // Fewer entries than hops: the peer address, which the first failure did not touch.
    let short = login_from(&app, "10.0.0.2", PASSWORD).await;
    assert!(short["data"]["login"].is_object(), "{short}");
}

/// A login's database work is fixed (`BEGIN`/`COMMIT` are not counted): on SQLite the
/// limiter's place (one statement), the lookup before the hash, and the login transaction
/// (the user's row, clearing the key's failures, the sessions past the limit, the session,
/// its refresh token, the event); PostgreSQL takes the place under an advisory lock, in a
/// transaction that also counts the places taken.
#[tokio::test]
async fn a_login_costs_a_fixed_number_of_statements() {
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    // The start's pruning runs in the background: not a login's work.
    settle(&app).await;
    let mut costs = Vec::new();
    for _ in 0..3 {
        let before = app.statement_count();
        let body = app.login("alice", PASSWORD).await;
        assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
        costs.push(app.statement_count() - before);
    }
    let expected = if app.database_url.starts_with("postgres") {
        10
    } else {
        8
    };
    assert_eq!(costs, [expected; 3], "statements per login");
}

//! API.md Operations, the audit trail: every auth event with whom it concerns, who acted
//! and from where, in the transaction of its change; `auditEvents` for admins only, newest
//! first, filtered and paged; `LOGIN_RATE_LIMITED` once per username, address and window;
//! no username stored for logins of unknown users; retention.

use serde_json::{Value, json};

use crate::helpers::*;

const EVENTS: &str = "query($first: Int, $after: String, $userId: ID, $kind: AuthEventKind) {
  auditEvents(first: $first, after: $after, userId: $userId, kind: $kind) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor }
    nodes { id kind at userId actorId username sessionId ipAddress userAgent requestId }
  }
}";

const LOGOUT: &str =
    "mutation($t: String, $scope: LogoutScope) { logout(refreshToken: $t, scope: $scope) }";
const CHANGE_PASSWORD: &str = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken refreshToken user { id } } }";
const SESSIONS: &str = "{ mySessions { id current } }";
const AGENT: &str = "audit-test/1.0";

/// Every event the filters match, newest first, read by `admin` one page at a time.
async fn events(app: &TestApp, admin: &Session, filter: Value) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut variables = filter.clone();
        variables["first"] = json!(100);
        variables["after"] = after;
        let body = app.gql_as(&admin.access, EVENTS, variables).await;
        let page = &body["data"]["auditEvents"];
        let nodes = page["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("no events in {body}"));
        all.extend(nodes.iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            return all;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// A GraphQL POST with a user agent and a request id of our own.
async fn gql_from(
    app: &TestApp,
    token: Option<&str>,
    request_id: &str,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("user-agent", AGENT)
        .header("x-request-id", request_id)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn credentials(username: &str, password: &str) -> Value {
    json!({ "input": { "username": username, "password": password } })
}

#[tokio::test]
async fn every_auth_event_says_whom_it_concerns_who_acted_and_from_where() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;

    let signup = gql_from(
        &app,
        None,
        "req-signup",
        SIGNUP,
        credentials("alice", PASSWORD),
    )
    .await;
    let alice = Session::from_payload(&signup["data"]["signup"]).expect("signed up");
    let login = gql_from(
        &app,
        None,
        "req-login",
        LOGIN,
        credentials("Alice", PASSWORD),
    )
    .await;
    let second = Session::from_payload(&login["data"]["login"]).expect("logged in");
    let wrong = gql_from(
        &app,
        None,
        "req-wrong",
        LOGIN,
        credentials("alice", "wrong guess"),
    )
    .await;
    assert_code(&wrong, "INVALID_CREDENTIALS");
    // Neither a username that names nobody nor one that cannot exist is stored.
    let typo = gql_from(
        &app,
        None,
        "req-typo",
        LOGIN,
        credentials("correct horse", PASSWORD),
    )
    .await;
    assert_code(&typo, "INVALID_CREDENTIALS");
    let unknown = gql_from(
        &app,
        None,
        "req-ghost",
        LOGIN,
        credentials("ghost", PASSWORD),
    )
    .await;
    assert_code(&unknown, "INVALID_CREDENTIALS");

    let refreshed = gql_from(
        &app,
        None,
        "req-refresh",
        REFRESH,
        json!({ "t": second.refresh }),
    )
    .await;
    assert!(refreshed["data"]["refresh"].is_object(), "{refreshed}");
    let reused = gql_from(
        &app,
        None,
        "req-reuse",
        REFRESH,
        json!({ "t": second.refresh }),
    )
    .await;
    assert_code(&reused, "TOKEN_REVOKED");

    let third = app.login("alice", PASSWORD).await;
    assert!(third["data"]["login"].is_object(), "{third}");
    let sessions = app.gql_as(&alice.access, SESSIONS, json!({})).await;
    let third_sid = sessions["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .map(|s| s["id"].clone())
        .expect("the third login's session");
    let revoked = gql_from(
        &app,
        Some(&alice.access),
        "req-revoke",
        "mutation($id: ID!) { revokeSession(id: $id) }",
        json!({ "id": third_sid }),
    )
    .await;
    assert_eq!(revoked["data"]["revokeSession"], true, "{revoked}");

    let changed = gql_from(
        &app,
        Some(&alice.access),
        "req-password",
        CHANGE_PASSWORD,
        json!({ "input": { "currentPassword": PASSWORD, "newPassword": "another long password" } }),
    )
    .await;
    let alice = Session::from_payload(&changed["data"]["changePassword"]).expect("changed");
    let logout = gql_from(
        &app,
        Some(&alice.access),
        "req-logout",
        LOGOUT,
        json!({ "scope": "ALL" }),
    )
    .await;
    assert_eq!(logout["data"]["logout"], true, "{logout}");

    let promoted = gql_from(
        &app,
        Some(&admin.access),
        "req-role",
        "mutation($id: ID!) { setUserRole(userId: $id, role: ADMIN) { role } }",
        json!({ "id": alice.user_id }),
    )
    .await;
    assert_eq!(
        promoted["data"]["setUserRole"]["role"], "ADMIN",
        "{promoted}"
    );
    let deleted = gql_from(
        &app,
        Some(&admin.access),
        "req-delete",
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({ "id": alice.user_id }),
    )
    .await;
    assert_eq!(deleted["data"]["deleteUser"], alice.user_id, "{deleted}");

    // The events outlive the user they name, newest first.
    let about_alice = events(&app, &admin, json!({ "userId": alice.user_id })).await;
    assert_eq!(
        kinds(&about_alice),
        [
            "USER_DELETED",
            "ROLE_CHANGED",
            "LOGOUT",
            "PASSWORD_CHANGED",
            "SESSION_REVOKED",
            "LOGIN",
            "REFRESH_REUSE_DETECTED",
            "REFRESH",
            "LOGIN_FAILED",
            "LOGIN",
            "SIGNUP",
        ]
    );
    let by_request = |id: &str| {
        about_alice
            .iter()
            .find(|e| e["requestId"] == id)
            .unwrap_or_else(|| panic!("no event of {id} in {about_alice:?}"))
            .clone()
    };
    let alice_id = json!(alice.user_id);
    let admin_id = json!(admin.user_id);
    for event in &about_alice {
        assert_eq!(event["userId"], alice_id, "{event}");
        assert_eq!(event["username"], "alice", "{event}");
    }
    let signup_event = by_request("req-signup");
    assert_eq!(signup_event["kind"], "SIGNUP");
    assert_eq!(signup_event["actorId"], Value::Null, "signup is anonymous");
    assert_eq!(signup_event["ipAddress"], "127.0.0.1");
    assert_eq!(signup_event["userAgent"], AGENT);
    assert!(signup_event["sessionId"].is_string());
    assert!(signup_event["at"].is_string());

    let login_event = by_request("req-login");
    assert_eq!(login_event["actorId"], alice_id);
    let failed = by_request("req-wrong");
    assert_eq!(
        (
            failed["kind"].as_str(),
            &failed["actorId"],
            &failed["sessionId"]
        ),
        (Some("LOGIN_FAILED"), &Value::Null, &Value::Null)
    );
    // The refresh stays in the login's session; the reuse ends that session, and whoever
    // presented the rotated token proved nothing.
    let refresh_event = by_request("req-refresh");
    assert_eq!(refresh_event["sessionId"], login_event["sessionId"]);
    assert_eq!(refresh_event["actorId"], alice_id);
    let reuse = by_request("req-reuse");
    assert_eq!(reuse["sessionId"], login_event["sessionId"]);
    assert_eq!(reuse["actorId"], Value::Null);
    let revocation = by_request("req-revoke");
    assert_eq!(revocation["sessionId"], third_sid, "the ended session");
    assert_eq!(revocation["actorId"], alice_id);
    let password = by_request("req-password");
    assert!(password["sessionId"].is_string());
    assert_ne!(
        password["sessionId"], signup_event["sessionId"],
        "a new session"
    );
    assert_eq!(by_request("req-logout")["actorId"], alice_id);
    // An admin's acts name the admin as actor and the target as user.
    assert_eq!(by_request("req-role")["actorId"], admin_id);
    assert_eq!(by_request("req-delete")["actorId"], admin_id);

    // Failed logins of usernames that name nobody: no user, no username.
    let anonymous_failures: Vec<Value> = events(&app, &admin, json!({ "kind": "LOGIN_FAILED" }))
        .await
        .into_iter()
        .filter(|e| e["userId"].is_null())
        .collect();
    assert_eq!(anonymous_failures.len(), 1, "{anonymous_failures:?}");
    assert_eq!(anonymous_failures[0]["requestId"], "req-ghost");
    assert_eq!(anonymous_failures[0]["username"], Value::Null);
    assert_eq!(anonymous_failures[0]["ipAddress"], "127.0.0.1");
    // A username that cannot exist (the password typed into the username box) costs
    // nothing and is nowhere in the trail.
    let everything = events(&app, &admin, json!({})).await;
    assert!(everything.iter().all(|e| e["requestId"] != "req-typo"));
    assert!(
        !serde_json::to_string(&everything)
            .unwrap()
            .contains("correct horse"),
        "{everything:?}"
    );
    // The command line's account: an anonymous signup from no address.
    let root_signup = everything
        .iter()
        .find(|e| e["kind"] == "SIGNUP" && e["userId"] == admin_id)
        .expect("the admin's signup");
    assert_eq!(
        (
            &root_signup["ipAddress"],
            &root_signup["sessionId"],
            &root_signup["requestId"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );
}

#[tokio::test]
async fn logins_over_a_websocket_carry_the_upgrade_requests_address_agent_and_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    app.signup("alice").await;
    let mut socket = connect_with(
        &app,
        "graphql-transport-ws",
        &[("user-agent", AGENT), ("x-request-id", "req-socket")],
    )
    .await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    start(&mut socket, "1", LOGIN, credentials("alice", PASSWORD)).await;
    let answers = results(&mut socket, &["1".to_owned()]).await;
    assert!(answers["1"]["data"]["login"].is_object(), "{answers:?}");
    let logins = events(&app, &admin, json!({ "kind": "LOGIN" })).await;
    let login = logins
        .iter()
        .find(|e| e["username"] == "alice")
        .expect("alice's login");
    assert_eq!(login["requestId"], "req-socket");
    assert_eq!(login["userAgent"], AGENT);
    assert_eq!(login["ipAddress"], "127.0.0.1");
}

#[tokio::test]
async fn only_admins_read_the_trail() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    assert_code(&app.gql(EVENTS, json!({})).await, "AUTHORIZATION_REQUIRED");
    let body = app.gql_as(&alice.access, EVENTS, json!({})).await;
    assert_code(&body, "FORBIDDEN");
    assert_eq!(body["data"], Value::Null, "{body}");
}

#[tokio::test]
async fn the_trail_pages_newest_first_and_filters_by_user_and_kind() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    for _ in 0..3 {
        app.login("alice", PASSWORD).await;
        app.login("bob", "wrong guess").await;
    }
    let all = events(&app, &admin, json!({})).await;
    // root: SIGNUP, LOGIN; alice: SIGNUP, 3 LOGIN; bob: SIGNUP, 3 LOGIN_FAILED.
    assert_eq!(all.len(), 10, "{all:?}");
    let key = |e: &Value| {
        (
            chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap(),
            e["id"].as_str().unwrap().parse::<i64>().unwrap(),
        )
    };
    for pair in all.windows(2) {
        assert!(key(&pair[0]) > key(&pair[1]), "not newest first: {pair:?}");
    }
    // Pages of 3 put together are the whole trail, each once.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .gql_as(&admin.access, EVENTS, json!({ "first": 3, "after": after }))
            .await;
        let page = &body["data"]["auditEvents"];
        assert_eq!(page["totalCount"], 10, "{body}");
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        paged.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(paged, all);

    let alice_logins = events(
        &app,
        &admin,
        json!({ "userId": alice.user_id, "kind": "LOGIN" }),
    )
    .await;
    assert_eq!(alice_logins.len(), 3);
    let bob_events = events(&app, &admin, json!({ "userId": bob.user_id })).await;
    assert_eq!(
        kinds(&bob_events),
        ["LOGIN_FAILED", "LOGIN_FAILED", "LOGIN_FAILED", "SIGNUP"]
    );
    let body = app
        .gql_as(&admin.access, EVENTS, json!({ "kind": "LOGIN_FAILED" }))
        .await;
    assert_eq!(body["data"]["auditEvents"]["totalCount"], 3, "{body}");
    // A malformed user id names nobody; a cursor of another list is no cursor here.
    let body = app
        .gql_as(&admin.access, EVENTS, json!({ "userId": "not-a-number" }))
        .await;
    assert_eq!(body["data"]["auditEvents"]["totalCount"], 0, "{body}");
    let users = app
        .gql_as(
            &admin.access,
            "{ users(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let user_cursor = users["data"]["users"]["pageInfo"]["endCursor"].clone();
    let body = app
        .gql_as(&admin.access, EVENTS, json!({ "after": user_cursor }))
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    // Never answered from a cache: the next login shows at once.
    app.login("alice", PASSWORD).await;
    let body = app.gql_as(&admin.access, EVENTS, json!({})).await;
    assert_eq!(body["data"]["auditEvents"]["totalCount"], 11, "{body}");
    assert_eq!(
        body["data"]["auditEvents"]["nodes"][0]["kind"], "LOGIN",
        "{body}"
    );
}

/// Counts events of one kind straight from the table.
async fn count_kind(app: &TestApp, kind: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM auth_events WHERE kind = $1"
        }
        _ => "SELECT COUNT(*) AS n FROM auth_events WHERE kind = ?",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [kind.into()]))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    db.close().await.ok();
    n
}

fn login_operation(username: &str, password: &str) -> Value {
    json!({ "query": LOGIN, "variables": credentials(username, password) })
}

/// `n` concurrent login requests; their error codes (`ok` for a success).
async fn storm(app: &TestApp, username: &str, n: usize) -> Vec<String> {
    let requests = (0..n).map(|_| {
        app.client
            .post(app.url("/graphql"))
            .json(&login_operation(username, "wrong guess"))
            .send()
    });
    let mut outcomes = Vec::new();
    for response in futures_util::future::join_all(requests).await {
        let body: Value = response.unwrap().json().await.unwrap();
        outcomes.push(match body["errors"][0]["extensions"]["code"].as_str() {
            Some(code) => code.to_owned(),
            None => "ok".to_owned(),
        });
    }
    outcomes
}

#[tokio::test]
async fn a_credential_stuffing_burst_writes_one_limited_event_per_username_and_address() {
    let app = TestApp::spawn_with(&[("login-max-failures", "3")]).await;
    let admin = app.admin("root").await;
    app.signup("bob").await;
    let before = count_rows(&app.database_url, "auth_events").await;
    // Concurrent guesses and a batch, for a user that exists and one that does not.
    let outcomes = storm(&app, "bob", 25).await;
    let refused = outcomes.iter().filter(|o| *o == "RATE_LIMITED").count();
    assert_eq!(refused, 22, "{outcomes:?}");
    let batch: Vec<Value> = (0..10)
        .map(|_| login_operation("bob", "wrong guess"))
        .collect();
    let answers = app.batch(&batch).await;
    assert!(
        answers.iter().all(|a| code(a) == "RATE_LIMITED"),
        "{answers:?}"
    );
    storm(&app, "ghost", 25).await;
    assert_eq!(count_kind(&app, "LOGIN_FAILED").await, 6);
    assert_eq!(count_kind(&app, "LOGIN_RATE_LIMITED").await, 2);
    let written = count_rows(&app.database_url, "auth_events").await - before;
    assert_eq!(
        written, 8,
        "one row per checked attempt, one per limited key"
    );

    let limited = events(&app, &admin, json!({ "kind": "LOGIN_RATE_LIMITED" })).await;
    let usernames: Vec<&Value> = limited.iter().map(|e| &e["username"]).collect();
    assert!(usernames.contains(&&json!("bob")), "{limited:?}");
    assert!(
        usernames.contains(&&Value::Null),
        "ghost names nobody: {limited:?}"
    );
    for event in &limited {
        assert_eq!(event["ipAddress"], "127.0.0.1");
    }
}

#[tokio::test]
async fn attempts_shed_by_the_hash_queue_leave_no_event() {
    let app =
        TestApp::spawn_with(&[("password-hash-queue", "1"), ("login-max-failures", "1000")]).await;
    app.signup("alice").await;
    let outcomes = storm(&app, "alice", 30).await;
    let checked = outcomes
        .iter()
        .filter(|o| *o == "INVALID_CREDENTIALS")
        .count();
    let shed = outcomes.iter().filter(|o| *o == "RATE_LIMITED").count();
    assert!(shed > 0, "{outcomes:?}");
    assert_eq!(count_kind(&app, "LOGIN_FAILED").await as usize, checked);
    assert_eq!(count_kind(&app, "LOGIN_RATE_LIMITED").await, 0);
}

#[tokio::test]
async fn a_change_whose_event_cannot_be_written_does_not_happen() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let users_before = count_rows(&app.database_url, "users").await;
    {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        db.execute_unprepared("DROP TABLE auth_events")
            .await
            .unwrap();
        db.close().await.ok();
    }
    // Each change fails with its event, and leaves nothing behind.
    let body = app.gql(SIGNUP, credentials("carol", PASSWORD)).await;
    assert_code(&body, "INTERNAL_SERVER_ERROR");
    assert_eq!(count_rows(&app.database_url, "users").await, users_before);
    let body = app.gql_as(&alice.access, LOGOUT, json!({})).await;
    assert_code(&body, "INTERNAL_SERVER_ERROR");
    assert_eq!(
        app.gql_as(&alice.access, ME, json!({})).await["data"]["me"]["username"],
        "alice",
        "the session was not ended"
    );
    let body = app.gql(REFRESH, json!({ "t": alice.refresh })).await;
    assert_code(&body, "INTERNAL_SERVER_ERROR");
    let sessions = count_rows(&app.database_url, "sessions").await;
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn refused_changes_write_no_event() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app.signup("alice").await;
    let before = events(&app, &admin, json!({})).await.len();
    // Taken username, unknown user, revoked token, unknown session.
    assert_code(
        &app.gql(SIGNUP, credentials("ALICE", PASSWORD)).await,
        "USERNAME_TAKEN",
    );
    let body = app
        .gql_as(
            &admin.access,
            "mutation { setUserRole(userId: \"999\", role: ADMIN) { id } }",
            json!({}),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    let body = app
        .gql_as(
            &alice.access,
            "mutation { revokeSession(id: \"nope\") }",
            json!({}),
        )
        .await;
    assert_code(&body, "NOT_FOUND");
    assert_eq!(events(&app, &admin, json!({})).await.len(), before);
    // A refresh token revoked by a logout: one LOGOUT, then nothing for the refused refresh.
    app.gql_as(&alice.access, LOGOUT, json!({})).await;
    assert_code(
        &app.gql(REFRESH, json!({ "t": alice.refresh })).await,
        "TOKEN_REVOKED",
    );
    let after = events(&app, &admin, json!({})).await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[0]["kind"], "LOGOUT");
}

#[tokio::test]
async fn events_older_than_the_retention_are_deleted() {
    let first = TestApp::spawn().await;
    first.signup("alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let second = TestApp::spawn_on(
        first.database_url.clone(),
        TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
        &[("audit-retention", "1s")],
    )
    .await;
    let admin = second.admin("root").await;
    within(WAIT, "alice's signup pruned at start", || async {
        let all = events(&second, &admin, json!({})).await;
        all.iter().all(|e| e["username"] != "alice")
    })
    .await;
    // What is younger than the retention stays.
    let kept = events(&second, &admin, json!({})).await;
    assert!(kinds(&kept).contains(&"LOGIN"), "{kept:?}");
}

#[tokio::test]
async fn another_address_or_a_new_window_is_audited_anew() {
    let app = TestApp::spawn_with(&[
        ("login-max-failures", "1"),
        ("login-failure-window", "2s"),
        ("trust-proxy-headers", "true"),
    ])
    .await;
    app.signup("bob").await;
    let attempt = |address: &'static str| {
        let request = app
            .client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", address)
            .json(&login_operation("bob", "wrong guess"))
            .send();
        async move {
            let body: Value = request.await.unwrap().json().await.unwrap();
            code(&body).to_owned()
        }
    };
    let from_a = [
        attempt("10.0.0.1").await,
        attempt("10.0.0.1").await,
        attempt("10.0.0.1").await,
    ];
    assert_eq!(
        from_a,
        ["INVALID_CREDENTIALS", "RATE_LIMITED", "RATE_LIMITED"]
    );
    assert_eq!(count_kind(&app, "LOGIN_RATE_LIMITED").await, 1);
    // The same username from another address is another key.
    assert_eq!(attempt("10.0.0.2").await, "INVALID_CREDENTIALS");
    assert_eq!(attempt("10.0.0.2").await, "RATE_LIMITED");
    assert_eq!(count_kind(&app, "LOGIN_RATE_LIMITED").await, 2);
    // Once the window has passed, the next refusal is a new event.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(attempt("10.0.0.1").await, "INVALID_CREDENTIALS");
    assert_eq!(attempt("10.0.0.1").await, "RATE_LIMITED");
    assert_eq!(count_kind(&app, "LOGIN_RATE_LIMITED").await, 3);
}

#[tokio::test]
async fn a_session_ended_to_make_room_is_audited_by_the_login_that_ended_it() {
    let app = TestApp::spawn_with(&[("max-sessions-per-user", "2")]).await;
    let admin = app.admin("root").await;
    let alice = app.signup("alice").await;
    let first = events(
        &app,
        &admin,
        json!({ "userId": alice.user_id, "kind": "SIGNUP" }),
    )
    .await;
    let first_session = first[0]["sessionId"].clone();
    app.login("alice", PASSWORD).await;
    let none = events(&app, &admin, json!({ "kind": "SESSION_REVOKED" })).await;
    assert!(none.is_empty(), "{none:?}");
    // The third session ends the least recently used: the signup's.
    app.login("alice", PASSWORD).await;
    let revoked = events(&app, &admin, json!({ "kind": "SESSION_REVOKED" })).await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["sessionId"], first_session);
    assert_eq!(revoked[0]["userId"], json!(alice.user_id));
    assert_eq!(revoked[0]["actorId"], json!(alice.user_id));
    let latest = events(&app, &admin, json!({ "userId": alice.user_id })).await;
    assert_eq!(kinds(&latest)[..2], ["LOGIN", "SESSION_REVOKED"]);
}

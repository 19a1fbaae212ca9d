//! Two real server processes on one database (a SQLite file, or PostgreSQL with
//! `TEST_DATABASE_URL`): API.md Tokens' "at once" — in force on the instance that made a
//! change before it answers, and on the other within 1 s, for requests and open sockets.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

const REVOKE_SESSION: &str = "mutation($id: ID!) { revokeSession(id: $id) }";

fn sid(token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

/// Instance A (in this process) and instance B (its own process) on one database.
async fn two_instances() -> (TestApp, TestApp) {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_process_on(&a.database_url, &[]).await;
    (a, b)
}

#[tokio::test]
async fn a_session_ended_on_one_instance_is_refused_by_the_other_within_a_second() {
    let (a, b) = two_instances().await;
    let laptop = a.signup("alice").await;
    let phone = a.login("alice", PASSWORD).await;
    let phone = Session::from_payload(&phone["data"]["login"]).unwrap();
    // B has seen the phone's token: whatever it remembers must not outlive the revocation.
    assert_eq!(
        b.gql_as(&phone.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
    let body = a
        .gql_as(
            &laptop.access,
            REVOKE_SESSION,
            json!({ "id": sid(&phone.access) }),
        )
        .await;
    assert_eq!(body["data"]["revokeSession"], true, "{body}");
    assert_code(
        &a.gql_as(&phone.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    within(OTHER_INSTANCES, "session end on B", || async {
        b.gql_as(&phone.access, ME, json!({})).await["errors"][0]["extensions"]["code"]
            == "TOKEN_REVOKED"
    })
    .await;
    assert_eq!(
        b.gql_as(&laptop.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
}

#[tokio::test]
async fn a_demotion_on_one_instance_bites_on_the_other_within_a_second() {
    let (a, b) = two_instances().await;
    let root = a.admin("root").await;
    let boss = a.admin("boss").await;
    let users = "{ users { totalCount } }";
    assert!(b.gql_as(&boss.access, users, json!({})).await["errors"].is_null());
    let body = a
        .gql_as(
            &root.access,
            "mutation($id: ID!) { setUserRole(userId: $id, role: USER) { role } }",
            json!({ "id": boss.user_id }),
        )
        .await;
    assert_eq!(body["data"]["setUserRole"]["role"], "USER", "{body}");
    assert_code(&a.gql_as(&boss.access, users, json!({})).await, "FORBIDDEN");
    within(OTHER_INSTANCES, "demotion on B", || async {
        b.gql_as(&boss.access, users, json!({})).await["errors"][0]["extensions"]["code"]
            == "FORBIDDEN"
    })
    .await;
}

#[tokio::test]
async fn a_socket_on_one_instance_closes_within_a_second_when_its_session_ends_on_the_other() {
    let (a, b) = two_instances().await;
    let laptop = a.signup("alice").await;
    let phone = a.login("alice", PASSWORD).await;
    let phone = Session::from_payload(&phone["data"]["login"]).unwrap();
    let mut socket = open(&b, Some(&phone.access)).await;
    start_live(
        &mut socket,
        "1",
        "subscription { itemEvents { itemId } }",
        json!({}),
    )
    .await;
    let started = Instant::now();
    a.gql_as(
        &laptop.access,
        REVOKE_SESSION,
        json!({ "id": sid(&phone.access) }),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "TOKEN_REVOKED".to_owned()))
    );
    assert!(
        started.elapsed() < OTHER_INSTANCES + Duration::from_millis(500),
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_user_deleted_on_one_instance_loses_the_socket_on_the_other() {
    let (a, b) = two_instances().await;
    let alice = a.signup("alice").await;
    let mut socket = open(&b, Some(&alice.access)).await;
    start_live(
        &mut socket,
        "1",
        "subscription { itemEvents { itemId } }",
        json!({}),
    )
    .await;
    let body = a
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": alice.user_id }),
        )
        .await;
    assert_eq!(body["data"]["deleteUser"], json!(alice.user_id), "{body}");
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "INVALID_TOKEN".to_owned()))
    );
}

/// Runs `sql` on the PostgreSQL server of `TEST_DATABASE_URL` (its admin database).
async fn on_postgres_server(sql: &str) {
    use sea_orm::ConnectionTrait;
    let admin = std::env::var("TEST_DATABASE_URL").unwrap();
    let db = sea_orm::Database::connect(&admin).await.unwrap();
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.ok();
}

/// A short outage of the listener alone (its backend terminated, and reconnecting fails
/// for a while): what another instance revokes or writes during the gap must still reach
/// this instance within a second — even what it loaded during the gap is not kept.
#[tokio::test]
async fn a_listener_outage_on_postgres_loses_no_revocation_and_no_write() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        return; // SQLite instances read the change log; there is no listener to lose.
    }
    let (a, b) = two_instances().await;
    let laptop = a.signup("alice").await;
    let phone = a.login("alice", PASSWORD).await;
    let phone = Session::from_payload(&phone["data"]["login"]).unwrap();
    let admin = a.admin("root").await;
    let store = a.store(&admin, "Shop").await;
    let count = "{ items(first: 1) { totalCount } }";
    assert_eq!(
        b.gql(count, json!({})).await["data"]["items"]["totalCount"],
        0
    );
    let database = a.database_url.rsplit('/').next().unwrap().to_owned();

    // The listeners lose their connections, and their first reconnect fails.
    on_postgres_server(&format!(
        "ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{database}' AND query LIKE 'LISTEN%'"
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    on_postgres_server(&format!(
        "ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS true"
    ))
    .await;
    // Before B listens again, it loads what it needs, and A revokes and writes.
    assert_eq!(
        b.gql_as(&phone.access, ME, json!({})).await["data"]["me"]["username"],
        "alice"
    );
    assert_eq!(
        b.gql(count, json!({})).await["data"]["items"]["totalCount"],
        0
    );
    let revoked = a
        .gql_as(
            &laptop.access,
            REVOKE_SESSION,
            json!({ "id": sid(&phone.access) }),
        )
        .await;
    assert_eq!(revoked["data"]["revokeSession"], true, "{revoked}");
    a.item(&admin, &store, "during the gap", "1").await;
    let changed = Instant::now();

    within(
        OTHER_INSTANCES.saturating_sub(changed.elapsed()),
        "the revocation on B",
        || async {
            b.gql_as(&phone.access, ME, json!({})).await["errors"][0]["extensions"]["code"]
                == "TOKEN_REVOKED"
        },
    )
    .await;
    within(Duration::from_secs(1), "the write on B", || async {
        b.gql(count, json!({})).await["data"]["items"]["totalCount"] == 1
    })
    .await;
    // And later writes reach B as well.
    a.item(&admin, &store, "after the gap", "1").await;
    within(OTHER_INSTANCES, "a later write on B", || async {
        b.gql(count, json!({})).await["data"]["items"]["totalCount"] == 2
    })
    .await;
}

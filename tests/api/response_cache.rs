//! The response cache (`RESPONSE_CACHE`, on by default): a repeated query is answered from
//! memory, never to the wrong caller and never staler than API.md Tokens allows — at once
//! on the instance that wrote, within 1 s on another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::helpers::*;

const PAGE: &str = "{ items(first: 50) { totalCount nodes { id name price owner { username } } } }";
const PUBLIC_PAGE: &str = "{ items(first: 50) { totalCount nodes { id name price } } }";

/// The server hears of a user `create-user` made through the change log within one poll
/// (SQLite, 250 ms): an administrator the server has surely heard of, so the notice does
/// not empty the cache in the middle of what a test measures.
async fn admin_heard_of(app: &TestApp) -> Session {
    let admin = app.admin("root").await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    admin
}

/// Statements the server ran for one request.
async fn statements_for(app: &TestApp, token: Option<&str>, query: &str) -> (u64, Value) {
    settle(app).await;
    let before = app.statement_count();
    let body = app.gql_with(token, query, json!({})).await;
    (app.statement_count() - before, body)
}

#[tokio::test]
async fn a_repeated_query_is_answered_without_the_database_and_identically() {
    let app = TestApp::spawn().await;
    let admin = admin_heard_of(&app).await;
    let store = app.store(&admin, "Shop").await;
    app.item(&admin, &store, "Apple", "1.00").await;
    for token in [Some(admin.access.as_str()), None] {
        let query = if token.is_some() { PAGE } else { PUBLIC_PAGE };
        let (first, body) = statements_for(&app, token, query).await;
        assert!(first > 0);
        assert!(body["errors"].is_null(), "{body}");
        let (second, again) = statements_for(&app, token, query).await;
        assert_eq!(second, 0, "the repeat ran SQL");
        assert_eq!(again, body);
    }
}

#[tokio::test]
async fn a_write_empties_the_cache_once_not_again_when_its_own_notice_comes_back() {
    let app = TestApp::spawn().await;
    let admin = admin_heard_of(&app).await;
    let store = app.store(&admin, "Shop").await;
    app.item(&admin, &store, "Apple", "1.00").await;
    // Cached right after the write; the write's notice reaches this instance's own
    // change-log poll (SQLite) or listener (PostgreSQL) well within 700 ms.
    let body = app.gql_as(&admin.access, PAGE, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let (repeat, again) = statements_for(&app, Some(&admin.access), PAGE).await;
    assert_eq!(
        repeat, 0,
        "the instance's own notice emptied the cache again"
    );
    assert_eq!(again, body);
}

#[tokio::test]
async fn turned_off_every_request_executes() {
    let app = TestApp::spawn_with(&[("response-cache", "false")]).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    app.item(&admin, &store, "Apple", "1.00").await;
    statements_for(&app, None, PUBLIC_PAGE).await;
    let (second, _) = statements_for(&app, None, PUBLIC_PAGE).await;
    assert!(second > 0);
}

#[tokio::test]
async fn every_write_is_seen_by_the_next_read_on_the_same_instance() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app.signup("alice").await;
    let stores = "{ stores { totalCount nodes { name } } }";
    let users = "{ users { totalCount nodes { username role } } }";
    let read = |token: String, query: &'static str| {
        let app = &app;
        async move { app.gql_as(&token, query, json!({})).await }
    };
    // Cache both, then write and read again.
    read(admin.access.clone(), stores).await;
    let store = app.store(&admin, "Shop").await;
    assert_eq!(
        read(admin.access.clone(), stores).await["data"]["stores"]["totalCount"],
        1
    );

    read(alice.access.clone(), PAGE).await;
    let item = app.item(&alice, &store, "Apple", "1.00").await;
    let page = read(alice.access.clone(), PAGE).await;
    assert_eq!(page["data"]["items"]["nodes"][0]["name"], "Apple", "{page}");

    let update = "mutation($id: ID!) { updateItem(id: $id, input: { name: \"Pear\" }) { id } }";
    app.gql_as(&alice.access, update, json!({ "id": item }))
        .await;
    let page = read(alice.access.clone(), PAGE).await;
    assert_eq!(page["data"]["items"]["nodes"][0]["name"], "Pear", "{page}");

    let delete = "mutation($id: ID!) { deleteItem(id: $id) }";
    let body = app
        .gql_as(&alice.access, delete, json!({ "id": item }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        read(alice.access.clone(), PAGE).await["data"]["items"]["totalCount"],
        0
    );

    read(admin.access.clone(), users).await;
    app.signup("bob").await;
    assert_eq!(
        read(admin.access.clone(), users).await["data"]["users"]["totalCount"],
        3
    );

    let promote = "mutation($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }";
    app.gql_as(&admin.access, promote, json!({ "id": alice.user_id }))
        .await;
    let listed = read(admin.access.clone(), users).await;
    assert_eq!(
        listed["data"]["users"]["nodes"][1]["role"], "ADMIN",
        "{listed}"
    );

    let delete_store = "mutation($id: ID!) { deleteStore(id: $id) }";
    app.gql_as(&admin.access, delete_store, json!({ "id": store }))
        .await;
    assert_eq!(
        read(admin.access.clone(), stores).await["data"]["stores"]["totalCount"],
        0
    );

    let delete_user = "mutation($id: ID!) { deleteUser(id: $id) }";
    let body = app
        .gql_as(&admin.access, delete_user, json!({ "id": alice.user_id }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        read(admin.access.clone(), users).await["data"]["users"]["totalCount"],
        2
    );
}

#[tokio::test]
async fn two_users_sending_the_same_query_each_get_their_own_answer() {
    let app = TestApp::spawn().await;
    let alice = app
        .signup_with("alice", PASSWORD, Some("alice@example.com"))
        .await;
    let bob = app
        .signup_with("bob", PASSWORD, Some("bob@example.com"))
        .await;
    let query = "{ me { username email } }";
    for _ in 0..2 {
        let body = app.gql_as(&alice.access, query, json!({})).await;
        assert_eq!(body["data"]["me"]["email"], "alice@example.com");
        let body = app.gql_as(&bob.access, query, json!({})).await;
        assert_eq!(body["data"]["me"]["email"], "bob@example.com");
        assert_code(&app.gql(query, json!({})).await, "AUTHORIZATION_REQUIRED");
    }
    // One user's answer through another user's object: the owner's email on an item.
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    app.item(&alice, &store, "Lamp", "1").await;
    let query = "{ items { nodes { owner { username email } } } }";
    let body = app.gql_as(&alice.access, query, json!({})).await;
    assert_eq!(
        body["data"]["items"]["nodes"][0]["owner"]["email"],
        "alice@example.com"
    );
    let body = app.gql_as(&bob.access, query, json!({})).await;
    assert_eq!(
        body["data"]["items"]["nodes"][0]["owner"].get("email"),
        Some(&Value::Null),
        "{body}"
    );
    assert_code(&body, "FORBIDDEN");
}

#[tokio::test]
async fn an_answer_for_a_principal_is_never_served_to_a_revoked_or_demoted_one() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let boss = app.admin("boss").await;
    let users = "{ users { totalCount } }";
    assert!(app.gql_as(&boss.access, users, json!({})).await["errors"].is_null());
    assert!(app.gql_as(&boss.access, users, json!({})).await["errors"].is_null());
    let demote = "mutation($id: ID!) { setUserRole(userId: $id, role: USER) { id } }";
    app.gql_as(&root.access, demote, json!({ "id": boss.user_id }))
        .await;
    assert_code(
        &app.gql_as(&boss.access, users, json!({})).await,
        "FORBIDDEN",
    );

    assert!(app.gql_as(&root.access, ME, json!({})).await["errors"].is_null());
    app.gql_as(&root.access, "mutation { logout }", json!({}))
        .await;
    assert_code(
        &app.gql_as(&root.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    // Guarded parts of a page stay guarded after someone else's answer was kept.
    let alice = app.signup("alice").await;
    let store = app.store(&app.admin("admin2").await, "Shop").await;
    app.item(&alice, &store, "Apple", "1").await;
    assert!(app.gql_as(&alice.access, PAGE, json!({})).await["errors"].is_null());
    let anonymous = app.gql(PAGE, json!({})).await;
    assert_code(&anonymous, "AUTHORIZATION_REQUIRED");
    assert_eq!(
        anonymous["data"]["items"]["nodes"][0].get("owner"),
        Some(&Value::Null)
    );
}

#[tokio::test]
async fn sessions_are_never_answered_from_the_cache() {
    let app = TestApp::spawn().await;
    let laptop = app.signup("alice").await;
    let query = "{ mySessions { id current } }";
    let body = app.gql_as(&laptop.access, query, json!({})).await;
    assert_eq!(body["data"]["mySessions"].as_array().unwrap().len(), 1);
    app.login("alice", PASSWORD).await;
    let body = app.gql_as(&laptop.access, query, json!({})).await;
    assert_eq!(
        body["data"]["mySessions"].as_array().unwrap().len(),
        2,
        "{body}"
    );
}

/// Readers hammer one query while writes land: a read that starts after a write answered
/// must see it, even though answers computed before the write were racing to be kept.
#[tokio::test]
async fn a_read_racing_a_write_is_never_kept_past_it() {
    let app = Arc::new(TestApp::spawn().await);
    let alice = app.signup("alice").await;
    let store = app.store(&app.admin("root").await, "Shop").await;
    let query = "{ items(first: 50) { totalCount } }";
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (app, stop) = (app.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                app.gql(query, json!({})).await;
            }
        }));
    }
    for n in 1..=40 {
        app.item(&alice, &store, &format!("item {n}"), "1").await;
        let body = app.gql(query, json!({})).await;
        assert_eq!(
            body["data"]["items"]["totalCount"], n,
            "after write {n}: {body}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
}

/// Instance B keeps answers too; a write on A reaches them within 1 s.
#[tokio::test]
async fn a_write_on_one_instance_reaches_the_others_cache_within_a_second() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_process_on(&a.database_url, &[]).await;
    let root = a.admin("root").await;
    let alice = a.signup("alice").await;
    let store = a.store(&root, "Shop").await;
    let stores = "{ stores { totalCount } }";
    let users = "{ users { nodes { username role } } }";
    for _ in 0..2 {
        assert_eq!(
            b.gql(stores, json!({})).await["data"]["stores"]["totalCount"],
            1
        );
        assert_eq!(
            b.gql(PUBLIC_PAGE, json!({})).await["data"]["items"]["totalCount"],
            0
        );
        assert!(b.gql_as(&root.access, users, json!({})).await["errors"].is_null());
    }
    a.item(&alice, &store, "Apple", "1").await;
    within(OTHER_INSTANCES, "new item on B", || async {
        b.gql(PUBLIC_PAGE, json!({})).await["data"]["items"]["totalCount"] == 1
    })
    .await;
    let promote = "mutation($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }";
    a.gql_as(&root.access, promote, json!({ "id": alice.user_id }))
        .await;
    within(OTHER_INSTANCES, "new role on B", || async {
        b.gql_as(&root.access, users, json!({})).await["data"]["users"]["nodes"][1]["role"]
            == "ADMIN"
    })
    .await;
    let delete_store = "mutation($id: ID!) { deleteStore(id: $id) }";
    a.gql_as(&root.access, delete_store, json!({ "id": store }))
        .await;
    within(OTHER_INSTANCES, "store deletion on B", || async {
        b.gql(stores, json!({})).await["data"]["stores"]["totalCount"] == 0
    })
    .await;
}

#[tokio::test]
async fn the_anonymous_page_with_owners_is_kept_for_anonymous_callers_only() {
    let app = TestApp::spawn().await;
    let admin = admin_heard_of(&app).await;
    let store = app.store(&admin, "Shop").await;
    app.item(&admin, &store, "Apple", "1.00").await;
    // A partial result: the items, and one AUTHORIZATION_REQUIRED per owner.
    let (first, body) = statements_for(&app, None, PAGE).await;
    assert!(first > 0);
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    assert_eq!(body["data"]["items"]["nodes"][0]["owner"], Value::Null);
    let (second, again) = statements_for(&app, None, PAGE).await;
    assert_eq!(second, 0, "the anonymous repeat ran SQL");
    assert_eq!(again, body);

    // A caller whose token failed gets that token's error, never the anonymous answer.
    let expired = {
        // Signed with the server's secret, but expired: minted by hand.
        let now = chrono::Utc::now().timestamp();
        let claims = json!({ "sub": "1", "type": "access", "fresh": false, "jti": "x",
            "iat": now - 100, "nbf": now - 100, "exp": now - 50 });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    for (token, code) in [
        (expired.as_str(), "TOKEN_EXPIRED"),
        ("not-a-token", "INVALID_TOKEN"),
    ] {
        let answer = app.gql_as(token, PAGE, json!({})).await;
        assert_code(&answer, code);
        assert_ne!(answer, body);
    }
    // A signed-in caller gets the owners.
    let signed_in = app.gql_as(&admin.access, PAGE, json!({})).await;
    assert!(signed_in["errors"].is_null(), "{signed_in}");
    assert_eq!(
        signed_in["data"]["items"]["nodes"][0]["owner"]["username"],
        "root"
    );
    // And the anonymous answer is still the anonymous one, from memory.
    let (third, again) = statements_for(&app, None, PAGE).await;
    assert_eq!(third, 0);
    assert_eq!(again, body);

    // A write is seen by the next anonymous read.
    app.item(&admin, &store, "Pear", "2.00").await;
    let (after, fresh) = statements_for(&app, None, PAGE).await;
    assert!(after > 0);
    assert_eq!(fresh["data"]["items"]["totalCount"], 2, "{fresh}");
}

//! `itemEvents` over WebSocket: both protocols, connection_init auth, 4403 closes, events
//! from every mutation that changes items, and across instances on PostgreSQL.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::*;

const EVENTS: &str =
    "subscription($s: ID) { itemEvents(storeId: $s) { kind itemId item { name price } } }";

async fn subscribe(socket: &mut Socket, store: Option<&str>) {
    start_live(socket, "1", EVENTS, json!({ "s": store })).await;
}

async fn next_event(socket: &mut Socket) -> Value {
    let message = next(socket)
        .await
        .unwrap_or_else(|close| panic!("closed: {close:?}"));
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["itemEvents"].clone()
}

#[tokio::test]
async fn item_changes_reach_a_subscriber_as_created_updated_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let mut socket = open(&app, Some(&admin.access)).await;
    subscribe(&mut socket, None).await;

    let id = app.item(&admin, &store, "Apple", "1.50").await;
    let event = next_event(&mut socket).await;
    assert_eq!(
        event,
        json!({ "kind": "CREATED", "itemId": id, "item": { "name": "Apple", "price": "1.50" } })
    );

    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { updateItem(id: $id, input: {price: \"2\"}) { id } }",
        json!({ "id": id }),
    )
    .await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "UPDATED");
    assert_eq!(event["item"]["price"], "2.00");

    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { deleteItem(id: $id) }",
        json!({ "id": id }),
    )
    .await;
    let event = next_event(&mut socket).await;
    assert_eq!(
        event,
        json!({ "kind": "DELETED", "itemId": id, "item": null })
    );
}

#[tokio::test]
async fn store_and_user_deletions_send_one_deleted_event_per_item() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app.signup("alice").await;
    let store = app.store(&admin, "Shop").await;
    let other = app.store(&admin, "Other").await;
    let a = app.item(&alice, &store, "A", "1").await;
    let b = app.item(&alice, &store, "B", "1").await;
    let c = app.item(&alice, &other, "C", "1").await;
    let mut socket = open(&app, Some(&admin.access)).await;
    subscribe(&mut socket, None).await;
    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { deleteStore(id: $id) }",
        json!({ "id": store }),
    )
    .await;
    let mut deleted = [next_event(&mut socket).await, next_event(&mut socket).await];
    deleted.sort_by_key(|e| e["itemId"].as_str().unwrap().parse::<i64>().unwrap());
    assert_eq!(deleted[0]["itemId"], json!(a));
    assert_eq!(deleted[1]["itemId"], json!(b));
    assert!(
        deleted
            .iter()
            .all(|e| e["kind"] == "DELETED" && e["item"].is_null())
    );
    app.gql_as(
        &admin.access,
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({ "id": alice.user_id }),
    )
    .await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["itemId"], json!(c));
    assert_eq!(event["kind"], "DELETED");
}

#[tokio::test]
async fn the_store_filter_passes_only_that_stores_events() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let shop = app.store(&admin, "Shop").await;
    let other = app.store(&admin, "Other").await;
    let mut socket = open(&app, Some(&admin.access)).await;
    subscribe(&mut socket, Some(&shop)).await;
    app.item(&admin, &other, "Elsewhere", "1").await;
    let here = app.item(&admin, &shop, "Here", "1").await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["itemId"], json!(here));
}

#[tokio::test]
async fn without_a_token_the_connection_is_accepted_but_subscribing_needs_authorization() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, None).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "AUTHORIZATION_REQUIRED"
    );
}

#[tokio::test]
async fn a_bad_expired_or_revoked_token_at_connection_init_closes_with_4403_and_the_code() {
    // The revoked token lives the default lifetime: a 1 s token could expire before the
    // socket is opened on a slow machine, and expiry is reported before revocation.
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let revoked = app.login("alice", PASSWORD).await["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_as(&revoked, "mutation { logout }", json!({})).await;
    for (token, code) in [
        ("not-a-token".to_owned(), "INVALID_TOKEN"),
        (revoked, "TOKEN_REVOKED"),
    ] {
        let mut socket = connect(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
        assert_eq!(next(&mut socket).await, Err((4403, code.to_owned())));
    }
    let app = TestApp::spawn_with(&[("jwt-access-token-expires", "1s")]).await;
    let alice = app.signup("alice").await;
    until_expired(&app, &alice.access).await;
    let mut socket = connect(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", alice.access) } })).await;
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "TOKEN_EXPIRED".to_owned()))
    );
}

#[tokio::test]
async fn a_live_subscription_is_closed_when_its_token_is_revoked() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let mut socket = open(&app, Some(&alice.access)).await;
    subscribe(&mut socket, None).await;
    app.gql_as(&alice.access, "mutation { logout }", json!({}))
        .await;
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "TOKEN_REVOKED".to_owned()))
    );
}

#[tokio::test]
async fn a_live_subscription_is_closed_when_its_token_expires() {
    let app = TestApp::spawn_with(&[("jwt-access-token-expires", "2s")]).await;
    let alice = app.signup("alice").await;
    let mut socket = open(&app, Some(&alice.access)).await;
    subscribe(&mut socket, None).await;
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "TOKEN_EXPIRED".to_owned()))
    );
    // API.md Subscriptions: within 1 s of the moment the token expired (its `exp`).
    let exp = claims(&alice.access)["exp"].as_i64().unwrap();
    let late = chrono::Utc::now().timestamp_millis() - exp * 1000;
    assert!((0..1000).contains(&late), "closed {late} ms after exp");
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_and_refuses_bad_tokens_with_4403() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let mut socket = connect(&app, "graphql-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", admin.access) } })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "start", "payload": { "query": EVENTS } }),
    )
    .await;
    assert!(live(&mut socket).await.is_empty());
    let id = app.item(&admin, &store, "Apple", "1").await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "data", "{message}");
    assert_eq!(
        message["payload"]["data"]["itemEvents"]["itemId"],
        json!(id)
    );

    let mut socket = connect(&app, "graphql-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }),
    )
    .await;
    let mut closed = None;
    for _ in 0..3 {
        match next(&mut socket).await {
            Ok(message) => assert_eq!(message["type"], "connection_error", "{message}"),
            Err(close) => {
                closed = Some(close);
                break;
            }
        }
    }
    assert_eq!(closed, Some((4403, "INVALID_TOKEN".to_owned())));
    let _ = CloseCode::Normal;
}

#[tokio::test]
async fn an_event_raised_on_one_instance_reaches_subscribers_on_another_with_postgres() {
    let first = TestApp::spawn().await;
    if !first.database_url.starts_with("postgres") {
        // In-process events only on SQLite: one instance owns the file. The PostgreSQL run
        // (CI always does one) exercises LISTEN/NOTIFY.
        return;
    }
    let second = TestApp::spawn_on(
        first.database_url.clone(),
        TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
        &[],
    )
    .await;
    let admin = first.admin("root").await;
    let store = first.store(&admin, "Shop").await;
    let mut socket = open(&second, Some(&admin.access)).await;
    subscribe(&mut socket, None).await;
    let id = first.item(&admin, &store, "Apple", "1").await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(event["itemId"], json!(id));
}

#[tokio::test]
async fn a_live_subscriptions_events_are_resolved_with_the_role_of_the_moment() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let boss = app.admin("boss").await;
    let alice = app
        .signup_with("alice", PASSWORD, Some("alice@example.com"))
        .await;
    let store = app.store(&root, "Shop").await;
    let mut socket = open(&app, Some(&boss.access)).await;
    let events = "subscription { itemEvents { itemId item { owner { username email } } } }";
    start_live(&mut socket, "1", events, json!({})).await;

    app.item(&alice, &store, "First", "1").await;
    let first = next(&mut socket).await.unwrap();
    assert_eq!(
        first["payload"]["data"]["itemEvents"]["item"]["owner"]["email"], "alice@example.com",
        "{first}"
    );
    let body = app
        .gql_as(
            &root.access,
            "mutation($id: ID!) { setUserRole(userId: $id, role: USER) { role } }",
            json!({ "id": boss.user_id }),
        )
        .await;
    assert_eq!(body["data"]["setUserRole"]["role"], "USER", "{body}");
    app.item(&alice, &store, "Second", "1").await;
    let second = next(&mut socket).await.unwrap();
    let owner = &second["payload"]["data"]["itemEvents"]["item"]["owner"];
    assert_eq!(owner["username"], "alice", "{second}");
    assert!(owner["email"].is_null(), "{second}");
    assert_eq!(
        second["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{second}"
    );
}

/// `NOTIFY` payloads stop at 8,000 bytes; an item with a 2,000-character description
/// (4 bytes each in UTF-8) still reaches subscribers on every instance, whole.
#[tokio::test]
async fn an_event_too_big_for_notify_still_reaches_other_instances_whole() {
    let first = TestApp::spawn().await;
    if !first.database_url.starts_with("postgres") {
        return;
    }
    let second = TestApp::spawn_on(first.database_url.clone(), TestDatabase::none(), &[]).await;
    let admin = first.admin("root").await;
    let store = first.store(&admin, "Shop").await;
    let mut socket = open(&second, Some(&admin.access)).await;
    start_live(
        &mut socket,
        "1",
        "subscription { itemEvents { kind itemId item { name description } } }",
        json!({}),
    )
    .await;
    let description = "😀".repeat(2000);
    let body = first
        .gql_as(
            &admin.access,
            CREATE_ITEM,
            json!({ "input": { "storeId": store, "name": "Smile", "description": description, "price": "1" } }),
        )
        .await;
    let id = body["data"]["createItem"]["id"].clone();
    assert!(id.is_string(), "{body}");
    let event = next_event(&mut socket).await;
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(event["itemId"], id);
    assert_eq!(event["item"]["description"], json!(description));
    // A small event after it still arrives, in order.
    first.item(&admin, &store, "Apple", "1").await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["item"]["name"], "Apple");
}

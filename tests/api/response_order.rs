//! API.md Errors: responses list fields in the order the query selected them — also
//! fields that finish late (a count, a loader, a guard that reads the token) — with each
//! error's `message` first; over HTTP, in batches and over WebSocket alike. Read from the
//! raw text: a parsed `serde_json::Value` would sort the keys.

use serde_json::json;

use crate::helpers::*;

/// Asserts that `keys` (as `"key":`) appear in `text` in this order, each after the last.
#[track_caller]
fn in_order(text: &str, keys: &[&str]) {
    let mut from = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let at = text[from..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{key} missing or out of order in {text}"));
        from += at + needle.len();
    }
}

async fn raw(app: &TestApp, token: Option<&str>, body: serde_json::Value) -> String {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().text().await.unwrap()
}

/// Queries whose first field finishes last: a count, then a page read with owners.
const LATE_FIRST: &[(&str, &[&str])] = &[
    (
        "{ stores { totalCount nodes { id } } }",
        &["stores", "totalCount", "nodes", "id"],
    ),
    (
        "{ items(first: 5) { totalCount pageInfo { hasNextPage } nodes { id } } }",
        &["items", "totalCount", "pageInfo", "hasNextPage", "nodes"],
    ),
    (
        "{ b: items(first: 2) { nodes { name owner { username } price } } a: stores { totalCount } }",
        &["b", "nodes", "name", "owner", "price", "a", "totalCount"],
    ),
    (
        "{ items(first: 2) { ...Count nodes { id } } } fragment Count on ItemConnection { totalCount }",
        &["items", "totalCount", "nodes"],
    ),
    (
        "{ me { username items(first: 1) { totalCount } role } __typename }",
        &[
            "me",
            "username",
            "items",
            "totalCount",
            "role",
            "__typename",
        ],
    ),
];

#[tokio::test]
async fn fields_that_finish_late_keep_their_place_over_http_and_in_batches() {
    let app = TestApp::spawn_with(&[("response-cache", "false")]).await;
    let (admin, store) = seed_items(&app, 30).await;
    app.item(&admin, &store, "Lamp", "1").await;
    for _ in 0..3 {
        for (query, keys) in LATE_FIRST {
            let text = raw(&app, Some(&admin.access), json!({ "query": query })).await;
            in_order(&text, keys);
        }
        let batch: Vec<_> = LATE_FIRST
            .iter()
            .map(|(query, _)| json!({ "query": query }))
            .collect();
        let text = raw(&app, Some(&admin.access), json!(batch)).await;
        let keys: Vec<&str> = LATE_FIRST
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect();
        in_order(&text, &keys);
    }
}

/// The same queries on an empty database: pages without rows.
const LATE_FIRST_EMPTY: &[(&str, &[&str])] = &[
    (LATE_FIRST[0].0, &["stores", "totalCount", "nodes"]),
    (LATE_FIRST[1].0, LATE_FIRST[1].1),
    (LATE_FIRST[2].0, &["b", "nodes", "a", "totalCount"]),
    (LATE_FIRST[3].0, LATE_FIRST[3].1),
    (LATE_FIRST[4].0, LATE_FIRST[4].1),
];

#[tokio::test]
async fn fields_that_finish_late_keep_their_place_on_a_fresh_database_and_over_websocket() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    for (query, keys) in LATE_FIRST_EMPTY {
        let text = raw(&app, Some(&admin.access), json!({ "query": query })).await;
        in_order(&text, keys);
    }
    let mut socket = connect(&app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", admin.access) } }),
    )
    .await;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    for (query, keys) in LATE_FIRST_EMPTY {
        send(
            &mut socket,
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
        )
        .await;
        let text = loop {
            let Some(Ok(Message::Text(text))) = socket.next().await else {
                panic!("socket closed");
            };
            if text.contains("\"next\"") {
                break text.to_string();
            }
        };
        in_order(&text, keys);
        // Its `complete`, before the id is used again.
        loop {
            let Some(Ok(Message::Text(text))) = socket.next().await else {
                panic!("socket closed");
            };
            if text.contains("\"complete\"") {
                break;
            }
        }
    }
}

/// Errors list `message` first, over HTTP and in a WebSocket `error` message; a refused
/// nullable field keeps its place as `null` among its siblings.
#[tokio::test]
async fn errors_put_their_message_first_and_a_refused_field_keeps_its_place() {
    let app = TestApp::spawn().await;
    let (_, _) = seed_items(&app, 1).await;
    let text = raw(
        &app,
        None,
        json!({ "query": "{ items(first: 1) { nodes { id owner { username } name } } }" }),
    )
    .await;
    in_order(
        &text,
        &[
            "data",
            "nodes",
            "id",
            "owner",
            "name",
            "errors",
            "message",
            "locations",
            "path",
            "extensions",
        ],
    );
    assert!(text.contains(r#"{"message":"#), "{text}");

    let mut socket = open(&app, None).await;
    start(
        &mut socket,
        "1",
        "subscription { itemEvents { kind } }",
        json!({}),
    )
    .await;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let Some(Ok(message)) = socket.next().await else {
            panic!("socket closed");
        };
        if let Message::Text(text) = message
            && text.contains("\"error\"")
        {
            assert!(text.contains(r#""payload":[{"message":"#), "{text}");
            break;
        }
    }
}

//! Relay paging: no gap, no duplicate, forged cursors refused, and no N+1.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::*;

async fn walk(app: &TestApp, first: i64) -> Vec<String> {
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let body = app
            .gql(
                "query($first: Int, $after: String) { items(first: $first, after: $after) { totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }",
                json!({ "first": first, "after": after }),
            )
            .await;
        let page = &body["data"]["items"];
        assert_eq!(page["totalCount"], 250, "{body}");
        assert_eq!(page["pageInfo"]["hasPreviousPage"], after.is_some());
        let edges = page["edges"].as_array().unwrap();
        assert!(edges.len() as i64 <= first);
        names.extend(
            edges
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = Some(page["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
        assert_eq!(
            edges.last().unwrap()["cursor"],
            page["pageInfo"]["endCursor"]
        );
    }
    assert_eq!(pages as i64, (250 + first - 1) / first);
    names
}

#[tokio::test]
async fn paging_through_250_items_has_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    seed_items(&app, 250).await;
    for first in [7, 100] {
        let names = walk(&app, first).await;
        assert_eq!(names.len(), 250, "first: {first}");
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 250, "first: {first}");
    }
}

#[tokio::test]
async fn paging_arguments_are_validated() {
    let app = TestApp::spawn().await;
    seed_items(&app, 3).await;
    let query =
        "query($first: Int, $after: String) { items(first: $first, after: $after) { totalCount } }";
    let default = app.gql("{ items { edges { cursor } } }", json!({})).await;
    assert_eq!(
        default["data"]["items"]["edges"].as_array().unwrap().len(),
        3
    );
    for (variables, field) in [
        (json!({ "first": 0 }), "first"),
        (json!({ "first": 101 }), "first"),
        (json!({ "after": "garbage" }), "after"),
        (json!({ "after": "aXRlbTox" }), "after"),
    ] {
        let body = app.gql(query, variables.clone()).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{variables}"
        );
    }
    // A cursor of another connection is not an item cursor.
    let stores = app.gql("{ stores { edges { cursor } } }", json!({})).await;
    let store_cursor = stores["data"]["stores"]["edges"][0]["cursor"]
        .as_str()
        .unwrap();
    let body = app.gql(query, json!({ "after": store_cursor })).await;
    assert_code(&body, "BAD_USER_INPUT");
    // A tampered item cursor is refused.
    let items = app.gql("{ items { edges { cursor } } }", json!({})).await;
    let mut cursor = items["data"]["items"]["edges"][0]["cursor"]
        .as_str()
        .unwrap()
        .to_owned()
        .into_bytes();
    cursor[1] = if cursor[1] == b'A' { b'B' } else { b'A' };
    let body = app
        .gql(
            query,
            json!({ "after": String::from_utf8(cursor).unwrap() }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
}

const PAGE: &str = "query($first: Int) { items(first: $first) { totalCount edges { cursor node { id name description price createdAt updatedAt store { id name createdAt } owner { id username role email } } } pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn a_page_with_owners_and_stores_costs_a_constant_number_of_statements() {
    // Every request executes: a cached answer would cost nothing and prove nothing.
    let app = TestApp::spawn_with(&[("response-cache", "false")]).await;
    let (admin, _) = seed_items(&app, 100).await;
    // Warm up (principal lookup paths, prepared statements).
    app.gql_as(&admin.access, PAGE, json!({ "first": 1 })).await;
    let mut costs = Vec::new();
    for first in [10, 100] {
        // DataLoaders batch what arrives within a short window; a scheduling hiccup can
        // split a batch, so take the best of three runs.
        let mut best = u64::MAX;
        for _ in 0..3 {
            let before = app.statement_count();
            let body = app
                .gql_as(&admin.access, PAGE, json!({ "first": first }))
                .await;
            assert!(body["errors"].is_null(), "{body}");
            assert_eq!(
                body["data"]["items"]["edges"].as_array().unwrap().len(),
                first as usize
            );
            best = best.min(app.statement_count() - before);
        }
        costs.push(best);
    }
    // The principal comes from the in-memory view (loaded by the warm-up); the items page
    // with its owners joined, the count, the page's stores.
    assert_eq!(costs, [3, 3], "statements for one page of 10 and of 100");
}

#[tokio::test]
async fn nested_connections_are_batched_too() {
    let app = TestApp::spawn_with(&[("response-cache", "false")]).await;
    let admin = app.admin("root").await;
    let mut stores = Vec::new();
    for i in 0..12 {
        stores.push(app.store(&admin, &format!("Store {i}")).await);
    }
    for (i, store) in stores.iter().enumerate() {
        app.item(&admin, store, &format!("only {i}"), "1").await;
        if i % 2 == 0 {
            app.item(&admin, store, &format!("even {i}"), "1").await;
        }
    }
    let query = "query($first: Int) { stores(first: $first) { nodes { name items(first: 5) { totalCount nodes { name store { name } } } } } }";
    let mut costs = Vec::new();
    for first in [2, 12] {
        let mut best = u64::MAX;
        for _ in 0..3 {
            let before = app.statement_count();
            let body = app.gql(query, json!({ "first": first })).await;
            assert!(body["errors"].is_null(), "{body}");
            let nodes = body["data"]["stores"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), first as usize);
            for (i, node) in nodes.iter().enumerate() {
                let expected = if i % 2 == 0 { 2 } else { 1 };
                assert_eq!(node["items"]["totalCount"], expected, "{node}");
                assert_eq!(node["items"]["nodes"].as_array().unwrap().len(), expected);
                assert_eq!(node["items"]["nodes"][0]["store"]["name"], node["name"]);
            }
            best = best.min(app.statement_count() - before);
        }
        costs.push(best);
    }
    assert_eq!(costs[0], costs[1], "{costs:?}");
}

#[tokio::test]
async fn a_cursor_macd_with_the_raw_signing_secret_is_refused() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{Hmac, Mac};
    let app = TestApp::spawn().await;
    seed_items(&app, 3).await;
    // What a cursor would be if its MAC key were the JWT secret itself.
    let mut bytes = b"item:1".to_vec();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes()[..12]);
    let forged = URL_SAFE_NO_PAD.encode(bytes);
    let body = app
        .gql(
            "query($after: String) { items(after: $after) { totalCount } }",
            json!({ "after": forged }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "after");
}

//! Stores: ADMIN-only writes, public reads, names unique ignoring case.

use serde_json::json;

use crate::helpers::*;

const DELETE_STORE: &str = "mutation($id: ID!) { deleteStore(id: $id) }";

#[tokio::test]
async fn create_store_is_admin_only_and_trims_the_name() {
    let app = TestApp::spawn().await;
    let user = app.signup("alice").await;
    assert_code(
        &app.gql_as(&user.access, CREATE_STORE, json!({ "name": "Shop" }))
            .await,
        "FORBIDDEN",
    );
    assert_code(
        &app.gql(CREATE_STORE, json!({ "name": "Shop" })).await,
        "AUTHORIZATION_REQUIRED",
    );
    let admin = app.admin("root").await;
    let body = app
        .gql_as(
            &admin.access,
            CREATE_STORE,
            json!({ "name": "\u{a0} Corner Shop \t" }),
        )
        .await;
    assert_eq!(body["data"]["createStore"]["name"], "Corner Shop", "{body}");
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);
}

#[tokio::test]
async fn store_names_are_validated_and_unique_ignoring_case() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    app.store(&admin, "Corner Shop").await;
    for name in ["corner SHOP", "  CORNER shop  ", "", "   ", &"x".repeat(81)] {
        let body = app
            .gql_as(&admin.access, CREATE_STORE, json!({ "name": name }))
            .await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "name",
            "{name:?}: {body}"
        );
    }
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);
}

#[tokio::test]
async fn racing_creates_of_one_store_name_give_one_row_and_clean_errors() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let mut tasks = Vec::new();
    for name in ["Race", "RACE", "race", "rAcE", "RaCe", "racE"] {
        let client = app.client.clone();
        let url = app.url("/graphql");
        let token = admin.access.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": CREATE_STORE, "variables": { "name": name } }))
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
            assert_code(&body, "BAD_USER_INPUT");
        }
    }
    assert_eq!(created, 1);
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);
}

#[tokio::test]
async fn stores_are_public_and_unknown_or_malformed_ids_are_null() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let id = app.store(&admin, "Shop").await;
    let body = app
        .gql("query($id: ID!) { store(id: $id) { id name createdAt items { totalCount } } stores { totalCount nodes { name } } }", json!({ "id": id }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["store"]["name"], "Shop");
    assert_eq!(body["data"]["stores"]["totalCount"], 1);
    for id in ["99999", "nope"] {
        let body = app
            .gql(
                "query($id: ID!) { store(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert!(
            body["data"]["store"].is_null() && body["errors"].is_null(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn delete_store_is_admin_only_and_deletes_its_items() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let user = app.signup("alice").await;
    let store = app.store(&admin, "Shop").await;
    let other = app.store(&admin, "Other").await;
    app.item(&user, &store, "Apple", "1.00").await;
    app.item(&user, &store, "Pear", "2.00").await;
    app.item(&user, &other, "Plum", "3.00").await;
    assert_code(
        &app.gql_as(&user.access, DELETE_STORE, json!({ "id": store }))
            .await,
        "FORBIDDEN",
    );
    let body = app
        .gql_as(&admin.access, DELETE_STORE, json!({ "id": store }))
        .await;
    assert_eq!(body["data"]["deleteStore"], json!(store), "{body}");
    assert_eq!(count_rows(&app.database_url, "items").await, 1);
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);
    for id in [store.as_str(), "nope"] {
        assert_code(
            &app.gql_as(&admin.access, DELETE_STORE, json!({ "id": id }))
                .await,
            "NOT_FOUND",
        );
    }
}

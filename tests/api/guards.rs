//! Guards hold however a field is reached: aliases, fragments, batches.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn guards_hold_through_aliases_and_fragments() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    for query in [
        "{ a: me { username } }",
        "{ ...F } fragment F on Query { me { username } }",
        "{ ... on Query { me { username } } }",
        "{ ... @include(if: true) { me { username } } }",
    ] {
        let body = app.gql(query, json!({})).await;
        assert_code(&body, "AUTHORIZATION_REQUIRED");
        assert!(body["data"].is_null(), "{query}: {body}");
        let body = app.gql_as(&alice.access, query, json!({})).await;
        assert!(body["errors"].is_null(), "{query}: {body}");
    }
    // A field guarded for others, reached through a fragment on the type itself.
    let bob = app.signup("bob").await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    app.item(&alice, &store, "Lamp", "1").await;
    let body = app
        .gql_as(
            &bob.access,
            "{ items { nodes { owner { ...U } } } } fragment U on User { username secret: email }",
            json!({}),
        )
        .await;
    assert_code(&body, "FORBIDDEN");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["items", "nodes", 0, "owner", "secret"])
    );
    assert_eq!(
        body["data"]["items"]["nodes"][0]["owner"]["username"],
        "alice"
    );
}

#[tokio::test]
async fn guards_hold_in_every_operation_of_a_batch() {
    let app = TestApp::spawn().await;
    app.signup("alice").await;
    let response = app
        .post_json(
            &[],
            &json!([
                { "query": "{ __typename }" },
                { "query": "{ me { username } }" },
                { "query": "{ users { totalCount } }" },
            ]),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body[0]["data"]["__typename"], "Query");
    assert_code(&body[1], "AUTHORIZATION_REQUIRED");
    assert_code(&body[2], "AUTHORIZATION_REQUIRED");
}

#[tokio::test]
async fn introspection_typename_needs_no_token_even_with_a_bad_one() {
    let app = TestApp::spawn().await;
    let body = app
        .gql_with_header("Bearer garbage", "{ __typename }")
        .await;
    assert_eq!(body["data"]["__typename"], "Query");
    assert!(body["errors"].is_null());
}

#[tokio::test]
async fn a_refused_nullable_field_is_present_as_null_beside_what_renders() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let body = app
        .gql(
            "{ someone: user(id: $id) { username } items { totalCount } }"
                .replace("$id", &format!("\"{}\"", alice.user_id))
                .as_str(),
            json!({}),
        )
        .await;
    let data = body["data"].as_object().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(
        data.get("someone"),
        Some(&serde_json::Value::Null),
        "{body}"
    );
    assert_eq!(data["items"]["totalCount"], 0);
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    assert_eq!(body["errors"][0]["path"], json!(["someone"]));
}

//! `user`, `users`, `setUserRole`, `deleteUser`, `User.email`.

use serde_json::json;

use crate::helpers::*;

const USERS: &str = "query($first: Int, $after: String) { users(first: $first, after: $after) { totalCount edges { cursor node { id username } } nodes { username } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }";
const DELETE_USER: &str = "mutation($id: ID!) { deleteUser(id: $id) }";

#[tokio::test]
async fn users_is_for_admins_only() {
    let app = TestApp::spawn().await;
    let user = app.signup("alice").await;
    let body = app.gql_as(&user.access, USERS, json!({})).await;
    assert_code(&body, "FORBIDDEN");
    assert!(body["data"].is_null());
    let body = app.gql(USERS, json!({})).await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    let admin = app.admin("root").await;
    let body = app.gql_as(&admin.access, USERS, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 2, "{body}");
    assert_eq!(body["data"]["users"]["nodes"][0]["username"], "alice");
}

#[tokio::test]
async fn users_pages_without_gaps_and_refuses_bad_paging_arguments() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    for i in 0..6 {
        app.signup(&format!("user{i}")).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .gql_as(&admin.access, USERS, json!({ "first": 2, "after": after }))
            .await;
        let page = &body["data"]["users"];
        assert_eq!(page["totalCount"], 7, "{body}");
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["username"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 7);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 7, "{seen:?}");

    for (variables, field) in [
        (json!({ "first": 0 }), "first"),
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "after": "bm90LWEtY3Vyc29y" }), "after"),
        (json!({ "after": "" }), "after"),
    ] {
        let body = app.gql_as(&admin.access, USERS, variables.clone()).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{variables} → {body}"
        );
    }
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_rights_at_once() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let other = app.admin("other").await;
    assert!(app.gql_as(&other.access, USERS, json!({})).await["data"]["users"].is_object());
    let body = app
        .gql_as(
            &root.access,
            SET_ROLE,
            json!({ "id": other.user_id, "role": "USER" }),
        )
        .await;
    assert_eq!(body["data"]["setUserRole"]["role"], "USER", "{body}");
    // Same token, next request: the role is read from the database.
    assert_code(
        &app.gql_as(&other.access, USERS, json!({})).await,
        "FORBIDDEN",
    );
    let me = app.gql_as(&other.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["role"], "USER");
}

#[tokio::test]
async fn set_user_role_is_admin_only_and_names_existing_users() {
    let app = TestApp::spawn().await;
    let user = app.signup("alice").await;
    let body = app
        .gql_as(
            &user.access,
            SET_ROLE,
            json!({ "id": user.user_id, "role": "ADMIN" }),
        )
        .await;
    assert_code(&body, "FORBIDDEN");
    let admin = app.admin("root").await;
    for id in ["99999", "not-an-id"] {
        let body = app
            .gql_as(
                &admin.access,
                SET_ROLE,
                json!({ "id": id, "role": "ADMIN" }),
            )
            .await;
        assert_code(&body, "NOT_FOUND");
    }
    let body = app
        .gql_as(
            &admin.access,
            SET_ROLE,
            json!({ "id": user.user_id, "role": "ADMIN" }),
        )
        .await;
    assert_eq!(body["data"]["setUserRole"]["role"], "ADMIN");
    assert!(app.gql_as(&user.access, USERS, json!({})).await["data"]["users"].is_object());
}

#[tokio::test]
async fn email_is_visible_to_the_user_and_admins_and_nulls_only_itself_for_others() {
    let app = TestApp::spawn().await;
    let alice = app
        .signup_with("alice", PASSWORD, Some("alice@example.com"))
        .await;
    let bob = app.signup("bob").await;
    let admin = app.admin("root").await;
    let query = "query($id: ID!) { user(id: $id) { id username email } me { username } }";
    let own = app
        .gql_as(&alice.access, query, json!({ "id": alice.user_id }))
        .await;
    assert_eq!(own["data"]["user"]["email"], "alice@example.com", "{own}");
    assert!(own["errors"].is_null());
    let by_admin = app
        .gql_as(&admin.access, query, json!({ "id": alice.user_id }))
        .await;
    assert_eq!(by_admin["data"]["user"]["email"], "alice@example.com");
    // Another user, through an item's owner: email is null with FORBIDDEN at its path;
    // its siblings and the rest of the response still resolve (async-graphql #1532 would
    // null `owner` and `data`).
    let store = app.store(&admin, "Shop").await;
    app.item(&alice, &store, "Lamp", "1").await;
    let by_bob = app
        .gql_as(
            &bob.access,
            "{ items { nodes { owner { id username email } } } me { username } }",
            json!({}),
        )
        .await;
    assert_code(&by_bob, "FORBIDDEN");
    let owner = &by_bob["data"]["items"]["nodes"][0]["owner"];
    assert_eq!(
        by_bob["errors"][0]["path"],
        json!(["items", "nodes", 0, "owner", "email"])
    );
    assert_eq!(owner["username"], "alice", "{by_bob}");
    assert!(owner["email"].is_null());
    assert_eq!(by_bob["data"]["me"]["username"], "bob");
}

/// API.md Schema: `user(id)` is the caller themself or, for an ADMIN, anyone. A USER
/// asking any other id — an existing, unknown or malformed one alike, so the answer tells
/// nothing — is `FORBIDDEN`, and nobody can walk the ids to list users and their roles.
#[tokio::test]
async fn a_user_cannot_walk_other_users_by_id() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let admin = app.admin("root").await;
    let query = "query($id: ID!) { user(id: $id) { username role } me { username } }";
    for id in [alice.user_id.as_str(), "999", "x", "0"] {
        let body = app.gql_as(&bob.access, query, json!({ "id": id })).await;
        assert_code(&body, "FORBIDDEN");
        assert_eq!(body["errors"][0]["path"], json!(["user"]), "{body}");
        assert!(body["data"]["user"].is_null(), "{id}: {body}");
        assert_eq!(body["data"]["me"]["username"], "bob", "{body}");
    }
    let own = app
        .gql_as(&bob.access, query, json!({ "id": bob.user_id }))
        .await;
    assert_eq!(own["data"]["user"]["username"], "bob", "{own}");
    let by_admin = app
        .gql_as(&admin.access, query, json!({ "id": alice.user_id }))
        .await;
    assert_eq!(by_admin["data"]["user"]["username"], "alice", "{by_admin}");
    let unknown = app
        .gql_as(&admin.access, query, json!({ "id": "999" }))
        .await;
    assert!(unknown["errors"].is_null(), "{unknown}");
    assert!(unknown["data"]["user"].is_null());
}

#[tokio::test]
async fn user_needs_a_token_but_fails_only_its_own_field() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let body = app
        .gql(
            "query($id: ID!) { user(id: $id) { username } __typename }",
            json!({ "id": alice.user_id }),
        )
        .await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    assert_eq!(body["errors"][0]["path"], json!(["user"]));
    assert!(body["data"]["user"].is_null());
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn user_with_an_unknown_or_malformed_id_is_null_for_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    for id in ["99999", "abc", ""] {
        let body = app
            .gql_as(
                &admin.access,
                "query($id: ID!) { user(id: $id) { username } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body["data"]["user"].is_null(), "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }
}

#[tokio::test]
async fn delete_user_needs_a_fresh_token_and_self_or_admin() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    assert_code(
        &app.gql_as(&bob.access, DELETE_USER, json!({ "id": alice.user_id }))
            .await,
        "FORBIDDEN",
    );
    let refreshed = Session::from_payload(
        &app.gql(REFRESH, json!({ "t": alice.refresh })).await["data"]["refresh"],
    )
    .unwrap();
    assert_code(
        &app.gql_as(
            &refreshed.access,
            DELETE_USER,
            json!({ "id": alice.user_id }),
        )
        .await,
        "FRESH_TOKEN_REQUIRED",
    );
    let admin = app.admin("root").await;
    assert_code(
        &app.gql_as(&admin.access, DELETE_USER, json!({ "id": "99999" }))
            .await,
        "NOT_FOUND",
    );
    let body = app
        .gql_as(&admin.access, DELETE_USER, json!({ "id": bob.user_id }))
        .await;
    assert_eq!(body["data"]["deleteUser"], json!(bob.user_id), "{body}");
    assert_code(&app.login("bob", PASSWORD).await, "INVALID_CREDENTIALS");
    assert_eq!(count_rows(&app.database_url, "users").await, 2);
}

//! API.md Input rules that span every string input: no NUL anywhere (PostgreSQL cannot
//! store it), `search` at most 100 characters — each refused with a coded error naming
//! the field, nothing written, never an INTERNAL_SERVER_ERROR, on SQLite and PostgreSQL.

use serde_json::{Value, json};

use crate::helpers::*;

const NUL: &str = "a\u{0}b";

/// The first error's code and `extensions.field` (if any).
fn refusal(body: &Value) -> (String, Option<String>) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {body}"))
            .to_owned(),
        error["extensions"]["field"].as_str().map(str::to_owned),
    )
}

/// Token, query, variables, expected code, expected field.
type Case<'a> = (Option<&'a str>, &'a str, Value, &'a str, Option<&'a str>);

#[tokio::test]
async fn a_nul_in_any_string_input_is_refused_by_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let item = app.item(&alice, &store, "Lamp", "1").await;
    let nul_password = format!("{PASSWORD}\u{0}");
    let cases: Vec<Case> = vec![
        (
            None,
            SIGNUP,
            json!({ "input": { "username": NUL, "password": PASSWORD } }),
            "BAD_USER_INPUT",
            Some("username"),
        ),
        (
            None,
            SIGNUP,
            json!({ "input": { "username": "bob", "password": nul_password } }),
            "BAD_USER_INPUT",
            Some("password"),
        ),
        (
            None,
            SIGNUP,
            json!({ "input": { "username": "bob", "password": PASSWORD, "email": "b\u{0}@example.com" } }),
            "BAD_USER_INPUT",
            Some("email"),
        ),
        // A NUL in login's username is an impossible username.
        (
            None,
            LOGIN,
            json!({ "input": { "username": "ali\u{0}ce", "password": PASSWORD } }),
            "INVALID_CREDENTIALS",
            None,
        ),
        (
            None,
            LOGIN,
            json!({ "input": { "username": "alice", "password": nul_password } }),
            "BAD_USER_INPUT",
            Some("password"),
        ),
        (
            Some(&admin.access),
            CREATE_STORE,
            json!({ "name": NUL }),
            "BAD_USER_INPUT",
            Some("name"),
        ),
        (
            Some(&alice.access),
            CREATE_ITEM,
            json!({ "input": { "storeId": store, "name": NUL, "price": "1" } }),
            "BAD_USER_INPUT",
            Some("name"),
        ),
        (
            Some(&alice.access),
            CREATE_ITEM,
            json!({ "input": { "storeId": store, "name": "Desk", "description": NUL, "price": "1" } }),
            "BAD_USER_INPUT",
            Some("description"),
        ),
        (
            Some(&alice.access),
            "mutation($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { id } }",
            json!({ "id": item, "input": { "name": NUL } }),
            "BAD_USER_INPUT",
            Some("name"),
        ),
        (
            Some(&alice.access),
            "mutation($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { id } }",
            json!({ "id": item, "input": { "description": NUL } }),
            "BAD_USER_INPUT",
            Some("description"),
        ),
        (
            None,
            "query($s: String) { items(search: $s) { totalCount } }",
            json!({ "s": NUL }),
            "BAD_USER_INPUT",
            Some("search"),
        ),
        (
            None,
            "query($a: String) { items(after: $a) { totalCount } }",
            json!({ "a": NUL }),
            "BAD_USER_INPUT",
            Some("after"),
        ),
        (
            None,
            REFRESH,
            json!({ "t": NUL }),
            "BAD_USER_INPUT",
            Some("refreshToken"),
        ),
        (
            None,
            "mutation($t: String) { logout(refreshToken: $t) }",
            json!({ "t": NUL }),
            "BAD_USER_INPUT",
            Some("refreshToken"),
        ),
        (
            Some(&alice.access),
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }",
            json!({ "input": { "currentPassword": nul_password, "newPassword": "another password" } }),
            "BAD_USER_INPUT",
            Some("currentPassword"),
        ),
        (
            Some(&alice.access),
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }",
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "another\u{0}password" } }),
            "BAD_USER_INPUT",
            Some("newPassword"),
        ),
        // In an id it is a malformed id: NOT_FOUND in a mutation.
        (
            Some(&alice.access),
            "mutation($id: ID!) { revokeSession(id: $id) }",
            json!({ "id": NUL }),
            "NOT_FOUND",
            None,
        ),
        (
            Some(&alice.access),
            "mutation($id: ID!) { deleteItem(id: $id) }",
            json!({ "id": NUL }),
            "NOT_FOUND",
            None,
        ),
    ];
    let before = count_rows(&app.database_url, "items").await;
    for (token, query, variables, code, field) in cases {
        let body = app.gql_with(token, query, variables.clone()).await;
        let (got_code, got_field) = refusal(&body);
        assert_eq!(got_code, code, "{query} {variables}: {body}");
        if let Some(field) = field {
            assert_eq!(got_field.as_deref(), Some(field), "{query}: {body}");
        }
    }
    // …and in an id of a query: null, no error.
    let body = app
        .gql(
            "query($id: ID!) { item(id: $id) { id } }",
            json!({ "id": NUL }),
        )
        .await;
    assert!(
        body["data"]["item"].is_null() && body["errors"].is_null(),
        "{body}"
    );
    assert_eq!(count_rows(&app.database_url, "items").await, before);
    assert_eq!(count_rows(&app.database_url, "users").await, 2);
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);
}

/// `search` is at most 100 characters; a 900 KB one (under the body limit) is refused as
/// input, not answered INTERNAL_SERVER_ERROR.
#[tokio::test]
async fn a_search_over_100_characters_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let query = "query($s: String) { items(search: $s) { totalCount } }";
    let fine = app.gql(query, json!({ "s": "é".repeat(100) })).await;
    assert_eq!(fine["data"]["items"]["totalCount"], 0, "{fine}");
    for search in ["x".repeat(101), "x".repeat(900_000)] {
        let body = app.gql(query, json!({ "s": search })).await;
        assert_eq!(
            refusal(&body),
            ("BAD_USER_INPUT".to_owned(), Some("search".to_owned())),
            "{}",
            &body.to_string()[..200.min(body.to_string().len())]
        );
    }
}

/// POSTs `body` with `Accept: application/graphql-response+json`; status and JSON.
async fn post_graphql_response(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// API.md Errors: a missing or null required variable is `BAD_USER_INPUT` naming the
/// variable, with no `data` (nothing ran) — never INTERNAL_SERVER_ERROR — also when it
/// feeds a nullable argument; a variable with a default may be left out.
#[tokio::test]
async fn a_missing_or_null_required_variable_is_bad_user_input_naming_it_with_no_data() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    for (query, variables, name) in [
        (
            "query($x: Int!) { items(first: $x) { totalCount } }",
            json!({}),
            "x",
        ),
        (
            "query($x: Int!) { items(first: $x) { totalCount } }",
            json!({ "x": null }),
            "x",
        ),
        (
            "query($s: String!) { items(search: $s) { totalCount } }",
            json!({ "s": null }),
            "s",
        ),
        (
            "query($s: String!) { items(search: $s) { totalCount } }",
            Value::Null,
            "s",
        ),
        (
            "mutation($input: CreateItemInput!) { createItem(input: $input) { id } }",
            json!({}),
            "input",
        ),
    ] {
        let (status, body) = post_graphql_response(
            &app,
            Some(&alice.access),
            json!({ "query": query, "variables": variables }),
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            refusal(&body),
            ("BAD_USER_INPUT".to_owned(), Some(name.to_owned())),
            "{body}"
        );
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert!(message(&body).contains(&format!("${name}")), "{body}");
    }
    let body = app
        .gql(
            "query($x: Int! = 3) { items(first: $x) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    // Over a WebSocket: the operation's `error` message says the same.
    let mut socket = open(&app, Some(&alice.access)).await;
    start(
        &mut socket,
        "1",
        "query($x: Int!) { items(first: $x) { totalCount } }",
        json!({}),
    )
    .await;
    let answers = results(&mut socket, &["1".to_owned()]).await;
    assert_eq!(
        refusal(&answers["1"]),
        ("BAD_USER_INPUT".to_owned(), Some("x".to_owned()))
    );
}

/// A value of the wrong shape for an input object: written in the document it fails
/// validation (the spec's "Values of Correct Type"); sent as a variable it is the
/// client's input. Neither runs anything.
#[tokio::test]
async fn a_non_object_for_an_input_object_is_a_validation_error_or_bad_user_input() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let (status, body) = post_graphql_response(
        &app,
        Some(&admin.access),
        json!({ "query": "mutation { createStore(input: 5) { id } }" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(refusal(&body).0, "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let body = app
        .gql_as(
            &admin.access,
            "mutation($input: CreateStoreInput!) { createStore(input: $input) { id } }",
            json!({ "input": 5 }),
        )
        .await;
    assert_eq!(refusal(&body).0, "BAD_USER_INPUT", "{body}");
    assert_eq!(count_rows(&app.database_url, "stores").await, 0);
}

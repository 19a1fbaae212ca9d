//! The HTTP surface of API.md: content types, status codes, GET, batches, health, SDL.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_ok_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let response = app.get_raw("/healthz", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn schema_graphql_is_served_as_text_and_equals_the_sdl() {
    let app = TestApp::spawn().await;
    let response = app.get_raw("/schema.graphql", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        authql::graphql::schema::sdl()
    );
}

#[tokio::test]
async fn graphiql_is_served_on_root_and_to_browsers_on_graphql() {
    let app = TestApp::spawn().await;
    for path in ["/", "/graphql"] {
        let response = app
            .get_raw(path, &[("accept", "text/html,application/xhtml+xml")])
            .await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.to_lowercase().contains("graphiql"), "{path}");
    }
}

#[tokio::test]
async fn a_post_that_is_not_json_is_refused_with_415() {
    let app = TestApp::spawn().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .post_raw(&[], r#"{"query":"{ __typename }"}"#, Some(content_type))
            .await;
        assert_eq!(response.status(), 415, "{content_type}");
    }
    let response = app
        .post_raw(&[], r#"{"query":"{ __typename }"}"#, None)
        .await;
    assert_eq!(response.status(), 415, "no content type");
}

#[tokio::test]
async fn malformed_json_is_a_400_and_an_oversized_body_a_413() {
    let app = TestApp::spawn_with(&[("max-body-bytes", "1024")]).await;
    for body in ["", "{", "not json", "[]", "{\"query\": 5}"] {
        let response = app.post_raw(&[], body, Some("application/json")).await;
        assert_eq!(response.status(), 400, "{body}");
    }
    let big = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(2000)) });
    let response = app.post_json(&[], &big).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_with_nothing_executed() {
    let app = TestApp::spawn_with(&[("graphql-max-batch", "3")]).await;
    let signup = |name: &str| json!({ "query": SIGNUP, "variables": { "input": { "username": name, "password": PASSWORD } } });
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([
            signup("user1"),
            signup("user2"),
            signup("user3"),
            signup("user4")
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([signup("user1"), signup("user2"), signup("user3")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(count_rows(&app.database_url, "users").await, 3);
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations_with_405() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );
    let mutation = "mutation { signup(input: {username: \"getter\", password: \"long enough pw\"}) { accessToken } }";
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", mutation)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
}

#[tokio::test]
async fn graphql_response_json_is_served_when_accepted() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            &[("accept", "application/graphql-response+json")],
            &json!({ "query": "{ __typename }" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json"
    );
    let response = app
        .post_json(
            &[("accept", "application/graphql-response+json")],
            &json!({ "query": "{ nope }" }),
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = app
        .post_json(
            &[("accept", "application/json")],
            &json!({ "query": "{ __typename }" }),
        )
        .await;
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn parse_and_validation_errors_are_coded_and_carry_no_data() {
    let app = TestApp::spawn().await;
    let body = app.gql("{ me { ", json!({})).await;
    assert_code(&body, "GRAPHQL_PARSE_FAILED");
    assert!(body.get("data").is_none(), "{body}");
    let body = app.gql("{ doesNotExist }", json!({})).await;
    assert_code(&body, "GRAPHQL_VALIDATION_FAILED");
    assert!(body.get("data").is_none(), "{body}");
    let response: Value = app.post_json(&[], &json!({ "query": "query A { __typename } query B { __typename }", "operationName": "C" })).await
        .json()
        .await
        .unwrap();
    assert_code(&response, "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn a_variable_of_the_wrong_type_is_bad_user_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let body = app
        .gql_as(
            &admin.access,
            "query($first: Int) { users(first: $first) { totalCount } }",
            json!({ "first": "ten" }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "first");
    let body = app
        .gql(
            SIGNUP,
            json!({ "input": { "username": 5, "password": PASSWORD } }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "username",
        "{body}"
    );
}

/// POSTs `body` as JSON with the given `Accept`; returns the status and the JSON body.
async fn post_json(app: &TestApp, accept: &str, body: &Value) -> (u16, Value) {
    let response = app.post_json(&[("accept", accept)], body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// GETs `/graphql` with the given query-string pairs; returns the status and the JSON body.
async fn get_params(app: &TestApp, params: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(params)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn null_and_map_parameters_are_accepted() {
    let app = TestApp::spawn().await;
    for (name, value) in [
        ("variables", Value::Null),
        ("operationName", Value::Null),
        ("extensions", Value::Null),
        ("extensions", json!({ "some": "value" })),
    ] {
        let body = json!({ "query": "{ __typename }", name: value });
        for accept in ["application/json", "application/graphql-response+json"] {
            let (status, response) = post_json(&app, accept, &body).await;
            assert_eq!(status, 200, "{body} as {accept}");
            assert_eq!(response, json!({ "data": { "__typename": "Query" } }));
        }
    }
}

#[tokio::test]
async fn request_parameters_of_the_wrong_type_are_a_400() {
    let app = TestApp::spawn().await;
    let wrong = [
        json!({ "obj": "ect" }),
        json!(0),
        json!(false),
        json!(["array"]),
    ];
    for (name, values) in [
        ("query", &wrong[..]),
        ("operationName", &wrong[..]),
        (
            "variables",
            &[json!("string"), json!(0), json!(false), json!(["array"])][..],
        ),
        (
            "extensions",
            &[json!("string"), json!(0), json!(false), json!(["array"])][..],
        ),
    ] {
        for value in values {
            let mut body = json!({ "query": "{ __typename }" });
            body[name] = value.clone();
            let (status, response) = post_json(&app, "application/json", &body).await;
            assert_eq!(status, 400, "{body}");
            assert_code(&response, "BAD_REQUEST");
        }
    }
}

#[tokio::test]
async fn a_variable_that_fails_coercion_is_a_400_only_for_graphql_response_json() {
    let app = TestApp::spawn().await;
    let body = json!({
        "query": "query ($name: String!) { __type(name: $name) { name } }",
        "variables": { "name": 5 },
    });
    let (status, response) = post_json(&app, "application/json", &body).await;
    assert_eq!(status, 200);
    assert_code(&response, "BAD_USER_INPUT");
    assert!(response.get("data").is_none(), "{response}");
    let (status, response) = post_json(&app, "application/graphql-response+json", &body).await;
    assert_eq!(status, 400);
    assert_code(&response, "BAD_USER_INPUT");
    assert!(response.get("data").is_none(), "{response}");
}

#[tokio::test]
async fn graphql_response_json_refused_with_q_0_is_not_served() {
    let app = TestApp::spawn().await;
    let body = json!({ "query": "{" });
    let (status, _) = post_json(
        &app,
        "application/json, application/graphql-response+json;q=0",
        &body,
    )
    .await;
    assert_eq!(status, 200, "JSON semantics: a parse error is a 200");
    let response = app
        .post_json(
            &[(
                "accept",
                "application/graphql-response+json; q=0.5, application/json",
            )],
            &body,
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json"
    );
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .head(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.bytes().await.unwrap().is_empty());
    let response = app
        .client
        .head(app.url("/graphql"))
        .query(&[("query", "mutation { logout }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn get_reads_operation_name_variables_and_extensions_as_post_does() {
    let app = TestApp::spawn().await;
    let two = "query A { a: __typename } query B { b: __typename }";
    let (status, body) = get_params(&app, &[("query", two), ("operationName", "B")]).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "data": { "b": "Query" } }));
    let typed = "query T($name: String!) { __type(name: $name) { name } }";
    let (status, body) = get_params(
        &app,
        &[
            ("query", typed),
            ("variables", r#"{"name":"Query"}"#),
            ("extensions", r#"{"some":"value"}"#),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "data": { "__type": { "name": "Query" } } }));
    let (status, body) = get_params(&app, &[("query", "{ __typename }"), ("variables", "")]).await;
    assert_eq!(status, 200, "an empty field is no variables: {body}");
    for (name, value) in [
        ("variables", "not json"),
        ("variables", r#""string""#),
        ("extensions", "[1]"),
    ] {
        let (status, body) = get_params(&app, &[("query", "{ __typename }"), (name, value)]).await;
        assert_eq!(status, 400, "{name}={value}");
        assert_code(&body, "BAD_REQUEST");
        assert!(!message(&body).contains("needs a `query`"), "{body}");
    }
}

#[tokio::test]
async fn get_refuses_any_mutation_it_might_run() {
    let app = TestApp::spawn().await;
    let mixed = "query A { __typename } mutation B { signup(input: {username: \"getter\", password: \"long enough pw\"}) { accessToken } }";
    let (status, _) = get_params(&app, &[("query", mixed), ("operationName", "A")]).await;
    assert_eq!(status, 200);
    for params in [
        &[("query", mixed), ("operationName", "B")][..],
        // No name: GraphQL would refuse to pick, but GET does not depend on that.
        &[("query", mixed)][..],
    ] {
        let (status, body) = get_params(&app, params).await;
        assert_eq!(status, 405, "{params:?}");
        assert_code(&body, "METHOD_NOT_ALLOWED");
    }
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get_raw("/healthz", &[]).await;
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn healthz_answers_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    if !app.database_url.starts_with("postgres") {
        // An embedded SQLite file cannot be taken away from an open connection; the
        // PostgreSQL run (CI always does one) drops the database under the server.
        return;
    }
    use sea_orm::ConnectionTrait;
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let db = sea_orm::Database::connect(&admin_url).await.unwrap();
    db.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    db.close().await.ok();
    let response = app.get_raw("/healthz", &[]).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "unavailable" })
    );
}

#[tokio::test]
async fn a_wrongly_typed_literal_fails_validation_but_the_same_variable_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let accept = "application/graphql-response+json";
    for query in [
        r#"{ items(first: "x") { totalCount } }"#,
        r#"mutation { setUserRole(userId: "1", role: SUPERUSER) { id } }"#,
        r#"mutation { signup(input: {username: "alice"}) { accessToken } }"#,
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&admin.access)
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()["content-type"], accept);
        let body: Value = response.json().await.unwrap();
        assert_code(&body, "GRAPHQL_VALIDATION_FAILED");
        assert!(body.get("data").is_none(), "{body}");
    }
    let body = app
        .gql(
            "query($f: Int) { items(first: $f) { totalCount } }",
            json!({ "f": "x" }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "first");
}

/// The raw response text: key order is what is being tested.
async fn raw(app: &TestApp, token: Option<&str>, query: &str) -> String {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn response_fields_come_in_the_order_the_query_selected_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let id = app.item(&admin, &store, "Apple", "1.50").await;
    let text = raw(
        &app,
        None,
        &format!("{{ item(id: \"{id}\") {{ price name id z: __typename }} }}"),
    )
    .await;
    assert_eq!(
        text,
        format!(
            r#"{{"data":{{"item":{{"price":"1.50","name":"Apple","id":"{id}","z":"Item"}}}}}}"#
        )
    );
    // Errors start with their message.
    let text = raw(&app, None, "{ me { id } }").await;
    assert!(text.contains(r#""errors":[{"message":"#), "{text}");
}

#[tokio::test]
async fn a_parse_error_is_one_line_with_its_position() {
    let app = TestApp::spawn().await;
    let body = app.gql("{ me { id ", json!({})).await;
    assert_code(&body, "GRAPHQL_PARSE_FAILED");
    let message = message(&body);
    assert!(message.starts_with("Syntax Error: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(body["errors"][0]["locations"][0]["line"], 1, "{body}");
}

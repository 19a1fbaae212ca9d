//! The HTTP surface of API.md: content types, status codes, GET, batches, health, SDL.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_ok_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn schema_graphql_is_served_as_text_and_equals_the_sdl() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .unwrap();
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
            .client
            .get(app.url(path))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap();
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
            .client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(r#"{"query":"{ __typename }"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
    }
    let response = app
        .client
        .post(app.url("/graphql"))
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "no content type");
}

#[tokio::test]
async fn malformed_json_is_a_400_and_an_oversized_body_a_413() {
    let app = TestApp::spawn_with(&[("max-body-bytes", "1024")]).await;
    for body in ["{", "not json", "[]", "{\"query\": 5}"] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    let big = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(2000)) });
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&big)
        .send()
        .await
        .unwrap();
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
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json"
    );
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ nope }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/json")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
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
    let response: Value = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "query A { __typename } query B { __typename }", "operationName": "C" }))
        .send()
        .await
        .unwrap()
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

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

//! `APP_ENV=production` (API.md): no GraphiQL, no introspection, no field suggestions,
//! unless `GRAPHIQL=true` / `GRAPHQL_INTROSPECTION=true` turn them back on.

use serde_json::{Value, json};

use crate::helpers::*;

const PRODUCTION: (&str, &str) = ("app-env", "production");

/// Status and body of a browser-style `GET` (`Accept: text/html`).
async fn browse(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .get_raw(path, &[("accept", "text/html,application/xhtml+xml")])
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

fn is_graphiql(html: &str) -> bool {
    html.to_lowercase().contains("graphiql")
}

#[tokio::test]
async fn production_serves_no_graphiql() {
    let app = TestApp::spawn_with(&[PRODUCTION]).await;
    for path in ["/", "/graphql"] {
        let (status, html) = browse(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!is_graphiql(&html), "{path}: {html}");
    }
    // The assets are not served either, whatever name is asked for.
    let (status, _) = browse(&app, "/graphiql/graphiql.min.js").await;
    assert_eq!(status, 404);
    // The API itself is unaffected.
    let body = app.gql("{ __typename }", json!({})).await;
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn graphiql_true_turns_graphiql_back_on_in_production() {
    let app = TestApp::spawn_with(&[PRODUCTION, ("graphiql", "true")]).await;
    for path in ["/", "/graphql"] {
        let (status, html) = browse(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(is_graphiql(&html), "{path}");
    }
}

const INTROSPECTION: [&str; 5] = [
    "{ __schema { types { name } } }",
    "{ __type(name: \"User\") { name } }",
    "{ me { __type: __typename } __schema { queryType { name } } }",
    "{ schema: __schema { queryType { name } } }",
    "{ ...Q } fragment Q on Query { ... on Query { __type(name: \"Item\") { name } } }",
];

#[tokio::test]
async fn production_refuses_introspection_but_answers_typename() {
    let app = TestApp::spawn_with(&[PRODUCTION]).await;
    for query in INTROSPECTION {
        settle(&app).await;
        let before = app.statement_count();
        let body = app.gql(query, json!({})).await;
        assert_code(&body, "GRAPHQL_VALIDATION_FAILED");
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert_eq!(app.statement_count(), before, "{query}");
    }
    // Through GET as well.
    let response: Value = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", INTROSPECTION[0])])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_code(&response, "GRAPHQL_VALIDATION_FAILED");
    let body = app
        .gql("{ __typename items { __typename } }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["__typename"], "Query");
    assert_eq!(body["data"]["items"]["__typename"], "ItemConnection");
}

#[tokio::test]
async fn graphql_introspection_true_turns_introspection_back_on_in_production() {
    let app = TestApp::spawn_with(&[PRODUCTION, ("graphql-introspection", "true")]).await;
    let body = app.gql(INTROSPECTION[0], json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Item"), "{body}");
    let body = app.gql(INTROSPECTION[1], json!({})).await;
    assert_eq!(body["data"]["__type"]["name"], "User", "{body}");
}

#[tokio::test]
async fn development_allows_introspection() {
    let app = TestApp::spawn().await;
    for query in INTROSPECTION {
        let body = app.gql(query, json!({})).await;
        let answered = ["__schema", "__type", "schema"]
            .iter()
            .any(|field| body["data"][field].is_object());
        assert!(answered, "{query}: {body}");
    }
}

/// Misspellings that async-graphql answers with "Did you mean …", and the name it suggests.
const MISSPELT: [(&str, &str); 3] = [
    ("{ itemz { id } }", "items"),
    ("{ items { nodez { id } } }", "nodes"),
    (
        "mutation { signupp(input: {username: \"x\", password: \"y\"}) { accessToken } }",
        "signup",
    ),
];

#[tokio::test]
async fn production_errors_suggest_no_field_names() {
    let app = TestApp::spawn_with(&[PRODUCTION]).await;
    // An unknown argument is never answered with a suggestion; it must not start to be.
    let argument = ("{ items(frist: 1) { totalCount } }", "first");
    for (query, suggestion) in MISSPELT.into_iter().chain([argument]) {
        let body = app.gql(query, json!({})).await;
        assert_code(&body, "GRAPHQL_VALIDATION_FAILED");
        assert!(body.get("data").is_none(), "{body}");
        let message = message(&body);
        assert!(!message.contains("Did you mean"), "{query}: {body}");
        assert!(
            !message.contains(&format!("\"{suggestion}\"")),
            "{query} leaks {suggestion}: {body}"
        );
    }
}

#[tokio::test]
async fn development_errors_suggest_field_names() {
    let app = TestApp::spawn().await;
    for (query, suggestion) in MISSPELT {
        let body = app.gql(query, json!({})).await;
        assert_code(&body, "GRAPHQL_VALIDATION_FAILED");
        let message = message(&body);
        assert!(message.contains("Did you mean"), "{query}: {body}");
        assert!(
            message.contains(&format!("\"{suggestion}\"")),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn the_sdl_is_not_served_in_production_unless_introspection_is_on() {
    let status = |app: &TestApp| {
        let request = app.client.get(app.url("/schema.graphql")).send();
        async move { request.await.unwrap().status().as_u16() }
    };
    let app = TestApp::spawn_with(&[PRODUCTION]).await;
    assert_eq!(status(&app).await, 404);
    let app = TestApp::spawn_with(&[PRODUCTION, ("graphql-introspection", "true")]).await;
    assert_eq!(status(&app).await, 200);
}

//! Limits (API.md): depth, complexity and alias floods are refused before anything runs
//! (`GRAPHQL_VALIDATION_FAILED`, no `data`), garbage is a parse error and never a crash,
//! and the defaults still admit the largest honest query.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// Every field of an item, its store and its owner.
const ITEM_FIELDS: &str = "id name description price createdAt updatedAt \
    store { id name createdAt } owner { id username role createdAt email }";

/// A full page through `edges`, through `nodes`, or both.
fn honest_page(edges: bool, nodes: bool) -> String {
    let mut selection = String::new();
    if edges {
        selection.push_str(&format!("edges {{ cursor node {{ {ITEM_FIELDS} }} }} "));
    }
    if nodes {
        selection.push_str(&format!("nodes {{ {ITEM_FIELDS} }} "));
    }
    format!(
        "items(first: 100) {{ {selection}pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} totalCount }}"
    )
}

/// `{ items { nodes { store { items { … } } } } }` with `depth` nested fields, ending in
/// a scalar.
fn nested(depth: usize) -> String {
    let path = ["items", "nodes", "store"];
    let wrappers: Vec<&str> = path.iter().copied().cycle().take(depth - 1).collect();
    let leaf = match wrappers.last() {
        Some(&"items") => "totalCount",
        _ => "id",
    };
    format!(
        "{} {leaf} {}",
        wrappers
            .iter()
            .map(|f| format!("{f} {{"))
            .collect::<String>(),
        "}".repeat(wrappers.len())
    )
}

/// Asserts a refusal before execution: one `code` error, no `data`, no SQL run.
#[track_caller]
fn assert_refused(body: &Value, code: &str) {
    assert_code(body, code);
    assert!(body.get("data").is_none(), "{body}");
}

/// Sends `query` and asserts it was refused with `GRAPHQL_VALIDATION_FAILED` before a
/// single SQL statement ran.
async fn assert_refused_unexecuted(app: &TestApp, query: &str) -> Value {
    settle(app).await;
    let before = app.statement_count();
    let body = app.gql(query, json!({})).await;
    assert_refused(&body, "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(app.statement_count(), before, "SQL ran for a refused query");
    body
}

#[tokio::test]
async fn the_largest_honest_query_passes_with_the_default_limits() {
    let app = TestApp::spawn().await;
    let admin = seed_items(&app, 100).await.0;
    for (edges, nodes) in [(true, false), (false, true), (true, true)] {
        let query = format!("{{ {} }}", honest_page(edges, nodes));
        let body = app.gql_as(&admin.access, &query, json!({})).await;
        assert!(
            body["errors"].is_null(),
            "edges: {edges}, nodes: {nodes}: {body}"
        );
        let page = &body["data"]["items"];
        assert_eq!(page["totalCount"], 100);
        let first = if edges {
            assert_eq!(page["edges"].as_array().unwrap().len(), 100);
            &page["edges"][0]["node"]
        } else {
            assert_eq!(page["nodes"].as_array().unwrap().len(), 100);
            &page["nodes"][0]
        };
        assert_eq!(first["store"]["name"], "Shop");
        assert_eq!(first["owner"]["username"], "root");
        assert_eq!(first["owner"]["role"], "ADMIN");
    }
}

#[tokio::test]
async fn fifty_levels_of_nesting_are_refused_before_anything_runs() {
    let app = TestApp::spawn().await;
    let body = assert_refused_unexecuted(&app, &format!("{{ {} }}", nested(50))).await;
    assert!(message(&body).contains("nested too deep"), "{body}");
    // The same depth under a mutation: the mutation does not run either.
    let mutation = format!(
        "mutation {{ signup(input: {{username: \"deep\", password: \"{PASSWORD}\"}}) {{ user {{ {} }} }} }}",
        nested(48)
    );
    let body = app.gql(&mutation, json!({})).await;
    assert_refused(&body, "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
}

#[tokio::test]
async fn five_hundred_aliased_full_pages_are_refused_quickly() {
    let app = TestApp::spawn().await;
    let copies: String = (0..500)
        .map(|i| format!("p{i}: {} ", honest_page(false, true)))
        .collect();
    let started = Instant::now();
    let body = assert_refused_unexecuted(&app, &format!("{{ {copies} }}")).await;
    assert!(message(&body).contains("aliases"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusing took {:?}",
        started.elapsed()
    );
    // With aliases allowed, the complexity budget refuses them just as quickly.
    let app = TestApp::spawn_with(&[("graphql-max-aliases", "1000")]).await;
    let started = Instant::now();
    let body = assert_refused_unexecuted(&app, &format!("{{ {copies} }}")).await;
    assert!(message(&body).contains("too complex"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn two_hundred_aliased_signups_are_refused_with_nobody_signed_up() {
    let app = TestApp::spawn().await;
    let signups: String = (0..200)
        .map(|i| {
            format!(
                "s{i}: signup(input: {{username: \"flood{i}\", password: \"{PASSWORD}\"}}) {{ accessToken }} "
            )
        })
        .collect();
    let started = Instant::now();
    let body = app
        .gql(&format!("mutation {{ {signups} }}"), json!({}))
        .await;
    assert_refused(&body, "GRAPHQL_VALIDATION_FAILED");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
    // Aliases through a fragment count the same.
    let fields: String = (0..11)
        .map(|i| {
            format!(
                "s{i}: signup(input: {{username: \"frag{i}\", password: \"{PASSWORD}\"}}) {{ accessToken }} "
            )
        })
        .collect();
    let body = app
        .gql(
            &format!("mutation {{ ...M }} fragment M on Mutation {{ {fields} }}"),
            json!({}),
        )
        .await;
    assert_refused(&body, "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
}

#[tokio::test]
async fn as_many_aliased_mutations_as_a_batch_may_hold_still_run() {
    let app = TestApp::spawn_with(&[("graphql-max-batch", "3")]).await;
    let signups = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "s{i}: signup(input: {{username: \"user{n}x{i}\", password: \"{PASSWORD}\"}}) {{ accessToken }} "
                )
            })
            .collect()
    };
    let body = app
        .gql(&format!("mutation {{ {} }}", signups(4)), json!({}))
        .await;
    assert_refused(&body, "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
    let body = app
        .gql(&format!("mutation {{ {} }}", signups(3)), json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(count_rows(&app.database_url, "users").await, 3);
}

#[tokio::test]
async fn fragments_that_multiply_are_refused_without_being_expanded() {
    let app = TestApp::spawn().await;
    // Each fragment spreads the next twice: 2^40 selections once expanded, from a
    // document of a few kilobytes.
    let mut document = String::from("{ item(id: 1) { ...F0 } }");
    for i in 0..40 {
        let next = i + 1;
        document.push_str(&format!(
            " fragment F{i} on Item {{ store {{ id }} ...F{next} ...F{next} }}"
        ));
    }
    document.push_str(" fragment F40 on Item { id }");
    let started = Instant::now();
    let body = assert_refused_unexecuted(&app, &document).await;
    assert!(message(&body).contains("too complex"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A cycle that doubles at each turn.
    let body = assert_refused_unexecuted(
        &app,
        "{ item(id: 1) { ...A } } fragment A on Item { ...B ...B } fragment B on Item { ...A ...A }",
    )
    .await;
    assert!(message(&body).contains("within itself"), "{body}");
}

#[tokio::test]
async fn custom_depth_and_complexity_limits_are_honoured() {
    let app = TestApp::spawn_with(&[("graphql-max-depth", "3")]).await;
    assert_refused_unexecuted(&app, "{ items { nodes { store { id } } } }").await;
    let body = app.gql("{ items { nodes { id } } }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");

    let app = TestApp::spawn_with(&[("graphql-max-complexity", "50")]).await;
    let body = assert_refused_unexecuted(&app, "{ items(first: 100) { nodes { id } } }").await;
    assert!(message(&body).contains("too complex"), "{body}");
    let body = app
        .gql("{ items(first: 10) { nodes { id } } }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn garbage_is_a_parse_error_never_a_crash() {
    let app = TestApp::spawn().await;
    let deep_fields = format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000));
    let deep_values = format!(
        "{{ item(id: {}1{}) {{ id }} }}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_objects = format!(
        "{{ items(search: {}) {{ totalCount }} }}",
        "{a: ".repeat(10_000) + &"}".repeat(10_000)
    );
    let long_name = format!("{{ {} }}", "a".repeat(500_000));
    let unterminated = format!(
        "{{ items(search: \"{}) {{ totalCount }} }}",
        "x".repeat(100_000)
    );
    for garbage in [
        "{".repeat(10_000),
        "}".repeat(10_000),
        deep_fields,
        deep_values,
        deep_objects,
        long_name,
        unterminated,
        "query query query".to_owned(),
        "\u{0}\u{1}\u{2}".to_owned(),
        String::new(),
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": garbage }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer to {}…: {e}", &garbage[..garbage.len().min(20)]));
        assert_eq!(
            response.status(),
            200,
            "{}…",
            &garbage[..garbage.len().min(20)]
        );
        let body: Value = response.json().await.unwrap();
        let code = code(&body);
        assert!(
            code == "GRAPHQL_PARSE_FAILED" || code == "GRAPHQL_VALIDATION_FAILED",
            "{}…: {body}",
            &garbage[..garbage.len().min(20)]
        );
        assert!(body.get("data").is_none(), "{body}");
    }
    let response = app.get_raw("/healthz", &[]).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let query = format!("{{ __typename }} #{}", "x".repeat(1_048_576));
    let response = app.post_json(&[], &json!({ "query": query })).await;
    assert_eq!(response.status(), 413);
}

/// Admitted (no validation error) or refused with `GRAPHQL_VALIDATION_FAILED`.
async fn admitted(app: &TestApp, token: &str, query: &str) -> bool {
    let body = app.gql_as(token, query, json!({})).await;
    match body["errors"][0]["extensions"]["code"].as_str() {
        None => true,
        Some("GRAPHQL_VALIDATION_FAILED") => false,
        Some(other) => panic!("{other}: {body}"),
    }
}

/// docs/api.md ("Limits") quotes these numbers: a full page costs 2300 through `nodes`, 2500 through
/// `edges`, 4200 through both, and is 4 (`nodes`) or 5 (`edges`) deep.
#[tokio::test]
async fn the_honest_page_costs_what_the_readme_says() {
    for (edges, nodes, complexity, depth) in [
        (false, true, 2300, 4),
        (true, false, 2500, 5),
        (true, true, 4200, 5),
    ] {
        let query = format!("{{ {} }}", honest_page(edges, nodes));
        let limits = |c: usize, d: usize| [c.to_string(), d.to_string()];
        for (c, d, expected) in [
            (complexity, depth, true),
            (complexity - 1, depth, false),
            (complexity, depth - 1, false),
        ] {
            let [c, d] = limits(c, d);
            let app = TestApp::spawn_with(&[
                ("graphql-max-complexity", c.as_str()),
                ("graphql-max-depth", d.as_str()),
            ])
            .await;
            let admin = app.admin("root").await;
            assert_eq!(
                admitted(&app, &admin.access, &query).await,
                expected,
                "edges: {edges}, nodes: {nodes}, complexity {c}, depth {d}"
            );
        }
    }
}

/// POSTs a batch; returns the status and the array of responses.
async fn batch(app: &TestApp, accept: &str, operations: &[String]) -> (u16, Vec<Value>) {
    let body: Vec<Value> = operations.iter().map(|q| json!({ "query": q })).collect();
    let response = app.post_json(&[("accept", accept)], &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_batch_is_budgeted_as_a_whole_and_refused_whole() {
    let app = TestApp::spawn().await;
    // Ten operations of ten signups each: every one within its own limits, a hundred
    // Argon2 hashes together.
    let operations: Vec<String> = (0..10)
        .map(|op| {
            let fields: String = (0..10)
                .map(|i| {
                    format!(
                        "s{i}: signup(input: {{username: \"u{op}x{i}\", password: \"{PASSWORD}\"}}) {{ tokenType }} "
                    )
                })
                .collect();
            format!("mutation {{ {fields} }}")
        })
        .collect();
    for (accept, expected) in [
        ("application/graphql-response+json", 400),
        ("application/json", 200),
    ] {
        let (status, responses) = batch(&app, accept, &operations).await;
        assert_eq!(status, expected);
        assert_eq!(responses.len(), 10);
        for response in &responses {
            assert_refused(response, "GRAPHQL_VALIDATION_FAILED");
        }
    }
    assert_eq!(count_rows(&app.database_url, "users").await, 0);

    // Aliases are summed too: 2 × 20 is over 30, 2 × 15 is not.
    let aliased = |n: usize| -> String {
        let fields: String = (0..n).map(|i| format!("a{i}: __typename ")).collect();
        format!("{{ {fields} }}")
    };
    let (_, responses) = batch(&app, "application/json", &[aliased(20), aliased(20)]).await;
    assert!(
        responses
            .iter()
            .all(|r| r["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED")
    );
    let (_, responses) = batch(&app, "application/json", &[aliased(15), aliased(15)]).await;
    assert!(
        responses.iter().all(|r| r["errors"].is_null()),
        "{responses:?}"
    );
}

#[tokio::test]
async fn alias_and_directive_floods_are_refused() {
    let app = TestApp::spawn().await;
    let typenames: String = (0..101).map(|i| format!("t{i}: __typename ")).collect();
    let body = assert_refused_unexecuted(&app, &format!("{{ {typenames} }}")).await;
    assert!(message(&body).contains("aliases"), "{body}");
    let directives = "@skip(if: false) ".repeat(100);
    let body = assert_refused_unexecuted(&app, &format!("{{ __typename {directives} }}")).await;
    assert!(message(&body).contains("directives"), "{body}");
    // Within the limits, both pass.
    let typenames: String = (0..30).map(|i| format!("t{i}: __typename ")).collect();
    let body = app.gql(&format!("{{ {typenames} }}"), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn many_operations_spreading_one_large_fragment_are_refused_quickly() {
    let app = TestApp::spawn().await;
    // One operation alone is within the limits (2^13 `__typename`s); the selection budget
    // is shared by the whole document, so two thousand of them are not walked one by one.
    let mut document: String = (0..2000)
        .map(|i| format!("query q{i} {{ ...F0 }} "))
        .collect();
    for i in 0..13 {
        let next = i + 1;
        document.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }} "
        ));
    }
    document.push_str("fragment F13 on Query { __typename }");
    let started = Instant::now();
    let body = app
        .post_json(&[], &json!({ "query": document, "operationName": "q0" }))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_refused(&body, "GRAPHQL_VALIDATION_FAILED");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

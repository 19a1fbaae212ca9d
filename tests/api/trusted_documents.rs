//! Trusted documents (API.md "Trusted documents"): manifests, ids on every transport, the
//! modes `off` / `audit` / `require`, APQ registration, reload on SIGHUP, and the refusals
//! at start.

use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::*;
use crate::metrics::{scrape, value};

const PAGE: &str = "query Page($first: Int) { items(first: $first) { totalCount } }";
/// Its complexity depends on `$first`.
const NAMES: &str = "query Names($first: Int) { items(first: $first) { nodes { name } } }";
const EVENTS: &str = "subscription Events { itemEvents { kind item { name } } }";
const DELETE_STORE: &str = "mutation Gone($id: ID!) { deleteStore(id: $id) }";
/// Valid when the app was built, not against today's schema.
const STALE: &str = "{ me { id favouriteColour } }";

fn sha(text: &str) -> String {
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// The documents the tests' own helpers send (signup, login, stores, items), and ours.
fn app_documents() -> Vec<&'static str> {
    vec![
        SIGNUP,
        LOGIN,
        ME,
        CREATE_STORE,
        CREATE_ITEM,
        PAGE,
        NAMES,
        EVENTS,
        DELETE_STORE,
        STALE,
    ]
}

/// A flat `{sha256: text}` manifest (GraphQL Code Generator's client preset) in `dir`.
fn flat_manifest(dir: &std::path::Path, documents: &[&str]) -> String {
    let map: serde_json::Map<String, Value> = documents
        .iter()
        .map(|text| (sha(text), json!(text)))
        .collect();
    let path = dir.join("persisted-documents.json");
    std::fs::write(&path, serde_json::to_string(&map).unwrap()).unwrap();
    path.display().to_string()
}

/// Apollo's persisted query manifest in `dir`.
fn apollo_manifest(dir: &std::path::Path, documents: &[&str]) -> String {
    let operations: Vec<Value> = documents
        .iter()
        .map(|text| json!({ "id": sha(text), "body": text, "name": "X", "type": "query" }))
        .collect();
    let path = dir.join("persisted-query-manifest.json");
    std::fs::write(
        &path,
        json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations })
            .to_string(),
    )
    .unwrap();
    path.display().to_string()
}

async fn with_mode(mode: &str, manifest: Option<&str>) -> TestApp {
    let mut overrides = vec![
        ("persisted-documents", mode),
        ("metrics-addr", "127.0.0.1:0"),
    ];
    if let Some(manifest) = manifest {
        overrides.push(("persisted-documents-files", manifest));
    }
    TestApp::spawn_with(&overrides).await
}

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> Value {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|value| vec![("authorization", value)])
        .unwrap_or_default();
    app.post_json(&headers, &body).await.json().await.unwrap()
}

#[tokio::test]
async fn require_runs_manifest_documents_by_id_or_text_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = flat_manifest(dir.path(), &app_documents());
    let app = with_mode("require", Some(&manifest)).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    app.item(&admin, &store, "Apple", "1").await;

    // By `documentId`, with and without `sha256:`, by Relay's `doc_id`, by APQ's hash.
    for body in [
        json!({ "documentId": format!("sha256:{}", sha(PAGE)), "variables": { "first": 5 } }),
        json!({ "documentId": sha(PAGE) }),
        json!({ "doc_id": sha(PAGE) }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha(PAGE) } } }),
        // The identical text, no id.
        json!({ "query": PAGE }),
    ] {
        let answer = post(&app, Some(&admin.access), body.clone()).await;
        assert_eq!(answer["data"]["items"]["totalCount"], 1, "{body}: {answer}");
    }

    // Any other text: refused, nothing runs.
    let other = "mutation { createStore(input: {name: \"Sneaky\"}) { id } }";
    let answer = post(&app, Some(&admin.access), json!({ "query": other })).await;
    assert_code(&answer, "PERSISTED_DOCUMENT_REQUIRED");
    assert_eq!(answer["data"], Value::Null);
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);
    // Registering it as APQ does not make it trusted.
    let answer = post(
        &app,
        Some(&admin.access),
        json!({ "query": other, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha(other) } } }),
    )
    .await;
    assert_code(&answer, "PERSISTED_DOCUMENT_REQUIRED");
    assert_eq!(count_rows(&app.database_url, "stores").await, 1);

    // An unknown id: what Apollo's APQ link waits for.
    let answer = post(&app, None, json!({ "documentId": sha("{ __typename }") })).await;
    assert_code(&answer, "PERSISTED_DOCUMENT_NOT_FOUND");
    assert_eq!(message(&answer), "PersistedQueryNotFound");
    // An id and a text that do not match.
    let answer = post(&app, None, json!({ "documentId": sha(PAGE), "query": ME })).await;
    assert_code(&answer, "BAD_USER_INPUT");

    // In a batch, the untrusted operation alone is refused.
    let answers = app
        .batch(&[
            json!({ "documentId": sha(PAGE) }),
            json!({ "query": "{ __typename }" }),
        ])
        .await;
    assert!(answers[0]["data"]["items"].is_object(), "{}", answers[0]);
    assert_code(&answers[1], "PERSISTED_DOCUMENT_REQUIRED");

    // Guards still run: a trusted document is not an authorization decision.
    let answer = post(&app, None, json!({ "documentId": sha(ME) })).await;
    assert_code(&answer, "AUTHORIZATION_REQUIRED");

    let metrics = scrape(&app).await;
    assert!(
        value(
            &metrics,
            r#"authql_persisted_documents_total{outcome="hit"}"#
        ) >= 5.0
    );
    assert_eq!(
        value(
            &metrics,
            r#"authql_persisted_documents_total{outcome="miss"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn ids_work_over_get_websocket_and_sse_and_get_still_runs_queries_only() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = flat_manifest(dir.path(), &app_documents());
    let app = with_mode("require", Some(&manifest)).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;

    // GET by id; a mutation named by id over GET is still 405.
    let bearer = format!("Bearer {}", admin.access);
    let response = app
        .get_raw(
            &format!(
                "/graphql?documentId={}&variables=%7B%22first%22%3A2%7D",
                sha(PAGE)
            ),
            &[("authorization", &bearer), ("accept", "application/json")],
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["items"]["totalCount"], 0, "{body}");
    let response = app
        .get_raw(
            &format!("/graphql?documentId={}", sha(DELETE_STORE)),
            &[("authorization", &bearer), ("accept", "application/json")],
        )
        .await;
    assert_eq!(response.status(), 405);

    // A WebSocket `subscribe` by id, its `query` empty.
    let mut socket = open(&app, Some(&admin.access)).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "", "documentId": sha(EVENTS) } }),
    )
    .await;
    assert!(live(&mut socket).await.is_empty());
    // Over the socket, an untrusted text is refused like over HTTP.
    start(&mut socket, "2", "{ __typename }", json!({})).await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "PERSISTED_DOCUMENT_REQUIRED"
    );
    app.item(&admin, &store, "Apple", "1").await;
    let event = next(&mut socket).await.unwrap();
    assert_eq!(event["id"], "1", "{event}");
    assert_eq!(
        event["payload"]["data"]["itemEvents"]["item"]["name"],
        "Apple"
    );

    // An SSE stream by id: the server sees it is a subscription.
    let mut stream = app
        .post_json(
            &[("authorization", &bearer), ("accept", "text/event-stream")],
            &json!({ "documentId": sha(EVENTS) }),
        )
        .await;
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let first = stream.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b":\n\n", "the first keep-alive: listening");
}

#[tokio::test]
async fn a_document_that_no_longer_validates_is_refused_per_request_not_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = apollo_manifest(dir.path(), &app_documents());
    let app = with_mode("require", Some(&manifest)).await;
    let alice = app.signup("alice").await;
    let answer = post(
        &app,
        Some(&alice.access),
        json!({ "documentId": sha(STALE) }),
    )
    .await;
    assert_code(&answer, "GRAPHQL_VALIDATION_FAILED");
    assert!(message(&answer).contains("favouriteColour"), "{answer}");
    // The rest of the manifest runs.
    let answer = post(&app, Some(&alice.access), json!({ "documentId": sha(ME) })).await;
    assert_eq!(answer["data"]["me"]["username"], "alice");
}

#[tokio::test]
async fn variables_and_limits_are_still_checked_per_request_with_the_usual_codes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = flat_manifest(dir.path(), &app_documents());
    let limit = ("graphql-max-complexity", "50");
    let trusted = TestApp::spawn_with(&[
        ("persisted-documents", "require"),
        ("persisted-documents-files", &manifest),
        limit,
    ])
    .await;
    let plain = TestApp::spawn_with(&[limit]).await;
    for app in [&trusted, &plain] {
        let alice = app.signup("alice").await;
        for (document, variables, code) in [
            (PAGE, json!({ "first": "many" }), Some("BAD_USER_INPUT")),
            (PAGE, json!({ "first": 0 }), Some("BAD_USER_INPUT")),
            // Complexity that depends on a variable: 5 names pass, 100 do not.
            (NAMES, json!({ "first": 5 }), None),
            (
                NAMES,
                json!({ "first": 100 }),
                Some("GRAPHQL_VALIDATION_FAILED"),
            ),
        ] {
            let by_text = post(
                app,
                Some(&alice.access),
                json!({ "query": document, "variables": variables }),
            )
            .await;
            match code {
                Some(code) => assert_code(&by_text, code),
                None => assert!(by_text["errors"].is_null(), "{by_text}"),
            }
            if std::ptr::eq(app, &trusted) {
                let by_id = post(
                    app,
                    Some(&alice.access),
                    json!({ "documentId": sha(document), "variables": variables }),
                )
                .await;
                assert_eq!(by_id, by_text, "the same answer by id and by text");
            }
        }
    }
}

/// A document sent as text is validated in full until an operation of it has run; after
/// that only what depends on the request is checked (as for a trusted document). Every
/// answer must equal a fresh server's, which validates everything, whatever ran before.
#[tokio::test]
async fn a_document_validated_once_is_still_checked_per_request_like_a_fresh_one() {
    // Two operations, both valid; `Count` needs its variable.
    const TWO: &str =
        "query Mine { me { username } } query Count($n: Int!) { items(first: $n) { totalCount } }";
    // async-graphql validates a document whole: this one never runs, so is never marked.
    const BROKEN: &str = "query Mine { me { username } } query Bad { me { favouriteColour } }";
    let limit = [("graphql-max-complexity", "50")];
    let warm = TestApp::spawn_with(&limit).await;
    let alice = warm.signup("alice").await;
    // Each operation run once, validly: its document is marked validated.
    for (document, operation, variables) in [
        (PAGE, None, json!({ "first": 1 })),
        (NAMES, None, json!({ "first": 2 })),
        (TWO, Some("Mine"), json!({})),
        (BROKEN, Some("Mine"), json!({})),
    ] {
        let answer = post(
            &warm,
            Some(&alice.access),
            json!({ "query": document, "operationName": operation, "variables": variables }),
        )
        .await;
        let broken = document == BROKEN;
        assert_eq!(answer["errors"].is_null(), !broken, "{answer}");
    }
    let cases = [
        (
            PAGE,
            None,
            json!({ "first": "many" }),
            Some("BAD_USER_INPUT"),
        ),
        (PAGE, None, json!({ "first": 0 }), Some("BAD_USER_INPUT")),
        (PAGE, None, json!({ "first": 3 }), None),
        // Complexity that depends on a variable: 5 names pass, 100 do not.
        (
            NAMES,
            None,
            json!({ "first": 100 }),
            Some("GRAPHQL_VALIDATION_FAILED"),
        ),
        (NAMES, None, json!({ "first": 5 }), None),
        // Another operation of the same document, and none named.
        (TWO, Some("Count"), json!({}), Some("BAD_USER_INPUT")),
        (TWO, Some("Count"), json!({ "n": 2 }), None),
        (TWO, None, json!({}), Some("GRAPHQL_VALIDATION_FAILED")),
        (TWO, Some("Mine"), json!({}), None),
        (
            BROKEN,
            Some("Mine"),
            json!({}),
            Some("GRAPHQL_VALIDATION_FAILED"),
        ),
    ];
    for (document, operation, variables, code) in cases {
        let body = json!({ "query": document, "operationName": operation, "variables": variables });
        let fresh = TestApp::spawn_with(&limit).await;
        let bob = fresh.signup("bob").await;
        let cold = post(&fresh, Some(&bob.access), body.clone()).await;
        let hot = post(&warm, Some(&alice.access), body).await;
        match code {
            Some(code) => assert_code(&hot, code),
            None => assert!(hot["errors"].is_null(), "{hot}"),
        }
        // The same answer but for whose it is.
        let mine = |answer: &Value| answer.to_string().replace("alice", "bob");
        assert_eq!(mine(&hot), mine(&cold), "{document} {operation:?}");
    }
}

#[tokio::test]
async fn off_mode_registers_apq_documents_within_memory_and_audit_counts_unknown_texts() {
    let app = with_mode("off", None).await;
    let query = "{ __typename }";
    let hash = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha(query) } });
    // Apollo's APQ link: the hash alone, then hash and text, then the hash alone again.
    let first = post(&app, None, json!({ "extensions": hash })).await;
    assert_eq!(message(&first), "PersistedQueryNotFound");
    let registered = post(&app, None, json!({ "query": query, "extensions": hash })).await;
    assert_eq!(registered["data"]["__typename"], "Query", "{registered}");
    let again = post(&app, None, json!({ "extensions": hash })).await;
    assert_eq!(again["data"]["__typename"], "Query", "{again}");
    // Any text runs in `off`, with no hashing or counting.
    let answer = post(&app, None, json!({ "query": "{ t: __typename }" })).await;
    assert_eq!(answer["data"]["t"], "Query");
    let metrics = scrape(&app).await;
    for (outcome, expected) in [
        ("miss", 1.0),
        ("registered", 1.0),
        ("hit", 1.0),
        ("unknown_text", 0.0),
    ] {
        assert_eq!(
            value(
                &metrics,
                &format!(r#"authql_persisted_documents_total{{outcome="{outcome}"}}"#)
            ),
            expected,
            "{outcome}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let manifest = flat_manifest(dir.path(), &app_documents());
    let audit = with_mode("audit", Some(&manifest)).await;
    let answer = post(&audit, None, json!({ "query": "{ a: __typename }" })).await;
    assert_eq!(answer["data"]["a"], "Query", "any text runs in audit");
    post(&audit, None, json!({ "query": PAGE })).await;
    let metrics = scrape(&audit).await;
    assert_eq!(
        value(
            &metrics,
            r#"authql_persisted_documents_total{outcome="unknown_text"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            r#"authql_persisted_documents_total{outcome="hit"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn sighup_reloads_the_manifests_and_a_bad_reload_keeps_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = flat_manifest(dir.path(), &app_documents());
    let (database_url, _db) = fresh_database().await;
    let app = TestApp::spawn_process_on(
        &database_url,
        &[
            ("persisted-documents", "require"),
            ("persisted-documents-files", &manifest),
        ],
    )
    .await;
    let added = "{ added: __typename }";
    let by_id = json!({ "documentId": sha(added) });
    assert_code(
        &post(&app, None, by_id.clone()).await,
        "PERSISTED_DOCUMENT_NOT_FOUND",
    );
    let mut documents = app_documents();
    documents.push(added);
    flat_manifest(dir.path(), &documents);
    app.signal("HUP");
    within(WAIT, "the reloaded manifest", || async {
        post(&app, None, by_id.clone()).await["data"]["added"] == "Query"
    })
    .await;
    // A manifest whose id is not its text's hash: the reload fails, the set stays.
    std::fs::write(&manifest, json!({ "0000": added }).to_string()).unwrap();
    app.signal("HUP");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(post(&app, None, by_id).await["data"]["added"], "Query");
}

#[test]
fn a_bad_manifest_or_mode_stops_the_start_with_exit_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mismatch = dir.path().join("mismatch.json");
    std::fs::write(&mismatch, json!({ sha("{ a }"): "{ b }" }).to_string()).unwrap();
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{").unwrap();
    let missing = dir.path().join("missing.json");
    for (settings, variable) in [
        (
            vec![("PERSISTED_DOCUMENTS_FILES", mismatch.display().to_string())],
            "PERSISTED_DOCUMENTS_FILES",
        ),
        (
            vec![("PERSISTED_DOCUMENTS_FILES", not_json.display().to_string())],
            "PERSISTED_DOCUMENTS_FILES",
        ),
        (
            vec![("PERSISTED_DOCUMENTS_FILES", missing.display().to_string())],
            "PERSISTED_DOCUMENTS_FILES",
        ),
        (
            vec![("PERSISTED_DOCUMENTS", "require".to_owned())],
            "PERSISTED_DOCUMENTS",
        ),
        (
            vec![("PERSISTED_DOCUMENTS", "sometimes".to_owned())],
            "PERSISTED_DOCUMENTS",
        ),
    ] {
        let mut command = authql_command();
        command
            .env("DATABASE_URL", &db)
            .env("LISTEN_ADDR", "127.0.0.1:0");
        for (name, value) in &settings {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{settings:?}: {stderr}");
        assert!(stderr.contains(variable), "{settings:?}: {stderr}");
    }
}

//! Prometheus metrics on `METRICS_ADDR` (API.md Operations): a listener of its own, every
//! listed series present from the start, and each counter moving by exactly what a client
//! did.

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

use crate::helpers::*;

async fn metrics_app(overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("metrics-addr", "127.0.0.1:0")];
    all.extend_from_slice(overrides);
    TestApp::spawn_with(&all).await
}

/// The exposition, scraped over HTTP.
pub async fn scrape(app: &TestApp) -> String {
    let addr = app.metrics_addr.expect("a metrics listener");
    let response = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// One series' value (`name{labels}` exactly as exposed).
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// How much each series moved between two scrapes.
fn moved(before: &str, after: &str, series: &str) -> f64 {
    value(after, series) - value(before, series)
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only_with_every_series_at_zero() {
    let app = metrics_app(&[]).await;
    let public = app.get_raw("/metrics", &[]).await;
    assert_eq!(public.status(), 404, "metrics on the public address");
    let text = scrape(&app).await;
    for series in [
        r#"authql_graphql_operations_total{type="query",outcome="ok"}"#,
        r#"authql_graphql_operations_total{type="mutation",outcome="error"}"#,
        r#"authql_graphql_operations_total{type="subscription",outcome="ok"}"#,
        r#"authql_auth_failures_total{code="TOKEN_EXPIRED"}"#,
        r#"authql_auth_failures_total{code="FORBIDDEN"}"#,
        r#"authql_auth_failures_total{code="CSRF_FAILED"}"#,
        r#"authql_logins_total{outcome="success"}"#,
        r#"authql_logins_total{outcome="invalid_credentials"}"#,
        r#"authql_logins_total{outcome="rate_limited"}"#,
        "authql_refresh_reuse_detected_total",
        "authql_password_hash_queue",
        "authql_ws_connections",
        r#"authql_ws_closed_total{code="4403"}"#,
    ] {
        assert_eq!(value(&text, series), 0.0, "{series}");
    }
    // Sub-millisecond buckets, for reads answered from memory.
    assert!(text.contains(r#"authql_http_request_duration_seconds_bucket{le="0.0001"}"#));
}

#[tokio::test]
async fn logins_count_by_outcome_exactly() {
    let app = metrics_app(&[("login-max-failures", "3")]).await;
    app.signup("alice").await;
    app.signup("bob").await;
    let before = scrape(&app).await;
    for _ in 0..3 {
        assert_code(
            &app.login("alice", "wrong password!").await,
            "INVALID_CREDENTIALS",
        );
    }
    assert_code(&app.login("alice", "wrong password!").await, "RATE_LIMITED");
    // A username that cannot exist is an invalid credential too.
    assert_code(
        &app.login("no such user!", "whatever").await,
        "INVALID_CREDENTIALS",
    );
    assert!(app.login("bob", PASSWORD).await["errors"].is_null());
    let after = scrape(&app).await;
    let logins = |outcome: &str| {
        moved(
            &before,
            &after,
            &format!(r#"authql_logins_total{{outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(logins("invalid_credentials"), 4.0);
    assert_eq!(logins("rate_limited"), 1.0);
    assert_eq!(logins("success"), 1.0);
    // No label names a user, a token or an address.
    for secret in ["alice", "bob", "127.0.0.1", "no such user"] {
        assert!(!after.contains(secret), "{secret} in the metrics");
    }
}

#[tokio::test]
async fn auth_failures_count_once_per_request_per_code_and_operations_by_type_and_outcome() {
    let app = metrics_app(&[]).await;
    let alice = app.signup("alice").await;
    let before = scrape(&app).await;
    // Two refused fields, one request: FORBIDDEN once.
    let body = app
        .gql_as(
            &alice.access,
            "{ a: users { totalCount } b: users { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    assert_code(
        &app.gql("{ me { id } }", json!({})).await,
        "AUTHORIZATION_REQUIRED",
    );
    assert_code(
        &app.gql_as("not.a.token", "{ me { id } }", json!({})).await,
        "INVALID_TOKEN",
    );
    assert!(app.gql("{ items { totalCount } }", json!({})).await["errors"].is_null());
    // A batch is one request: both operations' AUTHORIZATION_REQUIRED count once.
    let batch: serde_json::Value = app
        .post_json(
            &[],
            &json!([{ "query": "{ me { id } }" }, { "query": "{ me { id } }" }]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batch.as_array().unwrap().len(), 2, "{batch}");
    let after = scrape(&app).await;
    let failures = |code: &str| {
        moved(
            &before,
            &after,
            &format!(r#"authql_auth_failures_total{{code="{code}"}}"#),
        )
    };
    assert_eq!(failures("FORBIDDEN"), 1.0);
    assert_eq!(
        failures("AUTHORIZATION_REQUIRED"),
        2.0,
        "one request, one batch"
    );
    assert_eq!(failures("INVALID_TOKEN"), 1.0);
    assert_eq!(failures("TOKEN_EXPIRED"), 0.0);
    let operations = |outcome: &str| {
        moved(
            &before,
            &after,
            &format!(r#"authql_graphql_operations_total{{type="query",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(operations("error"), 5.0);
    assert_eq!(operations("ok"), 1.0);
    assert_eq!(
        moved(
            &before,
            &after,
            r#"authql_http_requests_total{status="200"}"#
        ),
        5.0
    );
    assert_eq!(
        moved(
            &before,
            &after,
            "authql_http_request_duration_seconds_count"
        ),
        5.0
    );
}

#[tokio::test]
async fn a_refresh_token_presented_again_counts_as_reuse() {
    let app = metrics_app(&[]).await;
    let alice = app.signup("alice").await;
    let before = scrape(&app).await;
    let variables = json!({ "t": alice.refresh });
    assert!(app.gql(REFRESH, variables.clone()).await["errors"].is_null());
    assert_code(&app.gql(REFRESH, variables).await, "TOKEN_REVOKED");
    let after = scrape(&app).await;
    assert_eq!(
        moved(&before, &after, "authql_refresh_reuse_detected_total"),
        1.0
    );
    assert_eq!(
        moved(
            &before,
            &after,
            r#"authql_graphql_operations_total{type="mutation",outcome="ok"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn open_sockets_are_a_gauge_and_closes_count_by_code() {
    let app = metrics_app(&[]).await;
    let alice = app.signup("alice").await;
    let before = scrape(&app).await;
    let mut socket = open(&app, Some(&alice.access)).await;
    let mut refused = connect(&app, "graphql-transport-ws").await;
    send(
        &mut refused,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not.a.token" } }),
    )
    .await;
    assert_eq!(next(&mut refused).await.unwrap_err().0, 4403);
    within(WAIT, "the refused socket counted", || async {
        let text = scrape(&app).await;
        moved(&before, &text, r#"authql_ws_closed_total{code="4403"}"#) == 1.0
    })
    .await;
    let during = scrape(&app).await;
    assert_eq!(value(&during, "authql_ws_connections"), 1.0);
    assert_eq!(
        moved(
            &before,
            &during,
            r#"authql_auth_failures_total{code="INVALID_TOKEN"}"#
        ),
        1.0
    );
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    within(WAIT, "the closed socket counted", || async {
        let text = scrape(&app).await;
        value(&text, "authql_ws_connections") == 0.0
            && moved(&before, &text, r#"authql_ws_closed_total{code="1000"}"#) == 1.0
    })
    .await;
}

/// A client chooses the code of its close frame: codes neither the protocol nor this
/// contract defines all count as `other`, so clients cannot grow the label set.
#[tokio::test]
async fn client_chosen_close_codes_count_as_other() {
    let app = metrics_app(&[]).await;
    let alice = app.signup("alice").await;
    let before = scrape(&app).await;
    for code in [3000u16, 3999, 4000, 4999, 4123] {
        let mut socket = open(&app, Some(&alice.access)).await;
        socket
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "bye".into(),
            })))
            .await
            .unwrap();
    }
    within(WAIT, "five closes counted as other", || async {
        let text = scrape(&app).await;
        moved(&before, &text, r#"authql_ws_closed_total{code="other"}"#) == 5.0
    })
    .await;
    let text = scrape(&app).await;
    for code in ["3000", "3999", "4000", "4999", "4123"] {
        assert!(
            !text.contains(&format!("authql_ws_closed_total{{code=\"{code}\"}}")),
            "{code} became a label:\n{text}"
        );
    }
}

#[tokio::test]
async fn every_metric_the_operations_guide_and_dashboard_name_is_served() {
    // An outside issuer, so its series exist (nobody listens there: its fetches fail).
    let dir = tempfile::tempdir().unwrap();
    let issuers = dir.path().join("issuers.toml");
    std::fs::write(
        &issuers,
        "[[issuer]]\nissuer = \"http://127.0.0.1:9\"\naudiences = [\"authql\"]\n",
    )
    .unwrap();
    let issuers = issuers.display().to_string();
    let app = metrics_app(&[("external-issuers-file", &issuers)]).await;
    let text = scrape(&app).await;
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/");
    let mut named = std::collections::BTreeSet::new();
    for file in ["operations.md", "grafana-dashboard.json"] {
        let content = std::fs::read_to_string(format!("{docs}{file}")).unwrap();
        let mut rest = content.as_str();
        while let Some(at) = rest.find("authql_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            named.insert(name);
        }
    }
    assert!(named.len() >= 9, "{named:?}");
    for name in &named {
        let served = text.lines().any(|line| {
            line.strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
                || line.starts_with(&format!("# TYPE {name} "))
        });
        assert!(served, "{name} is named in docs/ but not served:\n{text}");
    }
}

/// `DATABASE_POOL_SIZE` bounds the connections one instance opens: a burst of 40
/// different pages, each a search the pool runs (never the response cache, never the
/// direct SQLite reads), leaves no more than that many open, and the gauges say so.
/// The same burst on a larger pool opens more than the small one allowed: the bound is
/// the setting's. On PostgreSQL the server's own count of connections agrees.
#[tokio::test]
async fn the_pool_gauges_show_database_pool_size_bounding_a_burst() {
    async fn burst_on(pool_size: usize) -> (f64, f64) {
        let size = pool_size.to_string();
        let app = metrics_app(&[("database-pool-size", &size)]).await;
        seed_items(&app, 50).await;
        let pages = (1..=40).map(|n| {
            let query = format!(
                "{{ items(first: {n}, search: \"item\") {{ edges {{ node {{ name }} }} }} }}"
            );
            let app = &app;
            async move { app.gql(&query, json!({})).await }
        });
        for body in futures_util::future::join_all(pages).await {
            assert!(body["errors"].is_null(), "{body}");
        }
        let text = scrape(&app).await;
        let open = value(&text, "authql_db_pool_connections");
        if app.database_url.starts_with("postgres") {
            // What the server itself counts: the pool's connections and the two that
            // listen (for revocation notices and for item events).
            let backends = postgres_backends(&app.database_url).await;
            assert_eq!(backends, open + 2.0, "PostgreSQL's count against the gauge");
        }
        (open, value(&text, "authql_db_pool_max_connections"))
    }
    /// Connections to the database at `url` in `pg_stat_activity`, this one left out.
    async fn postgres_backends(url: &str) -> f64 {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(url).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                   AND backend_type = 'client backend'",
            ))
            .await
            .unwrap()
            .unwrap();
        let count: i64 = row.try_get_by_index(0).unwrap();
        db.close().await.unwrap();
        count as f64
    }
    let (open, max) = burst_on(2).await;
    assert_eq!(max, 2.0);
    assert!(
        (1.0..=2.0).contains(&open),
        "{open} connections on a pool of 2"
    );
    let (open, max) = burst_on(8).await;
    assert_eq!(max, 8.0);
    assert!(open > 2.0, "{open} connections on a pool of 8");
}

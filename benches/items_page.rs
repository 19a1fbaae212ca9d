//! One 100-item page with every `Item` field plus `store { id name }` and
//! `owner { id username }`, executed directly through the real schema (no HTTP) on a
//! temporary SQLite database: as an ADMIN with a bearer token (token decoded, revocation
//! checked and the user loaded once per request, like the server does), and anonymously
//! (`owner` is null with one AUTHORIZATION_REQUIRED error per item); plus, as a baseline,
//! the same page without `owner`, anonymously.
//!
//! `cargo bench --bench items_page` (add `-- --quick` for a rough figure in seconds).

use std::hint::black_box;
use std::time::Duration;

use async_graphql::{Request, Variables};
use authql::auth::credentials::Presented;
use authql::config::Config;
use authql::domain::{Password, Role, Username};
use authql::graphql::context::AuthContext;
use authql::graphql::schema::{self, AppSchema};
use authql::service::sessions::{self, ClientInfo};
use authql::startup::Application;
use authql::state::AppState;
use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const SECRET: &str = "bench-secret-that-is-at-least-32-bytes-long!";
const PASSWORD: &str = "correct horse battery";
const ITEMS: usize = 100;

const PAGE: &str = "{ items(first: 100) { nodes { id name description price createdAt updatedAt \
                    store { id name } owner { id username } } } }";
/// The same page without `owner`: the public baseline the two variants above add to.
const PUBLIC_PAGE: &str = "{ items(first: 100) { nodes { id name description price createdAt \
                           updatedAt store { id name } } } }";

/// Parses `serve` flags the way the binary does (as `tests/api/helpers.rs` does).
#[derive(Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

fn config(database_url: &str) -> Config {
    ConfigOnly::try_parse_from([
        "authql",
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--jwt-secret-key",
        SECRET,
    ])
    .expect("valid bench config")
    .config
}

/// The schema and state of a freshly built server, plus the admin's access token.
struct Bench {
    state: AppState,
    schema: AppSchema,
    token: String,
}

impl Bench {
    /// The per-request data `http::graphql::request_data` attaches.
    fn request(&self, query: &str, variables: Value, token: Option<&str>) -> Request {
        let presented = match token {
            Some(token) => Presented::Bearer(token.to_owned()),
            None => Presented::Nothing,
        };
        Request::new(query)
            .variables(Variables::from_json(variables))
            .data(AuthContext::new(presented, None, self.state.clone()))
            .data(ClientInfo {
                addr: "127.0.0.1".into(),
                ..Default::default()
            })
    }

    async fn execute(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let response = self
            .schema
            .execute(self.request(query, variables, token))
            .await;
        serde_json::to_value(&response).expect("response serializes")
    }

    /// Like `execute`, but any GraphQL error is a setup failure.
    async fn execute_ok(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let response = self.execute(query, variables, token).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response}"
        );
        response["data"].clone()
    }
}

/// Builds the real app on `database_url`, then seeds an ADMIN (through the service, as
/// `authql create-user --admin` does), logs in through the schema, and creates one store
/// and `ITEMS` items through the schema's mutations.
async fn setup(database_url: &str) -> Bench {
    let app = Application::build(config(database_url))
        .await
        .expect("server builds");
    let state = app.state().clone();
    // Only the state is needed: the listener closes here, nothing is served.
    drop(app);
    let schema = schema::build(state.clone());

    let username = Username::parse("root").unwrap();
    let password = Password::parse(PASSWORD, "password").unwrap();
    let account = sessions::NewAccount {
        username: &username,
        email: None,
        password: &password,
        role: Role::Admin,
    };
    sessions::create_account(
        &state.db,
        state.revocations.origin(),
        &state.passwords,
        account,
        &ClientInfo::default(),
    )
    .await
    .unwrap();
    let mut bench = Bench {
        state,
        schema,
        token: String::new(),
    };

    let login = bench
        .execute_ok(
            "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            json!({ "input": { "username": "root", "password": PASSWORD } }),
            None,
        )
        .await;
    bench.token = login["login"]["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned();
    let token = Some(bench.token.as_str());

    let store = bench
        .execute_ok(
            "mutation($input: CreateStoreInput!) { createStore(input: $input) { id } }",
            json!({ "input": { "name": "Bench store" } }),
            token,
        )
        .await;
    let store_id = store["createStore"]["id"].as_str().unwrap().to_owned();
    for i in 0..ITEMS {
        bench
            .execute_ok(
                "mutation($input: CreateItemInput!) { createItem(input: $input) { id } }",
                json!({ "input": {
                    "storeId": store_id,
                    "name": format!("Item {i:03}"),
                    "description": format!("Description of item number {i}"),
                    "price": format!("{}.{:02}", 1 + i, i % 100),
                } }),
                token,
            )
            .await;
    }
    bench
}

/// Outside the timed loop: the page really has `ITEMS` complete items, and the only errors
/// are the ones expected (none with a token; one `AUTHORIZATION_REQUIRED` per `owner`
/// without).
fn check_page(response: &Value, authenticated: bool) {
    let nodes = response["data"]["items"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no items page: {response}"));
    assert_eq!(nodes.len(), ITEMS, "{response}");
    for node in nodes {
        assert_eq!(node["store"]["name"], "Bench store", "{node}");
        assert!(node["description"].is_string(), "{node}");
        if authenticated {
            assert_eq!(node["owner"]["username"], "root", "{node}");
        } else {
            assert!(node["owner"].is_null(), "{node}");
        }
    }
    let errors = response.get("errors").and_then(Value::as_array);
    if authenticated {
        assert!(errors.is_none(), "unexpected errors: {errors:?}");
    } else {
        let errors = errors.expect("anonymous owner fields fail");
        assert_eq!(errors.len(), ITEMS, "{errors:?}");
        for error in errors {
            assert_eq!(
                error["extensions"]["code"], "AUTHORIZATION_REQUIRED",
                "{error}"
            );
        }
    }
}

fn items_page(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let bench = rt.block_on(setup(&database_url));
    let token = bench.token.clone();

    check_page(
        &rt.block_on(bench.execute(PAGE, Value::Null, Some(&token))),
        true,
    );
    check_page(&rt.block_on(bench.execute(PAGE, Value::Null, None)), false);
    let public = rt.block_on(bench.execute(PUBLIC_PAGE, Value::Null, None));
    assert!(public.get("errors").is_none(), "{public}");
    assert_eq!(
        public["data"]["items"]["nodes"].as_array().map(Vec::len),
        Some(ITEMS)
    );

    let mut group = c.benchmark_group("items_page_100");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    // Timed: building the request, executing it and serializing the response to JSON
    // (what the HTTP handler does after parsing the body).
    group.bench_function("admin", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bench
                .schema
                .execute(bench.request(PAGE, Value::Null, Some(&token)))
                .await;
            black_box(serde_json::to_vec(&response).unwrap())
        });
    });
    group.bench_function("anonymous", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bench
                .schema
                .execute(bench.request(PAGE, Value::Null, None))
                .await;
            black_box(serde_json::to_vec(&response).unwrap())
        });
    });
    group.bench_function("anonymous_without_owner", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bench
                .schema
                .execute(bench.request(PUBLIC_PAGE, Value::Null, None))
                .await;
            black_box(serde_json::to_vec(&response).unwrap())
        });
    });
    group.finish();
    drop(bench);
    drop(dir);
}

criterion_group!(benches, items_page);
criterion_main!(benches);

//! `TestApp::spawn()`: the real server on 127.0.0.1:0 with its own database — a temp
//! SQLite file, or (with `TEST_DATABASE_URL=postgres://…`) a fresh PostgreSQL database
//! that is dropped afterwards. Logs are silent unless `TEST_LOG` is set.

#![allow(dead_code)]

use std::net::SocketAddr;

use authql::config::Config;
use authql::startup::Application;
use clap::Parser;
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long!";
pub const PASSWORD: &str = "correct horse battery";

/// Parses `serve` flags the way the binary does.
#[derive(Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The metrics listener, when `metrics-addr` was given.
    pub metrics_addr: Option<SocketAddr>,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    /// SQL statements the server has run so far.
    pub statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Their text, in order (upkeep left out, as from the count).
    pub sql: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _db: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Set for a server running as its own process (`spawn_process_on`).
    process: Option<std::process::Child>,
}

/// Test seams of an in-process server (`startup::Hooks`) besides the statement log.
#[derive(Default)]
pub struct Extras {
    /// `PRAGMA`s for every SQLite connection (`max_page_count`: a full disk).
    pub sqlite_pragmas: Vec<(String, String)>,
    /// Each `requestPasswordReset` waits for a permit before it is handled.
    pub reset_gate: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// The Unix time TOTP codes are checked against, when not 0.
    pub totp_clock: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// How soon outside issuers' keys are retried and refetched.
    pub outside_timing: Option<authql::auth::outside::Timing>,
}

/// A database owned by one test.
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Owns nothing: for a second server on a database another value owns.
    pub fn none() -> Self {
        Self::Sqlite(tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    use sea_orm::ConnectionTrait;
                    if let Ok(db) = sea_orm::Database::connect(&admin_url).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        let _ = db.close().await;
                    }
                });
            })
            .join();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A fresh database URL for one test.
pub async fn fresh_database() -> (String, TestDatabase) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if admin_url.starts_with("postgres") => {
            use sea_orm::ConnectionTrait;
            let name = format!("authql_t_{}", uuid::Uuid::new_v4().simple());
            let db = sea_orm::Database::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but unreachable: {e}"));
            db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            db.close().await.ok();
            let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
            let url = format!("{base}/{name}");
            (url, TestDatabase::Postgres { admin_url, name })
        }
        Ok(other) if !other.is_empty() => {
            panic!("TEST_DATABASE_URL must be postgres://…, got {other}")
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, TestDatabase::Sqlite(dir))
        }
    }
}

/// Builds a `Config` from `serve` flags, as the binary would.
pub fn config(database_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut args = vec![
        "authql".to_owned(),
        "--listen-addr".into(),
        "127.0.0.1:0".into(),
        "--database-url".into(),
        database_url.into(),
        "--jwt-secret-key".into(),
        SECRET.into(),
    ];
    for (flag, value) in overrides {
        args.push(format!("--{flag}"));
        args.push((*value).to_owned());
    }
    ConfigOnly::try_parse_from(args)
        .expect("valid test config")
        .config
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// `overrides` are `serve` flags without dashes: `[("jwt-access-token-expires", "1s")]`.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        if std::env::var("TEST_LOG").is_ok() {
            // Kept for the whole test process: dropping the guard would stop the writer.
            std::mem::forget(authql::telemetry::init("info", Default::default()));
        }
        let (database_url, db) = fresh_database().await;
        Self::spawn_on(database_url, db, overrides).await
    }

    /// A second server on the same database (multi-instance tests).
    pub async fn spawn_on(
        database_url: String,
        db: TestDatabase,
        overrides: &[(&str, &str)],
    ) -> Self {
        Self::spawn_with_pragmas(database_url, db, overrides, Vec::new()).await
    }

    /// [`spawn_on`](Self::spawn_on), with `PRAGMA`s run on every SQLite connection of the
    /// server's pool (`max_page_count` meets a full disk without mounting one).
    pub async fn spawn_with_pragmas(
        database_url: String,
        db: TestDatabase,
        overrides: &[(&str, &str)],
        sqlite_pragmas: Vec<(String, String)>,
    ) -> Self {
        let extras = Extras {
            sqlite_pragmas,
            ..Extras::default()
        };
        Self::spawn_extra(database_url, db, overrides, extras).await
    }

    /// A server whose `requestPasswordReset`s are each handled only once `gate` gives a
    /// permit (tests of what runs before the answer).
    pub async fn spawn_gated(
        overrides: &[(&str, &str)],
        gate: std::sync::Arc<tokio::sync::Semaphore>,
    ) -> Self {
        let (database_url, db) = fresh_database().await;
        let extras = Extras {
            reset_gate: Some(gate),
            ..Extras::default()
        };
        Self::spawn_extra(database_url, db, overrides, extras).await
    }

    /// [`spawn_on`](Self::spawn_on) with test seams ([`Extras`]).
    pub async fn spawn_extra(
        database_url: String,
        db: TestDatabase,
        overrides: &[(&str, &str)],
        extras: Extras,
    ) -> Self {
        let statements = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = statements.clone();
        let sql_log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = sql_log.clone();
        let show = std::env::var("TEST_SQL").is_ok();
        let hook: authql::startup::StatementHook = Box::new(move |sql| {
            // The change-log poll (SQLite, every 250 ms) and the heartbeat (PostgreSQL,
            // every 500 ms) are the instance's own upkeep, not any request's work: tests
            // counting a request's statements skip them.
            let upkeep = (sql.contains("change_log") && sql.trim_start().starts_with("SELECT"))
                || sql.contains("/* heartbeat */");
            if upkeep {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            log.lock().unwrap().push(sql.to_owned());
            if show {
                eprintln!("SQL: {}", &sql[..sql.len().min(150)]);
            }
        });
        let hooks = authql::startup::Hooks {
            on_statement: Some(hook),
            sqlite_pragmas: extras.sqlite_pragmas,
            reset_gate: extras.reset_gate,
            totp_clock: extras.totp_clock,
            outside_timing: extras.outside_timing,
        };
        let app = Application::build_with(config(&database_url, overrides), hooks)
            .await
            .expect("server starts");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            metrics_addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            database_url,
            statements,
            sql: sql_log,
            _db: db,
            shutdown: Some(tx),
            process: None,
        }
    }

    /// Another instance on the same database as its own process: the `authql` binary,
    /// with `serve` flags `overrides` (cross-instance tests: two real server processes).
    pub async fn spawn_process_on(database_url: &str, overrides: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut command = authql_command();
        command
            .arg("serve")
            .args(["--listen-addr", "127.0.0.1:0"])
            .args(["--database-url", database_url])
            .args(["--jwt-secret-key", SECRET])
            .args(["--rust-log", "warn,authql=info"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        for (flag, value) in overrides {
            command.arg(format!("--{flag}")).arg(value);
        }
        let mut child = command.spawn().expect("authql starts");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = addr_tx.send(rest.trim().to_owned());
                }
            }
        });
        let addr: SocketAddr = tokio::task::spawn_blocking(move || {
            addr_rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("a `listening on` line")
        })
        .await
        .unwrap()
        .parse()
        .unwrap();
        Self {
            addr,
            metrics_addr: None,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            database_url: database_url.to_owned(),
            statements: Default::default(),
            sql: Default::default(),
            _db: TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
            shutdown: None,
            process: Some(child),
        }
    }

    /// Sends the signal `name` (`HUP`, `TERM`) to a server running as its own process.
    pub fn signal(&self, name: &str) {
        let pid = self.process.as_ref().expect("a server process").id();
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// The SQL the server ran after the first `from` statements.
    pub fn sql_since(&self, from: usize) -> Vec<String> {
        self.sql.lock().unwrap()[from..].to_vec()
    }

    /// How many statements were logged so far (for [`Self::sql_since`]).
    pub fn sql_logged(&self) -> usize {
        self.sql.lock().unwrap().len()
    }

    /// Statements run so far.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST a GraphQL request with optional bearer token; returns the JSON body.
    pub async fn gql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert!(
            response.status().is_success(),
            "unexpected status {}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(None, query, variables).await
    }

    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_with(Some(token), query, variables).await
    }

    /// `POST /graphql` of the JSON `body` with extra `headers`; the response, unread.
    pub async fn post_json(
        &self,
        headers: &[(&str, &str)],
        body: &impl serde::Serialize,
    ) -> reqwest::Response {
        let body = serde_json::to_string(body).expect("JSON body");
        self.post_raw(headers, body, Some("application/json")).await
    }

    /// `POST /graphql` of `body` as it is, with `content_type` (if any) and `headers`; the
    /// response, unread.
    pub async fn post_raw(
        &self,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/graphql")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// `GET path` with `headers`; the response, unread.
    pub async fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// POST with a raw `Authorization` header value.
    pub async fn gql_with_header(&self, authorization: &str, query: &str) -> Value {
        self.client
            .post(self.url("/graphql"))
            .header("authorization", authorization)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs a batch of operations (`{query, variables}` objects) as one request and
    /// returns its answers, in order.
    pub async fn batch(&self, operations: &[Value]) -> Vec<Value> {
        self.client
            .post(self.url("/graphql"))
            .json(operations)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Signs up and returns the session.
    pub async fn signup(&self, username: &str) -> Session {
        self.signup_with(username, PASSWORD, None).await
    }

    pub async fn signup_with(
        &self,
        username: &str,
        password: &str,
        email: Option<&str>,
    ) -> Session {
        let body = self
            .gql(
                SIGNUP,
                json!({ "input": { "username": username, "password": password, "email": email } }),
            )
            .await;
        Session::from_payload(&body["data"]["signup"])
            .unwrap_or_else(|| panic!("signup failed: {body}"))
    }

    pub async fn login(&self, username: &str, password: &str) -> Value {
        self.gql(
            LOGIN,
            json!({ "input": { "username": username, "password": password } }),
        )
        .await
    }

    /// An ADMIN made with the CLI code path, logged in.
    pub async fn admin(&self, username: &str) -> Session {
        authql::cli::create_user(
            username,
            true,
            None,
            &self.database_url,
            PASSWORD.as_bytes(),
        )
        .await
        .expect("create admin");
        let body = self.login(username, PASSWORD).await;
        Session::from_payload(&body["data"]["login"]).unwrap_or_else(|| panic!("login: {body}"))
    }
}

pub const SIGNUP: &str = "mutation($input: SignupInput!) { signup(input: $input) { accessToken refreshToken tokenType expiresIn user { id username role } } }";
pub const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken tokenType expiresIn user { id username role } } }";
pub const REFRESH: &str =
    "mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken user { id } } }";
pub const ME: &str = "{ me { id username role } }";

/// Tokens and id of a signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl Session {
    pub fn from_payload(payload: &Value) -> Option<Self> {
        Some(Self {
            access: payload["accessToken"].as_str()?.to_owned(),
            refresh: payload["refreshToken"].as_str()?.to_owned(),
            user_id: payload["user"]["id"].as_str()?.to_owned(),
        })
    }
}

/// The claims of a JWT, unverified (tests read `exp`, `sid`, …).
pub fn claims(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// The first error's `extensions.code`.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The first error's message.
pub fn message(body: &Value) -> &str {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}

/// Asserts the single error's code (and that there is exactly one error).
#[track_caller]
pub fn assert_code(body: &Value, expected: &str) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"));
    assert_eq!(errors.len(), 1, "expected one error in {body}");
    assert_eq!(code(body), expected, "in {body}");
}

/// Counts rows of a table through a direct connection.
pub async fn count_rows(database_url: &str, table: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(database_url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    db.close().await.ok();
    n
}

pub const CREATE_STORE: &str =
    "mutation($name: String!) { createStore(input: {name: $name}) { id name } }";
pub const CREATE_ITEM: &str = "mutation($input: CreateItemInput!) { createItem(input: $input) { id name description price store { id } } }";

impl TestApp {
    /// Creates a store as `admin`; returns its id.
    pub async fn store(&self, admin: &Session, name: &str) -> String {
        let body = self
            .gql_as(&admin.access, CREATE_STORE, json!({ "name": name }))
            .await;
        body["data"]["createStore"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createStore: {body}"))
            .to_owned()
    }

    /// Creates an item as `owner`; returns its id.
    pub async fn item(&self, owner: &Session, store_id: &str, name: &str, price: &str) -> String {
        let body = self
            .gql_as(
                &owner.access,
                CREATE_ITEM,
                json!({ "input": { "storeId": store_id, "name": name, "price": price } }),
            )
            .await;
        body["data"]["createItem"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createItem: {body}"))
            .to_owned()
    }
}

/// Creates `n` items directly (fast) in one store owned by a new user.
pub async fn seed_items(app: &TestApp, n: usize) -> (Session, String) {
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    let ts = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        format!("'{now}'::timestamptz")
    } else {
        format!("'{now}'")
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "({store}, {owner}, 'item {i}', 'item {i}', {i}, {ts}, {ts})",
                    owner = admin.user_id
                )
            })
            .collect();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "INSERT INTO items (store_id, owner_id, name, name_lower, price_cents, created_at, updated_at) VALUES {}",
                values.join(", ")
            ),
        ))
        .await
        .unwrap();
    }
    db.close().await.ok();
    (admin, store)
}

/// Waits until the server has run no SQL for a while: at start it prunes expired records
/// in the background, which must not be mistaken for a refused query running.
pub async fn settle(app: &TestApp) {
    let mut last = app.statement_count();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let now = app.statement_count();
        if now == last {
            return;
        }
        last = now;
    }
}

/// The `authql` binary with a clean slate: configuration variables of the test process
/// are removed, so only what each test sets counts.
pub fn authql_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authql"));
    for (key, _) in std::env::vars() {
        if key.starts_with("JWT_")
            || key == "DATABASE_URL"
            || key == "APP_ENV"
            || key == "LISTEN_ADDR"
            || key.starts_with("MAIL_")
            || key == "APP_URL"
            || key.starts_with("PERSISTED_DOCUMENTS")
        {
            command.env_remove(key);
        }
    }
    command
}

// --- WebSocket client -------------------------------------------------------------------

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn connect(app: &TestApp, protocol: &str) -> Socket {
    connect_with(app, protocol, &[]).await
}

/// A WebSocket upgrade with extra request headers (`X-Forwarded-For`, `Origin`, …).
pub async fn connect_with(app: &TestApp, protocol: &str, headers: &[(&str, &str)]) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message (pings are answered and skipped), or the close frame as `Err`.
pub async fn next(socket: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("no protocol error");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    send(socket, json!({ "type": "pong" })).await;
                    continue;
                }
                if value["type"] == "ka" {
                    continue;
                }
                return Ok(value);
            }
            Message::Close(frame) => {
                let frame = frame.expect("a close frame");
                return Err((u16::from(frame.code), frame.reason.to_string()));
            }
            _ => continue,
        }
    }
}

/// A `graphql-transport-ws` connection, initialised with `token` (if any) and acked.
pub async fn open(app: &TestApp, token: Option<&str>) -> Socket {
    let mut socket = connect(app, "graphql-transport-ws").await;
    let payload = token.map_or(
        json!({}),
        |t| json!({ "Authorization": format!("Bearer {t}") }),
    );
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    socket
}

/// Sends an operation with `id` over a `graphql-transport-ws` socket.
pub async fn start(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

/// Waits until every operation started on `socket` so far is live — a subscription
/// listening for events — so an event raised from now on reaches it: the server answers a
/// `ping` only then. Returns the messages that came before the `pong`.
pub async fn live(socket: &mut Socket) -> Vec<Value> {
    send(socket, json!({ "type": "ping" })).await;
    let mut before = Vec::new();
    loop {
        let message = next(socket)
            .await
            .unwrap_or_else(|close| panic!("closed: {close:?}"));
        if message["type"] == "pong" {
            return before;
        }
        before.push(message);
    }
}

/// [`start`], then [`live`]: the operation listens when this returns.
pub async fn start_live(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    start(socket, id, query, variables).await;
    let before = live(socket).await;
    assert!(
        before.is_empty(),
        "before the operation was live: {before:?}"
    );
}

/// Collects the first `next` or `error` of each of `ids` (in any order), skipping
/// `complete`s: `id` → the GraphQL response (an `error` becomes `{"errors": …}`).
pub async fn results(
    socket: &mut Socket,
    ids: &[String],
) -> std::collections::HashMap<String, Value> {
    let mut results = std::collections::HashMap::new();
    while results.len() < ids.len() {
        let message = next(socket)
            .await
            .unwrap_or_else(|close| panic!("closed: {close:?}"));
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        match message["type"].as_str() {
            Some("next") => {
                results.insert(id, message["payload"].clone());
            }
            Some("error") => {
                results.insert(id, json!({ "errors": message["payload"] }));
            }
            _ => {}
        }
    }
    results
}

/// Waits until `token` (an access token with a short lifetime) answers `TOKEN_EXPIRED`.
pub async fn until_expired(app: &TestApp, token: &str) {
    within(
        std::time::Duration::from_secs(10),
        "the token to expire",
        || async {
            app.gql_as(token, ME, json!({})).await["errors"][0]["extensions"]["code"]
                == "TOKEN_EXPIRED"
        },
    )
    .await;
}

/// API.md Tokens: a change made on one instance is in force on every other within 1 s.
pub const OTHER_INSTANCES: std::time::Duration = std::time::Duration::from_secs(1);

/// Asks `probe` until it answers `true`, for at most `limit`; panics with `what` after.
pub async fn within<F, Fut>(limit: std::time::Duration, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if probe().await {
            return;
        }
        if started.elapsed() > limit {
            panic!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

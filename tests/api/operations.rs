//! Operations (API.md), with the real binary: graceful shutdown on SIGTERM, and one log
//! line per request with its status, latency and request id, and never a secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// The `authql` binary serving on a free port, its stdout collected line by line.
struct Server {
    child: Child,
    addr: String,
    database_url: String,
    lines: Arc<Mutex<Vec<String>>>,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `authql` with only the variables set here (no `.env`, nothing inherited).
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Like [`start`](Self::start), with more variables.
    async fn start_with(variables: &[(&str, &str)]) -> Self {
        let (database_url, db) = fresh_database().await;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_authql"))
            .env_clear()
            .current_dir(dir.path())
            .env("DATABASE_URL", &database_url)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET_KEY", SECRET)
            .env("RUST_LOG", "info")
            .envs(variables.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    // Text, or the message of a JSON line (closed by a quote).
                    let addr = rest.split(['"', ' ']).next().unwrap_or_default();
                    let _ = addr_tx.send(addr.trim().to_owned());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a `listening on` line");
        Self {
            child,
            addr,
            database_url,
            lines,
            _db: db,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything logged so far (the reader thread may lag the process by a moment).
    fn log(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST of `body` written by hand, all but its last byte: the server has the request
/// and waits for the rest.
fn post_all_but_the_last_byte(addr: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..body.len() - 1]
    )
    .unwrap();
    stream.flush().unwrap();
    stream
}

/// Sends the last byte and reads the whole response (the server closes the connection).
fn finish(mut stream: TcpStream, body: &str) -> (u16, Value) {
    stream
        .write_all(&body.as_bytes()[body.len() - 1..])
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {response}"));
    let json = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn signup_request(username: &str) -> Value {
    json!({ "query": SIGNUP, "variables": { "input": { "username": username, "password": PASSWORD } } })
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_refuses_new_ones_and_exits_0() {
    let mut server = Server::start().await;
    // One request whose body is still arriving, and a batch of slow signups (Argon2)
    // that is running when the signal comes.
    let pending_body = signup_request("pending").to_string();
    let pending = post_all_but_the_last_byte(&server.addr, &pending_body);
    let client = reqwest::Client::new();
    let batch: Vec<Value> = (0..10)
        .map(|i| signup_request(&format!("batch{i}")))
        .collect();
    let running = tokio::spawn(client.post(server.url("/graphql")).json(&batch).send());
    // The batch runs its signups one after another: once the first is stored, nine are
    // still to come.
    let database_url = server.database_url.clone();
    let started = Instant::now();
    while count_rows(&database_url, "users").await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the batch never ran"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    server.terminate();
    // The listener closes at once: a new connection is refused.
    let started = Instant::now();
    let mut refused = false;
    while started.elapsed() < Duration::from_secs(5) && !refused {
        refused = TcpStream::connect(&server.addr).is_err();
        if !refused {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(refused, "new connections are still accepted after SIGTERM");
    assert!(server.child.try_wait().unwrap().is_none(), "exited early");

    let response = running
        .await
        .unwrap()
        .expect("the running batch is answered");
    assert_eq!(response.status(), 200);
    let answers: Vec<Value> = response.json().await.unwrap();
    assert_eq!(answers.len(), 10);
    for answer in &answers {
        assert!(
            answer["data"]["signup"]["accessToken"].is_string(),
            "{answer}"
        );
    }
    let (status, answer) = tokio::task::spawn_blocking(move || finish(pending, &pending_body))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        answer["data"]["signup"]["accessToken"].is_string(),
        "{answer}"
    );

    let status = server
        .wait(Duration::from_secs(5))
        .expect("exits within 5 s of the last request");
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(&server.addr).is_err());
    let log = server.log();
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:#?}");
}

#[tokio::test]
async fn a_request_that_never_finishes_does_not_hold_the_shutdown_for_good() {
    let mut server = Server::start().await;
    let body = signup_request("stalled").to_string();
    let _stalled = post_all_but_the_last_byte(&server.addr, &body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.terminate();
    let status = server
        .wait(Duration::from_secs(20))
        .expect("exits after the grace period");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn every_request_is_logged_once_with_status_latency_and_id_and_no_secret() {
    let mut server = Server::start().await;
    let client = reqwest::Client::new();
    let mut request_ids = Vec::new();
    let mut record = |response: &reqwest::Response| {
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!id.is_empty());
        request_ids.push((id, response.status().as_u16()));
    };

    let response = client
        .post(server.url("/graphql"))
        .json(&signup_request("logged"))
        .send()
        .await
        .unwrap();
    record(&response);
    let signup: Value = response.json().await.unwrap();
    let signup = Session::from_payload(&signup["data"]["signup"]).expect("signed up");

    let response = client
        .post(server.url("/graphql"))
        .json(&json!({ "query": LOGIN, "variables": { "input": { "username": "logged", "password": PASSWORD } } }))
        .send()
        .await
        .unwrap();
    record(&response);
    let login: Value = response.json().await.unwrap();
    let login = Session::from_payload(&login["data"]["login"]).expect("logged in");

    let response = client
        .post(server.url("/graphql"))
        .bearer_auth(&login.access)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    record(&response);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["data"]["me"]["username"], "logged", "{me}");

    // A token in the URL, as a variable and as a stray parameter.
    let variables = json!({ "name": login.access }).to_string();
    let response = client
        .get(server.url("/graphql"))
        .query(&[
            (
                "query",
                "query($name: String!) { __type(name: $name) { name } }",
            ),
            ("variables", variables.as_str()),
            ("access_token", login.refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    record(&response);
    assert_eq!(response.status(), 200);

    // One the server refuses, and one that is not GraphQL.
    let response = client
        .post(server.url("/graphql"))
        .header("content-type", "text/plain")
        .body(PASSWORD)
        .send()
        .await
        .unwrap();
    record(&response);
    assert_eq!(response.status(), 415);
    let response = client.get(server.url("/healthz")).send().await.unwrap();
    record(&response);
    let response = client.get(server.url("/nowhere")).send().await.unwrap();
    record(&response);
    assert_eq!(response.status(), 404);
    let response = client.delete(server.url("/graphql")).send().await.unwrap();
    record(&response);
    assert_eq!(response.status(), 405);
    // A request id chosen by the client that could forge fields on the line is replaced
    // (API.md Operations: only `A–Z a–z 0–9 - _ .`, at most 128).
    let response = client
        .get(server.url("/healthz"))
        .header("x-request-id", "forged status=500 latency=0")
        .send()
        .await
        .unwrap();
    let replaced = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(replaced, "forged status=500 latency=0");
    request_ids.push((replaced, 200));

    server.terminate();
    assert_eq!(
        server.wait(Duration::from_secs(10)).and_then(|s| s.code()),
        Some(0)
    );
    let log = server.log();
    let text = log.join("\n");

    for (id, status) in &request_ids {
        let lines: Vec<&String> = log
            .iter()
            .filter(|l| l.contains(id.as_str()) && l.contains("latency="))
            .collect();
        assert_eq!(lines.len(), 1, "request {id} {status}: {log:#?}");
        assert!(
            lines[0].contains(&format!("status={status}")),
            "{}",
            lines[0]
        );
    }
    assert!(
        !log.iter().any(|l| l.contains("forged")),
        "a replaced id was logged"
    );

    for (what, secret) in [
        ("the password", PASSWORD.to_owned()),
        ("the signup access token", signup.access.clone()),
        ("the signup refresh token", signup.refresh.clone()),
        ("the login access token", login.access.clone()),
        ("the login refresh token", login.refresh.clone()),
        // A token cut at a line or field boundary would still be a leak.
        (
            "a token signature",
            login.access.rsplit('.').next().unwrap().to_owned(),
        ),
        ("the JWT secret", SECRET.to_owned()),
    ] {
        assert!(!text.contains(&secret), "{what} is in the log:\n{text}");
    }
}

#[tokio::test]
async fn the_request_line_names_the_graphql_operation_also_when_answered_from_the_cache() {
    let mut server = Server::start().await;
    let client = reqwest::Client::new();
    let post = |body: Value, id: &'static str| {
        client
            .post(server.url("/graphql"))
            .header("x-request-id", id)
            .json(&body)
            .send()
    };
    let named = json!({ "query": "query StoreList { stores(first: 1) { totalCount } }" });
    for id in ["op-named", "op-cached"] {
        let body: Value = post(named.clone(), id).await.unwrap().json().await.unwrap();
        assert_eq!(body["data"]["stores"]["totalCount"], 0, "{body}");
    }
    let chosen = json!({
        "query": "query A { stores { totalCount } } query B { items { totalCount } }",
        "operationName": "B",
    });
    post(chosen, "op-chosen").await.unwrap();
    let batch = json!([
        { "query": "query First { stores { totalCount } }" },
        { "query": "{ items { totalCount } }" },
    ]);
    post(batch, "op-batch").await.unwrap();
    post(
        json!({ "query": "{ stores { totalCount } }" }),
        "op-anonymous",
    )
    .await
    .unwrap();

    server.terminate();
    assert_eq!(
        server.wait(Duration::from_secs(10)).and_then(|s| s.code()),
        Some(0)
    );
    let log = server.log();
    let line = |id: &str| {
        let lines: Vec<&String> = log
            .iter()
            .filter(|l| l.contains(id) && l.contains("latency="))
            .collect();
        assert_eq!(lines.len(), 1, "request {id}: {log:#?}");
        lines[0].clone()
    };
    // Quoted like every client-given value on the line.
    for (id, operation) in [
        ("op-named", r#"operation="StoreList""#),
        ("op-cached", r#"operation="StoreList""#),
        ("op-chosen", r#"operation="B""#),
        ("op-batch", r#"operation="First,-""#),
    ] {
        assert!(line(id).contains(operation), "{}", line(id));
    }
    assert!(
        !line("op-anonymous").contains("operation="),
        "{}",
        line("op-anonymous")
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_a_request_and_bound_client_ids() {
    let server = Server::start_with(&[("LOG_FORMAT", "json")]).await;
    let client = reqwest::Client::new();
    let post = |id: &str, body: Value| {
        client
            .post(server.url("/graphql"))
            .header("x-request-id", id)
            .json(&body)
            .send()
    };
    let response = post("signup-1", signup_request("jason")).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "signup-1");
    let signup: Value = response.json().await.unwrap();
    let session = Session::from_payload(&signup["data"]["signup"]).expect("signed up");
    let refresh = json!({ "query": REFRESH, "variables": { "t": session.refresh } });
    post("refresh-1", refresh.clone()).await.unwrap();
    // Presented again: reuse, which the server logs as a warning inside the request.
    post("reuse.1_A", refresh).await.unwrap();
    // Ids a log reader could be fooled by, or that are too long, are replaced.
    for unusable in ["has space", "quote\"", &"x".repeat(129)] {
        let response = post(unusable, json!({ "query": "{ __typename }" }))
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, unusable);
        assert_eq!(echoed.len(), 36, "a generated uuid: {echoed}");
    }
    let response = post(&"y".repeat(128), json!({ "query": "{ __typename }" }))
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "y".repeat(128).as_str());

    let lines: Vec<Value> = server
        .log()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let reuse = lines
        .iter()
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("reuse"))
        })
        .expect("the reuse warning");
    assert_eq!(reuse["span"]["request_id"], "\"reuse.1_A\"", "{reuse}");
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "finished processing request")
        .collect();
    assert_eq!(finished.len(), 7);
    assert!(
        finished
            .iter()
            .all(|line| line["span"]["request_id"].is_string())
    );
    assert!(finished.iter().all(|line| line["fields"]["status"] == 200));
}

/// Every secret a client session handles, and none of them may appear in the log: a whole
/// session (signup, login, reads, refresh, a socket, a password change, logout, a password
/// typed into the username box), logged at `debug` so dependencies' lines count too.
#[tokio::test]
async fn a_whole_session_logs_no_token_password_or_hash() {
    let server = Server::start_with(&[("RUST_LOG", "debug")]).await;
    let client = reqwest::Client::new();
    let gql = |token: Option<String>, query: &'static str, variables: Value| {
        let mut request = client
            .post(server.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let new_password = "an entirely new secret phrase";
    let typed_as_username = "my-password-by-mistake";
    let mut secrets = vec![PASSWORD.to_owned(), new_password.to_owned()];

    let signup = gql(None, SIGNUP, signup_request("quiet")["variables"].clone()).await;
    let first = Session::from_payload(&signup["data"]["signup"]).expect("signed up");
    let login = gql(
        None,
        LOGIN,
        json!({ "input": { "username": "quiet", "password": PASSWORD } }),
    )
    .await;
    let session = Session::from_payload(&login["data"]["login"]).expect("logged in");
    gql(Some(session.access.clone()), ME, json!({})).await;
    let refreshed = gql(None, REFRESH, json!({ "t": session.refresh })).await;
    let refreshed = &refreshed["data"]["refresh"];
    let (access, refresh) = (
        refreshed["accessToken"].as_str().unwrap().to_owned(),
        refreshed["refreshToken"].as_str().unwrap().to_owned(),
    );
    // The same refresh token again: reuse, logged as a warning.
    gql(None, REFRESH, json!({ "t": session.refresh })).await;

    let url = format!("ws://{}/graphql/ws", server.addr);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", first.access) } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let ack = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::StreamExt::next(&mut socket),
    )
    .await
    .expect("an answer to connection_init")
    .expect("socket open")
    .unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    drop(socket);

    let changed = gql(
        Some(first.access.clone()),
        "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken refreshToken } }",
        json!({ "input": { "currentPassword": PASSWORD, "newPassword": new_password } }),
    )
    .await;
    let changed = &changed["data"]["changePassword"];
    assert!(changed["accessToken"].is_string(), "{changed}");
    gql(
        Some(changed["accessToken"].as_str().unwrap().to_owned()),
        "mutation($t: String) { logout(refreshToken: $t) }",
        json!({ "t": changed["refreshToken"] }),
    )
    .await;
    gql(
        None,
        LOGIN,
        json!({ "input": { "username": typed_as_username, "password": "quiet" } }),
    )
    .await;

    for token in [
        &first.access,
        &first.refresh,
        &session.access,
        &session.refresh,
        &access,
        &refresh,
    ] {
        secrets.push(token.clone());
        // A signature alone is as good as a token to an attacker with the claims.
        secrets.push(token.rsplit('.').next().unwrap().to_owned());
    }
    for key in ["accessToken", "refreshToken"] {
        secrets.push(changed[key].as_str().unwrap().to_owned());
    }
    secrets.push(typed_as_username.to_owned());
    let log = server.log().join("\n");
    assert!(log.contains("finished processing request"), "{log}");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "{secret} logged:\n{log}");
    }
    assert!(!log.contains("$argon2"), "a password hash logged:\n{log}");
}

#[tokio::test]
async fn the_metrics_listener_takes_port_0_and_logs_its_address() {
    let server = Server::start_with(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let line = server
        .log()
        .into_iter()
        .find(|line| line.contains("metrics on http://"))
        .expect("a `metrics on http://ADDR` line");
    let addr = line
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split(['"', ' ']).next())
        .unwrap()
        .to_owned();
    assert_ne!(addr, server.addr, "metrics on the public address");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("authql_logins_total"), "{text}");
}

//! Transport limits (API.md Configuration, Subscriptions): a request head must arrive
//! within `REQUEST_HEAD_TIMEOUT`, a request finish within `REQUEST_TIMEOUT` (408), and a
//! WebSocket obeys `WS_INIT_TIMEOUT` (4408), `MAX_BODY_BYTES` (1009), `WS_MAX_OPERATIONS`
//! and every HTTP operation limit; each operation over a socket is authorized when it
//! starts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// Reads until the server closes the connection or `limit` passes; true when it closed.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_request_head_is_closed() {
    let app = TestApp::spawn_with(&[("request-head-timeout", "1s")]).await;
    let addr = app.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        let started = Instant::now();
        let closed = closed_within(&mut stream, Duration::from_secs(5));
        (closed, started.elapsed())
    })
    .await
    .unwrap();
    assert!(closed.0, "the half-sent head was still open after 5 s");
    assert!(
        closed.1 < Duration::from_secs(3),
        "closed after {:?}",
        closed.1
    );
    // Complete requests are unaffected.
    assert_eq!(
        app.gql("{ __typename }", json!({})).await["data"]["__typename"],
        "Query"
    );
}

#[tokio::test]
async fn a_request_whose_body_never_finishes_is_answered_408_with_its_code() {
    let app = TestApp::spawn_with(&[("request-timeout", "1s")]).await;
    let addr = app.addr;
    let (status, body) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":",
            )
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut response = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&response).contains("}]}") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
        let text = String::from_utf8_lossy(&response).into_owned();
        let status: u16 = text[9..12].parse().unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        (status, body)
    })
    .await
    .unwrap();
    assert_eq!(status, 408);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_code(&body, "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn a_socket_that_never_sends_connection_init_is_closed_with_4408() {
    let app = TestApp::spawn_with(&[("ws-init-timeout", "1s")]).await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut socket = connect(&app, protocol).await;
        let started = Instant::now();
        let mut closed = next(&mut socket).await;
        if protocol == "graphql-ws" {
            // The legacy protocol says why in its own message type first.
            assert_eq!(closed.unwrap()["type"], "connection_error");
            closed = next(&mut socket).await;
        }
        assert_eq!(closed.map_err(|(code, _)| code), Err(4408), "{protocol}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    // Once initialised, the timer no longer applies.
    let mut socket = open(&app, None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    start(&mut socket, "1", "{ __typename }", json!({})).await;
    let results = results(&mut socket, &["1".to_owned()]).await;
    assert_eq!(results["1"]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn a_message_over_max_body_bytes_closes_the_socket_with_1009() {
    let app = TestApp::spawn_with(&[("max-body-bytes", "2000")]).await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut socket = connect(&app, protocol).await;
        send(&mut socket, json!({ "type": "connection_init" })).await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
        let padding = "x".repeat(3000);
        let kind = if protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        send(
            &mut socket,
            json!({ "id": "1", "type": kind, "payload": { "query": format!("{{ __typename }} # {padding}") } }),
        )
        .await;
        assert_eq!(
            next(&mut socket).await.map_err(|(code, _)| code),
            Err(1009),
            "{protocol}"
        );
    }
}

#[tokio::test]
async fn operations_beyond_ws_max_operations_are_rate_limited() {
    let app = TestApp::spawn_with(&[("ws-max-operations", "2")]).await;
    let alice = app.signup("alice").await;
    let mut socket = open(&app, Some(&alice.access)).await;
    let events = "subscription { itemEvents { itemId } }";
    start(&mut socket, "a", events, json!({})).await;
    start(&mut socket, "b", events, json!({})).await;
    start(&mut socket, "c", events, json!({})).await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "c");
    assert_eq!(message["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(message["payload"][0]["extensions"]["retryAfter"], 1);
    // Ending one makes room for another.
    send(&mut socket, json!({ "id": "a", "type": "complete" })).await;
    start(&mut socket, "d", "{ __typename }", json!({})).await;
    let results = results(&mut socket, &["d".to_owned()]).await;
    assert_eq!(results["d"]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn operations_over_a_socket_obey_the_http_limits() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, None).await;
    let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
    let deep = format!(
        "{}id{}",
        "items { nodes { store { ".repeat(6),
        " } } }".repeat(6)
    );
    let directives = format!("{{ __typename {} }}", "@include(if: true) ".repeat(51));
    for (id, query) in [
        ("aliases", format!("{{ {aliases} }}")),
        ("depth", format!("{{ {deep} }}")),
        ("directives", directives),
    ] {
        start(&mut socket, id, &query, json!({})).await;
        let message = next(&mut socket).await.unwrap();
        assert_eq!(message["type"], "error", "{id}: {message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{id}: {message}"
        );
    }
}

#[tokio::test]
async fn an_admin_demoted_while_connected_loses_admin_rights_on_the_socket() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let boss = app.admin("boss").await;
    let mut socket = open(&app, Some(&boss.access)).await;
    let set_role =
        "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { role } }";
    // Still an admin: allowed over the socket.
    start(&mut socket, "1", "{ users { totalCount } }", json!({})).await;
    let ids = ["1".to_owned()];
    assert!(results(&mut socket, &ids).await["1"]["errors"].is_null());
    // Demoted over HTTP by another admin.
    let body = app
        .gql_as(
            &root.access,
            set_role,
            json!({ "id": boss.user_id, "role": "USER" }),
        )
        .await;
    assert_eq!(body["data"]["setUserRole"]["role"], "USER", "{body}");
    assert_code(
        &app.gql_as(
            &boss.access,
            set_role,
            json!({ "id": boss.user_id, "role": "ADMIN" }),
        )
        .await,
        "FORBIDDEN",
    );
    // The same socket, opened while an admin: refused too, and nothing changed.
    start(
        &mut socket,
        "2",
        set_role,
        json!({ "id": boss.user_id, "role": "ADMIN" }),
    )
    .await;
    let ids = ["2".to_owned()];
    assert_code(&results(&mut socket, &ids).await["2"], "FORBIDDEN");
    let me = app.gql_as(&boss.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["role"], "USER");
}

#[tokio::test]
async fn a_protocol_error_closes_with_a_valid_close_frame() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app, None).await;
    let kind = "x".repeat(300);
    send(&mut socket, json!({ "type": kind })).await;
    let (code, reason) = next(&mut socket).await.unwrap_err();
    assert_eq!(code, 4400);
    assert!(reason.len() <= 123, "{} bytes", reason.len());
    // A duplicate id, however long, likewise.
    let mut socket = open(&app, None).await;
    let alice = app.signup("alice").await;
    let mut socket_as_alice = open(&app, Some(&alice.access)).await;
    let id = "é".repeat(100);
    let events = "subscription { itemEvents { itemId } }";
    start(&mut socket_as_alice, &id, events, json!({})).await;
    start(&mut socket_as_alice, &id, events, json!({})).await;
    let (code, reason) = next(&mut socket_as_alice).await.unwrap_err();
    assert_eq!(code, 4409);
    assert!(reason.len() <= 123, "{} bytes", reason.len());
    send(&mut socket, json!({ "type": "pong" })).await;
}

#[tokio::test]
async fn a_login_cancelled_while_its_password_is_checked_gives_its_place_back() {
    let app = TestApp::spawn_with(&[("login-max-failures", "100")]).await;
    app.signup("alice").await;
    app.signup("bob").await;
    // Bob's logins keep the hashing workers busy, so Alice's waits for one.
    let busy = futures_util::future::join_all((0..12).map(|_| app.login("bob", PASSWORD)));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut socket = open(&app, None).await;
        let login = "mutation { login(input: {username: \"alice\", password: \"wrong guess\"}) { accessToken } }";
        start(&mut socket, "1", login, json!({})).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
        socket
    };
    let (_, socket) = tokio::join!(busy, cancel);
    drop(socket);
    // Either it finished first (a failure, counted) or it was cancelled (given back):
    // never a place left pending.
    let pending = || async {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM auth_attempts WHERE pending AND subject = 'alice'",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    let mut left = i64::MAX;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = pending().await;
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0);
}

/// graphql-transport-ws has no acknowledgement of a `subscribe`: a `pong` is answered only
/// once every operation started before its `ping` is live, so a client that pings after
/// subscribing misses no event raised after the `pong` — with 10 sockets of 50
/// subscriptions each, whose guards must first reload their user (a login just changed
/// it), included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_comes_once_the_subscriptions_started_before_its_ping_listen() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let ids: Vec<String> = (0..50).map(|n| n.to_string()).collect();
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(open(&app, Some(&admin.access)).await);
    }
    // What the server knows of the user is dropped: every guard reloads it.
    app.login("root", PASSWORD).await;
    for socket in &mut sockets {
        for id in &ids {
            start(
                socket,
                id,
                "subscription { itemEvents { itemId } }",
                json!({}),
            )
            .await;
        }
    }
    for socket in &mut sockets {
        assert!(live(socket).await.is_empty());
    }
    // A query started before a `ping` has answered by the `pong`.
    start(
        &mut sockets[0],
        "count",
        "{ items { totalCount } }",
        json!({}),
    )
    .await;
    let before_pong = live(&mut sockets[0]).await;
    assert!(
        before_pong
            .iter()
            .any(|m| m["id"] == "count" && m["type"] == "next"),
        "{before_pong:?}"
    );
    let item = app.item(&admin, &store, "Lamp", "1").await;
    for socket in &mut sockets {
        let events = results(socket, &ids).await;
        assert_eq!(events.len(), 50);
        for event in events.values() {
            assert_eq!(
                event["data"]["itemEvents"]["itemId"],
                json!(item),
                "{event}"
            );
        }
    }
}

/// The `pong` barrier, observed: a mutation started before a `ping` and held up by
/// another process's database lock has answered by the time the `pong` comes.
#[tokio::test]
async fn a_pong_waits_for_an_operation_started_before_its_ping() {
    let app = TestApp::spawn().await;
    if app.database_url.starts_with("postgres") {
        return; // The lock is SQLite's file lock.
    }
    let admin = app.admin("root").await;
    let mut socket = open(&app, Some(&admin.access)).await;
    let path = app
        .database_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO write_probe (filler) VALUES (x'00');")
            .unwrap();
        locked.send(()).unwrap();
        released.recv().unwrap();
        connection.execute_batch("ROLLBACK").unwrap();
    });
    is_locked.await.unwrap();
    start(
        &mut socket,
        "m",
        "mutation { createStore(input: {name: \"Shop\"}) { id } }",
        json!({}),
    )
    .await;
    send(&mut socket, json!({ "type": "ping" })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.send(()).unwrap();
    holder.join().unwrap();
    let first = next(&mut socket).await.unwrap();
    assert_eq!(first["id"], "m", "the pong came first: {first}");
    assert!(
        first["payload"]["data"]["createStore"]["id"].is_string(),
        "{first}"
    );
}

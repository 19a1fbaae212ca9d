//! API.md HTTP surface, the listener: HTTP/1.1 only, `MAX_CONNECTIONS`, a socket that
//! sends nothing closed after `REQUEST_HEAD_TIMEOUT`, an idle keep-alive connection after
//! `KEEP_ALIVE_TIMEOUT`, and a `Content-Length` over `MAX_BODY_BYTES` answered 413 before
//! the body is read. Raw TCP, as a misbehaving client would.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const GET_TYPENAME: &[u8] =
    b"GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n";

/// Reads until the server closes the socket (or `limit` passes: `None`); what it sent.
async fn until_closed(socket: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(received)
}

/// Reads one whole response to `GET_TYPENAME` (small, `Content-Length` framed).
async fn read_response(socket: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_socket_that_sends_nothing_is_closed_after_the_head_timeout() {
    let app = TestApp::spawn_with(&[("request-head-timeout", "1s")]).await;
    let started = Instant::now();
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    until_closed(&mut socket, Duration::from_secs(5))
        .await
        .expect("closed after the head timeout");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_partial_http2_preface_is_closed_after_the_head_timeout() {
    let app = TestApp::spawn_with(&[("request-head-timeout", "1s")]).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    until_closed(&mut socket, Duration::from_secs(5))
        .await
        .expect("closed after the head timeout");
}

/// Cleartext HTTP/2 with prior knowledge is refused: no HTTP/2 frame comes back, and
/// `/graphql` answers nothing over it.
#[tokio::test]
async fn http2_with_prior_knowledge_is_refused() {
    let app = TestApp::spawn().await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame: what an HTTP/2 client sends next.
    socket
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let answer = until_closed(&mut socket, Duration::from_secs(5))
        .await
        .expect("the connection is closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 4"),
        "not refused: {text:?}"
    );
    // HTTP/1.1 still works.
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(GET_TYPENAME).await.unwrap();
    assert!(read_response(&mut socket).await.starts_with("HTTP/1.1 200"));
}

/// Between requests a connection may idle up to `KEEP_ALIVE_TIMEOUT` — longer than the
/// head timeout — and is closed after it.
#[tokio::test]
async fn an_idle_keep_alive_connection_lives_until_the_keep_alive_timeout() {
    let app =
        TestApp::spawn_with(&[("request-head-timeout", "1s"), ("keep-alive-timeout", "3s")]).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(GET_TYPENAME).await.unwrap();
    assert!(read_response(&mut socket).await.starts_with("HTTP/1.1 200"));
    // Idle past the head timeout, within the keep-alive one: still served.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    socket.write_all(GET_TYPENAME).await.unwrap();
    assert!(read_response(&mut socket).await.starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    until_closed(&mut socket, Duration::from_secs(6))
        .await
        .expect("closed after the keep-alive timeout");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(2900),
        "closed after {waited:?}"
    );
}

/// Beyond `MAX_CONNECTIONS` a new connection is closed at once; when one of the others
/// goes, a new one is served again. A WebSocket holds its place too.
#[tokio::test]
async fn connections_beyond_max_connections_are_closed_at_once() {
    let app =
        TestApp::spawn_with(&[("max-connections", "3"), ("request-head-timeout", "30s")]).await;
    let socket = open(&app, None).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let _ = extra.write_all(GET_TYPENAME).await;
    let answer = until_closed(&mut extra, Duration::from_secs(2))
        .await
        .expect("closed at once");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() < Duration::from_secs(1));

    drop(socket);
    within(Duration::from_secs(3), "a place is free again", || async {
        let mut fresh = TcpStream::connect(app.addr).await.unwrap();
        if fresh.write_all(GET_TYPENAME).await.is_err() {
            return false;
        }
        let mut buf = [0u8; 12];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), fresh.read_exact(&mut buf)).await,
            Ok(Ok(_))
        ) && &buf == b"HTTP/1.1 200"
    })
    .await;
}

/// A declared body over `MAX_BODY_BYTES` is refused from the head alone: the client need
/// not send (and the server does not wait for) the body.
#[tokio::test]
async fn a_content_length_over_the_limit_is_413_before_the_body_is_sent() {
    let app = TestApp::spawn_with(&[("max-body-bytes", "1024")]).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(3), socket.read_exact(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 413");
}

/// With an open-file limit below what `MAX_CONNECTIONS` needs, the start warns, naming it.
#[test]
fn a_low_open_file_limit_is_warned_about_naming_max_connections() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let binary = env!("CARGO_BIN_EXE_authql");
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 256 && exec {binary} serve"))
        .env("DATABASE_URL", &db)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("MAX_CONNECTIONS", "10000")
        .env_remove("JWT_SECRET_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut warned = false;
    for line in stdout.lines().map_while(Result::ok) {
        if line.contains("open-file limit") && line.contains("MAX_CONNECTIONS") {
            warned = true;
        }
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "no warning naming MAX_CONNECTIONS");
}

/// A request still being handled when the head timer would fire (its body arrives
/// slowly) keeps its connection; once it is answered, the idle timer still closes the
/// connection after `KEEP_ALIVE_TIMEOUT`.
#[tokio::test]
async fn a_connection_idle_after_a_slow_request_still_closes_after_the_keep_alive_timeout() {
    let app =
        TestApp::spawn_with(&[("request-head-timeout", "1s"), ("keep-alive-timeout", "2s")]).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let body = br#"{"query":"{ __typename }"}"#;
    socket
        .write_all(
            format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    for chunk in body.chunks(9) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        socket.write_all(chunk).await.unwrap();
    }
    assert!(read_response(&mut socket).await.starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    until_closed(&mut socket, Duration::from_secs(6))
        .await
        .expect("closed after the keep-alive timeout");
    assert!(
        idle.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        idle.elapsed()
    );
}

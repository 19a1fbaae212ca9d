//! Memory of idle authenticated WebSockets: the `authql` binary as its own process (so its
//! RSS is its own), `SOCKETS` (default 10,000) connections initialised with one user's
//! access token, each holding a live `itemEvents` subscription, and nothing happening.
//! Prints the server's RSS before the sockets, with them open, and per socket.
//!
//! `cargo bench --bench socket_memory`; `SOCKETS` tunes it. The goal (docs/benchmarks.md,
//! "Idle sockets"): 10,000 sockets under 400 MiB RSS.

use std::io::BufRead;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's resident set, in KiB (`/proc/<pid>/status`).
fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// Raises this process's open-file limit: the client needs one descriptor per socket.
fn raise_open_files() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

#[tokio::main]
async fn main() {
    let sockets = env_number("SOCKETS", 10_000) as usize;
    raise_open_files();
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("sockets.db").display()
    );
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_authql"))
        .arg("serve")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &database_url)
        .env(
            "JWT_SECRET_KEY",
            "bench-secret-that-is-at-least-32-bytes-long!",
        )
        .env("MAX_CONNECTIONS", (sockets + 100).to_string())
        .env("RUST_LOG", "warn,authql=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("authql starts");
    let pid = server.id();
    let stdout = std::io::BufReader::new(server.stdout.take().expect("piped"));
    let mut lines = stdout.lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("a `listening on` line")
            .expect("stdout");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let signup: Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&json!({ "query": "mutation { signup(input: {username: \"idle\", password: \"correct horse battery\"}) { accessToken } }" }))
        .send()
        .await
        .expect("signup sent")
        .json()
        .await
        .expect("signup answered");
    let token = signup["data"]["signup"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("signup failed: {signup}"))
        .to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid, "VmRSS:");

    let open: Vec<_> = stream::iter(0..sockets)
        .map(|_| {
            let (addr, token) = (addr.clone(), token.clone());
            async move {
                let mut request = format!("ws://{addr}/graphql/ws")
                    .into_client_request()
                    .unwrap();
                request.headers_mut().insert(
                    "sec-websocket-protocol",
                    "graphql-transport-ws".parse().unwrap(),
                );
                let (mut socket, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .expect("upgrade");
                let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
                socket.send(Message::Text(init.to_string().into())).await.unwrap();
                let ack = socket.next().await.expect("ack").expect("ack frame");
                assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
                let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { itemEvents { itemId } }" } });
                socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
                socket
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    // Let the subscriptions start and the server settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    println!(
        "socket_memory: {} idle authenticated sockets with a live subscription each: \
         server RSS {:.1} MiB before, {:.1} MiB with them open (peak {:.1} MiB), \
         {:.1} KiB per socket",
        open.len(),
        before as f64 / 1024.0,
        with as f64 / 1024.0,
        peak as f64 / 1024.0,
        (with.saturating_sub(before)) as f64 / open.len() as f64,
    );
    drop(open);
    let _ = server.kill();
    let _ = server.wait();
}

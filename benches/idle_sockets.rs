//! Database work of idle authenticated WebSockets: the real server (in process, so every
//! SQL statement it runs can be counted) with `SOCKETS` connections initialised with one
//! user's access token, each holding a live `itemEvents` subscription, and nothing
//! happening. Prints SQL statements per second over `SECONDS`.
//!
//! `cargo bench --bench idle_sockets` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=postgres://…/db` on an existing, empty PostgreSQL database.
//! `SOCKETS` (default 1000) and `SECONDS` (default 10) tune it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authql::config::Config;
use authql::startup::Application;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[derive(Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let sockets = env_number("SOCKETS", 1000);
    let seconds = env_number("SECONDS", 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("idle.db").display()));
    let config = ConfigOnly::try_parse_from([
        "authql",
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        &database_url,
        "--jwt-secret-key",
        "bench-secret-that-is-at-least-32-bytes-long!",
        "--ws-max-operations",
        "10",
    ])
    .expect("valid bench config")
    .config;
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    let hook: authql::startup::StatementHook = Box::new(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let hooks = authql::startup::Hooks {
        on_statement: Some(hook),
        ..Default::default()
    };
    let app = Application::build_with(config, hooks)
        .await
        .expect("server builds");
    let addr = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));

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

    let mut open = Vec::new();
    for _ in 0..sockets {
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
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .unwrap();
        let ack = socket.next().await.expect("ack").expect("ack frame");
        assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { itemEvents { itemId } }" } });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .unwrap();
        open.push(socket);
    }
    // Let connection set-up settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = statements.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let ran = statements.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed().as_secs_f64();
    let backend = database_url.split(':').next().unwrap_or_default();
    println!(
        "idle_sockets: {} authenticated sockets on {backend}: {ran} SQL statements in {elapsed:.1} s = {:.1} statements/s",
        open.len(),
        ran as f64 / elapsed
    );
}

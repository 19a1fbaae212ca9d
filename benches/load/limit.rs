//! The stack's limit, for the load harness (`benches/load/run.sh`): bare axum with what
//! authql cannot do without — HS256 verification of the bearer token on every request,
//! pinned algorithm, `exp` checked — answering a precomputed body (authql's own answer to
//! the benchmarked query), and a login handler that verifies an Argon2id hash with
//! authql's parameters (m = 19 MiB, t = 2, p = 1) on a reused buffer per CPU.
//!
//! With a SQLite file as a fourth argument it also serves `POST /sqlite`: the same work
//! as authql's cache-missed page (issue 23 §2) — verify the token, read `variables.a` (the
//! id after which the page starts), run the page query with the owners joined on a
//! prepared statement (one connection per CPU, read on the request's thread as authql
//! reads SQLite), and write the JSON by hand.
//!
//! With a PostgreSQL URL as an argument it also serves `POST /postgres`: the same work on
//! tokio-postgres — a small pool of connections, the page statement prepared once on each,
//! requests spread over them (each connection pipelines the queries sent to it).
//!
//! `cargo run --release --example limit -- ADDR SECRET BODY_FILE [SQLITE_FILE] [POSTGRES_URL]`

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use jsonwebtoken::{DecodingKey, Validation};
use tokio::sync::Semaphore;

#[derive(Clone)]
struct Limit {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    body: Bytes,
    /// One Argon2 buffer per CPU, as authql keeps.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    hashing: Arc<Semaphore>,
    hash: Arc<str>,
    /// Read-only connections to authql's SQLite file, one per CPU.
    sqlite: Arc<Mutex<Vec<rusqlite::Connection>>>,
    /// Connections to authql's PostgreSQL database, each with the page statement prepared.
    postgres: Arc<Vec<(tokio_postgres::Client, tokio_postgres::Statement)>>,
    next: Arc<AtomicUsize>,
}

/// PostgreSQL connections in the pool: as many as authql's server side can keep busy on
/// one CPU shared with the database (more only add context switches).
const POSTGRES_POOL: usize = 4;

/// The page as authql answers `items(first: 20, after: $a) { nodes { id name price owner
/// { username } } }`: items by id, their owners joined.
const PAGE_SQL: &str = "SELECT i.id, i.name, i.price_cents, u.username FROM items i \
    JOIN users u ON u.id = i.owner_id WHERE i.id > ?1 ORDER BY i.id LIMIT 20";

/// The same page query on PostgreSQL.
const PAGE_SQL_POSTGRES: &str = "SELECT i.id, i.name, i.price_cents, u.username FROM items i \
    JOIN users u ON u.id = i.owner_id WHERE i.id > $1 ORDER BY i.id LIMIT 20";

/// The page's JSON, written by hand, from `(id, name, price in cents, owner)` rows.
fn page_json(rows: impl Iterator<Item = (i64, String, i64, String)>) -> String {
    let mut json = String::from(r#"{"data":{"items":{"nodes":["#);
    for (n, (id, name, cents, owner)) in rows.enumerate() {
        if n > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            r#"{{"id":"{id}","name":{},"price":"{}.{:02}","owner":{{"username":{}}}}}"#,
            serde_json::to_string(&name).unwrap(),
            cents / 100,
            cents % 100,
            serde_json::to_string(&owner).unwrap(),
        ));
    }
    json.push_str("]}}}");
    json
}

/// `variables.a` of the request: the id after which the page starts.
fn after(body: &[u8]) -> i64 {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|request| request["variables"]["a"].as_str()?.parse().ok())
        .unwrap_or(0)
}

/// Whether the request carries a valid bearer token (HS256, `exp` checked).
fn verified(limit: &Limit, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| {
            jsonwebtoken::decode::<serde_json::Value>(token, &limit.key, &limit.validation).is_ok()
        })
}

/// The same work as a cache-missed page, on SQLite.
async fn sqlite_page(State(limit): State<Limit>, headers: HeaderMap, body: Bytes) -> Response {
    if !verified(&limit, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let after = after(&body);
    // On the request's own thread, as authql reads SQLite (a worker per CPU, a connection
    // per worker: the read never waits for another).
    let connection = limit.sqlite.lock().unwrap().pop();
    let Some(connection) = connection else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let page = (|| {
        let mut statement = connection.prepare_cached(PAGE_SQL)?;
        let rows = statement
            .query_map([after], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, rusqlite::Error>(page_json(rows.into_iter()))
    })();
    limit.sqlite.lock().unwrap().push(connection);
    match page {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The same work as a cache-missed page, on PostgreSQL.
async fn postgres_page(State(limit): State<Limit>, headers: HeaderMap, body: Bytes) -> Response {
    if !verified(&limit, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let after = after(&body) as i32;
    let n = limit.next.fetch_add(1, Ordering::Relaxed) % limit.postgres.len().max(1);
    let Some((client, statement)) = limit.postgres.get(n) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match client.query(statement, &[&after]).await {
        Ok(rows) => {
            let json = page_json(rows.iter().map(|row| {
                (
                    i64::from(row.get::<_, i32>(0)),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                )
            }));
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

const PASSWORD: &str = "correct horse battery";

async fn page(State(limit): State<Limit>, headers: HeaderMap) -> Response {
    if !verified(&limit, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        limit.body.clone(),
    )
        .into_response()
}

async fn login(State(limit): State<Limit>, body: Bytes) -> Response {
    let password = if body
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes())
    {
        PASSWORD
    } else {
        "wrong password"
    };
    let Ok(_permit) = limit.hashing.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let (buffers, hash) = (limit.buffers.clone(), limit.hash.clone());
    let ok = tokio::task::spawn_blocking(move || {
        let mut buffer = buffers.lock().unwrap().pop().unwrap_or_default();
        let parsed = PasswordHash::new(&hash).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        if buffer.len() < params.block_count() {
            buffer.resize(params.block_count(), Block::default());
        }
        let salt = parsed.salt.unwrap();
        let mut salt_bytes = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_bytes).unwrap();
        let expected = parsed.hash.unwrap();
        let mut out = vec![0u8; expected.len()];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut buffer[..])
            .unwrap();
        buffers.lock().unwrap().push(buffer);
        out == expected.as_bytes()
    })
    .await
    .unwrap_or(false);
    if ok {
        (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"data":{"login":{"accessToken":"x"}}}"#,
        )
            .into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("ADDR");
    let secret = args.next().expect("SECRET");
    let body = std::fs::read(args.next().expect("BODY_FILE")).expect("body file");
    // The optional databases: a PostgreSQL URL, or a SQLite file.
    let (postgres_urls, sqlite_files): (Vec<String>, Vec<String>) =
        args.partition(|arg| arg.starts_with("postgres"));
    let sqlite_file = sqlite_files.first();
    let mut postgres = Vec::new();
    for url in postgres_urls.iter().take(1) {
        for _ in 0..POSTGRES_POOL {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL connects");
            tokio::spawn(connection);
            let statement = client
                .prepare(PAGE_SQL_POSTGRES)
                .await
                .expect("the page statement prepares");
            postgres.push((client, statement));
        }
    }
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hash = {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let params = Params::new(19 * 1024, 2, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    };
    let limit = Limit {
        key: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
        validation: Arc::new(validation),
        body: Bytes::from(body),
        buffers: Arc::new(Mutex::new(Vec::new())),
        hashing: Arc::new(Semaphore::new(cpus)),
        hash: hash.into(),
        sqlite: Arc::new(Mutex::new(
            sqlite_file
                .iter()
                .flat_map(|file| {
                    (0..cpus).map(move |_| {
                        rusqlite::Connection::open_with_flags(
                            file,
                            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                        )
                        .expect("the SQLite file opens")
                    })
                })
                .collect(),
        )),
        postgres: Arc::new(postgres),
        next: Arc::default(),
    };
    let app = Router::new()
        .route("/graphql", post(page))
        .route("/login", post(login))
        .route("/sqlite", post(sqlite_page))
        .route("/postgres", post(postgres_page))
        .with_state(limit);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

//! The stack's limit, for the load harness (`benches/load/run.sh`): bare axum with what
//! authql cannot do without — HS256 verification of the bearer token on every request,
//! pinned algorithm, `exp` checked — answering a precomputed body (authql's own answer to
//! the benchmarked query), and a login handler that verifies an Argon2id hash with
//! authql's parameters (m = 19 MiB, t = 2, p = 1) on a reused buffer per CPU.
//!
//! `cargo run --release --example limit -- ADDR SECRET BODY_FILE`

use std::sync::{Arc, Mutex};

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
}

const PASSWORD: &str = "correct horse battery";

async fn page(State(limit): State<Limit>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match jsonwebtoken::decode::<serde_json::Value>(token, &limit.key, &limit.validation) {
        Ok(_) => (
            [(header::CONTENT_TYPE, "application/json")],
            limit.body.clone(),
        )
            .into_response(),
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
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
    };
    let app = Router::new()
        .route("/graphql", post(page))
        .route("/login", post(login))
        .with_state(limit);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

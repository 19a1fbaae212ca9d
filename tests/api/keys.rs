//! Asymmetric algorithms (RS256, ES256, EdDSA) end to end, algorithm confusion, keys and
//! URLs smuggled in the token header, issuer and audience, and key files that stop the
//! start. The key pairs are committed test fixtures: tests/fixtures/keys/README.md.

use std::io::ErrorKind;
use std::time::Duration;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::helpers::*;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");
const NOT_ALLOWED: &str = "The specified alg value is not allowed";
const BAD_SIGNATURE: &str = "Signature verification failed";
const UNKNOWN_KID: &str = "Unknown key id (kid)";

/// What a forged token with this header is refused with: a `kid` may only name one of the
/// server's own keys (API.md Keys), anything else leaves the signature to fail.
fn refusal(header: &Header) -> &'static str {
    if header.kid.is_some() {
        UNKNOWN_KID
    } else {
        BAD_SIGNATURE
    }
}

fn key_path(file: &str) -> String {
    format!("{KEYS}/{file}")
}

fn key_bytes(file: &str) -> Vec<u8> {
    std::fs::read(key_path(file)).unwrap_or_else(|e| panic!("fixture {file}: {e}"))
}

/// The DER inside a PEM file.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    let body: String = std::str::from_utf8(pem)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

/// One asymmetric algorithm and its fixtures: `{prefix}-private.pem`, `{prefix}-public.pem`
/// (the server's pair) and `{prefix}-other-*.pem` (the attacker's pair).
#[derive(Clone, Copy, Debug)]
struct Asymmetric {
    name: &'static str,
    algorithm: Algorithm,
    prefix: &'static str,
    /// JWS signature length: RSA modulus bytes, or raw `r || s` for ECDSA (not DER).
    signature_len: usize,
}

const RS256: Asymmetric = Asymmetric {
    name: "RS256",
    algorithm: Algorithm::RS256,
    prefix: "rs256",
    signature_len: 256,
};
const ES256: Asymmetric = Asymmetric {
    name: "ES256",
    algorithm: Algorithm::ES256,
    prefix: "es256",
    signature_len: 64,
};
const EDDSA: Asymmetric = Asymmetric {
    name: "EdDSA",
    algorithm: Algorithm::EdDSA,
    prefix: "eddsa",
    signature_len: 64,
};
const ASYMMETRIC: [Asymmetric; 3] = [RS256, ES256, EDDSA];

impl Asymmetric {
    /// `part` is `private`, `public`, `other-private` or `other-public`.
    fn file(self, part: &str) -> String {
        format!("{}-{part}.pem", self.prefix)
    }

    fn signer(self, part: &str) -> EncodingKey {
        let pem = key_bytes(&self.file(part));
        match self.algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .unwrap()
    }

    fn verifier(self, part: &str) -> DecodingKey {
        let pem = key_bytes(&self.file(part));
        match self.algorithm {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
            Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
            _ => DecodingKey::from_ed_pem(&pem),
        }
        .unwrap()
    }

    /// The attacker's public key as a JWK (jsonwebtoken cannot derive one for Ed25519).
    fn attacker_jwk(self) -> Jwk {
        if self.algorithm == Algorithm::EdDSA {
            let spki = pem_der(&key_bytes(&self.file("other-public")));
            let x = URL_SAFE_NO_PAD.encode(&spki[spki.len() - 32..]);
            serde_json::from_value(json!({ "kty": "OKP", "crv": "Ed25519", "x": x })).unwrap()
        } else {
            Jwk::from_encoding_key(&self.signer("other-private"), self.algorithm).unwrap()
        }
    }

    /// A server configured with this algorithm and the fixture pair.
    async fn spawn(self) -> TestApp {
        let private = key_path(&self.file("private"));
        let public = key_path(&self.file("public"));
        TestApp::spawn_with(&[
            ("jwt-algorithm", self.name),
            ("jwt-private-key-file", &private),
            ("jwt-public-key-file", &public),
        ])
        .await
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An access token's claims, as the server would issue them.
fn access_claims(sub: &str) -> Value {
    json!({
        "sub": sub,
        "type": "access",
        "fresh": false,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now(),
        "nbf": now(),
        "exp": now() + 900,
        "role": "USER",
    })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The decoded JSON of a token's header (0) or payload (1).
fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three segments");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn hmac(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    sign(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
}

/// `token` with its header replaced and its signature kept.
fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header))
}

async fn me_with(app: &TestApp, token: &str) -> Value {
    app.gql_with_header(&format!("Bearer {token}"), ME).await
}

#[track_caller]
fn assert_token_error(body: &Value, code_expected: &str, message_expected: &str) {
    assert_code(body, code_expected);
    assert_eq!(message(body), message_expected, "{body}");
    assert!(body["data"].is_null(), "{body}");
}

#[track_caller]
fn assert_me(body: &Value, username: &str) {
    assert_eq!(body["data"]["me"]["username"], username, "{body}");
    assert!(body["errors"].is_null(), "{body}");
}

/// Nobody connected to `listener` (non-blocking) — then proves the trap works.
async fn assert_nobody_connected(listener: &std::net::TcpListener) {
    // Room for a fetch the server might (wrongly) have started in the background.
    tokio::time::sleep(Duration::from_millis(300)).await;
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the server fetched a header URL (connection from {peer})"),
        Err(e) => panic!("accept: {e}"),
    }
    let _probe = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while let Err(e) = listener.accept() {
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(
            std::time::Instant::now() < deadline,
            "the trap never saw a connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn trap() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

// ---- 1. Each asymmetric algorithm end to end -------------------------------------------

/// Tokens carry the configured `alg` and the key's `kid` (its RFC 7638 thumbprint, as
/// published in the JWKS) and nothing else in the header, verify with the public key
/// alone, work for `me` and `refresh`; the same token signed by another key pair of the
/// same algorithm, or with an all-zero signature, fails verification.
async fn tokens_are_signed_with_the_key_pair_and_work_end_to_end(alg: Asymmetric) {
    let app = alg.spawn().await;
    let session = app.signup("alice").await;
    let jwks: Value = app
        .get_raw("/.well-known/jwks.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().expect("a kid").to_owned();
    for token in [&session.access, &session.refresh] {
        assert_eq!(
            segment(token, 0),
            json!({ "alg": alg.name, "kid": kid, "typ": "JWT" })
        );
        let signature = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(2).unwrap())
            .unwrap();
        assert_eq!(signature.len(), alg.signature_len, "{alg:?} signature form");
        // Another service holding only the public key verifies it.
        let validation = Validation::new(alg.algorithm);
        jsonwebtoken::decode::<Value>(token, &alg.verifier("public"), &validation)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert!(
            jsonwebtoken::decode::<Value>(token, &alg.verifier("other-public"), &validation)
                .is_err()
        );
    }
    assert_me(&me_with(&app, &session.access).await, "alice");

    let body = app.gql(REFRESH, json!({ "t": session.refresh })).await;
    let refreshed = Session {
        access: body["data"]["refresh"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{alg:?} refresh: {body}"))
            .to_owned(),
        refresh: body["data"]["refresh"]["refreshToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{alg:?} refresh: {body}"))
            .to_owned(),
        user_id: session.user_id.clone(),
    };
    assert_eq!(segment(&refreshed.access, 0)["alg"], alg.name);
    assert_me(&me_with(&app, &refreshed.access).await, "alice");

    // Same header and claims, signed with the other key pair.
    let attacker = alg.signer("other-private");
    let header = Header::new(alg.algorithm);
    let forged = sign(&header, &segment(&refreshed.access, 1), &attacker);
    assert_token_error(
        &me_with(&app, &forged).await,
        "INVALID_TOKEN",
        BAD_SIGNATURE,
    );
    let forged = sign(&header, &segment(&refreshed.refresh, 1), &attacker);
    let body = app.gql(REFRESH, json!({ "t": forged })).await;
    assert_token_error(&body, "INVALID_TOKEN", BAD_SIGNATURE);

    // An all-zero signature of the right length ("psychic signatures", CVE-2022-21449).
    let (signed, _) = refreshed.access.rsplit_once('.').unwrap();
    let zeros = format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(vec![0u8; alg.signature_len])
    );
    assert_token_error(&me_with(&app, &zeros).await, "INVALID_TOKEN", BAD_SIGNATURE);

    // The genuine token still works after all that.
    assert_me(&me_with(&app, &refreshed.access).await, "alice");
}

#[tokio::test]
async fn rs256_tokens_are_signed_with_the_key_pair_and_work_end_to_end() {
    tokens_are_signed_with_the_key_pair_and_work_end_to_end(RS256).await;
}

#[tokio::test]
async fn es256_tokens_are_signed_with_the_key_pair_and_work_end_to_end() {
    tokens_are_signed_with_the_key_pair_and_work_end_to_end(ES256).await;
}

#[tokio::test]
async fn eddsa_tokens_are_signed_with_the_key_pair_and_work_end_to_end() {
    tokens_are_signed_with_the_key_pair_and_work_end_to_end(EDDSA).await;
}

#[tokio::test]
async fn pkcs1_rsa_key_files_work_like_pkcs8_ones() {
    let private = key_path("rs256-private-pkcs1.pem");
    let public = key_path("rs256-public-pkcs1.pem");
    let app = TestApp::spawn_with(&[
        ("jwt-algorithm", "RS256"),
        ("jwt-private-key-file", &private),
        ("jwt-public-key-file", &public),
    ])
    .await;
    let session = app.signup("alice").await;
    assert_me(&me_with(&app, &session.access).await, "alice");
    // The same key as the PKCS#8 fixture.
    jsonwebtoken::decode::<Value>(
        &session.access,
        &RS256.verifier("public"),
        &Validation::new(Algorithm::RS256),
    )
    .unwrap();
}

// ---- 2. Algorithm confusion ------------------------------------------------------------

#[tokio::test]
async fn asymmetric_servers_refuse_hmac_tokens_keyed_with_their_public_key_and_alg_none() {
    for alg in ASYMMETRIC {
        let app = alg.spawn().await;
        let session = app.signup("alice").await;
        let claims = access_claims(&session.user_id);
        // The classic attack: the public key, which anyone has, as the HMAC secret — as the
        // PEM file, without its final newline, and as DER.
        let pem = key_bytes(&alg.file("public"));
        let der = pem_der(&pem);
        for secret in [pem.as_slice(), pem.trim_ascii_end(), der.as_slice()] {
            for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let body = me_with(&app, &hmac(hs, &claims, secret)).await;
                assert_token_error(&body, "INVALID_TOKEN", NOT_ALLOWED);
            }
        }
        for none in ["none", "None", "NONE"] {
            let header = json!({ "alg": none, "typ": "JWT" });
            for signature in ["", "e30"] {
                let token = format!("{}.{}.{signature}", b64(&header), b64(&claims));
                let body = me_with(&app, &token).await;
                assert_token_error(&body, "INVALID_TOKEN", NOT_ALLOWED);
            }
        }
        // Another asymmetric family, signed with a genuine key of that family.
        for foreign in ASYMMETRIC.iter().filter(|f| f.name != alg.name) {
            let token = sign(
                &Header::new(foreign.algorithm),
                &claims,
                &foreign.signer("private"),
            );
            let body = me_with(&app, &token).await;
            assert_token_error(&body, "INVALID_TOKEN", NOT_ALLOWED);
        }
        // Our own token relabelled: another algorithm, a sibling, another spelling, no alg.
        let lower = alg.name.to_lowercase();
        let spaced = format!("{} ", alg.name);
        for relabel in [
            json!({ "alg": "HS256", "typ": "JWT" }),
            json!({ "alg": "RS384", "typ": "JWT" }),
            json!({ "alg": "PS256", "typ": "JWT" }),
            json!({ "alg": "ES384", "typ": "JWT" }),
            json!({ "alg": "Ed25519", "typ": "JWT" }),
            json!({ "alg": lower, "typ": "JWT" }),
            json!({ "alg": spaced, "typ": "JWT" }),
            json!({ "alg": [alg.name], "typ": "JWT" }),
            json!({ "typ": "JWT" }),
        ] {
            let body = me_with(&app, &with_header(&session.access, &relabel)).await;
            assert_token_error(&body, "INVALID_TOKEN", NOT_ALLOWED);
        }
        assert_me(&me_with(&app, &session.access).await, "alice");
    }
}

#[tokio::test]
async fn an_hs256_server_refuses_tokens_signed_with_rsa_ec_or_ed_keys() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let claims = access_claims(&session.user_id);
    for alg in ASYMMETRIC {
        for part in ["private", "other-private"] {
            let token = sign(&Header::new(alg.algorithm), &claims, &alg.signer(part));
            let body = me_with(&app, &token).await;
            assert_token_error(&body, "INVALID_TOKEN", NOT_ALLOWED);
        }
    }
    // The same claims under the shared secret are fine: only the algorithm was wrong.
    assert_me(
        &me_with(&app, &hmac(Algorithm::HS256, &claims, SECRET.as_bytes())).await,
        "alice",
    );
}

// ---- 3. Keys and URLs in the header ----------------------------------------------------

/// Headers that try to choose the key: an embedded JWK, key URLs, and `kid` values meant
/// for a file read or an SQL lookup.
fn tricky_headers(alg: Algorithm, jwk: Jwk, trap: &str) -> Vec<Header> {
    let base = Header::new(alg);
    vec![
        Header {
            jwk: Some(jwk),
            ..base.clone()
        },
        Header {
            jku: Some(format!("{trap}/.well-known/jwks.json")),
            ..base.clone()
        },
        Header {
            jku: Some(format!("{trap}/.well-known/jwks.json")),
            kid: Some("attacker".to_owned()),
            ..base.clone()
        },
        Header {
            x5u: Some(format!("{trap}/attacker.pem")),
            ..base.clone()
        },
        Header {
            kid: Some("../../dev/null".to_owned()),
            ..base.clone()
        },
        Header {
            kid: Some("x' OR 1=1 --".to_owned()),
            ..base
        },
    ]
}

#[tokio::test]
async fn asymmetric_servers_ignore_keys_and_urls_in_the_token_header_and_fetch_nothing() {
    let (listener, trap) = trap();
    for alg in ASYMMETRIC {
        let app = alg.spawn().await;
        let session = app.signup("alice").await;
        let claims = access_claims(&session.user_id);
        let attacker = alg.signer("other-private");
        for header in tricky_headers(alg.algorithm, alg.attacker_jwk(), &trap) {
            let token = sign(&header, &claims, &attacker);
            let body = me_with(&app, &token).await;
            assert_code(&body, "INVALID_TOKEN");
            assert_eq!(
                message(&body),
                refusal(&header),
                "{alg:?} {header:?}: {body}"
            );
            // The same header as HS256, keyed with an empty or a well-known string.
            for secret in ["", "secret", "null"] {
                let header = Header {
                    alg: Algorithm::HS256,
                    ..header.clone()
                };
                let token = sign(
                    &header,
                    &claims,
                    &EncodingKey::from_secret(secret.as_bytes()),
                );
                let body = me_with(&app, &token).await;
                assert_code(&body, "INVALID_TOKEN");
                assert_eq!(message(&body), NOT_ALLOWED, "{alg:?} {header:?}: {body}");
            }
        }
        // A `jwk` the decoder cannot even read is refused too.
        let garbled = json!({ "alg": alg.name, "typ": "JWT", "jwk": { "kty": "nonsense" } });
        let body = me_with(&app, &with_header(&session.access, &garbled)).await;
        assert_token_error(&body, "INVALID_TOKEN", "Invalid header string");
        assert_me(&me_with(&app, &session.access).await, "alice");
    }
    assert_nobody_connected(&listener).await;
}

#[tokio::test]
async fn an_hs256_server_ignores_kid_jwk_and_key_urls_and_fetches_nothing() {
    let (listener, trap) = trap();
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let claims = access_claims(&session.user_id);
    let attacker_secret = "attacker-secret-that-is-at-least-32-bytes";
    let oct: Jwk = serde_json::from_value(json!({
        "kty": "oct",
        "k": URL_SAFE_NO_PAD.encode(attacker_secret),
    }))
    .unwrap();
    for header in tricky_headers(Algorithm::HS256, oct, &trap) {
        // `/dev/null` reads as empty, a matched row might hold anything: try the likely keys.
        for secret in ["", "null", "1", attacker_secret] {
            let token = sign(
                &header,
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            );
            let body = me_with(&app, &token).await;
            assert_code(&body, "INVALID_TOKEN");
            assert_eq!(
                message(&body),
                refusal(&header),
                "{header:?} {secret:?}: {body}"
            );
        }
        // The header never changes the key: under the configured secret a key or URL is
        // just ignored, and a `kid` names no key of an HS256 server.
        let token = sign(
            &header,
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        );
        let body = me_with(&app, &token).await;
        if header.kid.is_some() {
            assert_token_error(&body, "INVALID_TOKEN", UNKNOWN_KID);
        } else {
            assert_me(&body, "alice");
        }
    }
    assert_nobody_connected(&listener).await;
}

// ---- 4. Issuer and audience ------------------------------------------------------------

const ISSUER_AND_AUDIENCES: [(&str, &str); 2] = [
    ("jwt-issuer", "authql-test"),
    ("jwt-audience", "web,mobile"),
];

/// Access claims with `iss` and `aud` set to the given values, or left out for `None`.
fn claims_with(sub: &str, iss: Option<Value>, aud: Option<Value>) -> Value {
    let mut claims = access_claims(sub);
    let object = claims.as_object_mut().unwrap();
    if let Some(iss) = iss {
        object.insert("iss".to_owned(), iss);
    }
    if let Some(aud) = aud {
        object.insert("aud".to_owned(), aud);
    }
    claims
}

#[tokio::test]
async fn tokens_carry_the_configured_issuer_and_audience_list() {
    let app = TestApp::spawn_with(&ISSUER_AND_AUDIENCES).await;
    let session = app.signup("alice").await;
    for token in [&session.access, &session.refresh] {
        let claims = segment(token, 1);
        assert_eq!(claims["iss"], "authql-test", "{claims}");
        assert_eq!(claims["aud"], json!(["web", "mobile"]), "{claims}");
    }
    assert_me(&me_with(&app, &session.access).await, "alice");
    let body = app.gql(REFRESH, json!({ "t": session.refresh })).await;
    let access = body["data"]["refresh"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("refresh: {body}"));
    assert_eq!(segment(access, 1)["aud"], json!(["web", "mobile"]));
    assert_me(&me_with(&app, access).await, "alice");
}

#[tokio::test]
async fn a_single_audience_is_a_string_claim() {
    let app = TestApp::spawn_with(&[("jwt-audience", "web")]).await;
    let session = app.signup("alice").await;
    let claims = segment(&session.access, 1);
    assert_eq!(claims["aud"], "web", "{claims}");
    assert!(claims.get("iss").is_none(), "{claims}");
    assert_me(&me_with(&app, &session.access).await, "alice");
    let sub = &session.user_id;
    for aud in [json!("web"), json!(["web"]), json!(["other", "web"])] {
        let token = hmac(
            Algorithm::HS256,
            &claims_with(sub, None, Some(aud)),
            SECRET.as_bytes(),
        );
        assert_me(&me_with(&app, &token).await, "alice");
    }
    for (aud, expected) in [
        (Some(json!("mobile")), "Invalid audience"),
        (Some(json!("Web")), "Invalid audience"),
        (None, "Token is missing the \"aud\" claim"),
    ] {
        let token = hmac(
            Algorithm::HS256,
            &claims_with(sub, None, aud.clone()),
            SECRET.as_bytes(),
        );
        let body = me_with(&app, &token).await;
        assert_code(&body, "INVALID_TOKEN");
        assert_eq!(message(&body), expected, "aud {aud:?}: {body}");
    }
}

#[tokio::test]
async fn a_wrong_or_missing_issuer_or_audience_is_invalid() {
    let app = TestApp::spawn_with(&ISSUER_AND_AUDIENCES).await;
    let session = app.signup("alice").await;
    let sub = &session.user_id;
    let ours = || Some(json!("authql-test"));
    // An audience list is accepted when it names one of ours.
    for aud in [
        json!("web"),
        json!("mobile"),
        json!(["web", "mobile"]),
        json!(["billing", "mobile"]),
    ] {
        let claims = claims_with(sub, ours(), Some(aud.clone()));
        let body = me_with(&app, &hmac(Algorithm::HS256, &claims, SECRET.as_bytes())).await;
        assert!(body["errors"].is_null(), "aud {aud}: {body}");
        assert_me(&body, "alice");
    }
    for (iss, aud, expected) in [
        (
            Some(json!("authql-prod")),
            Some(json!("web")),
            "Invalid issuer",
        ),
        (Some(json!("")), Some(json!("web")), "Invalid issuer"),
        (
            Some(json!("AUTHQL-TEST")),
            Some(json!("web")),
            "Invalid issuer",
        ),
        // `iss` is one string (RFC 7519 §4.1.1), even a list that contains ours.
        (
            Some(json!(["authql-test"])),
            Some(json!("web")),
            "Invalid issuer",
        ),
        (
            None,
            Some(json!("web")),
            "Token is missing the \"iss\" claim",
        ),
        (ours(), Some(json!("admin")), "Invalid audience"),
        (
            ours(),
            Some(json!(["admin", "billing"])),
            "Invalid audience",
        ),
        (ours(), Some(json!([])), "Invalid audience"),
        // The configured list is two audiences, not one called "web,mobile".
        (ours(), Some(json!("web,mobile")), "Invalid audience"),
        (ours(), None, "Token is missing the \"aud\" claim"),
    ] {
        let claims = claims_with(sub, iss.clone(), aud.clone());
        let body = me_with(&app, &hmac(Algorithm::HS256, &claims, SECRET.as_bytes())).await;
        assert_code(&body, "INVALID_TOKEN");
        assert_eq!(message(&body), expected, "iss {iss:?} aud {aud:?}: {body}");
    }
    // A non-string issuer is refused as well, whatever the wording.
    let claims = claims_with(sub, Some(json!(42)), Some(json!("web")));
    let body = me_with(&app, &hmac(Algorithm::HS256, &claims, SECRET.as_bytes())).await;
    assert_code(&body, "INVALID_TOKEN");
}

#[tokio::test]
async fn without_a_configured_audience_a_token_naming_one_is_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let claims = segment(&session.access, 1);
    assert!(
        claims.get("aud").is_none() && claims.get("iss").is_none(),
        "{claims}"
    );
    let sub = &session.user_id;
    // A token minted for another service with the same secret (RFC 7519 §4.1.3).
    for aud in [json!("web"), json!(["web", "mobile"])] {
        let claims = claims_with(sub, None, Some(aud.clone()));
        let body = me_with(&app, &hmac(Algorithm::HS256, &claims, SECRET.as_bytes())).await;
        assert_code(&body, "INVALID_TOKEN");
        assert_eq!(message(&body), "Invalid audience", "aud {aud}: {body}");
    }
    // Without a configured issuer `iss` is not checked (as in PyJWT).
    let claims = claims_with(sub, Some(json!("someone")), None);
    let body = me_with(&app, &hmac(Algorithm::HS256, &claims, SECRET.as_bytes())).await;
    assert_me(&body, "alice");
}

// ---- 5. Key files at start ---------------------------------------------------------------

/// One way to misconfigure the key files, and what the one-line error must say.
struct BadStart {
    why: &'static str,
    algorithm: &'static str,
    private: Option<String>,
    public: Option<String>,
    variable: &'static str,
    /// Something else the line must contain.
    mentions: &'static str,
}

const PRIVATE: &str = "JWT_PRIVATE_KEY_FILE";
const PUBLIC: &str = "JWT_PUBLIC_KEY_FILE";

#[test]
fn key_file_problems_stop_the_start_with_exit_2_and_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("not-a-key.pem"), "hello, I am not a key\n").unwrap();
    std::fs::write(path("empty.pem"), "").unwrap();
    std::fs::write(
        path("garbled.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::create_dir(path("a-directory")).unwrap();
    let fixture = |name: &str| Some(key_path(name));
    let good = |alg: Asymmetric, part: &str| Some(key_path(&alg.file(part)));
    let case = |why, alg: Asymmetric, private, public, variable, mentions| BadStart {
        why,
        algorithm: alg.name,
        private,
        public,
        variable,
        mentions,
    };
    #[rustfmt::skip]
    let mut cases = vec![
        case("private key file missing", RS256, Some(path("missing.pem")), good(RS256, "public"), PRIVATE, "missing.pem"),
        case("public key file missing", RS256, good(RS256, "private"), Some(path("missing.pem")), PUBLIC, "missing.pem"),
        case("public key not configured", RS256, good(RS256, "private"), None, PUBLIC, ""),
        case("private key path is a directory", RS256, Some(path("a-directory")), good(RS256, "public"), PRIVATE, "a-directory"),
        case("public key path is a directory", RS256, good(RS256, "private"), Some(path("a-directory")), PUBLIC, "a-directory"),
        case("private key file is not a key", RS256, Some(path("not-a-key.pem")), good(RS256, "public"), PRIVATE, ""),
        case("public key file is not a key", RS256, good(RS256, "private"), Some(path("not-a-key.pem")), PUBLIC, ""),
        case("private key file is empty", ES256, Some(path("empty.pem")), good(ES256, "public"), PRIVATE, ""),
        case("private key PEM holds garbage", EDDSA, Some(path("garbled.pem")), good(EDDSA, "public"), PRIVATE, ""),
        case("a public key as the private key", RS256, good(RS256, "public"), good(RS256, "public"), PRIVATE, ""),
        case("a PKCS#1 public key as the private key", RS256, fixture("rs256-public-pkcs1.pem"), good(RS256, "public"), PRIVATE, ""),
        case("a private key as the public key", RS256, good(RS256, "private"), good(RS256, "private"), PUBLIC, ""),
        case("RSA public key of another pair", RS256, good(RS256, "private"), good(RS256, "other-public"), PUBLIC, "does not verify"),
        case("RSA key shorter than 2048 bits", RS256, fixture("rs256-1024-private.pem"), good(RS256, "public"), PRIVATE, "2048"),
        case("EC public key of another pair", ES256, good(ES256, "private"), good(ES256, "other-public"), PUBLIC, "does not verify"),
        case("SEC1 EC private key", ES256, fixture("es256-private-sec1.pem"), good(ES256, "public"), PRIVATE, "PKCS#8"),
        case("RSA keys for ES256", ES256, good(RS256, "private"), good(RS256, "public"), PRIVATE, ""),
        case("RSA public key for ES256", ES256, good(ES256, "private"), good(RS256, "public"), PUBLIC, ""),
        case("Ed25519 public key of another pair", EDDSA, good(EDDSA, "private"), good(EDDSA, "other-public"), PUBLIC, "does not verify"),
        case("EC private key for EdDSA", EDDSA, good(ES256, "private"), good(EDDSA, "public"), PRIVATE, ""),
        case("Ed25519 keys for RS256", RS256, good(EDDSA, "private"), good(EDDSA, "public"), PRIVATE, ""),
    ];
    // Permissions stop nobody running as root; only check them where they bite.
    let locked = path("locked.pem");
    std::fs::copy(key_path(&RS256.file("private")), &locked).unwrap();
    set_mode(&locked, 0o000);
    if std::fs::File::open(&locked).is_err() {
        cases.push(case(
            "private key file unreadable",
            RS256,
            Some(locked.clone()),
            good(RS256, "public"),
            PRIVATE,
            "locked.pem",
        ));
    }

    for BadStart {
        why,
        algorithm,
        private,
        public,
        variable,
        mentions,
    } in cases
    {
        let mut command = authql_command();
        command
            .env("DATABASE_URL", &db)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("JWT_ALGORITHM", algorithm);
        if let Some(private) = &private {
            command.env(PRIVATE, private);
        }
        if let Some(public) = &public {
            command.env(PUBLIC, public);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{why}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{why}: {stderr}");
        assert!(stderr.contains(variable), "{why}: {stderr}");
        let other = if variable == PRIVATE { PUBLIC } else { PRIVATE };
        assert!(!stderr.contains(other), "{why} blames {other}: {stderr}");
        assert!(
            stderr.contains(mentions),
            "{why}: no {mentions:?} in {stderr}"
        );
    }
    set_mode(&locked, 0o600);
}

fn set_mode(path: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---- 6. JWKS and key rotation ----------------------------------------------------------

/// GET `/.well-known/jwks.json`: the status, `Cache-Control` and the set.
async fn jwks(app: &TestApp) -> (String, JwkSet) {
    let response = app.get_raw("/.well-known/jwks.json", &[]).await;
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    (cache, response.json().await.unwrap())
}

/// What another service does with only the JWKS URL (as Apollo Router or PyJWT's
/// `PyJWKClient` would): the key is chosen by the token's `kid` among the published keys,
/// the algorithm by the key's `alg`, never by the token.
async fn verify_with_jwks_url(app: &TestApp, token: &str) -> Result<Value, String> {
    let (_, set) = jwks(app).await;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("kid not published")?;
    let algorithm = match jwk.common.key_algorithm {
        Some(jsonwebtoken::jwk::KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(jsonwebtoken::jwk::KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(jsonwebtoken::jwk::KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        other => return Err(format!("unexpected alg {other:?}")),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(algorithm);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn jwks_publishes_each_public_key_with_its_thumbprint_and_hs256_publishes_nothing() {
    let app = TestApp::spawn().await;
    let (cache, set) = jwks(&app).await;
    assert_eq!(cache, "public, max-age=300");
    assert!(set.keys.is_empty(), "a shared secret is never published");
    for alg in ASYMMETRIC {
        let app = alg.spawn().await;
        let (cache, set) = jwks(&app).await;
        assert_eq!(cache, "public, max-age=300");
        assert_eq!(set.keys.len(), 1, "{alg:?}");
        let jwk = &set.keys[0];
        let kid = jwk.common.key_id.clone().expect("kid");
        // RFC 7638: the kid is the SHA-256 thumbprint of the key's required members.
        assert_eq!(kid, jwk.thumbprint(ThumbprintHash::SHA256), "{alg:?}");
        assert_eq!(
            jwk.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Signature)
        );
        // The published key is the configured public key: it verifies what the public
        // key file verifies.
        let session = app.signup("alice").await;
        let claims = verify_with_jwks_url(&app, &session.access).await.unwrap();
        assert_eq!(claims["sub"], json!(session.user_id));
        // No private member is ever published.
        let raw = serde_json::to_value(jwk).unwrap();
        assert!(raw.get("d").is_none() && raw.get("k").is_none(), "{raw}");
    }
}

#[tokio::test]
async fn a_key_rotation_logs_nobody_out_and_other_services_follow_it_through_the_jwks() {
    for alg in ASYMMETRIC {
        let before = alg.spawn().await;
        let alice = before.signup("alice").await;
        assert!(verify_with_jwks_url(&before, &alice.access).await.is_ok());
        // The new pair is current, the old public key stays as a previous one.
        let after = TestApp::spawn_on(
            before.database_url.clone(),
            TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
            &[
                ("jwt-algorithm", alg.name),
                (
                    "jwt-private-key-file",
                    &key_path(&alg.file("other-private")),
                ),
                ("jwt-public-key-file", &key_path(&alg.file("other-public"))),
                (
                    "jwt-previous-public-key-files",
                    &key_path(&alg.file("public")),
                ),
            ],
        )
        .await;
        let (_, set) = jwks(&after).await;
        assert_eq!(set.keys.len(), 2, "{alg:?}");
        // Tokens issued before the rotation still work, here and for other services.
        assert_me(&me_with(&after, &alice.access).await, "alice");
        assert!(verify_with_jwks_url(&after, &alice.access).await.is_ok());
        let rotated = after.gql(REFRESH, json!({ "t": alice.refresh })).await;
        let rotated = Session::from_payload(&rotated["data"]["refresh"]).expect("refreshed");
        // New tokens carry the new key's kid, and verify through the JWKS too.
        let new_kid = jsonwebtoken::decode_header(&rotated.access).unwrap().kid;
        let old_kid = jsonwebtoken::decode_header(&alice.access).unwrap().kid;
        assert_ne!(new_kid, old_kid);
        assert_eq!(
            new_kid, set.keys[0].common.key_id,
            "the current key comes first"
        );
        assert!(verify_with_jwks_url(&after, &rotated.access).await.is_ok());
        // Without the previous key, the old token names no known key.
        let dropped = TestApp::spawn_on(
            before.database_url.clone(),
            TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
            &[
                ("jwt-algorithm", alg.name),
                (
                    "jwt-private-key-file",
                    &key_path(&alg.file("other-private")),
                ),
                ("jwt-public-key-file", &key_path(&alg.file("other-public"))),
            ],
        )
        .await;
        assert_token_error(
            &me_with(&dropped, &alice.access).await,
            "INVALID_TOKEN",
            UNKNOWN_KID,
        );
    }
}

#[tokio::test]
async fn previous_public_keys_need_an_asymmetric_algorithm() {
    let output = authql_command()
        .args(["serve", "--listen-addr", "127.0.0.1:0"])
        .args(["--jwt-secret-key", SECRET])
        .args(["--database-url", "sqlite::memory:"])
        .args([
            "--jwt-previous-public-key-files",
            &key_path("rs256-public.pem"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_PREVIOUS_PUBLIC_KEY_FILES"), "{stderr}");
}

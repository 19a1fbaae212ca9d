//! Token attacks and token errors, each with Flask-JWT-Extended's code and message.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token signed with `secret` over arbitrary claims.
fn mint(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Flask-JWT-Extended's access token claim set (no `role`).
fn fje_claims(sub: &str) -> Value {
    json!({
        "fresh": false,
        "iat": now(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access",
        "sub": sub,
        "nbf": now(),
        "exp": now() + 900,
    })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
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

#[tokio::test]
async fn missing_header_returns_authorization_required() {
    let app = TestApp::spawn().await;
    let body = app.gql(ME, json!({})).await;
    assert_token_error(
        &body,
        "AUTHORIZATION_REQUIRED",
        "Missing Authorization Header",
    );
    assert_eq!(body["errors"][0]["path"][0], "me");
}

#[tokio::test]
async fn malformed_authorization_headers_get_flask_jwt_extended_errors() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let missing_bearer =
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";
    let bad_header = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
    for (header, code_expected, message_expected) in [
        (
            "Basic dXNlcjpwYXNz",
            "AUTHORIZATION_REQUIRED",
            missing_bearer,
        ),
        (
            &format!("Token {}", session.access),
            "AUTHORIZATION_REQUIRED",
            missing_bearer,
        ),
        ("Bearer", "INVALID_TOKEN", bad_header),
        ("Bearer   ", "INVALID_TOKEN", bad_header),
        (
            &format!("Bearer {} extra", session.access),
            "INVALID_TOKEN",
            bad_header,
        ),
    ] {
        let body = app.gql_with_header(header, ME).await;
        assert_token_error(&body, code_expected, message_expected);
    }
    let garbage = app.gql_with_header("Bearer not-a-jwt", ME).await;
    assert_code(&garbage, "INVALID_TOKEN");
    // The scheme is case-insensitive.
    let lower = app
        .gql_with_header(&format!("bearer {}", session.access), ME)
        .await;
    assert_eq!(lower["data"]["me"]["username"], "alice", "{lower}");
}

#[tokio::test]
async fn alg_none_in_any_casing_is_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let claims = fje_claims(&session.user_id);
    for alg in ["none", "None", "NONE", "nOnE"] {
        for signature in ["", "e30"] {
            let token = format!(
                "{}.{}.{signature}",
                b64(&json!({ "alg": alg, "typ": "JWT" })),
                b64(&claims)
            );
            let body = me_with(&app, &token).await;
            assert_token_error(
                &body,
                "INVALID_TOKEN",
                "The specified alg value is not allowed",
            );
        }
    }
}

#[tokio::test]
async fn other_algorithms_with_the_same_secret_are_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = jsonwebtoken::encode(
            &Header::new(alg),
            &fje_claims(&session.user_id),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        let body = me_with(&app, &token).await;
        assert_token_error(
            &body,
            "INVALID_TOKEN",
            "The specified alg value is not allowed",
        );
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_fails_signature_verification() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let token = mint(
        &fje_claims(&session.user_id),
        "some-other-secret-that-is-long-enough",
    );
    let body = me_with(&app, &token).await;
    assert_token_error(&body, "INVALID_TOKEN", "Signature verification failed");
}

#[tokio::test]
async fn a_tampered_payload_or_flipped_signature_is_invalid() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let parts: Vec<&str> = alice.access.split('.').collect();
    // Swap in a payload naming bob, keep alice's signature.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!(bob.user_id);
    claims["role"] = json!("ADMIN");
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_token_error(
        &me_with(&app, &tampered).await,
        "INVALID_TOKEN",
        "Signature verification failed",
    );
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 0x01;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_token_error(
        &me_with(&app, &flipped).await,
        "INVALID_TOKEN",
        "Signature verification failed",
    );
    let truncated = format!("{}.{}", parts[0], parts[1]);
    assert_code(&me_with(&app, &truncated).await, "INVALID_TOKEN");
}

#[tokio::test]
async fn an_expired_token_returns_token_expired() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let mut claims = fje_claims(&session.user_id);
    claims["iat"] = json!(now() - 100);
    claims["nbf"] = json!(now() - 100);
    claims["exp"] = json!(now() - 1);
    let body = me_with(&app, &mint(&claims, SECRET)).await;
    assert_token_error(&body, "TOKEN_EXPIRED", "Token has expired");
}

/// RFC 7519 §4.1.4: expired "on or after" `exp` — a token is expired from the second its
/// `exp` names.
#[tokio::test]
async fn a_token_is_expired_from_the_second_its_exp_names() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let mut claims = fje_claims(&session.user_id);
    claims["iat"] = json!(now() - 100);
    claims["nbf"] = json!(now() - 100);
    claims["exp"] = json!(now());
    let body = me_with(&app, &mint(&claims, SECRET)).await;
    assert_token_error(&body, "TOKEN_EXPIRED", "Token has expired");
}

/// `sub` is the user id exactly as the server writes it: `"01"` or `"+1"` is not user 1.
#[tokio::test]
async fn a_subject_not_in_its_canonical_form_is_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    assert_eq!(session.user_id, "1");
    for sub in ["01", "+1", " 1", "1 ", "1.0", "0x1", "0"] {
        let body = me_with(&app, &mint(&fje_claims(sub), SECRET)).await;
        assert_code(&body, "INVALID_TOKEN");
        assert!(body["data"].is_null(), "{sub:?}: {body}");
    }
    let body = me_with(&app, &mint(&fje_claims("1"), SECRET)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn an_access_token_expires_after_its_configured_lifetime() {
    let app = TestApp::spawn_with(&[("jwt-access-token-expires", "1s")]).await;
    let session = app.signup("alice").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = me_with(&app, &session.access).await;
        if body["errors"].is_array() {
            assert_token_error(&body, "TOKEN_EXPIRED", "Token has expired");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "token never expired");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn leeway_accepts_a_recently_expired_token_only_when_configured() {
    let app = TestApp::spawn_with(&[("jwt-leeway", "30s")]).await;
    let session = app.signup("alice").await;
    let mut claims = fje_claims(&session.user_id);
    claims["exp"] = json!(now() - 5);
    let body = me_with(&app, &mint(&claims, SECRET)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn a_token_not_yet_valid_is_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let mut claims = fje_claims(&session.user_id);
    claims["nbf"] = json!(now() + 3600);
    let body = me_with(&app, &mint(&claims, SECRET)).await;
    assert_token_error(&body, "INVALID_TOKEN", "The token is not yet valid (nbf)");
}

#[tokio::test]
async fn tokens_missing_exp_or_sub_are_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    for claim in ["exp", "sub", "jti", "iat"] {
        let mut claims = fje_claims(&session.user_id);
        claims.as_object_mut().unwrap().remove(claim);
        let body = me_with(&app, &mint(&claims, SECRET)).await;
        assert_code(&body, "INVALID_TOKEN");
        assert!(message(&body).contains(claim), "{claim}: {body}");
    }
    let mut numeric_sub = fje_claims(&session.user_id);
    numeric_sub["sub"] = json!(session.user_id.parse::<i64>().unwrap());
    assert_code(
        &me_with(&app, &mint(&numeric_sub, SECRET)).await,
        "INVALID_TOKEN",
    );
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token_and_the_reverse() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let body = me_with(&app, &session.refresh).await;
    assert_token_error(
        &body,
        "INVALID_TOKEN",
        "Only non-refresh tokens are allowed",
    );
    let body = app.gql(REFRESH, json!({ "t": session.access })).await;
    assert_token_error(&body, "INVALID_TOKEN", "Only refresh tokens are allowed");
}

#[tokio::test]
async fn a_token_with_flask_jwt_extended_claims_is_accepted() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let body = me_with(&app, &mint(&fje_claims(&session.user_id), SECRET)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
    // Without `type` and `fresh`, Flask-JWT-Extended's defaults apply (access, not fresh).
    let mut bare = fje_claims(&session.user_id);
    bare.as_object_mut().unwrap().remove("type");
    bare.as_object_mut().unwrap().remove("fresh");
    let body = me_with(&app, &mint(&bare, SECRET)).await;
    assert_eq!(body["data"]["me"]["username"], "alice", "{body}");
}

#[tokio::test]
async fn our_tokens_carry_the_flask_jwt_extended_claim_set() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(session.access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(session.access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], json!(session.user_id));
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["fresh"], true);
    assert_eq!(claims["role"], "USER");
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    for claim in ["iat", "nbf", "exp"] {
        assert!(claims[claim].is_i64(), "{claim} in {claims}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    // And it verifies with the shared secret, as Flask-JWT-Extended would verify it.
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(
        &session.access,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .unwrap();
}

#[tokio::test]
async fn an_expired_token_on_public_fields_still_returns_data() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let mut claims = fje_claims(&session.user_id);
    claims["exp"] = json!(now() - 10);
    let expired = mint(&claims, SECRET);
    let body = app.gql_as(&expired, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
    assert!(body["errors"].is_null(), "{body}");
    let login = app
        .gql_as(
            &expired,
            LOGIN,
            json!({ "input": { "username": "alice", "password": PASSWORD } }),
        )
        .await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
}

#[tokio::test]
async fn a_deleted_users_token_is_invalid() {
    let app = TestApp::spawn().await;
    let session = app.signup("alice").await;
    let body = app
        .gql_as(
            &session.access,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": session.user_id }),
        )
        .await;
    assert_eq!(body["data"]["deleteUser"], json!(session.user_id), "{body}");
    let body = me_with(&app, &session.access).await;
    assert_code(&body, "INVALID_TOKEN");
    let body = app.gql(REFRESH, json!({ "t": session.refresh })).await;
    assert_code(&body, "INVALID_TOKEN");
}

#[tokio::test]
async fn a_token_naming_critical_header_extensions_is_invalid() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let mut claims = fje_claims(&alice.user_id);
    claims["type"] = json!("access");
    let header = json!({ "alg": "HS256", "typ": "JWT", "crit": ["exp"] });
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(signing_input.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    };
    let token = format!("{signing_input}.{signature}");
    assert_code(&me_with(&app, &token).await, "INVALID_TOKEN");
    // The same token without `crit` is fine: only the extension is refused.
    assert_eq!(
        me_with(&app, &mint(&claims, SECRET)).await["data"]["me"]["username"],
        "alice"
    );
}

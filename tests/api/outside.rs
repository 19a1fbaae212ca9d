//! API.md "External identity providers": an identity provider inside the test process
//! (axum on a free port: OpenID discovery and a JWKS whose keys the test changes), tokens
//! signed with the committed fixture keys (RS256, ES256, EdDSA), and authql told of the
//! provider by an `EXTERNAL_ISSUERS_FILE`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
use std::time::Duration;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};

use crate::helpers::*;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");
const AUDIENCE: &str = "authql";

fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{file}")).unwrap()
}

/// A signing key of the provider, and its public JWK (`kid` set).
struct ProviderKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl ProviderKey {
    fn new(alg: Algorithm, prefix: &str, kid: &str) -> Self {
        let private = fixture(&format!("{prefix}-private.pem"));
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&private),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&private),
            _ => EncodingKey::from_ed_pem(&private),
        }
        .unwrap();
        let mut jwk = match alg {
            Algorithm::EdDSA => {
                // The raw public key is the last 32 bytes of the SPKI DER.
                let pem = String::from_utf8(fixture(&format!("{prefix}-public.pem"))).unwrap();
                let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                let der = STANDARD.decode(body).unwrap();
                json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]) })
            }
            _ => serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap(),
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self {
            alg,
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Some(&self.kid))
    }

    fn sign_as(&self, claims: &Value, kid: Option<&str>) -> String {
        let header = Header {
            kid: kid.map(str::to_owned),
            ..Header::new(self.alg)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The identity provider: discovery, and a JWKS the test edits, counts and takes down.
struct Provider {
    issuer: String,
    jwks: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Provider {
    async fn start(keys: &[&ProviderKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let jwks: Arc<Mutex<Vec<Value>>> =
            Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let discovery = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") });
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get({
                    let down = down.clone();
                    move || {
                        let (down, discovery) = (down.clone(), discovery.clone());
                        async move {
                            if down.load(Ordering::SeqCst) {
                                return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                            }
                            Ok(axum::Json(discovery))
                        }
                    }
                }),
            )
            .route(
                "/jwks",
                axum::routing::get({
                    let (jwks, fetches, down) = (jwks.clone(), fetches.clone(), down.clone());
                    move || {
                        let (jwks, fetches, down) = (jwks.clone(), fetches.clone(), down.clone());
                        async move {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            if down.load(Ordering::SeqCst) {
                                return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                            }
                            let keys = jwks.lock().unwrap().clone();
                            Ok(axum::Json(json!({ "keys": keys })))
                        }
                    }
                }),
            );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            issuer,
            jwks,
            fetches,
            down,
            _shutdown: tx,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Access token claims of this provider for `sub`.
    fn claims(&self, sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({ "iss": self.issuer, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600,
                "preferred_username": sub })
    }
}

/// authql with the provider in its issuers file (`extra` appended to the `[[issuer]]`).
async fn spawn(
    provider: &Provider,
    extra: &str,
    overrides: &[(&str, &str)],
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuers.toml");
    std::fs::write(
        &file,
        format!(
            "[[issuer]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n{extra}\n",
            provider.issuer
        ),
    )
    .unwrap();
    let path = file.display().to_string();
    let mut all = vec![("external-issuers-file", path.as_str())];
    all.extend_from_slice(overrides);
    let (database_url, db) = fresh_database().await;
    let extras = Extras {
        outside_timing: Some(authql::auth::outside::Timing {
            retry_every: Duration::from_millis(200),
            refetch_every: Duration::from_secs(30),
        }),
        ..Extras::default()
    };
    (
        TestApp::spawn_extra(database_url, db, &all, extras).await,
        dir,
    )
}

const ME: &str = "{ me { id username role email } }";

#[tokio::test]
async fn an_outside_token_is_a_linked_user_under_the_same_guards() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    let (app, _dir) = spawn(&provider, "email_claim = \"email\"", &[]).await;
    let mut claims = provider.claims("auth0|5f1 Ann");
    claims["preferred_username"] = json!("Ann Smith (Acme)");
    claims["email"] = json!("ann@example.com");
    claims["email_verified"] = json!(true);
    // Keycloak's `sid` and no `jti` (Entra): not authql's rules.
    claims["sid"] = json!("keycloak-session");
    let token = rsa.sign(&claims);
    let body = within_keys(&app, &token, ME).await;
    let me = &body["data"]["me"];
    assert_eq!(me["username"], "Ann_Smith__Acme_", "{body}");
    assert_eq!(me["role"], "USER");
    assert_eq!(me["email"], "ann@example.com");
    // The same user on every request; its items are its own.
    let again = app.gql_as(&token, ME, json!({})).await;
    assert_eq!(again["data"]["me"]["id"], me["id"]);
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let body = app
        .gql_as(
            &token,
            "mutation($s: ID!) { createItem(input: { storeId: $s, name: \"Lamp\", price: \"5.00\" }) { owner { id } } }",
            json!({ "s": store }),
        )
        .await;
    assert_eq!(
        body["data"]["createItem"]["owner"]["id"], me["id"],
        "{body}"
    );
    // No sessions; the first sight is audited with the issuer.
    let sessions = app.gql_as(&token, "{ mySessions { id } }", json!({})).await;
    assert_eq!(sessions["data"]["mySessions"], json!([]));
    let events = app
        .gql_as(
            &admin.access,
            "query($u: ID) { auditEvents(userId: $u) { nodes { kind issuer } } }",
            json!({ "u": me["id"] }),
        )
        .await;
    assert_eq!(
        events["data"]["auditEvents"]["nodes"],
        json!([{ "kind": "SIGNUP", "issuer": provider.issuer }])
    );
    // Over a WebSocket too.
    let mut socket = open(&app, Some(&token)).await;
    start(&mut socket, "1", "{ me { id } }", json!({})).await;
    let results = results(&mut socket, &["1".to_owned()]).await;
    assert_eq!(
        results["1"]["data"]["me"]["id"], me["id"],
        "{:?}",
        results["1"]
    );
    // authql's own tokens work beside them.
    let bob = app.signup("bob").await;
    assert!(
        app.gql_as(&bob.access, ME, json!({}))
            .await
            .get("errors")
            .is_none()
    );
}

/// Asks `query` with `token` until the provider's keys are in (fetched in the background
/// at start), then answers the body.
async fn within_keys(app: &TestApp, token: &str, query: &str) -> Value {
    let mut body = Value::Null;
    for _ in 0..50 {
        body = app.gql_as(token, query, json!({})).await;
        if body["errors"][0]["extensions"]["code"] != "AUTH_UNAVAILABLE" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the provider's keys never arrived: {body}");
}

#[tokio::test]
async fn roles_come_from_the_token_on_every_request() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    let (app, _dir) = spawn(&provider, "role_claim = \"realm_access.roles\"", &[]).await;
    let mut claims = provider.claims("carol");
    claims["realm_access"] = json!({ "roles": ["offline_access", "admin"] });
    let admin = rsa.sign(&claims);
    let body = within_keys(&app, &admin, "{ users { totalCount } }").await;
    assert_eq!(body["data"]["users"]["totalCount"], 1, "{body}");
    // Demoted at the provider: the next token says so.
    claims["realm_access"] = json!({ "roles": ["offline_access"] });
    let user = rsa.sign(&claims);
    assert_code(
        &app.gql_as(&user, "{ users { totalCount } }", json!({}))
            .await,
        "FORBIDDEN",
    );
    // setUserRole on such a user is refused: the provider decides.
    let root = app.admin("root").await;
    let id = app.gql_as(&user, ME, json!({})).await["data"]["me"]["id"].clone();
    let body = app
        .gql_as(
            &root.access,
            "mutation($u: ID!) { setUserRole(userId: $u, role: ADMIN) { id } }",
            json!({ "u": id }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");

    // Auth0's namespaced claim: an array of literal keys.
    let (app, _dir) = spawn(
        &provider,
        "role_claim = [\"https://example.com/roles\"]\nadmin_values = [\"shop-admin\"]",
        &[],
    )
    .await;
    let mut claims = provider.claims("dave");
    claims["https://example.com/roles"] = json!(["shop-admin"]);
    let body = within_keys(&app, &rsa.sign(&claims), "{ me { role } }").await;
    assert_eq!(body["data"]["me"]["role"], "ADMIN", "{body}");
}

#[tokio::test]
async fn a_new_kid_is_fetched_at_once_and_made_up_kids_cost_one_fetch() {
    let old = ProviderKey::new(Algorithm::RS256, "rs256", "old");
    let provider = Provider::start(&[&old]).await;
    let (app, _dir) = spawn(&provider, "", &[("metrics-addr", "127.0.0.1:0")]).await;
    within_keys(&app, &old.sign(&provider.claims("erin")), ME).await;
    // The provider rotates: the new key is accepted before the next poll.
    let new = ProviderKey::new(Algorithm::ES256, "es256", "new");
    provider.jwks.lock().unwrap().push(new.jwk.clone());
    let body = app
        .gql_as(&new.sign(&provider.claims("erin")), ME, json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    // 200 tokens with made-up kids: at most one more fetch in 30 s.
    let before = provider.fetches();
    let tokens: Vec<String> = (0..200)
        .map(|n| old.sign_as(&provider.claims("erin"), Some(&format!("made-up-{n}"))))
        .collect();
    let answers =
        futures_util::future::join_all(tokens.iter().map(|t| app.gql_as(t, ME, json!({})))).await;
    for body in &answers {
        assert_code(body, "INVALID_TOKEN");
    }
    assert!(
        provider.fetches() - before <= 1,
        "{} fetches",
        provider.fetches() - before
    );
    // The old key works until it leaves the set.
    assert!(
        app.gql_as(&old.sign(&provider.claims("erin")), ME, json!({}))
            .await
            .get("errors")
            .is_none()
    );
    let text = crate::metrics::scrape(&app).await;
    let issuer = &provider.issuer;
    assert!(
        crate::metrics::value(
            &text,
            &format!("authql_jwks_fetches_total{{issuer=\"{issuer}\",outcome=\"ok\"}}")
        ) >= 2.0,
        "{text}"
    );
    assert!(
        crate::metrics::value(
            &text,
            &format!("authql_jwks_age_seconds{{issuer=\"{issuer}\"}}")
        ) >= 0.0
    );
}

#[tokio::test]
async fn a_provider_down_at_start_is_auth_unavailable_until_it_comes_up() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    provider.down.store(true, Ordering::SeqCst);
    let (app, _dir) = spawn(&provider, "", &[]).await;
    let token = rsa.sign(&provider.claims("fay"));
    let body = app.gql_as(&token, ME, json!({})).await;
    assert_code(&body, "AUTH_UNAVAILABLE");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Public fields still answer.
    assert!(
        app.gql("{ stores { totalCount } }", json!({}))
            .await
            .get("errors")
            .is_none()
    );
    // Over a WebSocket, `connection_init` is refused with 4403 and that code.
    let mut socket = connect(&app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(
        next(&mut socket).await.unwrap_err(),
        (4403, "AUTH_UNAVAILABLE".to_owned())
    );
    // Up again: no restart needed.
    provider.down.store(false, Ordering::SeqCst);
    within_keys(&app, &token, ME).await;
    // Down later: the last good set keeps working.
    provider.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = app.gql_as(&token, ME, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn outside_tokens_are_verified_with_their_issuers_keys_only() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    let (app, _dir) = spawn(&provider, "", &[]).await;
    within_keys(&app, &rsa.sign(&provider.claims("gus")), ME).await;
    let mut wrong_aud = provider.claims("gus");
    wrong_aud["aud"] = json!("another-api");
    let mut no_exp = provider.claims("gus");
    no_exp.as_object_mut().unwrap().remove("exp");
    // An HS256 token naming the issuer, signed with authql's own secret.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &provider.claims("gus"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    // `alg: none`.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(provider.claims("gus").to_string())
    );
    // The provider's key on a token that does not name it: authql's rules, and its key.
    let mut own_shape = provider.claims("1");
    own_shape.as_object_mut().unwrap().remove("iss");
    own_shape["type"] = json!("access");
    own_shape["jti"] = json!("x");
    let other = ProviderKey::new(Algorithm::RS256, "rs256-other", "rsa-1");
    for (what, token) in [
        ("wrong aud", rsa.sign(&wrong_aud)),
        ("no exp", rsa.sign(&no_exp)),
        ("HS256 with authql's secret", hs),
        ("alg none", none),
        ("no iss", rsa.sign(&own_shape)),
        ("another key, same kid", other.sign(&provider.claims("gus"))),
    ] {
        let body = app.gql_as(&token, ME, json!({})).await;
        assert_code(&body, "INVALID_TOKEN");
        assert!(body["data"].is_null(), "{what}: {body}");
    }
    let mut expired = provider.claims("gus");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    assert_code(
        &app.gql_as(&rsa.sign(&expired), ME, json!({})).await,
        "TOKEN_EXPIRED",
    );
    // Every key type of the contract.
    let ec = ProviderKey::new(Algorithm::ES256, "es256", "ec-1");
    let ed = ProviderKey::new(Algorithm::EdDSA, "eddsa", "ed-1");
    provider
        .jwks
        .lock()
        .unwrap()
        .extend([ec.jwk.clone(), ed.jwk.clone()]);
    for key in [&ec, &ed] {
        let body = app
            .gql_as(&key.sign(&provider.claims("gus")), ME, json!({}))
            .await;
        assert!(body.get("errors").is_none(), "{:?}: {body}", key.alg);
    }
}

#[tokio::test]
async fn concurrent_first_requests_of_one_subject_make_one_user() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    let (app, _dir) = spawn(&provider, "", &[]).await;
    within_keys(&app, &rsa.sign(&provider.claims("warmup")), ME).await;
    let token = rsa.sign(&provider.claims("hal"));
    let answers =
        futures_util::future::join_all((0..10).map(|_| app.gql_as(&token, ME, json!({})))).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|b| {
            b["data"]["me"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{b}"))
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(count_rows(&app.database_url, "users").await, 2);
    // A username taken by a local account gets a suffix.
    app.signup("ivy").await;
    let body = app
        .gql_as(&rsa.sign(&provider.claims("ivy")), ME, json!({}))
        .await;
    assert_eq!(body["data"]["me"]["username"], "ivy-2", "{body}");
}

#[tokio::test]
async fn a_linked_user_has_no_local_credentials_and_no_sessions() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    let (app, _dir) = spawn(&provider, "", &[]).await;
    let mut claims = provider.claims("jan");
    claims["auth_time"] = json!(chrono::Utc::now().timestamp());
    let token = rsa.sign(&claims);
    within_keys(&app, &token, ME).await;
    for mutation in [
        "mutation { changePassword(input: { currentPassword: \"x\", newPassword: \"a good new password\" }) { accessToken } }",
        "mutation { changeEmail(newEmail: \"jan@example.com\") }",
        "mutation { requestEmailVerification }",
        "mutation { enrollTotp { uri } }",
        "mutation { verifyMfa(code: \"123456\") { accessToken } }",
    ] {
        let body = app.gql_as(&token, mutation, json!({})).await;
        assert_code(&body, "FEATURE_DISABLED");
    }
    // No password: a login with the username is refused like a wrong password.
    assert_code(&app.login("jan", PASSWORD).await, "INVALID_CREDENTIALS");
    // No session: refresh refuses it; logout revokes this token only, CURRENT only.
    assert_code(
        &app.gql(REFRESH, json!({ "t": token })).await,
        "INVALID_TOKEN",
    );
    assert_code(
        &app.gql_as(&token, "mutation { logout(scope: ALL) }", json!({}))
            .await,
        "BAD_USER_INPUT",
    );
    let body = app.gql_as(&token, "mutation { logout }", json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_code(&app.gql_as(&token, ME, json!({})).await, "TOKEN_REVOKED");
    // Another token of the same subject still works; deleting the user blocks the subject.
    let mut claims = provider.claims("jan");
    claims["auth_time"] = json!(chrono::Utc::now().timestamp());
    claims["jti"] = json!("second");
    let second = rsa.sign(&claims);
    let id = app.gql_as(&second, ME, json!({})).await["data"]["me"]["id"].clone();
    let body = app
        .gql_as(
            &second,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["deleteUser"], id, "{body}");
    claims["jti"] = json!("third");
    assert_code(
        &app.gql_as(&rsa.sign(&claims), ME, json!({})).await,
        "INVALID_TOKEN",
    );
    assert_eq!(count_rows(&app.database_url, "users").await, 0);
}

#[tokio::test]
async fn the_level_comes_from_amr_or_acr() {
    let rsa = ProviderKey::new(Algorithm::RS256, "rs256", "rsa-1");
    let provider = Provider::start(&[&rsa]).await;
    let (app, _dir) = spawn(
        &provider,
        "role_claim = \"roles\"\naal2_acr_values = [\"phr\"]",
        &[("mfa-required-for-admins", "true")],
    )
    .await;
    let admin = |amr: Value, acr: Option<&str>| {
        let mut claims = provider.claims("kim");
        claims["roles"] = json!(["admin"]);
        claims["amr"] = amr;
        if let Some(acr) = acr {
            claims["acr"] = json!(acr);
        }
        rsa.sign(&claims)
    };
    let body = within_keys(
        &app,
        &admin(json!(["pwd"]), None),
        "{ users { totalCount } }",
    )
    .await;
    assert_code(&body, "MFA_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!([]));
    for token in [
        admin(json!(["pwd", "otp"]), None),
        admin(json!(["mfa"]), None),
        admin(json!(["pwd"]), Some("phr")),
    ] {
        let body = app
            .gql_as(&token, "{ users { totalCount } }", json!({}))
            .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

#[tokio::test]
async fn a_bad_issuers_file_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuers.toml");
    std::fs::write(
        &file,
        "[[issuer]]\nissuer = \"https://idp.example\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let output = authql_command()
        .args([
            "serve",
            "--database-url",
            "sqlite::memory:",
            "--external-issuers-file",
            &path,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("EXTERNAL_ISSUERS_FILE"), "{stderr}");
    assert!(stderr.contains("HS256"), "{stderr}");
}

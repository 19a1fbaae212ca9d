//! API.md "Second factor (TOTP) and assurance levels": enrolment, single-use codes,
//! recovery codes, partial logins, assurance levels as guards, over HTTP and WebSocket.
//! Codes are computed with `totp-lite` (not the server's `totp-rs`), against a clock the
//! test sets (no 30 s sleeps).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use serde_json::{Value, json};

use crate::helpers::*;

/// The middle of a TOTP step: a code of this step stays one whatever the test does.
const T0: u64 = 1_800_000_015;
const STEP: u64 = 30;

/// A server whose TOTP clock reads what the test sets (starting at `T0`).
struct MfaApp {
    app: TestApp,
    clock: Arc<AtomicU64>,
}

impl MfaApp {
    async fn spawn(overrides: &[(&str, &str)]) -> Self {
        let (database_url, db) = fresh_database().await;
        Self::spawn_on(database_url, db, overrides).await
    }

    async fn spawn_on(database_url: String, db: TestDatabase, overrides: &[(&str, &str)]) -> Self {
        let clock = Arc::new(AtomicU64::new(T0));
        let extras = Extras {
            totp_clock: Some(clock.clone()),
            ..Extras::default()
        };
        let app = TestApp::spawn_extra(database_url, db, overrides, extras).await;
        Self { app, clock }
    }

    fn at(&self, time: u64) {
        self.clock.store(time, Ordering::Release);
    }
}

impl std::ops::Deref for MfaApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The code an authenticator app shows at `time` for the base32 `secret`.
fn code_at(secret: &str, time: u64) -> String {
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("a base32 secret");
    totp_lite::totp_custom::<totp_lite::Sha1>(STEP, 6, &bytes, time)
}

const ENROLL: &str = "mutation { enrollTotp { secret uri qrSvg } }";
const CONFIRM: &str = "mutation($c: String!) { confirmTotp(code: $c) { recoveryCodes tokens { accessToken refreshToken mfaRequired user { id mfaEnabled } } } }";
const VERIFY: &str = "mutation($c: String!) { verifyMfa(code: $c) { accessToken refreshToken mfaRequired user { id } } }";
const LOGIN_MFA: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken mfaRequired user { id username role createdAt mfaEnabled } } }";

/// A user with an active factor: their level-2 session (from `confirmTotp`), the secret,
/// and the recovery codes. The code of `T0` is used.
struct Enrolled {
    session: Session,
    secret: String,
    codes: Vec<String>,
}

async fn enroll(app: &MfaApp, session: &Session) -> String {
    let body = app.gql_as(&session.access, ENROLL, json!({})).await;
    body["data"]["enrollTotp"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("enrollTotp: {body}"))
        .to_owned()
}

async fn enrolled(app: &MfaApp, username: &str) -> Enrolled {
    let session = app.signup(username).await;
    enrolled_from(app, session).await
}

async fn enrolled_from(app: &MfaApp, session: Session) -> Enrolled {
    let secret = enroll(app, &session).await;
    let body = app
        .gql_as(
            &session.access,
            CONFIRM,
            json!({ "c": code_at(&secret, T0) }),
        )
        .await;
    let activation = &body["data"]["confirmTotp"];
    let session = Session::from_payload(&activation["tokens"])
        .unwrap_or_else(|| panic!("confirmTotp: {body}"));
    let codes = activation["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        session,
        secret,
        codes,
    }
}

/// A password login of a user with a factor: a partial one.
async fn partial_login(app: &TestApp, username: &str) -> Session {
    let body = app
        .gql(
            LOGIN_MFA,
            json!({ "input": { "username": username, "password": PASSWORD } }),
        )
        .await;
    assert_eq!(body["data"]["login"]["mfaRequired"], true, "{body}");
    // The answer shows the user what a partial login may read of itself, with no error.
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["login"]["user"]["mfaEnabled"], true, "{body}");
    Session::from_payload(&body["data"]["login"]).unwrap()
}

async fn verify(app: &TestApp, token: &str, code: &str) -> Value {
    app.gql_as(token, VERIFY, json!({ "c": code })).await
}

#[tokio::test]
async fn enrolment_shows_a_secret_once_and_confirmation_raises_the_session() {
    let app = MfaApp::spawn(&[("mfa-issuer", "Acme Shop")]).await;
    let alice = app.signup("alice").await;
    let body = app.gql_as(&alice.access, ENROLL, json!({})).await;
    let enrollment = &body["data"]["enrollTotp"];
    let secret = enrollment["secret"].as_str().unwrap();
    // 160 bits: 32 base32 characters.
    assert_eq!(secret.len(), 32, "{body}");
    let uri = enrollment["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Shop:alice?"),
        "{uri}"
    );
    for part in [
        &format!("secret={secret}"),
        "issuer=Acme%20Shop",
        "algorithm=SHA1",
        "digits=6",
        "period=30",
    ] {
        assert!(uri.contains(part), "{uri} lacks {part}");
    }
    assert!(enrollment["qrSvg"].as_str().unwrap().contains("<svg"));
    // Pending: nothing changed yet.
    let me = app
        .gql_as(
            &alice.access,
            "{ me { mfaEnabled recoveryCodesLeft } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["data"]["me"],
        json!({ "mfaEnabled": false, "recoveryCodesLeft": null })
    );
    // A wrong code does not confirm.
    let wrong = app
        .gql_as(
            &alice.access,
            CONFIRM,
            json!({ "c": code_at(secret, T0 + 5 * STEP) }),
        )
        .await;
    assert_code(&wrong, "VERIFICATION_FAILED");

    let body = app
        .gql_as(&alice.access, CONFIRM, json!({ "c": code_at(secret, T0) }))
        .await;
    let activation = &body["data"]["confirmTotp"];
    let codes = activation["recoveryCodes"].as_array().unwrap();
    assert_eq!(codes.len(), 10, "{body}");
    for code in codes {
        let code = code.as_str().unwrap();
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(&code[5..6], "-");
    }
    assert_eq!(activation["tokens"]["mfaRequired"], false);
    assert_eq!(activation["tokens"]["user"]["mfaEnabled"], true);
    let access = activation["tokens"]["accessToken"].as_str().unwrap();
    let claims = claims(access);
    assert_eq!(claims["aal"], 2);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["fresh"], true);
    assert_eq!(claims["sid"], crate::helpers::claims(&alice.access)["sid"]);
    let me = app
        .gql_as(
            access,
            "{ me { mfaEnabled recoveryCodesLeft } mySessions { current aal } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["data"],
        json!({ "me": { "mfaEnabled": true, "recoveryCodesLeft": 10 },
                "mySessions": [{ "current": true, "aal": 2 }] })
    );
    // One factor per user.
    let again = app.gql_as(access, ENROLL, json!({})).await;
    assert_code(&again, "BAD_USER_INPUT");
    assert_eq!(again["errors"][0]["extensions"]["field"], "enrollTotp");
    // The secret is never shown again.
    let text = app
        .gql_as(access, "{ me { id } }", json!({}))
        .await
        .to_string();
    assert!(!text.contains(secret));
}

#[tokio::test]
async fn a_login_with_a_factor_is_partial_until_verify_mfa() {
    let app = MfaApp::spawn(&[]).await;
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    assert_eq!(claims(&partial.access)["aal"], 1);
    assert_eq!(claims(&partial.access)["amr"], json!(["pwd"]));
    // Its refresh token lives MFA_CHALLENGE_EXPIRES (5 minutes by default).
    let refresh = claims(&partial.refresh);
    let lifetime = refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap();
    assert!((299..=300).contains(&lifetime), "{lifetime}");
    // What a partial login may read of itself.
    let me = app
        .gql_as(
            &partial.access,
            "{ me { id username role createdAt mfaEnabled } }",
            json!({}),
        )
        .await;
    assert!(me.get("errors").is_none(), "{me}");
    assert_eq!(me["data"]["me"]["mfaEnabled"], true);
    let refused = app
        .gql_as(&partial.access, "{ me { email } }", json!({}))
        .await;
    assert_code(&refused, "MFA_REQUIRED");
    assert_eq!(
        refused["errors"][0]["extensions"]["methods"],
        json!(["TOTP", "RECOVERY_CODE"])
    );
    assert!(refused["errors"][0]["extensions"].get("enroll").is_none());
    // A refresh stays partial, and does not extend the challenge.
    let body = app
        .gql(
            "mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken mfaRequired } }",
            json!({ "t": partial.refresh }),
        )
        .await;
    assert_eq!(body["data"]["refresh"]["mfaRequired"], true, "{body}");
    let refreshed = body["data"]["refresh"]["refreshToken"].as_str().unwrap();
    assert_eq!(claims(refreshed)["exp"], refresh["exp"]);
    let partial_access = body["data"]["refresh"]["accessToken"].as_str().unwrap();
    assert_code(
        &app.gql_as(partial_access, "{ mySessions { id } }", json!({}))
            .await,
        "MFA_REQUIRED",
    );

    // The next step's code raises the session.
    let body = verify(&app, partial_access, &code_at(&alice.secret, T0 + STEP)).await;
    let raised = &body["data"]["verifyMfa"];
    assert_eq!(raised["mfaRequired"], false, "{body}");
    let access = raised["accessToken"].as_str().unwrap();
    assert_eq!(claims(access)["aal"], 2);
    assert_eq!(claims(access)["fresh"], true);
    assert_eq!(claims(access)["sid"], claims(partial_access)["sid"]);
    let sessions = app
        .gql_as(access, "{ mySessions { current aal } }", json!({}))
        .await;
    assert_eq!(
        sessions["data"]["mySessions"],
        json!([{ "current": true, "aal": 2 }, { "current": false, "aal": 2 }])
    );
    // Tokens issued before the raise stay level 1.
    assert_code(
        &app.gql_as(partial_access, "{ mySessions { id } }", json!({}))
            .await,
        "MFA_REQUIRED",
    );
    // The raised session's refresh keeps level 2, not fresh.
    let body = app
        .gql(REFRESH, json!({ "t": raised["refreshToken"] }))
        .await;
    let next = body["data"]["refresh"]["accessToken"].as_str().unwrap();
    assert_eq!(claims(next)["aal"], 2);
    assert_eq!(claims(next)["fresh"], false);
    // The partial refresh token that was rotated by verifyMfa is not a second way in.
    let reused = app.gql(REFRESH, json!({ "t": refreshed })).await;
    assert_code(&reused, "TOKEN_REVOKED");
    drop(alice);
}

#[tokio::test]
async fn a_code_is_accepted_once_and_only_within_one_step() {
    let app = MfaApp::spawn(&[]).await;
    // confirmTotp used the code of T0.
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    // Replayed in the same step, or a code of an earlier step: refused.
    for time in [T0, T0 - STEP] {
        let body = verify(&app, &partial.access, &code_at(&alice.secret, time)).await;
        assert_code(&body, "VERIFICATION_FAILED");
    }
    // Two steps away from the server's clock: refused; one: accepted.
    app.at(T0 + 20 * STEP);
    for time in [T0 + 18 * STEP, T0 + 22 * STEP] {
        let body = verify(&app, &partial.access, &code_at(&alice.secret, time)).await;
        assert_code(&body, "VERIFICATION_FAILED");
    }
    let body = verify(
        &app,
        &partial.access,
        &code_at(&alice.secret, T0 + 19 * STEP),
    )
    .await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    // Once accepted, that code (and the current step's, which is no later) is spent…
    let second = partial_login(&app, "alice").await;
    let body = verify(
        &app,
        &second.access,
        &code_at(&alice.secret, T0 + 19 * STEP),
    )
    .await;
    assert_code(&body, "VERIFICATION_FAILED");
    // …but the next one works; inner spaces are ignored.
    let code = code_at(&alice.secret, T0 + 20 * STEP);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let body = verify(&app, &second.access, &spaced).await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    // The same message for a wrong, a replayed and a used code.
    let third = partial_login(&app, "alice").await;
    let replayed = verify(&app, &third.access, &code).await;
    let wrong = verify(&app, &third.access, "000000").await;
    assert_eq!(message(&replayed), message(&wrong));
}

#[tokio::test]
async fn concurrent_verifications_with_one_code_let_exactly_one_through() {
    let app = MfaApp::spawn(&[("login-max-failures", "50")]).await;
    let alice = enrolled(&app, "alice").await;
    let mut partials = Vec::new();
    for _ in 0..8 {
        partials.push(partial_login(&app, "alice").await);
    }
    let code = code_at(&alice.secret, T0 + STEP);
    let answers = futures_util::future::join_all(
        partials
            .iter()
            .map(|partial| verify(&app, &partial.access, &code)),
    )
    .await;
    let passed = answers
        .iter()
        .filter(|body| body["data"]["verifyMfa"]["accessToken"].is_string())
        .count();
    assert_eq!(passed, 1, "{answers:?}");
    for body in answers.iter().filter(|b| b.get("errors").is_some()) {
        assert_code(body, "VERIFICATION_FAILED");
    }
    // One recovery code, presented at once on several sessions: one use.
    let recovery = alice.codes[0].clone();
    let mut partials = Vec::new();
    for _ in 0..6 {
        partials.push(partial_login(&app, "alice").await);
    }
    let answers = futures_util::future::join_all(
        partials
            .iter()
            .map(|partial| verify(&app, &partial.access, &recovery)),
    )
    .await;
    let passed = answers
        .iter()
        .filter(|body| body["data"]["verifyMfa"]["accessToken"].is_string())
        .count();
    assert_eq!(passed, 1, "{answers:?}");
}

#[tokio::test]
async fn recovery_codes_work_once_each_ignoring_case_and_hyphens() {
    let app = MfaApp::spawn(&[]).await;
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    let shown = &alice.codes[3];
    let typed = shown.replace('-', " ").to_uppercase();
    let body = verify(&app, &partial.access, &typed).await;
    let access = body["data"]["verifyMfa"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(claims(access)["aal"], 2);
    assert_eq!(claims(access)["amr"], json!(["pwd", "mfa"]));
    let left = app
        .gql_as(access, "{ me { recoveryCodesLeft } }", json!({}))
        .await;
    assert_eq!(left["data"]["me"]["recoveryCodesLeft"], 9);
    let again = partial_login(&app, "alice").await;
    assert_code(
        &verify(&app, &again.access, shown).await,
        "VERIFICATION_FAILED",
    );
    // Another code still works.
    let body = verify(&app, &again.access, &alice.codes[4]).await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    // The codes are stored as keyed hashes only.
    let stored = count_rows(&app.database_url, "recovery_codes").await;
    assert_eq!(stored, 10);
    // New codes replace the old ones (fresh, level 2).
    let body = app
        .gql_as(
            &alice.session.access,
            "mutation { regenerateRecoveryCodes }",
            json!({}),
        )
        .await;
    let fresh_codes = body["data"]["regenerateRecoveryCodes"].as_array().unwrap();
    assert_eq!(fresh_codes.len(), 10);
    let third = partial_login(&app, "alice").await;
    assert_code(
        &verify(&app, &third.access, &alice.codes[5]).await,
        "VERIFICATION_FAILED",
    );
    let body = verify(&app, &third.access, fresh_codes[0].as_str().unwrap()).await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_codes_are_limited_then_lock_the_factor_until_an_admin_resets_it() {
    let app = MfaApp::spawn(&[("login-max-failures", "3"), ("metrics-addr", "127.0.0.1:0")]).await;
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    for _ in 0..3 {
        assert_code(
            &verify(&app, &partial.access, "000000").await,
            "VERIFICATION_FAILED",
        );
    }
    // Counted before the check: even the right code is refused now.
    let limited = verify(&app, &partial.access, &code_at(&alice.secret, T0 + STEP)).await;
    assert_code(&limited, "RATE_LIMITED");
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            > 0
    );
    let text = crate::metrics::scrape(&app).await;
    assert_eq!(
        crate::metrics::value(&text, "authql_mfa_verifications_total{outcome=\"failure\"}"),
        3.0
    );
    assert_eq!(
        crate::metrics::value(
            &text,
            "authql_mfa_verifications_total{outcome=\"rate_limited\"}"
        ),
        1.0
    );

    // MFA_MAX_FAILURES consecutive failures lock the factor.
    let app = MfaApp::spawn(&[("login-max-failures", "100"), ("mfa-max-failures", "3")]).await;
    let bob = enrolled(&app, "bob").await;
    let partial = partial_login(&app, "bob").await;
    for _ in 0..3 {
        assert_code(
            &verify(&app, &partial.access, "123456").await,
            "VERIFICATION_FAILED",
        );
    }
    for code in [code_at(&bob.secret, T0 + STEP), bob.codes[0].clone()] {
        assert_code(&verify(&app, &partial.access, &code).await, "RATE_LIMITED");
    }
    // The support path: an admin resets the factor (fresh token, and an admin without a
    // factor needs none); the password alone signs in again.
    let admin = app.admin("root").await;
    let reset = app
        .gql_as(
            &admin.access,
            "mutation($u: ID!) { resetMfa(userId: $u) }",
            json!({ "u": bob.session.user_id }),
        )
        .await;
    assert_eq!(reset["data"]["resetMfa"], true, "{reset}");
    let body = app.login("bob", PASSWORD).await;
    let token = body["data"]["login"]["accessToken"].as_str().unwrap();
    let me = app
        .gql_as(token, "{ me { mfaEnabled } mySessions { aal } }", json!({}))
        .await;
    assert!(me.get("errors").is_none(), "{me}");
    assert_eq!(me["data"]["me"]["mfaEnabled"], false);
    // Audited: failures, the reset by the admin.
    let events = app
        .gql_as(
            &admin.access,
            "query($u: ID) { auditEvents(first: 50, userId: $u) { nodes { kind actorId } } }",
            json!({ "u": bob.session.user_id }),
        )
        .await;
    let kinds: Vec<&str> = events["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "MFA_FAILED").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"MFA_ENROLLED"), "{kinds:?}");
    let disabled = events["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "MFA_DISABLED")
        .expect("the reset is audited");
    assert_eq!(disabled["actorId"], admin.user_id.as_str());
}

/// Every guarded field of the schema (read from introspection, so a new one cannot slip
/// through) refuses a partial login with `MFA_REQUIRED` — but `me`, `verifyMfa` and the
/// user's own `mfaEnabled`.
#[tokio::test]
async fn a_partial_login_opens_nothing_but_what_it_may() {
    let app = MfaApp::spawn(&[]).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let item = app.item(&admin, &store, "Lamp", "10.00").await;
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    let me = &alice.session.user_id;

    let schema = app
        .gql(
            "{ __schema { types { name fields { name description } } } }",
            json!({}),
        )
        .await;
    let mut guarded = Vec::new();
    for ty in schema["data"]["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        for field in ty["fields"].as_array().into_iter().flatten() {
            if field["description"]
                .as_str()
                .is_some_and(|d| d.contains("Requires:"))
            {
                guarded.push(format!("{name}.{}", field["name"].as_str().unwrap()));
            }
        }
    }
    // What each guarded field is called with; the ones a partial login may use are
    // checked to work.
    let allowed = ["Query.me", "Mutation.verifyMfa", "User.mfaEnabled"];
    let calls: Vec<(&str, String)> = vec![
        ("Query.me", "{ me { id } }".into()),
        ("Query.user", format!("{{ user(id: \"{me}\") {{ id }} }}")),
        ("Query.users", "{ users { totalCount } }".into()),
        ("Query.mySessions", "{ mySessions { id } }".into()),
        ("Query.auditEvents", "{ auditEvents { totalCount } }".into()),
        (
            "Mutation.revokeSession",
            "mutation { revokeSession(id: \"x\") }".into(),
        ),
        (
            "Mutation.changePassword",
            format!(
                "mutation {{ changePassword(input: {{ currentPassword: \"{PASSWORD}\", newPassword: \"another good password\" }}) {{ accessToken }} }}"
            ),
        ),
        (
            "Mutation.setUserRole",
            format!("mutation {{ setUserRole(userId: \"{me}\", role: ADMIN) {{ id }} }}"),
        ),
        (
            "Mutation.deleteUser",
            format!("mutation {{ deleteUser(id: \"{me}\") }}"),
        ),
        (
            "Mutation.requestEmailVerification",
            "mutation { requestEmailVerification }".into(),
        ),
        (
            "Mutation.changeEmail",
            "mutation { changeEmail(newEmail: \"a@example.com\") }".into(),
        ),
        (
            "Mutation.createStore",
            "mutation { createStore(input: { name: \"X\" }) { id } }".into(),
        ),
        (
            "Mutation.deleteStore",
            format!("mutation {{ deleteStore(id: \"{store}\") }}"),
        ),
        (
            "Mutation.createItem",
            format!(
                "mutation {{ createItem(input: {{ storeId: \"{store}\", name: \"Y\", price: \"1.00\" }}) {{ id }} }}"
            ),
        ),
        (
            "Mutation.updateItem",
            format!("mutation {{ updateItem(id: \"{item}\", input: {{ name: \"Z\" }}) {{ id }} }}"),
        ),
        (
            "Mutation.deleteItem",
            format!("mutation {{ deleteItem(id: \"{item}\") }}"),
        ),
        (
            "Mutation.enrollTotp",
            "mutation { enrollTotp { uri } }".into(),
        ),
        (
            "Mutation.confirmTotp",
            "mutation { confirmTotp(code: \"123456\") { recoveryCodes } }".into(),
        ),
        ("Mutation.verifyMfa", String::new()),
        (
            "Mutation.disableTotp",
            "mutation { disableTotp(code: \"123456\") }".into(),
        ),
        (
            "Mutation.regenerateRecoveryCodes",
            "mutation { regenerateRecoveryCodes }".into(),
        ),
        (
            "Mutation.resetMfa",
            format!("mutation {{ resetMfa(userId: \"{me}\") }}"),
        ),
        (
            "Item.owner",
            format!("{{ item(id: \"{item}\") {{ owner {{ id }} }} }}"),
        ),
        ("User.email", "{ me { email } }".into()),
        ("User.emailVerified", "{ me { emailVerified } }".into()),
        ("User.mfaEnabled", "{ me { mfaEnabled } }".into()),
        (
            "User.recoveryCodesLeft",
            "{ me { recoveryCodesLeft } }".into(),
        ),
        ("Subscription.itemEvents", String::new()),
    ];
    let listed: Vec<&str> = calls.iter().map(|(field, _)| *field).collect();
    for field in &guarded {
        assert!(
            listed.contains(&field.as_str()),
            "{field} is guarded but not checked against a partial login: add it here"
        );
    }
    for (field, query) in &calls {
        if query.is_empty() {
            continue;
        }
        let body = app.gql_as(&partial.access, query, json!({})).await;
        if allowed.contains(field) {
            assert!(body.get("errors").is_none(), "{field}: {body}");
        } else {
            assert_eq!(code(&body), "MFA_REQUIRED", "{field}: {body}");
        }
    }
    // logout of the partial session itself works; of the others, not.
    let others = app
        .gql_as(
            &partial.access,
            "mutation { logout(scope: OTHERS) }",
            json!({}),
        )
        .await;
    assert_code(&others, "MFA_REQUIRED");
    // Subscriptions over a socket opened with a partial login.
    let mut socket = open(&app, Some(&partial.access)).await;
    start(
        &mut socket,
        "1",
        "subscription { itemEvents { kind } }",
        json!({}),
    )
    .await;
    start(&mut socket, "2", "{ mySessions { id } }", json!({})).await;
    let results = results(&mut socket, &["1".to_owned(), "2".to_owned()]).await;
    for id in ["1", "2"] {
        assert_eq!(
            code(&results[id]),
            "MFA_REQUIRED",
            "{id}: {:?}",
            results[id]
        );
    }
    let body = app
        .gql_as(&partial.access, "mutation { logout }", json!({}))
        .await;
    assert_eq!(body["data"]["logout"], true, "{body}");
}

#[tokio::test]
async fn admins_need_level_two_where_the_admin_branch_grants_access() {
    let app = MfaApp::spawn(&[("mfa-required-for-admins", "true")]).await;
    let admin = app.admin("root").await;
    let bob = app.signup("bob").await;
    // An admin without a factor: told to enrol.
    let body = app
        .gql_as(&admin.access, "{ users { totalCount } }", json!({}))
        .await;
    assert_code(&body, "MFA_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["enroll"], true);
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!(["TOTP"]));
    // "Self or ADMIN" used on someone else's data, the same; on the admin's own, not.
    let other = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": bob.user_id }),
        )
        .await;
    assert_code(&other, "MFA_REQUIRED");
    let own = app
        .gql_as(&admin.access, "{ me { email } }", json!({}))
        .await;
    assert!(own.get("errors").is_none(), "{own}");
    // A USER still meets FORBIDDEN: the role is checked before the admin level.
    let user = app
        .gql_as(&bob.access, "{ users { totalCount } }", json!({}))
        .await;
    assert_code(&user, "FORBIDDEN");
    // Enrolled and verified, the admin may.
    let root = enrolled_from(&app, admin).await;
    let body = app
        .gql_as(&root.session.access, "{ users { totalCount } }", json!({}))
        .await;
    assert_eq!(body["data"]["users"]["totalCount"], 2, "{body}");
    // A refreshed level-2 token keeps the level.
    let body = app.gql(REFRESH, json!({ "t": root.session.refresh })).await;
    let refreshed = body["data"]["refresh"]["accessToken"].as_str().unwrap();
    let body = app
        .gql_as(refreshed, "{ users { totalCount } }", json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn guards_report_the_first_failing_check_in_the_contract_order() {
    let app = MfaApp::spawn(&[]).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let item = app.item(&admin, &store, "Lamp", "10.00").await;
    let bob = app.signup("bob").await;
    // Not fresh and not the owner: ownership comes before freshness.
    let body = app.gql(REFRESH, json!({ "t": bob.refresh })).await;
    let stale = body["data"]["refresh"]["accessToken"].as_str().unwrap();
    let body = app
        .gql_as(
            stale,
            "mutation($id: ID!) { deleteItem(id: $id) }",
            json!({ "id": item }),
        )
        .await;
    assert_code(&body, "FORBIDDEN");
    // A partial login comes before the role.
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    let body = app
        .gql_as(&partial.access, "{ users { totalCount } }", json!({}))
        .await;
    assert_code(&body, "MFA_REQUIRED");
    // Level 2 but not fresh: disableTotp wants a fresh token.
    let body = app
        .gql(REFRESH, json!({ "t": alice.session.refresh }))
        .await;
    let stale = body["data"]["refresh"]["accessToken"].as_str().unwrap();
    let body = app
        .gql_as(
            stale,
            "mutation($c: String!) { disableTotp(code: $c) }",
            json!({ "c": code_at(&alice.secret, T0 + STEP) }),
        )
        .await;
    assert_code(&body, "FRESH_TOKEN_REQUIRED");
    // Without a factor, level 2 cannot be had: told to enrol.
    let body = app
        .gql_as(
            &bob.access,
            "mutation { regenerateRecoveryCodes }",
            json!({}),
        )
        .await;
    assert_code(&body, "MFA_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["enroll"], true);
}

#[tokio::test]
async fn a_password_change_keeps_the_level_and_no_password_lifts_the_factor() {
    let app = MfaApp::spawn(&[]).await;
    let alice = enrolled(&app, "alice").await;
    let body = app
        .gql_as(
            &alice.session.access,
            "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken mfaRequired } }",
            json!({ "i": { "currentPassword": PASSWORD, "newPassword": "another good password" } }),
        )
        .await;
    let access = body["data"]["changePassword"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(claims(access)["aal"], 2);
    assert_eq!(body["data"]["changePassword"]["mfaRequired"], false);
    // The new password alone is a partial login still.
    let login = app
        .gql(
            LOGIN_MFA,
            json!({ "input": { "username": "alice", "password": "another good password" } }),
        )
        .await;
    assert_eq!(login["data"]["login"]["mfaRequired"], true, "{login}");
}

#[tokio::test]
async fn disabling_needs_a_code_and_signs_in_with_the_password_alone_afterwards() {
    let app = MfaApp::spawn(&[]).await;
    let alice = enrolled(&app, "alice").await;
    let disable = "mutation($c: String!) { disableTotp(code: $c) }";
    let body = app
        .gql_as(&alice.session.access, disable, json!({ "c": "000000" }))
        .await;
    assert_code(&body, "VERIFICATION_FAILED");
    let body = app
        .gql_as(
            &alice.session.access,
            disable,
            json!({ "c": code_at(&alice.secret, T0 + STEP) }),
        )
        .await;
    assert_eq!(body["data"]["disableTotp"], true, "{body}");
    let body = app.login("alice", PASSWORD).await;
    assert_eq!(
        body["data"]["login"]["user"]["id"],
        alice.session.user_id.as_str()
    );
    let token = body["data"]["login"]["accessToken"].as_str().unwrap();
    let me = app
        .gql_as(
            token,
            "{ me { mfaEnabled recoveryCodesLeft } mySessions { id } }",
            json!({}),
        )
        .await;
    assert!(me.get("errors").is_none(), "{me}");
    assert_eq!(me["data"]["me"]["mfaEnabled"], false);
    // A user without a factor cannot verify one.
    assert_code(&verify(&app, token, "123456").await, "VERIFICATION_FAILED");
    assert_eq!(count_rows(&app.database_url, "recovery_codes").await, 0);
}

#[tokio::test]
async fn a_token_without_aal_is_level_one() {
    let app = MfaApp::spawn(&[]).await;
    let alice = enrolled(&app, "alice").await;
    let bob = app.signup("bob").await;
    let now = chrono::Utc::now().timestamp();
    let mint = |sub: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({ "fresh": false, "iat": now, "nbf": now, "exp": now + 900,
                     "jti": uuid::Uuid::new_v4().to_string(), "type": "access", "sub": sub }),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    // Minted elsewhere (Flask-JWT-Extended), for a user with a factor: a partial login.
    let token = mint(&alice.session.user_id);
    assert_code(
        &app.gql_as(&token, "{ me { email } }", json!({})).await,
        "MFA_REQUIRED",
    );
    assert!(
        app.gql_as(&token, "{ me { id } }", json!({}))
            .await
            .get("errors")
            .is_none()
    );
    // verifyMfa with it starts a session at level 2.
    let body = verify(&app, &token, &code_at(&alice.secret, T0 + STEP)).await;
    let access = body["data"]["verifyMfa"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(claims(access)["aal"], 2);
    assert!(claims(access)["sid"].is_string());
    // For a user without one: works as before.
    let token = mint(&bob.user_id);
    assert!(
        app.gql_as(&token, "{ me { email } }", json!({}))
            .await
            .get("errors")
            .is_none()
    );
    // An `aal` that is neither 1 nor 2 is refused.
    let mut claims_set = crate::helpers::claims(&bob.access);
    claims_set["aal"] = json!(3);
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims_set,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_code(&app.gql_as(&forged, ME, json!({})).await, "INVALID_TOKEN");
}

#[tokio::test]
async fn a_level_one_socket_cannot_run_a_level_two_operation() {
    let app = MfaApp::spawn(&[]).await;
    let bob = app.signup("bob").await;
    let mut socket = open(&app, Some(&bob.access)).await;
    start(
        &mut socket,
        "1",
        "mutation { regenerateRecoveryCodes }",
        json!({}),
    )
    .await;
    let results = results(&mut socket, &["1".to_owned()]).await;
    assert_eq!(code(&results["1"]), "MFA_REQUIRED", "{:?}", results["1"]);
    // A level-2 socket may.
    let alice = enrolled(&app, "alice").await;
    let mut socket = open(&app, Some(&alice.session.access)).await;
    start(
        &mut socket,
        "1",
        "mutation { regenerateRecoveryCodes }",
        json!({}),
    )
    .await;
    let results = crate::helpers::results(&mut socket, &["1".to_owned()]).await;
    assert_eq!(
        results["1"]["data"]["regenerateRecoveryCodes"]
            .as_array()
            .map(Vec::len),
        Some(10),
        "{:?}",
        results["1"]
    );
}

#[tokio::test]
async fn the_response_cache_never_answers_across_levels_or_factors() {
    let app = MfaApp::spawn(&[]).await;
    let alice = app.signup("alice").await;
    let query = "{ me { id mfaEnabled } }";
    let before = app.gql_as(&alice.access, query, json!({})).await;
    assert_eq!(before["data"]["me"]["mfaEnabled"], false);
    let enrolled = enrolled_from(&app, alice.clone()).await;
    // The same request with the same (now level-1, partial) token: not the kept answer.
    let after = app.gql_as(&alice.access, query, json!({})).await;
    assert_eq!(after["data"]["me"]["mfaEnabled"], true, "{after}");
    let raised = app.gql_as(&enrolled.session.access, query, json!({})).await;
    assert_eq!(raised["data"]["me"]["mfaEnabled"], true);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_sealed_again_when_a_key_appears_or_rotates() {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let (database_url, db) = fresh_database().await;
    let stored = |url: String| async move {
        use sea_orm::{ConnectionTrait, Statement};
        let conn = sea_orm::Database::connect(&url).await.unwrap();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT secret FROM totp_factors",
            ))
            .await
            .unwrap()
            .unwrap();
        let secret: String = row.try_get_by_index(0).unwrap();
        conn.close().await.ok();
        secret
    };
    // Development without a key: in clear.
    let app = MfaApp::spawn_on(database_url.clone(), TestDatabase::none(), &[]).await;
    let alice = enrolled(&app, "alice").await;
    assert!(stored(database_url.clone()).await.starts_with("plain:"));
    drop(app);
    // A key appears: sealed at start; codes still work.
    let first = STANDARD.encode([7u8; 32]);
    let app = MfaApp::spawn_on(
        database_url.clone(),
        TestDatabase::none(),
        &[("mfa-encryption-key", &first)],
    )
    .await;
    let sealed = stored(database_url.clone()).await;
    assert!(sealed.starts_with("v1:"), "{sealed}");
    assert!(!sealed.contains(&alice.secret));
    let partial = partial_login(&app, "alice").await;
    let body = verify(&app, &partial.access, &code_at(&alice.secret, T0 + STEP)).await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    drop(app);
    // Rotation: the old key opens, the new one seals.
    let second = STANDARD.encode([9u8; 32]);
    let app = MfaApp::spawn_on(
        database_url.clone(),
        TestDatabase::none(),
        &[
            ("mfa-encryption-key", &second),
            ("mfa-previous-encryption-keys", &first),
        ],
    )
    .await;
    let resealed = stored(database_url.clone()).await;
    assert_ne!(resealed, sealed);
    app.at(T0 + 2 * STEP);
    let partial = partial_login(&app, "alice").await;
    let body = verify(
        &app,
        &partial.access,
        &code_at(&alice.secret, T0 + 2 * STEP),
    )
    .await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    drop(app);
    // Production without the key while sealed factors exist: the start stops, naming it.
    let config = crate::helpers::config(
        &database_url,
        &[("app-env", "production"), ("jwt-cookie-secure", "true")],
    );
    let error = authql::startup::Application::build(config)
        .await
        .err()
        .expect("the start stops");
    assert_eq!(error.variable, "MFA_ENCRYPTION_KEY", "{}", error.reason);
    drop(db);
}

#[tokio::test]
async fn production_without_a_key_answers_feature_disabled() {
    let app = MfaApp::spawn(&[("app-env", "production")]).await;
    let alice = app.signup("alice").await;
    let body = app.gql_as(&alice.access, ENROLL, json!({})).await;
    assert_code(&body, "FEATURE_DISABLED");
}

#[tokio::test]
async fn the_cli_resets_a_lost_factor() {
    let app = MfaApp::spawn(&[]).await;
    enrolled(&app, "alice").await;
    partial_login(&app, "alice").await;
    let output = authql_command()
        .args([
            "reset-mfa",
            "--username",
            "ALICE",
            "--database-url",
            &app.database_url,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    within(
        std::time::Duration::from_secs(5),
        "the reset to be heard",
        || async {
            app.login("alice", PASSWORD).await["data"]["login"]["accessToken"]
                .as_str()
                .is_some_and(|token| claims(token)["aal"] == 1)
                && app
                    .gql(
                        LOGIN_MFA,
                        json!({ "input": { "username": "alice", "password": PASSWORD } }),
                    )
                    .await["data"]["login"]["mfaRequired"]
                    == false
        },
    )
    .await;
    let unknown = authql_command()
        .args([
            "reset-mfa",
            "--username",
            "nobody",
            "--database-url",
            &app.database_url,
        ])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

#[tokio::test]
async fn the_user_is_mailed_and_a_password_reset_lifts_a_lock_not_the_factor() {
    use crate::smtp_sink::SmtpSink;
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = MfaApp::spawn(&[
        ("mail-url", &url),
        ("mfa-max-failures", "2"),
        ("login-max-failures", "100"),
    ])
    .await;
    let to = "ann@example.com";
    let session = app.signup_with("ann", PASSWORD, Some(to)).await;
    assert_eq!(sink.first_to(to).await.subject, "Verify your email address");
    let ann = enrolled_from(&app, session).await;
    assert_eq!(
        sink.next_to(to, 1).await.subject,
        "A second factor was added to your account"
    );
    // A recovery code used: told.
    let partial = partial_login(&app, "ann").await;
    let body = verify(&app, &partial.access, &ann.codes[0]).await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    assert_eq!(
        sink.next_to(to, 2).await.subject,
        "A recovery code of your account was used"
    );
    // Locked after MFA_MAX_FAILURES wrong codes: told; the right code is refused now.
    let partial = partial_login(&app, "ann").await;
    for _ in 0..2 {
        assert_code(
            &verify(&app, &partial.access, "999999").await,
            "VERIFICATION_FAILED",
        );
    }
    assert_eq!(
        sink.next_to(to, 3).await.subject,
        "Your second factor was locked"
    );
    let right = code_at(&ann.secret, T0 + STEP);
    assert_code(&verify(&app, &partial.access, &right).await, "RATE_LIMITED");
    // A password reset lifts the lock, not the factor.
    app.gql(
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": to }),
    )
    .await;
    let token = sink.next_to(to, 4).await.token("/reset-password#token=");
    let body = app
        .gql(
            "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
            json!({ "t": token, "p": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(body["data"]["resetPassword"], true, "{body}");
    let login = app
        .gql(
            LOGIN_MFA,
            json!({ "input": { "username": "ann", "password": "a brand new passphrase" } }),
        )
        .await;
    assert_eq!(login["data"]["login"]["mfaRequired"], true, "{login}");
    let partial = login["data"]["login"]["accessToken"].as_str().unwrap();
    let body = verify(&app, partial, &right).await;
    assert!(
        body["data"]["verifyMfa"]["accessToken"].is_string(),
        "{body}"
    );
    // Turned off: told. No mail carries the secret or a code.
    let body = app
        .gql_as(
            body["data"]["verifyMfa"]["accessToken"].as_str().unwrap(),
            "mutation($c: String!) { disableTotp(code: $c) }",
            json!({ "c": ann.codes[1] }),
        )
        .await;
    assert_eq!(body["data"]["disableTotp"], true, "{body}");
    let mut subjects = Vec::new();
    for seen in 5..8 {
        subjects.push(sink.next_to(to, seen).await.subject);
    }
    assert!(
        subjects.contains(&"The second factor of your account was removed".to_owned()),
        "{subjects:?}"
    );
    for mail in sink.mails() {
        assert!(!mail.body.contains(&ann.secret), "{}", mail.body);
        for code in &ann.codes {
            assert!(!mail.body.contains(code.as_str()), "{}", mail.body);
        }
    }
}

#[tokio::test]
async fn verify_mfa_over_a_socket_raises_the_socket_itself() {
    let app = MfaApp::spawn(&[]).await;
    let alice = enrolled(&app, "alice").await;
    let partial = partial_login(&app, "alice").await;
    let mut socket = open(&app, Some(&partial.access)).await;
    start(&mut socket, "1", "{ mySessions { id } }", json!({})).await;
    let refused = results(&mut socket, &["1".to_owned()]).await;
    assert_eq!(code(&refused["1"]), "MFA_REQUIRED");
    start(
        &mut socket,
        "2",
        VERIFY,
        json!({ "c": code_at(&alice.secret, T0 + STEP) }),
    )
    .await;
    let raised = crate::helpers::results(&mut socket, &["2".to_owned()]).await;
    assert!(
        raised["2"]["data"]["verifyMfa"]["accessToken"].is_string(),
        "{:?}",
        raised["2"]
    );
    // The socket holds the level-2 token now.
    start(&mut socket, "3", "{ mySessions { aal } }", json!({})).await;
    let sessions = crate::helpers::results(&mut socket, &["3".to_owned()]).await;
    assert!(sessions["3"].get("errors").is_none(), "{:?}", sessions["3"]);
}

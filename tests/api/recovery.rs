//! Password reset and email verification (API.md "Password reset and email
//! verification"): no enumeration, single-use purpose-bound tokens, everything ended by a
//! reset, and address changes that take effect only once verified.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::helpers::*;
use crate::mail::outbox;
use crate::smtp_sink::SmtpSink;

const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const VERIFY_EMAIL: &str = "mutation($t: String!) { verifyEmail(token: $t) }";
const REQUEST_VERIFICATION: &str = "mutation { requestEmailVerification }";
const CHANGE_EMAIL: &str = "mutation($e: String!) { changeEmail(newEmail: $e) }";
const CHANGE_PASSWORD: &str = "mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { accessToken } }";
const ME_EMAIL: &str = "{ me { email emailVerified } }";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn with_mail(sink: &SmtpSink, overrides: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut all = vec![("mail-url", url.as_str())];
    all.extend_from_slice(overrides);
    TestApp::spawn_with(&all).await
}

/// Asks for a reset of `email`'s password and returns the token of the `nth` reset mail
/// to that address (counting from 0).
async fn reset_token(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let body = app.gql(REQUEST_RESET, json!({ "e": email })).await;
    assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    let mails: Vec<_> = loop {
        let resets: Vec<_> = sink
            .mails()
            .into_iter()
            .filter(|m| m.rcpt == email && m.subject == "Reset your password")
            .collect();
        if resets.len() > nth {
            break resets;
        }
        sink.wait_for(sink.mails().len() + 1).await;
    };
    mails[nth].token("/reset-password#token=")
}

async fn reset(app: &TestApp, token: &str, password: &str) -> Value {
    app.gql(RESET, json!({ "t": token, "p": password })).await
}

/// The audit kinds recorded about `user_id`, oldest first.
async fn audit_kinds(app: &TestApp, admin: &Session, user_id: &str) -> Vec<String> {
    let body = app
        .gql_as(
            &admin.access,
            "query($u: ID) { auditEvents(first: 100, userId: $u) { nodes { kind } } }",
            json!({ "u": user_id }),
        )
        .await;
    let mut kinds: Vec<String> = body["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.reverse();
    kinds
}

#[tokio::test]
async fn a_reset_request_answers_the_same_bytes_before_any_lookup_known_or_not() {
    let gate = Arc::new(Semaphore::new(0));
    let app = TestApp::spawn_gated(&[], gate.clone()).await;
    let admin = app.admin("root").await;
    let ann = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    settle(&app).await;

    async fn ask(app: &TestApp, email: &str) -> (reqwest::StatusCode, Vec<u8>, u64) {
        let before = app.statement_count();
        let request = json!({ "query": REQUEST_RESET, "variables": { "e": email } });
        let response = app.post_json(&[], &request).await;
        let status = response.status();
        let bytes = response.bytes().await.unwrap().to_vec();
        (status, bytes, app.statement_count() - before)
    }
    let known = ask(&app, "ANN@example.com").await;
    let unknown = ask(&app, "nobody@example.com").await;
    assert_eq!(known.0, 200);
    assert_eq!(known.1, unknown.1, "byte-identical answers");
    assert_eq!(&known.1[..], br#"{"data":{"requestPasswordReset":true}}"#);
    // The response path is the same for both: it reads nothing at all.
    assert_eq!((known.2, unknown.2), (0, 0));

    // Let the two requests be handled: only the account's address gets a mail (and an
    // audit row).
    gate.add_permits(2);
    within(Duration::from_secs(10), "the reset mail", || async {
        outbox(&app)
            .await
            .iter()
            .any(|m| m["subject"] == "Reset your password")
    })
    .await;
    settle(&app).await;
    let resets: Vec<Value> = outbox(&app)
        .await
        .into_iter()
        .filter(|m| m["subject"] == "Reset your password")
        .collect();
    assert_eq!(resets.len(), 1, "{resets:?}");
    // To the address as the account has it, not as the request spelled it.
    assert_eq!(resets[0]["to"], "ann@example.com");
    assert!(
        resets[0]["body"]
            .as_str()
            .unwrap()
            .contains("http://localhost:5173/reset-password#token=")
    );
    let kinds = audit_kinds(&app, &admin, &ann.user_id).await;
    assert_eq!(kinds, ["SIGNUP", "PASSWORD_RESET_REQUESTED"]);
    assert_eq!(
        count_rows(
            &app.database_url,
            "auth_events WHERE kind = 'PASSWORD_RESET_REQUESTED'"
        )
        .await,
        1
    );
}

/// The reset mails to `to` in the outbox.
async fn resets_to(app: &TestApp, to: &str) -> usize {
    outbox(app)
        .await
        .iter()
        .filter(|m| m["to"] == to && m["subject"] == "Reset your password")
        .count()
}

#[tokio::test]
async fn the_fourth_reset_request_in_an_hour_sends_nothing_and_answers_the_same() {
    let app = TestApp::spawn().await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    app.signup_with("bob", PASSWORD, Some("bob@example.com"))
        .await;
    let mut answers = Vec::new();
    for (n, email) in ["ann@example.com", "Ann@Example.com", "ann@example.com"]
        .into_iter()
        .enumerate()
    {
        answers.push(app.gql(REQUEST_RESET, json!({ "e": email })).await);
        within(Duration::from_secs(10), "the reset mail", || async {
            resets_to(&app, "ann@example.com").await == n + 1
        })
        .await;
    }
    answers.push(
        app.gql(REQUEST_RESET, json!({ "e": "ANN@example.com" }))
            .await,
    );
    // Requests are handled in order: once bob's mail is there, ann's fourth was handled.
    app.gql(REQUEST_RESET, json!({ "e": "bob@example.com" }))
        .await;
    within(Duration::from_secs(10), "bob's reset mail", || async {
        resets_to(&app, "bob@example.com").await == 1
    })
    .await;
    for answer in &answers {
        assert_eq!(answer, &json!({ "data": { "requestPasswordReset": true } }));
    }
    assert_eq!(resets_to(&app, "ann@example.com").await, 3);
}

#[tokio::test]
async fn a_burst_of_reset_requests_for_one_address_sends_one_mail() {
    let gate = Arc::new(Semaphore::new(0));
    let app = TestApp::spawn_gated(&[], gate.clone()).await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let burst = (0..10).map(|_| app.gql(REQUEST_RESET, json!({ "e": "ann@example.com" })));
    for answer in futures_util::future::join_all(burst).await {
        assert_eq!(answer, json!({ "data": { "requestPasswordReset": true } }));
    }
    // One request waits for the address; the others were the same request again.
    gate.add_permits(10);
    app.signup_with("bob", PASSWORD, Some("bob@example.com"))
        .await;
    app.gql(REQUEST_RESET, json!({ "e": "bob@example.com" }))
        .await;
    within(Duration::from_secs(10), "bob's reset mail", || async {
        resets_to(&app, "bob@example.com").await == 1
    })
    .await;
    assert_eq!(resets_to(&app, "ann@example.com").await, 1);
}

#[tokio::test]
async fn a_malformed_address_or_token_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let body = app
        .gql(REQUEST_RESET, json!({ "e": "not-an-address" }))
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    for token in ["x\u{0}y".to_owned(), "t".repeat(513)] {
        let body = reset(&app, &token, NEW_PASSWORD).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "token");
        let body = app.gql(VERIFY_EMAIL, json!({ "t": token })).await;
        assert_eq!(body["errors"][0]["extensions"]["field"], "token");
    }
    // 512 characters are a token's shape: just not a live one.
    assert_code(
        &reset(&app, &"t".repeat(512), NEW_PASSWORD).await,
        "VERIFICATION_FAILED",
    );
    let body = reset(&app, "whatever", "short").await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
}

#[tokio::test]
async fn a_reset_ends_every_session_and_socket_logs_nobody_in_and_notifies_the_user() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[]).await;
    let admin = app.admin("root").await;
    let laptop = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let phone = Session::from_payload(&app.login("ann", PASSWORD).await["data"]["login"]).unwrap();
    let mut socket = open(&app, Some(&phone.access)).await;
    start_live(
        &mut socket,
        "1",
        "subscription { itemEvents { itemId } }",
        json!({}),
    )
    .await;

    let token = reset_token(&app, &sink, "ann@example.com", 0).await;
    let body = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(body, json!({ "data": { "resetPassword": true } }));

    for session in [&laptop, &phone] {
        assert_code(
            &app.gql_as(&session.access, ME, json!({})).await,
            "TOKEN_REVOKED",
        );
        let refreshed = app.gql(REFRESH, json!({ "t": session.refresh })).await;
        assert_code(&refreshed, "TOKEN_REVOKED");
    }
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "TOKEN_REVOKED".to_owned()))
    );
    assert_code(&app.login("ann", PASSWORD).await, "INVALID_CREDENTIALS");
    assert!(app.login("ann", NEW_PASSWORD).await["data"]["login"].is_object());

    let notice = sink.next_to("ann@example.com", 2).await;
    assert_eq!(notice.subject, "Your password was changed");
    assert!(
        !notice.body.contains("#token="),
        "a notice carries no token"
    );
    assert_code(
        &reset(&app, &token, "yet another passphrase").await,
        "VERIFICATION_FAILED",
    );
    let kinds = audit_kinds(&app, &admin, &laptop.user_id).await;
    let requested = kinds.iter().position(|k| k == "PASSWORD_RESET_REQUESTED");
    let done = kinds.iter().position(|k| k == "PASSWORD_RESET");
    assert!(requested.is_some() && requested < done, "{kinds:?}");
}

#[tokio::test]
async fn reset_tokens_expire_and_serve_no_other_purpose() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[("password-reset-expires", "1s")]).await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let expired = reset_token(&app, &sink, "ann@example.com", 0).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let failed = reset(&app, &expired, NEW_PASSWORD).await;
    assert_code(&failed, "VERIFICATION_FAILED");
    let wrong = reset(&app, "not-a-token-anyone-was-sent", NEW_PASSWORD).await;
    assert_eq!(
        message(&failed),
        message(&wrong),
        "one message for every failure"
    );
    // A verification token never resets a password, and a reset token verifies nothing.
    let verification = sink
        .first_to("ann@example.com")
        .await
        .token("/verify-email#token=");
    assert_code(
        &reset(&app, &verification, NEW_PASSWORD).await,
        "VERIFICATION_FAILED",
    );
    assert_code(
        &app.gql(VERIFY_EMAIL, json!({ "t": expired })).await,
        "VERIFICATION_FAILED",
    );
    assert!(app.login("ann", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn a_reset_token_dies_with_a_password_change_an_address_change_or_a_sibling_used() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[]).await;
    let bob = app
        .signup_with("bob", PASSWORD, Some("bob@example.com"))
        .await;

    // Dead once the password changed another way.
    let before_change = reset_token(&app, &sink, "bob@example.com", 0).await;
    let body = app
        .gql_as(
            &bob.access,
            CHANGE_PASSWORD,
            json!({ "c": PASSWORD, "n": "changed the usual way" }),
        )
        .await;
    let fresh = body["data"]["changePassword"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    assert_code(
        &reset(&app, &before_change, NEW_PASSWORD).await,
        "VERIFICATION_FAILED",
    );

    // Dead once the address changed.
    let before_move = reset_token(&app, &sink, "bob@example.com", 1).await;
    let body = app
        .gql_as(&fresh, CHANGE_EMAIL, json!({ "e": "robert@example.com" }))
        .await;
    assert_eq!(body["data"]["changeEmail"], true, "{body}");
    let change = sink
        .first_to("robert@example.com")
        .await
        .token("/verify-email#token=");
    let verified = app.gql(VERIFY_EMAIL, json!({ "t": change })).await;
    assert_eq!(verified["data"]["verifyEmail"], true, "{verified}");
    assert_code(
        &reset(&app, &before_move, NEW_PASSWORD).await,
        "VERIFICATION_FAILED",
    );

    // A pending address change dies with a password change or a reset: an intruder's
    // link must not take the account back from its owner.
    let body = app
        .gql_as(&fresh, CHANGE_EMAIL, json!({ "e": "intruder@example.com" }))
        .await;
    assert_eq!(body["data"]["changeEmail"], true, "{body}");
    let intruders = sink
        .first_to("intruder@example.com")
        .await
        .token("/verify-email#token=");
    let owners = reset_token(&app, &sink, "robert@example.com", 0).await;
    assert_eq!(
        reset(&app, &owners, "the owner is back").await["data"]["resetPassword"],
        true
    );
    assert_code(
        &app.gql(VERIFY_EMAIL, json!({ "t": intruders })).await,
        "VERIFICATION_FAILED",
    );

    // Using one reset token kills the user's others.
    let first = reset_token(&app, &sink, "robert@example.com", 1).await;
    let second = reset_token(&app, &sink, "robert@example.com", 2).await;
    assert_eq!(
        reset(&app, &second, NEW_PASSWORD).await["data"]["resetPassword"],
        true
    );
    assert_code(
        &reset(&app, &first, "another new passphrase").await,
        "VERIFICATION_FAILED",
    );
    assert!(app.login("bob", NEW_PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn concurrent_resets_with_one_token_succeed_exactly_once() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[]).await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let token = reset_token(&app, &sink, "ann@example.com", 0).await;
    let attempts = (0..6).map(|n| {
        let (app, token) = (&app, token.clone());
        async move { reset(app, &token, &format!("{NEW_PASSWORD} {n}")).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let won: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| a["data"]["resetPassword"] == true)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (n, answer) in answers.iter().enumerate() {
        if n != won[0] {
            assert_code(answer, "VERIFICATION_FAILED");
        }
    }
    // The winner's password is the one in force.
    let login = app
        .login("ann", &format!("{NEW_PASSWORD} {}", won[0]))
        .await;
    assert!(login["data"]["login"].is_object(), "{login}");
}

#[tokio::test]
async fn a_signup_address_is_verified_through_its_mail_once() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[]).await;
    let admin = app.admin("root").await;
    let ann = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let bob = app.signup("bob").await;
    let body = app.gql_as(&ann.access, ME_EMAIL, json!({})).await;
    assert_eq!(
        body["data"]["me"],
        json!({ "email": "ann@example.com", "emailVerified": false })
    );
    // Another user sees neither; an admin sees both.
    let query = "query($id: ID!) { user(id: $id) { emailVerified } }";
    let theirs = app
        .gql_as(&bob.access, query, json!({ "id": ann.user_id }))
        .await;
    assert_code(&theirs, "FORBIDDEN");
    let admins = app
        .gql_as(&admin.access, query, json!({ "id": ann.user_id }))
        .await;
    assert_eq!(admins["data"]["user"]["emailVerified"], false);

    let token = sink
        .first_to("ann@example.com")
        .await
        .token("/verify-email#token=");
    assert_eq!(
        app.gql(VERIFY_EMAIL, json!({ "t": token })).await["data"]["verifyEmail"],
        true
    );
    let body = app.gql_as(&ann.access, ME_EMAIL, json!({})).await;
    assert_eq!(body["data"]["me"]["emailVerified"], true);
    assert_code(
        &app.gql(VERIFY_EMAIL, json!({ "t": token })).await,
        "VERIFICATION_FAILED",
    );
    assert_eq!(
        audit_kinds(&app, &admin, &ann.user_id).await,
        ["SIGNUP", "EMAIL_VERIFIED"]
    );
    // Nothing more to verify: false, nothing sent. Nor for a user without an address.
    for session in [&ann, &bob] {
        let body = app
            .gql_as(&session.access, REQUEST_VERIFICATION, json!({}))
            .await;
        assert_eq!(body["data"]["requestEmailVerification"], false, "{body}");
    }
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn verification_mails_are_limited_per_recipient_and_per_user() {
    let app = TestApp::spawn().await;
    let ann = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            app.gql_as(&ann.access, REQUEST_VERIFICATION, json!({}))
                .await,
        );
    }
    for answer in &answers {
        assert_eq!(answer["data"]["requestEmailVerification"], true, "{answer}");
    }
    let to_ann = |mails: Vec<Value>, to: &str| mails.iter().filter(|m| m["to"] == to).count();
    // The signup's mail and two more: 3 per recipient per hour.
    assert_eq!(to_ann(outbox(&app).await, "ann@example.com"), 3);

    // Per user: 10 an hour, whatever the recipients (3 used above).
    let body = app.login("ann", PASSWORD).await;
    let fresh = Session::from_payload(&body["data"]["login"]).unwrap();
    for n in 0..8 {
        let body = app
            .gql_as(
                &fresh.access,
                CHANGE_EMAIL,
                json!({ "e": format!("new{n}@example.com") }),
            )
            .await;
        assert_eq!(body["data"]["changeEmail"], true, "{body}");
    }
    let mails = outbox(&app).await;
    let sent: Vec<usize> = (0..8)
        .map(|n| to_ann(mails.clone(), &format!("new{n}@example.com")))
        .collect();
    assert_eq!(sent, [1, 1, 1, 1, 1, 1, 1, 0]);
}

#[tokio::test]
async fn change_email_takes_effect_only_once_verified_and_tells_the_old_address() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[]).await;
    let admin = app.admin("root").await;
    let ann = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let refreshed = app.gql(REFRESH, json!({ "t": ann.refresh })).await;
    let stale = refreshed["data"]["refresh"]["accessToken"]
        .as_str()
        .unwrap();
    assert_code(
        &app.gql_as(stale, CHANGE_EMAIL, json!({ "e": "ann@new.example" }))
            .await,
        "FRESH_TOKEN_REQUIRED",
    );
    let bad = app
        .gql_as(&ann.access, CHANGE_EMAIL, json!({ "e": "nope" }))
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "newEmail");

    let body = app
        .gql_as(&ann.access, CHANGE_EMAIL, json!({ "e": "ann@new.example" }))
        .await;
    assert_eq!(body, json!({ "data": { "changeEmail": true } }));
    let mail = sink.first_to("ann@new.example").await;
    assert_eq!(mail.subject, "Confirm your new email address");
    // Nothing changed yet.
    let me = app.gql_as(&ann.access, ME_EMAIL, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "ann@example.com");

    let token = mail.token("/verify-email#token=");
    assert_eq!(
        app.gql(VERIFY_EMAIL, json!({ "t": token })).await["data"]["verifyEmail"],
        true
    );
    let me = app.gql_as(&ann.access, ME_EMAIL, json!({})).await;
    assert_eq!(
        me["data"]["me"],
        json!({ "email": "ann@new.example", "emailVerified": true })
    );
    let notice = sink
        .mails()
        .into_iter()
        .find(|m| m.rcpt == "ann@example.com" && m.subject == "Your email address was changed");
    let notice = match notice {
        Some(notice) => notice,
        None => sink.next_to("ann@example.com", 1).await,
    };
    assert_eq!(notice.subject, "Your email address was changed");
    assert!(notice.body.contains("ann@new.example"));
    let kinds = audit_kinds(&app, &admin, &ann.user_id).await;
    assert_eq!(kinds, ["SIGNUP", "REFRESH", "EMAIL_CHANGED"]);
}

#[tokio::test]
async fn change_email_to_an_address_in_use_answers_the_same_and_tells_that_address() {
    let sink = SmtpSink::start().await;
    let app = with_mail(&sink, &[]).await;
    app.signup_with("bob", PASSWORD, Some("bob@example.com"))
        .await;
    let ann = app.signup("ann").await;
    let taken = app
        .post_json(
            &[("authorization", &format!("Bearer {}", ann.access))],
            &json!({ "query": CHANGE_EMAIL, "variables": { "e": "BOB@example.com" } }),
        )
        .await
        .bytes()
        .await
        .unwrap();
    let free = app
        .post_json(
            &[("authorization", &format!("Bearer {}", ann.access))],
            &json!({ "query": CHANGE_EMAIL, "variables": { "e": "free@example.com" } }),
        )
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(taken, free);
    // To the address as bob's account has it; bob's first mail was his verification.
    let warning = sink.next_to("bob@example.com", 1).await;
    assert_eq!(warning.rcpt, "bob@example.com");
    assert_eq!(warning.subject, "This address already has an account");
    assert!(!warning.body.contains("#token="), "{}", warning.body);
    let me = app.gql_as(&ann.access, ME_EMAIL, json!({})).await;
    assert_eq!(me["data"]["me"]["email"], Value::Null);
}

#[tokio::test]
async fn require_verified_email_keeps_unverified_callers_from_writing_items() {
    let sink = SmtpSink::start().await;
    let app = with_mail(
        &sink,
        &[
            ("require-verified-email", "true"),
            ("metrics-addr", "127.0.0.1:0"),
        ],
    )
    .await;
    // An operator's address counts as verified.
    let email = Some("root@example.com");
    authql::cli::create_user("root", true, email, &app.database_url, PASSWORD.as_bytes())
        .await
        .unwrap();
    let admin = Session::from_payload(&app.login("root", PASSWORD).await["data"]["login"]).unwrap();
    let store = app.store(&admin, "Shop").await;
    let ann = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    let bob = app.signup("bob").await;
    let create = |session: &Session| {
        let token = session.access.clone();
        let store = store.clone();
        let app = &app;
        async move {
            app.gql_as(
                &token,
                CREATE_ITEM,
                json!({ "input": { "storeId": store, "name": "Lamp", "price": "5" } }),
            )
            .await
        }
    };
    assert_code(&create(&ann).await, "EMAIL_NOT_VERIFIED");
    assert_code(&create(&bob).await, "EMAIL_NOT_VERIFIED");
    let item = app.item(&admin, &store, "Desk", "10").await;
    let update = app
        .gql_as(
            &ann.access,
            "mutation($id: ID!) { updateItem(id: $id, input: {price: \"1\"}) { id } }",
            json!({ "id": item }),
        )
        .await;
    assert_code(&update, "FORBIDDEN");
    // An admin without an address may edit anything, but not unverified.
    let unverified_admin = app.admin("admin2").await;
    let update = app
        .gql_as(
            &unverified_admin.access,
            "mutation($id: ID!) { updateItem(id: $id, input: {price: \"1\"}) { id } }",
            json!({ "id": item }),
        )
        .await;
    assert_code(&update, "EMAIL_NOT_VERIFIED");
    let metrics = crate::metrics::scrape(&app).await;
    let refused = r#"authql_auth_failures_total{code="EMAIL_NOT_VERIFIED"}"#;
    assert_eq!(crate::metrics::value(&metrics, refused), 3.0);

    let token = sink
        .first_to("ann@example.com")
        .await
        .token("/verify-email#token=");
    app.gql(VERIFY_EMAIL, json!({ "t": token })).await;
    let created = create(&ann).await;
    assert!(created["data"]["createItem"]["id"].is_string(), "{created}");
}

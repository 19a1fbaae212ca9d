//! Mail (API.md "Mail"): an outbox written with the change, a sender that delivers it over
//! real SMTP (the in-process sink of `smtp_sink`), at least once and never late, and the
//! development path without `MAIL_URL` (`authql mail-outbox`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::metrics::{scrape, value};
use crate::smtp_sink::SmtpSink;

const VERIFY_EMAIL: &str = "mutation($t: String!) { verifyEmail(token: $t) }";

/// The unsent mails, as `authql mail-outbox` prints them.
pub async fn outbox(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    authql::cli::mail_outbox(&app.database_url, &mut out)
        .await
        .expect("mail-outbox");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Waits until the outbox table is empty (every mail delivered, or given up).
async fn until_outbox_empty(app: &TestApp) {
    within(Duration::from_secs(20), "the outbox to empty", || async {
        count_rows(&app.database_url, "mail_outbox").await == 0
    })
    .await;
}

async fn with_mail(sink: &SmtpSink, overrides: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut all = vec![("mail-url", url.as_str()), ("metrics-addr", "127.0.0.1:0")];
    all.extend_from_slice(overrides);
    TestApp::spawn_with(&all).await
}

#[tokio::test]
async fn a_signup_mail_goes_out_over_smtp_with_its_headers_and_an_app_url_link() {
    let sink = SmtpSink::start().await;
    let app = with_mail(
        &sink,
        &[
            ("mail-from", "Shop Accounts <accounts@shop.example>"),
            ("app-url", "https://shop.example/app/"),
        ],
    )
    .await;
    app.signup_with("ann", PASSWORD, Some("Ann@Example.com"))
        .await;
    let mail = sink.first_to("Ann@Example.com").await;
    assert_eq!(mail.from, "accounts@shop.example");
    assert_eq!(mail.to, "Ann@Example.com");
    assert_eq!(mail.subject, "Verify your email address");
    let token = mail.token("https://shop.example/app/verify-email#token=");
    assert!(mail.body.contains(&token), "the code itself too");
    assert!(!mail.body.contains("127.0.0.1"), "{}", mail.body);

    let body = app.gql(VERIFY_EMAIL, json!({ "t": token })).await;
    assert_eq!(body, json!({ "data": { "verifyEmail": true } }));
    until_outbox_empty(&app).await;
    let metrics = scrape(&app).await;
    assert_eq!(
        value(&metrics, r#"authql_mail_sent_total{outcome="sent"}"#),
        1.0
    );
    assert_eq!(
        value(&metrics, r#"authql_mail_sent_total{outcome="failed"}"#),
        0.0
    );
    assert_eq!(value(&metrics, "authql_mail_outbox"), 0.0);
}

#[tokio::test]
async fn without_mail_url_mail_waits_in_the_outbox_for_the_cli_and_a_later_instance() {
    let app = TestApp::spawn_with(&[("metrics-addr", "127.0.0.1:0")]).await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;

    // The binary prints it as JSON lines with exactly the contract's keys.
    let output = authql_command()
        .env("DATABASE_URL", &app.database_url)
        .arg("mail-outbox")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let mail = lines[0].as_object().unwrap();
    let mut keys: Vec<&str> = mail.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["body", "queuedAt", "subject", "to"]);
    assert_eq!(mail["to"], "ann@example.com");
    assert_eq!(mail["subject"], "Verify your email address");
    chrono::DateTime::parse_from_rfc3339(mail["queuedAt"].as_str().unwrap()).unwrap();
    let body = mail["body"].as_str().unwrap();
    let prefix = "http://localhost:5173/verify-email#token=";
    let token = &body[body.find(prefix).expect("the default APP_URL link") + prefix.len()..]
        .split_whitespace()
        .next()
        .unwrap();
    let verified = app.gql(VERIFY_EMAIL, json!({ "t": token })).await;
    assert_eq!(verified["data"]["verifyEmail"], true, "{verified}");
    // Counted whether or not a sender runs.
    assert_eq!(value(&scrape(&app).await, "authql_mail_outbox"), 1.0);

    // An instance with MAIL_URL delivers what was left.
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let _mailer = TestApp::spawn_on(
        app.database_url.clone(),
        TestDatabase::none(),
        &[("mail-url", &url)],
    )
    .await;
    assert_eq!(
        sink.first_to("ann@example.com").await.subject,
        "Verify your email address"
    );
    until_outbox_empty(&app).await;
    assert!(outbox(&app).await.is_empty());
}

#[tokio::test]
async fn a_dead_smtp_server_fails_no_request_and_gets_the_mail_once_it_is_up() {
    let sink = SmtpSink::down().await;
    let app = with_mail(&sink, &[]).await;
    let session = app
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    assert!(!session.access.is_empty());
    within(Duration::from_secs(10), "a failed attempt", || async {
        value(
            &scrape(&app).await,
            r#"authql_mail_sent_total{outcome="failed"}"#,
        ) >= 1.0
    })
    .await;
    assert_eq!(count_rows(&app.database_url, "mail_outbox").await, 1);

    sink.come_up().await;
    let mail = sink.first_to("ann@example.com").await;
    assert_eq!(mail.subject, "Verify your email address");
    until_outbox_empty(&app).await;
    assert_eq!(sink.count_to("ann@example.com"), 1);
}

#[tokio::test]
async fn a_hanging_smtp_server_slows_no_request() {
    let sink = SmtpSink::start().await;
    sink.stall();
    let app = with_mail(&sink, &[]).await;
    // The mail is written with the account; the sender's wait on the silent server is
    // its own. (Well under the 10 s an SMTP exchange may take.)
    let signup = tokio::time::timeout(
        Duration::from_secs(5),
        app.signup_with("ann", PASSWORD, Some("ann@example.com")),
    )
    .await
    .expect("signup answered while the SMTP server hangs");
    let me = app.gql_as(&signup.access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "ann", "{me}");
    sink.accept_again();
    sink.first_to("ann@example.com").await;
}

#[tokio::test]
async fn a_permanent_refusal_drops_the_mail_at_once_and_a_temporary_one_is_retried() {
    let sink = SmtpSink::start().await;
    sink.refuse_with("550 5.1.1 mailbox unavailable");
    let app = with_mail(&sink, &[]).await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    // Given up after one attempt: the row (and its token) is gone.
    until_outbox_empty(&app).await;
    assert_eq!(sink.attempts(), 1);
    let metrics = scrape(&app).await;
    assert_eq!(
        value(&metrics, r#"authql_mail_sent_total{outcome="failed"}"#),
        1.0
    );

    sink.refuse_with("451 4.3.0 try again later");
    app.signup_with("bob", PASSWORD, Some("bob@example.com"))
        .await;
    within(Duration::from_secs(10), "a retry after 1 s", || async {
        sink.attempts() >= 3
    })
    .await;
    sink.accept_again();
    sink.first_to("bob@example.com").await;
    until_outbox_empty(&app).await;
    assert_eq!(sink.count_to("ann@example.com"), 0);
}

#[tokio::test]
async fn a_mail_whose_token_expired_is_dropped_never_delivered_late() {
    let sink = SmtpSink::down().await;
    let app = with_mail(&sink, &[("email-verification-expires", "1s")]).await;
    app.signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    assert_eq!(count_rows(&app.database_url, "mail_outbox").await, 1);
    // The token's lifetime passes while the server is down.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sink.come_up().await;
    until_outbox_empty(&app).await;
    assert!(sink.mails().is_empty(), "{:?}", sink.mails());
}

#[tokio::test]
async fn after_a_kill_9_between_commit_and_delivery_a_restarted_server_sends_the_mail() {
    let owner = TestApp::spawn().await;
    let sink = SmtpSink::down().await;
    let url = sink.url();
    let first = TestApp::spawn_process_on(&owner.database_url, &[("mail-url", &url)]).await;
    first
        .signup_with("ann", PASSWORD, Some("ann@example.com"))
        .await;
    // Committed, not delivered: the mail server is down. Once the failed attempt is
    // recorded (a mail the process still held would wait for its lease: unit-tested in
    // service::mail), the process dies hard.
    within(Duration::from_secs(10), "a failed attempt", || async {
        let retry = "mail_outbox WHERE lease_until IS NULL AND attempts >= 1";
        count_rows(&owner.database_url, retry).await == 1
    })
    .await;
    drop(first); // SIGKILL
    assert_eq!(count_rows(&owner.database_url, "mail_outbox").await, 1);

    sink.come_up().await;
    let _second = TestApp::spawn_process_on(&owner.database_url, &[("mail-url", &url)]).await;
    let mail = sink.first_to("ann@example.com").await;
    let token = mail.token("/verify-email#token=");
    let body = owner.gql(VERIFY_EMAIL, json!({ "t": token })).await;
    assert_eq!(body["data"]["verifyEmail"], true, "{body}");
    until_outbox_empty(&owner).await;
    assert_eq!(sink.count_to("ann@example.com"), 1);
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_mail_once() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let a = TestApp::spawn_with(&[("mail-url", &url)]).await;
    let b = TestApp::spawn_on(
        a.database_url.clone(),
        TestDatabase::none(),
        &[("mail-url", &url)],
    )
    .await;
    let signups = (0..12).map(|n| {
        let app = if n % 2 == 0 { &a } else { &b };
        async move {
            app.signup_with(
                &format!("user{n}"),
                PASSWORD,
                Some(&format!("user{n}@example.com")),
            )
            .await
        }
    });
    futures_util::future::join_all(signups).await;
    let mails = sink.wait_for(12).await;
    until_outbox_empty(&a).await;
    // A second sender holding the same mail would be sending it now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.attempts(), 12, "{mails:#?}");
    let mut recipients: Vec<String> = sink.mails().into_iter().map(|m| m.rcpt).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 12);
}

//! Subscriptions over HTTP (API.md "Subscriptions over HTTP"): GraphQL over SSE and
//! Apollo's multipart subscriptions on `POST /graphql`, read chunk by chunk as a client
//! reads them: events, keep-alives, the end of a stream whose token is revoked or
//! expires, CSRF for cookies, the metric, and the refusal without a streaming `Accept`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const EVENTS: &str = "subscription { itemEvents { kind item { name } } }";
/// What Apollo Client 4 sends for a subscription (API.md quotes it).
const APOLLO_ACCEPT: &str = "multipart/mixed;boundary=\"graphql\";subscriptionSpec=1.0,application/graphql-response+json,application/json;q=0.9";
const SSE: &str = "text/event-stream";

/// One HTTP stream, read as it arrives.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

/// What a stream said.
#[derive(Debug, PartialEq)]
enum Said {
    /// A result: SSE `next`, or a multipart part's `payload`.
    Next(Value),
    /// An SSE comment, or a multipart `{}` heartbeat.
    KeepAlive,
    /// SSE `complete`, or the closing delimiter.
    Complete,
}

impl Stream {
    async fn open(app: &TestApp, accept: &str, token: Option<&str>, query: &str) -> Self {
        let mut headers = vec![("accept", accept.to_owned())];
        if let Some(token) = token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = app.post_json(&headers, &json!({ "query": query })).await;
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    fn content_type(&self) -> String {
        self.response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Reads until `parse` finds a whole message in the buffer; panics after [`WAIT`].
    async fn read(&mut self, parse: fn(&mut String) -> Option<Said>) -> Said {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(said) = parse(&mut self.buffer) {
                return said;
            }
            let chunk = tokio::time::timeout_at(deadline.into(), self.response.chunk())
                .await
                .expect("the stream said nothing in time")
                .expect("the stream broke");
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => panic!("the stream ended; unread: {:?}", self.buffer),
            }
        }
    }

    async fn sse(&mut self) -> Said {
        self.read(parse_sse).await
    }

    async fn part(&mut self) -> Said {
        self.read(parse_part).await
    }

    /// The next result, skipping keep-alives.
    async fn next_result(&mut self, multipart: bool) -> Value {
        loop {
            let said = if multipart {
                self.part().await
            } else {
                self.sse().await
            };
            match said {
                Said::Next(value) => return value,
                Said::KeepAlive => continue,
                Said::Complete => panic!("completed before a result"),
            }
        }
    }

    /// Waits until the subscription listens: the first keep-alive is sent then.
    async fn listening(&mut self, multipart: bool) {
        let said = if multipart {
            self.part().await
        } else {
            self.sse().await
        };
        assert_eq!(said, Said::KeepAlive);
    }

    /// Nothing follows the end.
    async fn ended(&mut self) {
        let rest = tokio::time::timeout(WAIT, self.response.chunk())
            .await
            .expect("the stream did not end")
            .expect("the stream broke");
        assert_eq!(rest, None, "more after the end; unread: {:?}", self.buffer);
        assert_eq!(self.buffer.trim(), "", "unread after the end");
    }
}

/// One SSE message (`event:`/`data:` lines, or a comment) off the front of `buffer`.
fn parse_sse(buffer: &mut String) -> Option<Said> {
    let end = buffer.find("\n\n")?;
    let message: String = buffer.drain(..end + 2).collect();
    if message.starts_with(':') {
        return Some(Said::KeepAlive);
    }
    let field = |name: &str| {
        message
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
    };
    match field("event:").as_deref() {
        Some("next") => Some(Said::Next(
            serde_json::from_str(&field("data:").expect("data")).expect("JSON data"),
        )),
        Some("complete") => Some(Said::Complete),
        other => panic!("unexpected SSE event {other:?} in {message:?}"),
    }
}

/// One multipart part off the front of `buffer`, once the delimiter after it arrived (as
/// Apollo Client reads it: a part is handed on when its closing delimiter is read).
fn parse_part(buffer: &mut String) -> Option<Said> {
    const DELIMITER: &str = "\r\n--graphql";
    let rest = buffer.strip_prefix(DELIMITER)?;
    if rest.starts_with("--") {
        let end = rest.find("\r\n")? + 2;
        buffer.drain(..DELIMITER.len() + end);
        return Some(Said::Complete);
    }
    let end = rest.find(DELIMITER)?;
    let part: String = rest[..end].to_owned();
    // The delimiter that closed this part opens the next one.
    buffer.drain(..DELIMITER.len() + end);
    let (head, body) = part.split_once("\r\n\r\n").expect("part headers");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).expect("JSON part");
    if body == json!({}) {
        return Some(Said::KeepAlive);
    }
    Some(Said::Next(body["payload"].clone()))
}

#[tokio::test]
async fn sse_streams_events_to_a_subscriber_and_a_query_as_one_next_then_complete() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let mut stream = Stream::open(&app, SSE, Some(&admin.access), EVENTS).await;
    assert!(stream.content_type().starts_with("text/event-stream"));
    stream.listening(false).await;
    app.item(&admin, &store, "Apple", "1.50").await;
    app.item(&admin, &store, "Pear", "2").await;
    for name in ["Apple", "Pear"] {
        assert_eq!(
            stream.next_result(false).await,
            json!({ "data": { "itemEvents": { "kind": "CREATED", "item": { "name": name } } } })
        );
    }
    // A query from a client that accepts only SSE: one `next`, then `complete`.
    let mut query = Stream::open(&app, SSE, Some(&admin.access), ME).await;
    assert_eq!(
        query.next_result(false).await["data"]["me"]["username"],
        "root"
    );
    assert_eq!(query.sse().await, Said::Complete);
    query.ended().await;
}

#[tokio::test]
async fn apollo_clients_multipart_accept_gets_parts_each_closed_at_once_and_heartbeats() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let mut stream = Stream::open(&app, APOLLO_ACCEPT, Some(&admin.access), EVENTS).await;
    let content_type = stream.content_type();
    assert!(
        content_type.starts_with("multipart/mixed")
            && content_type.contains("boundary=\"graphql\""),
        "{content_type}"
    );
    stream.listening(true).await;
    app.item(&admin, &store, "Apple", "1.50").await;
    // `parse_part` hands a part on only once the delimiter after it is read: the event
    // arrives whole without waiting for a heartbeat or the next event.
    let started = Instant::now();
    assert_eq!(
        stream.next_result(true).await,
        json!({ "data": { "itemEvents": { "kind": "CREATED", "item": { "name": "Apple" } } } })
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // The same, with the parameters unquoted and in another order.
    let mut other = Stream::open(
        &app,
        "application/json;q=0.9, multipart/mixed; subscriptionSpec=\"1.0\"; boundary=graphql",
        Some(&admin.access),
        EVENTS,
    )
    .await;
    other.listening(true).await;
}

#[tokio::test]
async fn a_revoked_token_ends_the_stream_within_a_second_with_the_code() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    for multipart in [false, true] {
        let session = app.login("root", PASSWORD).await;
        let token = session["data"]["login"]["accessToken"].as_str().unwrap();
        let accept = if multipart { APOLLO_ACCEPT } else { SSE };
        let mut stream = Stream::open(&app, accept, Some(token), EVENTS).await;
        stream.listening(multipart).await;
        app.gql_as(token, "mutation { logout }", json!({})).await;
        let logged_out = Instant::now();
        let last = stream.next_result(multipart).await;
        assert!(logged_out.elapsed() < Duration::from_secs(1));
        assert_eq!(
            last["errors"][0]["extensions"]["code"], "TOKEN_REVOKED",
            "{last}"
        );
        let end = if multipart {
            stream.part().await
        } else {
            stream.sse().await
        };
        assert_eq!(end, Said::Complete);
        stream.ended().await;
    }
    // The admin's own stream is untouched by another session's logout.
    let mut stream = Stream::open(&app, SSE, Some(&admin.access), EVENTS).await;
    stream.listening(false).await;
}

#[tokio::test]
async fn an_expired_token_ends_the_stream_within_a_second_of_exp() {
    let app = TestApp::spawn_with(&[("jwt-access-token-expires", "2s")]).await;
    let alice = app.signup("alice").await;
    let mut stream = Stream::open(&app, SSE, Some(&alice.access), EVENTS).await;
    stream.listening(false).await;
    let last = stream.next_result(false).await;
    assert_eq!(
        last["errors"][0]["extensions"]["code"], "TOKEN_EXPIRED",
        "{last}"
    );
    let exp = claims(&alice.access)["exp"].as_i64().unwrap();
    let late = chrono::Utc::now().timestamp_millis() - exp * 1000;
    assert!((0..1000).contains(&late), "ended {late} ms after exp");
    assert_eq!(stream.sse().await, Said::Complete);
}

#[tokio::test]
async fn request_timeout_bounds_the_response_head_not_a_running_stream() {
    let app = TestApp::spawn_with(&[("request-timeout", "1s")]).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let mut stream = Stream::open(&app, SSE, Some(&admin.access), EVENTS).await;
    stream.listening(false).await;
    // Past REQUEST_TIMEOUT, the stream still delivers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.item(&admin, &store, "Apple", "1").await;
    assert_eq!(
        stream.next_result(false).await["data"]["itemEvents"]["kind"],
        "CREATED"
    );
}

#[tokio::test]
async fn guards_answer_in_the_stream_and_a_plain_post_names_the_ways_to_subscribe() {
    let app = TestApp::spawn().await;
    // No token: the guard's refusal is the one result.
    let mut stream = Stream::open(&app, SSE, None, EVENTS).await;
    let only = stream.next_result(false).await;
    assert_eq!(
        only["errors"][0]["extensions"]["code"],
        "AUTHORIZATION_REQUIRED"
    );
    assert_eq!(stream.sse().await, Said::Complete);
    // A bad token, over multipart.
    let mut stream = Stream::open(&app, APOLLO_ACCEPT, Some("not-a-token"), EVENTS).await;
    let only = stream.next_result(true).await;
    assert_eq!(only["errors"][0]["extensions"]["code"], "INVALID_TOKEN");
    assert_eq!(stream.part().await, Said::Complete);
    stream.ended().await;

    // Without a streaming Accept: refused, naming both media types and the socket.
    let alice = app.signup("alice").await;
    let body = app.gql_as(&alice.access, EVENTS, json!({})).await;
    assert_code(&body, "GRAPHQL_VALIDATION_FAILED");
    let text = message(&body);
    for named in ["text/event-stream", "multipart/mixed", "/graphql/ws"] {
        assert!(text.contains(named), "{text}");
    }
    // A `multipart/mixed` without subscriptionSpec (incremental delivery) is no stream.
    let response = app
        .post_json(
            &[
                ("authorization", &format!("Bearer {}", alice.access)),
                (
                    "accept",
                    "multipart/mixed;deferSpec=20220824, application/json",
                ),
            ],
            &json!({ "query": EVENTS }),
        )
        .await;
    assert_code(&response.json().await.unwrap(), "GRAPHQL_VALIDATION_FAILED");
    // In a batch, the subscription alone is refused.
    let answers = app
        .batch(&[
            json!({ "query": EVENTS }),
            json!({ "query": "{ __typename }" }),
        ])
        .await;
    assert_code(&answers[0], "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(answers[1]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn open_streams_are_counted_and_uncounted_when_they_end() {
    let app = TestApp::spawn_with(&[("metrics-addr", "127.0.0.1:0")]).await;
    let admin = app.admin("root").await;
    let gauge = || async {
        let text = reqwest::get(format!("http://{}/metrics", app.metrics_addr.unwrap()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("authql_http_streams "))
            .map(|value| value.trim().to_owned())
    };
    assert_eq!(gauge().await.as_deref(), Some("0"));
    let mut stream = Stream::open(&app, SSE, Some(&admin.access), EVENTS).await;
    stream.listening(false).await;
    assert_eq!(gauge().await.as_deref(), Some("1"));
    drop(stream);
    within(WAIT, "the gauge to drop", || async {
        gauge().await.as_deref() == Some("0")
    })
    .await;
}

#[tokio::test]
async fn a_cookie_stream_needs_the_csrf_header_as_a_mutation_does() {
    let app = TestApp::spawn_with(&[("jwt-token-location", "cookies")]).await;
    let input = json!({ "input": { "username": "alice", "password": PASSWORD } });
    // In cookie mode the tokens come as cookies only.
    app.gql(SIGNUP, input.clone()).await;
    let login = app
        .post_json(&[], &json!({ "query": LOGIN, "variables": input }))
        .await;
    let jar: Vec<(String, String)> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|header| {
            let pair = header.to_str().ok()?.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    let cookie = jar
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = &jar
        .iter()
        .find(|(name, _)| name == "csrf_access_token")
        .expect("csrf cookie")
        .1;
    let open = async |csrf: Option<&str>| {
        let mut headers = vec![("accept", SSE), ("cookie", cookie.as_str())];
        if let Some(csrf) = csrf {
            headers.push(("x-csrf-token", csrf));
        }
        Stream {
            response: app.post_json(&headers, &json!({ "query": EVENTS })).await,
            buffer: String::new(),
        }
    };
    let mut refused = open(None).await;
    let only = refused.next_result(false).await;
    assert_eq!(
        only["errors"][0]["extensions"]["code"], "CSRF_FAILED",
        "{only}"
    );
    assert_eq!(refused.sse().await, Said::Complete);
    refused.ended().await;
    let mut stream = open(Some(csrf)).await;
    stream.listening(false).await;
}

//! A real SMTP server inside the test process: enough of RFC 5321 for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) on a loopback port. It keeps what it receives, parsed with
//! `mail-parser`, and can answer a recipient with a chosen reply code, or not listen at
//! all yet (a mail server that is down).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;

/// How long a test waits for a mail before it fails: past a hung attempt (15 s) and its
/// retry.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope recipient (`RCPT TO`).
    pub rcpt: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The decoded text body.
    pub body: String,
}

impl Received {
    /// The one-time token of the link `{app}/{page}#token=…` in the body.
    pub fn token(&self, link_prefix: &str) -> String {
        let start = self
            .body
            .find(link_prefix)
            .unwrap_or_else(|| panic!("no {link_prefix} link in: {}", self.body))
            + link_prefix.len();
        self.body[start..]
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap()
            .to_owned()
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Received>>,
    /// `RCPT TO` commands seen (delivery attempts that got that far).
    attempts: Mutex<Vec<String>>,
    /// Recipients answered with this reply line instead of 250.
    refuse: Mutex<Option<String>>,
    /// Connections are accepted and then never answered (a server that hangs).
    stall: std::sync::atomic::AtomicBool,
    arrived: Notify,
}

pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The port, bound but not listening while the sink is down: connections to it are
    /// refused, and no other test's listener can take it meanwhile (a released port can
    /// be handed out again; a server found there would never greet, and the sender would
    /// wait out its timeout instead of failing at once).
    reserved: Mutex<Option<TcpSocket>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

impl SmtpSink {
    /// A sink listening on a free loopback port.
    pub async fn start() -> Self {
        let sink = Self::down().await;
        sink.come_up().await;
        sink
    }

    /// A port nobody listens on yet: a mail server that is down until [`come_up`].
    pub async fn down() -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let port = socket.local_addr().unwrap().port();
        Self {
            port,
            shared: Arc::default(),
            task: Mutex::new(None),
            reserved: Mutex::new(Some(socket)),
        }
    }

    /// Starts listening on the sink's port.
    pub async fn come_up(&self) {
        let reserved = self.reserved.lock().unwrap().take();
        let listener = match reserved {
            Some(socket) => socket.listen(128).unwrap(),
            None => TcpListener::bind(("127.0.0.1", self.port)).await.unwrap(),
        };
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops listening (connections already open finish).
    pub fn go_down(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    /// `MAIL_URL` for this sink (plain SMTP).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answer every `RCPT TO` with `reply` (e.g. `550 5.1.1 no such user`).
    pub fn refuse_with(&self, reply: &str) {
        *self.shared.refuse.lock().unwrap() = Some(reply.to_owned());
    }

    /// Accept connections but never answer them, until [`accept_again`].
    pub fn stall(&self) {
        self.shared
            .stall
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn accept_again(&self) {
        *self.shared.refuse.lock().unwrap() = None;
        self.shared
            .stall
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn mails(&self) -> Vec<Received> {
        self.shared.mails.lock().unwrap().clone()
    }

    /// How many delivery attempts reached `RCPT TO`.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.lock().unwrap().len()
    }

    /// Waits (up to [`PATIENCE`]) until `n` mails have arrived in all; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let arrived = self.shared.arrived.notified();
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{n} mails expected, {} arrived: {mails:#?}", mails.len());
            }
        }
    }

    /// Waits for the next mail to `to` after the `seen` ones to that address.
    pub async fn next_to(&self, to: &str, seen: usize) -> Received {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let arrived = self.shared.arrived.notified();
            let to_them: Vec<Received> = self
                .mails()
                .into_iter()
                .filter(|m| m.rcpt.eq_ignore_ascii_case(to))
                .collect();
            if let Some(mail) = to_them.get(seen) {
                return mail.clone();
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("no mail #{} to {to}; all: {:#?}", seen + 1, self.mails());
            }
        }
    }

    /// The first mail to `to`.
    pub async fn first_to(&self, to: &str) -> Received {
        self.next_to(to, 0).await
    }

    /// Mails to `to` so far.
    pub fn count_to(&self, to: &str) -> usize {
        self.mails()
            .iter()
            .filter(|m| m.rcpt.eq_ignore_ascii_case(to))
            .count()
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    if shared.stall.load(std::sync::atomic::Ordering::SeqCst) {
        // Hold the connection open and silent; the client's timeout ends it.
        let _held = stream;
        return std::future::pending::<()>().await;
    }
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let reply = |text: &str| format!("{text}\r\n").into_bytes();
    if write
        .write_all(&reply("220 sink ESMTP ready"))
        .await
        .is_err()
    {
        return;
    }
    let mut rcpt: Vec<String> = Vec::new();
    loop {
        let mut line = String::new();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-sink greets you\r\n250-8BITMIME\r\n250 SIZE 1000000".to_owned(),
            "HELO" | "NOOP" => "250 OK".to_owned(),
            "MAIL" => {
                rcpt.clear();
                "250 OK".to_owned()
            }
            "RSET" => {
                rcpt.clear();
                "250 OK".to_owned()
            }
            "RCPT" => {
                let address = command
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_start_matches('<').trim_end_matches('>'))
                    .unwrap_or_default()
                    .to_owned();
                shared.attempts.lock().unwrap().push(address.clone());
                match shared.refuse.lock().unwrap().clone() {
                    Some(refusal) => refusal,
                    None => {
                        rcpt.push(address);
                        "250 OK".to_owned()
                    }
                }
            }
            "DATA" => {
                if write
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut line = String::new();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 §4.5.2).
                    let line = line.strip_prefix('.').unwrap_or(&line);
                    data.extend_from_slice(line.as_bytes());
                }
                let parsed = mail_parser::MessageParser::default()
                    .parse(&data)
                    .expect("a parsable message");
                let first = |a: Option<&mail_parser::Address>| {
                    a.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned()
                };
                let from = first(parsed.from());
                let to = first(parsed.to());
                let subject = parsed.subject().unwrap_or_default().to_owned();
                let body = parsed.body_text(0).unwrap_or_default().into_owned();
                {
                    let mut mails = shared.mails.lock().unwrap();
                    for rcpt in rcpt.drain(..) {
                        mails.push(Received {
                            rcpt,
                            from: from.clone(),
                            to: to.clone(),
                            subject: subject.clone(),
                            body: body.clone(),
                        });
                    }
                }
                shared.arrived.notify_waiters();
                "250 OK queued".to_owned()
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => "502 command not implemented".to_owned(),
        };
        if write.write_all(&reply(&answer)).await.is_err() {
            return;
        }
    }
}

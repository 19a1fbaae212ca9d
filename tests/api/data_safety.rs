//! API.md "Data safety": nothing acknowledged is lost and nothing is acknowledged that did
//! not commit — with the disk full, the file read-only, or the database locked by another
//! process; a write that cannot commit is `SERVICE_UNAVAILABLE` (503, `retryAfter`) at
//! once; the server heals when the cause goes away; `/healthz` tells.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// One `createItem` over HTTP, answered within `limit` or the test fails (no hang).
async fn create_item(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    store: &str,
    name: &str,
    limit: Duration,
) -> (u16, Value) {
    let response = tokio::time::timeout(
        limit,
        client
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&json!({
                "query": CREATE_ITEM,
                "variables": { "input": { "storeId": store, "name": name, "price": "1" } }
            }))
            .send(),
    )
    .await
    .unwrap_or_else(|_| panic!("createItem {name} hung past {limit:?}"))
    .expect("request sent");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.expect("JSON body");
    if status == 503 {
        assert!(retry_after.is_some(), "503 without Retry-After: {body}");
    }
    (status, body)
}

/// What one `createItem` answered: the id it acknowledged, or its refusal.
enum Outcome {
    Acknowledged(i64),
    Unavailable,
}

fn outcome(status: u16, body: &Value) -> Outcome {
    if let Some(id) = body["data"]["createItem"]["id"].as_str() {
        assert_eq!(status, 200, "{body}");
        return Outcome::Acknowledged(id.parse().unwrap());
    }
    assert_eq!(status, 503, "a refused write is a 503: {body}");
    assert_eq!(code(body), "SERVICE_UNAVAILABLE", "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1,
        "{body}"
    );
    Outcome::Unavailable
}

async fn health(app: &TestApp, path: &str) -> u16 {
    app.get_raw(path, &[]).await.status().as_u16()
}

/// Item ids committed to the database, read by a connection of its own (what a restart
/// would find).
fn committed_items(url: &str) -> BTreeSet<i64> {
    let connection = open_file(url);
    let mut statement = connection.prepare("SELECT id FROM items").unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A connection of the test's own to the server's SQLite file; it waits for the server's
/// write lock as another process would.
fn open_file(url: &str) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(sqlite_path(url)).unwrap();
    connection.busy_timeout(Duration::from_secs(5)).unwrap();
    connection
}

fn sqlite_path(url: &str) -> std::path::PathBuf {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap();
    std::path::PathBuf::from(path)
}

/// The database at `url` with a table of `rows` page-sized rows that tests delete to
/// give the server room (a full disk emptied).
fn add_filler(url: &str, rows: usize) {
    let connection = open_file(url);
    connection
        .execute_batch("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
        .unwrap();
    for _ in 0..rows {
        connection
            .execute("INSERT INTO filler (data) VALUES (zeroblob(4000))", [])
            .unwrap();
    }
}

/// Frees about `rows` pages by deleting filler rows, as `rm` of a big file frees a disk.
fn free_filler(url: &str, rows: usize) {
    let connection = open_file(url);
    connection
        .execute(
            "DELETE FROM filler WHERE id IN (SELECT id FROM filler LIMIT ?1)",
            [rows as i64],
        )
        .unwrap();
}

fn page_count(url: &str) -> i64 {
    let connection = open_file(url);
    connection
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .unwrap()
}

/// Concurrent `createItem` writers, each writing until stopped; every answer is an id or
/// `SERVICE_UNAVAILABLE` within 8 s (anything else, or a hang, fails the test).
struct Writers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    outcomes: tokio::sync::mpsc::UnboundedReceiver<Outcome>,
    /// Every id acknowledged so far.
    acknowledged: BTreeSet<i64>,
    /// Held by each write; taken whole while the test itself needs the write lock.
    room: std::sync::Arc<tokio::sync::RwLock<()>>,
}

impl Writers {
    /// `count` writers as `token` into `store`; names padded with `pad` bytes (bigger rows
    /// fill a disk sooner).
    fn start(app: &TestApp, token: &str, store: &str, count: usize, pad: usize) -> Self {
        let (tx, outcomes) = tokio::sync::mpsc::unbounded_channel();
        let room = std::sync::Arc::new(tokio::sync::RwLock::new(()));
        let tasks = (0..count)
            .map(|writer| {
                let (client, base, token, store, tx, room) = (
                    app.client.clone(),
                    app.base.clone(),
                    token.to_owned(),
                    store.to_owned(),
                    tx.clone(),
                    room.clone(),
                );
                tokio::spawn(async move {
                    for n in 0.. {
                        let _writing = room.read().await;
                        let name = format!("w{writer}-{n} {}", "x".repeat(pad));
                        let limit = Duration::from_secs(8);
                        let (status, body) =
                            create_item(&client, &base, &token, &store, &name, limit).await;
                        let outcome = outcome(status, &body);
                        let refused = matches!(outcome, Outcome::Unavailable);
                        if tx.send(outcome).is_err() {
                            return;
                        }
                        if refused {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            tasks,
            outcomes,
            acknowledged: BTreeSet::new(),
            room,
        }
    }

    /// The next answer of any writer: true when it was refused.
    async fn next_refused(&mut self) -> bool {
        match tokio::time::timeout(Duration::from_secs(30), self.outcomes.recv())
            .await
            .expect("writers answer")
            .expect("writers run")
        {
            Outcome::Acknowledged(id) => {
                self.acknowledged.insert(id);
                false
            }
            Outcome::Unavailable => true,
        }
    }

    /// Waits for `n` refusals.
    async fn refused(&mut self, n: usize) {
        let mut refused = 0;
        while refused < n {
            refused += usize::from(self.next_refused().await);
            assert!(self.acknowledged.len() < 5000, "the disk never filled");
        }
    }

    /// Waits for `n` acknowledged writes.
    async fn acknowledged(&mut self, n: usize) {
        let mut acknowledged = 0;
        while acknowledged < n {
            acknowledged += usize::from(!self.next_refused().await);
        }
    }

    /// Stops the writers; what was answered in flight is collected too.
    async fn stop(mut self) -> BTreeSet<i64> {
        for task in &self.tasks {
            task.abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Ok(outcome) = self.outcomes.try_recv() {
            if let Outcome::Acknowledged(id) = outcome {
                self.acknowledged.insert(id);
            }
        }
        self.acknowledged
    }
}

/// The reviewer's reproduction, without mounting anything: the server's connections may
/// not grow the file past its size (`max_page_count`), 16 writers run into the limit, a
/// while later room is made. Every write answers at once — an id or
/// `SERVICE_UNAVAILABLE` — every acknowledged id is committed, `/healthz` says 503 while
/// full and 200 after, and the server takes writes again without a restart.
#[tokio::test]
async fn a_full_disk_refuses_writes_cleanly_loses_nothing_and_heals() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        return; // SQLite's own file; PostgreSQL manages its disk itself.
    }
    let (url, database) = fresh_database().await;
    // A first server migrates and makes the admin and a store.
    let (admin, store) = {
        let first = TestApp::spawn_on(url.clone(), TestDatabase::none(), &[]).await;
        let admin = first.admin("root").await;
        let store = first.store(&admin, "Shop").await;
        (admin, store)
    };
    add_filler(&url, 200);
    let limit = page_count(&url);
    // Room for the start's probe and a few dozen items, then the disk is "full".
    free_filler(&url, 4);
    let app = TestApp::spawn_with_pragmas(
        url.clone(),
        database,
        &[("db-busy-timeout", "2s")],
        vec![("max_page_count".into(), limit.to_string())],
    )
    .await;
    assert_eq!(health(&app, "/healthz").await, 200);

    let mut writers = Writers::start(&app, &admin.access, &store, 16, 0);
    // Until the disk is full: writes are refused, and /healthz says so.
    writers.refused(32).await;
    within(
        Duration::from_secs(3),
        "/healthz says 503 while full",
        || async { health(&app, "/healthz").await == 503 },
    )
    .await;
    assert_eq!(health(&app, "/readyz").await, 503);
    assert_eq!(
        health(&app, "/livez").await,
        200,
        "a full disk is no reason to restart"
    );
    // Reads still work.
    let page = app
        .gql("{ items(first: 1) { totalCount } }", json!({}))
        .await;
    assert!(page["errors"].is_null(), "{page}");

    // Room again: the server heals by itself, writes are acknowledged again. Freeing it
    // takes the write lock, which 16 writers could keep from the test's own connection
    // past its busy timeout: they hold off meanwhile.
    {
        let _freeing = writers.room.write().await;
        free_filler(&url, 150);
    }
    writers.acknowledged(48).await;
    let mut acknowledged = writers.stop().await;
    within(
        Duration::from_secs(3),
        "/healthz says 200 again",
        || async { health(&app, "/healthz").await == 200 },
    )
    .await;
    let (_, body) = create_item(
        &app.client,
        &app.base,
        &admin.access,
        &store,
        "after",
        Duration::from_secs(5),
    )
    .await;
    let Outcome::Acknowledged(last) = outcome(200, &body) else {
        unreachable!()
    };
    acknowledged.insert(last);

    // Every acknowledged write is committed (a restart would find it), and the server
    // counts what the database holds.
    let committed = committed_items(&url);
    assert_nothing_lost(&acknowledged, &committed);
    let total = app
        .gql_as(
            &admin.access,
            "{ items(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        total["data"]["items"]["totalCount"].as_u64().unwrap() as usize,
        committed.len(),
        "{total}"
    );
}

/// Runs `command`, a start that must be refused: its output, once it exited with status 2
/// (a server that starts instead is killed after a while and the test fails).
fn refused_start(command: &mut std::process::Command) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    let output = finished
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            panic!("the server started instead of refusing to")
        });
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    output
}

#[track_caller]
fn assert_nothing_lost(acknowledged: &BTreeSet<i64>, committed: &BTreeSet<i64>) {
    let lost: Vec<_> = acknowledged.difference(committed).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes are not committed, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(10)]
    );
}

/// A start on a database that cannot be written (here `mode=ro`; a `chmod 444` file
/// behaves the same for any user but root) stops with exit 2 and one line naming
/// `DATABASE_URL`, instead of serving reads and failing every write.
#[test]
fn a_database_that_cannot_be_written_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ro.db");
    let migrated = authql_command()
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", file.display()),
        )
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let output = refused_start(
        authql_command()
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=ro", file.display()),
            )
            .env("LISTEN_ADDR", "127.0.0.1:0"),
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("readonly"), "{stderr}");
}

/// API.md Data safety: an unreachable PostgreSQL is reported within 5 s, naming host,
/// port and the reason — not 30 s of silence and "pool timed out".
#[test]
fn an_unreachable_postgres_is_reported_at_once_with_host_port_and_reason() {
    let started = std::time::Instant::now();
    let output = refused_start(
        authql_command()
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
            .env("LISTEN_ADDR", "127.0.0.1:0"),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for part in ["DATABASE_URL", "127.0.0.1:1", "connection refused"] {
        assert!(stderr.contains(part), "{part} missing from {stderr}");
    }
}

/// Another process holds the database's write lock: a write waits `DB_BUSY_TIMEOUT`,
/// then answers `SERVICE_UNAVAILABLE` (503, `retryAfter`) — never a generic error, never
/// a hang — while reads go on; once the lock is released, writes work again.
#[tokio::test]
async fn a_lock_held_by_another_process_is_service_unavailable_after_the_busy_timeout() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        return;
    }
    let app = TestApp::spawn_with(&[("db-busy-timeout", "1s")]).await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let url = app.database_url.clone();
    let holder = std::thread::spawn(move || {
        let connection = open_file(&url);
        connection
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO write_probe (filler) VALUES (x'00');")
            .unwrap();
        locked.send(()).unwrap();
        released.recv().unwrap();
        connection.execute_batch("ROLLBACK").unwrap();
    });
    is_locked.await.unwrap();

    let started = std::time::Instant::now();
    let writes = (0..8).map(|n| {
        let name = format!("locked {n}");
        let (client, base, token, store) = (&app.client, &app.base, &admin.access, &store);
        async move { create_item(client, base, token, store, &name, Duration::from_secs(5)).await }
    });
    for (status, body) in futures_util::future::join_all(writes).await {
        assert!(matches!(outcome(status, &body), Outcome::Unavailable));
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "answered before the busy timeout: {waited:?}"
    );
    let login = app.post_json(&[], &json!({ "query": LOGIN, "variables": { "input": { "username": "root", "password": PASSWORD } } })).await;
    assert_eq!(login.status(), 503);
    let login: Value = login.json().await.unwrap();
    assert_eq!(code(&login), "SERVICE_UNAVAILABLE", "{login}");
    let read = app
        .gql("{ items(first: 5) { nodes { id } } }", json!({}))
        .await;
    assert!(
        read["errors"].is_null(),
        "reads go on beside a writer: {read}"
    );
    assert_eq!(health(&app, "/healthz").await, 503);

    release.send(()).unwrap();
    holder.join().unwrap();
    let (status, body) = create_item(
        &app.client,
        &app.base,
        &admin.access,
        &store,
        "unlocked",
        Duration::from_secs(5),
    )
    .await;
    assert!(matches!(outcome(status, &body), Outcome::Acknowledged(_)));
    within(
        Duration::from_secs(3),
        "/healthz says 200 again",
        || async { health(&app, "/healthz").await == 200 },
    )
    .await;
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// A small tmpfs, or `None` where mounting is not allowed (not root). With
    /// `AUTHQL_TEST_TMPFS=required` (CI, which runs as root) not mounting fails the test.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if mounted {
            return Some(Self(dir));
        }
        if std::env::var("AUTHQL_TEST_TMPFS").is_ok_and(|v| v == "required") {
            panic!("AUTHQL_TEST_TMPFS=required but a tmpfs cannot be mounted here");
        }
        eprintln!(
            "SKIPPED: a real full disk needs `mount -t tmpfs` (root); the max_page_count test still runs"
        );
        None
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Fills the file system at `dir` with one file until it is full; returns the file.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("fill");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // The last partial chunk: fill the remaining bytes one page at a time.
    while file.write_all(&chunk[..4096]).is_ok() {}
    let _ = file.sync_all();
    path
}

/// The reviewer's reproduction on a real full disk (an 8 MiB tmpfs): the database works,
/// the disk fills while 16 writers write, it is freed a while later. Every write answers
/// at once with an id or `SERVICE_UNAVAILABLE`, no acknowledged write is lost, and the
/// server takes writes again without a restart.
#[tokio::test]
async fn a_real_full_disk_loses_nothing_and_the_server_heals() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        return;
    }
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        return;
    };
    let url = format!(
        "sqlite://{}?mode=rwc",
        tmpfs.path().join("full.db").display()
    );
    let app = TestApp::spawn_on(
        url.clone(),
        TestDatabase::none(),
        &[("db-busy-timeout", "2s")],
    )
    .await;
    let admin = app.admin("root").await;
    let store = app.store(&admin, "Shop").await;

    let mut writers = Writers::start(&app, &admin.access, &store, 16, 60);
    writers.acknowledged(50).await;
    let filler = fill(tmpfs.path());
    writers.refused(32).await;
    within(
        Duration::from_secs(3),
        "/healthz says 503 while full",
        || async { health(&app, "/healthz").await == 503 },
    )
    .await;
    assert_eq!(health(&app, "/livez").await, 200);

    std::fs::remove_file(filler).unwrap();
    writers.acknowledged(48).await;
    let acknowledged = writers.stop().await;
    within(
        Duration::from_secs(3),
        "/healthz says 200 again",
        || async { health(&app, "/healthz").await == 200 },
    )
    .await;
    drop(app);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let committed = committed_items(&url);
    assert_nothing_lost(&acknowledged, &committed);
}

//! The `authql` binary: subcommands, exit codes and the startup line.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use serde_json::json;

use crate::helpers::*;

#[test]
fn schema_prints_the_committed_sdl() {
    let output = authql_command().arg("schema").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[test]
fn a_bad_value_stops_the_start_with_exit_2_and_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    for (variable, value) in [
        ("JWT_ACCESS_TOKEN_EXPIRES", "soon"),
        ("JWT_REFRESH_TOKEN_EXPIRES", "5x"),
        ("JWT_ALGORITHM", "none"),
        ("JWT_LEEWAY", "-1s"),
        ("LISTEN_ADDR", "nowhere"),
        ("LOGIN_MAX_FAILURES", "many"),
        ("JWT_TOKEN_LOCATION", "query"),
        ("METRICS_ADDR", "nowhere"),
        ("LOG_FORMAT", "xml"),
        ("MAIL_URL", "http://mail.example.com"),
        ("MAIL_FROM", "not an address"),
        ("APP_URL", "app.example.com"),
        ("PASSWORD_RESET_EXPIRES", "0s"),
        ("EMAIL_VERIFICATION_EXPIRES", "tomorrow"),
        ("REQUIRE_VERIFIED_EMAIL", "perhaps"),
    ] {
        let output = authql_command()
            .env("DATABASE_URL", &db)
            .env(variable, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{variable}={value}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{variable}: {stderr}");
    }
    let output = authql_command()
        .env("DATABASE_URL", &db)
        .env("JWT_ALGORITHM", "RS256")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("JWT_PRIVATE_KEY_FILE")
    );
    let output = authql_command()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("DATABASE_URL")
    );
}

#[test]
fn production_refuses_to_start_without_a_long_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let spaces = " ".repeat(40);
    for secret in [
        None,
        Some("short-secret"),
        Some(spaces.as_str()),
        Some("changeme-changeme-changeme-changeme!"),
    ] {
        let mut command = authql_command();
        command
            .env("DATABASE_URL", &db)
            .env("APP_ENV", "production");
        if let Some(secret) = secret {
            command.env("JWT_SECRET_KEY", secret);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{secret:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("JWT_SECRET_KEY"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1);
    }
}

#[test]
fn production_mail_needs_an_https_app_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    for app_url in [None, Some("http://app.example.com")] {
        let mut command = authql_command();
        command
            .env("DATABASE_URL", &db)
            .env("APP_ENV", "production")
            .env(
                "JWT_SECRET_KEY",
                "a-production-secret-of-more-than-32-bytes-1234",
            )
            .env("MAIL_URL", "smtp://127.0.0.1:2525");
        if let Some(app_url) = app_url {
            command.env("APP_URL", app_url);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{app_url:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("APP_URL"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1);
    }
}

#[test]
fn serve_logs_the_bound_address_and_warns_about_a_random_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut child = authql_command()
        .env("DATABASE_URL", &db)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut warned = false;
    let mut mail_warned = false;
    let mut addr = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        warned |= line.contains("JWT_SECRET_KEY");
        mail_warned |= line.contains("WARN") && line.contains("MAIL_URL");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = Some(rest.trim().to_owned());
            break;
        }
    }
    let addr = addr.expect("listening line");
    assert!(!addr.ends_with(":0"), "{addr}");
    let response = std::net::TcpStream::connect(&addr);
    child.kill().ok();
    child.wait().ok();
    assert!(response.is_ok());
    assert!(warned, "no warning naming JWT_SECRET_KEY");
    assert!(mail_warned, "no warning naming MAIL_URL");
}

#[test]
fn flags_beat_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    // The environment value is invalid; the flag overrides it, so the server starts.
    let mut child = authql_command()
        .env("DATABASE_URL", &db)
        .env("LISTEN_ADDR", "not-an-address")
        .args(["serve", "--listen-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let started = stdout
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("listening on http://"));
    child.kill().ok();
    child.wait().ok();
    assert!(started);
}

fn create_user(db: &str, args: &[&str], password: &str) -> std::process::Output {
    let mut child = authql_command()
        .env("DATABASE_URL", db)
        .arg("create-user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn create_user_makes_an_admin_and_refuses_taken_names_and_bad_passwords() {
    let (db, _guard) = fresh_database().await;
    let output = create_user(
        &db,
        &["--username", "root", "--admin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with("created user root (id ") && stdout.contains("ADMIN"),
        "{stdout}"
    );
    let output = create_user(&db, &["--username", "ROOT"], &format!("{PASSWORD}\n"));
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("taken"), "{stderr}");
    let output = create_user(&db, &["--username", "shorty"], "short\n");
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .to_lowercase()
            .contains("password")
    );

    let app = TestApp::spawn_on(
        db.clone(),
        TestDatabase::Sqlite(tempfile::tempdir().unwrap()),
        &[],
    )
    .await;
    let body = app.login("root", PASSWORD).await;
    assert_eq!(body["data"]["login"]["user"]["role"], "ADMIN", "{body}");

    // An address given by the operator counts as verified; a taken or bad one is refused.
    let output = create_user(
        &db,
        &["--username", "ann", "--email", "Ann@Example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert!(output.status.success(), "{output:?}");
    let ann = Session::from_payload(&app.login("ann", PASSWORD).await["data"]["login"]).unwrap();
    let body = app
        .gql_as(&ann.access, "{ me { email emailVerified } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({ "email": "Ann@Example.com", "emailVerified": true })
    );
    for (email, why) in [("ann@example.com", "in use"), ("nope", "not valid")] {
        let output = create_user(
            &db,
            &["--username", "other", "--email", email],
            &format!("{PASSWORD}\n"),
        );
        assert!(!output.status.success(), "{email}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
}

#[test]
fn dot_env_fills_gaps_but_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-dotenv.db");
    let from_env = dir.path().join("from-env.db");
    std::fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL=sqlite://{}?mode=rwc\n", from_file.display()),
    )
    .unwrap();
    let output = authql_command()
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(from_file.exists(), ".env was not read");
    std::fs::remove_file(&from_file).unwrap();
    let output = authql_command()
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", from_env.display()),
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(from_env.exists(), "the environment did not win");
    assert!(!from_file.exists(), ".env overrode the environment");
}

#[test]
fn a_sqlite_path_of_ones_own_is_created_and_a_missing_directory_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("own.sqlite");
    // An absolute path, no `mode=`: as a user would write it.
    let output = authql_command()
        .env("DATABASE_URL", format!("sqlite://{}", file.display()))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(file.exists());
    let output = authql_command()
        .env(
            "DATABASE_URL",
            format!(
                "sqlite://{}",
                dir.path().join("missing/own.sqlite").display()
            ),
        )
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("directory exist"),
        "{stderr}"
    );
}

/// The configuration docs' table (docs/configuration.md): `VARIABLE` → its default, where
/// it is one value.
fn configuration_docs_defaults() -> std::collections::HashMap<String, String> {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    docs.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (variable, default) = (cells.get(1)?, cells.get(2)?);
            let variable = variable.strip_prefix('`')?.strip_suffix('`')?;
            let default = default.strip_prefix('`')?.strip_suffix('`')?;
            (!variable.contains('`') && !default.contains('`'))
                .then(|| (variable.to_owned(), default.to_owned()))
        })
        .collect()
}

#[test]
fn serve_help_and_the_configuration_docs_agree() {
    let output = authql_command().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    // Booleans are documented once, as the configuration docs have them.
    assert!(!help.contains("possible values: true, false"), "{help}");
    assert!(help.contains("yes/no, on/off"), "{help}");
    let defaults = configuration_docs_defaults();
    assert!(defaults.len() > 20, "{defaults:?}");
    let mut compared = 0;
    let mut env = None;
    for line in help.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("[env: ") {
            env = name.split('=').next().map(str::to_owned);
        }
        if let (Some(default), Some(name)) = (line.strip_prefix("[default: "), &env) {
            // clap quotes a default with spaces: `[default: "authql <no-reply@…>"]`.
            let default = default.trim_end_matches(']').trim_matches('"');
            if let Some(documented) = defaults.get(name) {
                assert_eq!(
                    documented, default,
                    "{name}: docs/configuration.md vs --help"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 15, "only {compared} defaults compared");
    for name in defaults.keys() {
        assert!(
            help.contains(&format!("[env: {name}=")) || name == "RUST_LOG",
            "{name} is in docs/configuration.md but not in --help"
        );
    }
}

/// A port in use is reported before any database work (the database is not created),
/// in one line naming `LISTEN_ADDR` that no log line splits (stdout and stderr into one
/// pipe, as a journal has them).
#[test]
fn a_port_in_use_is_reported_before_the_database_is_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("never.db");
    let binary = env!("CARGO_BIN_EXE_authql");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec {binary} serve 2>&1"))
        .env("LISTEN_ADDR", addr.to_string())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", file.display()),
        )
        .env("RUST_LOG", "trace")
        .env_remove("JWT_SECRET_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        !file.exists(),
        "the database was created before the bind failed"
    );
    let all = String::from_utf8(output.stdout).unwrap();
    let fatal: Vec<&str> = all.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(fatal.len(), 1, "{all}");
    assert!(
        fatal[0].contains("LISTEN_ADDR") && fatal[0].contains(&addr.to_string()),
        "{all}"
    );
    assert!(
        all.ends_with(&format!("{}\n", fatal[0])),
        "the reason is the last line: {all}"
    );
}

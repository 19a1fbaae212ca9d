//! Upgrading a database in place: rows written before a migration move forward and
//! nothing already issued breaks — tokens issued before sessions existed keep working,
//! failed logins counted before attempts replaced them still count.

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::*;

/// A token as the server issued it before sessions: Flask-JWT-Extended's claims, a
/// record by `jti`, no `sid`.
fn old_token(user_id: i32, kind: &str, jti: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": user_id.to_string(), "type": kind, "fresh": kind == "access", "jti": jti,
        "iat": now - 10, "nbf": now - 10, "exp": now + 3600, "role": "USER",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn execute(db: &sea_orm::DatabaseConnection, sql: String) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn rows_and_tokens_from_before_sessions_move_forward() {
    let (database_url, db_guard) = fresh_database().await;
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    // The schema of the first release only.
    migration::Migrator::up(&db, Some(1)).await.unwrap();
    let now = chrono::Utc::now();
    let ts = |t: chrono::DateTime<chrono::Utc>| {
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            format!("'{}'::timestamptz", t.to_rfc3339())
        } else {
            format!("'{}'", t.to_rfc3339())
        }
    };
    // A user as the old server stored one (the password is never checked here).
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$Nmw2R0VhNXZtWWJQT2hJaQ$7q3LZY0z9R9f7Ry0cFmD3iw4yY8hO2vR0rG4OM6xWjQ";
    execute(&db, format!(
        "INSERT INTO users (username, username_lower, password_hash, role, created_at, updated_at) \
         VALUES ('alice', 'alice', '{hash}', 'USER', {n}, {n})", n = ts(now))).await;
    let expires = ts(now + chrono::Duration::hours(1));
    for (jti, kind) in [("old-access", "access"), ("old-refresh", "refresh")] {
        execute(&db, format!(
            "INSERT INTO tokens (jti, user_id, kind, expires_at) VALUES ('{jti}', 1, '{kind}', {expires})")).await;
    }
    // A failed login of bob's from this address, counted by the old table.
    execute(&db, format!(
        "INSERT INTO login_failures (username_lower, client_addr, failed_at) VALUES ('bob', '127.0.0.1', {})",
        ts(now))).await;
    db.close().await.ok();

    // The new server migrates at start.
    let app = TestApp::spawn_on(database_url, db_guard, &[("login-max-failures", "1")]).await;
    let access = old_token(1, "access", "old-access");
    let me = app.gql_as(&access, ME, json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "alice", "{me}");
    // The old refresh token rotates into a session of its own.
    let refreshed = app
        .gql(
            REFRESH,
            json!({ "t": old_token(1, "refresh", "old-refresh") }),
        )
        .await;
    let session = Session::from_payload(&refreshed["data"]["refresh"])
        .unwrap_or_else(|| panic!("{refreshed}"));
    let sessions = app
        .gql_as(&session.access, "{ mySessions { id current } }", json!({}))
        .await;
    assert_eq!(
        sessions["data"]["mySessions"][0]["current"], true,
        "{sessions}"
    );
    // Presented again, it is reuse of a rotated token: that session ends.
    let reuse: Value = app
        .gql(
            REFRESH,
            json!({ "t": old_token(1, "refresh", "old-refresh") }),
        )
        .await;
    assert_code(&reuse, "TOKEN_REVOKED");
    assert_code(
        &app.gql_as(&session.access, ME, json!({})).await,
        "TOKEN_REVOKED",
    );
    // Bob's old failure still takes his one place.
    app.signup("bob").await;
    assert_code(&app.login("bob", PASSWORD).await, "RATE_LIMITED");
}

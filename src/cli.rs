//! The `authql` command line: `serve` (default), `schema`, `migrate`, `create-user`,
//! `mail-outbox`, `reset-mfa`.

use std::io::BufRead;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db;
use crate::domain::{Email, Password, Role, Username};
use crate::service::revocations::Origin;
use crate::service::{ServiceError, sessions};

#[derive(Parser, Debug)]
#[command(name = "authql", version, about = "GraphQL auth server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How `serve`'s values are written (shown under `authql serve --help`, as in docs/configuration.md).
const SERVE_NOTES: &str =
    "Every flag is also an environment variable (shown as [env: …]); a flag beats \
the environment, which beats .env, which beats the default.
BOOL values: true/false, yes/no, on/off or 1/0; a BOOL flag given without a value means true.
Durations: 30s, 15m, 1h or 7d; a bare number means minutes.
SQLite: sqlite://authql.db (relative) or sqlite:///var/lib/authql/authql.db (absolute); the \
file is created when missing (add ?mode=rw to refuse that).";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    #[command(after_help = SERVE_NOTES)]
    Serve(Box<Config>),
    /// Print the SDL to stdout.
    Schema,
    /// Apply migrations and exit.
    Migrate {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://authql.db?mode=rwc"
        )]
        database_url: String,
    },
    /// Create a user; the password is read from stdin (one line).
    CreateUser {
        #[arg(long)]
        username: String,
        /// Give the user the ADMIN role.
        #[arg(long)]
        admin: bool,
        /// The user's email address; it counts as verified (an operator gave it).
        #[arg(long)]
        email: Option<String>,
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://authql.db?mode=rwc"
        )]
        database_url: String,
    },
    /// Print the unsent mails as JSON lines {"to", "subject", "body", "queuedAt"} (without
    /// MAIL_URL, this is where a reset link is found).
    MailOutbox {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://authql.db?mode=rwc"
        )]
        database_url: String,
    },
    /// Remove a user's second factor and recovery codes (a lost authenticator); the user
    /// is mailed, and logs in with the password alone afterwards.
    ResetMfa {
        #[arg(long)]
        username: String,
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://authql.db?mode=rwc"
        )]
        database_url: String,
    },
}

impl Cli {
    /// Parses `args`, inserting `serve` when no subcommand is named (flags only, or none).
    pub fn parse_with_default<I: IntoIterator<Item = String>>(
        args: I,
    ) -> Result<Self, clap::Error> {
        let mut args: Vec<String> = args.into_iter().collect();
        let needs_serve = match args.get(1).map(String::as_str) {
            None => true,
            Some("-h" | "--help" | "-V" | "--version") => false,
            Some(first) => first.starts_with('-'),
        };
        if needs_serve {
            args.insert(1.min(args.len()), "serve".to_owned());
        }
        Self::try_parse_from(args)
    }
}

/// A `create-user` failure: one line for stderr.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("{0}")]
    Input(String),
    #[error("username is already taken")]
    Taken,
    #[error("{0}")]
    Other(String),
}

/// `authql create-user`: validates, hashes and inserts; the same rules as `signup`.
pub async fn create_user(
    username: &str,
    admin: bool,
    email: Option<&str>,
    database_url: &str,
    stdin: impl BufRead,
) -> Result<entity::user::Model, CreateUserError> {
    let username = Username::parse(username).map_err(|e| CreateUserError::Input(e.reason))?;
    let email = email
        .map(Email::parse)
        .transpose()
        .map_err(|e| CreateUserError::Input(format!("email: {}", e.reason)))?;
    let mut line = String::new();
    let mut stdin = stdin;
    stdin
        .read_line(&mut line)
        .map_err(|e| CreateUserError::Input(format!("cannot read the password from stdin: {e}")))?;
    let raw = line.strip_suffix('\n').unwrap_or(&line);
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let password =
        Password::parse(raw, "password").map_err(|e| CreateUserError::Input(e.reason))?;
    let db = db::connect(database_url, &Default::default())
        .await
        .map_err(|why| CreateUserError::Other(format!("DATABASE_URL: {why}")))?;
    db::migrate(&db)
        .await
        .map_err(|e| CreateUserError::Other(format!("DATABASE_URL: cannot migrate: {e}")))?;
    let passwords = crate::auth::password::Passwords::new(0);
    let account = sessions::NewAccount {
        username: &username,
        email: email.as_ref(),
        password: &password,
        role: if admin { Role::Admin } else { Role::User },
    };
    let client = sessions::ClientInfo::default();
    match sessions::create_account(&db, Origin::OUTSIDE, &passwords, account, &client).await {
        Ok(user) => Ok(user),
        Err(ServiceError::UsernameTaken) => Err(CreateUserError::Taken),
        Err(ServiceError::Conflict { message, .. }) => Err(CreateUserError::Input(message.into())),
        Err(e) => Err(CreateUserError::Other(e.to_string())),
    }
}

/// `authql mail-outbox`: the unsent mails, oldest first, one JSON object per line.
pub async fn mail_outbox(
    database_url: &str,
    mut out: impl std::io::Write,
) -> Result<usize, String> {
    let db = db::connect(database_url, &Default::default())
        .await
        .map_err(|why| format!("DATABASE_URL: {why}"))?;
    db::migrate(&db)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot migrate: {e}"))?;
    let mails = crate::service::mail::unsent(&db)
        .await
        .map_err(|e| format!("cannot read the mail outbox: {e}"))?;
    for mail in &mails {
        let line = serde_json::json!({
            "to": mail.to_address,
            "subject": mail.subject,
            "body": mail.body,
            "queuedAt": mail.queued_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"))?;
    }
    Ok(mails.len())
}

/// `authql reset-mfa`: removes the second factor of `username` (ignoring case). Running
/// servers hear of it through the change notices, as of any other instance's write.
pub async fn reset_mfa(username: &str, database_url: &str) -> Result<(), String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let username = Username::parse(username).map_err(|e| format!("username: {}", e.reason))?;
    let db = db::connect(database_url, &Default::default())
        .await
        .map_err(|why| format!("DATABASE_URL: {why}"))?;
    db::migrate(&db)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot migrate: {e}"))?;
    let user = entity::user::Entity::find()
        .filter(entity::user::Column::UsernameLower.eq(username.lower()))
        .one(&db)
        .await
        .map_err(|e| format!("cannot read the user: {e}"))?
        .ok_or_else(|| format!("no user named {}", username.as_str()))?;
    let client = sessions::ClientInfo::default();
    crate::service::mfa::reset(&db, Origin::OUTSIDE, user.id, None, &client)
        .await
        .map_err(|e| format!("cannot reset the second factor: {e}"))?;
    Ok(())
}

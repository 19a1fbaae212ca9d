use std::io::Write;
use std::process::ExitCode;

use authql::cli::{Cli, Command};
use authql::startup::Application;

/// Exit status for a configuration problem found at start (API.md Configuration).
const EXIT_CONFIG: u8 = 2;

/// Writes `error: {message}` to stderr as one line in one write, so no log line (written
/// to stdout by the log thread, often into the same journal) can land in the middle of it.
fn fatal(message: impl std::fmt::Display, status: u8) -> ExitCode {
    let line = format!("error: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    ExitCode::from(status)
}

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` fills gaps only: real environment variables and flags win.
    let _ = dotenvy::dotenv();
    let cli = match Cli::parse_with_default(std::env::args()) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                return ExitCode::SUCCESS;
            }
            // One line that names the variable: clap's value name is the variable's name,
            // except for BOOL values, whose flag names it (`--require-verified-email`).
            let rendered = error.to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            let variable = error
                .get(clap::error::ContextKind::InvalidArg)
                .map(|arg| arg.to_string())
                .and_then(|arg| {
                    let flag = arg.strip_prefix("--")?.split([' ', '=']).next()?.to_owned();
                    Some(flag.to_uppercase().replace('-', "_"))
                })
                .filter(|variable| !line.contains(variable.as_str()));
            return match variable {
                Some(variable) => fatal(format!("{variable}: {line}"), EXIT_CONFIG),
                None => fatal(line, EXIT_CONFIG),
            };
        }
    };
    match cli.command {
        Command::Schema => {
            print!("{}", authql::graphql::schema::sdl());
            ExitCode::SUCCESS
        }
        Command::Migrate { database_url } => {
            let _log = authql::telemetry::init("info", Default::default());
            let result = async {
                let db = authql::db::connect(&database_url, &Default::default()).await?;
                authql::db::migrate(&db)
                    .await
                    .map_err(|e| authql::db::explain(&database_url, &e))
            }
            .await;
            match result {
                Ok(()) => {
                    println!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(why) => fatal(format!("DATABASE_URL: {why}"), EXIT_CONFIG),
            }
        }
        Command::CreateUser {
            username,
            admin,
            email,
            database_url,
        } => {
            let stdin = std::io::stdin().lock();
            let email = email.as_deref();
            match authql::cli::create_user(&username, admin, email, &database_url, stdin).await {
                Ok(user) => {
                    println!(
                        "created user {} (id {}, {})",
                        user.username, user.id, user.role
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => fatal(error, 1),
            }
        }
        Command::MailOutbox { database_url } => {
            match authql::cli::mail_outbox(&database_url, std::io::stdout().lock()).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(why) => fatal(why, 1),
            }
        }
        Command::ResetMfa {
            username,
            database_url,
        } => match authql::cli::reset_mfa(&username, &database_url).await {
            Ok(()) => {
                println!("the second factor of {username} was removed");
                ExitCode::SUCCESS
            }
            Err(why) => fatal(why, 1),
        },
        Command::Serve(config) => {
            let log = authql::telemetry::init(&config.rust_log, config.log_format);
            let app = match Application::build(*config).await {
                Ok(app) => app,
                Err(error) => {
                    // The log lines written so far go out first, then the reason.
                    drop(log);
                    return fatal(error, EXIT_CONFIG);
                }
            };
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    drop(log);
                    fatal(format!("server failed: {error}"), 1)
                }
            }
        }
    }
}

use std::process::ExitCode;

use authql::cli::{Cli, Command};
use authql::startup::Application;

/// Exit status for a configuration problem found at start (API.md Configuration).
const EXIT_CONFIG: u8 = 2;

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
            // One line that names the variable (clap's value name is the variable name).
            let rendered = error.to_string();
            eprintln!(
                "{}",
                rendered
                    .lines()
                    .next()
                    .unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(EXIT_CONFIG);
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
                Err(why) => {
                    eprintln!("error: DATABASE_URL: {why}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::CreateUser {
            username,
            admin,
            database_url,
        } => {
            let stdin = std::io::stdin().lock();
            match authql::cli::create_user(&username, admin, &database_url, stdin).await {
                Ok(user) => {
                    println!(
                        "created user {} (id {}, {})",
                        user.username, user.id, user.role
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(config) => {
            let _log = authql::telemetry::init(&config.rust_log, config.log_format);
            let app = match Application::build(*config).await {
                Ok(app) => app,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: server failed: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

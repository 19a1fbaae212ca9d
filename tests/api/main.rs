//! One integration test binary: every module talks to a real server over HTTP.

mod helpers;

mod cli;
mod guards;
mod http_surface;
mod refresh_logout;
mod schema_sync;
mod signup_login;
mod tokens;
mod users;

//! One integration test binary: every module talks to a real server over HTTP.

mod helpers;

mod cli;
mod guards;
mod http_surface;
mod items;
mod pagination;
mod refresh_logout;
mod schema_rules;
mod schema_sync;
mod signup_login;
mod stores;
mod tokens;
mod users;

//! One integration test binary: every module talks to a real server over HTTP.

mod helpers;
mod smtp_sink;

mod audit;
mod cli;
mod connections;
mod cookies_csrf;
mod data_safety;
mod docs;
mod guards;
mod http_surface;
mod input_rules;
mod instances;
mod items;
mod keys;
mod limits;
mod login_limiting;
mod mail;
mod metrics;
mod operations;
mod pagination;
mod production;
mod recovery;
mod refresh_logout;
mod response_cache;
mod response_order;
mod schema_rules;
mod schema_sync;
mod sessions;
mod signup_login;
mod stores;
mod subscriptions;
mod tokens;
mod transport;
mod upgrade;
mod users;

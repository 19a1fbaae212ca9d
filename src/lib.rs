//! authql: a GraphQL auth server. `main.rs` is a thin shell over this library; tests and
//! benches use [`startup::Application`] to run the real server.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod service;
pub mod startup;
pub mod state;
pub mod telemetry;

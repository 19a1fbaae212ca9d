//! authql: a GraphQL auth server. `main.rs` is a thin shell over this library; tests and
//! benches use [`startup::Application`] to run the real server.
//!
//! The modules, from the top floor down (each imports only from those below it):
//!
//! - [`cli`], [`config`] — the command line and the typed configuration;
//! - [`startup`], [`state`] — building and running the server, and what requests share;
//! - [`http`] — the edge: accept loop, routes and layers, GraphQL over HTTP and WebSocket;
//! - [`graphql`] — the schema, its limits and execution, the auth context and guards;
//! - [`service`] — use cases and data access: the auth workflows, the revocation view,
//!   one module per aggregate;
//! - [`auth`] — mechanics only: tokens and keys, passwords, credentials, auth errors;
//! - [`domain`], [`events`], [`db`], [`telemetry`], [`metrics`], [`error_code`] — validated
//!   inputs, the item event bus, the connection, logging, Prometheus metrics, the wire
//!   error codes.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error_code;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod state;
pub mod telemetry;

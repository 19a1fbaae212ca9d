//! The GraphQL layer: the schema's roots and types, the request's auth context and guards,
//! the limits applied before execution, and `ApiError`, the only error type clients see.
//! Resolvers parse their input into domain types, call a service and map the result.

pub mod cacheable;
pub mod context;
pub mod cookies;
pub mod documents;
pub mod error_codes;
pub mod errors;
pub mod execution;
pub mod guards;
pub mod inputs;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod public_fields;
pub mod query;
pub mod schema;
pub mod subscription;
pub mod trusted;
pub mod types;

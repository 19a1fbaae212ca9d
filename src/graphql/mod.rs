//! The GraphQL schema: roots, types, inputs, errors.

pub mod error_codes;
pub mod errors;
pub mod execution;
pub mod inputs;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod public_fields;
pub mod query;
pub mod schema;
pub mod subscription;
pub mod types;

use async_graphql::Context;

use crate::graphql::errors::ApiError;
use crate::state::AppState;

/// The application state attached to the schema.
pub fn state<'a>(ctx: &Context<'a>) -> Result<&'a AppState, ApiError> {
    ctx.data::<AppState>().map_err(|_| {
        tracing::error!("BUG: AppState is not attached to the schema");
        ApiError::Internal
    })
}

/// The client's address as the HTTP layer saw it (peer, or `X-Forwarded-For` when trusted).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

//! The schema: one builder for the server, `authql schema`, `GET /schema.graphql` and the
//! schema-sync test, so the SDL cannot drift from what is served.

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

use crate::graphql::error_codes::ErrorCodes;
use crate::graphql::loaders::Loaders;
use crate::graphql::{mutation::Mutation, query::Query};
use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Parser recursion is bounded well above the depth limit, so deep documents are refused
/// by the depth rule (`GRAPHQL_VALIDATION_FAILED`) rather than by the parser.
const PARSER_RECURSION_LIMIT: usize = 512;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription)
        .extension(ErrorCodes)
        .limit_recursive_depth(PARSER_RECURSION_LIMIT)
}

/// The schema the server executes, with the configured limits and production switches.
pub fn build(state: AppState) -> AppSchema {
    let config = state.config.clone();
    let mut builder = builder()
        .data(Loaders::new(&state.db))
        .data(state)
        .limit_depth(config.graphql_max_depth)
        .limit_complexity(config.graphql_max_complexity);
    if !config.introspection_enabled() {
        builder = builder.disable_introspection();
    }
    if !config.suggestions_enabled() {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The SDL (`schema.graphql`).
pub fn sdl() -> String {
    builder().finish().sdl()
}

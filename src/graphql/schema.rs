//! The schema: one builder for the server, `authql schema`, `GET /schema.graphql` and the
//! schema-sync test, so the SDL cannot drift from what is served.

use async_graphql::{Schema, SchemaBuilder};

use crate::graphql::execution::Executor;
use crate::graphql::limits::{Limits, RECURSION_LIMIT};
use crate::graphql::loaders::Loaders;
use crate::graphql::{mutation::Mutation, query::Query, subscription::Subscription};
use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription).limit_recursive_depth(RECURSION_LIMIT)
}

/// The schema the server executes, with the production switches. It has no extensions:
/// limits and error codes are applied around execution (`graphql::execution`), because
/// any installed extension routes every field through async-graphql's extension chain.
pub fn build(state: AppState) -> AppSchema {
    let config = state.config.clone();
    let mut builder = builder().data(Loaders::new(&state.db)).data(state);
    if !config.introspection_enabled() {
        builder = builder.disable_introspection();
    }
    if !config.suggestions_enabled() {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The executor the HTTP and WebSocket handlers share: the schema and its limits.
pub fn executor(state: AppState) -> Executor {
    let limits = Limits::new(&state.config, &sdl());
    Executor::new(build(state), limits)
}

/// The SDL (`schema.graphql`).
pub fn sdl() -> String {
    builder().finish().sdl()
}

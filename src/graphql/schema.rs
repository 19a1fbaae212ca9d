//! The schema: one builder for the server, `authql schema`, `GET /schema.graphql` and the
//! schema-sync test, so the SDL cannot drift from what is served.

use async_graphql::{Schema, SchemaBuilder, ServerError, parser::types::ExecutableDocument};

use crate::config::Config;

use crate::graphql::limits::RECURSION_LIMIT;
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

/// Validates a document against the schema the server runs (with its suggestions switch,
/// which words the messages) without running it: trusted documents, once at load.
pub fn validator(config: &Config) -> Validator {
    let mut builder = builder();
    if !config.suggestions_enabled() {
        builder = builder.disable_suggestions();
    }
    let schema = builder.finish();
    Box::new(move |document| schema.validate(document))
}

/// See [`validator`].
pub type Validator = Box<dyn Fn(&ExecutableDocument) -> Result<(), Vec<ServerError>> + Send + Sync>;

/// The SDL (`schema.graphql`): async-graphql's, plus what it leaves out of the SDL but
/// still reports through introspection — the built-in `Float` scalar (always registered)
/// and `@deprecated` (unused here). Tools that read the SDL fill such gaps with their own
/// versions, which differ (graphql-js's `@deprecated` has another location), and would
/// then see a schema that is not the one introspection describes.
pub fn sdl() -> String {
    let sdl = builder().finish().sdl();
    let first_directive = sdl
        .find("\"\"\"\nDirects the executor to include")
        .unwrap_or(sdl.len());
    let (types, directives) = sdl.split_at(first_directive);
    format!("{types}{FLOAT}\n{DEPRECATED}{directives}")
}

const FLOAT: &str = r#""""
The `Float` scalar type represents signed double-precision fractional values as specified by [IEEE 754](https://en.wikipedia.org/wiki/IEEE_floating_point).
"""
scalar Float
"#;

const DEPRECATED: &str = r#""""
Marks an element of a GraphQL schema as no longer supported.
"""
directive @deprecated(
	"""
	A reason for why it is deprecated, formatted using Markdown syntax
	"""
	reason: String = "No longer supported"
) on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
"#;

//! The schema: one builder for the server, `authql schema`, `GET /schema.graphql` and the
//! schema-sync test, so the SDL cannot drift from what is served.

use std::sync::Arc;

use async_graphql::{
    Pos, Positioned, Request, Schema, SchemaBuilder, ServerError, ServerResult,
    async_trait::async_trait,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest},
    parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet},
};

use crate::config::Config;
use crate::graphql::error_codes::{ErrorCodes, VALIDATION_FAILED};
use crate::graphql::loaders::Loaders;
use crate::graphql::{mutation::Mutation, query::Query, subscription::Subscription};
use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// async-graphql's recursion check (selection sets, inline fragments and fragment spreads
/// nested in one another) is bounded well above the depth limit, so deep documents are
/// refused by the depth rule (`GRAPHQL_VALIDATION_FAILED`). The parser itself stops at 64
/// nested selection sets (`GRAPHQL_PARSE_FAILED`); this bound is what stops a chain of
/// fragments spreading one another, and [`Precheck`] applies it before async-graphql does.
const PARSER_RECURSION_LIMIT: usize = 512;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
        .extension(ErrorCodes)
        .limit_recursive_depth(PARSER_RECURSION_LIMIT)
}

/// The schema the server executes, with the configured limits and production switches.
pub fn build(state: AppState) -> AppSchema {
    let config = state.config.clone();
    let mut builder = builder()
        .data(Loaders::new(&state.db))
        .data(state)
        .extension(Precheck::new(&config))
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

const TOO_DEEP: &str = "Query is nested too deep.";
const TOO_COMPLEX: &str = "Query is too complex.";

/// Refuses, before async-graphql checks a document, what its own checks only notice after
/// unbounded work, or not at all:
///
/// - Its recursion check and its depth and complexity rules expand every fragment spread
///   where it occurs, with no memo: fragments that each spread the next one twice expand
///   to 2^n selections from a few kilobytes (and a cycle that doubles never ends), holding
///   a worker thread for good. Here the expansion is counted and stopped at a budget of
///   twice the complexity limit; every field but `__typename` costs at least 1 in
///   complexity, and a connection only multiplies what is under it, so no document the
///   complexity rule admits has more fields than that.
/// - Its complexity rule multiplies in plain `usize` (`first * child_complexity`) and is
///   computed before the depth limit is compared: 50 levels of `items { nodes { store {
///   items …` nest 17 connections of 20, an overflow (a panic in debug builds, a wrap to a
///   small number in release). Refusing the depth here first keeps the product far from
///   `usize::MAX`: at depth 15 at most five connections nest, 100^5 times at most twice
///   the complexity limit in fields. (Connection weights also saturate, see
///   `types::connection::weigh`, so a larger `GRAPHQL_MAX_DEPTH` cannot overflow either.)
/// - Aliases let one operation run any number of mutations (each `signup` or `login` is
///   an Argon2 hash), and complexity counts a mutation field as 1. A mutation may select
///   as many root fields as a batch may hold operations (`GRAPHQL_MAX_BATCH`).
/// - With introspection disabled, async-graphql still validates `__schema` and `__type`
///   and answers them with `null`; API.md has them refused, so they are refused here.
///
/// The document parsed here is handed on, so it is parsed once; one that does not parse
/// is left to async-graphql, which reports the parse error.
#[derive(Clone, Copy)]
struct Precheck {
    max_depth: usize,
    max_selections: usize,
    max_root_mutations: usize,
    introspection: bool,
}

impl Precheck {
    fn new(config: &Config) -> Self {
        Self {
            max_depth: config.graphql_max_depth,
            max_selections: config.graphql_max_complexity.saturating_mul(2),
            max_root_mutations: config.graphql_max_batch,
            introspection: config.introspection_enabled(),
        }
    }

    fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        for (_, operation) in document.operations.iter() {
            let mut walk = Walk {
                document,
                limits: self,
                budget: self.max_selections,
                spreading: Vec::new(),
                mutation: operation.node.ty == OperationType::Mutation,
                root_fields: 0,
            };
            walk.selection_set(&operation.node.selection_set, 0, 0)?;
        }
        Ok(())
    }
}

impl ExtensionFactory for Precheck {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait]
impl Extension for Precheck {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(document) = async_graphql::parser::parse_query(&request.query) {
            self.check(&document)?;
            request.set_parsed_query(document);
        }
        next.run(ctx, request).await
    }
}

/// One operation's selections with fragments expanded, stopped at the first limit crossed.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    limits: &'a Precheck,
    /// Selections (fields, spreads, inline fragments) still allowed.
    budget: usize,
    /// The fragments being expanded, outermost first.
    spreading: Vec<&'a str>,
    mutation: bool,
    root_fields: usize,
}

impl<'a> Walk<'a> {
    /// `depth` counts fields as the depth rule does (`__typename` is not counted);
    /// `nesting` counts as async-graphql's recursion check does.
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        depth: usize,
        nesting: usize,
    ) -> ServerResult<()> {
        if nesting > PARSER_RECURSION_LIMIT {
            return Err(refused(TOO_DEEP.to_owned(), set.pos));
        }
        for selection in &set.node.items {
            self.budget = self
                .budget
                .checked_sub(1)
                .ok_or_else(|| refused(TOO_COMPLEX.to_owned(), selection.pos))?;
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name == "__typename" {
                        continue;
                    }
                    if !self.limits.introspection && (name == "__schema" || name == "__type") {
                        return Err(refused(
                            "Introspection is disabled.".to_owned(),
                            selection.pos,
                        ));
                    }
                    if depth == 0 && self.mutation {
                        self.root_fields += 1;
                        if self.root_fields > self.limits.max_root_mutations {
                            return Err(refused(
                                format!(
                                    "Too many mutations in one operation: at most {}.",
                                    self.limits.max_root_mutations
                                ),
                                selection.pos,
                            ));
                        }
                    }
                    if depth + 1 > self.limits.max_depth {
                        return Err(refused(TOO_DEEP.to_owned(), selection.pos));
                    }
                    self.selection_set(&field.node.selection_set, depth + 1, nesting + 1)?;
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set, depth, nesting + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    // An unknown fragment is reported by validation.
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    if self.spreading.contains(&name) {
                        return Err(refused(
                            format!("Cannot spread fragment \"{name}\" within itself."),
                            selection.pos,
                        ));
                    }
                    self.spreading.push(name);
                    self.selection_set(&fragment.node.selection_set, depth, nesting + 1)?;
                    self.spreading.pop();
                }
            }
        }
        Ok(())
    }
}

fn refused(message: String, pos: Pos) -> ServerError {
    let mut error = ServerError::new(message, Some(pos));
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", VALIDATION_FAILED);
    error
}

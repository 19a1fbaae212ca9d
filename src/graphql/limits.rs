//! Operation limits, checked on the parsed document before anything runs (API.md
//! "Limits", after GraphQL Armor's set): depth, complexity, aliases, directives, mutation
//! root fields, and introspection when it is off. A batch is budgeted as a whole: its
//! operations' complexity, aliases, directives and mutation root fields are summed.
//!
//! Complexity: every field costs 1 plus what it selects, except a connection (a field with
//! a `first` argument returning a `…Connection`), which costs what it selects times
//! `first` (default 20, within 1–100). Depth counts nested fields, `__typename` excluded.
//!
//! The walk expands fragment spreads where they occur — that is what executes — within a
//! budget of twice the complexity limit in selections, so fragments that spread one
//! another twice per level (2^n selections from a few kilobytes) are refused after a
//! bounded amount of work instead of holding a thread.

use std::collections::HashMap;

use async_graphql::{
    Name, Pos, Positioned, ServerError, Variables,
    parser::types::{
        BaseType, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
        SelectionSet, ServiceDocument, TypeKind, TypeSystemDefinition,
    },
};

use async_graphql_value::{ConstValue, Value};

use crate::config::Config;
use crate::domain::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::error_code::ErrorCode;

/// async-graphql's own recursion bound (selection sets, inline fragments and spreads nested
/// in one another), applied here first; the parser itself stops at 64 nested sets.
pub const RECURSION_LIMIT: usize = 512;

const TOO_DEEP: &str = "Query is nested too deep.";
const TOO_COMPLEX: &str = "Query is too complex.";

/// What one operation costs against the request's budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub complexity: usize,
    pub aliases: usize,
    pub directives: usize,
    pub root_mutations: usize,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, other: Cost) -> Cost {
        Cost {
            complexity: self.complexity.saturating_add(other.complexity),
            aliases: self.aliases + other.aliases,
            directives: self.directives + other.directives,
            root_mutations: self.root_mutations + other.root_mutations,
        }
    }
}

/// The configured limits plus the shape of the schema they are computed on.
pub struct Limits {
    max_depth: usize,
    max_complexity: usize,
    max_aliases: usize,
    max_directives: usize,
    max_root_mutations: usize,
    introspection: bool,
    types: TypeMap,
}

impl Limits {
    /// `sdl` is the served schema (`schema::sdl()`), read once for field types.
    pub fn new(config: &Config, sdl: &str) -> Self {
        Self {
            max_depth: config.graphql_max_depth,
            max_complexity: config.graphql_max_complexity,
            max_aliases: config.graphql_max_aliases,
            max_directives: config.graphql_max_directives,
            max_root_mutations: config.graphql_max_batch,
            introspection: config.introspection_enabled(),
            types: TypeMap::from_sdl(sdl),
        }
    }

    /// Checks every operation of `document` for what no operation may do, and returns the
    /// cost of the one the request selects (or of the costliest, when it selects none —
    /// execution will then refuse it anyway). Every operation is walked, because
    /// async-graphql's own validation expands every operation too, and the selection
    /// budget is shared by the whole document: thousands of operations each spreading a
    /// large fragment are refused after a bounded walk, not validated at length.
    pub fn check(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Result<Cost, ServerError> {
        let mut selected = None;
        let mut costliest = Cost::default();
        let mut budget = self.max_complexity.saturating_mul(2);
        let single = matches!(
            document.operations,
            async_graphql::parser::types::DocumentOperations::Single(_)
        );
        for (name, operation) in document.operations.iter() {
            let cost = self.operation(document, &operation.node, variables, &mut budget)?;
            self.within(cost)?;
            let chosen = match operation_name {
                Some(wanted) => name.is_some_and(|n| n.as_str() == wanted),
                None => single,
            };
            if chosen {
                selected = Some(cost);
            }
            if cost.complexity >= costliest.complexity {
                costliest = cost;
            }
        }
        Ok(selected.unwrap_or(costliest))
    }

    /// The budget a whole request (one operation, or a batch summed) must stay within.
    pub fn within(&self, cost: Cost) -> Result<(), ServerError> {
        if cost.complexity > self.max_complexity {
            return Err(refused(TOO_COMPLEX.to_owned(), None));
        }
        if cost.aliases > self.max_aliases {
            return Err(refused(
                format!(
                    "Too many aliases: at most {} per request.",
                    self.max_aliases
                ),
                None,
            ));
        }
        if cost.directives > self.max_directives {
            return Err(refused(
                format!(
                    "Too many directives: at most {} per request.",
                    self.max_directives
                ),
                None,
            ));
        }
        if cost.root_mutations > self.max_root_mutations {
            return Err(refused(
                format!(
                    "Too many mutations in one request: at most {}.",
                    self.max_root_mutations
                ),
                None,
            ));
        }
        Ok(())
    }

    fn operation(
        &self,
        document: &ExecutableDocument,
        operation: &OperationDefinition,
        variables: &Variables,
        budget: &mut usize,
    ) -> Result<Cost, ServerError> {
        let root = match operation.ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
        };
        let mut walk = Walk {
            document,
            operation,
            variables,
            limits: self,
            budget: *budget,
            spreading: Vec::new(),
            cost: Cost {
                directives: operation.directives.len()
                    + operation
                        .variable_definitions
                        .iter()
                        .map(|v| v.node.directives.len())
                        .sum::<usize>(),
                ..Cost::default()
            },
        };
        let complexity =
            walk.selection_set(&operation.selection_set, Some(root), 0, 0, operation.ty)?;
        walk.cost.complexity = complexity;
        *budget = walk.budget;
        Ok(walk.cost)
    }
}

/// One operation's selections with fragments expanded, stopped at the first limit crossed.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
    variables: &'a Variables,
    limits: &'a Limits,
    /// Selections (fields, spreads, inline fragments) still allowed.
    budget: usize,
    /// The fragments being expanded, outermost first.
    spreading: Vec<&'a str>,
    cost: Cost,
}

impl<'a> Walk<'a> {
    /// Returns the complexity of `set` selected on `parent` (`None`: a type the schema
    /// map does not know, such as introspection's). `depth` counts fields as the depth
    /// rule does; `nesting` counts as async-graphql's recursion check does.
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        parent: Option<&'a str>,
        depth: usize,
        nesting: usize,
        ty: OperationType,
    ) -> Result<usize, ServerError> {
        if nesting > RECURSION_LIMIT {
            return Err(refused(TOO_DEEP.to_owned(), Some(set.pos)));
        }
        let mut complexity: usize = 0;
        for selection in &set.node.items {
            self.budget = self
                .budget
                .checked_sub(1)
                .ok_or_else(|| refused(TOO_COMPLEX.to_owned(), Some(selection.pos)))?;
            let cost = match &selection.node {
                Selection::Field(field) => {
                    self.field(field, parent, depth, nesting, ty, selection.pos)?
                }
                Selection::InlineFragment(fragment) => {
                    self.cost.directives += fragment.node.directives.len();
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .or(parent);
                    self.selection_set(&fragment.node.selection_set, on, depth, nesting + 1, ty)?
                }
                Selection::FragmentSpread(spread) => {
                    self.cost.directives += spread.node.directives.len();
                    let name = spread.node.fragment_name.node.as_str();
                    // An unknown fragment is reported by validation.
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    if self.spreading.contains(&name) {
                        return Err(refused(
                            format!("Cannot spread fragment \"{name}\" within itself."),
                            Some(selection.pos),
                        ));
                    }
                    self.cost.directives += fragment.node.directives.len();
                    self.spreading.push(name);
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    let cost = self.selection_set(
                        &fragment.node.selection_set,
                        Some(on),
                        depth,
                        nesting + 1,
                        ty,
                    )?;
                    self.spreading.pop();
                    cost
                }
            };
            complexity = complexity.saturating_add(cost);
        }
        Ok(complexity)
    }

    fn field(
        &mut self,
        field: &'a Positioned<Field>,
        parent: Option<&'a str>,
        depth: usize,
        nesting: usize,
        ty: OperationType,
        pos: Pos,
    ) -> Result<usize, ServerError> {
        let name = field.node.name.node.as_str();
        self.cost.directives += field.node.directives.len();
        if field.node.alias.is_some() {
            self.cost.aliases += 1;
        }
        if name == "__typename" {
            return Ok(1);
        }
        if !self.limits.introspection && (name == "__schema" || name == "__type") {
            return Err(refused("Introspection is disabled.".to_owned(), Some(pos)));
        }
        if depth == 0 && ty == OperationType::Mutation {
            self.cost.root_mutations += 1;
        }
        if depth + 1 > self.limits.max_depth {
            return Err(refused(TOO_DEEP.to_owned(), Some(pos)));
        }
        // Fail as soon as one operation alone is over a count limit.
        self.limits.within(Cost {
            complexity: 0,
            ..self.cost
        })?;
        let shape = parent.and_then(|p| self.limits.types.field(p, name));
        let children = self.selection_set(
            &field.node.selection_set,
            shape.map(|s| s.type_name.as_str()),
            depth + 1,
            nesting + 1,
            ty,
        )?;
        Ok(match shape {
            Some(shape) if shape.connection => self.first(&field.node).saturating_mul(children),
            _ => children.saturating_add(1),
        })
    }

    /// The page size a connection field asks for: its `first` argument (a literal, or a
    /// variable given or defaulted), else the default; kept within 1–100 as paging does.
    fn first(&self, field: &Field) -> usize {
        let value = field
            .arguments
            .iter()
            .find(|(name, _)| name.node == "first")
            .map(|(_, value)| &value.node);
        let number = match value {
            Some(Value::Variable(variable)) => self
                .variables
                .get(variable)
                .cloned()
                .or_else(|| self.default_of(variable)),
            Some(value) => value.clone().into_const(),
            None => None,
        };
        let first = match number {
            Some(ConstValue::Number(n)) => n.as_i64(),
            _ => None,
        };
        first
            .unwrap_or(i64::from(DEFAULT_PAGE_SIZE))
            .clamp(1, i64::from(MAX_PAGE_SIZE)) as usize
    }

    fn default_of(&self, variable: &Name) -> Option<ConstValue> {
        self.operation
            .variable_definitions
            .iter()
            .find(|definition| definition.node.name.node == *variable)
            .and_then(|definition| definition.node.default_value.as_ref())
            .map(|value| value.node.clone())
    }
}

/// Field name → the named type it returns, per object type of the served schema.
struct TypeMap(HashMap<String, HashMap<String, FieldShape>>);

struct FieldShape {
    type_name: String,
    connection: bool,
}

impl TypeMap {
    fn from_sdl(sdl: &str) -> Self {
        let document: ServiceDocument =
            async_graphql::parser::parse_schema(sdl).expect("BUG: the schema's own SDL parses");
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let TypeKind::Object(object) = definition.node.kind else {
                continue;
            };
            let fields = object
                .fields
                .into_iter()
                .map(|field| {
                    let type_name = named(&field.node.ty.node.base);
                    let connection = type_name.ends_with("Connection")
                        && field
                            .node
                            .arguments
                            .iter()
                            .any(|argument| argument.node.name.node == "first");
                    (
                        field.node.name.node.to_string(),
                        FieldShape {
                            type_name,
                            connection,
                        },
                    )
                })
                .collect();
            types.insert(definition.node.name.node.to_string(), fields);
        }
        Self(types)
    }

    fn field(&self, parent: &str, name: &str) -> Option<&FieldShape> {
        self.0.get(parent)?.get(name)
    }
}

fn named(base: &BaseType) -> String {
    match base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => named(&inner.base),
    }
}

/// A `GRAPHQL_VALIDATION_FAILED` error.
pub fn refused(message: String, pos: Option<Pos>) -> ServerError {
    let mut error = ServerError::new(message, pos);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::GraphqlValidationFailed.as_str());
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let config = Wrapper::parse_from(["authql"]).config;
        Limits::new(&config, &crate::graphql::schema::sdl())
    }

    fn cost(query: &str, variables: serde_json::Value) -> Result<Cost, ServerError> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        limits().check(&document, None, &Variables::from_json(variables))
    }

    #[test]
    fn connections_multiply_and_fields_add() {
        let page = "{ items(first: 100) { nodes { id owner { username } } pageInfo { hasNextPage } totalCount } }";
        // nodes: 1 + (id 1 + owner 1 + username 1) = 4; pageInfo 2; totalCount 1 → 7 × 100.
        assert_eq!(cost(page, serde_json::json!({})).unwrap().complexity, 700);
        let by_variable = "query($n: Int = 5) { items(first: $n) { totalCount } }";
        assert_eq!(
            cost(by_variable, serde_json::json!({})).unwrap().complexity,
            5
        );
        assert_eq!(
            cost(by_variable, serde_json::json!({ "n": 7 }))
                .unwrap()
                .complexity,
            7
        );
        let defaulted = "{ stores { nodes { items { totalCount } } } }";
        assert_eq!(
            cost(defaulted, serde_json::json!({})).unwrap().complexity,
            20 * (1 + 20)
        );
    }

    #[test]
    fn aliases_directives_and_mutations_are_counted_where_they_execute() {
        let query = "mutation { a: logout b: logout @include(if: true) ...F ...F } fragment F on Mutation { c: logout }";
        let cost = cost(query, serde_json::json!({})).unwrap();
        assert_eq!(
            (cost.aliases, cost.directives, cost.root_mutations),
            (4, 1, 4)
        );
    }
}

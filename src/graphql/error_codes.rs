//! Gives every error async-graphql produces itself an `extensions.code` (our own errors
//! carry theirs already): a document that does not parse is `GRAPHQL_PARSE_FAILED` with a
//! one-line message; a validation failure `GRAPHQL_VALIDATION_FAILED` — including a
//! wrongly typed *literal*, as the spec's "Values of Correct Type" rule has it — while the
//! same mistake made through a *variable* is `BAD_USER_INPUT` naming the field; anything
//! else left uncoded is `INTERNAL_SERVER_ERROR`.
//!
//! Done on the response after execution, not in a schema extension: installing any
//! extension routes every field of every request through async-graphql's extension chain.

use async_graphql::{
    Pos, Positioned, Response, ServerError,
    parser::types::{self as parser, ExecutableDocument, Selection, SelectionSet},
};
use async_graphql_value::Value;

use crate::error_code::ErrorCode;

/// The error's `extensions.code`, if it has one of ours.
pub fn code_of(error: &ServerError) -> Option<ErrorCode> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => ErrorCode::parse(code),
        _ => None,
    }
}

/// Whether the error already carries a code (any: an unknown one is left alone too).
fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|extensions| extensions.get("code").is_some())
}

/// An error of ours, with its code.
pub fn coded(message: impl Into<String>, code: ErrorCode) -> ServerError {
    let mut error = ServerError::new(message, None);
    set_code(&mut error, code);
    error
}

fn set_code(error: &mut ServerError, code: ErrorCode) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
}

/// A subscription sent over plain HTTP (API.md "Subscriptions over HTTP"): it needs a
/// stream, or a WebSocket.
pub fn subscription_needs_a_stream() -> ServerError {
    let mut error = ServerError::new(
        "A subscription over HTTP needs `Accept: text/event-stream` (GraphQL over SSE) or \
         `Accept: multipart/mixed;subscriptionSpec=1.0` (multipart subscriptions); \
         or run it over the WebSocket at /graphql/ws",
        None,
    );
    set_code(&mut error, ErrorCode::GraphqlValidationFailed);
    error
}

/// A parse error, worded on one line as graphql-js words it (`Syntax Error: …`); the
/// position goes in `locations`. The parser's own message is a multi-line drawing.
pub fn parse_error(error: async_graphql::parser::Error) -> ServerError {
    let positions: Vec<Pos> = error.positions().collect();
    let message = match &error {
        async_graphql::parser::Error::Syntax { message, .. } => {
            let reason = message
                .lines()
                .rev()
                .find_map(|line| line.trim().strip_prefix("= "))
                .unwrap_or("unexpected input");
            format!("Syntax Error: {reason}")
        }
        other => format!("Syntax Error: {other}"),
    };
    let mut error = ServerError::new(message, positions.first().copied());
    set_code(&mut error, ErrorCode::GraphqlParseFailed);
    error
}

/// Where the document passes a variable to an argument: a wrong value there is the
/// client's input (`BAD_USER_INPUT`), not a malformed document.
#[derive(Debug, Default, Clone)]
pub struct VariableArguments(Vec<Pos>);

impl VariableArguments {
    pub fn of(document: &ExecutableDocument) -> Self {
        let mut positions = Vec::new();
        for (_, operation) in document.operations.iter() {
            for directive in &operation.node.directives {
                collect_arguments(&directive.node.arguments, &mut positions);
            }
            collect(&operation.node.selection_set, &mut positions);
        }
        for fragment in document.fragments.values() {
            collect(&fragment.node.selection_set, &mut positions);
        }
        Self(positions)
    }

    fn contains(&self, pos: Pos) -> bool {
        self.0.contains(&pos)
    }
}

fn collect(set: &Positioned<SelectionSet>, positions: &mut Vec<Pos>) {
    for selection in &set.node.items {
        let (directives, inner) = match &selection.node {
            Selection::Field(field) => {
                collect_arguments(&field.node.arguments, positions);
                (&field.node.directives, Some(&field.node.selection_set))
            }
            Selection::InlineFragment(fragment) => (
                &fragment.node.directives,
                Some(&fragment.node.selection_set),
            ),
            Selection::FragmentSpread(spread) => (&spread.node.directives, None),
        };
        for directive in directives {
            collect_arguments(&directive.node.arguments, positions);
        }
        if let Some(inner) = inner {
            collect(inner, positions);
        }
    }
}

fn collect_arguments(
    arguments: &[(Positioned<async_graphql::Name>, Positioned<Value>)],
    positions: &mut Vec<Pos>,
) {
    for (name, value) in arguments {
        if uses_variable(&value.node) {
            positions.push(name.pos);
        }
    }
}

fn uses_variable(value: &Value) -> bool {
    match value {
        Value::Variable(_) => true,
        Value::List(items) => items.iter().any(uses_variable),
        Value::Object(fields) => fields.values().any(uses_variable),
        _ => false,
    }
}

/// `Invalid value for argument "input.price", …` → `price`.
fn offending_field(message: &str) -> Option<String> {
    let quoted = message.split('"').nth(1)?;
    let last = quoted.rsplit('.').next()?;
    let bare = last.split('[').next()?;
    (!bare.is_empty()).then(|| bare.trim_start_matches('$').to_owned())
}

/// Codes every uncoded error of `response`.
pub fn code_errors(response: &mut Response, variables: &VariableArguments) {
    let before_execution = failed_before_execution(response);
    for error in &mut response.errors {
        if has_code(error) {
            continue;
        }
        if let Some(name) = undefined_variable(&error.message).map(str::to_owned) {
            set_code(error, ErrorCode::BadUserInput);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("field", name);
            continue;
        }
        // A value of the wrong shape for its input type, met while executing: literals
        // fail validation first, so this one came through a variable.
        if error.message.starts_with("Expected input type") {
            set_code(error, ErrorCode::BadUserInput);
            continue;
        }
        let wrong_value = error.message.starts_with("Invalid value for argument");
        let from_variable = !before_execution
            || error
                .locations
                .first()
                .is_some_and(|pos| variables.contains(*pos));
        if (wrong_value && from_variable) || error.message.starts_with("Failed to parse") {
            set_code(error, ErrorCode::BadUserInput);
            // "Failed to parse" names a type, not a field; only argument paths name fields.
            if let Some(field) = wrong_value
                .then(|| offending_field(&error.message))
                .flatten()
            {
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("field", field);
            }
        } else if error.path.is_empty() {
            set_code(error, ErrorCode::GraphqlValidationFailed);
        } else {
            // Whatever async-graphql said (a missing context entry, a panic's text) is for
            // the log, not the client.
            tracing::error!(message = %error.message, "uncoded error during execution");
            error.message = "Internal server error".to_owned();
            set_code(error, ErrorCode::InternalServerError);
        }
    }
}

/// GraphQL's CoerceVariableValues: a variable of a non-null type without a default that
/// the request leaves out or sends as `null` is a request error — `BAD_USER_INPUT` naming
/// the variable, and nothing runs. (async-graphql looks variables up only when a field
/// that uses one executes: it would answer half the data and an uncoded error, or pass
/// `null` on to a nullable argument without a word.)
pub fn missing_required_variable(
    operation: &Positioned<parser::OperationDefinition>,
    variables: &async_graphql::Variables,
) -> Option<ServerError> {
    operation
        .node
        .variable_definitions
        .iter()
        .find_map(|definition| {
            let definition = &definition.node;
            let required = !definition.var_type.node.nullable && definition.default_value.is_none();
            let given = variables.get(&definition.name.node);
            let message = match given {
                _ if !required => return None,
                None => "was not provided",
                Some(async_graphql::Value::Null) => "must not be null",
                Some(_) => return None,
            };
            let name = definition.name.node.as_str();
            let mut error = ServerError::new(
                format!(
                    "Variable \"${name}\" of required type \"{}\" {message}.",
                    definition.var_type.node
                ),
                Some(definition.name.pos),
            );
            set_code(&mut error, ErrorCode::BadUserInput);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("field", name);
            Some(error)
        })
}

/// `Variable x is not defined.`: async-graphql's words at execution for a variable it
/// could not find (what [`missing_required_variable`] leaves to it) → `x`.
fn undefined_variable(message: &str) -> Option<&str> {
    message
        .strip_prefix("Variable ")?
        .strip_suffix(" is not defined.")
        .filter(|name| !name.contains(['"', '$', ' ']))
}

/// True when the request failed before execution (no `data` to report).
pub fn failed_before_execution(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offending_field_is_the_bare_name() {
        assert_eq!(
            offending_field(r#"Invalid value for argument "input.price", expected type "Decimal""#),
            Some("price".into())
        );
        assert_eq!(
            offending_field(r#"Invalid value for argument "first", expected type "Int""#),
            Some("first".into())
        );
    }

    #[test]
    fn a_parse_error_is_one_line() {
        let error = parse_error(async_graphql::parser::parse_query("{ me { ").unwrap_err());
        assert!(
            error.message.starts_with("Syntax Error: "),
            "{}",
            error.message
        );
        assert!(!error.message.contains('\n'), "{}", error.message);
        assert_eq!(error.locations.len(), 1);
    }
}

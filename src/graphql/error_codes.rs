//! Gives every error an `extensions.code`: parse failures are `GRAPHQL_PARSE_FAILED`,
//! validation failures (limits, disabled introspection, unknown operation names)
//! `GRAPHQL_VALIDATION_FAILED`, a value of the wrong type `BAD_USER_INPUT` with the field,
//! and anything else that slipped through uncoded `INTERNAL_SERVER_ERROR`.

use std::sync::Arc;

use async_graphql::{
    Response, ServerError, ServerResult, ValidationResult, Variables,
    async_trait::async_trait,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
    },
    parser::types::ExecutableDocument,
};

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// Schema extension that codes errors produced by async-graphql itself.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn code_of(error: &ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

fn set_code(error: &mut ServerError, code: &str) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// `Invalid value for argument "input.price", …` → `price`.
fn offending_field(message: &str) -> Option<String> {
    let quoted = message.split('"').nth(1)?;
    let last = quoted.rsplit('.').next()?;
    let bare = last.split('[').next()?;
    (!bare.is_empty()).then(|| bare.trim_start_matches('$').to_owned())
}

/// Codes an error async-graphql produced without one.
pub fn classify(error: &mut ServerError) {
    if code_of(error).is_some() {
        return;
    }
    if error.message.starts_with("Invalid value for argument")
        || error.message.starts_with("Failed to parse")
    {
        set_code(error, "BAD_USER_INPUT");
        // "Failed to parse" names a type, not a field; only argument paths name fields.
        let field = error
            .message
            .starts_with("Invalid value for argument")
            .then(|| offending_field(&error.message))
            .flatten();
        if let Some(field) = field {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("field", field);
        }
    } else if error.path.is_empty() {
        set_code(error, VALIDATION_FAILED);
    } else {
        set_code(error, "INTERNAL_SERVER_ERROR");
    }
}

/// True when the request failed before execution (no `data` to report).
pub fn failed_before_execution(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

#[async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors.iter_mut().for_each(classify);
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut error| {
            set_code(&mut error, PARSE_FAILED);
            error
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            // A wrongly typed argument is also reported by the complexity rule when it
            // evaluates `first`; keep only the report that names the field.
            let duplicate = |e: &ServerError| e.message.starts_with("Expected input type");
            if errors.iter().any(|e| !duplicate(e)) {
                errors.retain(|e| !duplicate(e));
            }
            errors.iter_mut().for_each(classify);
            errors
        })
    }
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
}

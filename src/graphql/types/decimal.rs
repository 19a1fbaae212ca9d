//! The `Decimal` scalar: exact money. Accepted as a string (`"12.5"`) or a JSON number,
//! never through a binary float; always returned as a string with two decimals (`"12.50"`).

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An exact decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// Exact decimal: a string such as "12.50" (a JSON number is accepted too). Returned as a
/// string with two decimals.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        let text = match &value {
            Value::String(text) => text.trim().to_owned(),
            // serde_json keeps the literal's shortest exact rendering ("0.1", "12.5").
            Value::Number(number) => number.to_string(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        let valid_syntax = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
        if !valid_syntax {
            return Err(InputValueError::custom(format!(
                "\"{text}\" is not a decimal number"
            )));
        }
        rust_decimal::Decimal::from_str_exact(&text)
            .map(Decimal)
            .map_err(|_| InputValueError::custom(format!("\"{text}\" is not a decimal number")))
    }

    /// Checked during validation too, so a bad literal or variable is reported against
    /// its argument path (`input.price`) before anything runs.
    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        let mut decimal = self.0;
        decimal.rescale(2);
        Value::String(decimal.to_string())
    }
}

impl FromStr for Decimal {
    type Err = rust_decimal::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        rust_decimal::Decimal::from_str_exact(s).map(Decimal)
    }
}

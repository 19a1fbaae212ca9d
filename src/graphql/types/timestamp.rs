//! The `DateTime` scalar: a point in time as RFC 3339 text in UTC with millisecond
//! precision (`2026-11-29T05:41:20.825Z`) — what JavaScript's `Date` parses and prints,
//! rather than chrono's default of up to nanoseconds and a `+00:00` offset.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// A point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at)
    }
}

/// A point in time: RFC 3339 text in UTC with millisecond precision, e.g.
/// "2026-11-29T05:41:20.825Z" (JavaScript: `new Date(value)`).
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| Self(at.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("\"{text}\" is not RFC 3339"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_utc_with_exactly_milliseconds() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-29T06:41:20.825792+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            DateTime(at).to_value(),
            Value::String("2026-11-29T05:41:20.825Z".into())
        );
        let whole = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(
            DateTime(whole).to_value(),
            Value::String("2027-01-15T08:00:00.000Z".into())
        );
    }
}

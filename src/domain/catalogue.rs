use rust_decimal::{Decimal, prelude::ToPrimitive};

use super::{InputError, without_nul};

/// A store or item name: trimmed (Unicode whitespace), then 1–80 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let name = without_nul(raw, "name")?.trim();
        let len = name.chars().count();
        if !(1..=80).contains(&len) {
            return Err(InputError::new(
                "name",
                "Name must be 1 to 80 characters long",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of the case-insensitive unique index.
    pub fn lower(&self) -> String {
        self.0.to_lowercase()
    }
}

/// An item description: at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        if without_nul(raw, "description")?.chars().count() > 2000 {
            return Err(InputError::new(
                "description",
                "Description must be at most 2000 characters long",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An item search: a case-insensitive substring of the name, at most 100 characters
/// (a longer one matches no name an item may have, and costs the database a scan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search(String);

impl Search {
    /// `None` for an empty search: no filter.
    pub fn parse(raw: &str) -> Result<Option<Self>, InputError> {
        if without_nul(raw, "search")?.chars().count() > 100 {
            return Err(InputError::new(
                "search",
                "Search must be at most 100 characters long",
            ));
        }
        Ok((!raw.is_empty()).then(|| Self(raw.to_owned())))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A price: 0 ≤ p ≤ 1,000,000,000 with at most 2 decimal places once trailing zeros are
/// dropped; held as an exact number of cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(i64);

const MAX_PRICE_CENTS: i64 = 100_000_000_000;

impl Price {
    pub fn parse(value: Decimal) -> Result<Self, InputError> {
        let normalized = value.normalize();
        if normalized.scale() > 2 {
            return Err(InputError::new(
                "price",
                "Price may have at most 2 decimal places",
            ));
        }
        if normalized.is_sign_negative() && !normalized.is_zero() {
            return Err(InputError::new("price", "Price must not be negative"));
        }
        let cents = normalized
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|cents| cents.to_i64())
            .filter(|cents| (0..=MAX_PRICE_CENTS).contains(cents))
            .ok_or_else(|| InputError::new("price", "Price must be between 0 and 1000000000"))?;
        Ok(Self(cents))
    }

    pub fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// Always two decimals: `"12.50"`.
    pub fn to_decimal(self) -> Decimal {
        let mut decimal = Decimal::new(self.0, 2);
        decimal.rescale(2);
        decimal
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn price(raw: &str) -> Result<Price, InputError> {
        Price::parse(Decimal::from_str(raw).unwrap())
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("\u{3000} Shop \t").unwrap().as_str(), "Shop");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"é".repeat(80)).is_ok());
        assert!(Name::parse(&"é".repeat(81)).is_err());
    }

    #[test]
    fn prices_keep_two_places_exactly() {
        assert_eq!(price("12.5").unwrap().to_decimal().to_string(), "12.50");
        assert_eq!(price("1.230").unwrap().cents(), 123);
        assert_eq!(price("0").unwrap().to_decimal().to_string(), "0.00");
        assert_eq!(price("-0").unwrap().cents(), 0);
        assert_eq!(price("1000000000").unwrap().cents(), MAX_PRICE_CENTS);
        assert!(price("1.234").is_err());
        assert!(price("-0.01").is_err());
        assert!(price("1000000000.01").is_err());
        assert_eq!(
            (price("0.10").unwrap().cents() + price("0.20").unwrap().cents()),
            30
        );
    }
}

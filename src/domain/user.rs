use super::{InputError, without_nul};

/// 3–32 characters of `A–Z a–z 0–9 _ . -`; compared ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let len = raw.chars().count();
        if !(3..=32).contains(&len) {
            return Err(InputError::new(
                "username",
                "Username must be 3 to 32 characters long",
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(InputError::new(
                "username",
                "Username may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of the case-insensitive unique index.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// 8–128 characters; never stored, only hashed.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// `field` names the input field in the error (`password`, `newPassword`).
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, InputError> {
        let len = without_nul(raw, field)?.chars().count();
        if !(8..=128).contains(&len) {
            return Err(InputError::new(
                field,
                "Password must be 8 to 128 characters long",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Trimmed; one `@` between a non-empty local part and a domain containing a dot; ≤ 254.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        Self::parse_field(raw, "email")
    }

    /// As [`parse`](Self::parse), for an argument named `field` (`newEmail`).
    pub fn parse_field(raw: &str, field: &'static str) -> Result<Self, InputError> {
        let email = without_nul(raw, field)?.trim();
        let invalid = || InputError::new(field, "Email address is not valid");
        // One bare address (addr-spec): no display name, brackets, quotes, comments or
        // lists, which a mail library would read as another recipient than the one stored
        // (and counted against the mail limits).
        let special = |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c);
        if email.chars().count() > 254 || email.chars().any(special) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || domain.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn lower(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A one-time token as a client typed or pasted it: surrounding whitespace dropped, no
/// NUL, at most 512 characters (API.md Input rules). Whether it is a live token is the
/// service's question.
pub struct OneTimeToken(String);

impl std::fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeToken(***)")
    }
}

impl OneTimeToken {
    pub const MAX_CHARS: usize = 512;

    pub fn parse(raw: &str, field: &'static str) -> Result<Self, InputError> {
        let token = without_nul(raw, field)?.trim();
        if token.chars().count() > Self::MAX_CHARS {
            return Err(InputError::new(field, "At most 512 characters"));
        }
        Ok(Self(token.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_input_rules() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("A.b_c-9").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        for bad in ["ab", "", "with space", "émile", "a@b", &"a".repeat(33)] {
            let err = Username::parse(bad).unwrap_err();
            assert_eq!(err.field, "username", "{bad:?}");
        }
        assert_eq!(Username::parse("AbC").unwrap().lower(), "abc");
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(Password::parse("12345678", "password").is_ok());
        assert!(Password::parse(&"p".repeat(128), "password").is_ok());
        assert!(Password::parse("1234567", "password").is_err());
        assert_eq!(
            Password::parse(&"p".repeat(129), "newPassword")
                .unwrap_err()
                .field,
            "newPassword"
        );
    }

    #[test]
    fn emails_need_one_at_and_a_dotted_domain() {
        assert_eq!(Email::parse("  a@b.co ").unwrap().as_str(), "a@b.co");
        for bad in [
            "",
            "a",
            "@b.co",
            "a@b",
            "a@@b.co",
            "a@b@c.co",
            "a b@c.co",
            "a@.co",
            "x<victim@b.co>",
            "<victim@b.co>",
            "\"a\"@b.co",
            "a@b.co,c@d.co",
            "a(c)@b.co",
            "a@[1.2.3.4]",
            "a;b@c.co",
            "a\\b@c.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
        assert_eq!(
            Email::parse_field("x", "newEmail").unwrap_err().field,
            "newEmail"
        );
    }

    #[test]
    fn one_time_tokens_are_trimmed_and_bounded() {
        assert_eq!(
            OneTimeToken::parse(" abc\n", "token").unwrap().expose(),
            "abc"
        );
        assert!(OneTimeToken::parse(&"t".repeat(512), "token").is_ok());
        for bad in ["a\0b".to_owned(), "t".repeat(513)] {
            assert_eq!(
                OneTimeToken::parse(&bad, "token").unwrap_err().field,
                "token"
            );
        }
    }
}

// The database stores `as_str()`.
/// A user's role: USER (every signup) or ADMIN (made with `authql create-user --admin`, or
/// by another admin with `setUserRole`).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Admin => "ADMIN",
        }
    }

    /// Unknown strings read as the least privileged role.
    pub fn from_db(raw: &str) -> Self {
        if raw == "ADMIN" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

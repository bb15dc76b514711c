//! Account names and passwords, as accepted at registration and login.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidValue;

/// A participant's username: 2 to 32 characters of `a-z`, `0-9` and `_`, unique on the node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "ada_l", pattern = "^[a-z0-9_]{2,32}$")]
pub struct Username(String);

impl Username {
    /// The username as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        if (2..=32).contains(&value.len()) && value.chars().all(allowed) {
            Ok(Self(value))
        } else {
            Err(InvalidValue(format!(
                "invalid username '{value}': use 2 to 32 characters of a-z, 0-9 and '_'"
            )))
        }
    }
}

impl From<Username> for String {
    fn from(username: Username) -> Self {
        username.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest accepted password, in bytes: hashing cost grows with length, and no passphrase
/// needs more.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as typed; checked for length against `accounts.min_password_chars` where it is
/// set, never printed.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, format = Password)]
pub struct Password(String);

impl Password {
    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Fails when it is shorter than `min_chars` characters.
    pub fn require_length(&self, min_chars: usize) -> Result<(), InvalidValue> {
        if self.0.chars().count() < min_chars {
            Err(InvalidValue(format!(
                "the password is too short: use at least {min_chars} characters"
            )))
        } else {
            Ok(())
        }
    }
}

impl TryFrom<String> for Password {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.len() > MAX_PASSWORD_BYTES {
            Err(InvalidValue(format!(
                "the password is too long: at most {MAX_PASSWORD_BYTES} bytes"
            )))
        } else {
            Ok(Self(value))
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_pattern_and_passwords_do_not_print() {
        for good in ["ab", "ada_l", "x2", &"a".repeat(32)] {
            assert!(Username::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["a", "Ada", "ada-l", "", &"a".repeat(33), "ädä"] {
            assert!(Username::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        let password = Password::try_from("correct horse".to_owned())
            .unwrap_or_else(|_| Password(String::new()));
        assert!(!format!("{password:?}").contains("horse"));
        assert!(password.require_length(10).is_ok());
        assert!(password.require_length(20).is_err());
        assert!(Password::try_from("x".repeat(2000)).is_err());
    }
}

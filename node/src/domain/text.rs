//! Bounded free-text fields. Limits match the CHECK constraints of the schema.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidValue;

/// Declares a text newtype whose length in characters lies in `min..=max`.
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $label:literal, $min:literal, $max:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(try_from = "String", into = "String")]
        $(#[$meta])*
        pub struct $name(String);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Takes the text out.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                let length = value.chars().count();
                if $min > 0 && value.trim().is_empty() {
                    return Err(InvalidValue(format!("{} must not be empty", $label)));
                }
                if value.contains('\0') {
                    return Err(InvalidValue(format!("{} must not contain NUL characters", $label)));
                }
                if length > $max {
                    return Err(InvalidValue(format!(
                        "{} is too long: {length} characters, at most {} allowed",
                        $label, $max
                    )));
                }
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

bounded_text! {
    /// An artifact title.
    #[schema(value_type = String, min_length = 1, max_length = 500, pattern = "\\S")]
    Title, "title", 1, 500
}
bounded_text! {
    /// An artifact body, in Markdown.
    #[derive(Default)]
    #[schema(value_type = String, max_length = 100000)]
    Body, "body", 0, 100000
}
bounded_text! {
    /// A convergence name.
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "\\S")]
    Name, "name", 1, 200
}
bounded_text! {
    /// A convergence description.
    #[derive(Default)]
    #[schema(value_type = String, max_length = 10000)]
    Description, "description", 0, 10000
}
bounded_text! {
    /// The free-form author of an artifact.
    #[schema(value_type = String, max_length = 200)]
    Author, "author", 0, 200
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_in_characters() {
        assert!(Title::try_from("é".repeat(500)).is_ok());
        assert!(Title::try_from("é".repeat(501)).is_err());
        assert!(Title::try_from("   ".to_owned()).is_err());
        assert!(Body::try_from(String::new()).is_ok());
        assert!(Body::try_from("a\0b".to_owned()).is_err());
    }
}

//! URL-safe convergence slugs.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidValue;

/// A convergence slug: 1 to 64 characters of `a-z`, `0-9` and `-`, starting and ending with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "boulder-2026", pattern = "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
pub struct Slug(String);

impl Slug {
    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        let valid = (1..=64).contains(&value.len())
            && value.chars().all(allowed)
            && !value.starts_with('-')
            && !value.ends_with('-');
        if valid {
            Ok(Self(value))
        } else {
            Err(InvalidValue(format!(
                "invalid slug '{value}': use 1 to 64 characters of a-z, 0-9 and '-', \
                 starting and ending with a letter or digit"
            )))
        }
    }
}

/// Whether `text` can name a convergence: a local [`Slug`], or `slug@host[:port]` for one
/// mirrored from another node.
pub fn names_convergence(text: &str) -> bool {
    let (slug, instance) = match text.split_once('@') {
        Some((slug, instance)) => (slug, Some(instance)),
        None => (text, None),
    };
    let instance_ok = instance.is_none_or(|instance| {
        (1..=260).contains(&instance.len())
            && instance
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-:".contains(c))
    });
    instance_ok && Slug::try_from(slug.to_owned()).is_ok()
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convergence_names_are_slugs_with_an_optional_instance() {
        assert!(names_convergence("ideas"));
        assert!(names_convergence("ideas@localhost:8081"));
        assert!(names_convergence("ideas@lemmy.ml"));
        assert!(!names_convergence("ideas@"));
        assert!(!names_convergence("Ideas@host"));
        assert!(!names_convergence("ideas@host/x"));
    }

    #[test]
    fn accepts_url_safe_slugs_only() {
        for good in ["a", "boulder-2026", "x1-y2"] {
            assert!(Slug::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "Upper", "sp ace", "ü", &"a".repeat(65)] {
            assert!(Slug::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}

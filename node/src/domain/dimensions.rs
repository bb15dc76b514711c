//! Dimension tags: normalised names with weights.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{InvalidValue, Weight};

/// The most dimension tags one artifact may carry.
pub const MAX_DIMENSIONS_PER_ARTIFACT: usize = 64;

/// A dimension name: trimmed, lower-case, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "food-security")]
pub struct DimensionName(String);

impl DimensionName {
    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DimensionName {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let normalised = value.trim().to_lowercase();
        let length = normalised.chars().count();
        if length == 0 || length > 100 {
            return Err(InvalidValue(format!(
                "dimension name '{value}' must have 1 to 100 characters"
            )));
        }
        if normalised.chars().any(char::is_control) {
            return Err(InvalidValue(format!(
                "dimension name '{}' contains control characters",
                value.escape_debug()
            )));
        }
        Ok(Self(normalised))
    }
}

impl From<DimensionName> for String {
    fn from(name: DimensionName) -> Self {
        name.0
    }
}

impl fmt::Display for DimensionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The dimension set of one artifact: at most [`MAX_DIMENSIONS_PER_ARTIFACT`] names, each once
/// after normalisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "HashMap<String, Weight>", into = "BTreeMap<String, f64>")]
#[schema(value_type = HashMap<String, f64>, example = json!({"food-security": 0.8, "land-use": 0.4}))]
pub struct Dimensions(BTreeMap<DimensionName, Weight>);

impl Dimensions {
    /// The tags, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&DimensionName, Weight)> {
        self.0.iter().map(|(name, weight)| (name, *weight))
    }

    /// The number of tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds a set from already validated parts (database rows).
    pub fn from_validated(tags: impl IntoIterator<Item = (DimensionName, Weight)>) -> Self {
        Self(tags.into_iter().collect())
    }
}

impl TryFrom<HashMap<String, Weight>> for Dimensions {
    type Error = InvalidValue;

    fn try_from(raw: HashMap<String, Weight>) -> Result<Self, Self::Error> {
        if raw.len() > MAX_DIMENSIONS_PER_ARTIFACT {
            return Err(InvalidValue(format!(
                "too many dimensions: {}, at most {MAX_DIMENSIONS_PER_ARTIFACT} allowed",
                raw.len()
            )));
        }
        let mut tags = BTreeMap::new();
        for (name, weight) in raw {
            let name = DimensionName::try_from(name)?;
            if tags.contains_key(&name) {
                return Err(InvalidValue(format!(
                    "dimension '{name}' is given twice (names are trimmed and lower-cased)"
                )));
            }
            tags.insert(name, weight);
        }
        Ok(Self(tags))
    }
}

impl From<Dimensions> for BTreeMap<String, f64> {
    fn from(dimensions: Dimensions) -> Self {
        dimensions
            .0
            .into_iter()
            .map(|(name, weight)| (name.0, weight.get()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_collisions_rejected() {
        let parsed: Dimensions =
            serde_json::from_str(r#"{" Food-Security ": 0.8}"#).unwrap_or_default();
        let names: Vec<_> = parsed.iter().map(|(n, _)| n.as_str().to_owned()).collect();
        assert_eq!(names, ["food-security"]);
        assert!(serde_json::from_str::<Dimensions>(r#"{"Food": 0.1, "food": 0.2}"#).is_err());
        assert!(serde_json::from_str::<Dimensions>(r#"{"  ": 0.1}"#).is_err());
        assert!(serde_json::from_str::<Dimensions>(r#"{"a": 1.5}"#).is_err());
    }
}

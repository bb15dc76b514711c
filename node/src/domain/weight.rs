//! Weights of dimension tags and relationships.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidValue;

/// A dimension weight in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schema(value_type = f64, minimum = 0.0, maximum = 1.0, example = 0.8)]
pub struct Weight(f64);

impl Weight {
    /// The weight as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Weight {
    type Error = InvalidValue;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        // Subnormal numbers are refused: they cannot be stored or summed without losing their
        // value.
        if value == 0.0 || (f64::MIN_POSITIVE..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidValue(format!(
                "weight {value} is out of range: use 0 or a number from {} to 1",
                f64::MIN_POSITIVE
            )))
        }
    }
}

impl From<Weight> for f64 {
    fn from(weight: Weight) -> Self {
        weight.0
    }
}

/// A relationship weight in `(0, 1]`: zero is excluded because path costs are `1 / weight`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schema(value_type = f64, minimum = 0.0, exclusive_minimum = 0.0, maximum = 1.0, example = 0.7)]
pub struct EdgeWeight(f64);

impl EdgeWeight {
    /// The weight given to a relationship created without one.
    pub const DEFAULT: EdgeWeight = EdgeWeight(1.0);

    /// The weight as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for EdgeWeight {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<f64> for EdgeWeight {
    type Error = InvalidValue;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        // Subnormal numbers are refused: their path cost `1 / weight` would be infinite.
        if (f64::MIN_POSITIVE..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidValue(format!(
                "relationship weight {value} is out of range: use a number from {} to 1",
                f64::MIN_POSITIVE
            )))
        }
    }
}

impl From<EdgeWeight> for f64 {
    fn from(weight: EdgeWeight) -> Self {
        weight.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced() {
        assert!(Weight::try_from(0.0).is_ok());
        assert!(Weight::try_from(1.0).is_ok());
        assert!(Weight::try_from(1.01).is_err());
        assert!(Weight::try_from(f64::NAN).is_err());
        assert!(EdgeWeight::try_from(0.0).is_err());
        assert!(EdgeWeight::try_from(0.5).is_ok());
        assert!(Weight::try_from(1e-320).is_err());
        assert!(EdgeWeight::try_from(1e-320).is_err());
        assert!(EdgeWeight::try_from(f64::MIN_POSITIVE).is_ok());
    }
}

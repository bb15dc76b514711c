//! What people contribute: raw text, and where its extraction stands.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidValue;

/// Longest contribution, in characters after trimming.
pub const MAX_CONTRIBUTION_CHARS: usize = 50_000;

/// The text of a contribution: trimmed, 1 to [`MAX_CONTRIBUTION_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, max_length = 50000, pattern = "\\S")]
pub struct ContributionText(String);

impl ContributionText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ContributionText {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let text = value.trim();
        if text.is_empty() {
            return Err(InvalidValue("text must not be empty".into()));
        }
        if text.contains('\0') {
            return Err(InvalidValue("text must not contain NUL characters".into()));
        }
        let length = text.chars().count();
        if length > MAX_CONTRIBUTION_CHARS {
            return Err(InvalidValue(format!(
                "text is too long: {length} characters, at most {MAX_CONTRIBUTION_CHARS} allowed"
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

impl From<ContributionText> for String {
    fn from(value: ContributionText) -> Self {
        value.0
    }
}

/// Where a contribution's extraction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContributionStatus {
    /// Waiting for its extraction job (again, after a failed attempt).
    Pending,
    /// Its extraction is running.
    Processing,
    /// Its artifacts and relationships are in the graph.
    Complete,
    /// Every attempt failed; `error` says why. `POST .../retry` queues it again.
    Failed,
}

impl ContributionStatus {
    /// Every status.
    pub const ALL: [ContributionStatus; 4] = [
        ContributionStatus::Pending,
        ContributionStatus::Processing,
        ContributionStatus::Complete,
        ContributionStatus::Failed,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContributionStatus::Pending => "pending",
            ContributionStatus::Processing => "processing",
            ContributionStatus::Complete => "complete",
            ContributionStatus::Failed => "failed",
        }
    }

    /// The status stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_then_bounded() {
        let text = ContributionText::try_from("  We should plant trees.  ".to_owned());
        assert_eq!(
            text.map(String::from),
            Ok("We should plant trees.".to_owned())
        );
        assert!(ContributionText::try_from(" \n\t ".to_owned()).is_err());
        let padded = format!("  {}  ", "a".repeat(MAX_CONTRIBUTION_CHARS));
        assert!(ContributionText::try_from(padded).is_ok());
        assert!(ContributionText::try_from("a".repeat(MAX_CONTRIBUTION_CHARS + 1)).is_err());
    }
}

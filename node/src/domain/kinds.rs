//! The closed vocabularies: visibility, artifact kinds, relationship kinds, edge directions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stored text that names no known variant (a database row written by a newer version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {vocabulary} '{value}'")]
pub struct UnknownVariant {
    /// Which vocabulary was searched.
    pub vocabulary: &'static str,
    /// The text that matched none of its words.
    pub value: String,
}

/// Declares a closed vocabulary stored as text: serde, OpenAPI, `as_str` and `FromStr` agree.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $label:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and database spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { vocabulary: $label, value: value.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Who may read a convergence and its artifacts.
    Visibility, "visibility" {
        /// Anyone, without a token.
        Public => "public",
        /// Only holders of a node-wide token or a token for this convergence.
        Private => "private",
    }
}

vocabulary! {
    /// What a knowledge artifact is.
    ArtifactKind, "artifact kind" {
        /// A new thought.
        Idea => "idea",
        /// An open question.
        Question => "question",
        /// A concrete proposal for action.
        Proposal => "proposal",
        /// A link, document or tool.
        Resource => "resource",
        /// Something learned.
        Insight => "insight",
        /// A decision taken.
        Decision => "decision",
        /// An assertion that may be supported or contradicted.
        Claim => "claim",
        /// Evidence for or against a claim.
        Evidence => "evidence",
    }
}

vocabulary! {
    /// How the source of a relationship relates to its target.
    RelationshipKind, "relationship kind" {
        /// The source supports the target.
        Supports => "supports",
        /// The source contradicts the target.
        Contradicts => "contradicts",
        /// The source extends the target.
        Extends => "extends",
        /// The source depends on the target.
        DependsOn => "depends_on",
        /// A loose association.
        RelatesTo => "relates_to",
        /// The source is part of the target.
        PartOf => "part_of",
        /// The source was derived from the target.
        DerivedFrom => "derived_from",
        /// The source answers the target (a question).
        Answers => "answers",
    }
}

vocabulary! {
    /// Which edges of an artifact to list.
    Direction, "direction" {
        /// Edges whose source is the artifact.
        Out => "out",
        /// Edges whose target is the artifact.
        In => "in",
        /// Both.
        Both => "both",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_for_every_variant() {
        for kind in ArtifactKind::ALL {
            assert_eq!(kind.as_str().parse::<ArtifactKind>(), Ok(*kind));
        }
        for kind in RelationshipKind::ALL {
            assert_eq!(kind.as_str().parse::<RelationshipKind>(), Ok(*kind));
        }
    }

    #[test]
    fn serde_spelling_matches_database_spelling() {
        let json = serde_json::to_string(&RelationshipKind::DependsOn).unwrap_or_default();
        assert_eq!(json, "\"depends_on\"");
        assert!("memo".parse::<ArtifactKind>().is_err());
    }
}

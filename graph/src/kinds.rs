//! Closed vocabularies: artifact and relationship kinds, visibility, direction.
//!
//! They are the node's domain vocabularies too (the node re-exports them, with OpenAPI schemas
//! from the `openapi` feature): one snake_case spelling on the wire, in the database and in the
//! change log's payloads.

use std::str::FromStr;

use crate::error::Error;

/// Declares a closed vocabulary: serde, `as_str`, `FromStr` and `Display` agree on spellings.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $label:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[cfg_attr(feature = "openapi", derive(::utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::Error::UnknownVariant {
                        vocabulary: $label,
                        value: value.to_owned(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use vocabulary;

vocabulary! {
    /// Who may read a convergence and its artifacts.
    Visibility, "visibility" {
        /// Anyone, without a token.
        Public => "public",
        /// Only holders of a node-wide token or a token for this convergence (see
        /// [`Access`](crate::Access)).
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
    /// Which way relationships are followed from an artifact (its edges listed, a traversal).
    Direction, "direction" {
        /// From source to target.
        Out => "out",
        /// From target to source.
        In => "in",
        /// Either way: relationships are treated as undirected.
        Both => "both",
    }
}

impl Direction {
    /// The direction that walks the same edges the other way (`Both` stays `Both`).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::Out => Direction::In,
            Direction::In => Direction::Out,
            Direction::Both => Direction::Both,
        }
    }
}

/// A set of relationship kinds (a bit set), e.g. the kinds a neighbourhood may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelationshipKindSet(u16);

impl RelationshipKindSet {
    /// The set of every kind.
    pub fn all() -> Self {
        RelationshipKind::ALL.iter().copied().collect()
    }

    /// The empty set.
    pub fn empty() -> Self {
        RelationshipKindSet(0)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: RelationshipKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// Adds `kind`.
    pub fn insert(&mut self, kind: RelationshipKind) {
        self.0 |= Self::bit(kind);
    }

    /// Whether the set holds no kind.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = RelationshipKind> {
        RelationshipKind::ALL
            .iter()
            .copied()
            .filter(move |kind| self.contains(*kind))
    }

    fn bit(kind: RelationshipKind) -> u16 {
        1 << (kind as u16)
    }
}

impl FromIterator<RelationshipKind> for RelationshipKindSet {
    fn from_iter<I: IntoIterator<Item = RelationshipKind>>(iter: I) -> Self {
        let mut set = RelationshipKindSet::empty();
        for kind in iter {
            set.insert(kind);
        }
        set
    }
}

impl FromStr for RelationshipKindSet {
    type Err = Error;

    /// Parses a comma-separated list such as `supports,depends_on` (the form of a `kinds=` query
    /// parameter); blanks around names are ignored and an empty text is the empty set.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        value
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::parse::<RelationshipKind>)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_match_serde() {
        for kind in ArtifactKind::ALL {
            assert_eq!(kind.as_str().parse::<ArtifactKind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_string(kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        for kind in RelationshipKind::ALL {
            assert_eq!(kind.as_str().parse::<RelationshipKind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_string(kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(RelationshipKind::DependsOn.as_str(), "depends_on");
        assert_eq!(
            "memo".parse::<ArtifactKind>(),
            Err(Error::UnknownVariant {
                vocabulary: "artifact kind",
                value: "memo".to_owned()
            })
        );
        assert_eq!(Direction::In.reversed(), Direction::Out);
        assert_eq!(Direction::Both.reversed(), Direction::Both);
    }

    #[test]
    fn kind_sets_parse_and_contain() {
        let set: RelationshipKindSet = " supports, depends_on ,".parse().unwrap();
        assert!(set.contains(RelationshipKind::Supports));
        assert!(set.contains(RelationshipKind::DependsOn));
        assert!(!set.contains(RelationshipKind::Answers));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![RelationshipKind::Supports, RelationshipKind::DependsOn]
        );
        assert!("".parse::<RelationshipKindSet>().unwrap().is_empty());
        assert!("supports,nope".parse::<RelationshipKindSet>().is_err());
        assert_eq!(
            RelationshipKindSet::all().iter().count(),
            RelationshipKind::ALL.len()
        );
    }
}

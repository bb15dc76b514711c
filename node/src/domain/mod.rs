//! Validated domain values, parsed once at the edge (HTTP or CLI) and trusted everywhere after.

mod account;
mod contribution;
mod dimensions;
mod slug;
mod text;
mod weight;

pub use account::{MAX_PASSWORD_BYTES, Password, Username};
pub use contribution::{ContributionStatus, ContributionText, MAX_CONTRIBUTION_CHARS};
pub use dimensions::{DimensionName, Dimensions, MAX_DIMENSIONS_PER_ARTIFACT};
/// The closed vocabularies are defined once, in the graph crate that also holds them in memory,
/// with OpenAPI schemas from its `openapi` feature.
pub use kg_graph::{ArtifactKind, Direction, RelationshipKind, Visibility};
pub use slug::{Slug, names_convergence};
pub use text::{Author, Body, Description, Name, Title};
pub use weight::{EdgeWeight, Weight};

/// Why a value was rejected; the message is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

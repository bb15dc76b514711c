//! Validated domain values, parsed once at the edge (HTTP or CLI) and trusted everywhere after.

mod dimensions;
mod kinds;
mod slug;
mod text;
mod weight;

pub use dimensions::{DimensionName, Dimensions, MAX_DIMENSIONS_PER_ARTIFACT};
pub use kinds::{ArtifactKind, Direction, RelationshipKind, UnknownVariant, Visibility};
pub use slug::{Slug, names_convergence};
pub use text::{Author, Body, Description, Name, Title};
pub use weight::{EdgeWeight, Weight};

/// Why a value was rejected; the message is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

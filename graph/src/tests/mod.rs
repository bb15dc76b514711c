//! Shared fixtures, and the agreement test against networkx.

use uuid::Uuid;

use crate::graph::{Artifact, Relationship};
use crate::kinds::{ArtifactKind, RelationshipKind};

mod networkx;

/// The id `n` (small numbers make readable fixtures).
pub(crate) fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// An idea with id `n`.
pub(crate) fn art(n: u128, convergence: Uuid, title: &str) -> Artifact {
    Artifact {
        id: id(n),
        convergence,
        kind: ArtifactKind::Idea,
        title: title.to_owned(),
    }
}

/// A `relates_to` relationship with id `n` from `a` to `b`.
pub(crate) fn rel(n: u128, a: u128, b: u128, weight: f64) -> Relationship {
    rel_kind(n, a, b, RelationshipKind::RelatesTo, weight)
}

/// A relationship of the given kind with id `n` from `a` to `b`.
pub(crate) fn rel_kind(
    n: u128,
    a: u128,
    b: u128,
    kind: RelationshipKind,
    weight: f64,
) -> Relationship {
    Relationship {
        id: id(n),
        source: id(a),
        target: id(b),
        kind,
        weight,
    }
}

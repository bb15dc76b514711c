//! Keeps the in-memory knowledge graph (crate `kg_graph`) in step with PostgreSQL.
//!
//! At start a follower thread loads the graph from one consistent snapshot of PostgreSQL
//! (streaming, with progress in the logs) and installs it at once; until then `/readyz` answers
//! 503. It then tails the change log from that snapshot's position, applying each batch of
//! changes in one short write section, so readers never wait on a long write.

mod load;
mod projection;

use kg_graph::{ArtifactKind, RelationshipKind, Visibility};

pub use projection::start_graph;

/// Why the graph could not be loaded or kept in step.
#[derive(Debug, thiserror::Error)]
pub enum GraphingError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    /// PostgreSQL could not be reached.
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    /// A stored value names no known kind (a row written by a newer version).
    #[error("unknown {what} '{value}' in the database")]
    UnknownValue {
        /// Which vocabulary.
        what: &'static str,
        /// The stored text.
        value: String,
    },
    /// The follower thread could not be started.
    #[error("cannot start the graph projection: {0}")]
    Thread(#[from] std::io::Error),
}

fn artifact_kind(value: &str) -> Result<ArtifactKind, GraphingError> {
    value.parse().map_err(|_| GraphingError::UnknownValue {
        what: "artifact kind",
        value: value.to_owned(),
    })
}

fn relationship_kind(value: &str) -> Result<RelationshipKind, GraphingError> {
    value.parse().map_err(|_| GraphingError::UnknownValue {
        what: "relationship kind",
        value: value.to_owned(),
    })
}

fn visibility(value: &str) -> Visibility {
    if value == "public" {
        Visibility::Public
    } else {
        Visibility::Private
    }
}

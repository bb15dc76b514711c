//! The crate's one error type.

use uuid::Uuid;

/// Everything that can go wrong in this crate: a rejected mutation, an invalid query parameter,
/// or a computation that did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The artifact is not in the graph, or the caller may not see it. Both answer the same, so
    /// that a query cannot reveal that a private artifact exists (an HTTP layer maps it to 404).
    #[error("artifact {0} not found")]
    ArtifactNotFound(Uuid),

    /// A relationship names an endpoint that is not in the graph. The mutation changed nothing;
    /// the artifact must be upserted first (the change log orders an artifact's insert before
    /// the relationships that point at it, so a follower meets this only on inconsistent input).
    #[error("relationship {relationship} refers to artifact {artifact}, which is not in the graph")]
    MissingEndpoint {
        /// The rejected relationship.
        relationship: Uuid,
        /// Its endpoint that is missing.
        artifact: Uuid,
    },

    /// A relationship weight outside `(0, 1]` (or not a number). Path costs are `1 / weight`,
    /// so zero and negative weights are refused.
    #[error("relationship {relationship} has weight {weight}: use a number in (0, 1]")]
    InvalidWeight {
        /// The rejected relationship.
        relationship: Uuid,
        /// The weight it carried.
        weight: f64,
    },

    /// A neighbourhood depth outside `1..=`[`MAX_DEPTH`](crate::MAX_DEPTH).
    #[error("depth {0} is out of range: use 1 to 4")]
    InvalidDepth(u8),

    /// A result limit of zero.
    #[error("limit must be at least 1")]
    InvalidLimit,

    /// A PageRank damping factor outside `[0, 1)`.
    #[error("damping {0} is out of range: use a number in [0, 1)")]
    InvalidDamping(f64),

    /// A PageRank tolerance that is not a positive, finite number.
    #[error("tolerance {0} is out of range: use a positive number")]
    InvalidTolerance(f64),

    /// A PageRank iteration budget of zero.
    #[error("max_iterations must be at least 1")]
    InvalidMaxIterations,

    /// PageRank's power iteration did not meet its tolerance within the iteration budget.
    #[error("PageRank did not converge in {iterations} iterations (last change {change:e})")]
    NotConverged {
        /// Iterations run.
        iterations: usize,
        /// L1 norm of the last iteration's change.
        change: f64,
    },

    /// A snapshot made from parts names an artifact index past its ids, or has a number of
    /// weights other than one per relationship.
    #[error("inconsistent snapshot: an edge refers to no artifact, or weights do not match edges")]
    InvalidSnapshot,

    /// A text that names no variant of a closed vocabulary (kinds, directions, formats).
    #[error("unknown {vocabulary} '{value}'")]
    UnknownVariant {
        /// Which vocabulary was searched.
        vocabulary: &'static str,
        /// The text that matched none of its words.
        value: String,
    },
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

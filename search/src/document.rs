//! What the index holds: one [`SearchDocument`] per live artifact, and the operations that change
//! it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Who may read a document's convergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Anyone, without a token.
    Public,
    /// Only callers whose [`Access`](crate::Access) names the convergence.
    Private,
}

/// One artifact as the search engine sees it.
///
/// The engine does not validate the vocabulary: `kind` and the dimension names are indexed as
/// given (exact, case-sensitive terms), so the caller passes them normalised, as its domain
/// types already are.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDocument {
    /// The artifact's id; the index holds at most one document per id.
    pub id: Uuid,
    /// The convergence it belongs to.
    pub convergence: Uuid,
    /// That convergence's slug, returned with hits so the caller needs no lookup.
    pub convergence_slug: String,
    /// The convergence's visibility. When a convergence changes visibility, its documents must
    /// be upserted again.
    pub visibility: Visibility,
    /// The artifact kind, e.g. `proposal`.
    pub kind: String,
    /// Title: searched with a higher weight than the body.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Dimension tags with their weights in `[0, 1]` (values outside are clamped when used for
    /// ranking; stored as given).
    pub dimensions: Vec<(String, f64)>,
    /// The artifact's version, compared by `kgnode index verify`.
    pub version: i64,
    /// Creation time (stored with microsecond precision).
    pub created_at: DateTime<Utc>,
    /// Last update time (stored with microsecond precision).
    pub updated_at: DateTime<Utc>,
}

/// One change to apply to the index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexOp {
    /// Insert the document, replacing any document with the same id.
    Upsert(SearchDocument),
    /// Remove the document with this id, if there is one.
    Delete(Uuid),
}

//! `kgnode index verify`: compares the index with PostgreSQL.

use std::path::Path;

use diesel_async::AsyncPgConnection;
use kg_search::{IndexLayout, IndexSettings, SearchIndex};
use uuid::Uuid;

use super::IndexingError;
use super::source::live_versions;

/// One way the index differs from PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexDifference {
    /// A live artifact the index lacks.
    Missing {
        /// The artifact.
        id: Uuid,
    },
    /// A document of an artifact that is deleted or unknown.
    Extra {
        /// The document's id.
        id: Uuid,
    },
    /// A document whose version is not the artifact's.
    Stale {
        /// The artifact.
        id: Uuid,
        /// Its version in PostgreSQL.
        database: i64,
        /// Its version in the index.
        index: i64,
    },
}

impl std::fmt::Display for IndexDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexDifference::Missing { id } => write!(f, "missing  {id}"),
            IndexDifference::Extra { id } => write!(f, "extra    {id}"),
            IndexDifference::Stale {
                id,
                database,
                index,
            } => write!(f, "stale    {id} (database v{database}, index v{index})"),
        }
    }
}

/// Every difference between the live index under `data_dir` and the live artifacts, sorted by
/// id. Run it when the follower has caught up (or the node is stopped): changes not yet applied
/// show as differences.
pub async fn verify_index(
    conn: &mut AsyncPgConnection,
    data_dir: &Path,
    settings: IndexSettings,
) -> Result<Vec<IndexDifference>, IndexingError> {
    let index = SearchIndex::open(IndexLayout::new(data_dir).live(), settings)?;
    let indexed = index.all_versions()?;
    let stored = live_versions(conn).await?;
    let mut differences: Vec<IndexDifference> = Vec::new();
    for (id, version) in &stored {
        match indexed.get(id) {
            None => differences.push(IndexDifference::Missing { id: *id }),
            Some(found) if found != version => differences.push(IndexDifference::Stale {
                id: *id,
                database: *version,
                index: *found,
            }),
            Some(_) => {}
        }
    }
    for id in indexed.keys().filter(|id| !stored.contains_key(id)) {
        differences.push(IndexDifference::Extra { id: *id });
    }
    differences.sort_by_key(|difference| match difference {
        IndexDifference::Missing { id }
        | IndexDifference::Extra { id }
        | IndexDifference::Stale { id, .. } => *id,
    });
    Ok(differences)
}

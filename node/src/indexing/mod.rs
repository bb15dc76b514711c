//! Keeps the full-text index (crate `kg_search`) in step with PostgreSQL.
//!
//! The index lives in `<data_dir>/search`. At start the node opens it; a missing or unreadable
//! index is rebuilt from PostgreSQL (and the log says so). A follower thread then tails the
//! change log from the position stored in the index's last commit, turning each batch of
//! changes into upserts and deletes and committing them together with the batch's last sequence
//! number. A crash at any point loses nothing: the next start resumes after the last commit,
//! and replaying a change is harmless.

mod projection;
mod rebuild;
mod source;
mod verify;

use kg_search::{IndexSettings, parse_language};

use crate::config::SearchSettings;

pub use projection::{SearchReadiness, start_search};
pub use rebuild::{RebuildProgress, rebuild_into, reindex};
pub use verify::{IndexDifference, verify_index};

/// Why the search index could not be opened, rebuilt or kept in step.
#[derive(Debug, thiserror::Error)]
pub enum IndexingError {
    /// The search engine failed.
    #[error("search index: {0}")]
    Search(#[from] kg_search::Error),
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    /// PostgreSQL could not be reached.
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    /// The follower thread could not be started.
    #[error("cannot start the search projection: {0}")]
    Thread(#[from] std::io::Error),
}

/// The engine's settings from the node's.
pub fn index_settings(settings: &SearchSettings) -> Result<IndexSettings, kg_search::Error> {
    Ok(IndexSettings {
        language: parse_language(&settings.language)?,
        writer_memory_bytes: settings.writer_memory_mib.saturating_mul(1024 * 1024),
        typo_tolerance: settings.typo_tolerance,
        phrase_pairs: settings.phrase_pairs,
        search_threads: settings.threads.max(1),
    })
}

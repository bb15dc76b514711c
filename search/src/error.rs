//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use uuid::Uuid;

/// Everything that can go wrong in the search engine.
///
/// Three variants mean "this directory does not hold a usable index": [`Error::Unreadable`],
/// [`Error::CorruptPayload`] and [`Error::SchemaMismatch`]. [`Error::needs_rebuild`] groups them,
/// so a caller can rebuild the index from its source of truth and say so.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query text cannot be parsed, or uses a feature this engine does not offer (ranges,
    /// regular expressions, an unknown field). `message` is meant for the person who typed it.
    #[error("invalid query: {message}")]
    InvalidQuery {
        /// What is wrong, in words.
        message: String,
    },

    /// `limit` is zero or above [`MAX_LIMIT`](crate::MAX_LIMIT), or `offset + limit` is above
    /// [`MAX_RESULT_WINDOW`](crate::MAX_RESULT_WINDOW).
    #[error(
        "invalid page: limit {limit} must be 1 to {max_limit} and offset + limit at most {max_window}",
        max_limit = crate::MAX_LIMIT,
        max_window = crate::MAX_RESULT_WINDOW
    )]
    InvalidPage {
        /// The requested page size.
        limit: usize,
        /// The requested number of hits to skip.
        offset: usize,
    },

    /// A language name that names none of the stemmers (see
    /// [`parse_language`](crate::parse_language)).
    #[error("unknown language '{name}'")]
    UnknownLanguage {
        /// The name that was given.
        name: String,
    },

    /// The writer memory budget is below the engine's minimum.
    #[error("writer memory budget of {bytes} bytes is below the minimum of {minimum} bytes")]
    WriterMemoryTooSmall {
        /// The configured budget.
        bytes: usize,
        /// The smallest accepted budget.
        minimum: usize,
    },

    /// The index exists but cannot be opened or read: a damaged `meta.json`, a missing or
    /// truncated segment file. Rebuild it.
    #[error("search index at {path} is unreadable")]
    Unreadable {
        /// The index directory.
        path: PathBuf,
        /// What tantivy reported.
        #[source]
        source: tantivy::TantivyError,
    },

    /// The last commit carries a payload that is not a position written by this crate. Rebuild
    /// the index.
    #[error("search index at {path} has a commit payload that is not a position: {payload:?}")]
    CorruptPayload {
        /// The index directory.
        path: PathBuf,
        /// The payload as found.
        payload: String,
    },

    /// The index was built with another schema: by another version of this crate, or with
    /// another language. Rebuild it.
    #[error(
        "search index at {path} was built with another schema (its text analyzer is '{found}', \
         expected '{expected}')"
    )]
    SchemaMismatch {
        /// The index directory.
        path: PathBuf,
        /// Name of the text analyzer the settings ask for, e.g. `kg_english`.
        expected: String,
        /// Name of the text analyzer the index was built with.
        found: String,
    },

    /// [`SearchIndex::create_in`](crate::SearchIndex::create_in) was given a directory that
    /// already holds an index.
    #[error("a search index already exists at {path}")]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },

    /// Another writer holds the index's lock, in this process or another one. Only one
    /// [`IndexWriterHandle`](crate::IndexWriterHandle) may exist per index directory.
    #[error("search index at {path} is locked by another writer")]
    Locked {
        /// The index directory.
        path: PathBuf,
    },

    /// A batch was given a position below the one already committed: positions never go back.
    #[error("position {requested} is below the committed position {committed}")]
    PositionRegressed {
        /// The position of the last commit.
        committed: i64,
        /// The position that was asked for.
        requested: i64,
    },

    /// [`IndexLayout::swap_in_staging`](crate::IndexLayout::swap_in_staging) found no committed
    /// index in the staging directory.
    #[error("no committed search index to swap in at {path}")]
    StagingIncomplete {
        /// The staging directory.
        path: PathBuf,
    },

    /// A stored document lacks a field that this crate always writes.
    #[error("stored document {id:?} has no valid '{field}'")]
    StoredDocument {
        /// The document's id, when it could be read.
        id: Option<Uuid>,
        /// The missing or invalid field.
        field: &'static str,
    },

    /// A file system operation on the index directories failed.
    #[error("{operation} {path}")]
    Io {
        /// What was being done, e.g. `rename`.
        operation: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Any other failure inside tantivy (I/O while writing, a failed merge, ...).
    #[error("search engine failure")]
    Engine(#[from] tantivy::TantivyError),
}

impl Error {
    /// True when the index directory does not hold a usable index and should be rebuilt from
    /// the source of truth: [`Error::Unreadable`], [`Error::CorruptPayload`],
    /// [`Error::SchemaMismatch`].
    pub fn needs_rebuild(&self) -> bool {
        matches!(
            self,
            Error::Unreadable { .. } | Error::CorruptPayload { .. } | Error::SchemaMismatch { .. }
        )
    }

    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            operation,
            path,
            source,
        }
    }

    pub(crate) fn invalid_query(message: impl Into<String>) -> Error {
        Error::InvalidQuery {
            message: message.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

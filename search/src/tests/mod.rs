//! Tests on real indexes in temporary directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod filters;
mod open;
mod pagination;
mod pruning;
mod query_language;
mod ranking;
mod writer;

use chrono::{DateTime, Utc};
use tempfile::TempDir;
use uuid::Uuid;

use crate::{
    Access, IndexOp, IndexSettings, IndexWriterHandle, SearchDocument, SearchIndex, SearchRequest,
    SearchResults, Visibility,
};

/// A public convergence shared by most test documents.
const PUBLIC: Uuid = Uuid::from_u128(0xc0);

/// A test index with its writer; the directory lives as long as the value.
struct TestIndex {
    dir: TempDir,
    index: SearchIndex,
    writer: IndexWriterHandle,
    position: i64,
}

impl TestIndex {
    fn new() -> Self {
        Self::with_settings(IndexSettings::default())
    }

    fn with_settings(settings: IndexSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = SearchIndex::open_or_create(dir.path(), settings).unwrap();
        let writer = index.writer().unwrap();
        Self {
            dir,
            index,
            writer,
            position: 0,
        }
    }

    /// Applies one batch at the next position.
    fn apply(&mut self, ops: Vec<IndexOp>) {
        self.position += 1;
        self.writer.apply(ops, self.position).unwrap();
    }

    /// Upserts documents in one batch.
    fn add(&mut self, docs: Vec<SearchDocument>) {
        self.apply(docs.into_iter().map(IndexOp::Upsert).collect());
    }

    fn search(&self, request: &SearchRequest) -> SearchResults {
        self.index.search(request).unwrap()
    }

    /// Ids of the hits of `query` readable by everyone, best first.
    fn ids(&self, query: &str) -> Vec<Uuid> {
        let mut request = SearchRequest::new(query, Access::All);
        request.limit = 100;
        ids(&self.search(&request))
    }
}

fn ids(results: &SearchResults) -> Vec<Uuid> {
    results.hits.iter().map(|hit| hit.id).collect()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A fixed time with microsecond precision (what the index stores).
fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_767_225_600_000_000 + micros).unwrap()
}

/// A public `idea` without dimensions.
fn doc(n: u128, title: &str, body: &str) -> SearchDocument {
    SearchDocument {
        id: id(n),
        convergence: PUBLIC,
        convergence_slug: "commons".to_owned(),
        visibility: Visibility::Public,
        kind: "idea".to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        dimensions: Vec::new(),
        version: 1,
        created_at: time(n as i64),
        updated_at: time(n as i64 + 1),
    }
}

//! # kg-search: the full-text search engine of a kgnode
//!
//! An embedded [tantivy](https://docs.rs/tantivy) index of artifacts on local disk. This crate
//! knows nothing of HTTP or PostgreSQL: the node feeds it documents and deletes from its change
//! log, and its HTTP handlers call [`SearchIndex::search`].
//!
//! ```
//! use chrono::Utc;
//! use kg_search::{
//!     Access, IndexOp, IndexSettings, Opened, SearchDocument, SearchIndex, SearchRequest,
//!     Visibility,
//! };
//! use uuid::Uuid;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (index, opened) = SearchIndex::open_or_create(dir.path(), IndexSettings::default())?;
//! assert_eq!(opened, Opened::Fresh);
//!
//! let garden = SearchDocument {
//!     id: Uuid::now_v7(),
//!     convergence: Uuid::now_v7(),
//!     convergence_slug: "boulder-2026".into(),
//!     visibility: Visibility::Public,
//!     kind: "proposal".into(),
//!     title: "Community garden on the north lot".into(),
//!     body: "Raised beds, a tool shed and a rota for watering.".into(),
//!     dimensions: vec![("food-security".into(), 0.8), ("land-use".into(), 0.4)],
//!     version: 1,
//!     created_at: Utc::now(),
//!     updated_at: Utc::now(),
//! };
//!
//! // The change-log follower applies batches and commits with the last sequence number.
//! let mut writer = index.writer()?;
//! writer.apply(vec![IndexOp::Upsert(garden.clone())], 42)?;
//! assert_eq!(index.committed_position()?, Some(42));
//!
//! // Searchable as soon as `apply` returns. "gardens" stems to "garden".
//! let results = index.search(&SearchRequest::new("gardens", Access::PublicAnd(vec![])))?;
//! assert_eq!(results.estimated_total, 1);
//! assert_eq!(results.hits[0].id, garden.id);
//! assert_eq!(results.hits[0].snippet, "Community <b>garden</b> on the north lot");
//! assert_eq!(results.facets.kind[0].value, "proposal");
//!
//! // A malformed query is an error to show the user, never a panic.
//! let bad = index.search(&SearchRequest::new("title:", Access::All));
//! assert!(matches!(bad, Err(kg_search::Error::InvalidQuery { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! ## Query language
//!
//! tantivy's query grammar, over the `title` (boosted ×3) and `body` fields:
//!
//! | input | meaning |
//! |---|---|
//! | `garden water` | both words must match (AND by default, like `plainto_tsquery`) |
//! | `garden OR orchard`, `garden AND water` | explicit operators; AND binds tighter than OR |
//! | `"north lot"` | phrase; `"north lot"~2` allows two words in between |
//! | `garden -fence` | exclusion; `-fence` alone means everything but `fence` |
//! | `title:garden` | only in the title (`title` and `body` are the nameable fields) |
//! | `garden^2 water` | weighs one part more |
//! | `"raised be"*` | the phrase with its last word as a prefix |
//! | blank, `*` | every document (filters still apply) |
//!
//! Words are analyzed like the indexed text: split on non-alphanumerics, lower-cased, tokens
//! over 40 bytes dropped, stemmed in the index's language, so `proposals` finds `proposal`.
//! With typo tolerance on, an unquoted word of at least [`FUZZY_MIN_CHARS`] characters that
//! occurs in at most [`FUZZY_MAX_DOCS`] documents (so probably misspelled) also matches words
//! one edit away, with a constant score below a typical exact match (fuzzy matches are not
//! highlighted). Ranges, sets, regular expressions, other field names and texts over
//! [`MAX_QUERY_BYTES`] are refused with [`Error::InvalidQuery`], as are syntax errors.
//!
//! ## Ranking
//!
//! BM25 per field, a title match weighted three times a body match, summed. When a request
//! filters on dimensions, a hit's score is multiplied by `1 + w`, `w` being the mean weight of
//! those dimensions on it. Equal scores are ordered by ascending id, so pages are stable: the
//! pages of a result list, concatenated, are the list.
//!
//! ## Access, filters and facets
//!
//! Every search states what the caller may read ([`Access`]): everything, or public
//! convergences plus a list of private ones. Filters by convergence, kinds and dimensions
//! restrict the matches without adding to scores (only dimension weights scale them, above).
//! Access and kinds are checked on fast fields for each candidate of the query, convergence and
//! dimensions intersect as terms. Facets count kinds and dimensions over every matching
//! document, not only the page, exactly; a request may go without them
//! ([`SearchRequest::facets`]).
//!
//! How a search runs: exact facets and the exact match count need every match, but the page
//! does not. For a query of one word or one two-word phrase (one word pair, see below), without
//! a convergence or dimension filter, the page is found first with block-max WAND over the
//! term's postings in title and body (blocks whose best possible score cannot enter the page
//! are skipped), access and kinds checked on those candidates only; then the facets are
//! tallied in a second pass that computes no scores, or, without facets, the matches are
//! counted: exactly up to [`EXACT_MATCHES_PER_SEGMENT`] per index segment, estimated beyond.
//! Other queries (several words, longer phrases, filters by terms) visit every match anyway, so
//! one scoring pass collects the page with the facets or with the exact count. Facets are
//! counted from kind and dimension ordinals decoded once per segment into plain arrays, when a
//! reload publishes the segment (a tantivy warmer).
//!
//! ## Phrases and snippets
//!
//! With [`IndexSettings::phrase_pairs`] (the default) the title and body are also indexed as
//! pairs of adjacent words, so that a phrase is searched as one pair term (two words) or a
//! phrase of pairs, instead of reading the positions of every document holding all its words.
//! Snippets highlight the words the postings place in each hit (their positions), so a hit's
//! text is only split into words, not analyzed and stemmed again.
//!
//! ## Dimension weights
//!
//! A fast field holds one column per field, not per dimension name, so a weight cannot have a
//! numeric column of its own. Dimension names are indexed as exact terms (filters) and in a
//! string column (facets); each tag is also packed into a multi-valued `u64` column, the top 48
//! bits of the FNV-1a hash of its name beside its weight quantised to 1/10,000, which ranking
//! reads to scale the score of a hit by the weights of the requested dimensions.
//!
//! ## Keeping in step with the source
//!
//! There is one writer per index directory ([`SearchIndex::writer`]; tantivy's lock file makes a
//! second one fail with [`Error::Locked`], in any process). Each
//! [`IndexWriterHandle::apply`] upserts and deletes a batch and commits it with the change-log
//! position in tantivy's commit payload, so the position and the documents can never disagree:
//! after a crash, [`SearchIndex::open_or_create`] reports [`Opened::Existing`] with the
//! position of the last commit, and the follower resumes after it. Re-applying changes is
//! harmless (upserts replace, deletes of absent ids do nothing).
//!
//! A missing index opens as [`Opened::Fresh`]; a damaged or foreign one fails with an error for
//! which [`Error::needs_rebuild`] holds. Rebuilds go through [`IndexLayout`]: build into the
//! staging directory, swap it in atomically. [`SearchIndex::all_versions`] lists every id with
//! its version, to compare with the source.
//!
//! Writing and searching block the calling thread (a commit syncs files to disk; a search over a
//! million documents takes milliseconds); async callers run them with `spawn_blocking`.
//!
//! ## Performance
//!
//! `benches/search.rs` builds a synthetic index and times indexing and queries of several kinds:
//!
//! ```sh
//! KG_SEARCH_BENCH_DOCS=1000000 cargo bench -p kg-search --bench search
//! ```

mod columns;
mod count;
mod document;
mod error;
mod exclusion;
mod facets;
mod filter;
mod highlight;
mod index;
mod layout;
mod lazy_union;
mod pairs;
mod position;
mod query;
mod request;
mod schema;
mod search;
mod settings;
mod terms;
mod writer;

pub use count::EXACT_MATCHES_PER_SEGMENT;
pub use document::{IndexOp, SearchDocument, Visibility};
pub use error::{Error, Result};
pub use index::{Opened, SearchIndex};
pub use layout::{IndexLayout, LIVE_DIR, RETIRED_DIR, Recovery, STAGING_DIR};
pub use query::{FUZZY_MAX_DOCS, FUZZY_MIN_CHARS, MAX_QUERY_BYTES, TITLE_BOOST};
pub use request::{
    Access, DEFAULT_FACET_VALUES, DEFAULT_LIMIT, FacetCount, Facets, MAX_LIMIT, MAX_RESULT_WINDOW,
    SearchHit, SearchRequest, SearchResults,
};
pub use settings::{
    DEFAULT_WRITER_MEMORY_BYTES, IndexSettings, Language, MIN_WRITER_MEMORY_BYTES, language_name,
    parse_language,
};
pub use terms::{KeyTerm, key_terms};
pub use writer::IndexWriterHandle;

#[cfg(test)]
mod tests;

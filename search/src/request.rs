//! What a search asks and answers: the request with its access rule and filters, the page of
//! hits, facet counts.

use uuid::Uuid;

/// Largest page size.
pub const MAX_LIMIT: usize = 1_000;

/// Deepest reachable hit: `offset + limit` may not exceed it (deep pages cost memory and time;
/// narrow the query instead).
pub const MAX_RESULT_WINDOW: usize = 10_000;

/// Default page size of [`SearchRequest::new`].
pub const DEFAULT_LIMIT: usize = 20;

/// Default number of values per facet of [`SearchRequest::new`].
pub const DEFAULT_FACET_VALUES: usize = 20;

/// Which documents a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every document (a node-wide token).
    All,
    /// Documents of public convergences, plus every document of the listed convergences (the
    /// private ones the caller's token may read). An empty list means public documents only.
    PublicAnd(Vec<Uuid>),
}

/// What to search for, and which page of results to return.
///
/// Filters combine with AND: a hit matches the query, is readable under `access`, belongs to
/// `convergence` if one is given, has one of `kinds` if any are given, and carries every one of
/// `dimensions`.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Query text (see the crate documentation for the language). Blank text matches every
    /// readable document, all with the same score, so hits then come in id order (or by
    /// dimension weight when `dimensions` is given).
    pub query: String,
    /// Which documents the caller may read.
    pub access: Access,
    /// Only this convergence.
    pub convergence: Option<Uuid>,
    /// Only these kinds (any of them).
    pub kinds: Vec<String>,
    /// Only documents tagged with all of these dimensions. Their weights also rank: a hit's
    /// score is multiplied by `1 + w`, `w` being the mean weight of these dimensions on it.
    pub dimensions: Vec<String>,
    /// Page size, 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// Number of hits to skip.
    pub offset: usize,
    /// Most values returned per facet, most frequent first.
    pub max_facet_values: usize,
    /// Whether to count facets. They are exact when counted, which means reading every match;
    /// without them the search can skip documents that cannot make the page (and then
    /// estimates large totals, see [`SearchResults::estimated_total`]), and
    /// [`SearchResults::facets`] is empty.
    pub facets: bool,
}

impl SearchRequest {
    /// A request for the first [`DEFAULT_LIMIT`] hits of `query`, without filters.
    pub fn new(query: impl Into<String>, access: Access) -> Self {
        Self {
            query: query.into(),
            access,
            convergence: None,
            kinds: Vec::new(),
            dimensions: Vec::new(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            max_facet_values: DEFAULT_FACET_VALUES,
            facets: true,
        }
    }
}

/// One page of hits, the number of matching documents, and facet counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// The requested page, best first; equal scores are ordered by ascending id.
    pub hits: Vec<SearchHit>,
    /// How many documents match (query and filters) on the index snapshot the search ran on.
    /// Exact, except for a one-word query without facets whose page skipped matches (block-max
    /// WAND): then exact up to [`EXACT_MATCHES_PER_SEGMENT`](crate::EXACT_MATCHES_PER_SEGMENT)
    /// matches per index segment and estimated beyond (within a few percent).
    pub estimated_total: u64,
    /// Counts over all matching documents, not only this page (empty when the request asked
    /// for no facets).
    pub facets: Facets,
}

/// One matching document.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The artifact's id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its kind.
    pub kind: String,
    /// Its convergence.
    pub convergence: Uuid,
    /// Its convergence's slug.
    pub convergence_slug: String,
    /// Relevance: BM25 with field boosts (title ×3), scaled by dimension weights when dimensions
    /// are filtered. Comparable only within one result list.
    pub score: f32,
    /// An excerpt of the body (or, when the body has no match, of the title), HTML-escaped, with
    /// matched words in `<b>…</b>`. Words found only by typo tolerance are not highlighted.
    pub snippet: String,
}

/// Facet counts: how many matching documents have each value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Counts by kind.
    pub kind: Vec<FacetCount>,
    /// Counts by dimension name (a document counts once for each of its dimensions).
    pub dimension: Vec<FacetCount>,
}

/// One facet value and its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    /// The kind or dimension name.
    pub value: String,
    /// Number of matching documents with it.
    pub count: u64,
}

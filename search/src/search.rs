//! Searching: requests, access filters, ranking, facets, snippets.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tantivy::collector::sort_key::{Comparator, NaturalComparator};
use tantivy::collector::{
    Collector, SegmentCollector, SegmentSortKeyComputer, SortKeyComputer, TopDocs, TopNComputer,
};
use tantivy::columnar::{Column, ColumnValues, StrColumn};
use tantivy::index::SegmentId;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::snippet::{Snippet, SnippetGenerator, collapse_overlapped_ranges};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument, Term};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::query::QueryBuilder;
use crate::schema::{
    self, DIMENSION, DIMENSION_KEY, Fields, ID_HI, ID_LO, KIND, dimension_hash, stored_text,
    weight_in_key,
};

/// Largest page size.
pub const MAX_LIMIT: usize = 1_000;

/// Deepest reachable hit: `offset + limit` may not exceed it (deep pages cost memory and time;
/// narrow the query instead).
pub const MAX_RESULT_WINDOW: usize = 10_000;

/// Default page size of [`SearchRequest::new`].
pub const DEFAULT_LIMIT: usize = 20;

/// Default number of values per facet of [`SearchRequest::new`].
pub const DEFAULT_FACET_VALUES: usize = 20;

/// Longest snippet, in characters (before HTML escaping and highlighting tags).
const SNIPPET_CHARS: usize = 200;

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
        }
    }
}

/// One page of hits, the number of matching documents, and facet counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// The requested page, best first; equal scores are ordered by ascending id.
    pub hits: Vec<SearchHit>,
    /// How many documents match (query and filters), counted exactly on the index snapshot the
    /// search ran on.
    pub estimated_total: u64,
    /// Counts over all matching documents, not only this page.
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

/// What a search needs from its index.
pub(crate) struct SearchContext<'a> {
    pub fields: &'a Fields,
    pub analyzer: &'a TextAnalyzer,
    pub typo_tolerance: bool,
    pub columns: &'a Arc<ColumnCache>,
}

/// The fast-field columns a search reads, opened once per segment.
pub(crate) struct SegmentColumns {
    id_hi: Arc<dyn ColumnValues<u64>>,
    id_lo: Arc<dyn ColumnValues<u64>>,
    dimension_keys: Column<u64>,
    kind: Option<StrColumn>,
    dimension: Option<StrColumn>,
}

impl SegmentColumns {
    fn open(segment: &SegmentReader) -> tantivy::Result<Self> {
        let fast = segment.fast_fields();
        Ok(Self {
            id_hi: fast.u64(ID_HI)?.first_or_default_col(0),
            id_lo: fast.u64(ID_LO)?.first_or_default_col(0),
            dimension_keys: fast.u64(DIMENSION_KEY)?,
            kind: fast.str(KIND)?,
            dimension: fast.str(DIMENSION)?,
        })
    }
}

/// Opened columns by segment. Opening a column reads and decodes its headers and dictionary,
/// which costs tens of microseconds; segments never change once written, so each is opened once.
#[derive(Default)]
pub(crate) struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, Arc<SegmentColumns>>>,
}

impl ColumnCache {
    fn get(&self, segment: &SegmentReader) -> tantivy::Result<Arc<SegmentColumns>> {
        let id = segment.segment_id();
        if let Some(columns) = self.lock().get(&id) {
            return Ok(Arc::clone(columns));
        }
        let columns = Arc::new(SegmentColumns::open(segment)?);
        self.lock().insert(id, Arc::clone(&columns));
        Ok(columns)
    }

    /// Forgets segments that `searcher` no longer has (merged away).
    fn prune(&self, searcher: &Searcher) {
        let mut segments = self.lock();
        if segments.len() > searcher.segment_readers().len() {
            let live: HashSet<SegmentId> = searcher
                .segment_readers()
                .iter()
                .map(SegmentReader::segment_id)
                .collect();
            segments.retain(|id, _| live.contains(id));
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SegmentId, Arc<SegmentColumns>>> {
        // The map stays consistent even if a holder panicked: entries are inserted whole.
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a search on one searcher (one consistent snapshot of the index).
pub(crate) fn execute(
    context: &SearchContext<'_>,
    searcher: &Searcher,
    request: &SearchRequest,
) -> Result<SearchResults> {
    let window = request.offset.checked_add(request.limit);
    if request.limit == 0
        || request.limit > MAX_LIMIT
        || window.is_none_or(|end| end > MAX_RESULT_WINDOW)
    {
        return Err(Error::InvalidPage {
            limit: request.limit,
            offset: request.offset,
        });
    }
    let fields = context.fields;
    let parsed = QueryBuilder::new(
        fields,
        searcher,
        context.analyzer.clone(),
        context.typo_tolerance,
    )
    .parse(&request.query)?;
    let query: Box<dyn Query> = match filter(fields, request) {
        Some(filter) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, parsed.query.box_clone()),
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>,
            ),
        ])),
        None => parsed.query.box_clone(),
    };
    let mut dimension_hashes: Vec<u64> = request
        .dimensions
        .iter()
        .map(|name| dimension_hash(name))
        .collect();
    dimension_hashes.sort_unstable();
    dimension_hashes.dedup();
    context.columns.prune(searcher);
    let ranker = Ranker {
        columns: Arc::clone(context.columns),
        dimension_hashes: Arc::new(dimension_hashes),
        constant_score: parsed.matches_all,
    };
    let top = TopDocs::with_limit(request.limit)
        .and_offset(request.offset)
        .order_by(ranker);
    let facets = FacetCollector {
        columns: context.columns,
    };
    let (top_docs, tally) = searcher.search(&*query, &(top, facets))?;

    let snippets = if parsed.matches_all {
        None
    } else {
        let mut body = SnippetGenerator::create(searcher, &*parsed.query, fields.body)?;
        body.set_max_num_chars(SNIPPET_CHARS);
        let mut title = SnippetGenerator::create(searcher, &*parsed.query, fields.title)?;
        title.set_max_num_chars(SNIPPET_CHARS);
        Some((body, title))
    };
    let mut hits = Vec::with_capacity(top_docs.len());
    for (key, address) in top_docs {
        let doc: TantivyDocument = searcher.doc(address)?;
        let id = Uuid::from_u128(key.id.0);
        let text = |field, name| {
            stored_text(&doc, field)
                .map(str::to_owned)
                .ok_or(Error::StoredDocument {
                    id: Some(id),
                    field: name,
                })
        };
        let title = text(fields.title, schema::TITLE)?;
        let body = text(fields.body, schema::BODY)?;
        let convergence = stored_text(&doc, fields.convergence)
            .and_then(|text| Uuid::parse_str(text).ok())
            .ok_or(Error::StoredDocument {
                id: Some(id),
                field: schema::CONVERGENCE,
            })?;
        let snippet = snippet(snippets.as_ref(), &title, &body);
        hits.push(SearchHit {
            id,
            kind: text(fields.kind, KIND)?,
            convergence,
            convergence_slug: text(fields.convergence_slug, schema::CONVERGENCE_SLUG)?,
            score: key.score,
            snippet,
            title,
        });
    }
    Ok(SearchResults {
        hits,
        estimated_total: tally.matched,
        facets: Facets {
            kind: top_values(tally.kind, request.max_facet_values),
            dimension: top_values(tally.dimension, request.max_facet_values),
        },
    })
}

/// The filter clauses of a request, or `None` when it has none.
/// Sets of at most this many terms are matched as a union of their posting lists, which can be
/// skipped through; larger ones as one bit set built from all their postings.
const MAX_UNION_TERMS: usize = 16;

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// Matches documents with any of `terms`.
fn any_term(terms: Vec<Term>) -> Box<dyn Query> {
    if terms.len() > MAX_UNION_TERMS {
        return Box::new(TermSetQuery::new(terms));
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .into_iter()
        .map(|term| (Occur::Should, term_query(term)))
        .collect();
    if clauses.len() == 1 {
        return clauses.remove(0).1;
    }
    Box::new(BooleanQuery::new(clauses))
}

fn filter(fields: &Fields, request: &SearchRequest) -> Option<Box<dyn Query>> {
    let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Access::PublicAnd(convergences) = &request.access {
        let public = term_query(Term::from_field_bool(fields.public, true));
        if convergences.is_empty() {
            must.push((Occur::Must, public));
        } else {
            let readable = any_term(
                convergences
                    .iter()
                    .map(|id| schema::convergence_term(fields, *id))
                    .collect(),
            );
            must.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, public),
                    (Occur::Should, readable),
                ])),
            ));
        }
    }
    if let Some(convergence) = request.convergence {
        must.push((
            Occur::Must,
            term_query(schema::convergence_term(fields, convergence)),
        ));
    }
    if !request.kinds.is_empty() {
        let kinds = request
            .kinds
            .iter()
            .map(|kind| Term::from_field_text(fields.kind, kind))
            .collect();
        must.push((Occur::Must, any_term(kinds)));
    }
    for dimension in &request.dimensions {
        must.push((
            Occur::Must,
            term_query(Term::from_field_text(fields.dimension, dimension)),
        ));
    }
    match must.len() {
        0 => None,
        1 => must.pop().map(|(_, query)| query),
        _ => Some(Box::new(BooleanQuery::new(must))),
    }
}

/// The snippet of a hit: highlighted body, else highlighted title, else the start of the body.
fn snippet(
    generators: Option<&(SnippetGenerator, SnippetGenerator)>,
    title: &str,
    body: &str,
) -> String {
    if let Some((body_generator, title_generator)) = generators {
        let from_body = body_generator.snippet(body);
        if !from_body.is_empty() {
            return render(body, &from_body);
        }
        let from_title = title_generator.snippet(title);
        if !from_title.is_empty() {
            return render(title, &from_title);
        }
    }
    let text = if body.trim().is_empty() { title } else { body };
    escape_html(&excerpt(text.trim(), SNIPPET_CHARS))
}

/// Renders a snippet of `text` as HTML: the whole text when it is short, else tantivy's
/// fragment widened to whole words (tantivy cuts it at the last token, dropping a final `.`),
/// with `…` where text was left out.
fn render(text: &str, snippet: &Snippet) -> String {
    let fragment = snippet.fragment_range();
    let (start, end) = if text.chars().count() <= SNIPPET_CHARS {
        (0, text.len())
    } else {
        let start = text[..fragment.start]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = text[fragment.end..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| fragment.end + i);
        (start, end)
    };
    let mut html = String::with_capacity(end - start + 32);
    if start > 0 {
        html.push('…');
    }
    let mut cursor = start;
    for range in collapse_overlapped_ranges(snippet.highlighted()) {
        let (from, to) = (fragment.start + range.start, fragment.start + range.end);
        html.push_str(&escape_html(&text[cursor..from]));
        html.push_str("<b>");
        html.push_str(&escape_html(&text[from..to]));
        html.push_str("</b>");
        cursor = to;
    }
    html.push_str(&escape_html(&text[cursor..end]));
    if end < text.len() {
        html.push('…');
    }
    html
}

/// The first `max_chars` characters of `text`, cut at a word boundary when there is one, with
/// an ellipsis when something was cut.
fn excerpt(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let head = match head.rfind(char::is_whitespace) {
                Some(space) if space > 0 => &head[..space],
                _ => head,
            };
            format!("{}…", head.trim_end())
        }
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// The `limit` most frequent values, ties by value.
fn top_values(counts: HashMap<String, u64>, limit: usize) -> Vec<FacetCount> {
    let mut values: Vec<FacetCount> = counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    values.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    values.truncate(limit);
    values
}

/// Sort key of a hit: score first (higher is better), then ascending id, so that equal scores
/// always come out in the same order whatever the segment layout.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct RankKey {
    score: Score,
    id: Reverse<u128>,
}

/// Computes [`RankKey`]s: the query score, scaled by the weight of the filtered dimensions.
struct Ranker {
    columns: Arc<ColumnCache>,
    dimension_hashes: Arc<Vec<u64>>,
    /// The query has no words (blank, `*`, only exclusions): every match scores 1. (tantivy
    /// drops an all-documents clause from an intersection, score included.)
    constant_score: bool,
}

struct SegmentRanker {
    columns: Arc<SegmentColumns>,
    /// Whether dimension weights scale scores (some dimension was requested).
    weighted: bool,
    dimension_hashes: Arc<Vec<u64>>,
    constant_score: bool,
}

impl SortKeyComputer for Ranker {
    type SortKey = RankKey;
    type Child = SegmentRanker;
    type Comparator = NaturalComparator;

    fn requires_scoring(&self) -> bool {
        true
    }

    fn segment_sort_key_computer(
        &self,
        segment_reader: &SegmentReader,
    ) -> tantivy::Result<SegmentRanker> {
        Ok(SegmentRanker {
            columns: self.columns.get(segment_reader)?,
            weighted: !self.dimension_hashes.is_empty(),
            dimension_hashes: Arc::clone(&self.dimension_hashes),
            constant_score: self.constant_score,
        })
    }
}

impl SegmentRanker {
    fn score(&self, doc: DocId, score: Score) -> Score {
        let score = if self.constant_score { 1.0 } else { score };
        if !self.weighted {
            return score;
        }
        let total: f32 = self
            .columns
            .dimension_keys
            .values_for_doc(doc)
            .filter_map(|key| {
                self.dimension_hashes
                    .iter()
                    .find_map(|hash| weight_in_key(key, *hash))
            })
            .sum();
        score * (1.0 + total / self.dimension_hashes.len() as f32)
    }

    fn id(&self, doc: DocId) -> Reverse<u128> {
        let columns = &self.columns;
        Reverse(
            (u128::from(columns.id_hi.get_val(doc)) << 64) | u128::from(columns.id_lo.get_val(doc)),
        )
    }
}

impl SegmentSortKeyComputer for SegmentRanker {
    type SortKey = RankKey;
    type SegmentSortKey = RankKey;
    type SegmentComparator = NaturalComparator;

    fn segment_sort_key(&mut self, doc: DocId, score: Score) -> RankKey {
        RankKey {
            score: self.score(doc, score),
            id: self.id(doc),
        }
    }

    /// Reads the id only for documents whose score can enter the top: most cannot.
    fn compute_sort_key_and_collect<C: Comparator<RankKey>>(
        &mut self,
        doc: DocId,
        score: Score,
        top_n_computer: &mut TopNComputer<RankKey, DocId, C>,
    ) {
        let score = self.score(doc, score);
        if let Some(threshold) = &top_n_computer.threshold
            && score < threshold.score
        {
            return;
        }
        let id = self.id(doc);
        top_n_computer.push(RankKey { score, id }, doc);
    }

    fn convert_segment_sort_key(&self, key: RankKey) -> RankKey {
        key
    }
}

/// Counts matching documents by kind and by dimension, over every match.
struct FacetCollector<'a> {
    columns: &'a ColumnCache,
}

/// Counts of one segment, or of all of them once merged.
#[derive(Default)]
struct FacetTally {
    matched: u64,
    kind: HashMap<String, u64>,
    dimension: HashMap<String, u64>,
}

/// Per-segment counting by term ordinal; ordinals become strings at harvest.
struct FacetSegmentCollector {
    matched: u64,
    kind: Option<(StrColumn, Vec<u64>)>,
    dimension: Option<(StrColumn, Vec<u64>)>,
}

fn ordinal_counter(column: Option<&StrColumn>) -> Option<(StrColumn, Vec<u64>)> {
    column.map(|column| (column.clone(), vec![0; column.num_terms()]))
}

impl Collector for FacetCollector<'_> {
    type Fruit = FacetTally;
    type Child = FacetSegmentCollector;

    fn for_segment(
        &self,
        _segment_local_id: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<FacetSegmentCollector> {
        let columns = self.columns.get(segment)?;
        Ok(FacetSegmentCollector {
            matched: 0,
            kind: ordinal_counter(columns.kind.as_ref()),
            dimension: ordinal_counter(columns.dimension.as_ref()),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        segment_fruits: Vec<io::Result<FacetTally>>,
    ) -> tantivy::Result<FacetTally> {
        let mut total = FacetTally::default();
        for fruit in segment_fruits {
            let fruit = fruit?;
            total.matched += fruit.matched;
            for (value, count) in fruit.kind {
                *total.kind.entry(value).or_default() += count;
            }
            for (value, count) in fruit.dimension {
                *total.dimension.entry(value).or_default() += count;
            }
        }
        Ok(total)
    }
}

fn count_ordinals(counter: &mut Option<(StrColumn, Vec<u64>)>, doc: DocId) {
    if let Some((column, counts)) = counter {
        for ordinal in column.term_ords(doc) {
            if let Some(count) = counts.get_mut(ordinal as usize) {
                *count += 1;
            }
        }
    }
}

fn resolve_ordinals(counter: Option<(StrColumn, Vec<u64>)>) -> io::Result<HashMap<String, u64>> {
    let mut values = HashMap::new();
    if let Some((column, counts)) = counter {
        // One pass over the dictionary for all counted ordinals (ascending, as it requires):
        // resolving them one by one costs a block scan each.
        let (ordinals, counts): (Vec<u64>, Vec<u64>) = counts
            .into_iter()
            .enumerate()
            .filter(|(_, count)| *count > 0)
            .map(|(ordinal, count)| (ordinal as u64, count))
            .unzip();
        let mut names = Vec::with_capacity(ordinals.len());
        column
            .dictionary()
            .sorted_ords_to_term_cb(&ordinals, |bytes| {
                names.push(String::from_utf8_lossy(bytes).into_owned());
            })?;
        values.extend(names.into_iter().zip(counts));
    }
    Ok(values)
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = io::Result<FacetTally>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.matched += 1;
        count_ordinals(&mut self.kind, doc);
        count_ordinals(&mut self.dimension, doc);
    }

    fn harvest(self) -> io::Result<FacetTally> {
        Ok(FacetTally {
            matched: self.matched,
            kind: resolve_ordinals(self.kind)?,
            dimension: resolve_ordinals(self.dimension)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_at_a_word_boundary() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three", 9), "one two…");
        assert_eq!(excerpt("abcdefghij", 4), "abcd…");
        assert_eq!(excerpt("ééééé", 2), "éé…");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;&lt;/a&gt;"
        );
    }

    #[test]
    fn facet_values_are_ordered_by_count_then_value() {
        let counts = HashMap::from([
            ("b".to_owned(), 2),
            ("a".to_owned(), 2),
            ("c".to_owned(), 5),
        ]);
        let values: Vec<_> = top_values(counts, 2)
            .into_iter()
            .map(|facet| (facet.value, facet.count))
            .collect();
        assert_eq!(values, [("c".to_owned(), 5), ("a".to_owned(), 2)]);
    }
}

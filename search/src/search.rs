//! Searching: requests and results, ranking.

use std::cmp::Reverse;
use std::sync::Arc;

use tantivy::collector::sort_key::{Comparator, NaturalComparator};
use tantivy::collector::{Count, SegmentSortKeyComputer, SortKeyComputer, TopDocs, TopNComputer};
use tantivy::query::doc_predicate_query::SegmentDocPredicate;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, Weight};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, TantivyDocument};
use uuid::Uuid;

use crate::columns::{ColumnCache, SegmentColumns};
use crate::count::EstimatedCount;
use crate::error::{Error, Result};
use crate::facets::{FacetCollector, FacetTally, top_values};
use crate::filter::{FastFieldFilter, Filters};
use crate::highlight::{self, HitText, Snippets};
use crate::query::QueryBuilder;
use crate::request::{
    Facets, MAX_LIMIT, MAX_RESULT_WINDOW, SearchHit, SearchRequest, SearchResults,
};
use crate::schema::{self, Fields, KIND, dimension_hash, stored_text, weight_in_key};

/// What a search needs from its index.
pub(crate) struct SearchContext<'a> {
    pub fields: &'a Fields,
    pub analyzer: &'a TextAnalyzer,
    pub typo_tolerance: bool,
    pub columns: &'a Arc<ColumnCache>,
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
    let filters = Filters::of(fields, context.columns, request);
    let parsed = QueryBuilder::new(
        fields,
        searcher,
        context.analyzer.clone(),
        context.typo_tolerance,
    )
    .with_term_filters(!filters.terms.is_empty())
    .parse(&request.query)?;
    let query = filtered(&*parsed.query, filters.clauses());
    let mut dimension_hashes: Vec<u64> = request
        .dimensions
        .iter()
        .map(|name| dimension_hash(name))
        .collect();
    dimension_hashes.sort_unstable();
    dimension_hashes.dedup();
    context.columns.prune(searcher);
    let mut ranker = Ranker {
        columns: Arc::clone(context.columns),
        dimension_hashes: Arc::new(dimension_hashes),
        constant_score: parsed.matches_all,
        post_filter: None,
    };
    let page = TopDocs::with_limit(request.limit).and_offset(request.offset);
    // Exact facets and the count read every match. When block-max WAND could find the page
    // while skipping most matches (one word, no term filters), the page is found first,
    // pruning, with access and kinds checked on the hits only, then the matches are counted
    // (and facets tallied) without scoring. Otherwise the page cannot skip anything, and one
    // pass over the matches collects the page with the facets, or with the count.
    let prunable = parsed.term_union && filters.terms.is_empty();
    let (top_docs, tally) = if prunable {
        ranker.post_filter = filters.fast.clone();
        let page_query = filtered(&*parsed.query, filters.terms);
        let top_docs = searcher.search(&*page_query, &page.order_by(ranker))?;
        let tally = if request.facets {
            let facets = FacetCollector::new(context.columns, filters.fast.as_ref());
            searcher.search(&*page_query, &facets)?
        } else {
            FacetTally::count_only(searcher.search(&*query, &EstimatedCount)?)
        };
        (top_docs, tally)
    } else if request.facets {
        let facets = FacetCollector::new(context.columns, None);
        searcher.search(&*query, &(page.order_by(ranker), facets))?
    } else {
        let (top_docs, matched) = searcher.search(&*query, &(page.order_by(ranker), Count))?;
        (top_docs, FacetTally::count_only(matched as u64))
    };

    let mut hits = Vec::with_capacity(top_docs.len());
    let mut bodies = Vec::with_capacity(top_docs.len());
    for (key, address) in &top_docs {
        let doc: TantivyDocument = searcher.doc(*address)?;
        let id = Uuid::from_u128(key.id.0);
        let text = |field, name| {
            stored_text(&doc, field)
                .map(str::to_owned)
                .ok_or(Error::StoredDocument {
                    id: Some(id),
                    field: name,
                })
        };
        let convergence = stored_text(&doc, fields.convergence)
            .and_then(|text| Uuid::parse_str(text).ok())
            .ok_or(Error::StoredDocument {
                id: Some(id),
                field: schema::CONVERGENCE,
            })?;
        bodies.push(text(fields.body, schema::BODY)?);
        hits.push(SearchHit {
            id,
            title: text(fields.title, schema::TITLE)?,
            kind: text(fields.kind, KIND)?,
            convergence,
            convergence_slug: text(fields.convergence_slug, schema::CONVERGENCE_SLUG)?,
            score: key.score,
            snippet: String::new(),
        });
    }
    let texts: Vec<HitText<'_>> = top_docs
        .iter()
        .zip(&hits)
        .zip(&bodies)
        .map(|(((_, address), hit), body)| HitText {
            address: *address,
            title: &hit.title,
            body,
        })
        .collect();
    let snippets = if parsed.matches_all {
        texts
            .iter()
            .map(|text| highlight::plain_snippet(text.title, text.body))
            .collect()
    } else {
        Snippets::new(searcher, &*parsed.query, fields)?.render(searcher, &texts)?
    };
    for (hit, snippet) in hits.iter_mut().zip(snippets) {
        hit.snippet = snippet;
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

/// `query` restricted by `filters` (which add nothing to the score).
fn filtered(query: &dyn Query, filters: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if filters.is_empty() {
        return query.box_clone();
    }
    let mut clauses = vec![(Occur::Must, query.box_clone())];
    clauses.extend(filters.into_iter().map(|filter| {
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>,
        )
    }));
    Box::new(BooleanQuery::new(clauses))
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
    /// Access and kinds, when the query does not check them: hits that fail are skipped.
    post_filter: Option<FastFieldFilter>,
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

    /// The top `k` of one segment, letting the query skip what cannot enter them: tantivy's
    /// default feeds every match to the sort key, which rules out block-max WAND.
    fn collect_segment_top_k(
        &self,
        k: usize,
        weight: &dyn Weight,
        reader: &SegmentReader,
        segment_ord: u32,
    ) -> tantivy::Result<Vec<(RankKey, DocAddress)>> {
        let mut filter = match &self.post_filter {
            None => None,
            Some(filter) => match filter.for_segment(reader)? {
                Some(segment_filter) => Some(segment_filter),
                None => return Ok(Vec::new()),
            },
        };
        let mut ranker = self.segment_sort_key_computer(reader)?;
        // A raw score bounds the final one only when the final one is the raw one; equal
        // scores must still come through (ties go to the lower id, not the first seen).
        let prunes = !ranker.constant_score && !ranker.weighted;
        let alive = reader.alive_bitset();
        let mut top = TopNComputer::new_with_comparator(k, NaturalComparator);
        let mut threshold = Score::MIN;
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            let skip = alive.is_some_and(|alive| alive.is_deleted(doc))
                || filter.as_mut().is_some_and(|filter| !filter.eval(doc));
            if !skip {
                ranker.compute_sort_key_and_collect(doc, score, &mut top);
                if prunes && let Some(lowest) = &top.threshold {
                    threshold = lowest.score.next_down();
                }
            }
            threshold
        })?;
        Ok(top
            .into_vec()
            .into_iter()
            .map(|hit| (hit.sort_key, DocAddress::new(segment_ord, hit.doc)))
            .collect())
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

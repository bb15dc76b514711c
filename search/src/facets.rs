//! Facet counts: matching documents by kind and by dimension, over every match.
//!
//! Counting reads each segment's kind and dimension term ordinals from plain arrays decoded
//! once per segment ([`FacetOrdinals`]) into dense per-ordinal counters; ordinals become names
//! through the segment's names decoded with its columns. The collector needs no scores,
//! so tantivy hands it the matches in blocks without computing BM25.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::doc_predicate_query::SegmentDocPredicate;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::columns::{ColumnCache, FacetOrdinals, SegmentColumns};
use crate::filter::{FastFieldFilter, SegmentFilter};
use crate::request::FacetCount;

/// Counts matching documents, by kind and by dimension.
pub(crate) struct FacetCollector<'a> {
    columns: &'a Arc<ColumnCache>,
    /// Access and kinds, when the query does not check them: matches that fail are not
    /// counted. (Checking them here lets tantivy stream the query's matches in blocks instead
    /// of intersecting them with a predicate, document by document.)
    filter: Option<&'a FastFieldFilter>,
}

impl<'a> FacetCollector<'a> {
    pub fn new(columns: &'a Arc<ColumnCache>, filter: Option<&'a FastFieldFilter>) -> Self {
        Self { columns, filter }
    }
}

/// Counts of one segment, or of all of them once merged.
#[derive(Default)]
pub(crate) struct FacetTally {
    /// Matching documents.
    pub matched: u64,
    /// Matching documents by kind.
    pub kind: HashMap<String, u64>,
    /// Matching documents by dimension name.
    pub dimension: HashMap<String, u64>,
}

impl FacetTally {
    /// A tally of `matched` documents, without facet counts.
    pub fn count_only(matched: u64) -> Self {
        Self {
            matched,
            ..Self::default()
        }
    }
}

/// Per-segment counting.
pub(crate) struct FacetSegmentCollector {
    columns: Arc<SegmentColumns>,
    /// `Some(None)`: no document of the segment passes the filter.
    filter: Option<Option<SegmentFilter>>,
    matched: u64,
    /// Count by kind ordinal.
    kind: Vec<u32>,
    /// Count by dimension ordinal.
    dimension: Vec<u32>,
}

impl FacetSegmentCollector {
    fn count(&mut self, doc: DocId) {
        let passes = match &mut self.filter {
            None => true,
            Some(None) => false,
            Some(Some(filter)) => filter.eval(doc),
        };
        if !passes {
            return;
        }
        self.matched += 1;
        let ordinals: &FacetOrdinals = self.columns.facet_ordinals();
        let doc = doc as usize;
        let kind = ordinals
            .kind
            .get(doc)
            .map_or(usize::MAX, |kind| *kind as usize);
        if let Some(count) = self.kind.get_mut(kind) {
            *count += 1;
        }
        if let (Some(start), Some(end)) = (
            ordinals.dimension_start.get(doc),
            ordinals.dimension_start.get(doc + 1),
        ) && let Some(values) = ordinals.dimension.get(*start as usize..*end as usize)
        {
            for ordinal in values {
                if let Some(count) = self.dimension.get_mut(*ordinal as usize) {
                    *count += 1;
                }
            }
        }
    }
}

/// The counted values by name (`names` by ordinal).
fn resolve(names: &[String], counts: &[u32]) -> HashMap<String, u64> {
    names
        .iter()
        .zip(counts)
        .filter(|(_, count)| **count > 0)
        .map(|(name, count)| (name.clone(), u64::from(*count)))
        .collect()
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
        let (kind_terms, dimension_terms) =
            (columns.kind_names.len(), columns.dimension_names.len());
        let filter = self
            .filter
            .map(|filter| filter.for_segment(segment))
            .transpose()?;
        Ok(FacetSegmentCollector {
            columns,
            filter,
            matched: 0,
            kind: vec![0; kind_terms],
            dimension: vec![0; dimension_terms],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segment_fruits: Vec<FacetTally>) -> tantivy::Result<FacetTally> {
        let mut total = FacetTally::default();
        for fruit in segment_fruits {
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

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = FacetTally;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.count(doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for doc in docs {
            self.count(*doc);
        }
    }

    fn harvest(self) -> FacetTally {
        FacetTally {
            matched: self.matched,
            kind: resolve(&self.columns.kind_names, &self.kind),
            dimension: resolve(&self.columns.dimension_names, &self.dimension),
        }
    }
}

/// The `limit` most frequent values, ties by value.
pub(crate) fn top_values(counts: HashMap<String, u64>, limit: usize) -> Vec<FacetCount> {
    let mut values: Vec<FacetCount> = counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    values.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    values.truncate(limit);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

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

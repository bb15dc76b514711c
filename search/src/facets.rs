//! Facet counts: matching documents by kind and by dimension, over every match.
//!
//! Counting goes by term ordinal in each segment's fast-field columns, in blocks of documents
//! (one column read per block rather than per document); ordinals become names once per
//! segment, in one pass over the column's dictionary.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{RowId, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::columns::ColumnCache;
use crate::search::FacetCount;

/// Documents buffered before their values are read.
const BLOCK: usize = 128;

/// Counts matching documents, by kind and by dimension.
pub(crate) struct FacetCollector<'a> {
    columns: &'a Arc<ColumnCache>,
}

impl<'a> FacetCollector<'a> {
    pub fn new(columns: &'a Arc<ColumnCache>) -> Self {
        Self { columns }
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

/// Counts per term ordinal of one string column.
struct OrdinalCounts {
    column: StrColumn,
    counts: Vec<u64>,
}

impl OrdinalCounts {
    fn new(column: Option<&StrColumn>) -> Option<Self> {
        column.map(|column| Self {
            column: column.clone(),
            counts: vec![0; column.num_terms()],
        })
    }

    fn count(&mut self, docs: &[DocId], scratch: &mut Scratch) {
        let ordinals = self.column.ords();
        // `row_ids_for_docs` appends.
        scratch.docs.clear();
        scratch.rows.clear();
        ordinals.row_ids_for_docs(docs, &mut scratch.docs, &mut scratch.rows);
        scratch.values.clear();
        scratch.values.resize(scratch.rows.len(), 0);
        ordinals.values.get_vals(&scratch.rows, &mut scratch.values);
        for ordinal in &scratch.values {
            if let Some(count) = self.counts.get_mut(*ordinal as usize) {
                *count += 1;
            }
        }
    }

    /// The counted values by name, resolved in one pass over the dictionary.
    fn resolve(self) -> io::Result<HashMap<String, u64>> {
        let (ordinals, counts): (Vec<u64>, Vec<u64>) = self
            .counts
            .into_iter()
            .enumerate()
            .filter(|(_, count)| *count > 0)
            .map(|(ordinal, count)| (ordinal as u64, count))
            .unzip();
        let mut names = Vec::with_capacity(ordinals.len());
        self.column
            .dictionary()
            .sorted_ords_to_term_cb(&ordinals, |bytes| {
                names.push(String::from_utf8_lossy(bytes).into_owned());
            })?;
        Ok(names.into_iter().zip(counts).collect())
    }
}

#[derive(Default)]
struct Scratch {
    docs: Vec<DocId>,
    rows: Vec<RowId>,
    values: Vec<u64>,
}

/// Per-segment counting.
pub(crate) struct FacetSegmentCollector {
    matched: u64,
    block: Vec<DocId>,
    kind: Option<OrdinalCounts>,
    dimension: Option<OrdinalCounts>,
    scratch: Scratch,
}

impl FacetSegmentCollector {
    fn flush(&mut self) {
        if self.block.is_empty() {
            return;
        }
        for counts in [&mut self.kind, &mut self.dimension].into_iter().flatten() {
            counts.count(&self.block, &mut self.scratch);
        }
        self.block.clear();
    }
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
            block: Vec::with_capacity(BLOCK),
            kind: OrdinalCounts::new(columns.kind.as_ref()),
            dimension: OrdinalCounts::new(columns.dimension.as_ref()),
            scratch: Scratch::default(),
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

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = io::Result<FacetTally>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.matched += 1;
        self.block.push(doc);
        if self.block.len() == BLOCK {
            self.flush();
        }
    }

    fn harvest(mut self) -> io::Result<FacetTally> {
        self.flush();
        Ok(FacetTally {
            matched: self.matched,
            kind: self
                .kind
                .map(OrdinalCounts::resolve)
                .transpose()?
                .unwrap_or_default(),
            dimension: self
                .dimension
                .map(OrdinalCounts::resolve)
                .transpose()?
                .unwrap_or_default(),
        })
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

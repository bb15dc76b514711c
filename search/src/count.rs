//! Match counts that stop counting one by one past a bound.
//!
//! A page of hits found with block-max WAND skips most matches of a common word; counting them
//! would visit them all again (half a million documents for a word in half of a million-document
//! index). Like Elasticsearch's `track_total_hits` and Meilisearch's estimated totals, the count
//! is exact up to a bound and estimated beyond it.

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocId, DocSet, Score, SegmentOrdinal, SegmentReader, TERMINATED};

/// Matches counted exactly in each index segment. Past them, the segment's remaining matches
/// are estimated from the share of its documents already scanned (documents enter a segment
/// in write order, which is unrelated to their words, so the estimate is within a few percent).
pub const EXACT_MATCHES_PER_SEGMENT: u64 = 10_000;

/// Counts matches: exactly up to [`EXACT_MATCHES_PER_SEGMENT`] per segment, estimated beyond.
pub(crate) struct EstimatedCount;

/// Exact count of one segment, when a caller drives the segment collector itself.
#[derive(Default)]
pub(crate) struct SegmentCount(u64);

impl SegmentCollector for SegmentCount {
    type Fruit = u64;

    fn collect(&mut self, _doc: DocId, _score: Score) {
        self.0 += 1;
    }

    fn harvest(self) -> u64 {
        self.0
    }
}

impl Collector for EstimatedCount {
    type Fruit = u64;
    type Child = SegmentCount;

    fn for_segment(&self, _: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<SegmentCount> {
        Ok(SegmentCount::default())
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, counts: Vec<u64>) -> tantivy::Result<u64> {
        Ok(counts.into_iter().sum())
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<u64> {
        let mut matches = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut counted = 0;
        let mut doc = matches.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|alive| alive.is_alive(doc)) {
                counted += 1;
                if counted == EXACT_MATCHES_PER_SEGMENT {
                    if matches.advance() == TERMINATED {
                        return Ok(counted);
                    }
                    let scanned = u64::from(doc) + 1;
                    return Ok(counted * u64::from(reader.max_doc()) / scanned);
                }
            }
            doc = matches.advance();
        }
        Ok(counted)
    }
}

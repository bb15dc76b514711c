//! A union of a few queries that scores only the documents asked about.
//!
//! A word is searched in title and body, a union of two term queries. tantivy's union of
//! scorers buffers windows of 4,096 documents and scores every posting it buffers, which suits
//! a union read whole (and block-max WAND, used for a lone word). Inside an intersection, as a
//! word of `alpha beta` or a word with a dimension filter, most of a word's postings never
//! match the other clauses: buffering scores them all anyway, and each jump of the intersection
//! past the window refills it. [`LazyUnion`] merges its clauses' postings instead, seeks them
//! through their skip lists, and scores a document only when asked, so an intersection pays a
//! score for each match only. Scores equal those of a `BooleanQuery` of `Should` clauses: the
//! same sum, in the same order.

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

/// Matches what any of its queries matches; scores with the sum of the matching ones' scores.
#[derive(Debug)]
pub(crate) struct LazyUnion(pub Vec<Box<dyn Query>>);

impl Clone for LazyUnion {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|query| query.box_clone()).collect())
    }
}

impl Query for LazyUnion {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .0
            .iter()
            .map(|query| query.weight(enable_scoring))
            .collect::<tantivy::Result<_>>()?;
        Ok(Box::new(LazyUnionWeight(weights)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for query in &self.0 {
            query.query_terms(visitor);
        }
    }
}

struct LazyUnionWeight(Vec<Box<dyn Weight>>);

impl Weight for LazyUnionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorers = Vec::with_capacity(self.0.len());
        for weight in &self.0 {
            let scorer = weight.scorer(reader, boost)?;
            if scorer.doc() != TERMINATED {
                scorers.push(scorer);
            }
        }
        Ok(Box::new(LazyUnionScorer::new(scorers)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut parts = Vec::new();
        for weight in &self.0 {
            if weight.scorer(reader, 1.0)?.seek(doc) == doc {
                parts.push(weight.explain(reader, doc)?);
            }
        }
        if parts.is_empty() {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        let mut sum = Explanation::new("sum of", parts.iter().map(Explanation::value).sum());
        for part in parts {
            sum.add_detail(part);
        }
        Ok(sum)
    }
}

/// The merge of a few scorers (a handful: the minimum is found by a linear scan).
struct LazyUnionScorer {
    scorers: Vec<Box<dyn Scorer>>,
    doc: DocId,
}

impl LazyUnionScorer {
    fn new(scorers: Vec<Box<dyn Scorer>>) -> Self {
        let doc = Self::lowest(&scorers);
        Self { scorers, doc }
    }

    fn lowest(scorers: &[Box<dyn Scorer>]) -> DocId {
        scorers
            .iter()
            .map(|scorer| scorer.doc())
            .min()
            .unwrap_or(TERMINATED)
    }
}

impl DocSet for LazyUnionScorer {
    fn advance(&mut self) -> DocId {
        for scorer in &mut self.scorers {
            if scorer.doc() == self.doc {
                scorer.advance();
            }
        }
        self.doc = Self::lowest(&self.scorers);
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if target <= self.doc {
            return self.doc;
        }
        for scorer in &mut self.scorers {
            if scorer.doc() < target {
                scorer.seek(target);
            }
        }
        self.doc = Self::lowest(&self.scorers);
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.scorers
            .iter()
            .map(|scorer| scorer.size_hint())
            .fold(0, u32::saturating_add)
    }

    fn cost(&self) -> u64 {
        self.scorers.iter().map(|scorer| scorer.cost()).sum()
    }
}

impl Scorer for LazyUnionScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        self.scorers
            .iter_mut()
            .filter(|scorer| scorer.doc() == doc)
            .map(|scorer| scorer.score())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rand::{Rng, SeedableRng};
    use tantivy::collector::{Count, TopDocs};
    use tantivy::query::{BooleanQuery, BoostQuery, Occur, TermQuery};
    use tantivy::schema::{Field, IndexRecordOption, Schema, TEXT};
    use tantivy::{DocAddress, Index, TantivyDocument};

    use super::*;

    const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "kappa", "omega"];

    /// Title (boosted) or body: the per-field queries of one word.
    fn fields_of(word: &str, title: Field, body: Field) -> Vec<Box<dyn Query>> {
        let term = |field| {
            TermQuery::new(
                Term::from_field_text(field, word),
                IndexRecordOption::WithFreqs,
            )
        };
        vec![
            Box::new(BoostQuery::new(Box::new(term(title)), 3.0)),
            Box::new(term(body)),
        ]
    }

    fn hits(index: &Index, query: &dyn Query) -> (Vec<(u32, DocAddress)>, usize) {
        let searcher = index.reader().unwrap().searcher();
        let (top, count) = searcher
            .search(
                query,
                &(TopDocs::with_limit(10_000).order_by_score(), Count),
            )
            .unwrap();
        let top = top
            .into_iter()
            .map(|(score, address)| (score.to_bits(), address))
            .collect();
        (top, count)
    }

    /// Intersections and exclusions of lazy unions match and score exactly as those of
    /// `Should` boolean queries, over several segments; explanations give the score.
    #[test]
    fn scores_equal_those_of_a_boolean_union() {
        let mut builder = Schema::builder();
        let title = builder.add_text_field("title", TEXT);
        let body = builder.add_text_field("body", TEXT);
        let index = Index::create_in_ram(builder.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let text = |rng: &mut rand_chacha::ChaCha8Rng, max: usize| {
            (0..rng.random_range(0..max))
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        };
        for segment in 0..3 {
            for _ in 0..(400 + segment * 100) {
                let mut doc = TantivyDocument::new();
                doc.add_text(title, text(&mut rng, 4));
                doc.add_text(body, text(&mut rng, 30));
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        let searcher = index.reader().unwrap().searcher();
        for (first, second) in [("alpha", "beta"), ("gamma", "omega"), ("kappa", "delta")] {
            for occur in [Occur::Must, Occur::MustNot] {
                let lazy = BooleanQuery::new(vec![
                    (
                        Occur::Must,
                        Box::new(LazyUnion(fields_of(first, title, body))) as Box<dyn Query>,
                    ),
                    (occur, Box::new(LazyUnion(fields_of(second, title, body)))),
                ]);
                let buffered = |word| {
                    Box::new(BooleanQuery::new(
                        fields_of(word, title, body)
                            .into_iter()
                            .map(|query| (Occur::Should, query))
                            .collect(),
                    )) as Box<dyn Query>
                };
                let reference = BooleanQuery::new(vec![
                    (Occur::Must, buffered(first)),
                    (occur, buffered(second)),
                ]);
                let (lazy_hits, lazy_count) = hits(&index, &lazy);
                let (reference_hits, reference_count) = hits(&index, &reference);
                assert!(lazy_count > 10, "{first} {occur:?} {second}: {lazy_count}");
                assert_eq!(lazy_count, reference_count, "{first} {occur:?} {second}");
                assert_eq!(lazy_hits, reference_hits, "{first} {occur:?} {second}");
                let (score, address) = lazy_hits[0];
                let explanation = lazy.explain(&searcher, address).unwrap();
                assert_eq!(explanation.value(), f32::from_bits(score));
            }
        }
    }
}
